package policy

import (
	"strings"
	"testing"
)

func TestSecretFindings(t *testing.T) {
	tests := []struct {
		name, value string
		file        bool
		extra       []string
		want        string
	}{
		{"DB_PASSWORD", "hunter2!", false, nil, "secret-like name"},
		{"db-password", "hunter2!", false, nil, "secret-like name"},
		{"DB_PASSWORD_FILE", "/run/secrets/db", false, nil, ""},
		{"API_TOKEN", "$(TOKEN_FROM_SECRET)", false, nil, ""},
		{"API_TOKEN", "true", false, nil, ""},
		{"API_TOKEN", "12345", false, nil, ""},
		{"TOKEN_URL", "https://login.example.com/token", false, nil, ""},
		{"TOKENIZER_MODEL", "bert", false, nil, ""},
		{"LOG_LEVEL", "info", false, nil, ""},
		{"ApplicationInsights__InstrumentationKey", "0000-1111", false, nil, ""},
		{"ApplicationInsights__InstrumentationKey", "0000-1111", false, []string{"INSTRUMENTATIONKEY"}, "secret-like name"},
		{"AWS", "AKIAABCDEFGHIJKLMNOP", false, nil, "an AWS access key ID"},
		{"STORAGE", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=bm90LWEtcmVhbC1rZXktYnV0LWxvb2tz;", false, nil, "an Azure storage account key"},
		{"DSN", "postgres://app:s3cr3t@db:5432/app", false, nil, "a URL with a password"},
		{"DSN", "postgres://app:$(DB_PASS)@db:5432/app", false, nil, ""},
		{"", "Server=tcp:x;User ID=app;Password=P@ss;", false, nil, "a connection string with a password"},
		{"app.properties", "db.password=changeme123\n", true, nil, "a secret assignment"},
		{"app.properties", "db.password=changeme123\n", false, nil, ""},
		{"app.properties", "token: ${TOKEN}\n", true, nil, ""},
		{"key.pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...", true, nil, "a private key"},
		{"", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.sig", false, nil, "a JWT"},
	}
	for _, tc := range tests {
		got := strings.Join(secretFindings(tc.name, tc.value, tc.file, tc.extra), ",")
		if got != tc.want {
			t.Errorf("secretFindings(%q, %q, %v) = %q, want %q", tc.name, tc.value, tc.file, got, tc.want)
		}
	}
}

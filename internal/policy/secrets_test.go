package policy

import (
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
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

// referenceSecretFindings is secretFindings as first written: every
// expression run on every value. The faster version must agree with it.
func referenceSecretFindings(name, value string, file bool, extraNames []string) []string {
	compact := func(s string) string { return nonAlnum.ReplaceAllString(strings.ToUpper(s), "") }
	hasURLPassword := func(v string) bool {
		for _, m := range urlWithPassword.FindAllStringSubmatch(v, -1) {
			if !strings.HasPrefix(m[1], "$(") && !strings.HasPrefix(m[1], "${") {
				return true
			}
		}
		return false
	}
	plausible := func(value string) bool {
		v := strings.TrimSpace(value)
		switch {
		case v == "", varReference.MatchString(v), templateValue.MatchString(v), wordValue.MatchString(v),
			digitsValue.MatchString(v), strings.HasPrefix(v, "/"), plainURLValue.MatchString(v) && !hasURLPassword(v):
			return false
		}
		return true
	}
	secretName := func(name string, extra []string) bool {
		c := compact(name)
		if c == "" {
			return false
		}
		hit := false
		for _, m := range secretNameMarkers {
			hit = hit || strings.Contains(c, m)
		}
		for _, e := range extra {
			if m := compact(e); m != "" && strings.Contains(c, m) {
				hit = true
			}
		}
		if !hit {
			return false
		}
		for _, s := range benignNameSuffixes {
			if strings.HasSuffix(c, s) {
				return false
			}
		}
		for _, w := range benignNameWords {
			if strings.Contains(c, w) {
				return false
			}
		}
		return true
	}
	found := map[string]bool{}
	if secretName(name, extraNames) && !fileLikeName.MatchString(name) && plausible(value) {
		found["secret-like name"] = true
	}
	for _, s := range secretShapes {
		if s.re.MatchString(value) {
			found[s.what] = true
		}
	}
	if hasURLPassword(value) {
		found["a URL with a password"] = true
	}
	if file {
		for _, m := range assignment.FindAllStringSubmatch(value, -1) {
			v := m[2]
			if plausible(v) && !structuredStart.MatchString(v) && utf8.RuneCountInString(v) >= 4 {
				found["a secret assignment"] = true
				break
			}
		}
	}
	var out []string
	for f := range found {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

var secretCorpus = []struct{ name, value string }{
	{"DB_PASSWORD", "hunter2!"}, {"db-passwörd", "x"}, {"ſECRET", "abc"}, {"API_TOKEN", "fal\u017fe"},
	{"TOKEN", "FALSE"}, {"TOKEN", "dıſabled"}, {"KEY", "Account\u212Aey=abcdefghijklmnopqrstuvwxyz"},
	{"", "accountkey=abcdefghijklmnopqrstuvwxyz0123"}, {"", "SharedAccessKey=abcdefghijklmnopqrstuvwxyz"},
	{"", "https://x.blob.core.windows.net/c?sv=1&\u017Fig=abcdefghijklmnopqrstuvwxyz"},
	{"", "https://x/c?sv=1&SIG=abcdefghijklmnopqrstuvwxyz"}, {"", "Server=x; PWD = s3cret"},
	{"", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}, {"", "github_pat_abcdefghijklmnopqrstuvwxyz"},
	{"", "xoxb-1234567890-abc"}, {"", "AIzaSyA1234567890abcdefghijklmnopqrstu"},
	{"", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.sig"}, {"", "ASIAABCDEFGHIJKLMNOP"},
	{"", "-----BEGIN OPENSSH PRIVATE KEY-----"}, {"PASSWORD", "${VAR}"}, {"PASSWORD", "{{ .x }}"}, {"PASSWORD", "<set me>"},
	{"PASSWORD", " 0123 "}, {"PASSWORD", "$(VAR)"}, {"PASSWORD", "http://u:p@h/"}, {"PASSWORD", "http://h/"},
	{"PASSWORD", "\xff\xfe"}, {"PASSWORD", "/etc/secret"}, {"conf.yaml", "secret_key: abcdef\napi-key=1"},
	{"conf.ini", "Pass\u212Aey=abcdefg"}, {"conf.ini", "TOKEN = \"abcd\""}, {"conf.ini", "password=[x]"},
	{"conf.ini", "private_key: ${X}"}, {"x", ""}, {"INSTRUMENTATIONKEY", "abc"}, {"A_ı_TOKEN", "v"},
}

// TestSecretFindingsReference checks the fast paths against every
// expression run on every value.
func TestSecretFindingsReference(t *testing.T) {
	for _, c := range secretCorpus {
		for _, file := range []bool{false, true} {
			for _, extra := range [][]string{nil, {"instrumentationKey", "ı"}} {
				got := strings.Join(secretFindings(c.name, c.value, file, extra), ",")
				want := strings.Join(referenceSecretFindings(c.name, c.value, file, extra), ",")
				if got != want {
					t.Errorf("secretFindings(%q, %q, %v, %q) = %q, reference %q", c.name, c.value, file, extra, got, want)
				}
			}
		}
	}
}

func FuzzSecretFindings(f *testing.F) {
	for _, c := range secretCorpus {
		f.Add(c.name, c.value, true)
	}
	f.Fuzz(func(t *testing.T, name, value string, file bool) {
		got := strings.Join(secretFindings(name, value, file, []string{"extra"}), ",")
		want := strings.Join(referenceSecretFindings(name, value, file, []string{"extra"}), ",")
		if got != want {
			t.Fatalf("secretFindings(%q, %q, %v) = %q, reference %q", name, value, file, got, want)
		}
	})
}

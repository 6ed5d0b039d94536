package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/admission"
)

func TestServeAuditUsageErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty-tokens")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca, err := admission.NewCA("test", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{cert: certPEM, key: keyPEM} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing to serve", nil, "nothing to serve: give --admission, --audit or both"},
		{"no source", []string{"--audit"}, "--audit needs a source"},
		{"empty token file", []string{"--audit", "--audit-token-file", empty}, "no token in it"},
		{"missing token file", []string{"--audit", "--audit-token-file", filepath.Join(dir, "nope")}, "--audit-token-file"},
		{"bad rules", []string{"--audit", "--audit-log", filepath.Join(dir, "audit.log"), "--rules", filepath.Join(dir, "missing-rules.yaml")}, "missing-rules.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--tls-cert-file", cert, "--tls-key-file", key,
				"--data-dir", filepath.Join(dir, "data"), "--kubeconfig", ""}, tc.args...)
			code, _, stderr := run(t, "", args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, stderr, ExitUsage, tc.want)
			}
		})
	}
}

package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestModuleRoot(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "test", "e2e")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir string
	}{
		{"the root itself", root},
		{"a nested directory", nested},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := moduleRoot(tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			if got != root {
				t.Errorf("moduleRoot(%s) = %s, want %s", tt.dir, got, root)
			}
		})
	}
}

func TestFindBinariesNamesWhatIsMissing(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	// kubectl is there; the rest is not, and PATH has no etcd.
	if err := os.WriteFile(filepath.Join(root, "bin", "kubectl"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())

	_, err := findBinaries(root)
	if err == nil {
		t.Fatal("findBinaries succeeded with binaries missing")
	}
	for _, want := range []string{"kube-apiserver", "kube-controller-manager", "etcd", "make testcluster"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "find kubectl") {
		t.Errorf("error %q reports kubectl, which is present", err)
	}
}

func TestWriteUsers(t *testing.T) {
	tests := []struct {
		name    string
		extra   []User
		wantErr bool
		want    []string // lines' user and groups fields, after the token
	}{
		{
			name: "built-in users",
			want: []string{`admin,uid-0,"system:masters"`, `reader,uid-1,""`, `developer,uid-2,"developers"`},
		},
		{
			name:  "extra user with two groups",
			extra: []User{{Name: "auditor", Groups: []string{"auditors", "security"}}},
			want:  []string{`admin,uid-0,"system:masters"`, `reader,uid-1,""`, `developer,uid-2,"developers"`, `auditor,uid-3,"auditors,security"`},
		},
		{name: "duplicate user", extra: []User{{Name: ReaderUser}}, wantErr: true},
		{name: "comma in name", extra: []User{{Name: "a,b"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{dir: t.TempDir(), tokens: map[string]string{}}
			err := c.writeUsers(tt.extra)
			if tt.wantErr {
				if err == nil {
					t.Fatal("writeUsers succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(c.dir, "tokens.csv"))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("token file has %d lines, want %d:\n%s", len(lines), len(tt.want), b)
			}
			for i, line := range lines {
				token, rest, _ := strings.Cut(line, ",")
				if rest != tt.want[i] {
					t.Errorf("line %d = %q, want token,%s", i, line, tt.want[i])
				}
				user, _, _ := strings.Cut(rest, ",")
				if len(token) != 32 || c.Token(user) != token {
					t.Errorf("line %d: token %q, Token(%s) = %q", i, token, user, c.Token(user))
				}
			}
		})
	}
}

func TestServeTLSWithWebhookKubeconfig(t *testing.T) {
	srv := ServeTLS(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))

	path := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := WriteWebhookKubeconfig(path, srv.URL, srv.CAPEM); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Clusters []struct {
			Cluster struct {
				Server string `json:"server"`
				CAData []byte `json:"certificate-authority-data"`
			} `json:"cluster"`
		} `json:"clusters"`
		CurrentContext string `json:"current-context"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if len(cfg.Clusters) != 1 || cfg.Clusters[0].Cluster.Server != srv.URL || cfg.CurrentContext == "" {
		t.Fatalf("kubeconfig does not point at %s:\n%s", srv.URL, b)
	}

	// A client trusting only the CA from the kubeconfig reaches the server.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.Clusters[0].Cluster.CAData) {
		t.Fatalf("kubeconfig's certificate-authority-data holds no certificate:\n%s", b)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", srv.URL, resp.StatusCode)
	}
}

// TestStopLeavesNoOrphan stops a process that started a child of its own:
// both must be gone.
func TestStopLeavesNoOrphan(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process groups are handled on Linux only")
	}
	dir := t.TempDir()
	p, err := startProcess("sleeper", filepath.Join(dir, "sleeper.log"), "/bin/sh",
		[]string{"-c", "trap '' TERM; sleep 300 & echo child $!; wait"})
	if err != nil {
		t.Fatal(err)
	}
	pgid := p.cmd.Process.Pid
	if err := waitFor(5*time.Second, func() bool { return childPID(p.tail(5)) != "" }); err != nil {
		t.Fatalf("sleeper did not start its child: %v; log: %s", err, p.tail(5))
	}
	start := time.Now()
	p.stop(500 * time.Millisecond) // the shell ignores TERM: stop must kill it
	if time.Since(start) > 5*time.Second {
		t.Errorf("stop took %s", time.Since(start))
	}
	if p.exited() == nil {
		t.Error("process has not exited after stop")
	}
	child := childPID(p.tail(10))
	if child == "" {
		t.Fatalf("no child pid in log: %s", p.tail(10))
	}
	// The child is re-parented once the shell is gone; whoever reaps it,
	// it must not be alive (a zombie awaiting its reaper is dead).
	err = waitFor(5*time.Second, func() bool { return !alive(child) })
	if err != nil {
		t.Errorf("child %s of process group %d still runs after stop", child, pgid)
	}
	if !strings.Contains(p.tail(10), "+ /bin/sh -c") {
		t.Errorf("log does not start with the command line: %s", p.tail(10))
	}
}

// childPID returns the pid the sleeper logged for its child.
func childPID(log string) string {
	for line := range strings.Lines(log) {
		if pid, ok := strings.CutPrefix(strings.TrimSpace(line), "child "); ok {
			return pid
		}
	}
	return ""
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || !strings.HasPrefix(string(b[i+1:]), " Z")
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

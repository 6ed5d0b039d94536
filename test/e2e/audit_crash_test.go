//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/audit/archive"
	"github.com/bulwark-k8s/bulwark/test/e2e/cluster"
)

// buildBulwark builds bulwark into dir and returns its path.
func buildBulwark(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bulwark")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/bulwark")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// auditProcess is bulwark serve --audit in its own process.
type auditProcess struct {
	cmd    *exec.Cmd
	url    string
	client *http.Client
	logs   *syncBuffer
	exited chan struct{}
}

func startAuditProcess(t *testing.T, bin string, args ...string) *auditProcess {
	t.Helper()
	certFile, keyFile, caPEM := writeServingCert(t, t.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := &auditProcess{url: "https://" + addr, logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--audit", "--listen", addr, "--tls-cert-file", certFile, "--tls-key-file", keyFile}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("bulwark log:\n%s", tail(p.logs.String(), 60))
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 8,
	}}
	err := cluster.Eventually(t.Context(), time.Minute, 100*time.Millisecond, func(ctx context.Context) error {
		select {
		case <-p.exited:
			return fmt.Errorf("bulwark exited: %s", tail(p.logs.String(), 20))
		default:
		}
		resp, err := p.client.Get(p.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// post sends one batch as the API server's webhook does; it reports
// whether bulwark answered 200.
func (p *auditProcess) post(body []byte) bool {
	req, _ := http.NewRequest(http.MethodPost, p.url+"/audit", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+auditToken)
	resp, err := p.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func crashEvent(id string) string {
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"` + id + `","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/dev/configmaps","verb":"create","user":{"username":"load","groups":["system:authenticated"]},` +
		`"sourceIPs":["10.1.2.3"],"objectRef":{"resource":"configmaps","namespace":"dev","name":"` + id + `","apiVersion":"v1"},` +
		`"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"` + id + `"},"data":{"k":"` +
		strings.Repeat("v", 600) + `"}},"requestReceivedTimestamp":"2026-11-22T08:00:00.000000Z","stageTimestamp":"2026-11-22T08:00:00.002000Z"}`
}

// TestAuditKill9LosesNothing kills bulwark with SIGKILL while batches
// stream in: every event of every batch answered 200 is in the archive
// after a restart, and the archive verifies.
func TestAuditKill9LosesNothing(t *testing.T) {
	dir := t.TempDir()
	bin := buildBulwark(t, dir)
	dataDir := filepath.Join(dir, "data")
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, auditToken+"\n")
	args := []string{"--audit-token-file", tokens, "--data-dir", dataDir, "--archive-segment-age", "300ms", "--archive-segment-bytes", "262144"}
	p := startAuditProcess(t, bin, args...)

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for w := range 4 {
		wg.Go(func() {
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				ids := make([]string, 50)
				items := make([]string, len(ids))
				for i := range ids {
					ids[i] = fmt.Sprintf("w%d-b%d-e%d", w, b, i)
					items[i] = crashEvent(ids[i])
				}
				body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.Join(items, ",") + `]}`
				if !p.post([]byte(body)) {
					return // the server is gone
				}
				mu.Lock()
				for _, id := range ids {
					acked[id] = true
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	close(stop)
	wg.Wait()
	if len(acked) < 1000 {
		t.Fatalf("only %d events acknowledged before the kill: the load did not run", len(acked))
	}
	t.Logf("%d events acknowledged before kill -9", len(acked))

	// Restart, then stop gracefully: the journal is recovered and sealed.
	p2 := startAuditProcess(t, bin, args...)
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p2.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("bulwark did not stop within 60s of SIGTERM")
	}
	if code := p2.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("bulwark exited %d after SIGTERM:\n%s", code, tail(p2.logs.String(), 30))
	}

	ctx := t.Context()
	url := "file://" + filepath.Join(dataDir, "archive")
	a, err := archive.Open(ctx, archive.Options{URL: url, JournalDir: filepath.Join(dataDir, "journal")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	found := map[string]bool{}
	err = a.Read(ctx, audit.Position{}, func(_ audit.Position, raw []byte) error {
		ev, err := audit.Decode(raw)
		if err != nil {
			return err
		}
		if found[ev.AuditID] {
			return fmt.Errorf("event %s archived twice", ev.AuditID)
		}
		found[ev.AuditID] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for id := range acked {
		if !found[id] {
			lost++
			if lost <= 5 {
				t.Errorf("event %s was acknowledged with 200 and is not in the archive", id)
			}
		}
	}
	t.Logf("archive holds %d events; %d acknowledged, %d of them lost", len(found), len(acked), lost)
	if code, out, errOut := cliOutput(ctx, "audit", "verify", "--data-dir", dataDir); code != 0 {
		t.Errorf("audit verify after kill -9 and restart: exit %d\n%s%s", code, out, errOut)
	}
	// The index caught up with the archive on restart.
	code, out, errOut := cliOutput(ctx, "audit", "query", "--data-dir", dataDir, "--count-by", "user", "-o", "json")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d", len(found))) {
		t.Errorf("audit query --count-by user after the restart: exit %d, want %d events of user load:\n%s%s", code, len(found), out, errOut)
	}
}

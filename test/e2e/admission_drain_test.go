//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// endlessTemplate never finishes on its own: only the review's deadline
// stops it.
const endlessTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: e2eendless
spec:
  crd:
    spec:
      names:
        kind: E2EEndless
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package e2eendless
      violation[{"msg": "never"}] {
        n := numbers.range(1, 5000)
        count([a | n[a]; n[b]; n[c]; a == -1]) > 0
      }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: E2EEndless
metadata:
  name: endless
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [ConfigMap]}]
`

// TestAdmissionGracefulShutdown stops `bulwark serve` while a review is in
// flight: the review is still answered, within its timeout and as the
// failure policy says, no new connection is taken, and serve exits 0.
func TestAdmissionGracefulShutdown(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "endless.yaml")
	if err := os.WriteFile(policy, []byte(endlessTemplate), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + itoa(freePort(t))
	dir := t.TempDir()
	certFile, keyFile, caPEM := writeServingCert(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- runCLI(ctx, logs, "serve", "--admission", "--listen", addr, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
			"--policy", policy, "--failure-policy", "ignore", "--drain-timeout", "20s")
	}()
	s := &bulwarkServer{URL: "https://" + addr, logs: logs, exited: exited}
	s.trust(caPEM)
	s.waitReady(t)

	body, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "in-flight", "operation": "CREATE", "namespace": "dev", "name": "cfg",
			"kind":     map[string]any{"group": "", "version": "v1", "kind": "ConfigMap"},
			"resource": map[string]any{"group": "", "version": "v1", "resource": "configmaps"},
			"object":   map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cfg", "namespace": "dev"}},
		},
	})
	type answer struct {
		resp    *admissionv1.AdmissionResponse
		elapsed time.Duration
		err     error
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/validate?timeout=3s", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var out admissionv1.AdmissionReview
		err = json.NewDecoder(resp.Body).Decode(&out)
		done <- answer{resp: out.Response, elapsed: time.Since(start), err: err}
	}()
	time.Sleep(500 * time.Millisecond) // the review is being evaluated
	cancel()

	a := <-done
	if a.err != nil || a.resp == nil {
		t.Fatalf("review in flight at shutdown: %v", a.err)
	}
	if a.resp.UID != "in-flight" || !a.resp.Allowed || len(a.resp.Warnings) != 1 || !strings.Contains(a.resp.Warnings[0], "failure policy Ignore") {
		t.Errorf("answer %+v, want the uid, allowed, one warning about the failure policy", a.resp)
	}
	if a.elapsed > 3*time.Second {
		t.Errorf("answered after %s, beyond the 3s timeout", a.elapsed)
	}
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("bulwark serve exited %d:\n%s", code, tail(logs.String(), 30))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("bulwark serve did not exit after draining")
	}
	if _, _, err := s.get(context.Background(), "/healthz"); err == nil {
		t.Error("a new request was served after shutdown")
	}
	for _, want := range []string{"shutting_down", "review_failed", "stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, tail(logs.String(), 30))
		}
	}
}

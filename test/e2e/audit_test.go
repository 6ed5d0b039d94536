//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/cli"
	"github.com/bulwark-k8s/bulwark/internal/testutil/rsyslog"
	"github.com/bulwark-k8s/bulwark/test/e2e/cluster"
)

// auditToken is the bearer token the API server's audit webhook sends.
const auditToken = "e2e-audit-token-0123456789"

// cliOutput runs bulwark in the test process and returns its exit code
// and standard output and error.
func cliOutput(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli.Run(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// auditSetup is bulwark serve --audit with a TLS syslog sink on a real
// rsyslogd, fed by a real kube-apiserver's audit webhook.
type auditSetup struct {
	bulwark *bulwarkServer
	cluster *cluster.Cluster
	syslog  *rsyslog.Server
	dataDir string
}

func startAuditSetup(t *testing.T) *auditSetup {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	s := &auditSetup{syslog: rsyslog.Start(t), dataDir: filepath.Join(dir, "data")}

	config := filepath.Join(dir, "bulwark.yaml")
	writeFile(t, config, `apiVersion: bulwark.dev/v1alpha1
kind: Config
alerts:
  cluster: e2e
  sinks:
  - name: siem
    type: syslog
    timeout: 2s
    retry:
      initialBackoff: 100ms
      maxBackoff: 1s
    syslog:
      network: tls
      address: `+s.syslog.TLS+`
      tls:
        caFile: `+s.syslog.CAFile+`
        serverName: localhost
`)
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, "# the API server's audit webhook\n"+auditToken+"\n")
	s.bulwark = startBulwark(t, "--audit", "--audit-token-file", tokens, "--data-dir", s.dataDir, "--config", config,
		"--archive-segment-age", "2s", "--metrics-auth", "none")

	webhookConfig := filepath.Join(dir, "audit-webhook.kubeconfig")
	if err := cluster.WriteWebhookKubeconfigWithToken(webhookConfig, s.bulwark.URL+"/audit", s.bulwark.CAPEM, auditToken); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	s.cluster = cluster.Start(ctx, t, cluster.Options{
		AuditPolicyFile:          filepath.Join(root, "deploy", "audit", "policy.yaml"),
		AuditWebhookConfigFile:   webhookConfig,
		AuditWebhookBatchMaxWait: 200 * time.Millisecond,
	})
	return s
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// execAlerts are the BW-DET-001 alerts rsyslog received, by pod name.
func (s *auditSetup) execAlerts() map[string]int {
	pods := map[string]int{}
	// CEF escapes "=" in extension values.
	podField := regexp.MustCompile(`\bpod\\?=([^\s\\]+)`)
	for _, l := range s.syslog.Lines() {
		if l.Input != "tls" || l.MsgID != "BW-DET-001" {
			continue
		}
		if m := podField.FindStringSubmatch(l.Msg); m != nil {
			pods[m[1]]++
		}
	}
	return pods
}

func podIs(msg, pod string) bool {
	return strings.Contains(msg, "pod="+pod+" ") || strings.Contains(msg, `pod\=`+pod+" ")
}

// exec runs kubectl exec into pod; no kubelet answers, so it fails after
// the API server has authorized and audited it.
func (s *auditSetup) exec(t *testing.T, ns, pod string) {
	t.Helper()
	_, stderr, err := s.cluster.Kubectl(t.Context(), "exec", "-n", ns, pod, "-c", "app", "--", "cat", "/etc/shadow")
	if err == nil || !strings.Contains(stderr, "does not have a host assigned") {
		t.Fatalf("kubectl exec %s: %v\n%s", pod, err, stderr)
	}
}

// TestAuditExecAlert: kubectl exec into a pod raises an alert that reaches
// a real syslog receiver over TLS within 2 s; bulwark audit query finds
// the event; alerts raised while the receiver is down for 30 s are all
// delivered once it is back; the archive verifies, and one byte changed
// in a segment makes bulwark audit verify name it.
func TestAuditExecAlert(t *testing.T) {
	s := startAuditSetup(t)
	ctx := t.Context()

	// The in-cluster receiver's manifests are valid for this API server.
	if err := s.cluster.CreateNamespace(ctx, "bulwark-system", nil); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := s.cluster.Kubectl(ctx, "apply", "--dry-run=server", "-f", "../../deploy/audit/receiver.yaml"); err != nil {
		t.Errorf("kubectl apply --dry-run=server -f deploy/audit/receiver.yaml: %v\n%s%s", err, out, stderr)
	}

	const ns = "shop"
	if err := s.cluster.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	pods := []string{"web-0"}
	for i := range 10 {
		pods = append(pods, fmt.Sprintf("web-%d", i+1))
	}
	var manifests []string
	for _, p := range pods {
		manifests = append(manifests, podManifest(ns, p))
	}
	if err := s.cluster.Apply(ctx, strings.Join(manifests, "---\n")); err != nil {
		t.Fatal(err)
	}

	// 1. An exec reaches the SIEM in under 2 s.
	start := time.Now()
	s.exec(t, ns, "web-0")
	var latency time.Duration
	err := cluster.Eventually(ctx, 10*time.Second, 10*time.Millisecond, func(context.Context) error {
		if s.execAlerts()["web-0"] == 0 {
			return fmt.Errorf("no exec alert for web-0 in rsyslog")
		}
		latency = time.Since(start)
		return nil
	})
	if err != nil {
		t.Fatalf("%v; bulwark received %v batches (%v refused), archived %v events, raised %v alerts", err,
			s.bulwark.metric(t, "bulwark_audit_webhook_batches_total", `result="ok"`), s.bulwark.metric(t, "bulwark_audit_webhook_batches_total"),
			s.bulwark.metric(t, "bulwark_audit_events_archived_total"), s.bulwark.metric(t, "bulwark_audit_alerts_total"))
	}
	t.Logf("kubectl exec to syslog over TLS: %v", latency.Round(time.Millisecond))
	if latency > 2*time.Second {
		t.Errorf("the exec alert took %v to reach the syslog receiver, want under 2s", latency)
	}
	for _, l := range s.syslog.Lines() {
		if l.MsgID == "BW-DET-001" && podIs(l.Msg, "web-0") {
			// CEF over RFC 5424, with who and what.
			for _, want := range []string{"CEF:0|", "suser=" + cluster.AdminUser, "cat /etc/shadow", "cs2=REQ-05a", "cs3=e2e"} {
				if !strings.Contains(l.Msg, want) && !strings.Contains(l.SD, want) {
					t.Errorf("syslog message lacks %q:\n%s %s", want, l.SD, l.Msg)
				}
			}
			break
		}
	}

	// 2. The event is in the index.
	code, out, errOut := cliOutput(ctx, "audit", "query", "--data-dir", s.dataDir, "--subresource", "exec", "-o", "json")
	if code != 0 {
		t.Fatalf("audit query: exit %d: %s", code, errOut)
	}
	var rows []struct {
		User, Verb, Resource, Subresource, Namespace, Name string
		Code                                               int
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("audit query -o json: %v\n%s", err, out)
	}
	// kubectl tries WebSocket (get) first, then SPDY (create): one or
	// two requests.
	if len(rows) == 0 {
		t.Error("audit query --subresource exec found nothing")
	}
	for _, r := range rows {
		if r.Name != "web-0" || r.Namespace != ns || r.User != cluster.AdminUser || r.Resource != "pods" || r.Subresource != "exec" {
			t.Errorf("audit query --subresource exec: %+v", r)
		}
	}

	// 3. The SIEM's receiver is down for 30 s while execs go on.
	s.syslog.Stop()
	down := time.Now()
	for i, p := range pods[1:] {
		s.exec(t, ns, p)
		time.Sleep(time.Until(down.Add(time.Duration(i+1) * 3 * time.Second)))
	}
	time.Sleep(time.Until(down.Add(30 * time.Second)))
	if got := s.execAlerts(); len(got) != 1 {
		t.Fatalf("alerts arrived while rsyslog was stopped: %v", got)
	}
	s.syslog.Start()
	err = cluster.Eventually(ctx, 60*time.Second, 100*time.Millisecond, func(context.Context) error {
		got := s.execAlerts()
		for _, p := range pods {
			if got[p] == 0 {
				return fmt.Errorf("no alert for %s yet (%d of %d)", p, len(got), len(pods))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after the receiver came back: %v", err)
	}
	t.Logf("every alert of the 30 s outage delivered %v after the receiver came back", time.Since(down.Add(30*time.Second)).Round(time.Millisecond))

	// 4. The archive verifies; one byte changed in a sealed segment is found.
	var segment string
	err = cluster.Eventually(ctx, 30*time.Second, 250*time.Millisecond, func(context.Context) error {
		segs, _ := filepath.Glob(filepath.Join(s.dataDir, "archive", "segments", "*", "*", "*", "*", "*.jsonl.gz"))
		if len(segs) == 0 {
			return fmt.Errorf("no sealed segment in %s", s.dataDir)
		}
		segment = segs[0]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cliOutput(ctx, "audit", "verify", "--data-dir", s.dataDir)
	if code != 0 {
		t.Fatalf("audit verify of an untouched archive: exit %d\n%s%s", code, out, errOut)
	}
	data, err := os.ReadFile(segment)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	writeFile(t, segment, string(data))
	code, out, errOut = cliOutput(ctx, "audit", "verify", "--data-dir", s.dataDir)
	key := strings.TrimPrefix(filepath.ToSlash(segment), filepath.ToSlash(filepath.Join(s.dataDir, "archive"))+"/")
	if code != 1 || !strings.Contains(out+errOut, key) {
		t.Errorf("audit verify after a byte of %s changed: exit %d\n%s%s", key, code, out, errOut)
	}
}

//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/internal/admission"
	"github.com/bulwark-k8s/bulwark/internal/cli"
	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/policy"
	"github.com/bulwark-k8s/bulwark/internal/scan"
	"github.com/bulwark-k8s/bulwark/test/e2e/cluster"
)

// bulwarkServer is `bulwark serve` running in the test process.
type bulwarkServer struct {
	URL   string // https://127.0.0.1:port
	CAPEM []byte
	// token is sent as a bearer token to /metrics.
	token  string
	client *http.Client
	logs   *syncBuffer
	exited chan int
}

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a TCP port free on 127.0.0.1 when it returns.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startBulwark runs `bulwark serve` with args plus a listen address and a
// serving certificate for 127.0.0.1 signed by a CA of the test's, until the
// test ends (it then shuts down gracefully and must exit cleanly). It
// returns once /readyz answers ok.
func startBulwark(t *testing.T, args ...string) *bulwarkServer {
	t.Helper()
	certFile, keyFile, caPEM := writeServingCert(t, t.TempDir())
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	s := runBulwark(t, addr, append([]string{"--tls-cert-file", certFile, "--tls-key-file", keyFile}, args...))
	s.trust(caPEM)
	s.waitReady(t)
	return s
}

// writeServingCert writes a certificate for 127.0.0.1 and its key into dir
// and returns their paths and the PEM of the CA that signed it.
func writeServingCert(t *testing.T, dir string) (certFile, keyFile string, caPEM []byte) {
	t.Helper()
	now := time.Now()
	ca, err := admission.NewCA("bulwark-e2e-ca", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"127.0.0.1", "localhost"}, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, ca.CertPEM
}

// runCLI runs bulwark with args in the test process, its log in logs.
func runCLI(ctx context.Context, logs io.Writer, args ...string) int {
	return cli.Run(ctx, args, cli.Streams{In: strings.NewReader(""), Out: io.Discard, Err: logs})
}

func itoa(i int) string { return strconv.Itoa(i) }

// runBulwark starts `bulwark serve --listen addr args...` in the test
// process until the test ends.
func runBulwark(t *testing.T, addr string, args []string) *bulwarkServer {
	t.Helper()
	full := append([]string{"serve", "--listen", addr, "--log-level", "debug"}, args...)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() { exited <- runCLI(ctx, logs, full...) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("bulwark serve exited %d after shutdown", code)
			}
		case <-time.After(45 * time.Second):
			t.Errorf("bulwark serve did not stop within 45s of shutdown")
		}
		if t.Failed() {
			t.Logf("bulwark serve log:\n%s", tail(logs.String(), 80))
		}
	})
	return &bulwarkServer{URL: "https://" + addr, logs: logs, exited: exited}
}

// trust makes the server's client verify its certificate with caPEM.
func (s *bulwarkServer) trust(caPEM []byte) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	s.CAPEM = caPEM
	s.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
}

// waitReady waits for /readyz to answer ok.
func (s *bulwarkServer) waitReady(t *testing.T) {
	t.Helper()
	err := cluster.Eventually(t.Context(), 2*time.Minute, 250*time.Millisecond, func(ctx context.Context) error {
		select {
		case code := <-s.exited:
			s.exited <- code
			return fmt.Errorf("bulwark serve exited %d:\n%s", code, tail(s.logs.String(), 40))
		default:
		}
		body, code, err := s.get(ctx, "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("/readyz: %d %s", code, body)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bulwark serve not ready: %v", err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *bulwarkServer) get(ctx context.Context, path string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return "", 0, err
	}
	if s.token != "" && path == "/metrics" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// metric returns the value of the sample of name whose labels include
// every label of want (name="value" pairs), summed over the matching
// samples; 0 when there is none.
func (s *bulwarkServer) metric(t *testing.T, name string, want ...string) float64 {
	t.Helper()
	body, code, err := s.get(t.Context(), "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(line, w) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// webhookConfigurations renders bulwark's webhook configurations as
// `bulwark install` does, for an out-of-cluster server at url.
func webhookConfigurations(t *testing.T, url string, caPEM []byte, fp admission.FailurePolicy) string {
	t.Helper()
	c := admission.WebhookConfig{
		URL: url, CABundle: caPEM, FailurePolicy: fp, TimeoutSeconds: 10,
		ExemptNamespaces: []string{"kube-system", "kube-public", "kube-node-lease", "gatekeeper-system", "bulwark-system"},
	}
	var docs []string
	for _, o := range []any{admission.ValidatingWebhookConfiguration(c), admission.MutatingWebhookConfiguration(c)} {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n")
}

// ownerPolicy is a user policy in warn mode: pods in production should
// carry an owner annotation.
const ownerPolicy = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: e2erequiredowner
spec:
  crd:
    spec:
      names:
        kind: E2ERequiredOwner
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package e2erequiredowner
      violation[{"msg": msg}] {
        not input.review.object.metadata.annotations["example.com/owner"]
        msg := sprintf("%s %q has no example.com/owner annotation", [input.review.object.kind, input.review.object.metadata.name])
      }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: E2ERequiredOwner
metadata:
  name: owner-annotation
spec:
  enforcementAction: warn
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
    namespaces: [production]
`

// compliantPodSpec passes every built-in check under the workshop's
// bulwark.yaml; %s are the container name, image, pull policy and
// securityContext.
const compliantPodSpec = `  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: %s
    image: %s
    imagePullPolicy: %s
    securityContext: %s
    resources:
      requests: {cpu: 100m, memory: 128Mi}
      limits: {cpu: 500m, memory: 256Mi}
    readinessProbe:
      httpGet: {path: /healthz, port: 8080}
`

// restricted is the securityContext of a compliant container.
const restricted = "{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}"

func compliantPod(name, image, pull string, privileged bool) string {
	sc := restricted
	if privileged {
		// The API server refuses allowPrivilegeEscalation: false beside
		// privileged: true.
		sc = "{privileged: true, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}"
	}
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: production
  labels: {app: ` + name + `, cost-center: cc-4711, lob: imaging}
  annotations: {example.com/owner: team-imaging}
spec:
` + fmt.Sprintf(compliantPodSpec, name, image, pull, sc)
}

// TestAdmission registers `bulwark serve --admission` with a real
// kube-apiserver through a ValidatingWebhookConfiguration and a
// MutatingWebhookConfiguration (HTTPS, caBundle, namespaceSelector,
// failurePolicy, timeoutSeconds), and drives it with kubectl.
func TestAdmission(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{})
	for _, ns := range []struct {
		name   string
		labels map[string]string
	}{
		{"production", map[string]string{"cost-center": "cc-4711", "lob": "imaging"}},
		{"ops", map[string]string{"cost-center": "cc-0001", "lob": "platform"}},
		{"kube-system", nil},
	} {
		if err := c.CreateNamespace(ctx, ns.name, ns.labels); err != nil {
			t.Fatal(err)
		}
	}
	// Pods that exist before bulwark judges anything: exec and attach into
	// them are judged later.
	privileged := `apiVersion: v1
kind: Pod
metadata: {name: node-shell, namespace: ops}
spec:
  hostPID: true
  containers:
  - name: shell
    image: mcr.microsoft.com/cbl-mariner/busybox:2.0
    securityContext: {privileged: true}
`
	if err := c.Apply(ctx, privileged); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, podManifest("ops", "plain")); err != nil {
		t.Fatal(err)
	}

	policyFile := filepath.Join(t.TempDir(), "owner.yaml")
	if err := os.WriteFile(policyFile, []byte(ownerPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBulwark(t, "--admission", "--config", "../../examples/workshop/bulwark.yaml", "--policy", policyFile,
		"--kubeconfig", c.Kubeconfig(), "--failure-policy", "fail", "--mutate")
	if err := c.Apply(ctx, webhookConfigurations(t, b.URL, b.CAPEM, admission.Fail)); err != nil {
		t.Fatal(err)
	}

	t.Run("metrics need a token whose user may get /metrics", func(t *testing.T) {
		for _, tc := range []struct {
			token string
			want  int
		}{{"", http.StatusUnauthorized}, {"not-a-token", http.StatusUnauthorized}, {c.Token(cluster.ReaderUser), http.StatusForbidden},
			{c.Token(cluster.AdminUser), http.StatusOK}} {
			b.token = tc.token
			if _, code, err := b.get(ctx, "/metrics"); err != nil || code != tc.want {
				t.Errorf("GET /metrics with token %.6q: %d %v, want %d", tc.token, code, err, tc.want)
			}
		}
	})

	t.Run("kubectl run centos is denied naming the check and REQ-09", func(t *testing.T) {
		// The apiserver picks up new webhook configurations from a watch.
		var stderr string
		err := cluster.Eventually(ctx, 30*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
			var err error
			_, stderr, err = c.Kubectl(ctx, "run", "centos", "--image=centos", "-n", "production")
			if err == nil {
				_, _, _ = c.Kubectl(ctx, "delete", "pod", "centos", "-n", "production", "--wait=false")
				return fmt.Errorf("centos pod admitted")
			}
			if !strings.Contains(stderr, `admission webhook "validate.bulwark.dev" denied the request`) {
				return fmt.Errorf("not denied by bulwark: %s", stderr)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := `[BW-K8S-008 REQ-09] container "centos" image "centos" is not from an allowed registry`
		if !strings.Contains(stderr, want) {
			t.Errorf("kubectl run stderr lacks %q:\n%s", want, stderr)
		}
		t.Logf("kubectl run centos: %s", stderr)
	})

	t.Run("an image from the allowed registry is admitted", func(t *testing.T) {
		stderr, err := kubectlApply(t, c, compliantPod("web", "kevingbbacr.azurecr.io/imageclassifierweb:v3", "Always", false))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stderr, "Warning") {
			t.Errorf("compliant pod admitted with warnings: %s", stderr)
		}
	})

	t.Run("a deployment with a sidecar from another registry is denied at the deployment", func(t *testing.T) {
		deploy := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: production
  labels: {app: shop, cost-center: cc-4711, lob: imaging}
spec:
  replicas: 2
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  selector: {matchLabels: {app: shop}}
  template:
    metadata:
      labels: {app: shop, cost-center: cc-4711, lob: imaging}
      annotations: {example.com/owner: team-imaging}
    spec:
` + indent(fmt.Sprintf(compliantPodSpec, "shop", "kevingbbacr.azurecr.io/shop:v1", "Always", restricted), "    ") +
			indent(`  - name: proxy
    image: docker.io/envoyproxy/envoy:v1.30.1
    imagePullPolicy: Always
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    resources: {limits: {cpu: 200m, memory: 128Mi}}
    readinessProbe: {tcpSocket: {port: 9901}}
`, "    ")
		stderr, err := kubectlApply(t, c, deploy)
		if err == nil {
			t.Fatal("deployment admitted")
		}
		for _, want := range []string{
			`[BW-K8S-008 REQ-09] container "proxy" image "docker.io/envoyproxy/envoy:v1.30.1" is not from an allowed registry`,
			"(in the pod template at spec.template)",
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		if strings.Contains(stderr, `container "shop"`) {
			t.Errorf("the compliant container is reported:\n%s", stderr)
		}
		if _, _, err := c.Kubectl(ctx, "get", "deployment", "shop", "-n", "production"); err == nil {
			t.Error("deployment shop was stored")
		}
	})

	t.Run("a privileged pod is denied", func(t *testing.T) {
		stderr, err := kubectlApply(t, c, compliantPod("privileged", "kevingbbacr.azurecr.io/tools:v1", "Always", true))
		if err == nil {
			t.Fatal("privileged pod admitted")
		}
		if want := "[BW-K8S-101 PRAC-PSS]"; !strings.Contains(stderr, want) || !strings.Contains(stderr, "privileged") {
			t.Errorf("stderr lacks %s privileged:\n%s", want, stderr)
		}
	})

	t.Run("a warn-mode constraint warns and admits", func(t *testing.T) {
		pod := strings.Replace(compliantPod("unowned", "kevingbbacr.azurecr.io/imageclassifierweb:v3", "Always", false),
			"  annotations: {example.com/owner: team-imaging}\n", "", 1)
		stderr, err := kubectlApply(t, c, pod)
		if err != nil {
			t.Fatal(err)
		}
		want := `Warning: [E2ERequiredOwner/owner-annotation CUSTOM] Pod "unowned" has no example.com/owner annotation`
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
		if _, _, err := c.Kubectl(ctx, "get", "pod", "unowned", "-n", "production"); err != nil {
			t.Errorf("warned pod not stored: %v", err)
		}
	})

	t.Run("an ephemeral container from another registry is denied", func(t *testing.T) {
		_, stderr, err := c.Kubectl(ctx, "debug", "-n", "production", "web", "--image=busybox:1.36", "--container=debugger", "--profile=general")
		if err == nil {
			t.Fatal("kubectl debug admitted")
		}
		if want := `[BW-K8S-008 REQ-09] container "debugger" image "busybox:1.36" is not from an allowed registry`; !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	})

	t.Run("exec and attach into a privileged pod are denied, into an ordinary pod allowed", func(t *testing.T) {
		deniedBefore := b.metric(t, "bulwark_admission_requests_total", `operation="CONNECT"`, `decision="denied"`)
		for _, args := range [][]string{
			{"exec", "-n", "ops", "node-shell", "-c", "shell", "--", "sh"},
			{"attach", "-n", "ops", "node-shell", "-c", "shell"},
		} {
			_, stderr, err := c.Kubectl(ctx, args...)
			if err == nil {
				t.Fatalf("kubectl %s succeeded", args[0])
			}
			for _, want := range []string{
				`admission webhook "validate.bulwark.dev" denied the request: [BW-K8S-006 REQ-05a] ` + args[0] + ` into pod "node-shell" is denied`,
				`container "shell" is privileged`, "the pod uses hostPID",
			} {
				if !strings.Contains(stderr, want) {
					t.Errorf("kubectl %s stderr lacks %q:\n%s", args[0], want, stderr)
				}
			}
		}
		if got := b.metric(t, "bulwark_admission_requests_total", `operation="CONNECT"`, `decision="denied"`); got < deniedBefore+2 {
			t.Errorf("denied CONNECT reviews went from %v to %v, want at least 2 more", deniedBefore, got)
		}
		allowedBefore := b.metric(t, "bulwark_admission_requests_total", `operation="CONNECT"`, `decision="allowed"`)
		_, stderr, err := c.Kubectl(ctx, "exec", "-n", "ops", "plain", "-c", "app", "--", "true")
		// Allowed by the webhook, then refused by the apiserver: no node
		// runs the pod.
		if err == nil || strings.Contains(stderr, "denied the request") || !strings.Contains(stderr, "does not have a host assigned") {
			t.Errorf("exec into an ordinary pod: err=%v stderr=%s", err, stderr)
		}
		if got := b.metric(t, "bulwark_admission_requests_total", `operation="CONNECT"`, `decision="allowed"`); got <= allowedBefore {
			t.Errorf("allowed CONNECT reviews went from %v to %v, want more", allowedBefore, got)
		}
	})

	t.Run("a public LoadBalancer is denied, an internal one admitted", func(t *testing.T) {
		svc := func(name, annotations string) string {
			return `apiVersion: v1
kind: Service
metadata:
  name: ` + name + `
  namespace: production
  annotations: {` + annotations + `}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`
		}
		stderr, err := kubectlApply(t, c, svc("public", ""))
		if err == nil || !strings.Contains(stderr, "[BW-K8S-016 REQ-13]") {
			t.Errorf("public LoadBalancer: err=%v stderr=%s", err, stderr)
		}
		if stderr, err := kubectlApply(t, c, svc("internal", `service.beta.kubernetes.io/azure-load-balancer-internal: "true"`)); err != nil {
			t.Errorf("internal LoadBalancer denied: %v\n%s", err, stderr)
		}
	})

	t.Run("with mutation a pod sent with IfNotPresent is stored with Always", func(t *testing.T) {
		if stderr, err := kubectlApply(t, c, compliantPod("pulled", "kevingbbacr.azurecr.io/imageclassifierweb:v3", "IfNotPresent", false)); err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		out, _, err := c.Kubectl(ctx, "get", "pod", "pulled", "-n", "production", "-o", "jsonpath={.spec.containers[0].imagePullPolicy}")
		if err != nil {
			t.Fatal(err)
		}
		if out != "Always" {
			t.Errorf("stored imagePullPolicy %q, want Always", out)
		}
	})

	t.Run("exempt namespaces are not judged", func(t *testing.T) {
		if _, stderr, err := c.Kubectl(ctx, "run", "centos", "--image=centos", "-n", "kube-system"); err != nil {
			t.Errorf("pod in kube-system denied: %v\n%s", err, stderr)
		}
	})

	t.Run("metrics count violations by check and decisions", func(t *testing.T) {
		if got := b.metric(t, "bulwark_admission_violations_total", `check="BW-K8S-008"`, `action="deny"`); got < 3 {
			t.Errorf("BW-K8S-008 deny violations %v, want at least 3", got)
		}
		if got := b.metric(t, "bulwark_admission_violations_total", `check="E2ERequiredOwner/owner-annotation"`, `action="warn"`); got < 1 {
			t.Errorf("warn violations %v, want at least 1", got)
		}
		if got := b.metric(t, "bulwark_admission_request_duration_seconds_count", `webhook="validate"`); got < 10 {
			t.Errorf("validate latency observations %v, want at least 10", got)
		}
		if got := b.metric(t, "bulwark_admission_mutations_total", `mutation="imagePullPolicy"`); got < 1 {
			t.Errorf("imagePullPolicy mutations %v, want at least 1", got)
		}
	})
}

// kubectlApply runs kubectl apply on manifest (written to a file, so that
// kubectl's warnings come back in stderr even when it succeeds).
func kubectlApply(t *testing.T, c *cluster.Cluster, manifest string) (string, error) {
	t.Helper()
	// Not in t.TempDir(): kubectl -f splits a path at the commas a
	// subtest's name may put in it.
	f, err := os.CreateTemp("", "bulwark-e2e-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	if _, err := f.WriteString(manifest); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := c.Kubectl(t.Context(), "apply", "-f", f.Name())
	return stderr, err
}

// indent prefixes every line of s with p.
func indent(s, p string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(p + l)
		}
	}
	return b.String()
}

// TestAdmissionSelfManagedCertificate runs bulwark without a certificate:
// it issues its own from a CA it keeps in a Secret, patches the CA bundle
// into the webhook configurations `bulwark install` wrote without one, and
// replaces the serving certificate before it expires without the API
// server losing trust in it.
func TestAdmissionSelfManagedCertificate(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{})
	for _, ns := range []string{"production", "bulwark-system"} {
		if err := c.CreateNamespace(ctx, ns, map[string]string{"cost-center": "cc-4711", "lob": "imaging"}); err != nil {
			t.Fatal(err)
		}
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	// As installed: no caBundle; bulwark patches it in.
	if err := c.Apply(ctx, webhookConfigurations(t, "https://"+addr, nil, admission.Fail)); err != nil {
		t.Fatal(err)
	}
	b := runBulwark(t, addr, []string{"--admission", "--config", "../../examples/workshop/bulwark.yaml",
		"--kubeconfig", c.Kubeconfig(), "--namespace", "bulwark-system", "--cert-host", "127.0.0.1",
		"--cert-validity", "45s", "--cert-check-interval", "2s"})

	secretData := func(ctx context.Context, key string) ([]byte, error) {
		out, _, err := c.Kubectl(ctx, "get", "secret", "bulwark-webhook-tls", "-n", "bulwark-system",
			"-o", "jsonpath={.data."+strings.ReplaceAll(key, ".", `\.`)+"}")
		if err != nil {
			return nil, err
		}
		if out == "" {
			return nil, errNotYet("secret has no " + key + " yet")
		}
		return base64.StdEncoding.DecodeString(out)
	}
	var caPEM []byte
	err := cluster.Eventually(ctx, time.Minute, 250*time.Millisecond, func(ctx context.Context) error {
		var err error
		caPEM, err = secretData(ctx, "ca.crt")
		return err
	})
	if err != nil {
		t.Fatalf("certificate secret: %v", err)
	}
	b.trust(caPEM)
	b.waitReady(t)

	t.Run("CA bundle patched into both webhook configurations", func(t *testing.T) {
		for _, kind := range []string{"validatingwebhookconfiguration", "mutatingwebhookconfiguration"} {
			err := cluster.Eventually(ctx, 30*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
				out, _, err := c.Kubectl(ctx, "get", kind, admission.ConfigurationName, "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")
				if err != nil {
					return err
				}
				got, err := base64.StdEncoding.DecodeString(out)
				if err != nil {
					return err
				}
				if !bytes.Equal(got, caPEM) {
					return errNotYet(kind + " caBundle is not the CA of the secret yet")
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}
	})

	denied := func(ctx context.Context) error {
		_, stderr, err := c.Kubectl(ctx, "run", "centos", "--image=centos", "-n", "production")
		if err == nil {
			_, _, _ = c.Kubectl(ctx, "delete", "pod", "centos", "-n", "production", "--wait=false")
			return fmt.Errorf("centos pod admitted")
		}
		if !strings.Contains(stderr, `admission webhook "validate.bulwark.dev" denied the request: `) || !strings.Contains(stderr, "[BW-K8S-008 REQ-09]") {
			return fmt.Errorf("not denied by bulwark: %s", stderr)
		}
		return nil
	}
	t.Run("the API server trusts the self-managed certificate", func(t *testing.T) {
		if err := cluster.Eventually(ctx, 30*time.Second, 500*time.Millisecond, denied); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the serving certificate is renewed before it expires", func(t *testing.T) {
		served := func() (*x509.Certificate, error) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: rootsOf(caPEM), MinVersion: tls.VersionTLS12})
			if err != nil {
				return nil, err
			}
			defer conn.Close()
			return conn.ConnectionState().PeerCertificates[0], nil
		}
		first, err := served()
		if err != nil {
			t.Fatal(err)
		}
		firstCert, err := secretData(ctx, "tls.crt")
		if err != nil {
			t.Fatal(err)
		}
		// 45s validity, renewed with 15s left: about 30s after its issue.
		var renewed *x509.Certificate
		err = cluster.Eventually(ctx, 75*time.Second, time.Second, func(context.Context) error {
			c, err := served()
			if err != nil {
				return err
			}
			if c.Equal(first) {
				return errNotYet("still serving the first certificate")
			}
			renewed = c
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		const validity = 45 * time.Second
		issued := renewed.NotBefore.Add(admission.Backdate(validity))
		if left := first.NotAfter.Sub(issued); left < 0 || left > validity/3+4*time.Second {
			t.Errorf("renewed with %s of the previous certificate's %s left, want about %s", left, validity, validity/3)
		}
		if cert, err := secretData(ctx, "tls.crt"); err != nil || bytes.Equal(cert, firstCert) {
			t.Errorf("secret's tls.crt not replaced (err %v)", err)
		}
		if err := cluster.Eventually(ctx, 10*time.Second, 500*time.Millisecond, denied); err != nil {
			t.Errorf("after renewal: %v", err)
		}
	})
}

func rootsOf(caPEM []byte) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return pool
}

// TestInstall applies `bulwark install --apply` to a real apiserver and runs
// bulwark with the installed ServiceAccount's token: its least-privilege
// RBAC must be enough for everything it does (watches, its certificate
// Secret, its webhook configurations), and the installed webhook
// configurations then judge requests. Only the webhooks' address is
// changed, from the Service (no node runs the Deployment here) to the
// in-process server.
func TestInstall(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{})
	if err := c.CreateNamespace(ctx, "production", map[string]string{"cost-center": "cc-4711", "lob": "imaging"}); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := cli.Run(ctx, []string{"install", "--apply", "--kubeconfig", c.Kubeconfig(), "--failure-policy", "fail", "--mutate",
		"--config", "../../examples/workshop/bulwark.yaml"}, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != 0 {
		t.Fatalf("bulwark install --apply exited %d: %s%s", code, out.String(), errOut.String())
	}
	t.Logf("bulwark install --apply:\n%s", out.String())
	for _, obj := range [][]string{
		{"customresourcedefinition", "constrainttemplates.templates.gatekeeper.sh"},
		{"customresourcedefinition", "policyreports.wgpolicyk8s.io"},
		{"customresourcedefinition", "clusterpolicyreports.wgpolicyk8s.io"},
		{"deployment", "bulwark", "-n", "bulwark-system"},
		{"poddisruptionbudget", "bulwark", "-n", "bulwark-system"},
		{"service", "bulwark", "-n", "bulwark-system"},
		{"networkpolicy", "default-deny", "-n", "bulwark-system"},
		{"validatingwebhookconfiguration", "bulwark"},
		{"mutatingwebhookconfiguration", "bulwark"},
	} {
		if _, _, err := c.Kubectl(ctx, append([]string{"get"}, obj...)...); err != nil {
			t.Errorf("installed %s: %v", strings.Join(obj, " "), err)
		}
	}

	token, _, err := c.Kubectl(ctx, "create", "token", "bulwark", "-n", "bulwark-system", "--duration=1h")
	if err != nil {
		t.Fatal(err)
	}
	saConfig := filepath.Join(t.TempDir(), "bulwark.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: bulwark, user: {token: %q}}]
contexts: [{name: bulwark, context: {cluster: e2e, user: bulwark}}]
current-context: bulwark
`, c.Server(), c.CAFile(), strings.TrimSpace(token))
	if err := os.WriteFile(saConfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	for kind, path := range map[string]string{"validatingwebhookconfiguration": "/validate", "mutatingwebhookconfiguration": "/mutate"} {
		patch := `[{"op": "replace", "path": "/webhooks/0/clientConfig", "value": {"url": "https://` + addr + path + `"}}]`
		if _, _, err := c.Kubectl(ctx, "patch", kind, "bulwark", "--type=json", "-p", patch); err != nil {
			t.Fatal(err)
		}
	}
	b := runBulwark(t, addr, []string{"--admission", "--config", "../../examples/workshop/bulwark.yaml", "--kubeconfig", saConfig,
		"--namespace", "bulwark-system", "--cert-host", "127.0.0.1", "--failure-policy", "fail", "--mutate"})
	var caPEM []byte
	err = cluster.Eventually(ctx, time.Minute, 250*time.Millisecond, func(ctx context.Context) error {
		out, _, err := c.Kubectl(ctx, "get", "secret", "bulwark-webhook-tls", "-n", "bulwark-system", "-o", `jsonpath={.data.ca\.crt}`)
		if err != nil {
			return err
		}
		if out == "" {
			return errNotYet("no CA in the certificate secret yet")
		}
		caPEM, err = base64.StdEncoding.DecodeString(out)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b.trust(caPEM)
	b.waitReady(t)

	err = cluster.Eventually(ctx, 30*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
		_, stderr, err := c.Kubectl(ctx, "run", "centos", "--image=centos", "-n", "production")
		if err == nil {
			return fmt.Errorf("centos pod admitted")
		}
		if !strings.Contains(stderr, `admission webhook "validate.bulwark.dev" denied the request: `) || !strings.Contains(stderr, "[BW-K8S-008 REQ-09]") {
			return fmt.Errorf("not denied by bulwark: %s", stderr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if logs := b.logs.String(); strings.Contains(strings.ToLower(logs), "forbidden") {
		t.Errorf("bulwark lacked a permission with the installed RBAC:\n%s", tail(logs, 40))
	}
}

const requiredLabelsTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8srequiredlabels
spec:
  crd:
    spec:
      names:
        kind: K8sRequiredLabels
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels:
              type: array
              items: {type: string}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8srequiredlabels
      violation[{"msg": msg}] {
        provided := {l | input.review.object.metadata.labels[l]}
        required := {l | l := input.parameters.labels[_]}
        missing := required - provided
        count(missing) > 0
        msg := sprintf("%s %q lacks label(s) %v", [input.review.object.kind, input.review.object.metadata.name, missing])
      }
`

func requiredLabelsConstraint(labels string) string {
	return `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata:
  name: require-team
  annotations:
    bulwark.dev/check: ORG-001
    bulwark.dev/requirements: REQ-10
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [ConfigMap]}]
    namespaces: [production]
  parameters:
    labels: ` + labels + `
`
}

// TestAdmissionLivePolicies applies a ConstraintTemplate and a constraint
// with kubectl to a running bulwark: the constraint CRD appears with the
// template's parameter schema, the constraint is enforced within 5s, and
// deleting them lifts it, without a restart.
func TestAdmissionLivePolicies(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{})
	if _, _, err := c.Kubectl(ctx, "apply", "-f", "../../deploy/crds/constrainttemplates.templates.gatekeeper.sh.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Kubectl(ctx, "wait", "--for=condition=established", "--timeout=60s", "crd/constrainttemplates.templates.gatekeeper.sh"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateNamespace(ctx, "production", map[string]string{"cost-center": "cc-4711", "lob": "imaging"}); err != nil {
		t.Fatal(err)
	}
	b := startBulwark(t, "--admission", "--config", "../../examples/workshop/bulwark.yaml", "--kubeconfig", c.Kubeconfig(), "--failure-policy", "fail")
	if err := c.Apply(ctx, webhookConfigurations(t, b.URL, b.CAPEM, admission.Fail)); err != nil {
		t.Fatal(err)
	}
	n := 0
	createConfigMap := func(ctx context.Context) (string, error) {
		n++
		_, stderr, err := c.Kubectl(ctx, "create", "configmap", fmt.Sprintf("settings-%d", n), "-n", "production", "--from-literal=mode=fast")
		return stderr, err
	}
	// The webhook is in place once bulwark judges something.
	err := cluster.Eventually(ctx, 30*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
		_, stderr, err := c.Kubectl(ctx, "run", "centos", "--image=centos", "-n", "production")
		if err == nil || !strings.Contains(stderr, "validate.bulwark.dev") {
			return fmt.Errorf("not judged by bulwark yet: %v %s", err, stderr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if stderr, err := createConfigMap(ctx); err != nil {
		t.Fatalf("configmap before any constraint: %v %s", err, stderr)
	}

	if err := c.Apply(ctx, requiredLabelsTemplate); err != nil {
		t.Fatal(err)
	}
	crd := "crd/k8srequiredlabels.constraints.gatekeeper.sh"
	err = cluster.Eventually(ctx, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
		_, _, err := c.Kubectl(ctx, "wait", "--for=condition=established", "--timeout=5s", crd)
		return err
	})
	if err != nil {
		t.Fatalf("constraint CRD: %v", err)
	}

	t.Run("the constraint CRD validates parameters with the template's schema", func(t *testing.T) {
		err := c.Apply(ctx, requiredLabelsConstraint(`team`))
		if err == nil || !strings.Contains(err.Error(), "spec.parameters.labels") {
			t.Errorf("constraint with labels: team (not a list): err = %v, want the API server to refuse spec.parameters.labels", err)
		}
	})

	t.Run("a constraint applied with kubectl is enforced within 5s", func(t *testing.T) {
		start := time.Now()
		if err := c.Apply(ctx, requiredLabelsConstraint(`[team]`)); err != nil {
			t.Fatal(err)
		}
		var stderr string
		err := cluster.Eventually(ctx, 5*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
			var err error
			stderr, err = createConfigMap(ctx)
			if err == nil {
				return errNotYet("configmap without team label admitted")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("enforced %s after kubectl apply", time.Since(start).Round(time.Millisecond))
		if want := `[ORG-001 REQ-10] ConfigMap "settings-`; !strings.Contains(stderr, want) || !strings.Contains(stderr, `lacks label(s) {"team"}`) {
			t.Errorf("stderr lacks %q ... lacks label(s):\n%s", want, stderr)
		}
		out, _, err := c.Kubectl(ctx, "get", "constrainttemplate", "k8srequiredlabels", "-o", "jsonpath={.status.created}")
		if err != nil || out != "true" {
			t.Errorf("template status.created = %q (%v), want true", out, err)
		}
	})

	t.Run("deleting the constraint lifts it within 5s", func(t *testing.T) {
		if _, _, err := c.Kubectl(ctx, "delete", "k8srequiredlabels", "require-team"); err != nil {
			t.Fatal(err)
		}
		err := cluster.Eventually(ctx, 5*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
			stderr, err := createConfigMap(ctx)
			if err != nil {
				return fmt.Errorf("still denied: %s", stderr)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("deleting the template removes its constraint CRD", func(t *testing.T) {
		if _, _, err := c.Kubectl(ctx, "delete", "constrainttemplate", "k8srequiredlabels"); err != nil {
			t.Fatal(err)
		}
		err := cluster.Eventually(ctx, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
			_, stderr, err := c.Kubectl(ctx, "get", crd)
			if err == nil || !strings.Contains(stderr, "NotFound") {
				return errNotYet("constraint CRD still there")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a template written only in CEL is enforced within 5s", func(t *testing.T) {
		if err := c.Apply(ctx, celBannedKeysTemplate); err != nil {
			t.Fatal(err)
		}
		err := cluster.Eventually(ctx, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
			_, _, err := c.Kubectl(ctx, "wait", "--for=condition=established", "--timeout=5s", "crd/k8sbannedconfigmapkeys.constraints.gatekeeper.sh")
			if err != nil {
				return err
			}
			return c.Apply(ctx, `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sBannedConfigMapKeys
metadata: {name: no-passwords}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [ConfigMap]}]
  parameters: {keys: [password]}
`)
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var stderr string
		n := 0
		err = cluster.Eventually(ctx, 5*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
			n++
			var err error
			_, stderr, err = c.Kubectl(ctx, "create", "configmap", fmt.Sprintf("creds-%d", n), "-n", "production", "--from-literal=password=hunter2")
			if err == nil {
				return errNotYet("configmap with a banned key admitted")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("CEL constraint enforced %s after kubectl apply", time.Since(start).Round(time.Millisecond))
		if want := "ConfigMap creds-" + fmt.Sprint(n) + " has banned key(s): password"; !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("the denial shows the secret value:\n%s", stderr)
		}
		if _, stderr, err := c.Kubectl(ctx, "create", "configmap", "plain", "-n", "production", "--from-literal=mode=fast"); err != nil {
			t.Errorf("configmap without banned keys: %v %s", err, stderr)
		}
	})
}

// celBannedKeysTemplate is a ConstraintTemplate with only
// K8sNativeValidation (CEL) code, as the gatekeeper-library writes them.
const celBannedKeysTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sbannedconfigmapkeys
spec:
  crd:
    spec:
      names:
        kind: K8sBannedConfigMapKeys
      validation:
        openAPIV3Schema:
          type: object
          properties:
            keys:
              type: array
              items: {type: string}
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: K8sNativeValidation
      source:
        variables:
        - name: banned
          expression: '!has(variables.params.keys) || !has(variables.anyObject.data) ? [] : variables.params.keys.filter(k, k in variables.anyObject.data)'
        validations:
        - expression: 'request.operation == "DELETE" || size(variables.banned) == 0'
          messageExpression: '"ConfigMap " + variables.anyObject.metadata.name + " has banned key(s): " + variables.banned.join(", ")'
`

// TestBackgroundAudit creates objects that violate policy before bulwark
// starts, then runs it: PolicyReports (per namespace) and a
// ClusterPolicyReport name the violations, from the watches' caches.
func TestBackgroundAudit(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{})
	for _, f := range []string{"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"} {
		if _, _, err := c.Kubectl(ctx, "apply", "-f", "../../deploy/crds/"+f+".yaml"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Kubectl(ctx, "wait", "--for=condition=established", "--timeout=60s", "crd/"+f); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CreateNamespace(ctx, "production", map[string]string{"cost-center": "cc-4711", "lob": "imaging"}); err != nil {
		t.Fatal(err)
	}
	// Violations from before bulwark: a pod from a registry not allowed, a
	// public load balancer, a ClusterRole with wildcards; and a compliant
	// pod, which no report names.
	existing := compliantPod("web", "kevingbbacr.azurecr.io/imageclassifierweb:v3", "Always", false) + `---
apiVersion: v1
kind: Pod
metadata: {name: centos, namespace: production}
spec:
  containers: [{name: centos, image: centos}]
---
apiVersion: v1
kind: Service
metadata: {name: public, namespace: production}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: everything}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
`
	if err := c.Apply(ctx, existing); err != nil {
		t.Fatal(err)
	}
	b := startBulwark(t, "--admission", "--config", "../../examples/workshop/bulwark.yaml", "--kubeconfig", c.Kubeconfig(),
		"--background-audit-interval", "2s")
	b.token = c.Token(cluster.AdminUser)

	type result struct {
		Policy    string `json:"policy"`
		Result    string `json:"result"`
		Message   string `json:"message"`
		Resources []struct {
			Kind, Namespace, Name string
		} `json:"resources"`
	}
	type reportList struct {
		Items []struct {
			Metadata struct{ Name, Namespace string } `json:"metadata"`
			Summary  map[string]int                   `json:"summary"`
			Results  []result                         `json:"results"`
		} `json:"items"`
	}
	get := func(ctx context.Context, args ...string) (reportList, int, error) {
		out, _, err := c.Kubectl(ctx, append([]string{"get", "-o", "json"}, args...)...)
		var l reportList
		if err == nil {
			err = json.Unmarshal([]byte(out), &l)
		}
		return l, len(out), err
	}
	has := func(l reportList, policy, kind, name string) bool {
		for _, it := range l.Items {
			for _, r := range it.Results {
				for _, res := range r.Resources {
					if r.Policy == policy && res.Kind == kind && res.Name == name && r.Result == "fail" {
						return true
					}
				}
			}
		}
		return false
	}
	var ns, cl reportList
	err := cluster.Eventually(ctx, time.Minute, time.Second, func(ctx context.Context) error {
		var err error
		if ns, _, err = get(ctx, "policyreports", "-n", "production"); err != nil {
			return err
		}
		if cl, _, err = get(ctx, "clusterpolicyreports"); err != nil {
			return err
		}
		if !has(ns, "BW-K8S-008", "Pod", "centos") || !has(cl, "BW-K8S-002", "ClusterRole", "everything") {
			return errNotYet("reports do not name the violations yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !has(ns, "BW-K8S-016", "Service", "public") {
		t.Error("no PolicyReport result for the public LoadBalancer (BW-K8S-016)")
	}
	for _, it := range ns.Items {
		for _, r := range it.Results {
			for _, res := range r.Resources {
				if res.Name == "web" && res.Kind == "Pod" {
					t.Errorf("the compliant pod is reported: %s %s", r.Policy, r.Message)
				}
			}
			if !strings.HasPrefix(r.Message, "["+r.Policy+" ") {
				t.Errorf("result message %q does not name its check", r.Message)
			}
		}
		if it.Summary["fail"] == 0 || it.Summary["pass"] == 0 {
			t.Errorf("report %s summary %v, want failures and passes", it.Metadata.Name, it.Summary)
		}
	}
	if _, size, err := get(ctx, "policyreport", "bulwark-audit", "-n", "production"); err != nil || size > admission.MaxReportBytes {
		t.Errorf("report size %d (%v), want under %d", size, err, admission.MaxReportBytes)
	}
	if got := b.metric(t, "bulwark_audit_violations", `check="BW-K8S-008"`); got < 1 {
		t.Errorf("bulwark_audit_violations for BW-K8S-008 = %v", got)
	}
	if got := b.metric(t, "bulwark_audit_duration_seconds_count"); got < 1 {
		t.Errorf("audit cycles observed %v", got)
	}

	t.Run("a fixed violation leaves the report", func(t *testing.T) {
		if _, _, err := c.Kubectl(ctx, "delete", "pod", "centos", "-n", "production", "--grace-period=0", "--force"); err != nil {
			t.Fatal(err)
		}
		err := cluster.Eventually(ctx, 30*time.Second, time.Second, func(ctx context.Context) error {
			l, _, err := get(ctx, "policyreports", "-n", "production")
			if err != nil {
				return err
			}
			if has(l, "BW-K8S-008", "Pod", "centos") {
				return errNotYet("deleted pod still reported")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// libraryEngineForE2E is the engine bulwark serve builds from the workshop's
// bulwark.yaml.
func libraryEngineForE2E(t *testing.T) *policy.Engine {
	t.Helper()
	cfg, err := config.Load("../../examples/workshop/bulwark.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eng, _, err := scan.NewEngine(t.Context(), cfg, scan.Policies{}, false)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// validateConnect sends h the AdmissionReview of `kubectl exec` into pod
// ns/name and returns the verdict and its message.
func validateConnect(t *testing.T, h http.Handler, ns, name string) (bool, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "exec-" + name, "operation": "CONNECT", "namespace": ns, "name": name, "subResource": "exec",
			"kind":     map[string]any{"group": "", "version": "v1", "kind": "PodExecOptions"},
			"resource": map[string]any{"group": "", "version": "v1", "resource": "pods"},
			"object":   map[string]any{"apiVersion": "v1", "kind": "PodExecOptions", "command": []any{"sh"}},
		},
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, admission.ValidatePath, bytes.NewReader(body)))
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("answer %d %s: %v", rec.Code, rec.Body, err)
	}
	msg := ""
	if out.Response.Result != nil {
		msg = out.Response.Result.Message
	}
	return out.Response.Allowed, msg
}

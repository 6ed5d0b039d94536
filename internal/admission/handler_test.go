package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
	"github.com/bulwark-k8s/bulwark/internal/scan"
)

// workshopEngine is the engine bulwark serve builds from the workshop's
// bulwark.yaml, with the checks in cfgChecks overriding it.
func workshopEngine(t testing.TB, checks map[string]config.CheckConfig) *policy.Engine {
	t.Helper()
	cfg, err := config.Load("../../examples/workshop/bulwark.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Checks = checks
	eng, _, err := scan.NewEngine(context.Background(), cfg, scan.Policies{}, false)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

var (
	sharedEngineOnce sync.Once
	sharedEngine     *policy.Engine
)

// libraryEngine is one workshop engine shared by the tests that do not
// change it.
func libraryEngine(t testing.TB) *policy.Engine {
	sharedEngineOnce.Do(func() { sharedEngine = workshopEngine(t, nil) })
	return sharedEngine
}

func decode(t testing.TB, y string) map[string]any {
	t.Helper()
	objs, err := k8s.Decode("test.yaml", []byte(y))
	if err != nil || len(objs) != 1 {
		t.Fatalf("decode: %v (%d objects)", err, len(objs))
	}
	return objs[0].Content
}

// reviewBody builds an AdmissionReview as the API server sends it.
func reviewBody(t testing.TB, op, group, version, kind, resource, sub, ns, name string, object, old map[string]any) []byte {
	t.Helper()
	req := map[string]any{
		"uid":       "uid-" + name,
		"kind":      map[string]any{"group": group, "version": version, "kind": kind},
		"resource":  map[string]any{"group": group, "version": version, "resource": resource},
		"name":      name,
		"namespace": ns,
		"operation": op,
		"userInfo":  map[string]any{"username": "alice", "groups": []any{"system:authenticated"}},
		"dryRun":    false,
	}
	if sub != "" {
		req["subResource"] = sub
	}
	if object != nil {
		req["object"] = object
	}
	if old != nil {
		req["oldObject"] = old
	}
	b, err := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func podBody(t testing.TB, op, ns, name string, pod map[string]any) []byte {
	return reviewBody(t, op, "", "v1", "Pod", "pods", "", ns, name, pod, nil)
}

// post sends body to h at path and decodes the AdmissionReview answer.
func post(t testing.TB, h http.Handler, path string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("POST %s: status %d: %s", path, rec.Code, rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("decode answer: %v: %s", err, rec.Body)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil {
		t.Fatalf("answer is not an AdmissionReview with a response: %s", rec.Body)
	}
	var in struct {
		Request struct{ UID string } `json:"request"`
	}
	_ = json.Unmarshal(body, &in)
	if string(out.Response.UID) != in.Request.UID {
		t.Fatalf("answer uid %q, want %q", out.Response.UID, in.Request.UID)
	}
	return out.Response
}

const centosPod = `
apiVersion: v1
kind: Pod
metadata: {name: centos, namespace: production, labels: {run: centos}}
spec:
  containers:
  - name: centos
    image: centos
`

// compliantPod passes every library check under the workshop's
// configuration in production.
const compliantPod = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: production
  labels: {app: web, cost-center: cc-4711, lob: imaging}
spec:
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: web
    image: kevingbbacr.azurecr.io/imageclassifierweb:v3
    imagePullPolicy: Always
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    resources:
      requests: {cpu: 100m, memory: 128Mi}
      limits: {cpu: 500m, memory: 256Mi}
    readinessProbe:
      httpGet: {path: /healthz, port: 8080}
`

func TestValidate(t *testing.T) {
	eng := libraryEngine(t)
	h := NewHandler(Options{Engine: eng, ExemptNamespaces: []string{"kube-system", "bulwark-system", "team-*"}})

	t.Run("image from a registry not allowed is denied with check and requirement", func(t *testing.T) {
		resp := post(t, h, ValidatePath, podBody(t, "CREATE", "production", "centos", decode(t, centosPod)))
		if resp.Allowed {
			t.Fatal("centos pod admitted")
		}
		msg := resp.Result.Message
		want := `[BW-K8S-008 REQ-09] container "centos" image "centos" is not from an allowed registry`
		if !strings.Contains(msg, want) {
			t.Errorf("message does not contain %q:\n%s", want, msg)
		}
		if resp.Result.Code != http.StatusForbidden {
			t.Errorf("status code %d, want 403", resp.Result.Code)
		}
		// Every deny is reported, one per line.
		for _, id := range []string{"BW-K8S-013", "BW-K8S-019", "BW-K8S-022"} {
			if !strings.Contains(msg, "["+id+" ") {
				t.Errorf("message lacks %s:\n%s", id, msg)
			}
		}
		if !strings.Contains(resp.AuditAnnotations["violations"], "BW-K8S-008") {
			t.Errorf("audit annotations %v", resp.AuditAnnotations)
		}
	})

	t.Run("compliant pod is admitted", func(t *testing.T) {
		resp := post(t, h, ValidatePath, podBody(t, "CREATE", "production", "web", decode(t, compliantPod)))
		if !resp.Allowed || len(resp.Warnings) > 0 {
			t.Fatalf("compliant pod: allowed=%v result=%+v warnings=%v", resp.Allowed, resp.Result, resp.Warnings)
		}
	})

	t.Run("deployment with a sidecar from a registry not allowed is denied at the deployment", func(t *testing.T) {
		pod := decode(t, compliantPod)
		spec := pod["spec"].(map[string]any)
		sidecar := map[string]any{}
		for k, v := range spec["containers"].([]any)[0].(map[string]any) {
			sidecar[k] = v
		}
		sidecar["name"] = "proxy"
		sidecar["image"] = "docker.io/envoyproxy/envoy:v1.30.1"
		spec["containers"] = append(spec["containers"].([]any), sidecar)
		md := pod["metadata"].(map[string]any)
		deploy := map[string]any{
			"apiVersion": "apps/v1",
			"kind":       "Deployment",
			"metadata":   map[string]any{"name": "web", "namespace": "production", "labels": md["labels"]},
			"spec": map[string]any{
				"replicas": json.Number("2"),
				"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
				"strategy": map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxUnavailable": json.Number("0")}},
				"template": map[string]any{"metadata": map[string]any{"labels": md["labels"]}, "spec": spec},
			},
		}
		resp := post(t, h, ValidatePath, reviewBody(t, "CREATE", "apps", "v1", "Deployment", "deployments", "", "production", "web", deploy, nil))
		if resp.Allowed {
			t.Fatal("deployment with a sidecar from docker.io admitted")
		}
		want := `[BW-K8S-008 REQ-09] container "proxy" image "docker.io/envoyproxy/envoy:v1.30.1" is not from an allowed registry`
		if !strings.Contains(resp.Result.Message, want) || !strings.Contains(resp.Result.Message, "(in the pod template at spec.template)") {
			t.Errorf("message:\n%s\nwant %q in the pod template", resp.Result.Message, want)
		}
		if strings.Contains(resp.Result.Message, `container "web"`) {
			t.Errorf("the compliant container is reported:\n%s", resp.Result.Message)
		}
	})

	t.Run("exempt namespaces are not reviewed", func(t *testing.T) {
		for _, ns := range []string{"kube-system", "team-a"} {
			pod := decode(t, centosPod)
			pod["metadata"].(map[string]any)["namespace"] = ns
			if resp := post(t, h, ValidatePath, podBody(t, "CREATE", ns, "centos", pod)); !resp.Allowed {
				t.Errorf("pod in exempt namespace %s denied: %s", ns, resp.Result.Message)
			}
		}
		ns := decode(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n")
		if resp := post(t, h, ValidatePath, reviewBody(t, "UPDATE", "", "v1", "Namespace", "namespaces", "", "", "kube-system", ns, ns)); !resp.Allowed {
			t.Errorf("exempt Namespace object denied: %s", resp.Result.Message)
		}
	})

	t.Run("a namespace is not refused for lacking a NetworkPolicy it cannot have yet", func(t *testing.T) {
		ns := decode(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {cost-center: cc-1, lob: retail}}\n")
		resp := post(t, h, ValidatePath, reviewBody(t, "CREATE", "", "v1", "Namespace", "namespaces", "", "", "shop", ns, nil))
		if !resp.Allowed {
			t.Errorf("labelled namespace denied: %s", resp.Result.Message)
		}
		bare := decode(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
		resp = post(t, h, ValidatePath, reviewBody(t, "CREATE", "", "v1", "Namespace", "namespaces", "", "", "shop", bare, nil))
		if resp.Allowed || !strings.Contains(resp.Result.Message, "[BW-K8S-009 REQ-10]") || strings.Contains(resp.Result.Message, "BW-K8S-028") {
			t.Errorf("namespace without cost labels: allowed=%v %+v", resp.Allowed, resp.Result)
		}
	})

	t.Run("an object being deleted may lose its finalizers", func(t *testing.T) {
		pod := decode(t, centosPod)
		pod["metadata"].(map[string]any)["deletionTimestamp"] = "2026-01-01T00:00:00Z"
		if resp := post(t, h, ValidatePath, podBody(t, "UPDATE", "production", "centos", pod)); !resp.Allowed {
			t.Errorf("finalizer removal denied: %s", resp.Result.Message)
		}
	})

	t.Run("DELETE reviews the deleted object", func(t *testing.T) {
		resp := post(t, h, ValidatePath, reviewBody(t, "DELETE", "", "v1", "Pod", "pods", "", "production", "centos", nil, decode(t, centosPod)))
		if resp.Allowed || !strings.Contains(resp.Result.Message, "BW-K8S-008") {
			t.Errorf("DELETE of a pod violating policy: allowed=%v %+v", resp.Allowed, resp.Result)
		}
	})

	t.Run("LoadBalancer services must be internal", func(t *testing.T) {
		svc := decode(t, `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: production}
spec: {type: LoadBalancer, ports: [{port: 80}], selector: {app: web}}
`)
		resp := post(t, h, ValidatePath, reviewBody(t, "CREATE", "", "v1", "Service", "services", "", "production", "web", svc, nil))
		if resp.Allowed || !strings.Contains(resp.Result.Message, "[BW-K8S-016 REQ-13]") {
			t.Errorf("public load balancer: allowed=%v %+v", resp.Allowed, resp.Result)
		}
		svc["metadata"].(map[string]any)["annotations"] = map[string]any{"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}
		resp = post(t, h, ValidatePath, reviewBody(t, "CREATE", "", "v1", "Service", "services", "", "production", "web", svc, nil))
		if !resp.Allowed {
			t.Errorf("internal load balancer denied: %s", resp.Result.Message)
		}
	})
}

func TestEnforcementActions(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	eng := workshopEngine(t, map[string]config.CheckConfig{
		"BW-K8S-019": {EnforcementAction: "warn"},
		"BW-K8S-022": {EnforcementAction: "dryrun"},
	})
	h := NewHandler(Options{Engine: eng, Metrics: m})
	pod := decode(t, compliantPod)
	c := pod["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	delete(c, "readinessProbe")
	delete(c, "resources")
	resp := post(t, h, ValidatePath, podBody(t, "CREATE", "production", "web", pod))
	if !resp.Allowed {
		t.Fatalf("warn and dryrun violations denied: %s", resp.Result.Message)
	}
	if len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "[BW-K8S-019 REQ-15,REQ-14] ") {
		t.Errorf("warnings %q, want one for BW-K8S-019", resp.Warnings)
	}
	if got := testutil.ToFloat64(m.violations.WithLabelValues("BW-K8S-022", "dryrun")); got < 1 {
		t.Errorf("dryrun violations counted %v, want at least 1", got)
	}
	if got := testutil.ToFloat64(m.violations.WithLabelValues("BW-K8S-019", "warn")); got != 1 {
		t.Errorf("warn violations counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("validate", "CREATE", DecisionWarned)); got != 1 {
		t.Errorf("warned requests counted %v, want 1", got)
	}
}

// loader puts pods into the engine's inventory as the watch-fed Inventory
// does when a CONNECT names a pod it has not seen yet.
type loader struct {
	eng  *policy.Engine
	pods map[string]map[string]any
}

func (l *loader) EnsurePod(ctx context.Context, ns, name string) (bool, error) {
	p, ok := l.pods[ns+"/"+name]
	if !ok {
		return false, nil
	}
	return true, l.eng.UpdateInventory(ctx, []*k8s.Object{{Content: p}}, nil)
}

func TestConnect(t *testing.T) {
	eng := workshopEngine(t, nil)
	privileged := decode(t, `
apiVersion: v1
kind: Pod
metadata: {name: node-debugger, namespace: ops}
spec:
  hostPID: true
  containers:
  - {name: shell, image: mcr.microsoft.com/cbl-mariner/busybox:2.0, securityContext: {privileged: true}}
`)
	ordinary := decode(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: ops}\nspec: {containers: [{name: web, image: mcr.microsoft.com/cbl-mariner/busybox:2.0}]}\n")
	h := NewHandler(Options{Engine: eng, Pods: &loader{eng: eng, pods: map[string]map[string]any{
		"ops/node-debugger": privileged, "ops/web": ordinary,
	}}})
	connect := func(sub, kind, name string) []byte {
		opts := map[string]any{"kind": kind, "apiVersion": "v1", "container": "shell", "command": []any{"sh"}, "stdin": true, "tty": true}
		return reviewBody(t, "CONNECT", "", "v1", kind, "pods", sub, "ops", name, opts, nil)
	}
	for _, tt := range []struct {
		sub, kind string
	}{{"exec", "PodExecOptions"}, {"attach", "PodAttachOptions"}} {
		resp := post(t, h, ValidatePath, connect(tt.sub, tt.kind, "node-debugger"))
		if resp.Allowed {
			t.Errorf("%s into a privileged pod admitted", tt.sub)
			continue
		}
		for _, want := range []string{"[BW-K8S-006 REQ-05a] " + tt.sub + ` into pod "node-debugger" is denied`, `container "shell" is privileged`, "the pod uses hostPID"} {
			if !strings.Contains(resp.Result.Message, want) {
				t.Errorf("%s message lacks %q:\n%s", tt.sub, want, resp.Result.Message)
			}
		}
		if resp := post(t, h, ValidatePath, connect(tt.sub, tt.kind, "web")); !resp.Allowed {
			t.Errorf("%s into an ordinary pod denied: %s", tt.sub, resp.Result.Message)
		}
	}
	if resp := post(t, h, ValidatePath, connect("exec", "PodExecOptions", "gone")); !resp.Allowed {
		t.Errorf("exec into a missing pod denied: %s", resp.Result.Message)
	}
}

func TestEphemeralContainers(t *testing.T) {
	h := NewHandler(Options{Engine: libraryEngine(t)})
	old := decode(t, compliantPod)
	pod := decode(t, compliantPod)
	pod["spec"].(map[string]any)["ephemeralContainers"] = []any{map[string]any{
		"name": "debugger", "image": "busybox:1.36", "stdin": true, "tty": true,
	}}
	resp := post(t, h, ValidatePath, reviewBody(t, "UPDATE", "", "v1", "Pod", "pods", "ephemeralcontainers", "production", "web", pod, old))
	if resp.Allowed {
		t.Fatal("ephemeral container from docker.io admitted")
	}
	if want := `[BW-K8S-008 REQ-09] container "debugger" image "busybox:1.36" is not from an allowed registry`; !strings.Contains(resp.Result.Message, want) {
		t.Errorf("message lacks %q:\n%s", want, resp.Result.Message)
	}
}

const slowTemplate = `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testslow}
spec:
  crd: {spec: {names: {kind: TestSlow}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package testslow
        violation[{"msg": "slow"}] {
          n := numbers.range(1, 1000)
          count([x | n[a]; n[b]; n[c]; x := a * b * c; x % 7 == 0]) > 0
        }
`

func TestFailurePolicy(t *testing.T) {
	eng := policy.New()
	ctx := context.Background()
	if _, err := eng.AddTemplate(ctx, &k8s.Object{Content: decode(t, slowTemplate)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.AddConstraint(&k8s.Object{Content: decode(t, "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestSlow\nmetadata: {name: s}\n")}); err != nil {
		t.Fatal(err)
	}
	for _, fp := range []FailurePolicy{Ignore, Fail} {
		t.Run(string(fp), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			h := NewHandler(Options{Engine: eng, FailurePolicy: fp, Metrics: m})
			body := podBody(t, "CREATE", "dev", "centos", decode(t, centosPod))
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, ValidatePath+"?timeout=1s", bytes.NewReader(body)))
			if d := time.Since(start); d > time.Second {
				t.Errorf("answered after %s, beyond the 1s webhook timeout", d)
			}
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("answer %d %s: %v", rec.Code, rec.Body, err)
			}
			resp := out.Response
			switch fp {
			case Ignore:
				if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "failure policy Ignore") {
					t.Errorf("Ignore: allowed=%v warnings=%q", resp.Allowed, resp.Warnings)
				}
			case Fail:
				if resp.Allowed || resp.Result.Code != http.StatusInternalServerError || !strings.Contains(resp.Result.Message, "failure policy Fail") {
					t.Errorf("Fail: allowed=%v result=%+v", resp.Allowed, resp.Result)
				}
			}
			if got := testutil.ToFloat64(m.errors.WithLabelValues("validate", string(fp))); got != 1 {
				t.Errorf("errors counted %v, want 1", got)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	h := NewHandler(Options{Engine: libraryEngine(t), MaxBodyBytes: 1 << 20})
	good := string(podBody(t, "CREATE", "production", "centos", decode(t, centosPod)))
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"not JSON", http.MethodPost, ValidatePath, "{", http.StatusBadRequest},
		{"empty", http.MethodPost, ValidatePath, "", http.StatusBadRequest},
		{"wrong apiVersion", http.MethodPost, ValidatePath, strings.Replace(good, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1), http.StatusBadRequest},
		{"wrong kind", http.MethodPost, ValidatePath, strings.Replace(good, `"AdmissionReview"`, `"Pod"`, 1), http.StatusBadRequest},
		{"no request", http.MethodPost, MutatePath, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"no uid", http.MethodPost, ValidatePath, strings.Replace(good, `"uid":"uid-centos"`, `"uid":""`, 1), http.StatusBadRequest},
		{"object not an object", http.MethodPost, ValidatePath, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","object":[1]}}`, http.StatusBadRequest},
		{"unknown operation", http.MethodPost, ValidatePath, strings.Replace(good, `"CREATE"`, `"PATCH"`, 1), http.StatusBadRequest},
		{"trailing data", http.MethodPost, ValidatePath, good + "{}", http.StatusBadRequest},
		{"GET", http.MethodGet, ValidatePath, "", http.StatusMethodNotAllowed},
		{"too large", http.MethodPost, ValidatePath, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","object":{"data":"` + strings.Repeat("x", 2<<20) + `"}}}`, http.StatusRequestEntityTooLarge},
		{"unknown path", http.MethodPost, "/other", good, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
		})
	}
	// A request without an object to review is answered, and admitted.
	resp := post(t, h, ValidatePath, []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CONNECT","kind":{"kind":"PodPortForwardOptions","version":"v1"}}}`))
	if !resp.Allowed {
		t.Errorf("request without object denied: %+v", resp.Result)
	}
}

// applyPatch applies the response's JSONPatch to object.
func applyPatch(t *testing.T, resp *admissionv1.AdmissionResponse, object map[string]any) map[string]any {
	t.Helper()
	if len(resp.Patch) == 0 {
		return object
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v", resp.PatchType)
	}
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("decode patch %s: %v", resp.Patch, err)
	}
	doc, _ := json.Marshal(object)
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("apply patch %s: %v", resp.Patch, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func containersOf(t *testing.T, spec map[string]any, list string) []map[string]any {
	t.Helper()
	var out []map[string]any
	items, _ := spec[list].([]any)
	for _, c := range items {
		out = append(out, c.(map[string]any))
	}
	return out
}

func TestMutate(t *testing.T) {
	pull := NewHandler(Options{Engine: libraryEngine(t), Mutation: Mutation{ImagePullPolicyAlways: true}, ExemptNamespaces: []string{"kube-system"}})
	pod := decode(t, `
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: dev}
spec:
  initContainers: [{name: init, image: x}]
  containers:
  - {name: a, image: x, imagePullPolicy: IfNotPresent}
  - {name: b, image: y, imagePullPolicy: Always}
`)
	t.Run("pod CREATE pulls always", func(t *testing.T) {
		resp := post(t, pull, MutatePath, podBody(t, "CREATE", "dev", "p", pod))
		got := applyPatch(t, resp, pod)
		spec := got["spec"].(map[string]any)
		for _, list := range []string{"initContainers", "containers"} {
			for _, c := range containersOf(t, spec, list) {
				if c["imagePullPolicy"] != "Always" {
					t.Errorf("%s %s imagePullPolicy %v", list, c["name"], c["imagePullPolicy"])
				}
			}
		}
		if strings.Count(string(resp.Patch), `"op"`) != 2 {
			t.Errorf("patch %s changes more than the two containers without Always", resp.Patch)
		}
	})
	t.Run("pod UPDATE is not patched (containers are immutable)", func(t *testing.T) {
		if resp := post(t, pull, MutatePath, reviewBody(t, "UPDATE", "", "v1", "Pod", "pods", "", "dev", "p", pod, pod)); len(resp.Patch) != 0 || !resp.Allowed {
			t.Errorf("patch %s", resp.Patch)
		}
	})
	t.Run("only new ephemeral containers", func(t *testing.T) {
		old := decode(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev}\nspec: {containers: [{name: a, image: x}], ephemeralContainers: [{name: d1, image: x}]}\n")
		upd := decode(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev}\nspec: {containers: [{name: a, image: x}], ephemeralContainers: [{name: d1, image: x}, {name: d2, image: x}]}\n")
		resp := post(t, pull, MutatePath, reviewBody(t, "UPDATE", "", "v1", "Pod", "pods", "ephemeralcontainers", "dev", "p", upd, old))
		if string(resp.Patch) != `[{"op":"add","path":"/spec/ephemeralContainers/1/imagePullPolicy","value":"Always"}]` {
			t.Errorf("patch %s", resp.Patch)
		}
	})
	t.Run("workload templates", func(t *testing.T) {
		cj := decode(t, `
apiVersion: batch/v1
kind: CronJob
metadata: {name: c, namespace: dev}
spec:
  schedule: "* * * * *"
  jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: x}]}}}}
`)
		resp := post(t, pull, MutatePath, reviewBody(t, "UPDATE", "batch", "v1", "CronJob", "cronjobs", "", "dev", "c", cj, cj))
		if string(resp.Patch) != `[{"op":"add","path":"/spec/jobTemplate/spec/template/spec/containers/0/imagePullPolicy","value":"Always"}]` {
			t.Errorf("patch %s", resp.Patch)
		}
	})
	t.Run("exempt and disabled", func(t *testing.T) {
		p := decode(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: kube-system}\nspec: {containers: [{name: a, image: x}]}\n")
		if resp := post(t, pull, MutatePath, podBody(t, "CREATE", "kube-system", "p", p)); len(resp.Patch) != 0 {
			t.Errorf("exempt namespace patched: %s", resp.Patch)
		}
		off := NewHandler(Options{Engine: libraryEngine(t)})
		if resp := post(t, off, MutatePath, podBody(t, "CREATE", "dev", "p", pod)); len(resp.Patch) != 0 || !resp.Allowed {
			t.Errorf("mutation off patched: %s", resp.Patch)
		}
	})
	t.Run("securityContext defaults", func(t *testing.T) {
		h := NewHandler(Options{Engine: libraryEngine(t), Mutation: Mutation{SecurityContextDefaults: true}})
		p := decode(t, `
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: dev}
spec:
  containers:
  - {name: bare, image: x}
  - {name: partial, image: x, securityContext: {readOnlyRootFilesystem: true}}
  - {name: priv, image: x, securityContext: {privileged: true}}
  - {name: set, image: x, securityContext: {allowPrivilegeEscalation: true, capabilities: {add: [NET_ADMIN]}}}
`)
		got := applyPatch(t, post(t, h, MutatePath, podBody(t, "CREATE", "dev", "p", p)), p)
		spec := got["spec"].(map[string]any)
		psc, _ := spec["securityContext"].(map[string]any)
		if psc["runAsNonRoot"] != true || psc["seccompProfile"].(map[string]any)["type"] != "RuntimeDefault" {
			t.Errorf("pod securityContext %v", psc)
		}
		cs := containersOf(t, spec, "containers")
		want := []string{
			`{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}`,
			`{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true}`,
			`{"privileged":true}`,
			`{"allowPrivilegeEscalation":true,"capabilities":{"add":["NET_ADMIN"]}}`,
		}
		for i, c := range cs {
			b, _ := json.Marshal(c["securityContext"])
			if string(b) != want[i] {
				t.Errorf("container %s securityContext %s, want %s", c["name"], b, want[i])
			}
		}
	})
}

func TestEvaluationBudget(t *testing.T) {
	for _, tt := range []struct{ timeout, want time.Duration }{
		{10 * time.Second, 9 * time.Second},
		{30 * time.Second, 29 * time.Second},
		{time.Second, 900 * time.Millisecond},
		{200 * time.Millisecond, 150 * time.Millisecond},
		{60 * time.Millisecond, 30 * time.Millisecond},
	} {
		if got := evaluationBudget(tt.timeout); got != tt.want {
			t.Errorf("evaluationBudget(%s) = %s, want %s", tt.timeout, got, tt.want)
		}
	}
}

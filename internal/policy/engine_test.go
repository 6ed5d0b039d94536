package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

func obj(t testing.TB, y string) *k8s.Object {
	t.Helper()
	objs, err := k8s.Decode("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("want 1 object, got %d", len(objs))
	}
	return objs[0]
}

// A template in the pre-v1 style: rego + libs at the target level.
const requiredLabelsTemplate = `
apiVersion: templates.gatekeeper.sh/v1beta1
kind: ConstraintTemplate
metadata:
  name: testrequiredlabels
spec:
  crd:
    spec:
      names:
        kind: TestRequiredLabels
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels:
              type: array
              items: {type: string}
          required: [labels]
  targets:
    - target: admission.k8s.gatekeeper.sh
      libs:
        - |
          package lib.helpers
          missing(obj, key) { not obj.metadata.labels[key] }
      rego: |
        package testrequiredlabels
        import data.lib.helpers.missing
        violation[{"msg": msg, "details": {"missing": key}}] {
          key := input.parameters.labels[_]
          missing(input.review.object, key)
          msg := sprintf("%s %s has no label %q (operation %q)", [input.review.kind.kind, input.review.object.metadata.name, key, input.review.operation])
        }
`

func requiredLabels(match string) string {
	return `
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: TestRequiredLabels
metadata:
  name: need-team
spec:
  match:
` + match + `
  parameters:
    labels: [team]
`
}

func newEngine(t testing.TB, template, constraint string) *Engine {
	t.Helper()
	e := New()
	if _, err := e.AddTemplate(context.Background(), obj(t, template)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddConstraint(obj(t, constraint)); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestMatch(t *testing.T) {
	pod := func(ns string, labels string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: " + ns + "\n  labels: {" + labels + "}\nspec: {containers: []}\n"
	}
	nsObj := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod-eu\n  labels: {env: prod}\n"
	crb := "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: crb}\n"
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: dev}\nspec: {template: {spec: {containers: []}}}\n"
	tests := []struct {
		name, match, object string
		want                bool
	}{
		{"no match block matches all", "    {}", pod("dev", ""), true},
		{"kind match", "    kinds: [{apiGroups: [''], kinds: [Pod]}]", pod("dev", ""), true},
		{"kind mismatch", "    kinds: [{apiGroups: [''], kinds: [Service]}]", pod("dev", ""), false},
		{"group mismatch", "    kinds: [{apiGroups: [apps], kinds: [Pod]}]", pod("dev", ""), false},
		{"group wildcard", "    kinds: [{apiGroups: ['*'], kinds: [Deployment]}]", deploy, true},
		{"kind wildcard", "    kinds: [{apiGroups: [apps], kinds: ['*']}]", deploy, true},
		{"namespaces exact", "    namespaces: [dev]", pod("dev", ""), true},
		{"namespaces prefix glob", "    namespaces: ['prod-*']", pod("prod-eu", ""), true},
		{"namespaces suffix glob", "    namespaces: ['*-eu']", pod("prod-eu", ""), true},
		{"namespaces glob both ends", "    namespaces: ['*od-e*']", pod("prod-eu", ""), true},
		{"namespaces no match", "    namespaces: ['prod-*']", pod("dev", ""), false},
		{"namespaces do not exclude cluster-scoped", "    namespaces: [dev]", crb, true},
		{"namespace object matched by its own name", "    namespaces: ['prod-*']", nsObj, true},
		{"excluded namespace", "    excludedNamespaces: ['kube-*']", pod("kube-system", ""), false},
		{"excluded namespace object itself", "    excludedNamespaces: ['prod-*']", nsObj, false},
		{"excluded does not hit others", "    excludedNamespaces: ['kube-*']", pod("dev", ""), true},
		{"label selector match", "    labelSelector: {matchLabels: {app: web}}", pod("dev", "app: web"), true},
		{"label selector mismatch", "    labelSelector: {matchLabels: {app: web}}", pod("dev", "app: db"), false},
		{"label selector expression", "    labelSelector: {matchExpressions: [{key: app, operator: NotIn, values: [db]}]}", pod("dev", "app: web"), true},
		{"scope cluster rejects namespaced", "    scope: Cluster", pod("dev", ""), false},
		{"scope cluster accepts namespace object", "    scope: Cluster", nsObj, true},
		{"scope namespaced rejects namespace object", "    scope: Namespaced", nsObj, false},
		{"scope namespaced rejects cluster objects", "    scope: Namespaced", crb, false},
		{"name glob", "    name: 'p*'", pod("dev", ""), true},
		{"name mismatch", "    name: 'q*'", pod("dev", ""), false},
		{"namespaceSelector on namespace object", "    namespaceSelector: {matchLabels: {env: prod}}", nsObj, true},
		{"namespaceSelector uses inventory labels", "    namespaceSelector: {matchLabels: {env: prod}}", pod("prod-eu", ""), true},
		{"namespaceSelector unknown namespace has only its name label", "    namespaceSelector: {matchLabels: {env: prod}}", pod("dev", ""), false},
		{"namespaceSelector metadata.name label", "    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dev}}", pod("dev", ""), true},
		{"namespaceSelector ignores cluster-scoped", "    namespaceSelector: {matchLabels: {env: prod}}", crb, true},
		{"source original skips implied pods", "    kinds: [{apiGroups: [''], kinds: [Pod]}]\n    source: Original", deploy, false},
		{"source all reviews implied pods", "    kinds: [{apiGroups: [''], kinds: [Pod]}]", deploy, true},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, requiredLabelsTemplate, requiredLabels(tc.match))
			if err := e.SetInventory(ctx, []*k8s.Object{obj(t, nsObj)}); err != nil {
				t.Fatal(err)
			}
			res, _, err := e.ReviewObject(ctx, obj(t, tc.object))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(res) > 0; got != tc.want {
				t.Errorf("violation = %v, want %v (%v)", got, tc.want, res)
			}
		})
	}
}

func TestReviewInput(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, requiredLabelsTemplate, requiredLabels("    kinds: [{apiGroups: [''], kinds: [Pod]}]"))
	res, err := e.Review(ctx, ObjectRequest(obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: dev}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Msg != `Pod web has no label "team" (operation "")` {
		t.Fatalf("results %+v", res)
	}
	if d, _ := res[0].Details.(map[string]any); d["missing"] != "team" {
		t.Errorf("details %v", res[0].Details)
	}
	if res[0].EnforcementAction != ActionDeny || res[0].Constraint.Name != "need-team" {
		t.Errorf("result %+v", res[0])
	}

	// An admission request passes through as input.review.
	req, err := AdmissionRequest(map[string]any{
		"uid":       "1",
		"kind":      map[string]any{"group": "", "version": "v1", "kind": "Pod"},
		"operation": "CREATE",
		"name":      "web",
		"namespace": "dev",
		"object":    obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: dev}\n").Content,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err = e.Review(ctx, req)
	if err != nil || len(res) != 1 || !strings.Contains(res[0].Msg, `operation "CREATE"`) {
		t.Fatalf("admission review: %v %+v", err, res)
	}
	if _, err := AdmissionRequest(map[string]any{"kind": map[string]any{"kind": "Pod"}}); err == nil {
		t.Error("a request with neither object nor oldObject was accepted")
	}
}

func TestImpliedPod(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, requiredLabelsTemplate, requiredLabels("    kinds: [{apiGroups: [''], kinds: [Pod]}]"))
	d := obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: dev, labels: {team: a}}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: x}]}
`)
	res, matched, err := e.ReviewObject(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || !res[0].Implied || res[0].TemplatePath != "spec.template" {
		t.Fatalf("results %+v", res)
	}
	if !strings.Contains(res[0].Msg, "Pod web") {
		t.Errorf("message %q should name the implied pod", res[0].Msg)
	}
	if len(matched) != 1 {
		t.Errorf("matched %d constraints, want 1", len(matched))
	}
	// A constraint that matches the workload itself is not evaluated again on
	// its implied Pod.
	e2 := newEngine(t, requiredLabelsTemplate, requiredLabels("    kinds: [{apiGroups: ['', apps], kinds: [Pod, Deployment]}]"))
	res, _, err = e2.ReviewObject(ctx, d)
	if err != nil || len(res) != 0 {
		t.Fatalf("deployment with label: %v %+v", err, res)
	}
}

func TestTemplateErrors(t *testing.T) {
	base := func(kind, name, target string) string {
		return "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: " + name +
			"\nspec:\n  crd:\n    spec:\n      names:\n        kind: " + kind + "\n  targets:\n" + target
	}
	tests := []struct {
		name, template, want string
	}{
		{"name must be lowercase kind", base("Foo", "bar", "    - target: admission.k8s.gatekeeper.sh\n      rego: 'package foo\n\n        violation[{\"msg\": \"x\"}] { true }'\n"), `lowercase of its CRD kind "foo"`},
		{"rego syntax error", base("Foo", "foo", "    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package foo\n        violation[{\"msg\": m}] { m := }\n"), "foo.rego:2"},
		{"no violation rule", base("Foo", "foo", "    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package foo\n        deny[m] { m := 1 }\n"), "no violation rule"},
		{"unknown target", base("Foo", "foo", "    - target: validation.example.com\n      rego: |\n        package foo\n"), "only \"admission.k8s.gatekeeper.sh\""},
		{"lib outside lib package", base("Foo", "foo", "    - target: admission.k8s.gatekeeper.sh\n      libs: ['package helpers\n\n        x := 1']\n      rego: |\n        package foo\n        violation[{\"msg\": \"x\"}] { true }\n"), "must start with lib"},
		{"network builtin refused", base("Foo", "foo", "    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package foo\n        violation[{\"msg\": m}] { r := http.send({\"method\": \"get\", \"url\": \"http://x\"}); m := r.body }\n"), "http.send"},
		{"undefined function", base("Foo", "foo", "    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package foo\n        violation[{\"msg\": m}] { m := external_data({}) }\n"), "external_data"},
		{"CEL code without validations", base("Foo", "foo", "    - target: admission.k8s.gatekeeper.sh\n      code:\n        - engine: K8sNativeValidation\n          source: {validations: []}\n"), "source.validations is empty"},
		{"CEL syntax error", base("Foo", "foo", "    - target: admission.k8s.gatekeeper.sh\n      code:\n        - engine: K8sNativeValidation\n          source: {validations: [{expression: 'object.metadata.name =='}]}\n"), "source.validations[0].expression"},
		{"CEL undeclared reference", base("Foo", "foo", "    - target: admission.k8s.gatekeeper.sh\n      code:\n        - engine: K8sNativeValidation\n          source: {validations: [{expression: 'input.review.object == null'}]}\n"), "undeclared reference to 'input'"},
		{"unknown engine only", base("Foo", "foo", "    - target: admission.k8s.gatekeeper.sh\n      code:\n        - engine: Wasm\n          source: {}\n"), "no Rego or K8sNativeValidation code (engines: Wasm)"},
		{"no kind", "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {name: x}\nspec: {}\n", "names.kind is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New().AddTemplate(context.Background(), obj(t, tc.template))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCodeEngineAndRegoV1(t *testing.T) {
	tpl := `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testv1}
spec:
  crd: {spec: {names: {kind: TestV1}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      code:
        - engine: K8sNativeValidation
          source:
            validations: [{expression: "true"}]
        - engine: Rego
          source:
            version: "v1"
            rego: |
              package testv1
              violation contains {"msg": msg} if {
                some c in input.review.object.spec.containers
                endswith(c.image, ":latest")
                msg := sprintf("container %s uses latest", [c.name])
              }
`
	con := "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestV1\nmetadata: {name: t}\n"
	e := newEngine(t, tpl, con)
	res, err := e.Review(context.Background(), ObjectRequest(obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: 'x:latest'}, {name: b, image: 'x:1'}]}\n")))
	if err != nil || len(res) != 1 || res[0].Msg != "container a uses latest" {
		t.Fatalf("%v %+v", err, res)
	}
}

func TestConstraintErrors(t *testing.T) {
	tests := []struct {
		name, constraint, want string
		schema                 bool
	}{
		{"parameters wrong type", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestRequiredLabels\nmetadata: {name: c}\nspec: {parameters: {labels: team}}\n", "spec.parameters.labels", true},
		{"required parameter missing", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestRequiredLabels\nmetadata: {name: c}\nspec: {parameters: {}}\n", "labels", true},
		{"no template", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: Nope\nmetadata: {name: c}\n", "no ConstraintTemplate defines kind Nope", false},
		{"bad enforcement action", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestRequiredLabels\nmetadata: {name: c}\nspec: {enforcementAction: block, parameters: {labels: [a]}}\n", "enforcementAction", false},
		{"bad label selector", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestRequiredLabels\nmetadata: {name: c}\nspec: {match: {labelSelector: {matchExpressions: [{key: a, operator: Maybe}]}}, parameters: {labels: [a]}}\n", "labelSelector", true},
		{"bad scope", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestRequiredLabels\nmetadata: {name: c}\nspec: {match: {scope: cluster}, parameters: {labels: [a]}}\n", "scope", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New()
			if _, err := e.AddTemplate(context.Background(), obj(t, requiredLabelsTemplate)); err != nil {
				t.Fatal(err)
			}
			_, err := e.AddConstraint(obj(t, tc.constraint))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if errors.Is(err, ErrSchema) != tc.schema {
				t.Errorf("errors.Is(err, ErrSchema) = %v, want %v", !tc.schema, tc.schema)
			}
		})
	}
}

func TestEnforcementActions(t *testing.T) {
	for _, action := range []string{"deny", "warn", "dryrun"} {
		c := "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestRequiredLabels\nmetadata: {name: c}\nspec: {enforcementAction: " + action + ", parameters: {labels: [a]}}\n"
		e := newEngine(t, requiredLabelsTemplate, c)
		res, err := e.Review(context.Background(), ObjectRequest(obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")))
		if err != nil || len(res) != 1 || res[0].EnforcementAction != action {
			t.Errorf("%s: %v %+v", action, err, res)
		}
	}
}

func TestInventory(t *testing.T) {
	tpl := `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testuniquehost}
spec:
  crd: {spec: {names: {kind: TestUniqueHost}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package testuniquehost
        violation[{"msg": msg}] {
          host := input.review.object.spec.rules[_].host
          other := data.inventory.namespace[ns][_]["Ingress"][name]
          not same(ns, name)
          other.spec.rules[_].host == host
          msg := sprintf("host %s is also used by %s/%s", [host, ns, name])
        }
        same(ns, name) { ns == input.review.object.metadata.namespace; name == input.review.object.metadata.name }
`
	e := newEngine(t, tpl, "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestUniqueHost\nmetadata: {name: u}\n")
	ing := func(ns, name, host string) *k8s.Object {
		return obj(t, "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: "+name+", namespace: "+ns+"}\nspec: {rules: [{host: "+host+"}]}\n")
	}
	a, b, c := ing("dev", "a", "x.example.com"), ing("prod", "b", "x.example.com"), ing("prod", "c", "y.example.com")
	ctx := context.Background()
	if err := e.SetInventory(ctx, []*k8s.Object{a, b, c}); err != nil {
		t.Fatal(err)
	}
	res, _, err := e.ReviewObject(ctx, a)
	if err != nil || len(res) != 1 || res[0].Msg != "host x.example.com is also used by prod/b" {
		t.Fatalf("%v %+v", err, res)
	}
	res, _, _ = e.ReviewObject(ctx, c)
	if len(res) != 0 {
		t.Errorf("unique host flagged: %+v", res)
	}
	// Replacing the inventory drops what was there.
	if err := e.SetInventory(ctx, []*k8s.Object{a}); err != nil {
		t.Fatal(err)
	}
	if res, _, _ = e.ReviewObject(ctx, a); len(res) != 0 {
		t.Errorf("stale inventory: %+v", res)
	}
}

func TestTimeout(t *testing.T) {
	tpl := `
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
          n := numbers.range(1, 100000000)
          count([x | x := n[_]; x % 7 == 0]) > 0
        }
`
	e := New(WithTimeout(200 * time.Millisecond))
	ctx := context.Background()
	if _, err := e.AddTemplate(ctx, obj(t, tpl)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddConstraint(obj(t, "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestSlow\nmetadata: {name: s}\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := e.Review(ctx, ObjectRequest(obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")))
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("error %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("review took %s despite a 200ms deadline", d)
	}
}

func TestPodSecurityBuiltin(t *testing.T) {
	tpl := `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testpss}
spec:
  crd: {spec: {names: {kind: TestPSS}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package testpss
        violation[{"msg": msg}] {
          r := bulwark.pod_security(input.review.object, input.parameters.level, input.parameters.checks)[_]
          msg := sprintf("%s: %s (%s)", [r.check, r.reason, r.detail])
        }
`
	con := "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestPSS\nmetadata: {name: s}\nspec: {parameters: {level: baseline, checks: [privileged, hostNamespaces]}}\n"
	e := newEngine(t, tpl, con)
	p := obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostPID: true\n  containers: [{name: a, image: x, securityContext: {privileged: true}}]\n")
	res, err := e.Review(context.Background(), ObjectRequest(p))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, r := range res {
		msgs = append(msgs, r.Msg)
	}
	got := strings.Join(msgs, "|")
	if !strings.Contains(got, "privileged: privileged (container \"a\" must not set securityContext.privileged=true)") ||
		!strings.Contains(got, "hostNamespaces: host namespaces (hostPID=true)") || len(res) != 2 {
		t.Errorf("messages %q", got)
	}
}

func TestParseImageBuiltin(t *testing.T) {
	tpl := `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testimage}
spec:
  crd: {spec: {names: {kind: TestImage}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package testimage
        violation[{"msg": msg}] {
          c := input.review.object.spec.containers[_]
          r := bulwark.parse_image(c.image)
          msg := sprintf("%s|%s|%s|%s|%s", [r.registry, r.repository, r.name, r.tag, r.digest])
        }
        violation[{"msg": msg}] {
          c := input.review.object.spec.containers[_]
          not bulwark.parse_image(c.image)
          msg := sprintf("invalid %s", [c.image])
        }
`
	e := newEngine(t, tpl, "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestImage\nmetadata: {name: i}\n")
	cases := map[string]string{
		"centos":                         "docker.io|library/centos|docker.io/library/centos||",
		"centos:8":                       "docker.io|library/centos|docker.io/library/centos|8|",
		"kevingbb/imageclassifierweb:v3": "docker.io|kevingbb/imageclassifierweb|docker.io/kevingbb/imageclassifierweb|v3|",
		"localhost:5000/app":             "localhost:5000|app|localhost:5000/app||",
		"myacr.azurecr.io/team/app:1.2@sha256:" + strings.Repeat("a", 64): "myacr.azurecr.io|team/app|myacr.azurecr.io/team/app|1.2|sha256:" + strings.Repeat("a", 64),
		"UPPER/case": "invalid UPPER/case",
	}
	for image, want := range cases {
		res, err := e.Review(context.Background(), ObjectRequest(obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: '"+image+"'}]}\n")))
		if err != nil || len(res) != 1 || res[0].Msg != want {
			t.Errorf("%s: got %v %+v, want %q", image, err, res, want)
		}
	}
}

func TestReplaceTemplateRevalidatesConstraints(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, requiredLabelsTemplate, requiredLabels("    {}"))
	stricter := strings.Replace(requiredLabelsTemplate, "items: {type: string}", "items: {type: integer}", 1)
	_, err := e.AddTemplate(ctx, obj(t, stricter))
	if err == nil || !strings.Contains(err.Error(), "need-team removed") {
		t.Fatalf("error %v", err)
	}
	if len(e.Constraints()) != 0 {
		t.Errorf("invalid constraint kept")
	}
	e.RemoveTemplate("TestRequiredLabels")
	if len(e.Templates()) != 0 {
		t.Error("template not removed")
	}
}

// TestInventoryValuesReused checks that reviewing an object that is in the
// inventory (whose Rego form is reused) gives the same results as reviewing
// it afresh, for the object and its implied Pod.
func TestInventoryValuesReused(t *testing.T) {
	ctx := context.Background()
	d := obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: dev}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: x}]}
`)
	c := requiredLabels("    kinds: [{apiGroups: [''], kinds: [Pod]}]")
	fresh := newEngine(t, requiredLabelsTemplate, c)
	want, _, err := fresh.ReviewObject(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	cached := newEngine(t, requiredLabelsTemplate, c)
	if err := cached.SetInventory(ctx, []*k8s.Object{d}); err != nil {
		t.Fatal(err)
	}
	if cached.valueOf(d) == nil {
		t.Fatal("inventory object has no cached value")
	}
	got, _, err := cached.ReviewObject(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("got %d results, want %d (>0)", len(got), len(want))
	}
	for i := range got {
		if got[i].Msg != want[i].Msg || !got[i].Implied {
			t.Errorf("result %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReviewRequestImpliedPod(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, requiredLabelsTemplate, requiredLabels("    kinds: [{apiGroups: [''], kinds: [Pod]}]"))
	d := obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {team: a}}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: x}]}
`)
	req, err := AdmissionRequest(map[string]any{
		"uid":       "42",
		"kind":      map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"},
		"resource":  map[string]any{"group": "apps", "version": "v1", "resource": "deployments"},
		"operation": "CREATE",
		"name":      "web",
		"namespace": "dev",
		"userInfo":  map[string]any{"username": "alice"},
		"object":    d.Content,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, matched, err := e.ReviewRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || !res[0].Implied || res[0].TemplatePath != "spec.template" {
		t.Fatalf("results %+v", res)
	}
	// The implied Pod keeps the request's operation.
	if want := `Pod web has no label "team" (operation "CREATE")`; res[0].Msg != want {
		t.Errorf("message %q, want %q", res[0].Msg, want)
	}
	if len(matched) != 1 {
		t.Errorf("matched %d constraints, want 1", len(matched))
	}
	// A namespaceSelector sees the request's namespace on the implied Pod
	// although the Deployment's metadata leaves it out.
	sel := newEngine(t, requiredLabelsTemplate, requiredLabels(
		"    kinds: [{apiGroups: [''], kinds: [Pod]}]\n    namespaces: [dev]"))
	if res, _, err := sel.ReviewRequest(ctx, req); err != nil || len(res) != 1 {
		t.Errorf("namespaced constraint on implied pod: %v %+v", err, res)
	}
	other := newEngine(t, requiredLabelsTemplate, requiredLabels(
		"    kinds: [{apiGroups: [''], kinds: [Pod]}]\n    namespaces: [prod]"))
	if res, _, err := other.ReviewRequest(ctx, req); err != nil || len(res) != 0 {
		t.Errorf("constraint for another namespace: %v %+v", err, res)
	}
	// A DELETE reviews the deleted Deployment, but implies no Pod.
	del, err := AdmissionRequest(map[string]any{
		"uid":       "43",
		"kind":      map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"},
		"operation": "DELETE",
		"name":      "web",
		"namespace": "dev",
		"oldObject": d.Content,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, _, err := e.ReviewRequest(ctx, del); err != nil || len(res) != 0 {
		t.Errorf("delete: %v %+v", err, res)
	}
}

func TestUpdateInventory(t *testing.T) {
	tpl := `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testpodcount}
spec:
  crd: {spec: {names: {kind: TestPodCount}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package testpodcount
        violation[{"msg": msg}] {
          ns := input.review.object.metadata.name
          pods := [n | data.inventory.namespace[ns]["v1"]["Pod"][n]]
          roles := [n | data.inventory.cluster["rbac.authorization.k8s.io/v1"]["ClusterRole"][n]]
          msg := sprintf("%d pods %v, %d cluster roles", [count(pods), sort(pods), count(roles)])
        }
`
	e := newEngine(t, tpl, "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestPodCount\nmetadata: {name: c}\nspec: {match: {kinds: [{apiGroups: [''], kinds: [Namespace]}], namespaceSelector: {matchLabels: {team: a}}}}\n")
	ctx := context.Background()
	pod := func(ns, name, image string) *k8s.Object {
		return obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: "+name+", namespace: "+ns+"}\nspec: {containers: [{name: a, image: "+image+"}]}\n")
	}
	nsA := obj(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev, labels: {team: a}}\n")
	role := obj(t, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n")
	msg := func() string {
		t.Helper()
		res, _, err := e.ReviewObject(ctx, nsA)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 0 {
			return ""
		}
		return res[0].Msg
	}
	// From empty (no SetInventory), levels are created as needed.
	if err := e.UpdateInventory(ctx, []*k8s.Object{nsA, pod("dev", "a", "x"), pod("dev", "b", "x"), pod("prod", "c", "x"), role}, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := msg(), `2 pods ["a", "b"], 1 cluster roles`; got != want {
		t.Errorf("after put: %q, want %q", got, want)
	}
	if l := e.NamespaceLabels("dev"); l["team"] != "a" {
		t.Errorf("namespace labels %v", l)
	}
	// Replace one, delete one (and one that is not there), keep the rest.
	b2 := pod("dev", "b", "y")
	if err := e.UpdateInventory(ctx, []*k8s.Object{b2}, []*k8s.Object{pod("dev", "a", ""), pod("dev", "zz", ""), role}); err != nil {
		t.Fatal(err)
	}
	if got, want := msg(), `1 pods ["b"], 0 cluster roles`; got != want {
		t.Errorf("after update: %q, want %q", got, want)
	}
	if e.valueOf(b2) == nil {
		t.Error("replaced object has no cached value")
	}
	// The namespace's new labels take effect for namespaceSelector; its
	// deletion forgets them.
	nsB := obj(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev, labels: {team: b}}\n")
	if err := e.UpdateInventory(ctx, []*k8s.Object{nsB}, nil); err != nil {
		t.Fatal(err)
	}
	if l := e.NamespaceLabels("dev"); l["team"] != "b" {
		t.Errorf("namespace labels after update %v", l)
	}
	if err := e.UpdateInventory(ctx, nil, []*k8s.Object{nsB}); err != nil {
		t.Fatal(err)
	}
	if l := e.NamespaceLabels("dev"); l != nil {
		t.Errorf("namespace labels after delete %v", l)
	}
	// SetInventory still replaces everything.
	if err := e.SetInventory(ctx, []*k8s.Object{nsA}); err != nil {
		t.Fatal(err)
	}
	if got, want := msg(), `0 pods [], 0 cluster roles`; got != want {
		t.Errorf("after SetInventory: %q, want %q", got, want)
	}
}

// TestConcurrentReviews reviews from many goroutines while constraints and
// the inventory change; run with -race.
func TestConcurrentReviews(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, requiredLabelsTemplate, requiredLabels("    kinds: [{apiGroups: [''], kinds: [Pod]}]"))
	pod := obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev}\nspec: {containers: [{name: a, image: x}]}\n")
	other := obj(t, strings.Replace(requiredLabels("    {}"), "need-team", "other", 1))
	done := make(chan struct{})
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		go func() {
			for i := 0; i < 200; i++ {
				res, _, err := e.ReviewObject(ctx, pod)
				if err != nil || len(res) == 0 {
					errs <- fmt.Errorf("review %d: %v %v", i, err, res)
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			if _, err := e.AddConstraint(other); err != nil {
				t.Error(err)
				return
			}
			if err := e.SetInventory(ctx, []*k8s.Object{pod}); err != nil {
				t.Error(err)
				return
			}
			e.RemoveConstraint(other.Kind(), other.Name())
		}
	}()
	for w := 0; w < 8; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	<-done
}

// TestInputPerConstraint checks that each constraint's evaluation sees its
// own parameters as input.parameters, also in what a violation keeps of
// the input, when several constraints of one template judge an object.
func TestInputPerConstraint(t *testing.T) {
	tpl := `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testechoinput}
spec:
  crd: {spec: {names: {kind: TestEchoInput}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package testechoinput
        violation[{"msg": msg, "details": input}] {
          msg := sprintf("%v", [input.parameters.num])
        }
`
	e := New()
	ctx := context.Background()
	if _, err := e.AddTemplate(ctx, obj(t, tpl)); err != nil {
		t.Fatal(err)
	}
	const n = minBatch + 1 // evaluated together
	for i := range n {
		c := fmt.Sprintf("apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestEchoInput\nmetadata: {name: c%d}\nspec: {parameters: {num: %d}}\n", i, i)
		if _, err := e.AddConstraint(obj(t, c)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.Review(ctx, ObjectRequest(obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != n {
		t.Fatalf("%d results, want %d", len(res), n)
	}
	for i, r := range res {
		want := fmt.Sprint(i)
		if r.Constraint.Name != "c"+want || r.Msg != want {
			t.Errorf("result %d: constraint %s, message %q", i, r.Constraint.Name, r.Msg)
		}
		d, _ := r.Details.(map[string]any)
		params, _ := d["parameters"].(map[string]any)
		review, _ := d["review"].(map[string]any)
		if fmt.Sprint(params["num"]) != want || review["object"] == nil || len(d) != 2 {
			t.Errorf("result %d: input %v", i, r.Details)
		}
	}
}

// TestBatchErrors checks that the constraints of one template, evaluated
// together, keep their own results, enforcement actions and errors: a
// constraint whose evaluation fails is reported alone while the others
// still report their violations, and a deadline is every unfinished
// constraint's error.
func TestBatchErrors(t *testing.T) {
	tpl := `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testbatch}
spec:
  crd: {spec: {names: {kind: TestBatch}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package testbatch
        violation[{"msg": m}] {
          m := f(input.parameters.num)
        }
        # Two outputs for 1: an evaluation error.
        f(x) = "one" { x == 1 }
        f(x) = "uno" { x == 1 }
        f(x) = "two" { x == 2 }
        f(x) = sprintf("slow %d", [count([y | y := numbers.range(1, 100000000)[_]; y % 7 == 0])]) { x == 9 }
`
	constraint := func(name, action string, num int) string {
		return fmt.Sprintf("apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestBatch\nmetadata: {name: %s}\nspec: {enforcementAction: %s, parameters: {num: %d}}\n", name, action, num)
	}
	ctx := context.Background()
	e := New(WithTimeout(300 * time.Millisecond))
	if _, err := e.AddTemplate(ctx, obj(t, tpl)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{constraint("a-conflict", "deny", 1), constraint("b-two", "warn", 2), constraint("c-none", "deny", 3), constraint("d-two", "dryrun", 2)} {
		if _, err := e.AddConstraint(obj(t, c)); err != nil {
			t.Fatal(err)
		}
	}
	pod := ObjectRequest(obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"))
	res, err := e.Review(ctx, pod)
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Constraint.Name != "a-conflict" || strings.Contains(err.Error(), "b-two") {
		t.Errorf("error %v, want one for a-conflict only", err)
	}
	var got []string
	for _, r := range res {
		got = append(got, r.Constraint.Name+":"+r.EnforcementAction+":"+r.Msg)
	}
	if strings.Join(got, " ") != "b-two:warn:two d-two:dryrun:two" {
		t.Errorf("results %q", got)
	}

	if _, err := e.AddConstraint(obj(t, constraint("e-slow", "deny", 9))); err != nil {
		t.Fatal(err)
	}
	e.RemoveConstraint("TestBatch", "a-conflict")
	start := time.Now()
	_, err = e.Review(ctx, pod)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("review took %s despite a 300ms deadline", d)
	}
	for _, name := range []string{"b-two", "c-none", "d-two", "e-slow"} {
		if err == nil || !strings.Contains(err.Error(), "TestBatch "+name+": evaluation exceeded its deadline") {
			t.Errorf("error %v, want a deadline error for %s", err, name)
		}
	}
}

package policy

import (
	"context"
	"strings"
	"testing"
)

// echoReviewTemplate reports, for every reviewed object, the parts of
// input.review that Gatekeeper fills in for admission requests.
const echoReviewTemplate = `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: testechoreview
spec:
  crd:
    spec:
      names:
        kind: TestEchoReview
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package testechoreview
        violation[{"msg": msg}] {
          r := input.review
          msg := sprintf("op=%q kind=%q object=%q uid=%q resource=%v oldObject=%v", [r.operation, r.kind.kind, r.object.metadata.name, r.uid, r.resource, r.oldObject])
        }
`

const echoReviewConstraint = `
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: TestEchoReview
metadata:
  name: echo
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [ConfigMap]}]
`

func reviewMsgs(t *testing.T, e *Engine, req *Request) []string {
	t.Helper()
	res, err := e.Review(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]string, len(res))
	for i, r := range res {
		msgs[i] = r.Msg
	}
	return msgs
}

func configMap(name string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name, "namespace": "dev"}}
}

// A request that leaves out kind (as gator's update.yaml samples do) is
// matched by its object's own apiVersion and kind, and input.review.kind
// is the zero GroupVersionKind, as in Gatekeeper.
func TestAdmissionRequestWithoutKind(t *testing.T) {
	e := newEngine(t, echoReviewTemplate, echoReviewConstraint)
	req, err := AdmissionRequest(map[string]any{"operation": "UPDATE", "object": configMap("cm")})
	if err != nil {
		t.Fatal(err)
	}
	got := reviewMsgs(t, e, req)
	want := `op="UPDATE" kind="" object="cm" uid="" resource={"group": "", "resource": "", "version": ""} oldObject=null`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %q, want [%q]", got, want)
	}
}

// Gatekeeper reviews the deleted object (oldObject) as input.review.object.
func TestAdmissionRequestDelete(t *testing.T) {
	e := newEngine(t, echoReviewTemplate, echoReviewConstraint)
	raw := map[string]any{
		"kind":      map[string]any{"group": "", "version": "v1", "kind": "ConfigMap"},
		"operation": "DELETE",
		"oldObject": configMap("gone"),
	}
	req, err := AdmissionRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	got := reviewMsgs(t, e, req)
	if len(got) != 1 || !strings.Contains(got[0], `op="DELETE" kind="ConfigMap" object="gone"`) {
		t.Fatalf("got %q", got)
	}
	if _, ok := raw["object"]; ok {
		t.Error("AdmissionRequest modified the request it was given")
	}
	if _, err := AdmissionRequest(map[string]any{"operation": "DELETE", "object": configMap("x")}); err == nil {
		t.Error("a DELETE request without oldObject was accepted")
	}
}

// The object's own kind decides the match, not the request's.
func TestAdmissionRequestMatchesObjectKind(t *testing.T) {
	e := newEngine(t, echoReviewTemplate, echoReviewConstraint)
	secret := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"}}
	req, err := AdmissionRequest(map[string]any{
		"kind":      map[string]any{"group": "", "version": "v1", "kind": "ConfigMap"},
		"operation": "CREATE",
		"object":    secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := reviewMsgs(t, e, req); len(got) != 0 {
		t.Fatalf("a Secret matched a ConfigMap constraint: %q", got)
	}
}

// Outside admission, input.review.oldObject is present and null, as in
// Gatekeeper's audit and gator.
func TestObjectRequestOldObjectNull(t *testing.T) {
	e := newEngine(t, echoReviewTemplate, echoReviewConstraint)
	got := reviewMsgs(t, e, ObjectRequest(obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: dev}\n")))
	if len(got) != 1 || !strings.HasSuffix(got[0], "oldObject=null") {
		t.Fatalf("got %q", got)
	}
}

// An object with only a generateName has no name for Gatekeeper: review.name
// is absent and match.name does not match the generateName.
func TestGenerateNameIsNotAName(t *testing.T) {
	const named = `
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: TestEchoReview
metadata:
  name: echo
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [ConfigMap]}]
    name: "web-*"
`
	e := newEngine(t, echoReviewTemplate, named)
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: web-, namespace: dev}\n")
	req := ObjectRequest(cm)
	if _, ok := req.Review["name"]; ok {
		t.Errorf("review.name = %v, want it absent", req.Review["name"])
	}
	if got := reviewMsgs(t, e, req); len(got) != 0 {
		t.Errorf("match.name matched a generateName: %q", got)
	}
	areq, err := AdmissionRequest(map[string]any{"operation": "CREATE", "namespace": "dev", "object": cm.Content})
	if err != nil {
		t.Fatal(err)
	}
	if got := reviewMsgs(t, e, areq); len(got) != 0 {
		t.Errorf("match.name matched a generateName at admission: %q", got)
	}
}

package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
)

func TestParseCount(t *testing.T) {
	tests := []struct {
		in    any
		exact int
		yes   bool
		bad   bool
	}{
		{json.Number("2"), 2, false, false},
		{json.Number("0"), 0, false, false},
		{"yes", -1, true, false},
		{"no", -1, false, false},
		{true, -1, true, false},
		{false, -1, false, false},
		{"3", 3, false, false},
		{json.Number("-1"), 0, false, true},
		{"maybe", 0, false, true},
	}
	for _, tc := range tests {
		c, err := parseCount(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%v accepted", tc.in)
			}
			continue
		}
		if err != nil || c.Exact != tc.exact || c.Yes != tc.yes {
			t.Errorf("%v: %+v %v", tc.in, c, err)
		}
	}
}

func TestAssertion(t *testing.T) {
	mk := func(raw string) Assertion {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		a, err := parseAssertion(m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	msgs := []string{`container "a" is privileged`, `container "b" is privileged`, `host network`}
	tests := []struct {
		raw  string
		pass bool
	}{
		{`{}`, true}, // default: at least one violation
		{`{"violations": 3}`, true},
		{`{"violations": 2}`, false},
		{`{"violations": 2, "message": "privileged"}`, true},
		{`{"violations": "yes", "message": "^host"}`, true},
		{`{"violations": "no", "message": "root"}`, true},
		{`{"violations": false, "message": "privileged"}`, false},
		{`{"message": "container \"c\""}`, false},
	}
	for _, tc := range tests {
		err := mk(tc.raw).Check(msgs)
		if (err == nil) != tc.pass {
			t.Errorf("%s: err %v, want pass=%v", tc.raw, err, tc.pass)
		}
	}
	if err := mk(`{"violations": "no"}`).Check(nil); err != nil {
		t.Errorf("no violations: %v", err)
	}
	if _, err := parseAssertion(map[string]any{"message": "("}); err == nil {
		t.Error("invalid regex accepted")
	}
}

const denyPrivileged = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testprivileged}
spec:
  crd:
    spec:
      names: {kind: TestPrivileged}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            exempt: {type: array, items: {type: string}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package testprivileged
      violation[{"msg": msg}] {
        c := input.review.object.spec.containers[_]
        c.securityContext.privileged
        not exempt(c.name)
        msg := sprintf("container %q is privileged (%s)", [c.name, input.review.operation])
      }
      violation[{"msg": msg}] {
        input.review.operation == "DELETE"
        msg := sprintf("deleting %s", [input.review.oldObject.metadata.name])
      }
      exempt(n) { input.parameters.exempt[_] == n }
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunner(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"template.yaml":   denyPrivileged,
		"constraint.yaml": "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestPrivileged\nmetadata: {name: c}\nspec: {parameters: {exempt: [debug]}}\n",
		"bad.yaml":        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestPrivileged\nmetadata: {name: c}\nspec: {parameters: {exempt: debug}}\n",
		"priv.yaml":       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, securityContext: {privileged: true}}, {name: debug, securityContext: {privileged: true}}]}\n",
		"ok.yaml":         "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n",
		"review-delete.yaml": `apiVersion: admission.k8s.io/v1
kind: AdmissionReview
request:
  uid: "1"
  kind: {group: "", version: v1, kind: Pod}
  resource: {group: "", version: v1, resource: pods}
  name: gone
  namespace: dev
  operation: DELETE
  userInfo: {username: alice}
  oldObject: {apiVersion: v1, kind: Pod, metadata: {name: gone, namespace: dev}, spec: {containers: []}}
`,
		"suite.yaml": `apiVersion: test.gatekeeper.sh/v1alpha1
kind: Suite
metadata: {name: s}
tests:
- name: privileged
  template: template.yaml
  constraint: constraint.yaml
  cases:
  - name: privileged-denied-exempt-skipped
    object: priv.yaml
    assertions:
    - violations: 1
      message: '"a" is privileged \(\)'
    - violations: no
      message: debug
  - name: ordinary-allowed
    object: ok.yaml
    assertions:
    - violations: no
  - name: delete-review
    object: review-delete.yaml
    assertions:
    - violations: yes
      message: deleting gone
  - name: skipped-case
    skip: true
    object: missing.yaml
    assertions: [{violations: yes}]
- name: exempt-must-be-a-list
  template: template.yaml
  constraint: bad.yaml
  invalid: true
- name: wrong-invalid-expectation
  template: template.yaml
  constraint: constraint.yaml
  invalid: true
- name: missing-object
  template: template.yaml
  constraint: constraint.yaml
  cases:
  - name: nope
    object: nope.yaml
    assertions: [{violations: no}]
`,
	})
	var out bytes.Buffer
	r := &Runner{Loader: k8s.Loader{}, NewEngine: func() *policy.Engine { return policy.New() }, Out: &out, Verbose: true}
	tot, err := r.Run(context.Background(), dir)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err %v\n%s", err, out.String())
	}
	if tot.Passed != 4 || tot.Failed != 2 || tot.Skipped != 1 {
		t.Errorf("totals %+v\n%s", tot, out.String())
	}
	for _, want := range []string{
		"PASS: privileged/privileged-denied-exempt-skipped",
		"PASS: privileged/delete-review",
		"PASS: exempt-must-be-a-list",
		"FAIL: wrong-invalid-expectation",
		"FAIL: missing-object/nope",
		"nope.yaml",
		"SKIP: privileged/skipped-case",
		"4 passed, 2 failed, 1 skipped",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

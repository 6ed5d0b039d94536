package verify

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
)

func TestGatorPath(t *testing.T) {
	for in, want := range map[string]string{
		"...":           ".",
		"./...":         ".",
		"library/...":   "library",
		"library/x/...": "library/x",
		"suite.yaml":    "suite.yaml",
		"dir":           "dir",
	} {
		if got := gatorPath(in); got != want {
			t.Errorf("gatorPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// "bulwark verify dir/..." finds the suites under dir, as gator verify does.
func TestRunRecursiveSuffix(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"template.yaml": `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testnothing}
spec:
  crd: {spec: {names: {kind: TestNothing}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package testnothing
      violation[{"msg": "x"}] { false }
`,
		"constraint.yaml": "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestNothing\nmetadata: {name: c}\n",
		"obj.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\n",
		"suite.yaml": `apiVersion: test.gatekeeper.sh/v1alpha1
kind: Suite
tests:
- name: t
  template: template.yaml
  constraint: constraint.yaml
  cases: [{name: c, object: obj.yaml, assertions: [{violations: no}]}]
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(sub, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	r := &Runner{Loader: k8s.Loader{}, NewEngine: func() *policy.Engine { return policy.New() }, Out: &out}
	tot, err := r.Run(context.Background(), filepath.Join(dir, "a")+"/...")
	if err != nil || tot.Suites != 1 || tot.Passed != 1 {
		t.Fatalf("totals %+v, err %v\n%s", tot, err, out.String())
	}
}

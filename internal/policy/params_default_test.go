package policy

import (
	"context"
	"testing"
)

// A template whose parameters schema has defaults, top-level and nested.
const defaultsTemplate = `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: testdefaults
spec:
  crd:
    spec:
      names:
        kind: TestDefaults
      validation:
        openAPIV3Schema:
          type: object
          properties:
            verbose:
              type: boolean
              default: true
            limits:
              type: object
              properties:
                max:
                  type: integer
                  default: 3
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package testdefaults
        violation[{"msg": msg}] {
          msg := sprintf("parameters=%v", [input.parameters])
        }
`

func defaultsMsg(t *testing.T, spec string) string {
	t.Helper()
	e := newEngine(t, defaultsTemplate, "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestDefaults\nmetadata: {name: c}\nspec: "+spec+"\n")
	res, err := e.Review(context.Background(), ObjectRequest(obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")))
	if err != nil || len(res) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	return res[0].Msg
}

// Schema defaults fill in spec.parameters as the API server (and gator's
// ApplyDefaultParams) do: only inside objects that are present.
func TestParameterDefaults(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"{parameters: {}}", `parameters={"verbose": true}`},
		{"{parameters: {verbose: false, limits: {}}}", `parameters={"limits": {"max": 3}, "verbose": false}`},
		{"{parameters: {limits: {max: 7}}}", `parameters={"limits": {"max": 7}, "verbose": true}`},
		{"{}", `parameters={}`},
	}
	for _, tc := range tests {
		if got := defaultsMsg(t, tc.spec); got != tc.want {
			t.Errorf("spec %s: got %s, want %s", tc.spec, got, tc.want)
		}
	}
}

// Defaulting does not modify the constraint object it was read from.
func TestParameterDefaultsLeaveSourceAlone(t *testing.T) {
	e := New()
	if _, err := e.AddTemplate(context.Background(), obj(t, defaultsTemplate)); err != nil {
		t.Fatal(err)
	}
	src := obj(t, "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestDefaults\nmetadata: {name: c}\nspec: {parameters: {}}\n")
	c, err := e.AddConstraint(src)
	if err != nil {
		t.Fatal(err)
	}
	if c.Parameters["verbose"] != true {
		t.Errorf("Parameters = %v", c.Parameters)
	}
	if p := src.Content["spec"].(map[string]any)["parameters"].(map[string]any); len(p) != 0 {
		t.Errorf("source parameters modified: %v", p)
	}
}

package policy

import (
	"context"
	"strings"
	"testing"
)

// celLabelsTemplate is a CEL-only template in the form of the
// gatekeeper-library's: variables.params and variables.anyObject,
// variables built on each other, a messageExpression.
const celLabelsTemplate = `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: celrequiredlabels}
spec:
  crd:
    spec:
      names: {kind: CelRequiredLabels}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels: {type: array, items: {type: string}}
            maxReplicas: {type: integer}
  targets:
    - target: admission.k8s.gatekeeper.sh
      code:
        - engine: K8sNativeValidation
          source:
            variables:
            - name: labels
              expression: 'has(variables.anyObject.metadata.labels) ? variables.anyObject.metadata.labels : {}'
            - name: missing
              expression: '!has(variables.params.labels) ? [] : variables.params.labels.filter(l, !(l in variables.labels))'
            matchConditions:
            - name: not-kube-system
              expression: '!has(variables.anyObject.metadata.namespace) || variables.anyObject.metadata.namespace != "kube-system"'
            validations:
            - expression: 'size(variables.missing) == 0'
              messageExpression: '"missing labels: " + variables.missing.join(", ") + " on " + variables.anyObject.kind + " " + variables.anyObject.metadata.name'
            - expression: '!has(variables.anyObject.spec.replicas) || !has(variables.params.maxReplicas) || variables.anyObject.spec.replicas <= variables.params.maxReplicas'
              message: too many replicas
            - expression: '!has(variables.anyObject.spec.containers) || variables.anyObject.spec.containers.all(c, !has(c.resources) || !has(c.resources.limits) || !has(c.resources.limits.memory) || quantity(c.resources.limits.memory).compareTo(quantity("1Gi")) <= 0)'
`

func TestCELTemplate(t *testing.T) {
	e := newEngine(t, celLabelsTemplate, `
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: CelRequiredLabels
metadata: {name: need-team}
spec:
  enforcementAction: warn
  parameters: {labels: [team, app], maxReplicas: 3}
`)
	if tpl := e.Templates()[0]; tpl.native == nil {
		t.Fatal("CEL template has no evaluation")
	}
	review := func(y string) []string {
		t.Helper()
		res, err := e.Review(context.Background(), ObjectRequest(obj(t, y)))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for _, r := range res {
			if r.EnforcementAction != "warn" || r.Constraint.Name != "need-team" {
				t.Errorf("result %+v", r)
			}
			msgs = append(msgs, r.Msg)
		}
		return msgs
	}
	tests := []struct {
		name, object string
		want         []string
	}{
		{"labelled pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev, labels: {team: a, app: b}}\nspec: {containers: [{name: c, image: x}]}\n", nil},
		{"pod without labels", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev}\nspec: {containers: [{name: c, image: x}]}\n", []string{"missing labels: team, app on Pod p"}},
		{"one label missing", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev, labels: {team: a}}\nspec: {containers: [{name: c, image: x}]}\n", []string{"missing labels: app on Pod p"}},
		{"integer parameter", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: dev, labels: {team: a, app: b}}\nspec: {replicas: 5}\n", []string{"too many replicas"}},
		{"quantity library, message defaults to the expression", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev, labels: {team: a, app: b}}\nspec: {containers: [{name: c, image: x, resources: {limits: {memory: 2Gi}}}]}\n",
			[]string{"failed expression: !has(variables.anyObject.spec.containers) || variables.anyObject.spec.containers.all(c, !has(c.resources) || !has(c.resources.limits) || !has(c.resources.limits.memory) || quantity(c.resources.limits.memory).compareTo(quantity(\"1Gi\")) <= 0)"}},
		{"matchConditions skip kube-system", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: kube-system}\nspec: {containers: [{name: c, image: x}]}\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := review(tc.object)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}

	// A DELETE is judged on its oldObject through variables.anyObject.
	req, err := AdmissionRequest(map[string]any{
		"uid": "1", "kind": map[string]any{"group": "", "version": "v1", "kind": "Pod"},
		"resource": map[string]any{"group": "", "version": "v1", "resource": "pods"},
		"name":     "gone", "namespace": "dev", "operation": "DELETE", "userInfo": map[string]any{"username": "u"},
		"oldObject": obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: gone, namespace: dev}\nspec: {containers: [{name: c, image: x}]}\n").Content,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Review(context.Background(), req)
	if err != nil || len(res) != 1 || res[0].Msg != "missing labels: team, app on Pod gone" {
		t.Errorf("DELETE: %v %+v", err, res)
	}
}

func TestCELErrors(t *testing.T) {
	tpl := func(validation string) string {
		return `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: celbad}
spec:
  crd: {spec: {names: {kind: CelBad}}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      code:
        - engine: K8sNativeValidation
          source:
            validations:
            - ` + validation + "\n"
	}
	con := "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: CelBad\nmetadata: {name: bad}\n"
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev}\nspec: {containers: [{name: c, image: x}]}\n"
	tests := []struct{ name, validation, want string }{
		{"not a bool", `expression: 'object.metadata.name'`, `gave string, not a bool`},
		{"missing field", `expression: 'object.spec.nodeName == "x"'`, `no such key: nodeName`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, tpl(tc.validation), con)
			_, err := e.Review(context.Background(), ObjectRequest(obj(t, pod)))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "CelBad") && !strings.Contains(err.Error(), "bad") {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// variables.params is null without spec.parameters, the parameters
	// with them.
	e := newEngine(t, tpl(`expression: 'variables.params == null'`), con)
	if res, err := e.Review(context.Background(), ObjectRequest(obj(t, pod))); err != nil || len(res) != 0 {
		t.Errorf("without parameters: %v %+v", err, res)
	}
	e = newEngine(t, tpl(`expression: 'variables.params == null'`), con+"spec: {parameters: {x: 1}}\n")
	if res, err := e.Review(context.Background(), ObjectRequest(obj(t, pod))); err != nil || len(res) != 1 {
		t.Errorf("with parameters: %v %+v", err, res)
	}
	// A cost beyond the API server's per-expression limit stops the expression.
	e = newEngine(t, tpl(`expression: '[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))'`), con)
	_, err := e.Review(context.Background(), ObjectRequest(obj(t, pod)))
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("expensive expression: %v", err)
	}
}

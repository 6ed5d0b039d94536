package policy

import (
	"context"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// FuzzLoadTemplate feeds arbitrary manifests to template and constraint
// loading: errors are fine, panics are not.
func FuzzLoadTemplate(f *testing.F) {
	f.Add([]byte(requiredLabelsTemplate), []byte(requiredLabels("    kinds: [{apiGroups: [''], kinds: [Pod]}]")))
	f.Add([]byte("apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {name: a}\nspec: {crd: {spec: {names: {kind: A}}}, targets: [{target: admission.k8s.gatekeeper.sh, code: [{engine: Rego, source: {rego: 'package a'}}]}]}\n"),
		[]byte("apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: A\nmetadata: {name: a}\nspec: {match: {namespaceSelector: {}}, parameters: 3}\n"))
	f.Add([]byte(celLabelsTemplate), []byte("apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: CelRequiredLabels\nmetadata: {name: a}\nspec: {parameters: {labels: [a], maxReplicas: 1}}\n"))
	f.Fuzz(func(t *testing.T, tpl, con []byte) {
		ctx := context.Background()
		e := New()
		tobjs, err := k8s.Decode("t.yaml", tpl)
		if err != nil {
			return
		}
		for _, o := range tobjs {
			_, _ = e.AddTemplate(ctx, o)
		}
		cobjs, err := k8s.Decode("c.yaml", con)
		if err != nil {
			return
		}
		for _, o := range cobjs {
			_, _ = e.AddConstraint(o)
		}
		p, _ := k8s.Decode("p.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev}\nspec: {containers: [{name: a, image: x}]}\n"))
		_, _, _ = e.ReviewObject(ctx, p[0])
	})
}

package policy

import (
	"context"
	"errors"
	"testing"
)

// Constraints whose spec.match or spec.enforcementAction Gatekeeper's
// constraint CRD schema refuses are schema errors, so that gator-style
// "invalid: true" tests see them as such.
func TestMatchSchemaErrors(t *testing.T) {
	const head = "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestEchoReview\nmetadata: {name: c}\nspec: "
	tests := []struct{ name, spec string }{
		{"kinds not a list", "{match: {kinds: ConfigMap}}"},
		{"kind entry not an object", "{match: {kinds: [ConfigMap]}}"},
		{"lone star namespace", "{match: {namespaces: ['*']}}"},
		{"upper-case namespace", "{match: {namespaces: [Dev]}}"},
		{"name with a star inside", "{match: {name: 'a*b'}}"},
		{"scope", "{match: {scope: namespaced}}"},
		{"selector operator", "{match: {namespaceSelector: {matchExpressions: [{key: a, operator: Is}]}}}"},
		{"match not an object", "{match: [kinds]}"},
		{"enforcementAction not a string", "{enforcementAction: 1}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New()
			if _, err := e.AddTemplate(context.Background(), obj(t, echoReviewTemplate)); err != nil {
				t.Fatal(err)
			}
			_, err := e.AddConstraint(obj(t, head+tc.spec+"\n"))
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("got %v, want a schema error", err)
			}
		})
	}
}

// What Gatekeeper's schema accepts still loads.
func TestMatchSchemaAccepts(t *testing.T) {
	const head = "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: TestEchoReview\nmetadata: {name: c}\nspec: "
	for _, spec := range []string{
		"{match: {kinds: [{apiGroups: ['*'], kinds: ['*']}], scope: '*'}}",
		"{match: {kinds: [{apiGroups: [''], kinds: [Pod]}], namespaces: ['kube-*', '*-system', '*prod*', prod], excludedNamespaces: ['dev-*']}}",
		"{match: {name: 'web-*', labelSelector: {matchLabels: {a: b}}, namespaceSelector: {matchExpressions: [{key: a, operator: Exists}]}, source: Original}}",
		"{enforcementAction: warn}",
	} {
		e := New()
		if _, err := e.AddTemplate(context.Background(), obj(t, echoReviewTemplate)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.AddConstraint(obj(t, head+spec+"\n")); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
}

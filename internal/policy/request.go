package policy

import (
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// Request is one thing to review: input.review exactly as Gatekeeper builds
// it, plus what matching needs to know.
type Request struct {
	// Review becomes input.review: an AdmissionRequest-shaped map (uid,
	// kind, resource, name, namespace, operation, userInfo, object,
	// oldObject, dryRun, ...).
	Review map[string]any
	// NamespaceLabels are the labels of the request's namespace; nil when
	// the namespace is unknown.
	NamespaceLabels map[string]string
	// Generated marks a Pod implied by a workload's template.
	Generated bool

	// objectValue is review.object already in Rego form, when known.
	objectValue ast.Value
}

// value converts the review to its Rego form, reusing objectValue.
func (r *Request) value() (ast.Value, error) {
	if r.objectValue == nil {
		return ast.InterfaceToValue(r.Review)
	}
	out := ast.NewObject()
	for k, v := range r.Review {
		var val ast.Value
		if k == "object" {
			val = r.objectValue
		} else {
			var err error
			if val, err = ast.InterfaceToValue(v); err != nil {
				return nil, err
			}
		}
		out.Insert(ast.StringTerm(k), ast.NewTerm(val))
	}
	return out, nil
}

// ObjectRequest builds the review Gatekeeper's audit and gator build for an
// object that is not part of an admission request: kind, name, namespace
// and object, with an empty operation and user.
func ObjectRequest(o *k8s.Object) *Request {
	gvk := o.GroupVersionKind()
	review := map[string]any{
		"uid":       "",
		"kind":      map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind},
		"resource":  map[string]any{"group": "", "version": "", "resource": ""},
		"operation": "",
		"userInfo":  map[string]any{},
		"object":    o.Content,
	}
	if n := o.Name(); n != "" {
		review["name"] = n
	}
	if ns := o.Namespace(); ns != "" {
		review["namespace"] = ns
	}
	return &Request{Review: review}
}

// AdmissionRequest builds a review from the request of an
// admission.k8s.io AdmissionReview, decoded as JSON. For DELETE, where the
// API server sends only oldObject, object is left absent as in Gatekeeper.
func AdmissionRequest(req map[string]any) (*Request, error) {
	if req == nil {
		return nil, errors.New("admission review has no request")
	}
	if _, ok := req["kind"].(map[string]any); !ok {
		return nil, errors.New("admission request has no kind")
	}
	obj, _ := req["object"].(map[string]any)
	old, _ := req["oldObject"].(map[string]any)
	if obj == nil && old == nil {
		return nil, errors.New(`admission request contains no "object" or "oldObject" to review`)
	}
	if _, ok := req["userInfo"]; !ok {
		req["userInfo"] = map[string]any{}
	}
	if _, ok := req["operation"]; !ok {
		req["operation"] = ""
	}
	return &Request{Review: req}, nil
}

// objects returns the object and oldObject of the review.
func (r *Request) objects() (obj, old map[string]any) {
	obj, _ = r.Review["object"].(map[string]any)
	old, _ = r.Review["oldObject"].(map[string]any)
	return obj, old
}

// targets builds what Match judges for the object and the old object.
func (r *Request) targets() ([]matchTarget, error) {
	kind, _ := r.Review["kind"].(map[string]any)
	group, _ := kind["group"].(string)
	k, _ := kind["kind"].(string)
	ns, _ := r.Review["namespace"].(string)
	name, _ := r.Review["name"].(string)
	obj, old := r.objects()
	var out []matchTarget
	for _, o := range []map[string]any{obj, old} {
		if o == nil {
			continue
		}
		t := matchTarget{group: group, kind: k, name: name, namespace: ns, nsLabels: r.NamespaceLabels, generated: r.Generated}
		ko := &k8s.Object{Content: o}
		if t.name == "" {
			t.name = ko.Name()
		}
		if t.namespace == "" {
			t.namespace = ko.Namespace()
		}
		t.labels = ko.Labels()
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("review of %s %s has neither object nor oldObject", k, name)
	}
	return out, nil
}

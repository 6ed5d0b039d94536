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
		// AdmissionRequest's RawExtension fields serialise as null when
		// empty, so Gatekeeper's input.review has them, as null.
		"oldObject": nil,
		"options":   nil,
	}
	if n := metadataName(o); n != "" {
		review["name"] = n
	}
	if ns := o.Namespace(); ns != "" {
		review["namespace"] = ns
	}
	return &Request{Review: review}
}

// implied builds the review of the Pod a reviewed workload implies: the
// Pod as ObjectRequest would review it, with the request's uid, operation,
// user and dry-run flag, and its namespace when the workload's object
// leaves it out.
func (r *Request) implied(pod *k8s.Object) *Request {
	if ns, _ := r.Review["namespace"].(string); ns != "" && pod.Namespace() == "" {
		if md := pod.Metadata(); md != nil {
			md["namespace"] = ns
		}
	}
	p := ObjectRequest(pod)
	for _, k := range []string{"uid", "operation", "userInfo", "dryRun"} {
		if v, ok := r.Review[k]; ok {
			p.Review[k] = v
		}
	}
	if op, _ := r.Review["operation"].(string); op != "" {
		p.Review["resource"] = map[string]any{"group": "", "version": "v1", "resource": "pods"}
	}
	p.NamespaceLabels = r.NamespaceLabels
	p.Generated = true
	return p
}

// AdmissionRequest builds a review from the request of an
// admission.k8s.io AdmissionReview, decoded as JSON, as Gatekeeper does: the
// fields an AdmissionRequest always serialises (uid, kind, resource,
// operation, userInfo, oldObject, options) are present, zero when the
// request left them out, and for DELETE the deleted object (oldObject) is
// also input.review.object (Gatekeeper's util.SetObjectOnDelete). The
// request is copied, not modified.
func AdmissionRequest(req map[string]any) (*Request, error) {
	if req == nil {
		return nil, errors.New("admission review has no request")
	}
	obj, _ := req["object"].(map[string]any)
	old, _ := req["oldObject"].(map[string]any)
	if obj == nil && old == nil {
		return nil, errors.New(`admission request contains no "object" or "oldObject" to review`)
	}
	review := make(map[string]any, len(req)+8)
	for k, v := range req {
		review[k] = v
	}
	if op, _ := req["operation"].(string); op == "DELETE" {
		if old == nil {
			return nil, errors.New(`DELETE admission request has no "oldObject"`)
		}
		review["object"] = old
	}
	defaults := map[string]func() any{
		"uid":       func() any { return "" },
		"kind":      func() any { return map[string]any{"group": "", "version": "", "kind": ""} },
		"resource":  func() any { return map[string]any{"group": "", "version": "", "resource": ""} },
		"operation": func() any { return "" },
		"userInfo":  func() any { return map[string]any{} },
		"object":    func() any { return nil },
		"oldObject": func() any { return nil },
		"options":   func() any { return nil },
	}
	for k, zero := range defaults {
		if _, ok := review[k]; !ok {
			review[k] = zero()
		}
	}
	return &Request{Review: review}, nil
}

// objects returns the object and oldObject of the review.
func (r *Request) objects() (obj, old map[string]any) {
	obj, _ = r.Review["object"].(map[string]any)
	old, _ = r.Review["oldObject"].(map[string]any)
	return obj, old
}

// targets builds what Match judges for the object and the old object. As
// in Gatekeeper (pkg/target Matcher.Match), each is judged by its own
// apiVersion, kind and name; the request's kind and name stand in only
// where the object has none.
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
		if gvk := ko.GroupVersionKind(); gvk.Kind != "" {
			t.group, t.kind = gvk.Group, gvk.Kind
		}
		if n := metadataName(ko); n != "" {
			t.name = n
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

// metadataName is metadata.name as Gatekeeper reads it (GetName): an object
// that has only a generateName has no name yet, so input.review.name is
// absent and match.name does not match it.
func metadataName(o *k8s.Object) string {
	n, _ := o.Metadata()["name"].(string)
	return n
}

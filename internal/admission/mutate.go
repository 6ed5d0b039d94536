package admission

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// Mutation chooses what the mutating webhook changes. Both are off by
// default.
type Mutation struct {
	// ImagePullPolicyAlways sets imagePullPolicy: Always on every
	// container (PRAC-PULL: a multi-tenant node must not hand one tenant
	// an image another pulled with its credentials).
	ImagePullPolicyAlways bool
	// SecurityContextDefaults fills in what the restricted Pod Security
	// Standard asks for when a pod leaves it unset: seccompProfile
	// RuntimeDefault and runAsNonRoot at the pod level,
	// allowPrivilegeEscalation: false and capabilities.drop: [ALL] on each
	// container. A value the pod sets is never changed, and privileged
	// containers and Windows pods are left alone.
	SecurityContextDefaults bool
}

// Enabled reports whether anything is mutated.
func (m Mutation) Enabled() bool { return m.ImagePullPolicyAlways || m.SecurityContextDefaults }

// patchOp is one RFC 6902 JSON Patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// mutate answers one request of the mutating webhook: always allowed,
// with a JSONPatch when something is to change.
func (h *Handler) mutate(_ context.Context, in *incoming) (*admissionv1.AdmissionResponse, string) {
	t := targetOf(in.request)
	if h.exempt(t) {
		return &admissionv1.AdmissionResponse{Allowed: true}, DecisionExempt
	}
	if !h.opts.Mutation.Enabled() || beingDeleted(in.operation, in.request) {
		return &admissionv1.AdmissionResponse{Allowed: true}, DecisionAllowed
	}
	ops := h.patch(in.operation, t, in.request)
	resp := &admissionv1.AdmissionResponse{Allowed: true}
	if len(ops) > 0 {
		b, err := json.Marshal(ops)
		if err != nil {
			h.log.Error("encode_patch_failed", "uid", in.uid, "error", err)
			return resp, DecisionError
		}
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = b, &pt
	}
	return resp, DecisionAllowed
}

// patch computes the operations for a request: on a Pod's CREATE every
// container, on its ephemeralcontainers UPDATE the new ephemeral
// containers only (the rest of a pod is immutable), and on the CREATE or
// UPDATE of any object with a pod template (Deployments, Jobs, CronJobs,
// ...) the template.
func (h *Handler) patch(op string, t target, req map[string]any) []patchOp {
	if op != "CREATE" && op != "UPDATE" {
		return nil
	}
	object := obj(req, "object")
	if object == nil {
		return nil
	}
	tpl, ok := k8s.PodTemplateOf(&k8s.Object{Content: object})
	if !ok {
		return nil
	}
	isPod := tpl.Path == ""
	onlyNew := map[string]bool(nil) // ephemeral container names already there
	switch {
	case isPod && op == "CREATE" && t.subResource == "":
	case isPod && op == "UPDATE" && t.subResource == "ephemeralcontainers":
		onlyNew = map[string]bool{}
		if spec := obj(obj(req, "oldObject"), "spec"); spec != nil {
			old, _ := spec["ephemeralContainers"].([]any)
			for _, c := range old {
				if m, ok := c.(map[string]any); ok {
					onlyNew[str(m, "name")] = true
				}
			}
		}
	case isPod:
		return nil
	case t.subResource != "":
		return nil // scale, status: no template in them
	}
	base := "/spec"
	if !isPod {
		base = "/" + strings.ReplaceAll(tpl.Path, ".", "/") + "/spec"
	}
	m := h.opts.Mutation
	windows := str(obj(tpl.Spec, "os"), "name") == "windows"
	var ops []patchOp
	for _, c := range k8s.Containers(tpl.Spec) {
		if onlyNew != nil && (c.List != "ephemeralContainers" || onlyNew[str(c.Spec, "name")]) {
			continue
		}
		path := base + "/" + c.List + "/" + strconv.Itoa(c.Index)
		if m.ImagePullPolicyAlways && str(c.Spec, "imagePullPolicy") != "Always" {
			ops = append(ops, patchOp{Op: "add", Path: path + "/imagePullPolicy", Value: "Always"})
			h.metrics.mutations.WithLabelValues("imagePullPolicy").Inc()
		}
		if m.SecurityContextDefaults && !windows {
			ops = append(ops, h.containerDefaults(path, c.Spec)...)
		}
	}
	if m.SecurityContextDefaults && !windows && onlyNew == nil {
		ops = append(ops, h.podDefaults(base, tpl.Spec)...)
	}
	return ops
}

// containerDefaults sets allowPrivilegeEscalation: false and drops every
// capability on a container that says nothing about them.
func (h *Handler) containerDefaults(path string, c map[string]any) []patchOp {
	sc, present := c["securityContext"].(map[string]any)
	if !present {
		h.metrics.mutations.WithLabelValues("securityContext").Inc()
		return []patchOp{{Op: "add", Path: path + "/securityContext", Value: map[string]any{
			"allowPrivilegeEscalation": false,
			"capabilities":             map[string]any{"drop": []any{"ALL"}},
		}}}
	}
	if p, _ := sc["privileged"].(bool); p {
		return nil
	}
	var ops []patchOp
	caps, hasCaps := sc["capabilities"].(map[string]any)
	if _, set := sc["allowPrivilegeEscalation"]; !set && !addsCapability(caps, "SYS_ADMIN") {
		ops = append(ops, patchOp{Op: "add", Path: path + "/securityContext/allowPrivilegeEscalation", Value: false})
	}
	if !hasCaps {
		ops = append(ops, patchOp{Op: "add", Path: path + "/securityContext/capabilities", Value: map[string]any{"drop": []any{"ALL"}}})
	}
	if len(ops) > 0 {
		h.metrics.mutations.WithLabelValues("securityContext").Inc()
	}
	return ops
}

func addsCapability(caps map[string]any, name string) bool {
	add, _ := caps["add"].([]any)
	for _, c := range add {
		if s, _ := c.(string); strings.TrimPrefix(strings.ToUpper(s), "CAP_") == name {
			return true
		}
	}
	return false
}

// podDefaults sets seccompProfile RuntimeDefault and runAsNonRoot on a pod
// whose pod and containers leave them unset.
func (h *Handler) podDefaults(base string, spec map[string]any) []patchOp {
	seccomp, nonRoot := false, false
	for _, c := range k8s.Containers(spec) {
		sc := obj(c.Spec, "securityContext")
		if _, ok := sc["seccompProfile"]; ok {
			seccomp = true
		}
		if _, ok := sc["runAsNonRoot"]; ok {
			nonRoot = true
		}
		if _, ok := sc["runAsUser"]; ok {
			nonRoot = true
		}
	}
	values := map[string]any{}
	psc, present := spec["securityContext"].(map[string]any)
	if _, ok := psc["seccompProfile"]; !ok && !seccomp {
		values["seccompProfile"] = map[string]any{"type": "RuntimeDefault"}
	}
	_, setNonRoot := psc["runAsNonRoot"]
	_, setUser := psc["runAsUser"]
	if !setNonRoot && !setUser && !nonRoot {
		values["runAsNonRoot"] = true
	}
	if len(values) == 0 {
		return nil
	}
	h.metrics.mutations.WithLabelValues("podSecurityContext").Inc()
	if !present {
		return []patchOp{{Op: "add", Path: base + "/securityContext", Value: values}}
	}
	var ops []patchOp
	for _, k := range []string{"runAsNonRoot", "seccompProfile"} {
		if v, ok := values[k]; ok {
			ops = append(ops, patchOp{Op: "add", Path: base + "/securityContext/" + k, Value: v})
		}
	}
	return ops
}

package k8s

// PodTemplate is a pod spec carried by an object, with where it sits.
type PodTemplate struct {
	// Path is the field path of the template in the object, such as
	// "spec.template" or "spec.jobTemplate.spec.template"; empty for a Pod.
	Path string
	// Metadata is the template's metadata (the Pod's own for a Pod).
	Metadata map[string]any
	// Spec is the pod spec.
	Spec map[string]any
}

// PodTemplateOf returns the pod spec an object carries: a Pod's own spec,
// the template of Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs,
// ReplicationControllers and PodTemplates, a CronJob's job template, and
// any other kind (Argo Rollouts, OpenKruise, ...) that has
// spec.template.spec.containers.
func PodTemplateOf(o *Object) (PodTemplate, bool) {
	c := o.Content
	gvk := o.GroupVersionKind()
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		spec, ok := c["spec"].(map[string]any)
		if !ok {
			return PodTemplate{}, false
		}
		md, _ := c["metadata"].(map[string]any)
		return PodTemplate{Metadata: md, Spec: spec}, true
	case gvk.Group == "" && gvk.Kind == "PodTemplate":
		return templateAt(c, "template")
	case gvk.Group == "batch" && gvk.Kind == "CronJob":
		return templateAt(c, "spec", "jobTemplate", "spec", "template")
	}
	return templateAt(c, "spec", "template")
}

func templateAt(c map[string]any, path ...string) (PodTemplate, bool) {
	cur := c
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return PodTemplate{}, false
		}
		cur = next
	}
	spec, ok := cur["spec"].(map[string]any)
	if !ok {
		return PodTemplate{}, false
	}
	if _, ok := spec["containers"].([]any); !ok {
		return PodTemplate{}, false
	}
	md, _ := cur["metadata"].(map[string]any)
	return PodTemplate{Path: joinPath(path), Metadata: md, Spec: spec}, true
}

func joinPath(p []string) string {
	s := ""
	for i, e := range p {
		if i > 0 {
			s += "."
		}
		s += e
	}
	return s
}

// ImpliedPod builds the Pod a workload would create from its template,
// named and namespaced like the workload, so that Pod policies judge the
// workload itself. It returns false for a Pod or an object with no template.
func ImpliedPod(o *Object) (*Object, bool) {
	t, ok := PodTemplateOf(o)
	if !ok || t.Path == "" {
		return nil, false
	}
	md := map[string]any{"name": o.Name()}
	if ns := o.Namespace(); ns != "" {
		md["namespace"] = ns
	}
	for _, k := range []string{"labels", "annotations"} {
		if v, ok := t.Metadata[k]; ok {
			md[k] = v
		}
	}
	pod := map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   md,
		"spec":       t.Spec,
	}
	return &Object{Content: pod, File: o.File, Line: o.Line}, true
}

// Container is one container of a pod spec, with its list name.
type Container struct {
	// List is "containers", "initContainers" or "ephemeralContainers".
	List  string
	Index int
	Spec  map[string]any
}

// Containers returns every container of every kind in a pod spec.
func Containers(spec map[string]any) []Container {
	var out []Container
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		items, _ := spec[list].([]any)
		for i, it := range items {
			if m, ok := it.(map[string]any); ok {
				out = append(out, Container{List: list, Index: i, Spec: m})
			}
		}
	}
	return out
}

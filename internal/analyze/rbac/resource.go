package rbac

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// Resource is an API resource: what a name like "deploy" or
// "deployments.apps" stands for.
type Resource struct {
	Group      string
	Resource   string
	Namespaced bool
	// Subresources are the resource's known subresources ("exec", "log"...).
	Subresources []string
}

// Mapper maps the resource names users type (plural, singular, short names,
// resource.group) to resources, as kubectl's REST mapper does with the
// server's discovery. It starts with Kubernetes' built-in resources; Add
// registers more (CRDs, discovery).
type Mapper struct {
	byName map[string][]Resource // lower-case name → resources, preferred first
}

type builtin struct {
	group, resource, singular, short string // short: comma-separated
	namespaced                       bool
	subresources                     string // comma-separated
}

// builtins lists Kubernetes' built-in resources (v1.37). The core group
// comes first so that "events" means core events, as with kubectl.
var builtins = []builtin{
	{"", "bindings", "binding", "", true, ""},
	{"", "componentstatuses", "componentstatus", "cs", false, ""},
	{"", "configmaps", "configmap", "cm", true, ""},
	{"", "endpoints", "endpoints", "ep", true, ""},
	{"", "events", "event", "ev", true, ""},
	{"", "limitranges", "limitrange", "limits", true, ""},
	{"", "namespaces", "namespace", "ns", false, "finalize,status"},
	{"", "nodes", "node", "no", false, "proxy,status"},
	{"", "persistentvolumeclaims", "persistentvolumeclaim", "pvc", true, "status"},
	{"", "persistentvolumes", "persistentvolume", "pv", false, "status"},
	{"", "pods", "pod", "po", true, "attach,binding,ephemeralcontainers,eviction,exec,log,portforward,proxy,resize,status"},
	{"", "podtemplates", "podtemplate", "", true, ""},
	{"", "replicationcontrollers", "replicationcontroller", "rc", true, "scale,status"},
	{"", "resourcequotas", "resourcequota", "quota", true, "status"},
	{"", "secrets", "secret", "", true, ""},
	{"", "serviceaccounts", "serviceaccount", "sa", true, "token"},
	{"", "services", "service", "svc", true, "proxy,status"},
	{"admissionregistration.k8s.io", "mutatingadmissionpolicies", "mutatingadmissionpolicy", "", false, ""},
	{"admissionregistration.k8s.io", "mutatingadmissionpolicybindings", "mutatingadmissionpolicybinding", "", false, ""},
	{"admissionregistration.k8s.io", "mutatingwebhookconfigurations", "mutatingwebhookconfiguration", "", false, ""},
	{"admissionregistration.k8s.io", "validatingadmissionpolicies", "validatingadmissionpolicy", "", false, "status"},
	{"admissionregistration.k8s.io", "validatingadmissionpolicybindings", "validatingadmissionpolicybinding", "", false, ""},
	{"admissionregistration.k8s.io", "validatingwebhookconfigurations", "validatingwebhookconfiguration", "", false, ""},
	{"apiextensions.k8s.io", "customresourcedefinitions", "customresourcedefinition", "crd,crds", false, "status"},
	{"apiregistration.k8s.io", "apiservices", "apiservice", "", false, "status"},
	{"apps", "controllerrevisions", "controllerrevision", "", true, ""},
	{"apps", "daemonsets", "daemonset", "ds", true, "status"},
	{"apps", "deployments", "deployment", "deploy", true, "scale,status"},
	{"apps", "replicasets", "replicaset", "rs", true, "scale,status"},
	{"apps", "statefulsets", "statefulset", "sts", true, "scale,status"},
	{"authentication.k8s.io", "selfsubjectreviews", "selfsubjectreview", "", false, ""},
	{"authentication.k8s.io", "tokenreviews", "tokenreview", "", false, ""},
	{"authorization.k8s.io", "localsubjectaccessreviews", "localsubjectaccessreview", "", true, ""},
	{"authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectaccessreview", "", false, ""},
	{"authorization.k8s.io", "selfsubjectrulesreviews", "selfsubjectrulesreview", "", false, ""},
	{"authorization.k8s.io", "subjectaccessreviews", "subjectaccessreview", "", false, ""},
	{"autoscaling", "horizontalpodautoscalers", "horizontalpodautoscaler", "hpa", true, "status"},
	{"batch", "cronjobs", "cronjob", "cj", true, "status"},
	{"batch", "jobs", "job", "", true, "status"},
	{"certificates.k8s.io", "certificatesigningrequests", "certificatesigningrequest", "csr", false, "approval,status"},
	{"certificates.k8s.io", "clustertrustbundles", "clustertrustbundle", "", false, ""},
	{"coordination.k8s.io", "leases", "lease", "", true, ""},
	{"coordination.k8s.io", "leasecandidates", "leasecandidate", "", true, ""},
	{"discovery.k8s.io", "endpointslices", "endpointslice", "", true, ""},
	{"events.k8s.io", "events", "event", "ev", true, ""},
	{"flowcontrol.apiserver.k8s.io", "flowschemas", "flowschema", "", false, "status"},
	{"flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations", "prioritylevelconfiguration", "", false, "status"},
	{"networking.k8s.io", "ingressclasses", "ingressclass", "", false, ""},
	{"networking.k8s.io", "ingresses", "ingress", "ing", true, "status"},
	{"networking.k8s.io", "ipaddresses", "ipaddress", "ip", false, ""},
	{"networking.k8s.io", "networkpolicies", "networkpolicy", "netpol", true, ""},
	{"networking.k8s.io", "servicecidrs", "servicecidr", "", false, "status"},
	{"node.k8s.io", "runtimeclasses", "runtimeclass", "", false, ""},
	{"policy", "poddisruptionbudgets", "poddisruptionbudget", "pdb", true, "status"},
	{"rbac.authorization.k8s.io", "clusterrolebindings", "clusterrolebinding", "", false, ""},
	{"rbac.authorization.k8s.io", "clusterroles", "clusterrole", "", false, ""},
	{"rbac.authorization.k8s.io", "rolebindings", "rolebinding", "", true, ""},
	{"rbac.authorization.k8s.io", "roles", "role", "", true, ""},
	{"resource.k8s.io", "deviceclasses", "deviceclass", "", false, ""},
	{"resource.k8s.io", "resourceclaims", "resourceclaim", "", true, "status"},
	{"resource.k8s.io", "resourceclaimtemplates", "resourceclaimtemplate", "", true, ""},
	{"resource.k8s.io", "resourceslices", "resourceslice", "", false, ""},
	{"scheduling.k8s.io", "priorityclasses", "priorityclass", "pc", false, ""},
	{"storage.k8s.io", "csidrivers", "csidriver", "", false, ""},
	{"storage.k8s.io", "csinodes", "csinode", "", false, ""},
	{"storage.k8s.io", "csistoragecapacities", "csistoragecapacity", "", true, ""},
	{"storage.k8s.io", "storageclasses", "storageclass", "sc", false, ""},
	{"storage.k8s.io", "volumeattachments", "volumeattachment", "", false, "status"},
	{"storage.k8s.io", "volumeattributesclasses", "volumeattributesclass", "vac", false, ""},
}

// NewMapper returns a mapper that knows Kubernetes' built-in resources.
func NewMapper() *Mapper {
	m := &Mapper{byName: map[string][]Resource{}}
	for _, b := range builtins {
		var subs []string
		if b.subresources != "" {
			subs = strings.Split(b.subresources, ",")
		}
		var short []string
		if b.short != "" {
			short = strings.Split(b.short, ",")
		}
		m.Add(Resource{Group: b.group, Resource: b.resource, Namespaced: b.namespaced, Subresources: subs}, b.singular, short...)
	}
	return m
}

// Add registers a resource under its plural, singular and short names.
// Earlier registrations of a name are preferred.
func (m *Mapper) Add(r Resource, singular string, short ...string) {
	names := append([]string{r.Resource, singular}, short...)
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		replaced := false
		for i, prev := range m.byName[n] {
			if prev.Group == r.Group && prev.Resource == r.Resource {
				m.byName[n][i] = r
				replaced = true
				break
			}
		}
		if !replaced {
			m.byName[n] = append(m.byName[n], r)
		}
	}
}

// AddCRDs registers the resources of the CustomResourceDefinitions among
// objs.
func (m *Mapper) AddCRDs(objs []*k8s.Object) {
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != "apiextensions.k8s.io" || gvk.Kind != "CustomResourceDefinition" {
			continue
		}
		spec, _ := o.Content["spec"].(map[string]any)
		names, _ := spec["names"].(map[string]any)
		group, _ := spec["group"].(string)
		plural, _ := names["plural"].(string)
		if group == "" || plural == "" {
			continue
		}
		singular, _ := names["singular"].(string)
		var short []string
		if ss, ok := names["shortNames"].([]any); ok {
			for _, s := range ss {
				if str, ok := s.(string); ok {
					short = append(short, str)
				}
			}
		}
		scope, _ := spec["scope"].(string)
		r := Resource{Group: group, Resource: plural, Namespaced: scope != "Cluster"}
		if vs, ok := spec["versions"].([]any); ok {
			for _, v := range vs {
				vm, _ := v.(map[string]any)
				sub, _ := vm["subresources"].(map[string]any)
				for name := range sub {
					if !slices.Contains(r.Subresources, name) {
						r.Subresources = append(r.Subresources, name)
					}
				}
			}
		}
		slices.Sort(r.Subresources)
		m.Add(r, singular, short...)
	}
}

// Resolve maps what a user typed ("pods", "po", "deployments.apps",
// "deployments.v1.apps", "*") to a resource. When the name is unknown it
// returns ok=false and its best guess: the name as the resource and, for
// "name.group", the rest as the group. kubectl auth can-i would then send
// the whole argument as the resource; Bulwark splits it, which is what a
// CRD missing from the input means.
func (m *Mapper) Resolve(arg string) (r Resource, ok bool) {
	arg = strings.ToLower(arg)
	if arg == "*" {
		return Resource{Resource: "*"}, true
	}
	name, group, hasGroup := strings.Cut(arg, ".")
	if !hasGroup {
		if rs := m.byName[name]; len(rs) > 0 {
			return rs[0], true
		}
		return Resource{Resource: name}, false
	}
	// resource.version.group?
	if version, rest, ok := strings.Cut(group, "."); ok && looksLikeVersion(version) {
		for _, r := range m.byName[name] {
			if r.Group == rest {
				return r, true
			}
		}
	}
	for _, r := range m.byName[name] {
		if r.Group == group {
			return r, true
		}
	}
	// A group suffix: "deploy.apps" or "ingresses.networking".
	for _, r := range m.byName[name] {
		if strings.HasPrefix(r.Group, group+".") {
			return r, true
		}
	}
	return Resource{Group: group, Resource: name}, false
}

func looksLikeVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' || s[1] < '0' || s[1] > '9' {
		return false
	}
	return !strings.ContainsAny(s, ".")
}

// HasSubresource reports whether sub is a known subresource of r.
func (r Resource) HasSubresource(sub string) bool { return slices.Contains(r.Subresources, sub) }

// ParseTarget parses kubectl auth can-i's RESOURCE[/NAME] argument (or a
// non-resource URL starting with "/") into a request with the verb set.
// "RESOURCE/SUB" where SUB is a known subresource of RESOURCE (pods/exec,
// deployments/scale) means that subresource, unless subresource is given
// explicitly (then SUB is a name, as with kubectl: --subresource exec
// pods/mypod). "RESOURCE/SUB/NAME" names both. The warnings are what
// kubectl would print to standard error.
func (m *Mapper) ParseTarget(verb, arg, subresource string) (req Request, warnings []string, err error) {
	if verb == "" {
		return Request{}, nil, fmt.Errorf("a verb is required")
	}
	if strings.HasPrefix(arg, "/") {
		if subresource != "" {
			return Request{}, nil, fmt.Errorf("--subresource cannot be used with a non-resource URL")
		}
		return Request{Verb: verb, Path: arg}, nil, nil
	}
	if arg == "" {
		return Request{}, nil, fmt.Errorf("a resource is required")
	}
	parts := strings.SplitN(arg, "/", 3)
	res, ok := m.Resolve(parts[0])
	if !ok {
		if res.Group == "" {
			warnings = append(warnings, fmt.Sprintf("the server doesn't have a resource type '%s'", res.Resource))
		} else {
			warnings = append(warnings, fmt.Sprintf("the server doesn't have a resource type '%s' in group '%s'", res.Resource, res.Group))
		}
	}
	req = Request{Verb: verb, APIGroup: res.Group, Resource: res.Resource, Subresource: subresource}
	switch len(parts) {
	case 2:
		if subresource == "" && res.HasSubresource(parts[1]) {
			req.Subresource = parts[1]
		} else {
			req.Name = parts[1]
		}
	case 3:
		if subresource != "" {
			return Request{}, nil, fmt.Errorf("%q names a subresource and --subresource gives another", arg)
		}
		req.Subresource, req.Name = parts[1], parts[2]
	}
	return req, warnings, nil
}

// Namespaced reports whether the request's resource is known to be
// namespaced (true when unknown).
func (m *Mapper) Namespaced(group, resource string) bool {
	for _, r := range m.byName[resource] {
		if r.Group == group && r.Resource == resource {
			return r.Namespaced
		}
	}
	return true
}

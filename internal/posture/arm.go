package posture

import (
	"fmt"
	"strings"
)

// Parameters are ARM template parameter values, by name
// (case-insensitive), as a deployment parameters file gives them.
type Parameters map[string]any

// ParseParameters reads an ARM deployment parameters file
// ({"parameters": {"name": {"value": ...}}}). Key Vault references are
// kept as unknown values.
func ParseParameters(file string, data []byte) (Parameters, error) {
	root, err := parseJSON(file, data)
	if err != nil {
		return nil, err
	}
	ps := root.get("parameters")
	if ps == nil || ps.kind != kObject {
		return nil, fmt.Errorf("%s: not an ARM parameters file (no \"parameters\" object)", file)
	}
	out := Parameters{}
	for i, k := range ps.keys {
		p := ps.vals[i]
		switch {
		case p.get("value") != nil:
			out[strings.ToLower(k)] = p.get("value").toAny()
		case p.get("reference") != nil:
			out[strings.ToLower(k)] = unknown{why: fmt.Sprintf("parameter '%s' is a Key Vault reference", k)}
		default:
			return nil, fmt.Errorf("%s:%d: parameter %q has neither \"value\" nor \"reference\"", file, p.line, k)
		}
	}
	return out, nil
}

func isARMTemplate(root *node) bool {
	if root.kind != kObject {
		return false
	}
	if s := strings.ToLower(root.get("$schema").textOr()); strings.Contains(s, "deploymenttemplate.json") {
		return true
	}
	res := root.get("resources")
	return res != nil && (res.kind == kArray || res.kind == kObject) && root.has("contentVersion")
}

func isARMParameters(root *node) bool {
	s := strings.ToLower(root.get("$schema").textOr())
	return strings.Contains(s, "deploymentparameters.json")
}

// armParse walks a template (and the inline templates of its nested
// deployments) into an Input.
type armParse struct {
	file     string
	in       *Input
	clusters map[string]*Cluster // lower-case name → cluster, this file
	depth    int
}

func parseARM(file string, root *node, given Parameters) *Input {
	p := &armParse{file: file, in: &Input{File: file, Shape: ShapeARM}, clusters: map[string]*Cluster{}}
	env := newARMEnv(root, given)
	p.template(root, env)
	p.link()
	return p.in
}

// newARMEnv builds the expression environment of a template: parameter
// values (given, else defaultValue) and variables.
func newARMEnv(tmpl *node, given Parameters) *armEnv {
	env := &armEnv{params: map[string]any{}}
	if ps := tmpl.get("parameters"); ps != nil && ps.kind == kObject {
		for i, k := range ps.keys {
			key := strings.ToLower(k)
			if v, ok := given[key]; ok {
				env.params[key] = literal(v)
				continue
			}
			if d := ps.vals[i].get("defaultValue"); d != nil {
				env.params[key] = lazyParam{raw: d.toAny()}
				continue
			}
			env.params[key] = unknown{why: fmt.Sprintf("parameter '%s' has no value (give it with --parameters)", k)}
		}
	}
	if vs := tmpl.get("variables"); vs != nil && vs.kind == kObject {
		if o, ok := vs.toAny().(*object); ok {
			env.vars = o
		}
	}
	return env
}

// lazyParam is a defaultValue, evaluated when first used (it may refer
// to other parameters).
type lazyParam struct{ raw any }

// literal marks the strings of a given value as data, not expressions.
func literal(v any) any {
	switch v := v.(type) {
	case string:
		return evaluatedString(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = literal(x)
		}
		return out
	case *object:
		out := &object{}
		for i, k := range v.keys {
			out.set(k, literal(v.vals[i]))
		}
		return out
	}
	return v
}

func (p *armParse) template(tmpl *node, env *armEnv) {
	res := tmpl.get("resources")
	switch {
	case res == nil:
	case res.kind == kArray:
		for _, r := range res.vals {
			p.resource(r, env, "", "")
		}
	case res.kind == kObject: // languageVersion 2.0: symbolic names
		for _, r := range res.vals {
			p.resource(r, env, "", "")
		}
	}
}

// resource handles one template resource. parentType and parentName are
// set for resources nested in another.
func (p *armParse) resource(n *node, env *armEnv, parentType, parentName string) {
	if n == nil || n.kind != kObject {
		return
	}
	r := &reader{env: env}
	if ex := n.get("existing"); ex != nil && ex.kind == kBool && ex.b {
		return // a reference to a resource deployed elsewhere
	}
	conditional := false
	if h := r.walk(n, "", "condition"); h.state == Set {
		if h.n.kind == kBool && !h.n.b {
			return
		}
	} else if h.state == Unresolved {
		conditional = true
	}
	typ := n.get("type").textOr()
	if parentType != "" && !strings.Contains(typ, ".") {
		typ = parentType + "/" + typ
	}
	name := r.str(r.walk(n, "", "name"), "", false)
	fullName := name.V
	if name.State == Unresolved {
		fullName = n.get("name").textOr()
	}
	if parentName != "" && !strings.Contains(fullName, "/") {
		fullName = parentName + "/" + fullName
	}
	lt := strings.ToLower(typ)
	switch {
	case lt == "microsoft.containerservice/managedclusters":
		c := azureCluster(n, ShapeARM, env, p.file)
		c.Name = fullName
		c.Ref.Name = fullName
		c.ID = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/" + clusterType + "/" + fullName
		p.in.Clusters = append(p.in.Clusters, c)
		p.clusters[strings.ToLower(fullName)] = c
	case lt == "microsoft.containerservice/managedclusters/agentpools":
		props := &node{kind: kObject}
		if h := r.walk(n, "", "properties"); h.state == Set && h.n.kind == kObject {
			props = h.n
		}
		base := n.keyOf("properties")
		rr := &reader{env: env, sparse: true}
		pool := &Pool{File: p.file, Line: n.line}
		parts := strings.SplitN(fullName, "/", 2)
		pool.Name = parts[len(parts)-1]
		pool.VnetSubnetID = rr.str(rr.walk(props, base, "vnetSubnetID"), "", true)
		pool.NodePublicIP = rr.boolean(rr.walk(props, base, "enableNodePublicIP"), false, false)
		pool.OrchestratorVersion = rr.str(rr.walk(props, base, "orchestratorVersion"), "", false)
		if len(parts) == 2 {
			pool.target = ref{Name: parts[0]}
		}
		p.in.Pools = append(p.in.Pools, pool)
	case lt == "microsoft.insights/diagnosticsettings" || strings.HasSuffix(lt, "/providers/diagnosticsettings"):
		if conditional {
			return
		}
		d := azureDiagnostic(r, n, p.file)
		d.Name = lastSegment(fullName)
		d.target = p.scopeRef(r, n, typ, fullName)
		p.in.Diagnostics = append(p.in.Diagnostics, d)
	case lt == "microsoft.kubernetesconfiguration/extensions" || lt == "microsoft.kubernetesconfiguration/fluxconfigurations":
		if conditional {
			return
		}
		e := azureExtension(r, n, p.file)
		e.target = p.scopeRef(r, n, typ, fullName)
		p.in.Extensions = append(p.in.Extensions, e)
	case lt == "microsoft.resources/deployments":
		p.deployment(n, env)
	default:
		res := azureResource(r, n, p.file)
		res.Type, res.Name, res.Ref.Kind, res.Ref.Name = typ, fullName, typ, fullName
		if rg := r.walk(n, "", "resourceGroup"); rg.state == Set && rg.n.kind == kString {
			res.ResourceGroup = set(rg.n.str, rg.path, rg.line)
			res.Ref.Namespace = rg.n.str
		} else {
			res.ResourceGroup = missing[string]("resourceGroup", n.line)
			res.ResourceGroup.Note = "a template deploys into the resource group chosen at deployment"
		}
		if res.HasLocation || res.PublicIP {
			p.in.Resources = append(p.in.Resources, res)
		}
	}
	// Child resources.
	if kids := n.get("resources"); kids != nil && kids.kind == kArray && lt != "microsoft.resources/deployments" {
		for _, k := range kids.vals {
			p.resource(k, env, typ, fullName)
		}
	}
}

// scopeRef finds the cluster an extension resource applies to, from its
// scope property or its nested name ("aks/Microsoft.Insights/audit").
func (p *armParse) scopeRef(r *reader, n *node, typ, fullName string) ref {
	if h := r.walk(n, "", "scope"); h.state == Set {
		if s, ok := h.n.text(); ok {
			return clusterRefIn(s)
		}
	} else if h.state == Unresolved {
		return ref{}
	}
	if i := strings.Index(strings.ToLower(typ), "/providers/"); i > 0 && strings.EqualFold(typ[:i], clusterType) {
		return ref{Name: strings.SplitN(fullName, "/", 2)[0]}
	}
	return ref{}
}

// clusterRefIn extracts the managed cluster a scope names: a resource ID
// or "Microsoft.ContainerService/managedClusters/<name>".
func clusterRefIn(s string) ref {
	r := parseID(s)
	if r.Name == "" {
		return ref{}
	}
	return r
}

// deployment walks the inline template of a nested deployment (Bicep
// modules). Linked templates (templateLink) are not fetched.
func (p *armParse) deployment(n *node, outer *armEnv) {
	if p.depth > 8 {
		return
	}
	props := n.get("properties")
	tmpl := props.get("template")
	if tmpl == nil || tmpl.kind != kObject {
		return
	}
	scope := strings.ToLower(props.get("expressionEvaluationOptions").get("scope").textOr())
	env := outer
	if scope == "inner" {
		given := Parameters{}
		if ps := props.get("parameters"); ps != nil && ps.kind == kObject {
			for i, k := range ps.keys {
				v := ps.vals[i].get("value")
				if v == nil {
					given[strings.ToLower(k)] = unknown{why: fmt.Sprintf("parameter '%s' of a nested deployment is a reference", k)}
					continue
				}
				given[strings.ToLower(k)] = outer.deep(v.toAny())
			}
		}
		env = newARMEnv(tmpl, given)
	}
	p.depth++
	p.template(tmpl, env)
	p.depth--
}

// link attaches pools, diagnostic settings and extensions to the clusters
// of the same template. Those naming no cluster of the template keep their
// reference for Evaluate; those whose scope cannot be resolved go to the
// template's only cluster, if it has one.
func (p *armParse) link() {
	only := func() *Cluster {
		if len(p.in.Clusters) == 1 {
			return p.in.Clusters[0]
		}
		return nil
	}
	find := func(t ref) *Cluster {
		if t.Name == "" {
			return only()
		}
		return p.clusters[strings.ToLower(t.Name)]
	}
	for _, pool := range p.in.Pools {
		pool.cluster = find(pool.target)
	}
	for _, d := range p.in.Diagnostics {
		if d.target.Name == "" && !aksCategories(d) {
			continue
		}
		d.cluster = find(d.target)
	}
	for _, e := range p.in.Extensions {
		e.cluster = find(e.target)
	}
}

// aksCategories reports a diagnostic setting whose log categories exist
// only on AKS clusters, so it can be attributed to the template's cluster
// even when its scope cannot be resolved.
func aksCategories(d *DiagnosticSetting) bool {
	for _, l := range d.Logs {
		switch strings.ToLower(l.Category) {
		case "kube-audit", "kube-audit-admin", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "cluster-autoscaler", "guard":
			return true
		}
	}
	return false
}

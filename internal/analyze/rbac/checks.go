package rbac

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// Check IDs of the RBAC analyzer.
const (
	CheckSecretReaders      = "BW-ANL-001"
	CheckWorkloadCreators   = "BW-ANL-002"
	CheckExecAttach         = "BW-ANL-003"
	CheckEscalation         = "BW-ANL-004"
	CheckNodeProxy          = "BW-ANL-005"
	CheckWildcard           = "BW-ANL-006"
	CheckAdmissionConfig    = "BW-ANL-007"
	CheckCRDWrite           = "BW-ANL-008"
	CheckBulwarkTamper      = "BW-ANL-009"
	CheckTokenCreation      = "BW-ANL-010"
	defaultProtectedNS      = "bulwark-system"
	defaultProtectedWebhook = "bulwark"
)

// Checks returns the catalog entries of the RBAC analyzer.
func Checks() []controls.Check {
	c := func(id string, sev controls.Severity, title, remediation, anchor string) controls.Check {
		return controls.Check{
			ID: id, Requirements: []string{"REQ-02"}, Severity: sev, Title: title,
			Remediation: remediation, Anchor: anchor, Engine: controls.EngineAnalyze, Scope: "scan",
		}
	}
	return []controls.Check{
		c(CheckSecretReaders, controls.High, "Subject can read secrets",
			"Bind a role that does not grant get, list or watch on secrets; where an application needs one secret, grant get with resourceNames.",
			"CIS 5.1.2"),
		c(CheckWorkloadCreators, controls.High, "Subject can create or change workloads (and so read any secret and use any service account of the namespace)",
			"Leave creating pods and pod controllers to a deployment pipeline's service account; give people view and a break-glass process.",
			"CIS 5.1.4"),
		c(CheckExecAttach, controls.High, "Subject can exec, attach or port-forward into pods",
			"Remove create/get on pods/exec, pods/attach and pods/portforward and update on pods/ephemeralcontainers; grant them just in time.",
			"Falco: Attach/Exec Pod"),
		c(CheckEscalation, controls.Critical, "Subject can escalate, bind or impersonate",
			"Remove the escalate and bind verbs on roles and clusterroles and the impersonate verb; they let a subject grant itself any permission.",
			"CIS 5.1.8"),
		c(CheckNodeProxy, controls.High, "Subject can use nodes/proxy (the kubelet API: exec in any pod of a node)",
			"Remove access to nodes/proxy; monitoring agents need only nodes/metrics and nodes/stats.",
			"CIS 5.1.10"),
		c(CheckWildcard, controls.High, "Role grants wildcard verbs or resources",
			"List the verbs and resources the subject needs instead of \"*\"; bind cluster-admin to no one but break-glass accounts.",
			"CIS 5.1.3"),
		c(CheckAdmissionConfig, controls.Critical, "Subject can change admission webhooks or admission policies",
			"Only the cluster's platform pipeline may write validating/mutating webhook configurations and admission policies.",
			"CIS 5.1.12"),
		c(CheckCRDWrite, controls.Medium, "Subject can create or change CustomResourceDefinitions",
			"Only the platform pipeline may write CustomResourceDefinitions.",
			""),
		c(CheckBulwarkTamper, controls.Critical, "Subject can change Bulwark's own objects (its namespace or webhook configurations)",
			"Only Bulwark's installer may write in Bulwark's namespace and to its webhook configurations.",
			""),
		c(CheckTokenCreation, controls.High, "Subject can create service account tokens",
			"Remove create on serviceaccounts/token; a token of any service account of the namespace carries that account's permissions.",
			"CIS 5.1.13"),
	}
}

// Options configure the findings.
type Options struct {
	// Allow lists subjects exempt from findings, as KIND:NAME patterns where
	// KIND is User, Group or ServiceAccount (NAME is NAMESPACE:NAME), and
	// "*" matches any run of characters: "User:alice@example.com",
	// "Group:platform-*", "ServiceAccount:ci:*".
	Allow []string
	// NoDefaultExemptions reports on Kubernetes' own controller identities
	// too (see DefaultExemptions).
	NoDefaultExemptions bool
	// ProtectedNamespace is Bulwark's namespace; "" means bulwark-system.
	ProtectedNamespace string
	// ProtectedWebhookPrefix starts the names of Bulwark's webhook
	// configurations; "" means "bulwark".
	ProtectedWebhookPrefix string
	// Load is how the snapshot is built by Analyze; its zero value is
	// replaced by {Bootstrap: true}, right for manifests.
	Load *LoadOptions
}

// DefaultExemptions are Kubernetes' own identities: the controller manager,
// the scheduler, kube-proxy, nodes and kube-system's service accounts.
// Members of system:masters, system:authenticated and
// system:serviceaccounts are not exempt: binding powers to them gives those
// powers to many (and a member of system:masters is cluster-admin).
func DefaultExemptions() []string {
	return []string{
		"User:system:kube-controller-manager",
		"User:system:kube-scheduler",
		"User:system:kube-proxy",
		"User:system:apiserver",
		"User:system:node:*",
		"User:system:serviceaccount:kube-system:*",
		"Group:system:nodes",
		"Group:system:serviceaccounts:kube-system",
		"ServiceAccount:kube-system:*",
	}
}

// subjectKey renders a subject as the KIND:NAME form of Options.Allow.
func subjectKey(s Subject) string {
	if s.Kind == KindServiceAccount {
		return s.Kind + ":" + s.Namespace + ":" + s.Name
	}
	return s.Kind + ":" + s.Name
}

// glob matches s against a pattern in which "*" matches any run of
// characters.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// ValidateAllow checks the syntax of Allow patterns.
func ValidateAllow(patterns []string) error {
	for _, p := range patterns {
		kind, name, ok := strings.Cut(p, ":")
		if !ok || name == "" {
			return fmt.Errorf("allow-list entry %q: want KIND:NAME (User:alice, Group:ops, ServiceAccount:NAMESPACE:NAME)", p)
		}
		switch kind {
		case KindUser, KindGroup, KindServiceAccount:
		default:
			return fmt.Errorf("allow-list entry %q: kind %q is not User, Group or ServiceAccount", p, kind)
		}
	}
	return nil
}

func (o Options) exempt(s Subject) bool {
	key := subjectKey(s)
	if !o.NoDefaultExemptions {
		for _, p := range DefaultExemptions() {
			if glob(p, key) {
				return true
			}
		}
	}
	for _, p := range o.Allow {
		if glob(p, key) {
			return true
		}
	}
	return false
}

var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}

// probe is a request a rule is tested against; a check matches a rule when
// the rule allows any of its probes.
type probe struct {
	verbs       []string
	group       string
	resource    string
	subresource string
	name        string
	// clusterOnly probes apply only through ClusterRoleBindings (cluster-
	// scoped resources).
	clusterOnly bool
}

func probes(verbs []string, group string, resources ...string) []probe {
	out := make([]probe, 0, len(resources))
	for _, r := range resources {
		res, sub, _ := strings.Cut(r, "/")
		out = append(out, probe{verbs: verbs, group: group, resource: res, subresource: sub})
	}
	return out
}

func clusterScoped(ps []probe) []probe {
	for i := range ps {
		ps[i].clusterOnly = true
	}
	return ps
}

// anyName makes probes match rules restricted to some names too.
func anyName(ps []probe) []probe {
	for i := range ps {
		ps[i].name = "*"
	}
	return ps
}

type checkSpec struct {
	id     string
	probes func(o Options, scope string) []probe
	// ruleMatch, when set, replaces probes: it inspects the rule's text.
	ruleMatch func(rule *rbacv1.PolicyRule) string
}

func specs() []checkSpec {
	concat := func(pss ...[]probe) []probe {
		var out []probe
		for _, ps := range pss {
			out = append(out, ps...)
		}
		return out
	}
	static := func(ps []probe) func(Options, string) []probe {
		return func(Options, string) []probe { return ps }
	}
	return []checkSpec{
		{id: CheckSecretReaders, probes: static(probes([]string{"get", "list", "watch"}, "", "secrets"))},
		{id: CheckWorkloadCreators, probes: static(concat(
			probes([]string{"create"}, "", "pods"),
			probes([]string{"create", "update", "patch"}, "", "replicationcontrollers"),
			probes([]string{"create", "update", "patch"}, "apps", "deployments", "replicasets", "statefulsets", "daemonsets"),
			probes([]string{"create", "update", "patch"}, "batch", "jobs", "cronjobs"),
		))},
		{id: CheckExecAttach, probes: static(concat(
			probes([]string{"create", "get"}, "", "pods/exec", "pods/attach", "pods/portforward"),
			probes([]string{"update", "patch"}, "", "pods/ephemeralcontainers"),
		))},
		{id: CheckEscalation, probes: static(concat(
			probes([]string{"escalate", "bind"}, rbacv1.GroupName, "roles"),
			clusterScoped(probes([]string{"escalate", "bind"}, rbacv1.GroupName, "clusterroles")),
			clusterScoped(probes([]string{"impersonate"}, "", "users", "groups")),
			probes([]string{"impersonate"}, "", "serviceaccounts"),
			clusterScoped(probes([]string{"impersonate"}, "authentication.k8s.io", "uids", "userextras")),
		))},
		{id: CheckNodeProxy, probes: static(clusterScoped(probes([]string{"get", "create", "update", "patch", "delete"}, "", "nodes/proxy")))},
		{id: CheckWildcard, ruleMatch: wildcard},
		{id: CheckAdmissionConfig, probes: static(anyName(clusterScoped(probes(writeVerbs, "admissionregistration.k8s.io",
			"validatingwebhookconfigurations", "mutatingwebhookconfigurations",
			"validatingadmissionpolicies", "validatingadmissionpolicybindings",
			"mutatingadmissionpolicies", "mutatingadmissionpolicybindings"))))},
		{id: CheckCRDWrite, probes: static(anyName(clusterScoped(probes(writeVerbs, "apiextensions.k8s.io", "customresourcedefinitions"))))},
		{id: CheckBulwarkTamper, probes: func(o Options, scope string) []probe {
			ns := o.ProtectedNamespace
			if ns == "" {
				ns = defaultProtectedNS
			}
			prefix := o.ProtectedWebhookPrefix
			if prefix == "" {
				prefix = defaultProtectedWebhook
			}
			var ps []probe
			if scope == "" || scope == ns {
				ps = concat(
					probes(writeVerbs, "", "pods", "secrets", "configmaps", "services", "serviceaccounts"),
					probes(writeVerbs, "apps", "deployments", "daemonsets", "statefulsets", "replicasets"),
					probes(writeVerbs, rbacv1.GroupName, "roles", "rolebindings"),
					probes(writeVerbs, "networking.k8s.io", "networkpolicies"),
					probes(writeVerbs, "coordination.k8s.io", "leases"),
				)
			}
			ps = append(ps, probe{verbs: []string{"delete", "update", "patch"}, resource: "namespaces", name: ns, clusterOnly: true})
			for _, res := range []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"} {
				ps = append(ps, probe{verbs: writeVerbs, group: "admissionregistration.k8s.io", resource: res, name: prefix + "*", clusterOnly: true})
			}
			return ps
		}},
		{id: CheckTokenCreation, probes: static(probes([]string{"create"}, "", "serviceaccounts/token"))},
	}
}

// wildcard describes the wildcards of a rule, or returns "".
func wildcard(rule *rbacv1.PolicyRule) string {
	var parts []string
	for _, v := range rule.Verbs {
		if v == rbacv1.VerbAll {
			parts = append(parts, `verbs "*"`)
			break
		}
	}
	for _, r := range rule.Resources {
		if r == rbacv1.ResourceAll {
			parts = append(parts, `resources "*"`)
			break
		}
	}
	for _, u := range rule.NonResourceURLs {
		if u == rbacv1.NonResourceAll {
			parts = append(parts, `nonResourceURLs "*"`)
			break
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + " (" + ruleString(rule) + ")"
}

// ruleMatchesProbe returns the verbs of p the rule allows.
func ruleMatchesProbe(rule *rbacv1.PolicyRule, p probe) []string {
	var out []string
	for _, v := range p.verbs {
		r := Request{Verb: v, APIGroup: p.group, Resource: p.resource, Subresource: p.subresource}
		if prefix, ok := strings.CutSuffix(p.name, "*"); ok {
			// Any name with the prefix: a rule without resourceNames, or one
			// naming such an object (except for verbs whose requests carry
			// no name, which resourceNames never allow).
			if !verbMatches(rule, v) || !apiGroupMatches(rule, p.group) || !resourceMatches(rule, p.resource, "") {
				continue
			}
			if len(rule.ResourceNames) == 0 || (!namelessVerb(v) && hasPrefixed(rule.ResourceNames, prefix)) {
				out = append(out, v)
			}
			continue
		}
		r.Name = p.name
		if RuleAllows(rule, r) {
			out = append(out, v)
		}
	}
	return out
}

// namelessVerb reports whether requests with the verb carry no object name.
func namelessVerb(v string) bool {
	switch v {
	case "create", "list", "watch", "deletecollection":
		return true
	}
	return false
}

func hasPrefixed(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

func ruleString(rule *rbacv1.PolicyRule) string {
	var parts []string
	add := func(k string, v []string) {
		if len(v) > 0 {
			parts = append(parts, k+"="+strings.Join(v, ","))
		}
	}
	add("verbs", rule.Verbs)
	if len(rule.APIGroups) > 0 {
		groups := make([]string, len(rule.APIGroups))
		for i, g := range rule.APIGroups {
			if g == "" {
				g = `""`
			}
			groups[i] = g
		}
		add("apiGroups", groups)
	}
	add("resources", rule.Resources)
	add("resourceNames", rule.ResourceNames)
	add("nonResourceURLs", rule.NonResourceURLs)
	return strings.Join(parts, " ")
}

func probeString(p probe, verbs []string) string {
	res := p.resource
	if p.subresource != "" {
		res += "/" + p.subresource
	}
	if p.group != "" {
		res += "." + p.group
	}
	if p.name != "" && p.name != "*" {
		res += " " + p.name
	}
	return strings.Join(verbs, ",") + " " + res
}

// Findings returns the findings about every binding of the snapshot that
// did not come from the bootstrap policy: one per check, binding and
// subject (not exempt) whose role grants what the check is about.
func (s *Snapshot) Findings(opts Options) []controls.Finding {
	checks := map[string]controls.Check{}
	for _, c := range Checks() {
		checks[c.ID] = c
	}
	var out []controls.Finding
	allSpecs := specs()
	for _, b := range s.Bindings() {
		if b.Bootstrap {
			continue
		}
		role := s.RoleFor(b)
		if role == nil {
			continue
		}
		var subjects []Subject
		for _, sub := range bindingSubjects(b) {
			if !opts.exempt(sub) {
				subjects = append(subjects, sub)
			}
		}
		if len(subjects) == 0 {
			continue
		}
		for _, spec := range allSpecs {
			what := grantsOf(spec, opts, b, role)
			if len(what) == 0 {
				continue
			}
			ch := checks[spec.id]
			scope := "cluster-wide"
			if b.Namespace != "" {
				scope = "in namespace " + b.Namespace
			}
			for _, sub := range subjects {
				out = append(out, controls.Finding{
					Check:        ch.ID,
					Requirements: ch.Requirements,
					Severity:     ch.Severity,
					Title:        ch.Title,
					Message: fmt.Sprintf("%s can %s %s (%s → %s)",
						sub, strings.Join(what, "; "), scope, b.Ref(), role.Ref()),
					Remediation: ch.Remediation,
					Engine:      controls.EngineAnalyze,
					Object: controls.ObjectRef{
						APIVersion: rbacv1.SchemeGroupVersion.String(),
						Kind:       b.Kind,
						Namespace:  b.Namespace,
						Name:       b.Name,
					},
					File: b.File,
					Line: b.Line,
				})
			}
		}
	}
	controls.SortFindings(out)
	return out
}

// grantsOf describes what the role grants through the binding that the
// check is about, or returns nil.
func grantsOf(spec checkSpec, opts Options, b *Binding, role *Role) []string {
	var what []string
	if spec.ruleMatch != nil {
		for i := range role.Rules {
			if d := spec.ruleMatch(&role.Rules[i]); d != "" && !slices.Contains(what, "use "+d) {
				what = append(what, "use "+d)
			}
		}
		return what
	}
	ps := spec.probes(opts, b.Namespace)
	for _, p := range ps {
		if p.clusterOnly && b.Kind != "ClusterRoleBinding" {
			continue
		}
		var verbs []string
		for i := range role.Rules {
			for _, v := range ruleMatchesProbe(&role.Rules[i], p) {
				if !slices.Contains(verbs, v) {
					verbs = append(verbs, v)
				}
			}
		}
		if len(verbs) == 0 {
			continue
		}
		// Keep the probe's verb order, and list resources granted the same
		// verbs together.
		ordered := make([]string, 0, len(verbs))
		for _, v := range p.verbs {
			if slices.Contains(verbs, v) {
				ordered = append(ordered, v)
			}
		}
		vs := strings.Join(ordered, ",")
		i := slices.IndexFunc(what, func(w string) bool { return strings.HasPrefix(w, vs+" ") })
		if i < 0 {
			what = append(what, probeString(p, ordered))
			continue
		}
		what[i] += ", " + strings.TrimPrefix(probeString(p, ordered), vs+" ")
	}
	return what
}

// Analyze is the RBAC analyzer's entry point for bulwark scan: it loads the
// RBAC objects among objs (with Kubernetes' bootstrap roles, unless
// opts.Load says otherwise) and returns the findings and the coverage of
// every RBAC check. Without any RoleBinding or ClusterRoleBinding in objs,
// the checks are marked not assessed.
func Analyze(objs []*k8s.Object, opts Options) ([]controls.Finding, controls.Coverage, error) {
	var cov controls.Coverage
	if err := ValidateAllow(opts.Allow); err != nil {
		return nil, cov, err
	}
	lo := LoadOptions{Bootstrap: true}
	if opts.Load != nil {
		lo = *opts.Load
	}
	s, err := Load(objs, lo)
	if err != nil {
		return nil, cov, err
	}
	return s.Findings(opts), s.Coverage(), nil
}

// InputBindings counts the bindings of the input (not those added from the
// bootstrap policy).
func (s *Snapshot) InputBindings() int { return s.inputBindings }

// Coverage marks every RBAC check evaluated on the snapshot's own bindings,
// or not assessed when it has none.
func (s *Snapshot) Coverage() controls.Coverage {
	var cov controls.Coverage
	for _, c := range Checks() {
		if s.inputBindings == 0 {
			cov.Skip(c.ID, "no RoleBinding or ClusterRoleBinding in the input")
			continue
		}
		cov.Evaluate(c.ID, s.inputBindings)
	}
	return cov
}

package rbac

import (
	"slices"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Grant is one binding giving one subject a role's rules in a scope.
type Grant struct {
	Subject Subject `json:"subject"`
	// Namespace is where the grant applies; empty for a ClusterRoleBinding
	// (every namespace and cluster-scoped resources).
	Namespace string `json:"namespace,omitempty"`
	// Binding and Role are what grant it; both nil for the privileged group
	// system:masters.
	Binding *Binding `json:"-"`
	Role    *Role    `json:"-"`
	// Rules are the role's rules (for WhoCan, only those allowing the
	// request).
	Rules []rbacv1.PolicyRule `json:"rules"`
}

// Via renders "Binding → Role", or a note for system:masters.
func (g Grant) Via() string {
	if g.Binding == nil {
		return "kube-apiserver privileged group"
	}
	role := g.Binding.RoleRef.Kind + "/" + g.Binding.RoleRef.Name + " (missing)"
	if g.Role != nil {
		role = g.Role.Ref()
	}
	return g.Binding.Ref() + " → " + role
}

// bindingSubjects returns the subjects a binding actually applies to, with
// service accounts' namespaces defaulted to a RoleBinding's namespace.
// Service accounts without a namespace in a ClusterRoleBinding match no one
// and are left out.
func bindingSubjects(b *Binding) []Subject {
	out := make([]Subject, 0, len(b.Subjects))
	for _, s := range b.Subjects {
		switch s.Kind {
		case KindUser, KindGroup:
			out = append(out, Subject{Kind: s.Kind, Name: s.Name})
		case KindServiceAccount:
			ns := s.Namespace
			if ns == "" {
				ns = b.Namespace
			}
			if ns == "" {
				continue
			}
			out = append(out, Subject{Kind: s.Kind, Name: s.Name, Namespace: ns})
		}
	}
	return out
}

// WhoCan returns the grants that allow r: every subject of every
// ClusterRoleBinding, and of every RoleBinding in r's namespace, whose role
// has a rule allowing r, plus the privileged group system:masters (without a
// binding when no binding names it). A group
// in the answer means every member of the group; system:authenticated means
// every authenticated user.
func (s *Snapshot) WhoCan(r Request) []Grant {
	var out []Grant
	visit := func(b *Binding) {
		role := s.RoleFor(b)
		if role == nil {
			return
		}
		var rules []rbacv1.PolicyRule
		for i := range role.Rules {
			if RuleAllows(&role.Rules[i], r) {
				rules = append(rules, role.Rules[i])
			}
		}
		if len(rules) == 0 {
			return
		}
		for _, sub := range bindingSubjects(b) {
			out = append(out, Grant{Subject: sub, Namespace: b.Namespace, Binding: b, Role: role, Rules: rules})
		}
	}
	for _, b := range s.clusterBindings {
		visit(b)
	}
	if r.Namespace != "" {
		for _, b := range s.bindings[r.Namespace] {
			visit(b)
		}
	}
	masters := Subject{Kind: KindGroup, Name: GroupMasters}
	if !slices.ContainsFunc(out, func(g Grant) bool { return g.Subject == masters }) {
		out = append(out, Grant{Subject: masters})
	}
	sortGrants(out)
	return out
}

// Permissions returns every grant of every subject named by a binding,
// sorted by subject, then scope (cluster-wide first), then binding.
// Bindings to missing roles are included with no rules. Bootstrap bindings
// are included only when withBootstrap is set.
func (s *Snapshot) Permissions(withBootstrap bool) []Grant {
	var out []Grant
	for _, b := range s.Bindings() {
		if b.Bootstrap && !withBootstrap {
			continue
		}
		role := s.RoleFor(b)
		var rules []rbacv1.PolicyRule
		if role != nil {
			rules = role.Rules
		}
		for _, sub := range bindingSubjects(b) {
			out = append(out, Grant{Subject: sub, Namespace: b.Namespace, Binding: b, Role: role, Rules: rules})
		}
	}
	sortGrants(out)
	return out
}

func sortGrants(gs []Grant) {
	kindOrder := map[string]int{KindUser: 0, KindGroup: 1, KindServiceAccount: 2}
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.Subject.Kind != b.Subject.Kind {
			return kindOrder[a.Subject.Kind] < kindOrder[b.Subject.Kind]
		}
		if a.Subject.Namespace != b.Subject.Namespace {
			return a.Subject.Namespace < b.Subject.Namespace
		}
		if a.Subject.Name != b.Subject.Name {
			return a.Subject.Name < b.Subject.Name
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if (a.Binding == nil) != (b.Binding == nil) {
			return a.Binding == nil
		}
		if a.Binding != nil && a.Binding.Ref() != b.Binding.Ref() {
			return a.Binding.Ref() < b.Binding.Ref()
		}
		return false
	})
}

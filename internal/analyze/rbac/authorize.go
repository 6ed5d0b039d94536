package rbac

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Request is what a user asks to do: the attributes of a
// SubjectAccessReview.
type Request struct {
	Verb string `json:"verb"`
	// APIGroup, Resource, Subresource and Name describe a resource request.
	APIGroup    string `json:"group,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Name        string `json:"name,omitempty"`
	// Namespace is the request's namespace; empty for cluster-scoped
	// resources and requests across all namespaces.
	Namespace string `json:"namespace,omitempty"`
	// Path is the URL of a non-resource request (such as /healthz). A
	// request with a Path is a non-resource request.
	Path string `json:"nonResourceURL,omitempty"`
}

// IsResourceRequest reports whether r is about a resource rather than a
// non-resource URL.
func (r Request) IsResourceRequest() bool { return r.Path == "" }

// String renders the request like the RBAC authorizer's log.
func (r Request) String() string {
	if !r.IsResourceRequest() {
		return fmt.Sprintf("%s %s", r.Verb, r.Path)
	}
	var b strings.Builder
	b.WriteString(r.Verb)
	b.WriteByte(' ')
	b.WriteString(r.Resource)
	if r.APIGroup != "" {
		b.WriteByte('.')
		b.WriteString(r.APIGroup)
	}
	if r.Subresource != "" {
		b.WriteByte('/')
		b.WriteString(r.Subresource)
	}
	if r.Name != "" {
		fmt.Fprintf(&b, " named %q", r.Name)
	}
	if r.Namespace != "" {
		fmt.Fprintf(&b, " in namespace %q", r.Namespace)
	} else {
		b.WriteString(" cluster-wide")
	}
	return b.String()
}

// User is an authenticated identity: a name and its groups.
type User struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups,omitempty"`
}

// InGroup reports whether u is in group g.
func (u User) InGroup(g string) bool { return slices.Contains(u.Groups, g) }

// Impersonate returns the user kube-apiserver builds when a client
// impersonates name with groups (kubectl --as NAME --as-group G...): a
// service account name (system:serviceaccount:NS:NAME) given without groups
// gets system:serviceaccounts and system:serviceaccounts:NS; every user but
// system:anonymous gets system:authenticated unless system:authenticated or
// system:unauthenticated is given; system:anonymous gets
// system:unauthenticated.
func Impersonate(name string, groups []string) User {
	u := User{Name: name, Groups: slices.Clone(groups)}
	if len(groups) == 0 {
		if ns, _, ok := SplitServiceAccount(name); ok {
			u.Groups = append(u.Groups, GroupServiceAccounts, GroupServiceAccounts+":"+ns)
		}
	}
	if name == UserAnonymous {
		if !u.InGroup(GroupUnauthenticated) {
			u.Groups = append(u.Groups, GroupUnauthenticated)
		}
		return u
	}
	if !u.InGroup(GroupAuthenticated) && !u.InGroup(GroupUnauthenticated) {
		u.Groups = append(u.Groups, GroupAuthenticated)
	}
	return u
}

// SplitServiceAccount splits system:serviceaccount:NS:NAME into its
// namespace and name.
func SplitServiceAccount(user string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(user, serviceAccountPrefix)
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

// Decision is the answer to a request.
type Decision struct {
	Allowed bool `json:"allowed"`
	// Reason names what allowed the request: the binding and role, or the
	// privileged group.
	Reason string `json:"reason,omitempty"`
	// Binding and Role allowed the request (nil when denied or when
	// system:masters did).
	Binding *Binding `json:"-"`
	Role    *Role    `json:"-"`
}

// Authorize answers a request as kube-apiserver does with RBAC: members of
// system:masters may do anything; otherwise a rule of a role bound to the
// user (by a ClusterRoleBinding, or by a RoleBinding in the request's
// namespace) must allow it.
func (s *Snapshot) Authorize(u User, r Request) Decision {
	if u.InGroup(GroupMasters) {
		return Decision{Allowed: true, Reason: "member of the privileged group " + GroupMasters}
	}
	var best Decision
	try := func(scope string) {
		for _, key := range userKeys(u) {
			for _, b := range s.bySubject[scopedKey(scope, key)] {
				if d, ok := s.bindingAllows(b, u, r, scope); ok && (!best.Allowed || lessBinding(b, best.Binding)) {
					best = d
				}
			}
		}
	}
	// The RBAC authorizer visits ClusterRoleBindings, then the request
	// namespace's RoleBindings, each in list order, and stops at the first
	// allowing rule; the index finds the same bindings, so the reason is
	// the first of them in that order.
	try("")
	if best.Allowed {
		return best
	}
	if r.Namespace != "" {
		try(r.Namespace)
	}
	return best
}

func lessBinding(a, b *Binding) bool { return a.Name < b.Name }

// userKeys returns the subject keys (see subjectKey) that can name u.
func userKeys(u User) []string {
	keys := make([]string, 0, 2+len(u.Groups))
	keys = append(keys, KindUser+":"+u.Name)
	if ns, name, ok := SplitServiceAccount(u.Name); ok {
		keys = append(keys, KindServiceAccount+":"+ns+":"+name)
	}
	for _, g := range u.Groups {
		keys = append(keys, KindGroup+":"+g)
	}
	return keys
}

func scopedKey(scope, subject string) string { return scope + "\x00" + subject }

func (s *Snapshot) bindingAllows(b *Binding, u User, r Request, ns string) (Decision, bool) {
	if !appliesTo(u, b.Subjects, ns) {
		return Decision{}, false
	}
	role := s.RoleFor(b)
	if role == nil {
		return Decision{}, false
	}
	for i := range role.Rules {
		if RuleAllows(&role.Rules[i], r) {
			return Decision{Allowed: true, Reason: b.Ref() + " → " + role.Ref(), Binding: b, Role: role}, true
		}
	}
	return Decision{}, false
}

func appliesTo(u User, subjects []rbacv1.Subject, ns string) bool {
	for _, sub := range subjects {
		if appliesToUser(u, sub, ns) {
			return true
		}
	}
	return false
}

// appliesToUser reports whether a binding subject names the user; ns is the
// RoleBinding's namespace (empty for a ClusterRoleBinding), the default for
// a service account subject without one.
func appliesToUser(u User, sub rbacv1.Subject, ns string) bool {
	switch sub.Kind {
	case KindUser:
		return u.Name == sub.Name
	case KindGroup:
		return u.InGroup(sub.Name)
	case KindServiceAccount:
		saNS := ns
		if sub.Namespace != "" {
			saNS = sub.Namespace
		}
		if saNS == "" {
			return false
		}
		return matchesServiceAccount(u.Name, saNS, sub.Name)
	}
	return false
}

// matchesServiceAccount reports whether user is
// system:serviceaccount:NS:NAME, without building the string.
func matchesServiceAccount(user, ns, name string) bool {
	rest, ok := strings.CutPrefix(user, serviceAccountPrefix)
	if !ok || len(rest) != len(ns)+1+len(name) {
		return false
	}
	return rest[:len(ns)] == ns && rest[len(ns)] == ':' && rest[len(ns)+1:] == name
}

// RuleAllows reports whether one policy rule allows a request, with the RBAC
// authorizer's semantics:
//
//   - verbs: "*" or the request's verb;
//   - apiGroups: "*" or the request's group;
//   - resources: "*", the request's resource (resource/subresource when the
//     request has a subresource), or "*/subresource" for any resource's
//     subresource; "pods/*" is not a pattern and matches only a literal
//     subresource named "*";
//   - resourceNames: empty (any name) or containing the request's name, so a
//     rule with resourceNames never allows a request without a name (list,
//     watch, create, deletecollection);
//   - nonResourceURLs: "*", the exact path, or a prefix ending in "*".
func RuleAllows(rule *rbacv1.PolicyRule, r Request) bool {
	if !verbMatches(rule, r.Verb) {
		return false
	}
	if !r.IsResourceRequest() {
		return nonResourceURLMatches(rule, r.Path)
	}
	combined := r.Resource
	if r.Subresource != "" {
		combined = r.Resource + "/" + r.Subresource
	}
	return apiGroupMatches(rule, r.APIGroup) &&
		resourceMatches(rule, combined, r.Subresource) &&
		resourceNameMatches(rule, r.Name)
}

func verbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	for _, v := range rule.Verbs {
		if v == rbacv1.VerbAll || v == verb {
			return true
		}
	}
	return false
}

func apiGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	for _, g := range rule.APIGroups {
		if g == rbacv1.APIGroupAll || g == group {
			return true
		}
	}
	return false
}

func resourceMatches(rule *rbacv1.PolicyRule, combined, sub string) bool {
	for _, res := range rule.Resources {
		if res == rbacv1.ResourceAll || res == combined {
			return true
		}
		if sub != "" && res == "*/"+sub {
			return true
		}
	}
	return false
}

func resourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	return slices.Contains(rule.ResourceNames, name)
}

func nonResourceURLMatches(rule *rbacv1.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		if prefix, ok := strings.CutSuffix(u, "*"); ok && strings.HasPrefix(path, strings.TrimRight(prefix, "*")) {
			return true
		}
	}
	return false
}

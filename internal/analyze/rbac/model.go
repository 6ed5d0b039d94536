package rbac

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// Subject kinds, as in rbacv1.Subject.Kind.
const (
	KindUser           = rbacv1.UserKind
	KindGroup          = rbacv1.GroupKind
	KindServiceAccount = rbacv1.ServiceAccountKind
)

// Well-known groups.
const (
	// GroupMasters is kube-apiserver's privileged group: its members may do
	// anything, whatever RBAC says.
	GroupMasters = "system:masters"
	// GroupAuthenticated holds every authenticated user.
	GroupAuthenticated = "system:authenticated"
	// GroupUnauthenticated holds anonymous requests.
	GroupUnauthenticated = "system:unauthenticated"
	// GroupServiceAccounts holds every service account.
	GroupServiceAccounts = "system:serviceaccounts"
	// UserAnonymous is the name of anonymous requests.
	UserAnonymous = "system:anonymous"

	serviceAccountPrefix = "system:serviceaccount:"
)

// Subject is a user, group or service account named by a binding.
type Subject struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Namespace is the service account's namespace; empty for users and
	// groups.
	Namespace string `json:"namespace,omitempty"`
}

// String renders the subject as "User alice", "Group ops" or
// "ServiceAccount ns/name".
func (s Subject) String() string {
	if s.Kind == KindServiceAccount {
		return s.Kind + " " + s.Namespace + "/" + s.Name
	}
	return s.Kind + " " + s.Name
}

// Username returns the user name the subject authenticates as: the name of
// a user, system:serviceaccount:NS:NAME for a service account, and "" for a
// group.
func (s Subject) Username() string {
	switch s.Kind {
	case KindUser:
		return s.Name
	case KindServiceAccount:
		return serviceAccountPrefix + s.Namespace + ":" + s.Name
	}
	return ""
}

// Role is a Role or a ClusterRole.
type Role struct {
	// Kind is "Role" or "ClusterRole".
	Kind      string
	Namespace string
	Name      string
	Labels    map[string]string
	// Rules are the role's rules; for an aggregated ClusterRole, the rules
	// aggregated from the ClusterRoles its selectors match.
	Rules []rbacv1.PolicyRule
	// Aggregation is the ClusterRole's aggregationRule, or nil.
	Aggregation *rbacv1.AggregationRule
	// Bootstrap is true for a role Bulwark added from Kubernetes' bootstrap
	// policy because the input did not define it.
	Bootstrap bool
	File      string
	Line      int
}

// Ref renders the role as Kind/name or Kind/namespace/name.
func (r *Role) Ref() string { return ref(r.Kind, r.Namespace, r.Name) }

// Binding is a RoleBinding or a ClusterRoleBinding.
type Binding struct {
	// Kind is "RoleBinding" or "ClusterRoleBinding".
	Kind      string
	Namespace string
	Name      string
	RoleRef   rbacv1.RoleRef
	Subjects  []rbacv1.Subject
	// Bootstrap is true for a binding Bulwark added from Kubernetes'
	// bootstrap policy because the input did not define it.
	Bootstrap bool
	File      string
	Line      int
	// Labels are the binding's labels.
	Labels map[string]string
}

// Ref renders the binding as Kind/name or Kind/namespace/name.
func (b *Binding) Ref() string { return ref(b.Kind, b.Namespace, b.Name) }

// Position renders file:line, or "" when the binding did not come from a
// file.
func (b *Binding) Position() string { return position(b.File, b.Line) }

func ref(kind, ns, name string) string {
	if ns == "" {
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
}

func position(file string, line int) string {
	if file == "" {
		return ""
	}
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

// ObjectError is an invalid RBAC object: it names the object and where it
// was read.
type ObjectError struct {
	// Object is Kind/namespace/name.
	Object string
	// Position is file:line, or "" when unknown.
	Position string
	Err      error
}

func (e *ObjectError) Error() string {
	if e.Position == "" {
		return e.Object + ": " + e.Err.Error()
	}
	return e.Position + ": " + e.Object + ": " + e.Err.Error()
}

func (e *ObjectError) Unwrap() error { return e.Err }

// isRBAC reports whether o is one of the four RBAC kinds.
func isRBAC(o *k8s.Object) bool {
	gvk := o.GroupVersionKind()
	if gvk.Group != rbacv1.GroupName {
		return false
	}
	switch gvk.Kind {
	case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
		return true
	}
	return false
}

// decodeStrict decodes an object's content into a typed struct, rejecting
// unknown and duplicate fields as kubectl's strict field validation does.
func decodeStrict(o *k8s.Object, into any) error {
	data, err := json.Marshal(o.Content)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(data, into, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return cleanJSONErr(err)
	}
	if len(strict) > 0 {
		return errors.Join(strict...)
	}
	return nil
}

func cleanJSONErr(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return errors.New(msg)
}

func objectErr(o *k8s.Object, err error) error {
	return &ObjectError{Object: o.String(), Position: o.Position(), Err: err}
}

// parseRole decodes a Role or ClusterRole.
func parseRole(o *k8s.Object) (*Role, error) {
	var (
		meta  metav1.ObjectMeta
		rules []rbacv1.PolicyRule
		agg   *rbacv1.AggregationRule
	)
	switch o.Kind() {
	case "Role":
		var r rbacv1.Role
		if err := decodeStrict(o, &r); err != nil {
			return nil, objectErr(o, err)
		}
		meta, rules = r.ObjectMeta, r.Rules
	default:
		var r rbacv1.ClusterRole
		if err := decodeStrict(o, &r); err != nil {
			return nil, objectErr(o, err)
		}
		meta, rules, agg = r.ObjectMeta, r.Rules, r.AggregationRule
	}
	role := &Role{
		Kind:        o.Kind(),
		Namespace:   meta.Namespace,
		Name:        meta.Name,
		Labels:      meta.Labels,
		Rules:       rules,
		Aggregation: agg,
		File:        o.File,
		Line:        o.Line,
	}
	if role.Kind == "Role" && role.Namespace == "" {
		role.Namespace = "default"
	}
	if role.Kind == "ClusterRole" {
		role.Namespace = ""
	}
	if err := validateRole(role); err != nil {
		return nil, objectErr(o, err)
	}
	return role, nil
}

// parseBinding decodes a RoleBinding or ClusterRoleBinding.
func parseBinding(o *k8s.Object) (*Binding, error) {
	var (
		meta     metav1.ObjectMeta
		roleRef  rbacv1.RoleRef
		subjects []rbacv1.Subject
	)
	switch o.Kind() {
	case "RoleBinding":
		var b rbacv1.RoleBinding
		if err := decodeStrict(o, &b); err != nil {
			return nil, objectErr(o, err)
		}
		meta, roleRef, subjects = b.ObjectMeta, b.RoleRef, b.Subjects
	default:
		var b rbacv1.ClusterRoleBinding
		if err := decodeStrict(o, &b); err != nil {
			return nil, objectErr(o, err)
		}
		meta, roleRef, subjects = b.ObjectMeta, b.RoleRef, b.Subjects
	}
	b := &Binding{
		Kind:      o.Kind(),
		Namespace: meta.Namespace,
		Name:      meta.Name,
		Labels:    meta.Labels,
		RoleRef:   roleRef,
		Subjects:  subjects,
		File:      o.File,
		Line:      o.Line,
	}
	if b.Kind == "RoleBinding" && b.Namespace == "" {
		b.Namespace = "default"
	}
	if b.Kind == "ClusterRoleBinding" {
		b.Namespace = ""
	}
	defaultBinding(b)
	if err := validateBinding(b); err != nil {
		return nil, objectErr(o, err)
	}
	return b, nil
}

// validateRole applies the API server's validation of role rules, so that a
// manifest the API server would reject is reported rather than analysed.
func validateRole(r *Role) error {
	var errs []error
	if r.Name == "" {
		errs = append(errs, errors.New("metadata.name is required"))
	}
	for i, rule := range r.Rules {
		if err := validateRule(rule, r.Kind == "Role"); err != nil {
			errs = append(errs, fmt.Errorf("rules[%d]: %w", i, err))
		}
	}
	if r.Aggregation != nil {
		for i, sel := range r.Aggregation.ClusterRoleSelectors {
			if _, err := metav1.LabelSelectorAsSelector(&sel); err != nil {
				errs = append(errs, fmt.Errorf("aggregationRule.clusterRoleSelectors[%d]: %w", i, err))
			}
		}
	}
	return errors.Join(errs...)
}

func validateRule(rule rbacv1.PolicyRule, namespaced bool) error {
	if len(rule.Verbs) == 0 {
		return errors.New("verbs: at least one verb is required")
	}
	if len(rule.NonResourceURLs) > 0 {
		if namespaced {
			return errors.New("nonResourceURLs: namespaced rules cannot apply to non-resource URLs")
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			return errors.New("nonResourceURLs: rules cannot apply to both regular resources and non-resource URLs")
		}
		return nil
	}
	if len(rule.APIGroups) == 0 {
		return errors.New("apiGroups: resource rules must supply at least one api group")
	}
	if len(rule.Resources) == 0 {
		return errors.New("resources: resource rules must supply at least one resource")
	}
	return nil
}

// defaultBinding applies the API server's defaults: roleRef.apiGroup and a
// user's or group's apiGroup default to rbac.authorization.k8s.io.
func defaultBinding(b *Binding) {
	if b.RoleRef.APIGroup == "" {
		b.RoleRef.APIGroup = rbacv1.GroupName
	}
	for i := range b.Subjects {
		s := &b.Subjects[i]
		if s.APIGroup == "" && (s.Kind == KindUser || s.Kind == KindGroup) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

func validateBinding(b *Binding) error {
	var errs []error
	if b.Name == "" {
		errs = append(errs, errors.New("metadata.name is required"))
	}
	if b.RoleRef.APIGroup != rbacv1.GroupName {
		errs = append(errs, fmt.Errorf("roleRef.apiGroup: unsupported value %q: supported values: %q", b.RoleRef.APIGroup, rbacv1.GroupName))
	}
	switch b.RoleRef.Kind {
	case "ClusterRole":
	case "Role":
		if b.Kind == "ClusterRoleBinding" {
			errs = append(errs, errors.New(`roleRef.kind: unsupported value "Role": a ClusterRoleBinding can only reference a ClusterRole`))
		}
	default:
		errs = append(errs, fmt.Errorf(`roleRef.kind: unsupported value %q: supported values: "Role", "ClusterRole"`, b.RoleRef.Kind))
	}
	if b.RoleRef.Name == "" {
		errs = append(errs, errors.New("roleRef.name: Required value"))
	}
	for i, s := range b.Subjects {
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("subjects[%d].name: Required value", i))
		}
		switch s.Kind {
		case KindServiceAccount:
			if s.APIGroup != "" {
				errs = append(errs, fmt.Errorf("subjects[%d].apiGroup: unsupported value %q: a ServiceAccount's apiGroup must be empty", i, s.APIGroup))
			}
			if b.Kind == "ClusterRoleBinding" && s.Namespace == "" {
				errs = append(errs, fmt.Errorf("subjects[%d].namespace: Required value for a ServiceAccount in a ClusterRoleBinding", i))
			}
		case KindUser, KindGroup:
			if s.APIGroup != rbacv1.GroupName {
				errs = append(errs, fmt.Errorf("subjects[%d].apiGroup: unsupported value %q: supported values: %q", i, s.APIGroup, rbacv1.GroupName))
			}
		default:
			errs = append(errs, fmt.Errorf(`subjects[%d].kind: unsupported value %q: supported values: "ServiceAccount", "User", "Group"`, i, s.Kind))
		}
	}
	return errors.Join(errs...)
}

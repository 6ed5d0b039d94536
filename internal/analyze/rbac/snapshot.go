package rbac

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// LoadOptions say how a Snapshot is built.
type LoadOptions struct {
	// Bootstrap adds the roles and bindings kube-apiserver creates at
	// start-up (cluster-admin, admin, edit, view, system:*) that the input
	// does not define itself, so that a binding to "view" in a manifest
	// means what it means in a cluster. Use it for manifests, not for a
	// live cluster (which has them already).
	Bootstrap bool
	// StoredAggregation keeps the rules stored in aggregated ClusterRoles
	// instead of computing them from their aggregationRule; a live
	// cluster's controller has filled them in already. For manifests leave
	// it false: the stored rules of an aggregated ClusterRole are replaced
	// by the controller and mean nothing.
	StoredAggregation bool
}

// Snapshot is a set of RBAC objects, resolved and indexed for
// authorization questions. It is read-only after Load and safe for
// concurrent use.
type Snapshot struct {
	roles           map[string]*Role // namespace/name
	clusterRoles    map[string]*Role
	clusterBindings []*Binding
	bindings        map[string][]*Binding // by namespace
	// bySubject indexes bindings by scope ("" for ClusterRoleBindings, the
	// namespace for RoleBindings) and subject key.
	bySubject     map[string][]*Binding
	inputBindings int
}

// Load builds a snapshot from the RBAC objects among objs (other kinds are
// ignored). Every invalid object is reported, joined, as an *ObjectError.
func Load(objs []*k8s.Object, opts LoadOptions) (*Snapshot, error) {
	var (
		roles    []*Role
		bindings []*Binding
		errs     []error
	)
	for _, o := range objs {
		if !isRBAC(o) {
			continue
		}
		switch o.Kind() {
		case "Role", "ClusterRole":
			r, err := parseRole(o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			roles = append(roles, r)
		default:
			b, err := parseBinding(o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			bindings = append(bindings, b)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return build(roles, bindings, opts)
}

// New builds a snapshot from roles and bindings already decoded, such as
// those listed from a cluster.
func New(roles []*Role, bindings []*Binding, opts LoadOptions) (*Snapshot, error) {
	var errs []error
	for _, r := range roles {
		if err := validateRole(r); err != nil {
			errs = append(errs, &ObjectError{Object: r.Ref(), Position: position(r.File, r.Line), Err: err})
		}
	}
	for _, b := range bindings {
		defaultBinding(b)
		if err := validateBinding(b); err != nil {
			errs = append(errs, &ObjectError{Object: b.Ref(), Position: b.Position(), Err: err})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return build(roles, bindings, opts)
}

func build(roles []*Role, bindings []*Binding, opts LoadOptions) (*Snapshot, error) {
	s := &Snapshot{
		roles:         map[string]*Role{},
		clusterRoles:  map[string]*Role{},
		bindings:      map[string][]*Binding{},
		bySubject:     map[string][]*Binding{},
		inputBindings: len(bindings),
	}
	var errs []error
	for _, r := range roles {
		m, key := s.roleMap(r)
		if prev, dup := m[key]; dup {
			errs = append(errs, &ObjectError{Object: r.Ref(), Position: position(r.File, r.Line),
				Err: fmt.Errorf("defined twice (first at %s)", orUnknown(position(prev.File, prev.Line)))})
			continue
		}
		m[key] = r
	}
	seen := map[string]*Binding{}
	for _, b := range bindings {
		if prev, dup := seen[b.Ref()]; dup {
			errs = append(errs, &ObjectError{Object: b.Ref(), Position: b.Position(),
				Err: fmt.Errorf("defined twice (first at %s)", orUnknown(prev.Position()))})
			continue
		}
		seen[b.Ref()] = b
		s.addBinding(b)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Bootstrap {
		bs, err := bootstrapPolicy()
		if err != nil {
			return nil, err
		}
		for _, r := range bs.roles {
			if m, key := s.roleMap(r); m[key] == nil {
				m[key] = r
			}
		}
		for _, b := range bs.bindings {
			if seen[b.Ref()] == nil {
				seen[b.Ref()] = b
				s.addBinding(b)
			}
		}
	}
	if !opts.StoredAggregation {
		if err := s.aggregate(); err != nil {
			return nil, err
		}
	}
	sortBindings(s.clusterBindings)
	for _, bs := range s.bindings {
		sortBindings(bs)
	}
	return s, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown position"
	}
	return s
}

func (s *Snapshot) roleMap(r *Role) (map[string]*Role, string) {
	if r.Kind == "ClusterRole" {
		return s.clusterRoles, r.Name
	}
	return s.roles, r.Namespace + "/" + r.Name
}

func (s *Snapshot) addBinding(b *Binding) {
	for _, sub := range bindingSubjects(b) {
		k := scopedKey(b.Namespace, subjectKey(sub))
		if bs := s.bySubject[k]; len(bs) == 0 || bs[len(bs)-1] != b {
			s.bySubject[k] = append(bs, b)
		}
	}
	if b.Kind == "ClusterRoleBinding" {
		s.clusterBindings = append(s.clusterBindings, b)
		return
	}
	s.bindings[b.Namespace] = append(s.bindings[b.Namespace], b)
}

func sortBindings(bs []*Binding) {
	sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
}

// RoleFor returns the role a binding references, or nil when it does not
// exist (the binding then grants nothing, as in the API server).
func (s *Snapshot) RoleFor(b *Binding) *Role {
	switch b.RoleRef.Kind {
	case "ClusterRole":
		return s.clusterRoles[b.RoleRef.Name]
	case "Role":
		if b.Kind != "RoleBinding" {
			return nil
		}
		return s.roles[b.Namespace+"/"+b.RoleRef.Name]
	}
	return nil
}

// ClusterRole returns the named ClusterRole, or nil.
func (s *Snapshot) ClusterRole(name string) *Role { return s.clusterRoles[name] }

// Role returns the named Role, or nil.
func (s *Snapshot) Role(namespace, name string) *Role { return s.roles[namespace+"/"+name] }

// Bindings returns every binding, ClusterRoleBindings first, then
// RoleBindings by namespace, each sorted by name.
func (s *Snapshot) Bindings() []*Binding {
	out := slices.Clone(s.clusterBindings)
	nss := make([]string, 0, len(s.bindings))
	for ns := range s.bindings {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		out = append(out, s.bindings[ns]...)
	}
	return out
}

// Roles returns every role and cluster role, ClusterRoles first, sorted.
func (s *Snapshot) Roles() []*Role {
	out := make([]*Role, 0, len(s.roles)+len(s.clusterRoles))
	for _, r := range s.clusterRoles {
		out = append(out, r)
	}
	for _, r := range s.roles {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind == "ClusterRole"
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

// aggregate computes the rules of every aggregated ClusterRole as the
// clusterrole-aggregation controller does: the union, without duplicates,
// of the rules of every other ClusterRole its selectors match. Aggregated
// roles may select aggregated roles (admin selects edit, which selects
// view), so the computation repeats until nothing changes, which is where
// the controller's repeated syncs converge.
func (s *Snapshot) aggregate() error {
	type aggRole struct {
		role      *Role
		selectors []labels.Selector
	}
	var aggs []aggRole
	for _, r := range s.clusterRoles {
		if r.Aggregation == nil {
			continue
		}
		a := aggRole{role: r}
		for i := range r.Aggregation.ClusterRoleSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&r.Aggregation.ClusterRoleSelectors[i])
			if err != nil {
				return &ObjectError{Object: r.Ref(), Position: position(r.File, r.Line),
					Err: fmt.Errorf("aggregationRule.clusterRoleSelectors[%d]: %w", i, err)}
			}
			a.selectors = append(a.selectors, sel)
		}
		// Copy before resetting: a bootstrap role is shared between snapshots.
		cp := *r
		cp.Rules = nil
		s.clusterRoles[r.Name] = &cp
		a.role = &cp
		aggs = append(aggs, a)
	}
	if len(aggs) == 0 {
		return nil
	}
	sort.Slice(aggs, func(i, j int) bool { return aggs[i].role.Name < aggs[j].role.Name })
	names := make([]string, 0, len(s.clusterRoles))
	for n := range s.clusterRoles {
		names = append(names, n)
	}
	sort.Strings(names)
	// Which roles each selector matches never changes: labels are fixed.
	matches := make([][]*Role, len(aggs))
	for i, a := range aggs {
		seen := map[string]bool{}
		for _, sel := range a.selectors {
			for _, n := range names {
				r := s.clusterRoles[n]
				if n == a.role.Name || seen[n] || !sel.Matches(labels.Set(r.Labels)) {
					continue
				}
				seen[n] = true
				matches[i] = append(matches[i], r)
			}
		}
	}
	for round := 0; round <= len(aggs); round++ {
		changed := false
		for i, a := range aggs {
			var rules []rbacv1.PolicyRule
			have := map[string]bool{}
			for _, src := range matches[i] {
				for _, rule := range src.Rules {
					k := ruleKey(rule)
					if have[k] {
						continue
					}
					have[k] = true
					rules = append(rules, rule)
				}
			}
			if len(rules) != len(a.role.Rules) {
				a.role.Rules = rules
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	return nil
}

// ruleKey identifies a rule for deduplication (the controller compares rules
// field by field, in order).
func ruleKey(r rbacv1.PolicyRule) string {
	var b strings.Builder
	for _, part := range [][]string{r.Verbs, r.APIGroups, r.Resources, r.ResourceNames, r.NonResourceURLs} {
		for _, s := range part {
			b.WriteString(s)
			b.WriteByte(0)
		}
		b.WriteByte(1)
	}
	return b.String()
}

//go:embed bootstrap/*.yaml
var bootstrapFS embed.FS

type bootstrapSet struct {
	roles    []*Role
	bindings []*Binding
}

var loadBootstrap = sync.OnceValues(func() (bootstrapSet, error) {
	var set bootstrapSet
	files, err := fs.Glob(bootstrapFS, "bootstrap/*.yaml")
	if err != nil {
		return set, err
	}
	for _, f := range files {
		data, err := bootstrapFS.ReadFile(f)
		if err != nil {
			return set, err
		}
		objs, err := k8s.Decode(path.Base(f), data)
		if err != nil {
			return set, fmt.Errorf("bootstrap policy: %w", err)
		}
		for _, o := range objs {
			switch o.Kind() {
			case "Role", "ClusterRole":
				r, err := parseRole(o)
				if err != nil {
					return set, fmt.Errorf("bootstrap policy: %w", err)
				}
				r.Bootstrap, r.File, r.Line = true, "", 0
				set.roles = append(set.roles, r)
			case "RoleBinding", "ClusterRoleBinding":
				b, err := parseBinding(o)
				if err != nil {
					return set, fmt.Errorf("bootstrap policy: %w", err)
				}
				b.Bootstrap, b.File, b.Line = true, "", 0
				set.bindings = append(set.bindings, b)
			}
		}
	}
	return set, nil
})

// bootstrapPolicy returns the bootstrap roles and bindings of Kubernetes
// v1.37 (default feature gates). They are shared: callers must not modify
// them.
func bootstrapPolicy() (bootstrapSet, error) { return loadBootstrap() }

// BootstrapRoles returns copies of Kubernetes' bootstrap roles and cluster
// roles as Bulwark embeds them (aggregated roles with their stored rules
// empty).
func BootstrapRoles() ([]*Role, error) {
	bs, err := bootstrapPolicy()
	if err != nil {
		return nil, err
	}
	out := make([]*Role, len(bs.roles))
	for i, r := range bs.roles {
		cp := *r
		out[i] = &cp
	}
	return out, nil
}

// BootstrapBindings returns copies of Kubernetes' bootstrap bindings.
func BootstrapBindings() ([]*Binding, error) {
	bs, err := bootstrapPolicy()
	if err != nil {
		return nil, err
	}
	out := make([]*Binding, len(bs.bindings))
	for i, b := range bs.bindings {
		cp := *b
		out[i] = &cp
	}
	return out, nil
}

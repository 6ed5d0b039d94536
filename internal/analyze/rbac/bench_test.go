package rbac

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// syntheticRBAC generates roles and bindings shaped like a large
// multi-tenant cluster's: namespaced Roles, ClusterRoles (some aggregated,
// some aggregated into others), RoleBindings to both, ClusterRoleBindings,
// users, groups and service accounts as subjects.
func syntheticRBAC(nRoles, nBindings int, seed int64) []*k8s.Object {
	rng := rand.New(rand.NewSource(seed))
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"}
	resources := []string{"pods", "pods/log", "pods/exec", "services", "configmaps", "secrets", "deployments", "replicasets",
		"jobs", "cronjobs", "ingresses", "networkpolicies", "serviceaccounts", "serviceaccounts/token", "events", "*"}
	groups := []string{"", "apps", "batch", "networking.k8s.io", "*"}
	pick := func(xs []string, n int) []any {
		out := make([]any, 0, n)
		for range n {
			out = append(out, xs[rng.Intn(len(xs))])
		}
		return out
	}
	rules := func() []any {
		n := 1 + rng.Intn(6)
		out := make([]any, 0, n)
		for range n {
			r := map[string]any{
				"apiGroups": pick(groups, 1+rng.Intn(2)),
				"resources": pick(resources, 1+rng.Intn(4)),
				"verbs":     pick(verbs, 1+rng.Intn(4)),
			}
			if rng.Intn(10) == 0 {
				r["resourceNames"] = []any{fmt.Sprintf("obj-%d", rng.Intn(50))}
			}
			out = append(out, r)
		}
		return out
	}
	obj := func(kind string, md map[string]any, extra map[string]any) *k8s.Object {
		c := map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": md}
		for k, v := range extra {
			c[k] = v
		}
		return &k8s.Object{Content: c, File: "synthetic.yaml", Line: 1}
	}
	nNS := 200
	nClusterRoles := nRoles / 4
	var objs []*k8s.Object
	for i := range nClusterRoles {
		md := map[string]any{"name": fmt.Sprintf("cr-%d", i), "labels": map[string]any{"agg": fmt.Sprintf("a%d", i%20)}}
		extra := map[string]any{"rules": rules()}
		if i%25 == 0 { // aggregated: selects one label value, and is itself selectable
			extra = map[string]any{"aggregationRule": map[string]any{"clusterRoleSelectors": []any{
				map[string]any{"matchLabels": map[string]any{"agg": fmt.Sprintf("a%d", rng.Intn(20))}},
			}}}
		}
		objs = append(objs, obj("ClusterRole", md, extra))
	}
	for i := range nRoles - nClusterRoles {
		objs = append(objs, obj("Role", map[string]any{"name": fmt.Sprintf("role-%d", i), "namespace": fmt.Sprintf("ns-%d", i%nNS)},
			map[string]any{"rules": rules()}))
	}
	subject := func(ns string) any {
		switch rng.Intn(3) {
		case 0:
			return map[string]any{"kind": "User", "name": fmt.Sprintf("user-%d@example.com", rng.Intn(2000)), "apiGroup": "rbac.authorization.k8s.io"}
		case 1:
			return map[string]any{"kind": "Group", "name": fmt.Sprintf("team-%d", rng.Intn(300)), "apiGroup": "rbac.authorization.k8s.io"}
		}
		return map[string]any{"kind": "ServiceAccount", "name": fmt.Sprintf("sa-%d", rng.Intn(20)), "namespace": ns}
	}
	for i := range nBindings {
		ns := fmt.Sprintf("ns-%d", rng.Intn(nNS))
		subjects := []any{subject(ns), subject(ns)}
		if i%10 == 0 {
			objs = append(objs, obj("ClusterRoleBinding", map[string]any{"name": fmt.Sprintf("crb-%d", i)}, map[string]any{
				"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": fmt.Sprintf("cr-%d", rng.Intn(nClusterRoles))},
				"subjects": subjects,
			}))
			continue
		}
		ref := map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": fmt.Sprintf("cr-%d", rng.Intn(nClusterRoles))}
		if rng.Intn(2) == 0 {
			// A Role of the same namespace (role-i lives in ns-(i%nNS)).
			n := rng.Intn((nRoles-nClusterRoles)/nNS)*nNS + mustAtoi(ns[3:])
			ref = map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": fmt.Sprintf("role-%d", n)}
		}
		objs = append(objs, obj("RoleBinding", map[string]any{"name": fmt.Sprintf("rb-%d", i), "namespace": ns}, map[string]any{
			"roleRef": ref, "subjects": subjects,
		}))
	}
	return objs
}

func mustAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// BenchmarkRBAC2000Roles5000Bindings loads, resolves (aggregation included)
// and analyses 2,000 roles and 5,000 bindings, then answers a can-i
// question for every subject of every binding. Target: under 2 s.
func BenchmarkRBAC2000Roles5000Bindings(b *testing.B) {
	objs := syntheticRBAC(2000, 5000, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := Load(objs, LoadOptions{Bootstrap: true})
		if err != nil {
			b.Fatal(err)
		}
		fs := s.Findings(Options{})
		if len(fs) == 0 {
			b.Fatal("no findings")
		}
		perms := s.Permissions(false)
		allowed := 0
		for _, g := range perms {
			u := User{Name: g.Subject.Username(), Groups: []string{GroupAuthenticated}}
			if g.Subject.Kind == KindGroup {
				u = User{Name: "member", Groups: []string{g.Subject.Name, GroupAuthenticated}}
			}
			if s.Authorize(u, Request{Verb: "get", Resource: "secrets", Namespace: "ns-1"}).Allowed {
				allowed++
			}
		}
		if allowed == 0 {
			b.Fatal("nothing allowed")
		}
	}
}

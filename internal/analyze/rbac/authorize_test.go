package rbac

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

func mustLoad(t testing.TB, manifest string, opts LoadOptions) *Snapshot {
	t.Helper()
	objs, err := k8s.Decode("test.yaml", []byte(manifest))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	s, err := Load(objs, opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

func TestRuleAllows(t *testing.T) {
	rule := func(verbs, groups, resources, names, urls string) rbacv1.PolicyRule {
		split := func(s string) []string {
			if s == "-" {
				return nil
			}
			if s == `""` {
				return []string{""}
			}
			return strings.Split(s, ",")
		}
		return rbacv1.PolicyRule{Verbs: split(verbs), APIGroups: split(groups), Resources: split(resources), ResourceNames: split(names), NonResourceURLs: split(urls)}
	}
	tests := []struct {
		name string
		rule rbacv1.PolicyRule
		req  Request
		want bool
	}{
		{"exact", rule("get", `""`, "pods", "-", "-"), Request{Verb: "get", Resource: "pods"}, true},
		{"other verb", rule("get", `""`, "pods", "-", "-"), Request{Verb: "list", Resource: "pods"}, false},
		{"verb star", rule("*", `""`, "pods", "-", "-"), Request{Verb: "escalate", Resource: "pods"}, true},
		{"other group", rule("get", `""`, "deployments", "-", "-"), Request{Verb: "get", APIGroup: "apps", Resource: "deployments"}, false},
		{"group star", rule("get", "*", "deployments", "-", "-"), Request{Verb: "get", APIGroup: "apps", Resource: "deployments"}, true},
		{"resource star matches subresource", rule("create", `""`, "*", "-", "-"), Request{Verb: "create", Resource: "pods", Subresource: "exec"}, true},
		{"resource does not cover subresource", rule("create", `""`, "pods", "-", "-"), Request{Verb: "create", Resource: "pods", Subresource: "exec"}, false},
		{"subresource exact", rule("create", `""`, "pods/exec", "-", "-"), Request{Verb: "create", Resource: "pods", Subresource: "exec"}, true},
		{"subresource does not cover resource", rule("get", `""`, "pods/log", "-", "-"), Request{Verb: "get", Resource: "pods"}, false},
		{"star slash sub", rule("get", "*", "*/scale", "-", "-"), Request{Verb: "get", APIGroup: "apps", Resource: "deployments", Subresource: "scale"}, true},
		{"star slash sub other sub", rule("get", "*", "*/scale", "-", "-"), Request{Verb: "get", APIGroup: "apps", Resource: "deployments", Subresource: "status"}, false},
		{"star slash sub not the resource", rule("get", "*", "*/scale", "-", "-"), Request{Verb: "get", APIGroup: "apps", Resource: "deployments"}, false},
		{"suffix is not enough", rule("get", "*", "*/xscale", "-", "-"), Request{Verb: "get", Resource: "pods", Subresource: "scale"}, false},
		{"res slash star is literal", rule("get", `""`, "pods/*", "-", "-"), Request{Verb: "get", Resource: "pods", Subresource: "log"}, false},
		{"res slash star literal star", rule("get", `""`, "pods/*", "-", "-"), Request{Verb: "get", Resource: "pods", Subresource: "*"}, true},
		{"resourceNames match", rule("get", `""`, "secrets", "a,b", "-"), Request{Verb: "get", Resource: "secrets", Name: "b"}, true},
		{"resourceNames other", rule("get", `""`, "secrets", "a,b", "-"), Request{Verb: "get", Resource: "secrets", Name: "c"}, false},
		{"resourceNames no name", rule("list", `""`, "secrets", "a", "-"), Request{Verb: "list", Resource: "secrets"}, false},
		{"no resourceNames any name", rule("get", `""`, "secrets", "-", "-"), Request{Verb: "get", Resource: "secrets", Name: "x"}, true},
		{"url exact", rule("get", "-", "-", "-", "/healthz"), Request{Verb: "get", Path: "/healthz"}, true},
		{"url other", rule("get", "-", "-", "-", "/healthz"), Request{Verb: "get", Path: "/healthz/ping"}, false},
		{"url prefix star", rule("get", "-", "-", "-", "/healthz/*"), Request{Verb: "get", Path: "/healthz/ping"}, true},
		{"url prefix star no slash", rule("get", "-", "-", "-", "/healthz*"), Request{Verb: "get", Path: "/healthzzz"}, true},
		{"url star", rule("get", "-", "-", "-", "*"), Request{Verb: "get", Path: "/anything"}, true},
		{"url rule for resource", rule("get", "-", "-", "-", "*"), Request{Verb: "get", Resource: "pods"}, false},
		{"resource rule for url", rule("get", "*", "*", "-", "-"), Request{Verb: "get", Path: "/healthz"}, false},
		{"verb star url", rule("*", "-", "-", "-", "/metrics"), Request{Verb: "post", Path: "/metrics"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RuleAllows(&tt.rule, tt.req); got != tt.want {
				t.Errorf("RuleAllows(%s, %s) = %v, want %v", ruleString(&tt.rule), tt.req, got, tt.want)
			}
		})
	}
}

// TestClusterReaderCannotCreate is the seed's validation step "a cluster
// reader cannot create resources": a user bound to view can list pods but
// cannot create them (or anything else).
func TestClusterReaderCannotCreate(t *testing.T) {
	s := mustLoad(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cluster-readers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: reader}
`, LoadOptions{Bootstrap: true})
	reader := Impersonate("reader", nil)
	for _, tt := range []struct {
		req  Request
		want bool
	}{
		{Request{Verb: "list", Resource: "pods", Namespace: "default"}, true},
		{Request{Verb: "get", Resource: "pods", Name: "web", Namespace: "production"}, true},
		{Request{Verb: "watch", APIGroup: "apps", Resource: "deployments", Namespace: "dev"}, true},
		{Request{Verb: "get", Resource: "pods", Subresource: "log", Namespace: "dev"}, true},
		{Request{Verb: "create", Resource: "pods", Namespace: "default"}, false},
		{Request{Verb: "create", Resource: "pods", Namespace: "production"}, false},
		{Request{Verb: "create", APIGroup: "apps", Resource: "deployments", Namespace: "default"}, false},
		{Request{Verb: "delete", Resource: "pods", Name: "web", Namespace: "default"}, false},
		{Request{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "default"}, false},
		{Request{Verb: "get", Resource: "secrets", Namespace: "default"}, false},
		{Request{Verb: "list", Resource: "nodes"}, false}, // view is for namespaced objects
		// From the bootstrap bindings of system:authenticated.
		{Request{Verb: "create", APIGroup: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, true},
		{Request{Verb: "get", Path: "/version"}, true},
	} {
		if got := s.Authorize(reader, tt.req).Allowed; got != tt.want {
			t.Errorf("reader: %s: allowed = %v, want %v", tt.req, got, tt.want)
		}
	}
}

func TestAuthorizeBindings(t *testing.T) {
	s := mustLoad(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: dev}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads-pods, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: User, name: alice}
- {kind: ServiceAccount, name: builder}
- {kind: ServiceAccount, name: deployer, namespace: ci}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get], resourceNames: [app-secret]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ops-secrets, namespace: prod}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- {kind: Group, name: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: all-sa-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-lister}
subjects:
- {kind: Group, name: system:serviceaccounts}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: node-lister}
rules:
- {apiGroups: [""], resources: [nodes], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: does-not-exist}
subjects:
- {kind: User, name: bob}
`, LoadOptions{})
	alice := Impersonate("alice", nil)
	opsUser := Impersonate("carol", []string{"ops"})
	builder := Impersonate("system:serviceaccount:dev:builder", nil)
	deployer := Impersonate("system:serviceaccount:ci:deployer", nil)
	otherBuilder := Impersonate("system:serviceaccount:prod:builder", nil)
	tests := []struct {
		who  string
		user User
		req  Request
		want bool
	}{
		{"alice in dev", alice, Request{Verb: "list", Resource: "pods", Namespace: "dev"}, true},
		{"alice in prod", alice, Request{Verb: "list", Resource: "pods", Namespace: "prod"}, false},
		{"alice across namespaces", alice, Request{Verb: "list", Resource: "pods"}, false},
		{"alice delete", alice, Request{Verb: "delete", Resource: "pods", Namespace: "dev"}, false},
		{"SA defaulted to binding namespace", builder, Request{Verb: "get", Resource: "pods", Namespace: "dev"}, true},
		{"same SA name elsewhere", otherBuilder, Request{Verb: "get", Resource: "pods", Namespace: "dev"}, false},
		{"SA of another namespace", deployer, Request{Verb: "get", Resource: "pods", Namespace: "dev"}, true},
		{"SA of another namespace in its own", deployer, Request{Verb: "get", Resource: "pods", Namespace: "ci"}, false},
		{"group via ClusterRole in RoleBinding", opsUser, Request{Verb: "get", Resource: "secrets", Name: "app-secret", Namespace: "prod"}, true},
		{"ClusterRole in RoleBinding is scoped", opsUser, Request{Verb: "get", Resource: "secrets", Name: "app-secret", Namespace: "dev"}, false},
		{"resourceNames other name", opsUser, Request{Verb: "get", Resource: "secrets", Name: "db", Namespace: "prod"}, false},
		{"resourceNames no list", opsUser, Request{Verb: "list", Resource: "secrets", Namespace: "prod"}, false},
		{"not in group", alice, Request{Verb: "get", Resource: "secrets", Name: "app-secret", Namespace: "prod"}, false},
		{"implied SA group", builder, Request{Verb: "list", Resource: "nodes"}, true},
		{"explicit groups drop SA groups", Impersonate("system:serviceaccount:dev:builder", []string{"x"}), Request{Verb: "list", Resource: "nodes"}, false},
		{"user is not SA", alice, Request{Verb: "list", Resource: "nodes"}, false},
		{"dangling binding grants nothing", Impersonate("bob", nil), Request{Verb: "get", Resource: "pods", Namespace: "dev"}, false},
		{"masters", Impersonate("root", []string{"system:masters"}), Request{Verb: "delete", Resource: "nodes"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			if got := s.Authorize(tt.user, tt.req); got.Allowed != tt.want {
				t.Errorf("%v: %s: allowed = %v (%s), want %v", tt.user, tt.req, got.Allowed, got.Reason, tt.want)
			}
		})
	}
}

func TestImpersonate(t *testing.T) {
	tests := []struct {
		name   string
		groups []string
		want   []string
	}{
		{"alice", nil, []string{"system:authenticated"}},
		{"alice", []string{"dev"}, []string{"dev", "system:authenticated"}},
		{"alice", []string{"system:authenticated"}, []string{"system:authenticated"}},
		{"alice", []string{"system:unauthenticated"}, []string{"system:unauthenticated"}},
		{"system:serviceaccount:ns:sa", nil, []string{"system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"}},
		{"system:serviceaccount:ns:sa", []string{"g"}, []string{"g", "system:authenticated"}},
		{"system:serviceaccount:ns", nil, []string{"system:authenticated"}},
		{"system:anonymous", nil, []string{"system:unauthenticated"}},
	}
	for _, tt := range tests {
		got := Impersonate(tt.name, tt.groups)
		if strings.Join(got.Groups, ",") != strings.Join(tt.want, ",") {
			t.Errorf("Impersonate(%q, %q).Groups = %q, want %q", tt.name, tt.groups, got.Groups, tt.want)
		}
	}
}

func TestAggregation(t *testing.T) {
	s := mustLoad(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-monitoring: "true"}
  - matchExpressions:
    - {key: tier, operator: In, values: [observability]}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]} # replaced by the controller
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring-endpoints
  labels: {example.com/aggregate-to-monitoring: "true"}
rules:
- {apiGroups: [""], resources: [services, endpoints, pods], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: tracing
  labels: {tier: observability}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-tracing: "true"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: tracing-leases
  labels: {example.com/aggregate-to-tracing: "true"}
rules:
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: unrelated
  labels: {tier: web}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: mon}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: monitoring}
subjects: [{kind: User, name: prom}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{kind: User, name: ada}]
`, LoadOptions{Bootstrap: true})
	prom := Impersonate("prom", nil)
	ada := Impersonate("ada", nil)
	tests := []struct {
		user User
		req  Request
		want bool
	}{
		{prom, Request{Verb: "list", Resource: "endpoints", Namespace: "x"}, true},
		{prom, Request{Verb: "create", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "x"}, true}, // through the nested aggregation
		{prom, Request{Verb: "get", Resource: "secrets", Namespace: "x"}, false},                                   // stored rules are replaced
		{prom, Request{Verb: "delete", Resource: "configmaps", Namespace: "x"}, false},
		// admin aggregates edit, which aggregates view.
		{ada, Request{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "x"}, true},
		{ada, Request{Verb: "create", APIGroup: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "x"}, true},
		{ada, Request{Verb: "list", APIGroup: "apps", Resource: "deployments", Namespace: "x"}, true},
		{ada, Request{Verb: "get", Resource: "secrets", Namespace: "x"}, true},
		{ada, Request{Verb: "create", Resource: "namespaces"}, false},
		{ada, Request{Verb: "update", Resource: "resourcequotas", Namespace: "x"}, false},
	}
	for _, tt := range tests {
		if got := s.Authorize(tt.user, tt.req); got.Allowed != tt.want {
			t.Errorf("%s: %s: allowed = %v (%s), want %v", tt.user.Name, tt.req, got.Allowed, got.Reason, tt.want)
		}
	}
	if n := len(s.ClusterRole("monitoring").Rules); n != 2 {
		t.Errorf("monitoring has %d rules, want 2: %v", n, s.ClusterRole("monitoring").Rules)
	}
	// Kept as stored for a live cluster.
	s2 := mustLoad(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agg}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {a: b}}]}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
`, LoadOptions{StoredAggregation: true})
	if n := len(s2.ClusterRole("agg").Rules); n != 1 {
		t.Errorf("StoredAggregation: %d rules, want the stored 1", n)
	}
}

func TestBootstrapIsOverridden(t *testing.T) {
	s := mustLoad(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: view}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: v}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: u}]
`, LoadOptions{Bootstrap: true})
	u := Impersonate("u", nil)
	if s.Authorize(u, Request{Verb: "list", Resource: "pods", Namespace: "a"}).Allowed {
		t.Error("the input's own view role should replace the bootstrap one")
	}
	if !s.Authorize(u, Request{Verb: "get", Resource: "configmaps", Namespace: "a"}).Allowed {
		t.Error("the input's own view role should apply")
	}
	// The bootstrap role must not have been modified for later snapshots.
	s2 := mustLoad(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: v}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: u}]
`, LoadOptions{Bootstrap: true})
	if !s2.Authorize(u, Request{Verb: "list", Resource: "pods", Namespace: "a"}).Allowed {
		t.Error("bootstrap view should allow list pods")
	}
}

func TestWhoCan(t *testing.T) {
	s := mustLoad(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: Group, name: developers}
- {kind: ServiceAccount, name: ci}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: readers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: User, name: reader}
`, LoadOptions{Bootstrap: true})
	names := func(gs []Grant) string {
		var out []string
		for _, g := range gs {
			if g.Binding != nil && g.Binding.Bootstrap && g.Subject.Name != GroupMasters {
				continue // Kubernetes' own controllers
			}
			out = append(out, g.Subject.String())
		}
		return strings.Join(out, ", ")
	}
	got := names(s.WhoCan(Request{Verb: "create", Resource: "pods", Namespace: "dev"}))
	if want := "Group developers, Group system:masters, ServiceAccount dev/ci"; got != want {
		t.Errorf("who can create pods in dev: %s, want %s", got, want)
	}
	got = names(s.WhoCan(Request{Verb: "list", Resource: "pods", Namespace: "dev"}))
	if want := "User reader, Group developers, Group system:masters, ServiceAccount dev/ci"; got != want {
		t.Errorf("who can list pods in dev: %s, want %s", got, want)
	}
	got = names(s.WhoCan(Request{Verb: "create", Resource: "pods", Namespace: "prod"}))
	if want := "Group system:masters"; got != want {
		t.Errorf("who can create pods in prod: %s, want %s", got, want)
	}
}

func TestMapper(t *testing.T) {
	m := NewMapper()
	tests := []struct {
		verb, arg, sub string
		want           Request
		warn           bool
	}{
		{"get", "pods", "", Request{Verb: "get", Resource: "pods"}, false},
		{"get", "po", "", Request{Verb: "get", Resource: "pods"}, false},
		{"get", "Pod", "", Request{Verb: "get", Resource: "pods"}, false},
		{"list", "deployments.apps", "", Request{Verb: "list", APIGroup: "apps", Resource: "deployments"}, false},
		{"list", "deploy", "", Request{Verb: "list", APIGroup: "apps", Resource: "deployments"}, false},
		{"list", "deployments.v1.apps", "", Request{Verb: "list", APIGroup: "apps", Resource: "deployments"}, false},
		{"list", "ingresses.networking", "", Request{Verb: "list", APIGroup: "networking.k8s.io", Resource: "ingresses"}, false},
		{"list", "events", "", Request{Verb: "list", Resource: "events"}, false},
		{"list", "events.events.k8s.io", "", Request{Verb: "list", APIGroup: "events.k8s.io", Resource: "events"}, false},
		{"create", "pods/exec", "", Request{Verb: "create", Resource: "pods", Subresource: "exec"}, false},
		{"get", "pods/web", "", Request{Verb: "get", Resource: "pods", Name: "web"}, false},
		{"get", "pods/exec", "log", Request{Verb: "get", Resource: "pods", Subresource: "log", Name: "exec"}, false},
		{"create", "pods/exec/web", "", Request{Verb: "create", Resource: "pods", Subresource: "exec", Name: "web"}, false},
		{"update", "deployments.apps/scale", "", Request{Verb: "update", APIGroup: "apps", Resource: "deployments", Subresource: "scale"}, false},
		{"create", "serviceaccounts/token", "", Request{Verb: "create", Resource: "serviceaccounts", Subresource: "token"}, false},
		{"*", "*", "", Request{Verb: "*", Resource: "*"}, false},
		{"get", "/healthz", "", Request{Verb: "get", Path: "/healthz"}, false},
		{"get", "widgets", "", Request{Verb: "get", Resource: "widgets"}, true},
		{"get", "widgets.example.com", "", Request{Verb: "get", APIGroup: "example.com", Resource: "widgets"}, true},
	}
	for _, tt := range tests {
		got, warns, err := m.ParseTarget(tt.verb, tt.arg, tt.sub)
		if err != nil {
			t.Errorf("ParseTarget(%q, %q, %q): %v", tt.verb, tt.arg, tt.sub, err)
			continue
		}
		if got != tt.want || (len(warns) > 0) != tt.warn {
			t.Errorf("ParseTarget(%q, %q, %q) = %+v, warnings %q; want %+v, warning %v", tt.verb, tt.arg, tt.sub, got, warns, tt.want, tt.warn)
		}
	}
	objs, err := k8s.Decode("crd.yaml", []byte(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}, scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}}
`))
	if err != nil {
		t.Fatal(err)
	}
	m.AddCRDs(objs)
	got, warns, err := m.ParseTarget("update", "wd/scale", "")
	if err != nil || len(warns) > 0 || got != (Request{Verb: "update", APIGroup: "example.com", Resource: "widgets", Subresource: "scale"}) {
		t.Errorf("CRD short name: %+v %q %v", got, warns, err)
	}
	if _, _, err := m.ParseTarget("get", "/healthz", "x"); err == nil {
		t.Error("--subresource with a URL should fail")
	}
}

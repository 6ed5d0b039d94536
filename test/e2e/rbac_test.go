//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/internal/analyze/rbac"
	"github.com/bulwark-k8s/bulwark/internal/cli"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/test/e2e/cluster"
)

// rbacCorpus exercises every part of RBAC resolution: aggregation (nested,
// and the built-in view/edit/admin), wildcards (verbs, resources, */sub,
// the literal pods/*), resourceNames, non-resource URLs with a * suffix,
// groups (custom, system:authenticated, system:serviceaccounts[:NS]),
// service accounts with and without a namespace in the subject,
// RoleBindings to Roles and to ClusterRoles, and a binding to a missing
// role.
const rbacCorpus = `
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-reader, labels: {e2e.bulwark.dev/aggregate-to-super: "true"}}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {e2e.bulwark.dev/aggregate-to-widgets: "true"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-reader-core, labels: {e2e.bulwark.dev/aggregate-to-widgets: "true"}}
rules:
- {apiGroups: [""], resources: [pods, services], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-reader-apps, labels: {e2e.bulwark.dev/aggregate-to-widgets: "true"}}
rules:
- {apiGroups: [apps], resources: [deployments, deployments/scale], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-super}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {e2e.bulwark.dev/aggregate-to-super: "true"}
  - matchExpressions: [{key: e2e.bulwark.dev/tier, operator: In, values: [extra]}]
rules:
- {apiGroups: [""], resources: [secrets], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: super-extra, labels: {e2e.bulwark.dev/tier: extra}}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [delete, deletecollection]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: wildcard-ops}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: ["*"]}
- {apiGroups: ["*"], resources: ["*/scale"], verbs: [get, update]}
- {apiGroups: [rbac.authorization.k8s.io], resources: ["*"], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: named-secrets}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, update], resourceNames: [db-password]}
- {apiGroups: [""], resources: [configmaps], verbs: [update, list], resourceNames: [app-config]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: exec-only}
rules:
- {apiGroups: [""], resources: [pods/exec], verbs: [create]}
- {apiGroups: [""], resources: [pods/log], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: url-reader}
rules:
- {nonResourceURLs: [/healthz, "/metrics/*"], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pods-star}
rules:
- {apiGroups: [""], resources: ["pods/*"], verbs: [get]}
- {apiGroups: ["*"], resources: [nodes], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: team-a}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [create, update]}
- {apiGroups: [""], resources: [pods], verbs: [create]}
- {apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-editor, namespace: team-b}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: readers-widget}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: widget-readers}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-super, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-super}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: ServiceAccount, name: ci}
- {kind: ServiceAccount, name: builder, namespace: team-b}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cm, namespace: team-b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-editor}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: developers}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-wild}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: wildcard-ops}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ops}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: secrets, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: named-secrets}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: exec, namespace: team-b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: exec-only}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:serviceaccounts:team-a"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: urls}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: url-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: pods-star}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pods-star}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: view, namespace: team-b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: reader}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edit-all-sa, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:serviceaccounts"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admin-dave}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: dave}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling, namespace: team-b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: not-there}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
`

type grid struct {
	users []rbac.User
	reqs  []rbac.Request
}

// rbacGrid is every subject × verb × resource × namespace the test asks
// about, plus the non-resource URLs.
func rbacGrid() grid {
	var g grid
	for _, u := range []struct {
		name   string
		groups []string
	}{
		{"alice", nil}, {"bob", nil}, {"carol", nil}, {"ops", nil}, {"dave", nil}, {"reader", nil}, {"nobody", nil},
		{"eve", []string{"widget-readers"}},
		{"frank", []string{"developers", "widget-readers"}},
		{"system:serviceaccount:team-a:ci", nil},
		{"system:serviceaccount:team-b:builder", nil},
		{"system:serviceaccount:team-a:other", nil},
		{"system:serviceaccount:team-b:ci", nil},
		{"system:serviceaccount:team-a:ci", []string{"custom"}}, // explicit groups drop the service account groups
		{"anna", []string{"system:serviceaccounts:team-a"}},
		{"system:anonymous", nil},
	} {
		g.users = append(g.users, rbac.Impersonate(u.name, u.groups))
	}
	type res struct{ group, resource, sub, name string }
	resources := []res{
		{"", "pods", "", ""}, {"", "pods", "", "web"}, {"", "pods", "exec", "web"}, {"", "pods", "log", "web"},
		{"", "pods", "status", "web"}, {"", "pods", "*", ""},
		{"", "secrets", "", ""}, {"", "secrets", "", "db-password"}, {"", "secrets", "", "other"},
		{"", "configmaps", "", ""}, {"", "configmaps", "", "app-config"}, {"", "services", "", ""},
		{"apps", "deployments", "", ""}, {"apps", "deployments", "scale", "web"}, {"apps", "replicasets", "scale", "web"},
		{"apps", "statefulsets", "", ""},
		{"", "nodes", "", ""}, {"", "nodes", "proxy", "n1"}, {"", "namespaces", "", "team-a"},
		{"rbac.authorization.k8s.io", "roles", "", ""}, {"rbac.authorization.k8s.io", "rolebindings", "", ""},
		{"", "serviceaccounts", "token", "default"}, {"example.com", "widgets", "", ""},
		{"", "*", "", ""},
	}
	verbs := []string{"get", "list", "watch", "create", "update", "delete", "deletecollection", "*"}
	for _, ns := range []string{"team-a", "team-b", "other", ""} {
		for _, r := range resources {
			for _, v := range verbs {
				g.reqs = append(g.reqs, rbac.Request{Verb: v, APIGroup: r.group, Resource: r.resource, Subresource: r.sub, Name: r.name, Namespace: ns})
			}
		}
	}
	for _, path := range []string{"/healthz", "/healthz/ping", "/metrics", "/metrics/cadvisor", "/version", "/api", "/logs"} {
		for _, v := range []string{"get", "post"} {
			g.reqs = append(g.reqs, rbac.Request{Verb: v, Path: path})
		}
	}
	return g
}

func sar(u rbac.User, r rbac.Request) *authzv1.SubjectAccessReview {
	spec := authzv1.SubjectAccessReviewSpec{User: u.Name, Groups: u.Groups}
	if r.IsResourceRequest() {
		spec.ResourceAttributes = &authzv1.ResourceAttributes{
			Namespace: r.Namespace, Verb: r.Verb, Group: r.APIGroup, Resource: r.Resource, Subresource: r.Subresource, Name: r.Name,
		}
	} else {
		spec.NonResourceAttributes = &authzv1.NonResourceAttributes{Path: r.Path, Verb: r.Verb}
	}
	return &authzv1.SubjectAccessReview{Spec: spec}
}

func ruleSet(rules []rbacv1.PolicyRule) []string {
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		out = append(out, fmt.Sprintf("%q %q %q %q %q", r.Verbs, r.APIGroups, r.Resources, r.ResourceNames, r.NonResourceURLs))
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// TestRBACAgreesWithTheAPIServer loads a corpus of roles and bindings into
// a real kube-apiserver (with kube-controller-manager aggregating
// ClusterRoles) and checks, for every subject × verb × resource × namespace
// of a grid, that Bulwark's answer, from the manifests and from the live
// cluster, is the SubjectAccessReview's. It also checks the embedded
// bootstrap policy against the apiserver's, and bulwark rbac can against
// kubectl auth can-i --as.
func TestRBACAgreesWithTheAPIServer(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{ControllerManager: true})
	if err := c.Apply(ctx, rbacCorpus); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	objs, err := k8s.Decode("corpus.yaml", []byte(rbacCorpus))
	if err != nil {
		t.Fatal(err)
	}
	fromFiles, err := rbac.Load(objs, rbac.LoadOptions{Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}

	// The controller-manager aggregates asynchronously: wait until every
	// aggregated ClusterRole in the cluster has the rules Bulwark computed.
	aggregated := []string{"widget-reader", "widget-super", "view", "edit", "admin"}
	err = cluster.Eventually(ctx, 90*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
		for _, name := range aggregated {
			live, err := client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			got, want := ruleSet(live.Rules), ruleSet(fromFiles.ClusterRole(name).Rules)
			if !slices.Equal(got, want) {
				return fmt.Errorf("ClusterRole %s: cluster has %d rules, Bulwark computed %d:\ncluster: %s\nbulwark: %s",
					name, len(got), len(want), strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("aggregation: %v", err)
	}

	t.Run("bootstrap policy matches the apiserver's", func(t *testing.T) {
		live, err := client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/bootstrapping=rbac-defaults"})
		if err != nil {
			t.Fatal(err)
		}
		if len(live.Items) < 50 {
			t.Fatalf("only %d bootstrap ClusterRoles in the cluster", len(live.Items))
		}
		for _, cr := range live.Items {
			mine := fromFiles.ClusterRole(cr.Name)
			if mine == nil || !mine.Bootstrap {
				t.Errorf("ClusterRole %s: not in Bulwark's bootstrap policy", cr.Name)
				continue
			}
			if got, want := ruleSet(mine.Rules), ruleSet(cr.Rules); !slices.Equal(got, want) {
				t.Errorf("ClusterRole %s: Bulwark has\n  %s\nthe apiserver has\n  %s", cr.Name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		}
		crbs, err := client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/bootstrapping=rbac-defaults"})
		if err != nil {
			t.Fatal(err)
		}
		mine := map[string]*rbac.Binding{}
		for _, b := range fromFiles.Bindings() {
			if b.Bootstrap && b.Kind == "ClusterRoleBinding" {
				mine[b.Name] = b
			}
		}
		for _, b := range crbs.Items {
			m := mine[b.Name]
			if m == nil {
				t.Errorf("ClusterRoleBinding %s: not in Bulwark's bootstrap policy", b.Name)
				continue
			}
			if m.RoleRef != b.RoleRef || fmt.Sprint(m.Subjects) != fmt.Sprint(b.Subjects) {
				t.Errorf("ClusterRoleBinding %s: Bulwark has %v %v, the apiserver %v %v", b.Name, m.RoleRef, m.Subjects, b.RoleRef, b.Subjects)
			}
		}
	})

	fromCluster, err := rbac.FromCluster(ctx, client)
	if err != nil {
		t.Fatal(err)
	}

	g := rbacGrid()
	type question struct {
		user rbac.User
		req  rbac.Request
	}
	questions := make(chan question)
	var (
		mu       sync.Mutex
		failures []string
		asked    int
		allowed  int
	)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for q := range questions {
				resp, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar(q.user, q.req), metav1.CreateOptions{})
				mu.Lock()
				asked++
				switch {
				case err != nil:
					failures = append(failures, fmt.Sprintf("%v: %s: SubjectAccessReview: %v", q.user, q.req, err))
				default:
					if resp.Status.Allowed {
						allowed++
					}
					files := fromFiles.Authorize(q.user, q.req)
					live := fromCluster.Authorize(q.user, q.req)
					if files.Allowed != resp.Status.Allowed || live.Allowed != resp.Status.Allowed {
						failures = append(failures, fmt.Sprintf("%s %v: %s: apiserver %v (%s), bulwark from files %v (%s), from the cluster %v (%s)",
							q.user.Name, q.user.Groups, q.req, resp.Status.Allowed, resp.Status.Reason, files.Allowed, files.Reason, live.Allowed, live.Reason))
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, u := range g.users {
		for _, r := range g.reqs {
			questions <- question{u, r}
		}
	}
	close(questions)
	wg.Wait()
	t.Logf("%d SubjectAccessReviews, %d allowed", asked, allowed)
	if allowed == 0 || allowed == asked {
		t.Errorf("a grid where everything is %v proves nothing", allowed != 0)
	}
	if len(failures) > 0 {
		sort.Strings(failures)
		t.Errorf("%d of %d answers differ from the apiserver's:\n%s", len(failures), asked, strings.Join(failures[:min(len(failures), 60)], "\n"))
	}

	t.Run("bulwark rbac can agrees with kubectl auth can-i", func(t *testing.T) {
		corpus := filepath.Join(t.TempDir(), "corpus.yaml")
		if err := os.WriteFile(corpus, []byte(rbacCorpus), 0o600); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			kubectl []string // after auth can-i
			bulwark []string // after rbac can
		}{
			{[]string{"create", "pods", "--as", "reader", "-n", "team-b"}, nil},
			{[]string{"list", "pods", "--as", "reader", "-n", "team-b"}, nil},
			{[]string{"list", "pods", "--as", "reader", "-n", "team-a"}, nil},
			{[]string{"get", "deployments.apps", "--as", "eve", "--as-group", "widget-readers", "-n", "team-b"}, nil},
			{[]string{"get", "deploy", "--subresource", "scale", "--as", "eve", "--as-group", "widget-readers", "-n", "team-b"}, nil},
			{[]string{"update", "deployments.apps", "--subresource", "scale", "--as", "ops", "-A"}, nil},
			{[]string{"create", "pods", "--subresource", "exec", "--as", "system:serviceaccount:team-a:ci", "-n", "team-b"},
				[]string{"create", "pods/exec", "--as", "system:serviceaccount:team-a:ci", "-n", "team-b"}},
			{[]string{"create", "pods", "--subresource", "exec", "--as", "system:serviceaccount:team-b:ci", "-n", "team-b"}, nil},
			{[]string{"create", "serviceaccounts", "--subresource", "token", "--as", "system:serviceaccount:team-b:builder", "-n", "team-a"},
				[]string{"create", "serviceaccounts/token", "--as", "system:serviceaccount:team-b:builder", "-n", "team-a"}},
			{[]string{"get", "secrets/db-password", "--as", "bob", "-n", "team-a"}, nil},
			{[]string{"get", "secrets/other", "--as", "bob", "-n", "team-a"}, nil},
			{[]string{"list", "secrets", "--as", "bob", "-n", "team-a"}, nil},
			{[]string{"list", "secrets", "--as", "alice", "-n", "team-a"}, nil},
			{[]string{"delete", "configmaps", "--as", "alice", "-n", "team-a"}, nil},
			{[]string{"delete", "configmaps", "--as", "alice", "-n", "team-b"}, nil},
			{[]string{"get", "/healthz", "--as", "nobody"}, nil},
			{[]string{"get", "/metrics/cadvisor", "--as", "nobody"}, nil},
			{[]string{"get", "/metrics", "--as", "nobody"}, nil},
			{[]string{"delete", "nodes", "--as", "carol"}, nil},
			{[]string{"get", "pods/anything", "--as", "carol", "-n", "team-a"}, nil},
			{[]string{"*", "*", "--as", "dave", "-n", "team-a"}, nil},
			{[]string{"create", "rolebindings.rbac.authorization.k8s.io", "--as", "dave", "-n", "team-a"}, nil},
			{[]string{"list", "roles.rbac.authorization.k8s.io", "--as", "ops", "-n", "team-a"}, nil},
			{[]string{"create", "deployments.apps", "--as", "system:serviceaccount:team-a:ci", "-n", "team-a"}, nil},
			{[]string{"create", "deployments.apps", "--as", "system:serviceaccount:team-a:ci", "--as-group", "x", "-n", "team-b"}, nil},
		}
		for _, tc := range cases {
			name := strings.Join(tc.kubectl, " ")
			_, _, kerr := c.Kubectl(ctx, append([]string{"auth", "can-i"}, tc.kubectl...)...)
			want := kerr == nil
			if kerr != nil && !strings.Contains(kerr.Error(), "exit status 1") {
				t.Fatalf("kubectl auth can-i %s: %v", name, kerr)
			}
			args := tc.bulwark
			if args == nil {
				args = tc.kubectl
			}
			var out, errOut bytes.Buffer
			code := cli.Run(ctx, append(append([]string{"rbac", "can"}, args...), "-f", corpus), cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
			got := code == 0
			if code > 1 {
				t.Errorf("bulwark rbac can %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
				continue
			}
			if got != want || strings.TrimSpace(out.String()) != map[bool]string{true: "yes", false: "no"}[want] {
				t.Errorf("can-i %s: kubectl says %v, bulwark says %q (exit %d)", name, want, strings.TrimSpace(out.String()), code)
			}
			// And through the live cluster.
			out.Reset()
			code = cli.Run(ctx, append(append([]string{"rbac", "can"}, args...), "--kubeconfig", c.Kubeconfig()), cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
			if (code == 0) != want || code > 1 {
				t.Errorf("can-i %s: kubectl says %v, bulwark --kubeconfig exits %d: %s", name, want, code, errOut.String())
			}
		}
	})
}

// netpolCorpus is a small cluster for the live NetworkPolicy analysis: the
// apiserver defaults and converts it (policyTypes, protocols, integer
// ports), and Bulwark must read back the same connectivity it computes from
// the manifests.
const netpolCorpus = `
apiVersion: v1
kind: Namespace
metadata: {name: np-dev, labels: {env: dev}}
---
apiVersion: v1
kind: Namespace
metadata: {name: np-prod, labels: {env: prod}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: np-prod}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: np-dev}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: registry.k8s.io/pause:3.10, ports: [{name: http, containerPort: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: np-dev}
spec:
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec: {containers: [{name: w, image: registry.k8s.io/pause:3.10}]}
---
apiVersion: v1
kind: Pod
metadata: {name: centos, namespace: np-prod, labels: {app: centos}}
spec: {containers: [{name: c, image: registry.k8s.io/pause:3.10}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: np-dev}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: worker}}}]
    ports: [{port: http}]
  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
    ports: [{port: 9000, endPort: 9100}]
  egress:
  - to: [{namespaceSelector: {matchLabels: {env: dev}}}]
  - ports: [{port: 53, protocol: UDP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: np-prod}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
`

// TestNetpolFromTheCluster checks that bulwark netpol --kubeconfig reads
// back from a real apiserver the connectivity it computes from the same
// manifests.
func TestNetpolFromTheCluster(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(ctx, t, cluster.Options{})
	if err := c.CreateNamespace(ctx, "np-dev", map[string]string{"env": "dev"}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateNamespace(ctx, "np-prod", map[string]string{"env": "prod"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, netpolCorpus); err != nil {
		t.Fatal(err)
	}
	corpus := filepath.Join(t.TempDir(), "netpol.yaml")
	if err := os.WriteFile(corpus, []byte(netpolCorpus), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := cli.Run(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}); code != 0 {
			t.Fatalf("bulwark %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
		}
		return out.String()
	}
	fromFiles := run("netpol", "-f", corpus)
	fromCluster := run("netpol", "--kubeconfig", c.Kubeconfig())
	if fromFiles != fromCluster {
		t.Errorf("connections differ:\nfrom the manifests:\n%s\nfrom the cluster:\n%s", fromFiles, fromCluster)
	}
	for _, want := range []string{
		"np-dev/worker => np-dev/web : TCP 8080",
		"10.0.0.0/8 except 10.1.0.0/16 => np-dev/web : TCP 9000-9100",
		"np-dev/web => internet : UDP 53",
	} {
		if !strings.Contains(fromCluster, want+"\n") {
			t.Errorf("from the cluster: no %q in\n%s", want, fromCluster)
		}
	}
	if strings.Contains(fromCluster, "np-prod/centos =>") || strings.Contains(fromCluster, "=> np-prod/centos") {
		t.Errorf("np-prod is default-deny, yet:\n%s", fromCluster)
	}
}

package rbac

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

func TestChecksAreValid(t *testing.T) {
	if _, err := controls.NewCatalog(Checks()...); err != nil {
		t.Fatal(err)
	}
	for _, c := range Checks() {
		if !strings.HasPrefix(c.ID, "BW-ANL-0") || c.Engine != controls.EngineAnalyze || !slices.Contains(c.Requirements, "REQ-02") {
			t.Errorf("check %s: bad ID, engine or requirement: %+v", c.ID, c)
		}
	}
	if len(specs()) != len(Checks()) {
		t.Errorf("%d specs for %d checks", len(specs()), len(Checks()))
	}
}

// binding builds a role and a binding of it to subject.
func binding(kind, ns, name, subject, rules string) string {
	roleKind, bindingKind := "ClusterRole", "ClusterRoleBinding"
	nsLine := ""
	if kind == "ns" {
		roleKind, bindingKind = "Role", "RoleBinding"
		nsLine = ", namespace: " + ns
	}
	return fmt.Sprintf(`
apiVersion: rbac.authorization.k8s.io/v1
kind: %[1]s
metadata: {name: %[3]s%[4]s}
rules: %[6]s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: %[2]s
metadata: {name: %[3]s%[4]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: %[1]s, name: %[3]s}
subjects: [%[5]s]
---`, roleKind, bindingKind, name, nsLine, subject, rules)
}

func TestFindings(t *testing.T) {
	const user = "{kind: User, name: mallory}"
	tests := []struct {
		name     string
		manifest string
		opts     Options
		want     []string // check IDs
	}{
		{"secret reader", binding("ns", "dev", "r", user, `[{apiGroups: [""], resources: [secrets], verbs: [list]}]`), Options{}, []string{CheckSecretReaders}},
		{"one named secret is fine", binding("ns", "dev", "r", user, `[{apiGroups: [""], resources: [secrets], verbs: [get], resourceNames: [app]}]`), Options{}, nil},
		{"configmaps are fine", binding("ns", "dev", "r", user, `[{apiGroups: [""], resources: [configmaps], verbs: [get, list, watch, create, update, delete]}]`), Options{}, nil},
		{"pod creator", binding("ns", "dev", "r", user, `[{apiGroups: [""], resources: [pods], verbs: [create]}]`), Options{}, []string{CheckWorkloadCreators}},
		{"deployment patcher", binding("ns", "dev", "r", user, `[{apiGroups: [apps], resources: [deployments], verbs: [patch]}]`), Options{}, []string{CheckWorkloadCreators}},
		{"cronjob creator", binding("ns", "dev", "r", user, `[{apiGroups: [batch], resources: [cronjobs], verbs: [create]}]`), Options{}, []string{CheckWorkloadCreators}},
		{"exec", binding("ns", "dev", "r", user, `[{apiGroups: [""], resources: [pods/exec], verbs: [create]}]`), Options{}, []string{CheckExecAttach}},
		{"attach via star sub", binding("ns", "dev", "r", user, `[{apiGroups: [""], resources: ["*/attach"], verbs: [get]}]`), Options{}, []string{CheckExecAttach}},
		{"escalate", binding("cluster", "", "r", user, `[{apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [escalate]}]`), Options{}, []string{CheckEscalation}},
		{"bind", binding("ns", "dev", "r", user, `[{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [bind]}]`), Options{}, []string{CheckEscalation}},
		{"impersonate", binding("cluster", "", "r", user, `[{apiGroups: [""], resources: [users, groups], verbs: [impersonate]}]`), Options{}, []string{CheckEscalation}},
		{"nodes/proxy", binding("cluster", "", "r", user, `[{apiGroups: [""], resources: [nodes/proxy], verbs: [get]}]`), Options{}, []string{CheckNodeProxy}},
		{"nodes/proxy in a RoleBinding is nothing", binding("ns", "dev", "r", user, `[{apiGroups: [""], resources: [nodes/proxy], verbs: [get]}]`), Options{}, nil},
		{"wildcard verbs", binding("ns", "dev", "r", user, `[{apiGroups: [""], resources: [configmaps], verbs: ["*"]}]`), Options{}, []string{CheckWildcard}},
		{"wildcard resources", binding("ns", "dev", "r", user, `[{apiGroups: [example.com], resources: ["*"], verbs: [get]}]`), Options{}, []string{CheckWildcard}},
		{"webhooks", binding("cluster", "", "r", user, `[{apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], verbs: [update]}]`), Options{}, []string{CheckAdmissionConfig, CheckBulwarkTamper}},
		{"other webhook by name", binding("cluster", "", "r", user, `[{apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], verbs: [update], resourceNames: [istio]}]`), Options{}, []string{CheckAdmissionConfig}},
		{"bulwark webhook by name", binding("cluster", "", "r", user, `[{apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], verbs: [delete], resourceNames: [bulwark-mutating]}]`), Options{}, []string{CheckAdmissionConfig, CheckBulwarkTamper}},
		{"crds", binding("cluster", "", "r", user, `[{apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], verbs: [create]}]`), Options{}, []string{CheckCRDWrite}},
		{"write in bulwark-system", binding("ns", "bulwark-system", "r", user, `[{apiGroups: [""], resources: [configmaps], verbs: [update]}]`), Options{}, []string{CheckBulwarkTamper}},
		{"write in another protected namespace", binding("ns", "guard", "r", user, `[{apiGroups: [""], resources: [configmaps], verbs: [update]}]`), Options{ProtectedNamespace: "guard"}, []string{CheckBulwarkTamper}},
		{"delete the namespace", binding("cluster", "", "r", user, `[{apiGroups: [""], resources: [namespaces], verbs: [delete], resourceNames: [bulwark-system]}]`), Options{}, []string{CheckBulwarkTamper}},
		{"token", binding("ns", "dev", "r", user, `[{apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}]`), Options{}, []string{CheckTokenCreation}},
		{"read-only everything", binding("cluster", "", "r", user, `[{apiGroups: ["*"], resources: [pods, services], verbs: [get, list, watch]}]`), Options{}, nil},
		{"exempt controller", binding("cluster", "", "r", "{kind: User, name: system:kube-controller-manager, apiGroup: rbac.authorization.k8s.io}", `[{apiGroups: [""], resources: [secrets], verbs: [list]}]`), Options{}, nil},
		{"exempt kube-system SA", binding("cluster", "", "r", "{kind: ServiceAccount, name: x, namespace: kube-system}", `[{apiGroups: [""], resources: [secrets], verbs: [list]}]`), Options{}, nil},
		{"masters are not exempt", binding("cluster", "", "r", "{kind: Group, name: system:masters}", `[{apiGroups: [""], resources: [secrets], verbs: [list]}]`), Options{}, []string{CheckSecretReaders}},
		{"authenticated is not exempt", binding("cluster", "", "r", "{kind: Group, name: system:authenticated}", `[{apiGroups: [""], resources: [secrets], verbs: [list]}]`), Options{}, []string{CheckSecretReaders}},
		{"no default exemptions", binding("cluster", "", "r", "{kind: ServiceAccount, name: x, namespace: kube-system}", `[{apiGroups: [""], resources: [secrets], verbs: [list]}]`), Options{NoDefaultExemptions: true}, []string{CheckSecretReaders}},
		{"allow-listed", binding("cluster", "", "r", "{kind: ServiceAccount, name: argo, namespace: argocd}", `[{apiGroups: [""], resources: [secrets], verbs: [list]}]`), Options{Allow: []string{"ServiceAccount:argocd:*"}}, nil},
		{"allow-list is exact", binding("cluster", "", "r", "{kind: ServiceAccount, name: argo, namespace: argocd2}", `[{apiGroups: [""], resources: [secrets], verbs: [list]}]`), Options{Allow: []string{"ServiceAccount:argocd:*"}}, []string{CheckSecretReaders}},
		{"binding to view", `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: v, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: reader}]`, Options{}, nil},
		{"binding to edit", `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: e, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: User, name: dev}]`, Options{}, []string{CheckSecretReaders, CheckWorkloadCreators, CheckExecAttach, CheckTokenCreation,
			CheckEscalation}}, // edit may impersonate the namespace's service accounts
		{"binding to cluster-admin", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ca}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: root}]`, Options{}, []string{
			CheckSecretReaders, CheckWorkloadCreators, CheckExecAttach, CheckEscalation, CheckNodeProxy,
			CheckWildcard, CheckAdmissionConfig, CheckCRDWrite, CheckBulwarkTamper, CheckTokenCreation}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := k8s.Decode("rbac.yaml", []byte(tt.manifest))
			if err != nil {
				t.Fatal(err)
			}
			fs, cov, err := Analyze(objs, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Check)
				if f.Engine != controls.EngineAnalyze || f.File != "rbac.yaml" || f.Line == 0 || f.Object.Name == "" {
					t.Errorf("finding lacks engine, position or object: %+v", f)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				for _, f := range fs {
					t.Log(f.Check, f.Message)
				}
				t.Errorf("checks = %v, want %v", got, want)
			}
			for _, c := range Checks() {
				if cov.Evaluated[c.ID] == 0 {
					t.Errorf("coverage does not mark %s evaluated", c.ID)
				}
			}
		})
	}
}

func TestFindingMessage(t *testing.T) {
	objs, err := k8s.Decode("rbac.yaml", []byte(binding("ns", "dev", "reader", "{kind: ServiceAccount, name: app}", `[{apiGroups: [""], resources: [secrets], verbs: [get, list]}]`)))
	if err != nil {
		t.Fatal(err)
	}
	fs, _, err := Analyze(objs, Options{})
	if err != nil || len(fs) != 1 {
		t.Fatalf("findings %v, %v", fs, err)
	}
	want := "ServiceAccount dev/app can get,list secrets in namespace dev (RoleBinding/dev/reader → Role/dev/reader)"
	if fs[0].Message != want {
		t.Errorf("message %q, want %q", fs[0].Message, want)
	}
	if fs[0].Object.String() != "RoleBinding/dev/reader" || fs[0].Line != 7 {
		t.Errorf("object %s line %d", fs[0].Object, fs[0].Line)
	}
}

func TestCoverageWithoutBindings(t *testing.T) {
	_, cov, err := Analyze(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cov.Evaluated) != 0 || len(cov.NotAssessed) != len(Checks()) {
		t.Errorf("coverage %+v: want every check not assessed", cov)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, manifest, want string
	}{
		{"unknown field", `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r, namespace: dev}
rules:
- {apiGroups: [""], resources: [pods], verb: [get]}`, `bad.yaml:2: Role/dev/r: unknown field "rules[0].verb"`},
		{"no verbs", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}
rules:
- {apiGroups: [""], resources: [pods]}`, `bad.yaml:2: ClusterRole/r: rules[0]: verbs: at least one verb is required`},
		{"bad selector operator", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agg}
aggregationRule:
  clusterRoleSelectors:
  - matchExpressions: [{key: a, operator: Has, values: [b]}]`, `bad.yaml:2: ClusterRole/agg: aggregationRule.clusterRoleSelectors[0]: "Has" is not a valid label selector operator`},
		{"wrong type", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}
rules: {verbs: [get]}`, `bad.yaml:2: ClusterRole/r: cannot unmarshal object into Go struct field ClusterRole.rules of type []v1.PolicyRule`},
		{"role in ClusterRoleBinding", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: b}
roleRef: {kind: Role, name: r}
subjects: [{kind: User, name: u}]`, `bad.yaml:2: ClusterRoleBinding/b: roleRef.kind: unsupported value "Role"`},
		{"bad subject kind", `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: x}
roleRef: {kind: ClusterRole, name: view, apiGroup: rbac.authorization.k8s.io}
subjects: [{kind: Robot, name: u}]`, `bad.yaml:2: RoleBinding/x/b: subjects[0].kind: unsupported value "Robot"`},
		{"SA without namespace in ClusterRoleBinding", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: b}
roleRef: {kind: ClusterRole, name: view, apiGroup: rbac.authorization.k8s.io}
subjects: [{kind: ServiceAccount, name: u}]`, `subjects[0].namespace: Required value`},
		{"duplicate", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}`, `bad.yaml:6: ClusterRole/r: defined twice (first at bad.yaml:2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := k8s.Decode("bad.yaml", []byte(tt.manifest))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Analyze(objs, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			var oe *ObjectError
			if !errors.As(err, &oe) {
				t.Errorf("error %T is not an *ObjectError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	if _, _, err := Analyze(nil, Options{Allow: []string{"alice"}}); err == nil {
		t.Error("a bad allow-list entry should fail")
	}
}

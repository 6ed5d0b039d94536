package rbac_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/cli"
)

const corpus = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cluster-readers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: reader}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: Group, name: developers}
- {kind: ServiceAccount, name: ci}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: health, namespace: dev}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get], resourceNames: [web]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: health, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: health}
subjects: [{kind: User, name: prober}]
`

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestCommand(t *testing.T) {
	f := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(f, []byte(corpus), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		out, err string
	}{
		// The seed's "a cluster reader cannot create resources".
		{"reader cannot create pods", "", []string{"rbac", "can", "create", "pods", "--as", "reader", "-n", "production", "-f", f}, 1, "no\n", ""},
		{"reader can list pods", "", []string{"rbac", "can", "list", "pods", "--as", "reader", "-n", "production", "-f", f}, 0, "yes\n", ""},
		{"reader cannot create deployments", "", []string{"rbac", "can", "create", "deployments.apps", "--as", "reader", "-f", f}, 1, "no\n", ""},
		{"why", "", []string{"rbac", "can", "list", "po", "--as", "reader", "-f", f, "--why"}, 0, "yes (ClusterRoleBinding/cluster-readers → ClusterRole/view)\n", ""},
		{"exec by group", "", []string{"rbac", "can", "create", "pods/exec", "--as", "dana", "--as-group", "developers", "-n", "dev", "-f", f}, 0, "yes\n", ""},
		{"exec elsewhere", "", []string{"rbac", "can", "create", "pods/exec", "--as", "dana", "--as-group", "developers", "-n", "prod", "-f", f}, 1, "no\n", ""},
		{"service account", "", []string{"rbac", "can", "create", "deployments", "--as", "system:serviceaccount:dev:ci", "-n", "dev", "-f", f}, 0, "yes\n", ""},
		{"resource name", "", []string{"rbac", "can", "get", "pods/web", "--as", "prober", "-n", "dev", "-f", f}, 0, "yes\n", ""},
		{"other name", "", []string{"rbac", "can", "get", "pods/db", "--as", "prober", "-n", "dev", "-f", f}, 1, "no\n", ""},
		{"subresource flag makes a name", "", []string{"rbac", "can", "get", "pods/web", "--subresource", "log", "--as", "prober", "-n", "dev", "-f", f}, 1, "no\n", ""},
		{"non-resource URL", "", []string{"rbac", "can", "get", "/version", "--as", "anyone", "-f", f}, 0, "yes\n", ""},
		{"cluster-scoped warning", "", []string{"rbac", "can", "list", "nodes", "--as", "reader", "-n", "dev", "-f", f}, 1, "no\n", "Warning: resource 'nodes' is not namespace scoped"},
		{"unknown resource warning", "", []string{"rbac", "can", "get", "widgets", "--as", "reader", "-f", f}, 1, "no\n", "doesn't have a resource type 'widgets'"},
		{"no bootstrap", "", []string{"rbac", "can", "list", "pods", "--as", "reader", "--no-bootstrap", "-f", f}, 1, "no\n", ""},
		{"--as is required", "", []string{"rbac", "can", "get", "pods", "-f", f}, 2, "", "--as USER is required"},
		{"who-can", "", []string{"rbac", "who-can", "create", "pods", "-n", "dev", "-f", f}, 0, "Group developers", ""},
		{"who-can json", "", []string{"rbac", "who-can", "get", "pods/web", "-n", "dev", "-f", f, "-o", "json"}, 0, `"name": "prober"`, ""},
		{"permissions", "", []string{"rbac", "-f", f}, 0, "User prober            dev    get", ""},
		{"findings", "", []string{"rbac", "findings", "-f", f}, 1, "BW-ANL-001", ""},
		{"findings allow-listed", "", []string{"rbac", "findings", "-f", f, "--allow", "Group:developers", "--allow", "ServiceAccount:dev:*"}, 0, "0 findings", ""},
		{"bad allow", "", []string{"rbac", "findings", "-f", f, "--allow", "developers"}, 2, "", "want KIND:NAME"},
		{"bad role", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: dev}\nrules: [{apiGroups: [''], resources: [pods], verbz: [get]}]\n",
			[]string{"rbac", "-f", "-"}, 2, "", `-:1: Role/dev/r: unknown field "rules[0].verbz"`},
		{"no input", "", []string{"rbac", "who-can", "get", "pods"}, 2, "", "-f FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stdout %q, stderr %q)", code, tt.code, out, errOut)
			}
			if tt.out != "" && !strings.Contains(out, tt.out) {
				t.Errorf("stdout %q does not contain %q", out, tt.out)
			}
			if tt.err != "" && !strings.Contains(errOut, tt.err) {
				t.Errorf("stderr %q does not contain %q", errOut, tt.err)
			}
		})
	}
}

func TestPermissionsJSON(t *testing.T) {
	code, out, errOut := run(t, corpus, "rbac", "-f", "-", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var grants []struct {
		Subject struct{ Kind, Name, Namespace string }
		Binding string
		Role    string
		Line    int
		Rules   []json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &grants); err != nil {
		t.Fatal(err)
	}
	if len(grants) != 4 {
		t.Fatalf("%d grants, want 4 (reader, developers, dev/ci, prober): %s", len(grants), out)
	}
	for _, g := range grants {
		if g.Subject.Kind == "ServiceAccount" && (g.Subject.Namespace != "dev" || g.Binding != "RoleBinding/dev/devs" || g.Role != "ClusterRole/edit" || len(g.Rules) < 10) {
			t.Errorf("service account grant %+v", g)
		}
	}
}

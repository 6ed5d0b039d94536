package admission_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/admission"
	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/scan"
)

// installed writes the manifests of a default installation to a file.
func installed(t *testing.T) string {
	t.Helper()
	objs, err := admission.Manifests(admission.InstallOptions{
		Image:            admission.DefaultImageRepo + ":v0.1.0",
		Config:           []byte("apiVersion: bulwark.dev/v1alpha1\nkind: Config\n"),
		Labels:           map[string]string{"cost-center": "platform-security"},
		Mutation:         admission.Mutation{ImagePullPolicyAlways: true},
		APIServerCIDRs:   []string{"10.0.0.1/32"},
		ExemptNamespaces: []string{"kube-system"},
		Audit:            &admission.AuditReceiver{StorageClass: "managed-csi", SinkCIDRs: []string{"10.20.0.0/24"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := admission.YAML(objs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// selfScanConfig is the default configuration with nothing exempt (so that
// every check judges bulwark's own namespace) and bulwark's image registry
// allowed.
func selfScanConfig() *config.Config {
	cfg := config.Default()
	cfg.ExemptNamespaces = nil
	cfg.Registries.Allowed = append(cfg.Registries.Allowed, "ghcr.io/bulwark-k8s/")
	return cfg
}

func findingsOf(t *testing.T, path string, cfg *config.Config) []string {
	t.Helper()
	res, err := scan.Run(context.Background(), scan.Options{Paths: []string{path}, Config: cfg, Loader: k8s.Loader{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("scan errors: %v", res.Errors)
	}
	if len(res.Objects) < 15 {
		t.Fatalf("scanned %d objects, want every manifest", len(res.Objects))
	}
	var out []string
	for _, f := range res.Findings {
		out = append(out, f.Check+" "+f.Object.Kind+"/"+f.Object.Name)
	}
	sort.Strings(out)
	return out
}

// TestInstallPassesOwnChecks scans bulwark's own manifests with the whole
// built-in library and every analyzer, with no namespace exempt.
// Bulwark needs two permissions its checks flag, and the checks' own
// allow-lists declare them: read of constraints.gatekeeper.sh/* (the
// constraint kinds come into being with their templates, so RBAC cannot
// name them: BW-K8S-002, BW-ANL-006) and get/update of its certificate
// Secret plus update of its own webhook configurations and CRDs
// (BW-K8S-004, BW-ANL-007/008/009).
func TestInstallPassesOwnChecks(t *testing.T) {
	path := installed(t)

	t.Run("without allowances, only the declared needs are found", func(t *testing.T) {
		got := findingsOf(t, path, selfScanConfig())
		want := []string{
			"BW-ANL-006 ClusterRoleBinding/bulwark",
			"BW-ANL-007 ClusterRoleBinding/bulwark",
			"BW-ANL-008 ClusterRoleBinding/bulwark",
			"BW-ANL-009 ClusterRoleBinding/bulwark",
			"BW-ANL-009 RoleBinding/bulwark",
			"BW-K8S-002 ClusterRole/bulwark",
			"BW-K8S-004 RoleBinding/bulwark",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("with bulwark allowed its needs, no finding", func(t *testing.T) {
		cfg := selfScanConfig()
		cfg.RBAC.AllowedSubjects = []string{"system:serviceaccount:bulwark-system:bulwark"}
		cfg.Checks = map[string]config.CheckConfig{"BW-K8S-002": {Parameters: map[string]any{"exemptRoles": []any{"bulwark"}}}}
		if got := findingsOf(t, path, cfg); len(got) > 0 {
			t.Errorf("findings on bulwark's own manifests:\n%s", strings.Join(got, "\n"))
		}
	})
}

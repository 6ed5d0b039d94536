package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	c := Default()
	if c.APIVersion != APIVersion || c.Kind != Kind {
		t.Fatalf("default apiVersion/kind %s/%s", c.APIVersion, c.Kind)
	}
	if len(c.Registries.Allowed) == 0 || len(c.ExemptNamespaces) == 0 || len(c.Labels.Required) == 0 {
		t.Errorf("defaults missing allow-lists: %+v", c)
	}
}

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadOverridesDefaults(t *testing.T) {
	p := write(t, `apiVersion: bulwark.dev/v1alpha1
kind: Config
registries:
  allowed: [myacr.azurecr.io/]
checks:
  BW-K8S-023: {enforcementAction: warn}
  BW-K8S-021: {disabled: true}
policies: [./policies]
audit:
  allowedSourceRanges: [10.0.0.0/8, 192.0.2.10]
  rules: [rules.yaml]
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Registries.Allowed, ",") != "myacr.azurecr.io/" {
		t.Errorf("registries.allowed = %v: a set field replaces the default", c.Registries.Allowed)
	}
	if len(c.ExemptNamespaces) == 0 {
		t.Error("an unset field lost its default")
	}
	if c.Check("BW-K8S-023").EnforcementAction != "warn" || !c.Check("BW-K8S-021").Disabled {
		t.Errorf("checks = %+v", c.Checks)
	}
	if c.Policies[0] != filepath.Join(filepath.Dir(p), "policies") || c.Audit.Rules[0] != filepath.Join(filepath.Dir(p), "rules.yaml") {
		t.Errorf("relative paths not resolved against the file: %v %v", c.Policies, c.Audit.Rules)
	}
	if c.Path != p {
		t.Errorf("path %q", c.Path)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"unknown field", "apiVersion: bulwark.dev/v1alpha1\nkind: Config\nregistry: {}\n", `unknown field "registry"`},
		{"wrong kind", "apiVersion: bulwark.dev/v1alpha1\nkind: Settings\n", "want bulwark.dev/v1alpha1/Config"},
		{"bad action", "apiVersion: bulwark.dev/v1alpha1\nkind: Config\nchecks: {BW-K8S-001: {enforcementAction: block}}\n", "checks.BW-K8S-001.enforcementAction"},
		{"bad severity", "apiVersion: bulwark.dev/v1alpha1\nkind: Config\nimages: {maxSeverity: SEVERE}\n", "images.maxSeverity"},
		{"bad cidr", "apiVersion: bulwark.dev/v1alpha1\nkind: Config\naudit: {allowedSourceRanges: [10.0.0.0/33]}\n", "audit.allowedSourceRanges"},
		{"bad label", "apiVersion: bulwark.dev/v1alpha1\nkind: Config\nsandbox: {untrustedLabel: untrusted}\n", "key=value"},
		{"bad yaml", "apiVersion: [\n", "invalid YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.content)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %v, want it to name the file and contain %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

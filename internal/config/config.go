package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/alert"
	"sigs.k8s.io/yaml"
)

// APIVersion and Kind of the configuration file.
const (
	APIVersion = "bulwark.dev/v1alpha1"
	Kind       = "Config"
)

//go:embed default.yaml
var defaultYAML []byte

// Config is bulwark.yaml.
type Config struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	// ExemptNamespaces are excluded from every namespaced policy check
	// (globs with '*' at either end).
	ExemptNamespaces []string   `json:"exemptNamespaces,omitempty"`
	Registries       Registries `json:"registries,omitempty"`
	Regions          Regions    `json:"regions,omitempty"`
	Labels           Labels     `json:"labels,omitempty"`
	PublicExposure   Exposure   `json:"publicExposure,omitempty"`
	Images           Images     `json:"images,omitempty"`
	RBAC             RBAC       `json:"rbac,omitempty"`
	Ingress          Ingress    `json:"ingress,omitempty"`
	Sandbox          Sandbox    `json:"sandbox,omitempty"`
	Audit            Audit      `json:"audit,omitempty"`
	// Alerts routes detection alerts to SIEM sinks (REQ-06).
	Alerts alert.Config `json:"alerts,omitempty"`
	// Checks holds per-check settings by check ID.
	Checks map[string]CheckConfig `json:"checks,omitempty"`
	// Policies are files or directories of ConstraintTemplates and
	// constraints loaded beside the built-in library, relative to the
	// configuration file.
	Policies []string `json:"policies,omitempty"`

	// Path is the file the configuration was read from ("" for defaults).
	Path string `json:"-"`
}

// Registries is the container registry allow-list (REQ-09).
type Registries struct {
	// Allowed are image prefixes allowed in every namespace, such as
	// "myregistry.azurecr.io/" or "mcr.microsoft.com/". A leading "*."
	// allows any subdomain ("*.azurecr.io/").
	Allowed []string `json:"allowed,omitempty"`
	// Namespaces replaces Allowed for the named namespaces.
	Namespaces map[string][]string `json:"namespaces,omitempty"`
}

// Regions is the data-sovereignty allow-list (REQ-08).
type Regions struct {
	Allowed []string `json:"allowed,omitempty"`
}

// Labels are the chargeback labels (REQ-10).
type Labels struct {
	// Required label keys on namespaces and workloads.
	Required []string `json:"required,omitempty"`
}

// Exposure governs public exposure (REQ-13).
type Exposure struct {
	// AllowedNamespaces may have public LoadBalancer Services.
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`
	// AllowedResourceGroups may hold public IP resources (posture).
	AllowedResourceGroups []string `json:"allowedResourceGroups,omitempty"`
}

// Images governs image management (REQ-12).
type Images struct {
	// RequireDigestNamespaces must reference images by digest.
	RequireDigestNamespaces []string `json:"requireDigestNamespaces,omitempty"`
	// MaxSeverity is the worst vulnerability severity allowed by the
	// vulnerability gate (CRITICAL, HIGH, MEDIUM, LOW).
	MaxSeverity string `json:"maxSeverity,omitempty"`
	// AllowedCVEs are ignored by the vulnerability gate.
	AllowedCVEs []string `json:"allowedCVEs,omitempty"`
}

// RBAC holds least-privilege allow-lists (REQ-02).
type RBAC struct {
	// AllowedSubjects may hold sensitive permissions (exec, secrets).
	AllowedSubjects []string `json:"allowedSubjects,omitempty"`
}

// Ingress governs exposed services (PRAC-INGRESS).
type Ingress struct {
	AllowedClasses []string `json:"allowedClasses,omitempty"`
}

// Sandbox governs container sandboxes (PRAC-SANDBOX).
type Sandbox struct {
	// UntrustedLabel selects namespaces whose pods need a RuntimeClass,
	// as key=value.
	UntrustedLabel string `json:"untrustedLabel,omitempty"`
	// RuntimeClasses are the accepted sandbox RuntimeClass names.
	RuntimeClasses []string `json:"runtimeClasses,omitempty"`
}

// Audit configures the detection rules on audit events (REQ-05a, 05b).
type Audit struct {
	// AllowedSourceRanges are the addresses and CIDR ranges API clients may
	// come from; setting them enables the source-address rule (REQ-05b).
	AllowedSourceRanges []string `json:"allowedSourceRanges,omitempty"`
	// SecretReaders may read secrets without an alert.
	SecretReaders []string `json:"secretReaders,omitempty"`
	// ExemptUsers never trigger Bulwark's rules (except the one guarding
	// Bulwark's own webhooks).
	ExemptUsers []string `json:"exemptUsers,omitempty"`
	// Rules are Falco k8s_audit rules files loaded after Bulwark's own,
	// relative to the configuration file.
	Rules []string `json:"rules,omitempty"`
}

// CheckConfig are the settings of one check.
type CheckConfig struct {
	Disabled          bool   `json:"disabled,omitempty"`
	EnforcementAction string `json:"enforcementAction,omitempty"`
	// Parameters are merged over the check's constraint parameters.
	Parameters map[string]any `json:"parameters,omitempty"`
}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := parse("<defaults>", defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("embedded default config: %v", err)) // a build defect, caught by tests
	}
	return c
}

// Load reads a configuration file. Fields it leaves out keep their
// defaults; a field it sets replaces the default.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, unwrapPath(err))
	}
	c, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	c.Path = path
	for _, list := range [][]string{c.Policies, c.Audit.Rules} {
		for i, p := range list {
			if !filepath.IsAbs(p) {
				list[i] = filepath.Join(filepath.Dir(path), p)
			}
		}
	}
	return c, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func parse(name string, data []byte) (*Config, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: invalid YAML: %w", name, err)
	}
	var base Config
	if name != "<defaults>" {
		base = *Default()
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&base); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	if base.APIVersion != APIVersion || base.Kind != Kind {
		return nil, fmt.Errorf("config %s: apiVersion/kind is %q/%q; want %s/%s", name, base.APIVersion, base.Kind, APIVersion, Kind)
	}
	if err := base.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return &base, nil
}

func (c *Config) validate() error {
	var errs []error
	for id, cc := range c.Checks {
		switch cc.EnforcementAction {
		case "", "deny", "warn", "dryrun":
		default:
			errs = append(errs, fmt.Errorf("checks.%s.enforcementAction: %q is not one of deny, warn, dryrun", id, cc.EnforcementAction))
		}
	}
	switch strings.ToUpper(c.Images.MaxSeverity) {
	case "", "CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE":
	default:
		errs = append(errs, fmt.Errorf("images.maxSeverity: %q is not one of CRITICAL, HIGH, MEDIUM, LOW, NONE", c.Images.MaxSeverity))
	}
	for _, r := range c.Audit.AllowedSourceRanges {
		if _, err := netip.ParsePrefix(r); err != nil {
			if _, err := netip.ParseAddr(r); err != nil {
				errs = append(errs, fmt.Errorf("audit.allowedSourceRanges: %q is neither an address nor a CIDR range", r))
			}
		}
	}
	if l := c.Sandbox.UntrustedLabel; l != "" && !strings.Contains(l, "=") {
		errs = append(errs, fmt.Errorf("sandbox.untrustedLabel: %q is not key=value", l))
	}
	return errors.Join(errs...)
}

// Check returns the settings of check id.
func (c *Config) Check(id string) CheckConfig { return c.Checks[id] }

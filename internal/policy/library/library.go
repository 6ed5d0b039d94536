package library

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
)

//go:embed all:checks
var files embed.FS

// FS returns the embedded library (templates, constraints, suites and
// samples), rooted at the folder that holds one folder per check.
func FS() fs.FS {
	sub, err := fs.Sub(files, "checks")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}

// Library is the parsed built-in library.
type Library struct {
	Templates   []*k8s.Object
	Constraints []*k8s.Object
}

// Load parses every template.yaml and constraint.yaml of the library.
func Load() (*Library, error) {
	lib := &Library{}
	seen := map[string]string{}
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		base := path.Base(p)
		if base != "template.yaml" && base != "constraint.yaml" {
			return nil
		}
		data, err := fs.ReadFile(FS(), p)
		if err != nil {
			return err
		}
		objs, err := k8s.Decode("library/"+p, data)
		if err != nil {
			return err
		}
		if len(objs) != 1 {
			return fmt.Errorf("library/%s: want exactly one object, got %d", p, len(objs))
		}
		o := objs[0]
		switch {
		case base == "template.yaml" && policy.IsTemplate(o):
			if prev, dup := seen[o.Name()]; dup {
				return fmt.Errorf("library/%s: template %s already defined in %s", p, o.Name(), prev)
			}
			seen[o.Name()] = p
			lib.Templates = append(lib.Templates, o)
		case base == "constraint.yaml" && policy.IsConstraint(o):
			lib.Constraints = append(lib.Constraints, o)
		default:
			return fmt.Errorf("library/%s: unexpected %s %s", p, o.APIVersion(), o.Kind())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(lib.Constraints, func(i, j int) bool { return lib.Constraints[i].Name() < lib.Constraints[j].Name() })
	return lib, nil
}

// CheckID returns the catalog ID a library constraint carries.
func CheckID(o *k8s.Object) string { return o.Annotations()[policy.AnnotationCheck] }

// Install compiles the library's templates into eng and adds its
// constraints configured by cfg. Checks disabled by cfg, or that cannot
// apply because cfg leaves their allow-list empty, are not added and are
// recorded as not assessed in the returned coverage.
func (lib *Library) Install(ctx context.Context, eng *policy.Engine, cfg *config.Config) (controls.Coverage, error) {
	var cov controls.Coverage
	for _, t := range lib.Templates {
		if _, err := eng.AddTemplate(ctx, t); err != nil {
			return cov, fmt.Errorf("%s: %w", t.Position(), err)
		}
	}
	var errs []error
	for _, c := range lib.Constraints {
		id := CheckID(c)
		cc := cfg.Check(id)
		if cc.Disabled {
			cov.Skip(id, "disabled in the configuration (checks."+id+".disabled)")
			continue
		}
		obj, skip, err := Configure(c, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("check %s: %w", id, err))
			continue
		}
		if skip != "" {
			cov.Skip(id, skip)
			continue
		}
		if _, err := eng.AddConstraint(obj); err != nil {
			errs = append(errs, fmt.Errorf("check %s (with the configuration applied): %w", id, err))
		}
	}
	return cov, errors.Join(errs...)
}

// Checks compiles the library with the default configuration and returns
// its catalog entries.
func Checks(ctx context.Context) ([]controls.Check, error) {
	lib, err := Load()
	if err != nil {
		return nil, err
	}
	eng := policy.New()
	for _, t := range lib.Templates {
		if _, err := eng.AddTemplate(ctx, t); err != nil {
			return nil, fmt.Errorf("%s: %w", t.Position(), err)
		}
	}
	var out []controls.Check
	for _, c := range lib.Constraints {
		con, err := eng.AddConstraint(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Position(), err)
		}
		out = append(out, con.Check)
	}
	return out, nil
}

// Configure returns a copy of a library constraint with cfg applied, or a
// reason why the check does not apply under cfg.
func Configure(c *k8s.Object, cfg *config.Config) (*k8s.Object, string, error) {
	content, ok := runtime.DeepCopyJSONValue(c.Content).(map[string]any)
	if !ok {
		return nil, "", errors.New("constraint is not an object")
	}
	obj := &k8s.Object{Content: content, File: c.File, Line: c.Line}
	spec := child(content, "spec")
	params := child(spec, "parameters")
	id := CheckID(c)
	if f, ok := configurers[id]; ok {
		if reason := f(cfg, params); reason != "" {
			return nil, reason, nil
		}
	}
	cc := cfg.Check(id)
	for k, v := range cc.Parameters {
		params[k] = v
	}
	if len(params) == 0 {
		delete(spec, "parameters")
	}
	if cc.EnforcementAction != "" {
		spec["enforcementAction"] = cc.EnforcementAction
	}
	if len(cfg.ExemptNamespaces) > 0 {
		match := child(spec, "match")
		ex, _ := match["excludedNamespaces"].([]any)
		for _, ns := range cfg.ExemptNamespaces {
			ex = append(ex, ns)
		}
		match["excludedNamespaces"] = ex
	}
	return obj, "", nil
}

func child(m map[string]any, key string) map[string]any {
	c, ok := m[key].(map[string]any)
	if !ok {
		c = map[string]any{}
		m[key] = c
	}
	return c
}

func list(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// configurers map configuration into the parameters of the checks that
// use it. A non-empty return value is why the check does not apply.
var configurers = map[string]func(cfg *config.Config, params map[string]any) string{
	"BW-K8S-004": func(cfg *config.Config, p map[string]any) string {
		p["allowedSubjects"] = list(cfg.RBAC.AllowedSubjects)
		return ""
	},
	"BW-K8S-007": func(cfg *config.Config, p map[string]any) string {
		if len(cfg.Regions.Allowed) == 0 {
			return "regions.allowed is empty in the configuration"
		}
		p["regions"] = list(cfg.Regions.Allowed)
		return ""
	},
	"BW-K8S-008": func(cfg *config.Config, p map[string]any) string {
		if len(cfg.Registries.Allowed) == 0 && len(cfg.Registries.Namespaces) == 0 {
			return "registries.allowed is empty in the configuration"
		}
		p["registries"] = list(cfg.Registries.Allowed)
		ns := map[string]any{}
		for k, v := range cfg.Registries.Namespaces {
			ns[k] = list(v)
		}
		p["namespaces"] = ns
		return ""
	},
	"BW-K8S-009": func(cfg *config.Config, p map[string]any) string {
		if len(cfg.Labels.Required) == 0 {
			return "labels.required is empty in the configuration"
		}
		p["labels"] = list(cfg.Labels.Required)
		return ""
	},
	"BW-K8S-014": func(cfg *config.Config, p map[string]any) string {
		if len(cfg.Images.RequireDigestNamespaces) == 0 {
			return "images.requireDigestNamespaces is empty in the configuration"
		}
		p["namespaces"] = list(cfg.Images.RequireDigestNamespaces)
		return ""
	},
	"BW-K8S-015": func(cfg *config.Config, p map[string]any) string {
		if s := strings.ToUpper(cfg.Images.MaxSeverity); s != "" {
			p["maxSeverity"] = s
		}
		p["allowedCVEs"] = list(cfg.Images.AllowedCVEs)
		return ""
	},
	"BW-K8S-016": func(cfg *config.Config, p map[string]any) string {
		p["allowedNamespaces"] = list(cfg.PublicExposure.AllowedNamespaces)
		return ""
	},
	"BW-K8S-024": func(cfg *config.Config, p map[string]any) string {
		if cfg.Sandbox.UntrustedLabel == "" {
			return "sandbox.untrustedLabel is empty in the configuration"
		}
		k, v, _ := strings.Cut(cfg.Sandbox.UntrustedLabel, "=")
		p["namespaceLabelKey"] = k
		p["namespaceLabelValue"] = v
		p["runtimeClasses"] = list(cfg.Sandbox.RuntimeClasses)
		return ""
	},
	"BW-K8S-027": func(cfg *config.Config, p map[string]any) string {
		if len(cfg.Ingress.AllowedClasses) == 0 {
			return "ingress.allowedClasses is empty in the configuration"
		}
		p["allowedClasses"] = list(cfg.Ingress.AllowedClasses)
		return ""
	},
}

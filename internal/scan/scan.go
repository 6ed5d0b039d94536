package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	"github.com/bulwark-k8s/bulwark/internal/analyze/netpol"
	"github.com/bulwark-k8s/bulwark/internal/analyze/rbac"
	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/detect"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
	"github.com/bulwark-k8s/bulwark/internal/policy/library"
	"github.com/bulwark-k8s/bulwark/internal/posture"
	"github.com/bulwark-k8s/bulwark/internal/report"
)

// Options configure a scan.
type Options struct {
	// Paths are the manifests to scan (files, directories, "-").
	Paths []string
	// Policies are extra files or directories of templates and constraints.
	Policies []string
	Config   *config.Config
	Loader   k8s.Loader
	// NoLibrary leaves the built-in library out.
	NoLibrary bool
	// Concurrency bounds the reviewing goroutines; 0 means GOMAXPROCS.
	Concurrency int
	Logger      *slog.Logger
}

// Result is what a scan found.
type Result struct {
	Objects  []*k8s.Object
	Findings []controls.Finding
	Coverage controls.Coverage
	Catalog  *controls.Catalog
	// Errors are objects that could not be fully evaluated.
	Errors []error
	// ConfigFiles counts the cluster configuration inputs judged by posture checks.
	ConfigFiles int
}

// Run scans. It returns an error when the inputs, the configuration or the
// policies cannot be read; findings and evaluation errors are in Result.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	objs, clusters, err := readInputs(opts.Loader, opts.Paths)
	if err != nil {
		return nil, err
	}
	var templates, constraints, targets []*k8s.Object
	for _, o := range objs {
		switch {
		case policy.IsTemplate(o):
			templates = append(templates, o)
		case policy.IsConstraint(o):
			constraints = append(constraints, o)
		case isTooling(o):
			log.Debug("skipping tooling object", "object", o.String(), "file", o.Position())
		default:
			targets = append(targets, o)
		}
	}
	var kindErrs []error
	for _, o := range targets {
		if err := k8s.CheckKind(o); err != nil {
			kindErrs = append(kindErrs, &k8s.DecodeError{File: o.File, Line: o.Line, Err: err})
		}
	}
	if err := errors.Join(kindErrs...); err != nil {
		return nil, err
	}
	extra, err := LoadPolicies(opts.Loader, append(append([]string{}, opts.Config.Policies...), opts.Policies...))
	if err != nil {
		return nil, err
	}
	extra.Templates = append(templates, extra.Templates...)
	extra.Constraints = append(constraints, extra.Constraints...)
	eng, cov, err := NewEngine(ctx, opts.Config, extra, opts.NoLibrary)
	if err != nil {
		return nil, err
	}
	res := &Result{Objects: targets}
	res.Coverage.Merge(cov)
	cat, err := catalog(ctx, eng, opts.NoLibrary)
	if err != nil {
		return nil, err
	}
	res.Catalog = cat
	for _, c := range eng.Constraints() {
		if c.Check.Scope == "admission" {
			res.Coverage.Skip(c.Check.ID, "enforced at admission only (bulwark serve --admission)")
		}
	}
	if err := eng.SetInventory(ctx, targets); err != nil {
		return nil, err
	}
	res.review(ctx, eng, opts.Concurrency)
	if !opts.NoLibrary {
		if err := res.analyze(targets, clusters, opts.Config); err != nil {
			return nil, err
		}
	}
	controls.SortFindings(res.Findings)
	return res, nil
}

// Policies are ConstraintTemplates and constraints added beside the
// built-in library.
type Policies struct {
	Templates   []*k8s.Object
	Constraints []*k8s.Object
}

// LoadPolicies reads files or directories that hold only templates and
// constraints (bulwark.yaml's policies, --policy).
func LoadPolicies(l k8s.Loader, paths []string) (Policies, error) {
	var p Policies
	if len(paths) == 0 {
		return p, nil
	}
	objs, err := l.Load(paths...)
	if err != nil {
		return p, fmt.Errorf("policies: %w", err)
	}
	for _, o := range objs {
		switch {
		case policy.IsTemplate(o):
			p.Templates = append(p.Templates, o)
		case policy.IsConstraint(o):
			p.Constraints = append(p.Constraints, o)
		case isTooling(o):
			// Gatekeeper's ExpansionTemplates, configs and suites kept beside
			// the policies: expansion is built in, the rest is not policy.
		default:
			return p, fmt.Errorf("%s: %s is neither a ConstraintTemplate nor a constraint", o.Position(), o.String())
		}
	}
	return p, nil
}

// NewEngine builds the policy engine that scan and admission share: the
// built-in library configured by cfg (unless noLibrary), then p's templates
// and constraints. The coverage records the library checks cfg leaves out.
func NewEngine(ctx context.Context, cfg *config.Config, p Policies, noLibrary bool) (*policy.Engine, controls.Coverage, error) {
	var cov controls.Coverage
	eng := policy.New()
	if !noLibrary {
		lib, err := library.Load()
		if err != nil {
			return nil, cov, fmt.Errorf("built-in library: %w", err)
		}
		c, err := lib.Install(ctx, eng, cfg)
		if err != nil {
			return nil, cov, fmt.Errorf("built-in library: %w", err)
		}
		cov.Merge(c)
	}
	var errs []error
	for _, t := range p.Templates {
		if _, err := eng.AddTemplate(ctx, t); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Position(), err))
		}
	}
	for _, c := range p.Constraints {
		if _, err := eng.AddConstraint(c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Position(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, cov, err
	}
	return eng, cov, nil
}

// readInputs reads every file under paths: cluster configurations (az aks
// show JSON, ARM templates, Terraform plans, diagnostic settings) go to the
// posture engine, everything else is decoded as Kubernetes manifests.
func readInputs(l k8s.Loader, paths []string) ([]*k8s.Object, []*posture.Input, error) {
	var objs []*k8s.Object
	var clusters []*posture.Input
	var errs []error
	for _, p := range paths {
		files, err := k8s.Files(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			data, err := l.ReadFile(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if posture.Sniff(data) {
				in, err := posture.Parse(f, data)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				clusters = append(clusters, in)
				continue
			}
			o, err := k8s.Decode(f, data)
			objs = append(objs, o...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return objs, clusters, errors.Join(errs...)
}

// analyze runs the whole-cluster engines: RBAC and NetworkPolicy analysis
// of the manifests, and the posture checks of any cluster configuration.
func (r *Result) analyze(targets []*k8s.Object, clusters []*posture.Input, cfg *config.Config) error {
	rf, rcov, err := rbac.Analyze(targets, rbac.Options{Allow: rbacAllow(cfg.RBAC.AllowedSubjects)})
	if err != nil {
		return fmt.Errorf("rbac: %w", err)
	}
	nf, ncov, err := netpol.Analyze(targets, netpol.Options{SkipNamespaces: cfg.ExemptNamespaces})
	if err != nil {
		return fmt.Errorf("netpol: %w", err)
	}
	r.Findings = append(append(r.Findings, rf...), nf...)
	r.Coverage.Merge(rcov)
	r.Coverage.Merge(ncov)
	if len(clusters) > 0 {
		pf, pcov := posture.Evaluate(clusters, cfg)
		r.Findings = append(r.Findings, pf...)
		r.Coverage.Merge(pcov)
		r.ConfigFiles = len(clusters)
	}
	return nil
}

// rbacAllow turns bulwark.yaml's subject allow-list (a user name,
// group:NAME, or system:serviceaccount:NS:NAME) into the RBAC analyzer's
// KIND:NAME patterns.
func rbacAllow(subjects []string) []string {
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		switch {
		case strings.HasPrefix(s, "group:"):
			out = append(out, "Group:"+strings.TrimPrefix(s, "group:"))
		case strings.HasPrefix(s, "system:serviceaccount:"):
			out = append(out, "ServiceAccount:"+strings.TrimPrefix(s, "system:serviceaccount:"))
		default:
			out = append(out, "User:"+s)
		}
	}
	return out
}

// isTooling reports objects that describe tools rather than the cluster:
// test suites, bulwark's own configuration, kustomizations.
func isTooling(o *k8s.Object) bool {
	gvk := o.GroupVersionKind()
	switch gvk.Group {
	case "test.gatekeeper.sh", "bulwark.dev", "kustomize.config.k8s.io", "expansion.gatekeeper.sh", "config.gatekeeper.sh":
		return true
	}
	return false
}

// Checks returns the built-in catalog of every engine.
func Checks(ctx context.Context) ([]controls.Check, error) {
	checks, err := library.Checks(ctx)
	if err != nil {
		return nil, err
	}
	checks = append(checks, posture.Checks()...)
	checks = append(checks, rbac.Checks()...)
	checks = append(checks, netpol.Checks()...)
	checks = append(checks, detect.Checks()...)
	return checks, nil
}

// catalog is the built-in checks plus every constraint's check.
func catalog(ctx context.Context, eng *policy.Engine, noLibrary bool) (*controls.Catalog, error) {
	cat, _ := controls.NewCatalog()
	if !noLibrary {
		checks, err := Checks(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range checks {
			if err := cat.Add(c); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range eng.Constraints() {
		if existing, ok := cat.Lookup(c.Check.ID); ok {
			if existing.Title != c.Check.Title && !noLibrary {
				return nil, fmt.Errorf("%s: check ID %s is already used by %q", c.Source.Position(), c.Check.ID, existing.Title)
			}
			continue
		}
		if err := cat.Add(c.Check); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Source.Position(), err)
		}
	}
	return cat, nil
}

type outcome struct {
	findings []controls.Finding
	matched  []string
	err      error
}

func (r *Result) review(ctx context.Context, eng *policy.Engine, concurrency int) {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	out := make([]outcome, len(r.Objects))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = reviewOne(ctx, eng, r.Objects[i])
			}
		}()
	}
	for i := range r.Objects {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, o := range out {
		r.Findings = append(r.Findings, o.findings...)
		for _, id := range o.matched {
			r.Coverage.Evaluate(id, 1)
		}
		if o.err != nil {
			r.Errors = append(r.Errors, o.err)
		}
	}
}

func reviewOne(ctx context.Context, eng *policy.Engine, o *k8s.Object) outcome {
	results, matched, err := eng.ReviewObject(ctx, o)
	var oc outcome
	if err != nil {
		oc.err = fmt.Errorf("%s %s: %w", o.Position(), o.String(), err)
	}
	for _, c := range matched {
		oc.matched = append(oc.matched, c.Check.ID)
	}
	ref := controls.ObjectRef{APIVersion: o.APIVersion(), Kind: o.Kind(), Namespace: o.Namespace(), Name: o.Name()}
	for _, res := range results {
		oc.findings = append(oc.findings, Finding(res, ref, o.File, o.Line))
	}
	return oc
}

// Finding turns a policy violation into a finding about ref.
func Finding(res policy.Result, ref controls.ObjectRef, file string, line int) controls.Finding {
	ch := res.Constraint.Check
	msg := res.Msg
	if res.Implied {
		msg += " (in the pod template at " + res.TemplatePath + ")"
	}
	return controls.Finding{
		Check:             ch.ID,
		Requirements:      ch.Requirements,
		Severity:          ch.Severity,
		Title:             ch.Title,
		Message:           msg,
		Remediation:       ch.Remediation,
		Engine:            controls.EnginePolicy,
		EnforcementAction: res.EnforcementAction,
		Object:            ref,
		File:              file,
		Line:              line,
	}
}

// Report assembles the compliance report.
func (r *Result) Report(version string, inputs []string) *report.Report {
	return &report.Report{
		Tool:     "bulwark",
		Version:  version,
		Inputs:   inputs,
		Objects:  len(r.Objects),
		Summary:  controls.Summarize(r.Catalog, r.Coverage, r.Findings),
		Findings: r.Findings,
		Catalog:  r.Catalog,
	}
}

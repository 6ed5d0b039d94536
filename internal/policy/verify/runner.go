package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
)

// Runner finds and runs suites.
type Runner struct {
	// Loader reads suite, template, constraint and object files.
	Loader k8s.Loader
	// NewEngine returns a fresh engine for each test.
	NewEngine func() *policy.Engine
	// Filter, when set, runs only tests and cases whose "test/case" name
	// it matches.
	Filter *regexp.Regexp
	// Out receives one line per case and a summary per suite.
	Out io.Writer
	// Verbose prints passing cases too.
	Verbose bool
}

// Totals counts outcomes over a run.
type Totals struct {
	Suites, Passed, Failed, Skipped int
}

// ErrFailed is returned when any case or test failed.
var ErrFailed = errors.New("policy tests failed")

// Run finds the suites under paths and runs them. It returns ErrFailed when
// any test failed, or another error when the suites could not be read.
func (r *Runner) Run(ctx context.Context, paths ...string) (Totals, error) {
	suites, err := r.findSuites(paths)
	if err != nil {
		return Totals{}, err
	}
	if len(suites) == 0 {
		return Totals{}, fmt.Errorf("no test suites (kind Suite, apiVersion %s/v1alpha1) under %s", SuiteGroup, strings.Join(paths, ", "))
	}
	var tot Totals
	for _, s := range suites {
		tot.Suites++
		r.runSuite(ctx, s, &tot)
	}
	fmt.Fprintf(r.Out, "%d passed, %d failed, %d skipped\n", tot.Passed, tot.Failed, tot.Skipped)
	if tot.Failed > 0 {
		return tot, ErrFailed
	}
	return tot, nil
}

func (r *Runner) findSuites(paths []string) ([]*Suite, error) {
	var out []*Suite
	var errs []error
	for _, p := range paths {
		p = gatorPath(p)
		files, err := k8s.Files(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		explicit := len(files) == 1 && files[0] == p
		for _, f := range files {
			objs, err := r.Loader.LoadFile(f)
			if err != nil {
				// In a directory, files that are not manifests are not
				// suites; a named file must read.
				if explicit || mentionsSuite(f) {
					errs = append(errs, err)
				}
				continue
			}
			for _, o := range objs {
				if !IsSuite(o) {
					continue
				}
				s, err := ParseSuite(o)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", o.Position(), err))
					continue
				}
				out = append(out, s)
			}
		}
	}
	return out, errors.Join(errs...)
}

// gatorPath accepts gator verify's recursive form, "dir/..." (as in
// "gator verify ./..."): directories are always searched recursively here,
// so the suffix is dropped. A path that exists as written is left alone.
func gatorPath(p string) string {
	rest, ok := strings.CutSuffix(p, "...")
	if !ok {
		return p
	}
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if rest == "" {
		return "."
	}
	return filepath.Clean(rest)
}

var suiteKind = regexp.MustCompile(`(?m)^\s*"?kind"?\s*:\s*"?Suite"?\s*,?\s*$`)

// mentionsSuite reports whether a file that failed to decode looks like it
// meant to hold a suite, so its error is not hidden.
func mentionsSuite(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return true
	}
	return suiteKind.Match(data)
}

func (r *Runner) runSuite(ctx context.Context, s *Suite, tot *Totals) {
	label := s.Path
	if s.Name != "" {
		label += " (" + s.Name + ")"
	}
	if s.Skip {
		fmt.Fprintf(r.Out, "SKIP\t%s\n", label)
		tot.Skipped++
		return
	}
	start := time.Now()
	failed := 0
	dir := filepath.Dir(s.Path)
	for _, t := range s.Tests {
		failed += r.runTest(ctx, dir, t, tot)
	}
	status := "ok"
	if failed > 0 {
		status = "FAIL"
	}
	fmt.Fprintf(r.Out, "%s\t%s\t%s\n", status, label, round(time.Since(start)))
}

// runTest returns the number of failures.
func (r *Runner) runTest(ctx context.Context, dir string, t Test, tot *Totals) int {
	if t.Skip || (r.Filter != nil && !r.Filter.MatchString(t.Name) && !anyCaseMatches(r.Filter, t)) {
		tot.Skipped++
		r.print("SKIP", t.Name, "", 0, nil, true)
		return 0
	}
	start := time.Now()
	eng, err := r.setup(ctx, dir, t)
	if t.Invalid {
		switch {
		case err == nil:
			err = errors.New("constraint was accepted but the test expects it to be invalid for the template's schema")
		case errors.Is(err, policy.ErrSchema):
			err = nil
		default:
			err = fmt.Errorf("want a schema error, got: %w", err)
		}
		return r.outcome(t.Name, "", time.Since(start), err, tot)
	}
	if err != nil {
		return r.outcome(t.Name, "", time.Since(start), err, tot)
	}
	failed := 0
	for _, c := range t.Cases {
		if c.Skip || (r.Filter != nil && !r.Filter.MatchString(t.Name+"/"+c.Name) && !r.Filter.MatchString(t.Name)) {
			tot.Skipped++
			r.print("SKIP", t.Name, c.Name, 0, nil, true)
			continue
		}
		cstart := time.Now()
		err := r.runCase(ctx, eng, dir, c)
		failed += r.outcome(t.Name, c.Name, time.Since(cstart), err, tot)
	}
	return failed
}

func anyCaseMatches(re *regexp.Regexp, t Test) bool {
	for _, c := range t.Cases {
		if re.MatchString(t.Name + "/" + c.Name) {
			return true
		}
	}
	return false
}

func (r *Runner) outcome(test, kase string, d time.Duration, err error, tot *Totals) int {
	if err != nil {
		tot.Failed++
		r.print("FAIL", test, kase, d, err, true)
		return 1
	}
	tot.Passed++
	r.print("PASS", test, kase, d, nil, r.Verbose)
	return 0
}

func (r *Runner) print(status, test, kase string, d time.Duration, err error, show bool) {
	if !show {
		return
	}
	name := test
	if kase != "" {
		name += "/" + kase
	}
	fmt.Fprintf(r.Out, "    --- %s: %s (%s)\n", status, name, round(d))
	if err != nil {
		for _, l := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(r.Out, "        %s\n", l)
		}
	}
}

func round(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func (r *Runner) setup(ctx context.Context, dir string, t Test) (*policy.Engine, error) {
	if t.Template == "" {
		return nil, errors.New("test has no template")
	}
	if t.Constraint == "" {
		return nil, errors.New("test has no constraint")
	}
	eng := r.NewEngine()
	tpl, err := r.one(dir, t.Template, "template")
	if err != nil {
		return nil, err
	}
	if _, err := eng.AddTemplate(ctx, tpl); err != nil {
		return nil, fmt.Errorf("%s: %w", tpl.Position(), err)
	}
	con, err := r.one(dir, t.Constraint, "constraint")
	if err != nil {
		return nil, err
	}
	if _, err := eng.AddConstraint(con); err != nil {
		return nil, fmt.Errorf("%s: %w", con.Position(), err)
	}
	return eng, nil
}

// one reads a file that must hold exactly one object.
func (r *Runner) one(dir, rel, what string) (*k8s.Object, error) {
	p := resolve(dir, rel)
	objs, err := r.Loader.LoadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("%s %s defines %d objects; want exactly 1", what, p, len(objs))
	}
	return objs[0], nil
}

func resolve(dir, rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(dir, rel)
}

func (r *Runner) runCase(ctx context.Context, eng *policy.Engine, dir string, c Case) error {
	if c.Object == "" {
		return errors.New("case has no object")
	}
	if len(c.Assertions) == 0 {
		return errors.New("case has no assertions")
	}
	var inv []*k8s.Object
	for _, p := range c.Inventory {
		objs, err := r.Loader.LoadFile(resolve(dir, p))
		if err != nil {
			return fmt.Errorf("inventory: %w", err)
		}
		inv = append(inv, objs...)
	}
	if err := eng.SetInventory(ctx, inv); err != nil {
		return err
	}
	obj, err := r.one(dir, c.Object, "object")
	if err != nil {
		return err
	}
	req, err := requestFor(obj)
	if err != nil {
		return fmt.Errorf("%s: %w", obj.Position(), err)
	}
	if ns, _ := req.Review["namespace"].(string); ns != "" {
		req.NamespaceLabels = eng.NamespaceLabels(ns)
	}
	results, err := eng.Review(ctx, req)
	if err != nil {
		return fmt.Errorf("review: %w", err)
	}
	msgs := make([]string, len(results))
	for i, res := range results {
		msgs[i] = res.Msg
	}
	for _, a := range c.Assertions {
		if err := a.Check(msgs); err != nil {
			return err
		}
	}
	return nil
}

// requestFor turns a case object into a review; an admission.k8s.io
// AdmissionReview becomes its admission request.
func requestFor(o *k8s.Object) (*policy.Request, error) {
	gvk := o.GroupVersionKind()
	if gvk.Kind == "AdmissionReview" && gvk.Group == "admission.k8s.io" {
		req, _ := o.Content["request"].(map[string]any)
		if req == nil {
			return nil, errors.New("AdmissionReview has no request")
		}
		return policy.AdmissionRequest(req)
	}
	return policy.ObjectRequest(o), nil
}

package library

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
	"github.com/bulwark-k8s/bulwark/internal/policy/verify"
)

// TestSuites runs every check folder's suite, one subtest per folder.
func TestSuites(t *testing.T) {
	dirs, err := filepath.Glob("checks/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no check folders")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(dir, "suite.yaml")); err != nil {
				if _, terr := os.Stat(filepath.Join(dir, "constraint.yaml")); terr == nil {
					t.Fatalf("%s has a constraint but no suite.yaml", dir)
				}
				return // a shared-template folder: its users' suites test it
			}
			var out bytes.Buffer
			r := &verify.Runner{Loader: k8s.Loader{}, NewEngine: func() *policy.Engine { return policy.New() }, Out: &out}
			tot, err := r.Run(context.Background(), dir)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if tot.Passed == 0 {
				t.Fatalf("no case passed\n%s", out.String())
			}
			if tot.Skipped > 0 {
				t.Fatalf("%d skipped cases: the library skips nothing\n%s", tot.Skipped, out.String())
			}
		})
	}
}

var checkID = regexp.MustCompile(`^BW-K8S-\d{3}$`)

// TestCatalog checks every library constraint is a complete, unique
// catalog entry.
func TestCatalog(t *testing.T) {
	checks, err := Checks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controls.NewCatalog(checks...); err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if !checkID.MatchString(c.ID) {
			t.Errorf("check ID %q is not BW-K8S-nnn", c.ID)
		}
		if c.Remediation == "" || c.Anchor == "" {
			t.Errorf("%s: remediation and anchor are required", c.ID)
		}
		for _, r := range c.Requirements {
			if r == controls.Custom {
				t.Errorf("%s: library checks name their requirements", c.ID)
			}
		}
	}
}

// TestInstallDefaults installs the library with the embedded defaults and
// with every allow-list set, and checks what is not assessed says why.
func TestInstallDefaults(t *testing.T) {
	lib, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	eng := policy.New()
	cov, err := lib.Install(ctx, eng, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(eng.Constraints())+len(cov.NotAssessed) != len(lib.Constraints) {
		t.Fatalf("%d installed + %d not assessed != %d constraints", len(eng.Constraints()), len(cov.NotAssessed), len(lib.Constraints))
	}
	for id, reason := range cov.NotAssessed {
		if reason == "" {
			t.Errorf("%s skipped without a reason", id)
		}
	}
	for _, c := range eng.Constraints() {
		if !contains(c.Match.ExcludedNamespaces, "kube-system") {
			t.Errorf("%s does not exempt kube-system", c.Check.ID)
		}
	}

	cfg := config.Default()
	cfg.Checks = map[string]config.CheckConfig{"BW-K8S-008": {Disabled: true}}
	eng2 := policy.New()
	cov2, err := lib.Install(ctx, eng2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cov2.NotAssessed["BW-K8S-008"]; !ok {
		t.Error("disabled check BW-K8S-008 is not reported as not assessed")
	}
	for _, c := range eng2.Constraints() {
		if c.Check.ID == "BW-K8S-008" {
			t.Error("disabled check BW-K8S-008 was installed")
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

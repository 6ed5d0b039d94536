package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
	"github.com/bulwark-k8s/bulwark/internal/policy"
	"github.com/bulwark-k8s/bulwark/internal/policy/library"
)

// TestNativeMatchesRego reviews every sample object of the library with
// every Pod Security Standards constraint of the library and of its
// samples, once with the template evaluated natively and once as Rego, and
// requires the same results.
func TestNativeMatchesRego(t *testing.T) {
	ctx := context.Background()
	lib, err := library.Load()
	if err != nil {
		t.Fatal(err)
	}
	native, rego := policy.New(), policy.New(policy.WithRegoOnly())
	for _, eng := range []*policy.Engine{native, rego} {
		for _, tpl := range lib.Templates {
			if _, err := eng.AddTemplate(ctx, tpl); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, eng := range []*policy.Engine{native, rego} {
		for _, tpl := range eng.Templates() {
			if want := tpl.Kind == "BulwarkPodSecurity" && eng == native; tpl.IsNative() != want {
				t.Fatalf("template %s: native %v, want %v", tpl.Kind, tpl.IsNative(), want)
			}
		}
	}

	var objects []*k8s.Object
	constraints := 0
	err = fs.WalkDir(library.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") || path.Base(p) == "template.yaml" || path.Base(p) == "suite.yaml" {
			return err
		}
		data, err := fs.ReadFile(library.FS(), p)
		if err != nil {
			return err
		}
		objs, err := k8s.Decode(p, data)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if !policy.IsConstraint(o) {
				objects = append(objects, o)
				continue
			}
			if o.Kind() != "BulwarkPodSecurity" {
				continue
			}
			// Sample constraints share names across checks.
			c := o
			if path.Base(p) != "constraint.yaml" {
				c.Metadata()["name"] = path.Dir(path.Dir(p)) + "-" + o.Name()
			}
			_, errN := native.AddConstraint(c)
			_, errR := rego.AddConstraint(c)
			if (errN == nil) != (errR == nil) {
				t.Fatalf("%s: constraint added natively: %v, as Rego: %v", p, errN, errR)
			}
			if errN == nil {
				constraints++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if constraints < 19 || len(objects) < 100 {
		t.Fatalf("only %d constraints and %d objects compared", constraints, len(objects))
	}

	violations := 0
	for _, o := range objects {
		got, _, errN := native.ReviewObject(ctx, o)
		want, _, errR := rego.ReviewObject(ctx, o)
		if fmt.Sprint(errN) != fmt.Sprint(errR) {
			t.Errorf("%s %s: native error %v, Rego error %v", o.Kind(), o.Name(), errN, errR)
		}
		g, w := resultStrings(t, got), resultStrings(t, want)
		if !slices.Equal(g, w) {
			t.Errorf("%s %s: native results\n%s\nRego results\n%s", o.Kind(), o.Name(), strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
		for _, r := range want {
			if r.Constraint.Kind == "BulwarkPodSecurity" {
				violations++
			}
		}
	}
	if violations < 50 {
		t.Fatalf("only %d Pod Security Standards violations compared", violations)
	}
	t.Logf("%d constraints, %d objects, %d Pod Security Standards violations alike", constraints, len(objects), violations)
}

func resultStrings(t *testing.T, rs []policy.Result) []string {
	t.Helper()
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		d, err := json.Marshal(r.Details)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%s %s %s %s", r.Constraint.Kind, r.Constraint.Name, r.EnforcementAction, r.Msg, d))
	}
	slices.Sort(out)
	return out
}

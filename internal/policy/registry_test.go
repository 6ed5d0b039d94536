package policy

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// registryRego is how BW-K8S-008 judged an image in Rego before
// bulwark.registry_allowed; the builtin must agree with it.
const registryRego = `
package registrytest

old_allowed(image, allowed) {
  prefix := allowed[_]
  prefix_matches(image, prefix)
}

candidates(image) := {image, full} {
  ref := bulwark.parse_image(image)
  full := concat("", [ref.registry, "/", ref.repository])
} else := {image}

prefix_matches(image, prefix) {
  not startswith(prefix, "*.")
  startswith(candidates(image)[_], prefix)
}
prefix_matches(image, prefix) {
  startswith(prefix, "*.")
  rest := substring(prefix, 1, -1)
  [host_suffix, path_prefix] := split_host(rest)
  c := candidates(image)[_]
  [host, path] := split_host(c)
  host != ""
  path != ""
  endswith(host, host_suffix)
  startswith(path, path_prefix)
}

split_host(s) := [substring(s, 0, i), substring(s, i, -1)] {
  i := indexof(s, "/")
  i >= 0
} else := [s, ""]

result := [old, new] {
  old := old_allowed(input.image, input.allowed)
} else := [false, new] {
  true
}

new := bulwark.registry_allowed(input.image, input.allowed)
`

type registryCase struct {
	image   any
	allowed any
}

var registryCorpus = []registryCase{
	{"centos", []any{"docker.io/library/"}},
	{"centos", []any{"docker.io/"}},
	{"docker.io/library/centos:7", []any{"docker.io/library/centos"}},
	{"myacr.azurecr.io/team/app:1", []any{"*.azurecr.io/"}},
	{"myacr.azurecr.io/team/app:1", []any{"*.azurecr.io/team/"}},
	{"myacr.azurecr.io/other/app:1", []any{"*.azurecr.io/team/"}},
	{"azurecr.io/app", []any{"*.azurecr.io/"}},
	{"evil.io/myacr.azurecr.io/app", []any{"*.azurecr.io/"}},
	{"myacr.azurecr.io.evil.io/app", []any{"*.azurecr.io/"}},
	{"mcr.microsoft.com/oss/nginx", []any{"mcr.microsoft.com/", "*.azurecr.io/"}},
	{"mcr.microsoft.com.evil/x", []any{"mcr.microsoft.com/"}},
	{"localhost:5000/app", []any{"localhost:5000/"}},
	{"localhost:5000/app", []any{"*.5000/"}},
	{"app", []any{"*."}},
	{"a.b/c", []any{"*."}},
	{"a.b/c", []any{"*./"}},
	{"a.b/c", []any{"*"}},
	{"a.b/c", []any{""}},
	{"", []any{""}},
	{"", []any{"*./"}},
	{"ümlaut.azurecr.io/x", []any{"*.azurecr.io/"}},
	{"x.azurecr.io/ü/y", []any{"*.azurecr.io/ü/"}},
	{"x.azur\xffecr.io/y", []any{"*.azur\xffecr.io/"}},
	{"x.azurecr.io/\xff/y", []any{"*.azurecr.io/\xff"}},
	{"x.azurecr.io/\xff/y", []any{"*.azurecr.io/\uFFFD"}},
	{"\xff/y", []any{"\xff"}},
	{"x/y", []any{1, "x/"}},
	{"x/y", []any{1}},
	{1, []any{"1"}},
	{nil, []any{"*.x/"}},
	{"x/y", []any{}},
	{"x/y", "x/"},
	{"x/y", map[string]any{"a": "x/"}},
	{"UPPER.io/x", []any{"upper.io/"}},
	{"docker.io/library/nginx@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", []any{"*.io/library/"}},
}

func evalRegistry(t testing.TB, pq rego.PreparedEvalQuery, c registryCase) (old, new bool) {
	t.Helper()
	rs, err := pq.Eval(context.Background(), rego.EvalInput(map[string]any{"image": c.image, "allowed": c.allowed}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%v: %d results", c, len(rs))
	}
	pair := rs[0].Expressions[0].Value.([]any)
	return pair[0].(bool), pair[1].(bool)
}

func registryQuery(t testing.TB) rego.PreparedEvalQuery {
	t.Helper()
	m, err := ast.ParseModuleWithOpts("registry.rego", registryRego, ast.ParserOptions{RegoVersion: ast.RegoV0})
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]func(*rego.Rego){rego.Query("data.registrytest.result"), rego.ParsedModule(m)}, builtins()...)
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pq
}

func TestRegistryAllowed(t *testing.T) {
	pq := registryQuery(t)
	allowed := 0
	for _, c := range registryCorpus {
		old, new := evalRegistry(t, pq, c)
		if old != new {
			t.Errorf("image %q, prefixes %q: Rego says %v, bulwark.registry_allowed %v", c.image, c.allowed, old, new)
		}
		if old {
			allowed++
		}
	}
	if allowed < 10 || allowed > len(registryCorpus)-10 {
		t.Errorf("%d of %d cases allowed: the corpus does not exercise both answers", allowed, len(registryCorpus))
	}
}

func FuzzRegistryAllowed(f *testing.F) {
	for _, c := range registryCorpus {
		if img, ok := c.image.(string); ok {
			if ps, ok := c.allowed.([]any); ok && len(ps) > 0 {
				if p, ok := ps[0].(string); ok {
					f.Add(img, p)
				}
			}
		}
	}
	pq := registryQuery(f)
	f.Fuzz(func(t *testing.T, image, prefix string) {
		c := registryCase{image, []any{prefix}}
		if old, new := evalRegistry(t, pq, c); old != new {
			t.Fatalf("image %q, prefix %q: Rego says %v, bulwark.registry_allowed %v", image, prefix, old, new)
		}
	})
}

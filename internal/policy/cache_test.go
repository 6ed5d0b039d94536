package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestRuleCache(t *testing.T) {
	c := getRuleCache()
	defer putRuleCache(c)
	ref := func(s string) ast.Ref { return ast.MustParseRef(s) }
	get := func(s string) (string, bool) {
		v, undefined := c.Get(ref(s))
		if v == nil {
			return "", undefined
		}
		return v.String(), undefined
	}
	want := func(s, value string, undefined bool) {
		t.Helper()
		if v, u := get(s); v != value || u != undefined {
			t.Errorf("Get(%s) = %q, %v; want %q, %v", s, v, u, value, undefined)
		}
	}

	want("data.p.r", "", false) // not cached
	c.Put(ref("data.p.r"), ast.StringTerm("x"))
	c.Put(ref("data.p.missing"), nil)
	c.Put(ref(`data.p.s["k"]`), ast.IntNumberTerm(1))
	want("data.p.r", `"x"`, false)
	want("data.p.missing", "", true)
	want(`data.p.s["k"]`, "1", false)
	want("data.p", "", false) // a prefix is not a cached value
	want(`data.p.s["j"]`, "", false)
	want("data.r.p", "", false) // same terms, other order

	// A ref whose backing array is reused after Put keeps its entry.
	buf := ref("data.p.t")
	c.Put(buf, ast.BooleanTerm(true))
	buf[2] = ast.StringTerm("u")
	want("data.p.t", "true", false)
	want("data.p.u", "", false)

	// Replacing a value.
	c.Put(ref("data.p.r"), ast.StringTerm("y"))
	want("data.p.r", `"y"`, false)

	// A pushed frame starts empty and popping it restores the one below.
	c.Push()
	want("data.p.r", "", false)
	c.Put(ref("data.p.r"), ast.StringTerm("inner"))
	want("data.p.r", `"inner"`, false)
	c.Push()
	want("data.p.r", "", false)
	c.Pop()
	want("data.p.r", `"inner"`, false)
	c.Pop()
	want("data.p.r", `"y"`, false)
	if n := len(c.Keys()); n != 4 {
		t.Errorf("%d keys, want 4", n)
	}

	// Many entries, some with colliding hashes in the index.
	for i := range 1000 {
		c.Put(ast.Ref{ast.DefaultRootDocument, ast.StringTerm("q"), ast.IntNumberTerm(i)}, ast.IntNumberTerm(i*2))
	}
	for i := range 1000 {
		v, _ := c.Get(ast.Ref{ast.DefaultRootDocument, ast.StringTerm("q"), ast.IntNumberTerm(i)})
		if v == nil || v.String() != ast.IntNumberTerm(i*2).String() {
			t.Fatalf("entry %d: %v", i, v)
		}
	}

	c.Push()
	c.reset()
	want("data.p.r", "", false)
	if n := len(c.Keys()); n != 0 {
		t.Errorf("%d keys after reset", n)
	}
}

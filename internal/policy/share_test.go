package policy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestValueSharer checks that shared conversion gives the values
// ast.InterfaceToValue gives, and shares equal subtrees.
func TestValueSharer(t *testing.T) {
	docs := []string{
		`{"a": 1, "b": "1", "c": [1, "1", 1.0, 1e3, true, null, {}], "d": {"e": [], "f": {"g": "h"}}}`,
		`{"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}}`,
		`{"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}, "n": 1.0}`,
		`{"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80.0}]}]}, "n": 1}`,
		`[["a", "b"], ["b", "a"], {"a": "b"}, {"b": "a"}, "a", "b", 1, "1", false, "false", null, "null"]`,
		`{"x": 123456789012345678901234567890, "y": -0.5, "z": "ünïcode\u2028", "": ""}`,
	}
	s := newValueSharer()
	var got []ast.Value
	for _, d := range docs {
		x := decodeJSON(t, d)
		want, err := ast.InterfaceToValue(x)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.value(x)
		if err != nil {
			t.Fatal(err)
		}
		if v.String() != want.String() || ast.Compare(v, want) != 0 || v.Hash() != want.Hash() {
			t.Errorf("%s: shared %s, want %s", d, v, want)
		}
		got = append(got, v)
	}
	// 80 and 80.0, 1 and 1.0 keep their own text.
	if got[2].String() == got[3].String() {
		t.Errorf("1 and 1.0 were merged: %s", got[2])
	}
	spec := func(v ast.Value) ast.Value { return v.(ast.Object).Get(ast.StringTerm("spec")).Value }
	if spec(got[1]) != spec(got[2]) {
		t.Error("equal subtrees are not shared")
	}
	if spec(got[2]) == spec(got[3]) {
		t.Error("subtrees that differ (80, 80.0) are shared")
	}
	// Element order matters in arrays, not in objects.
	arr := got[4].(*ast.Array)
	if arr.Elem(0) == arr.Elem(1) {
		t.Error(`["a","b"] and ["b","a"] are shared`)
	}
	if arr.Elem(2) == arr.Elem(3) {
		t.Error(`{"a":"b"} and {"b":"a"} are shared`)
	}
	for i := 4; i < arr.Len(); i += 2 {
		if arr.Elem(i) == arr.Elem(i+1) {
			t.Errorf("%s and %s are shared", arr.Elem(i), arr.Elem(i+1))
		}
	}
}

// FuzzValueSharer checks shared conversion against ast.InterfaceToValue
// for any JSON document, converted after a fixed one so that sharing
// happens.
func FuzzValueSharer(f *testing.F) {
	f.Add(`{"a": [1, 2, {"b": "c"}], "d": {"b": "c"}}`)
	f.Add(`[1, 1.0, "1", true, null]`)
	f.Fuzz(func(t *testing.T, doc string) {
		dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
		dec.UseNumber()
		var x any
		if dec.Decode(&x) != nil {
			return
		}
		want, err := ast.InterfaceToValue(x)
		s := newValueSharer()
		if _, err := s.value(decodeJSON(t, `{"a": [1, 2, {"b": "c"}], "d": {"b": "c"}, "e": [1, 1.0, "1", true, null]}`)); err != nil {
			t.Fatal(err)
		}
		v, serr := s.value(x)
		if (err != nil) != (serr != nil) {
			t.Fatalf("errors differ: %v, %v", err, serr)
		}
		if err == nil && (v.String() != want.String() || ast.Compare(v, want) != 0) {
			t.Fatalf("shared %s, want %s", v, want)
		}
	})
}

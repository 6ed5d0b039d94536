package policy

import (
	"hash/maphash"
	"math/bits"

	"github.com/open-policy-agent/opa/v1/ast"
)

// valueSharer converts decoded objects (the JSON types: maps, slices,
// strings, json.Number, bools, nil) to Rego values as ast.InterfaceToValue
// does, but gives equal subtrees one shared value (hash-consing): a
// cluster's objects repeat themselves (the containers, probes, resources
// and security contexts of a Deployment's replicas and of similar
// workloads, labels, managed fields), and the inventory holds every
// object's Rego form for the whole scan. Sharing is invisible to policies:
// Rego values are compared by content, and neither OPA nor the engine
// modifies a value once it is in the inventory (OPA itself shares its
// interned terms the same way).
//
// A valueSharer is not safe for concurrent use; its table lives as long as
// the sharer, so use one per batch of objects.
type valueSharer struct {
	seed  maphash.Seed
	terms map[uint64][]*ast.Term // by structural hash
	keys  map[string]*ast.Term   // object keys
}

func newValueSharer() *valueSharer {
	return &valueSharer{
		seed:  maphash.MakeSeed(),
		terms: map[uint64][]*ast.Term{},
		keys:  map[string]*ast.Term{},
	}
}

// value converts x; the result may share subtrees with earlier results.
func (s *valueSharer) value(x any) (ast.Value, error) {
	t, _, err := s.term(x)
	if err != nil {
		return nil, err
	}
	return t.Value, nil
}

// Type tags mixed into hashes so that, say, "1" and 1 differ.
const (
	tagString uint64 = iota + 1
	tagNumber
	tagScalar
	tagArray
	tagObject
)

func mix(h, v uint64) uint64 {
	hi, lo := bits.Mul64(h^v, 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// term returns x's shared term and its structural hash.
func (s *valueSharer) term(x any) (*ast.Term, uint64, error) {
	switch x := x.(type) {
	case map[string]any:
		return s.object(x)
	case []any:
		return s.array(x)
	case string:
		h := mix(tagString, maphash.String(s.seed, x))
		return s.intern(h, func(c *ast.Term) bool { v, ok := c.Value.(ast.String); return ok && string(v) == x },
			func() (ast.Value, error) { return ast.InterfaceToValue(x) })
	default:
		// Numbers, booleans, null, and any other type: converted as
		// ast.InterfaceToValue converts them, shared by their text.
		v, err := ast.InterfaceToValue(x)
		if err != nil {
			return nil, 0, err
		}
		switch v.(type) {
		case ast.Number, ast.Boolean, ast.Null:
		default:
			return ast.NewTerm(v), mix(tagScalar, uint64(v.Hash())), nil
		}
		// The text tells 1 from 1.0, which compare equal as numbers.
		str := v.String()
		h := mix(tagNumber, maphash.String(s.seed, str))
		return s.intern(h, func(c *ast.Term) bool { return sameKind(c.Value, v) && c.Value.String() == str },
			func() (ast.Value, error) { return v, nil })
	}
}

// intern returns the term with hash h that same accepts, or a new one made
// by mk.
func (s *valueSharer) intern(h uint64, same func(*ast.Term) bool, mk func() (ast.Value, error)) (*ast.Term, uint64, error) {
	for _, c := range s.terms[h] {
		if same(c) {
			return c, h, nil
		}
	}
	v, err := mk()
	if err != nil {
		return nil, 0, err
	}
	t := ast.NewTerm(v)
	s.terms[h] = append(s.terms[h], t)
	return t, h, nil
}

func sameKind(a, b ast.Value) bool {
	switch a.(type) {
	case ast.Number:
		_, ok := b.(ast.Number)
		return ok
	case ast.Boolean:
		_, ok := b.(ast.Boolean)
		return ok
	case ast.Null:
		_, ok := b.(ast.Null)
		return ok
	}
	return false
}

func (s *valueSharer) key(k string) *ast.Term {
	if t, ok := s.keys[k]; ok {
		return t
	}
	t := ast.StringTerm(k)
	s.keys[k] = t
	return t
}

func (s *valueSharer) array(x []any) (*ast.Term, uint64, error) {
	elems := make([]*ast.Term, len(x))
	h := mix(tagArray, uint64(len(x)))
	for i, e := range x {
		t, eh, err := s.term(e)
		if err != nil {
			return nil, 0, err
		}
		elems[i] = t
		h = mix(h, eh)
	}
	return s.intern(h, func(c *ast.Term) bool {
		a, ok := c.Value.(*ast.Array)
		if !ok || a.Len() != len(elems) {
			return false
		}
		for i, e := range elems {
			if a.Elem(i) != e {
				return false
			}
		}
		return true
	}, func() (ast.Value, error) { return ast.NewArray(elems...), nil })
}

func (s *valueSharer) object(x map[string]any) (*ast.Term, uint64, error) {
	items := make([][2]*ast.Term, 0, len(x))
	var sum uint64 // order-independent: map iteration order is random
	for k, v := range x {
		t, vh, err := s.term(v)
		if err != nil {
			return nil, 0, err
		}
		kt := s.key(k)
		items = append(items, [2]*ast.Term{kt, t})
		sum += mix(maphash.String(s.seed, k), vh)
	}
	h := mix(mix(tagObject, uint64(len(x))), sum)
	return s.intern(h, func(c *ast.Term) bool {
		o, ok := c.Value.(ast.Object)
		if !ok || o.Len() != len(items) {
			return false
		}
		for _, it := range items {
			if o.Get(it[0]) != it[1] {
				return false
			}
		}
		return true
	}, func() (ast.Value, error) { return ast.NewObject(items...), nil })
}

package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// ruleCache is OPA's virtual document cache (the values of rules already
// evaluated in one query) kept in flat, reusable tables instead of a tree
// of hash maps allocated afresh for every evaluation: evaluating one
// constraint typically caches a handful of rules, and OPA's own cache
// allocates about 20 objects to do it, a large share of a small template's
// cost. A ruleCache serves one evaluation at a time; reset empties it for
// the next one.
type ruleCache struct {
	frames []*ruleFrame
	depth  int // frames[depth] is the active frame
}

// ruleFrame is one frame of the cache's stack (OPA pushes a frame for
// every with statement).
type ruleFrame struct {
	index   map[uint64]int32 // hash of a ref -> first entry with that hash
	entries []ruleEntry
	terms   []*ast.Term // the refs of entries, back to back
}

type ruleEntry struct {
	start, end int32 // the ref is terms[start:end]
	next       int32 // next entry with the same hash, or -1
	value      *ast.Term
	undefined  bool
}

var ruleCachePool = sync.Pool{New: func() any { return &ruleCache{frames: []*ruleFrame{newRuleFrame()}} }}

func newRuleFrame() *ruleFrame { return &ruleFrame{index: map[uint64]int32{}} }

// getRuleCache returns an empty cache from the pool; putRuleCache returns
// it once no evaluation uses it any more.
func getRuleCache() *ruleCache { return ruleCachePool.Get().(*ruleCache) }

func putRuleCache(c *ruleCache) {
	c.reset()
	ruleCachePool.Put(c)
}

// reset empties the cache, dropping every value it refers to.
func (c *ruleCache) reset() {
	for i := 0; i <= c.depth && i < len(c.frames); i++ {
		c.frames[i].clear()
	}
	c.depth = 0
}

func (f *ruleFrame) clear() {
	clear(f.index)
	clear(f.entries)
	f.entries = f.entries[:0]
	clear(f.terms)
	f.terms = f.terms[:0]
}

// Push starts a new, empty frame.
func (c *ruleCache) Push() {
	c.depth++
	if c.depth == len(c.frames) {
		c.frames = append(c.frames, newRuleFrame())
		return
	}
	c.frames[c.depth].clear()
}

// Pop drops the active frame, returning to the one below.
func (c *ruleCache) Pop() {
	c.frames[c.depth].clear()
	c.depth--
}

func refHash(ref ast.Ref) uint64 {
	var h uint64
	for _, t := range ref {
		h = h*1099511628211 + uint64(t.Value.Hash())
	}
	return h
}

// find returns the index of ref's entry in the active frame, or -1.
func (c *ruleCache) find(ref ast.Ref, h uint64) int32 {
	f := c.frames[c.depth]
	i, ok := f.index[h]
	if !ok {
		return -1
	}
	for ; i >= 0; i = f.entries[i].next {
		e := &f.entries[i]
		if int(e.end-e.start) == len(ref) && ast.Ref(f.terms[e.start:e.end]).Equal(ref) {
			return i
		}
	}
	return -1
}

// Get returns ref's value; (nil, true) when ref is known to be undefined
// and (nil, false) when ref is not in the cache.
func (c *ruleCache) Get(ref ast.Ref) (*ast.Term, bool) {
	i := c.find(ref, refHash(ref))
	if i < 0 {
		return nil, false
	}
	e := &c.frames[c.depth].entries[i]
	if e.undefined {
		return nil, true
	}
	return e.value, false
}

// Put records ref's value, or that ref is undefined when value is nil.
func (c *ruleCache) Put(ref ast.Ref, value *ast.Term) {
	h := refHash(ref)
	f := c.frames[c.depth]
	if i := c.find(ref, h); i >= 0 {
		f.entries[i].value, f.entries[i].undefined = value, value == nil
		return
	}
	next := int32(-1)
	if first, ok := f.index[h]; ok {
		next = first
	}
	start := int32(len(f.terms))
	// The caller may reuse ref's backing array: keep a copy of the slice
	// (the terms themselves are not modified once cached).
	f.terms = append(f.terms, ref...)
	f.entries = append(f.entries, ruleEntry{start: start, end: int32(len(f.terms)), next: next, value: value, undefined: value == nil})
	f.index[h] = int32(len(f.entries) - 1)
}

// Keys returns the refs cached in the active frame.
func (c *ruleCache) Keys() []ast.Ref {
	f := c.frames[c.depth]
	out := make([]ast.Ref, 0, len(f.entries))
	for _, e := range f.entries {
		out = append(out, ast.Ref(f.terms[e.start:e.end]).Copy())
	}
	return out
}

var _ topdown.VirtualCache = (*ruleCache)(nil)

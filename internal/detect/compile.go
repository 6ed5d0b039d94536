package detect

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// maxListItems bounds the expansion of nested lists, which could
// otherwise grow exponentially.
const maxListItems = 100000

// evalFn is a compiled condition: true when the event matches.
type evalFn func(*evalCtx) bool

// compileError is an error in a condition, at an offset of the condition
// text of the item it belongs to (offset < 0 when it has none).
type compileError struct {
	where  *condSource
	offset int
	msg    string
}

func (e *compileError) Error() string { return e.msg }

// condSource is the condition text of a rule or macro and where it is.
type condSource struct {
	item string // `rule "X"` or `macro "y"`
	file string
	line int // line of the item
	// condLine is the line of the condition value; condLiteral says it is
	// a literal block scalar, whose lines map one to one.
	condLine    int
	condLiteral bool
	text        string
}

// compiler turns parsed conditions into closures, expanding macros and
// lists. One compiler serves a whole rule set, so field slots and
// compiled macros are shared by every rule.
type compiler struct {
	lists  map[string]*listDef
	macros map[string]*macroDef

	slots      map[string]int
	refs       []*fieldRef
	listCache  map[string][]string
	macroDone  map[string]evalFn
	macroErr   map[string]error
	inProgress []string
}

func newCompiler(lists map[string]*listDef, macros map[string]*macroDef) *compiler {
	return &compiler{
		lists: lists, macros: macros,
		slots: map[string]int{}, listCache: map[string][]string{},
		macroDone: map[string]evalFn{}, macroErr: map[string]error{},
	}
}

func (cp *compiler) errAt(src *condSource, offset int, format string, args ...any) error {
	return &compileError{where: src, offset: offset, msg: fmt.Sprintf(format, args...)}
}

// fieldRef returns the shared reference for a field use.
func (cp *compiler) fieldRef(f fieldExpr) (*fieldRef, error) {
	def, arg, err := lookupField(f)
	if err != nil {
		return nil, err
	}
	for _, t := range f.transformers {
		if !transformerNames[t] {
			return nil, fmt.Errorf("unknown transformer %s()", t)
		}
	}
	key := f.String()
	if i, ok := cp.slots[key]; ok {
		return cp.refs[i], nil
	}
	ref := &fieldRef{def: def, arg: arg, transformers: f.transformers, slot: len(cp.refs), text: key}
	cp.slots[key] = ref.slot
	cp.refs = append(cp.refs, ref)
	return ref, nil
}

// expandList returns the items of a list with nested list names expanded.
func (cp *compiler) expandList(name string, seen []string) ([]string, error) {
	if items, ok := cp.listCache[name]; ok {
		return items, nil
	}
	for _, s := range seen {
		if s == name {
			return nil, fmt.Errorf("list cycle: %s -> %s", strings.Join(seen, " -> "), name)
		}
	}
	l := cp.lists[name]
	l.used = true
	var out []string
	for _, it := range l.items {
		if _, isList := cp.lists[it]; isList {
			sub, err := cp.expandList(it, append(seen, name))
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		} else {
			out = append(out, unquoteItem(it))
		}
		if len(out) > maxListItems {
			return nil, fmt.Errorf("list %s expands to more than %d items", name, maxListItems)
		}
	}
	cp.listCache[name] = out
	return out, nil
}

// unquoteItem strips the quotes Falco rules put around list items that
// would not survive as bare strings ('"(systemd)"', '"10.0.0.0/8"').
func unquoteItem(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// compile compiles a condition parsed from src.
func (cp *compiler) compile(e expr, src *condSource) (evalFn, error) {
	switch e := e.(type) {
	case *andExpr:
		fs, err := cp.compileAll(e.list, src)
		if err != nil {
			return nil, err
		}
		if len(fs) == 2 {
			a, b := fs[0], fs[1]
			return func(c *evalCtx) bool { return a(c) && b(c) }, nil
		}
		return func(c *evalCtx) bool {
			for _, f := range fs {
				if !f(c) {
					return false
				}
			}
			return true
		}, nil
	case *orExpr:
		fs, err := cp.compileAll(e.list, src)
		if err != nil {
			return nil, err
		}
		if len(fs) == 2 {
			a, b := fs[0], fs[1]
			return func(c *evalCtx) bool { return a(c) || b(c) }, nil
		}
		return func(c *evalCtx) bool {
			for _, f := range fs {
				if f(c) {
					return true
				}
			}
			return false
		}, nil
	case *notExpr:
		f, err := cp.compile(e.x, src)
		if err != nil {
			return nil, err
		}
		return func(c *evalCtx) bool { return !f(c) }, nil
	case *identExpr:
		return cp.compileMacro(e, src)
	case *checkExpr:
		f, err := cp.compileCheck(e)
		if err != nil {
			return nil, cp.errAt(src, e.pos, "%v", err)
		}
		return f, nil
	}
	return nil, cp.errAt(src, e.offset(), "internal error: unknown expression %T", e)
}

func (cp *compiler) compileAll(list []expr, src *condSource) ([]evalFn, error) {
	fs := make([]evalFn, len(list))
	for i, x := range list {
		f, err := cp.compile(x, src)
		if err != nil {
			return nil, err
		}
		fs[i] = f
	}
	return fs, nil
}

func (cp *compiler) compileMacro(e *identExpr, src *condSource) (evalFn, error) {
	if f, ok := cp.macroDone[e.name]; ok {
		return f, nil
	}
	if err, ok := cp.macroErr[e.name]; ok {
		return nil, err
	}
	m, ok := cp.macros[e.name]
	if !ok {
		if _, isList := cp.lists[e.name]; isList {
			return nil, cp.errAt(src, e.pos, "%q is a list, not a macro: use it as the value of in, intersects or pmatch", e.name)
		}
		return nil, cp.errAt(src, e.pos, "undefined macro '%s' used in filter", e.name)
	}
	for i, n := range cp.inProgress {
		if n == e.name {
			cycle := append(append([]string{}, cp.inProgress[i:]...), e.name)
			return nil, cp.errAt(src, e.pos, "macro cycle: %s", strings.Join(cycle, " -> "))
		}
	}
	m.used = true
	if m.parseErr != nil {
		return nil, m.parseErr
	}
	cp.inProgress = append(cp.inProgress, e.name)
	f, err := cp.compile(m.ast, m.src)
	cp.inProgress = cp.inProgress[:len(cp.inProgress)-1]
	if err != nil {
		cp.macroErr[e.name] = err
		return nil, err
	}
	cp.macroDone[e.name] = f
	return f, nil
}

// isListField reports whether a field reference yields several values.
func isListField(ref *fieldRef) bool {
	for _, t := range ref.transformers {
		if t == "len" {
			return false
		}
	}
	return ref.def.list
}

// rhsValues resolves the right-hand side of a check, expanding lists for
// the list operators.
func (cp *compiler) rhsValues(ch *checkExpr) ([]string, error) {
	var out []string
	for _, v := range ch.values {
		if listOps[ch.op] {
			if _, isList := cp.lists[v.s]; isList {
				items, err := cp.expandList(v.s, nil)
				if err != nil {
					return nil, err
				}
				out = append(out, items...)
				continue
			}
			if ch.listIdent {
				return nil, fmt.Errorf("undefined list '%s' used with %s", v.s, ch.op)
			}
		}
		out = append(out, v.s)
	}
	return out, nil
}

func (cp *compiler) compileCheck(ch *checkExpr) (evalFn, error) {
	ref, err := cp.fieldRef(ch.field)
	if err != nil {
		return nil, err
	}
	op := ch.op
	if op == "==" {
		op = "="
	}
	list := isListField(ref)
	if op == "exists" {
		return func(c *evalCtx) bool { _, ok := c.values(ref); return ok }, nil
	}
	switch op {
	case "bcontains", "bstartswith":
		return nil, fmt.Errorf("operator %s is not supported on field %s: it compares byte buffers, and audit fields are strings", op, ref.text)
	case "=", "!=", "<", "<=", ">", ">=":
		if list {
			return nil, fmt.Errorf("operator %s is not supported on list field %s (use in, intersects or exists)", op, ref.text)
		}
	}
	vals, err := cp.rhsValues(ch)
	if err != nil {
		return nil, err
	}
	if ref.def.ip && len(ref.transformers) == 0 {
		return compileIPCheck(ref, op, list, vals)
	}

	switch op {
	case "=":
		v := vals[0]
		return func(c *evalCtx) bool { vs, ok := c.values(ref); return ok && vs[0] == v }, nil
	case "!=":
		v := vals[0]
		return func(c *evalCtx) bool { vs, ok := c.values(ref); return ok && vs[0] != v }, nil
	case "<", "<=", ">", ">=":
		return compileNumeric(ref, op, vals[0])
	case "in", "intersects":
		set := newStrSet(vals)
		if !list {
			return func(c *evalCtx) bool { vs, ok := c.values(ref); return ok && set.has(vs[0]) }, nil
		}
		if op == "in" {
			return func(c *evalCtx) bool {
				vs, ok := c.values(ref)
				if !ok {
					return false
				}
				for _, v := range vs {
					if !set.has(v) {
						return false
					}
				}
				return true
			}, nil
		}
		return func(c *evalCtx) bool {
			vs, ok := c.values(ref)
			if !ok {
				return false
			}
			for _, v := range vs {
				if set.has(v) {
					return true
				}
			}
			return false
		}, nil
	}

	pred, err := stringPredicate(op, vals)
	if err != nil {
		return nil, err
	}
	if list {
		// Bulwark extension: on a list field a string operator matches when
		// any value does (Falco rejects it).
		return func(c *evalCtx) bool {
			vs, ok := c.values(ref)
			if !ok {
				return false
			}
			for _, v := range vs {
				if pred(v) {
					return true
				}
			}
			return false
		}, nil
	}
	return func(c *evalCtx) bool { vs, ok := c.values(ref); return ok && pred(vs[0]) }, nil
}

// stringPredicate builds the matcher of a string operator.
func stringPredicate(op string, vals []string) (func(string) bool, error) {
	switch op {
	case "contains":
		v := vals[0]
		return func(s string) bool { return strings.Contains(s, v) }, nil
	case "icontains":
		v := strings.ToLower(vals[0])
		return func(s string) bool { return containsFold(s, v) }, nil
	case "startswith":
		v := vals[0]
		return func(s string) bool { return strings.HasPrefix(s, v) }, nil
	case "endswith":
		v := vals[0]
		return func(s string) bool { return strings.HasSuffix(s, v) }, nil
	case "glob":
		v := vals[0]
		return func(s string) bool { return globMatch(v, s) }, nil
	case "iglob":
		v := strings.ToLower(vals[0])
		return func(s string) bool { return globMatch(v, strings.ToLower(s)) }, nil
	case "regex":
		re, err := compileRegex(vals[0])
		if err != nil {
			return nil, err
		}
		return re.MatchString, nil
	case "pmatch":
		pats := make([]pathPattern, len(vals))
		for i, v := range vals {
			pats[i] = newPathPattern(v)
		}
		return func(s string) bool { return pmatch(pats, s) }, nil
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}

// compileRegex compiles a Falco regex: RE2 in POSIX (egrep) syntax,
// matching the whole value. Go's regexp is RE2: linear time, no
// catastrophic backtracking.
func compileRegex(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.CompilePOSIX("^(" + pattern + ")$")
	if err != nil {
		if _, perr := regexp.CompilePOSIX(pattern); perr != nil {
			err = perr
		}
		return nil, fmt.Errorf("invalid regex %q: %v", pattern, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

// strSet is a set of strings: a slice for a few, a map for many.
type strSet struct {
	small []string
	big   map[string]struct{}
}

func newStrSet(vals []string) strSet {
	if len(vals) <= 8 {
		return strSet{small: vals}
	}
	m := make(map[string]struct{}, len(vals))
	for _, v := range vals {
		m[v] = struct{}{}
	}
	return strSet{big: m}
}

func (s strSet) has(v string) bool {
	if s.big != nil {
		_, ok := s.big[v]
		return ok
	}
	for _, x := range s.small {
		if x == v {
			return true
		}
	}
	return false
}

// parseNumber parses a Falco number: decimal, float or 0x hex.
func parseNumber(s string) (float64, bool) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		n, err := strconv.ParseUint(s[2:], 16, 64)
		return float64(n), err == nil
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// compileNumeric compares numerically when the field value is a number,
// and as strings (like Falco on string fields) otherwise.
func compileNumeric(ref *fieldRef, op, rhs string) (evalFn, error) {
	n, ok := parseNumber(rhs)
	if !ok {
		return nil, fmt.Errorf("operator %s needs a number, got %q", op, rhs)
	}
	cmp := func(v string) int {
		if f, ok := parseNumber(v); ok {
			switch {
			case f < n:
				return -1
			case f > n:
				return 1
			}
			return 0
		}
		return strings.Compare(v, rhs)
	}
	var test func(int) bool
	switch op {
	case "<":
		test = func(r int) bool { return r < 0 }
	case "<=":
		test = func(r int) bool { return r <= 0 }
	case ">":
		test = func(r int) bool { return r > 0 }
	default:
		test = func(r int) bool { return r >= 0 }
	}
	return func(c *evalCtx) bool { vs, ok := c.values(ref); return ok && test(cmp(vs[0])) }, nil
}

// compileIPCheck compiles a check on an IP field: values are addresses
// or CIDR ranges, and an address matches a range that contains it.
func compileIPCheck(ref *fieldRef, op string, list bool, vals []string) (evalFn, error) {
	switch op {
	case "=", "!=", "in", "intersects":
	default:
		return nil, fmt.Errorf("operator %s is not supported on IP field %s (use =, !=, in, intersects or exists)", op, ref.text)
	}
	nets := make([]netip.Prefix, 0, len(vals))
	for _, v := range vals {
		p, err := parseNet(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", ref.text, err)
		}
		nets = append(nets, p)
	}
	inNets := func(s string) bool {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		a = a.Unmap().WithZone("")
		for _, p := range nets {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	switch {
	case op == "!=":
		return func(c *evalCtx) bool { vs, ok := c.values(ref); return ok && !inNets(vs[0]) }, nil
	case !list:
		return func(c *evalCtx) bool { vs, ok := c.values(ref); return ok && inNets(vs[0]) }, nil
	case op == "in":
		return func(c *evalCtx) bool {
			vs, ok := c.values(ref)
			if !ok {
				return false
			}
			for _, v := range vs {
				if !inNets(v) {
					return false
				}
			}
			return true
		}, nil
	}
	return func(c *evalCtx) bool {
		vs, ok := c.values(ref)
		if !ok {
			return false
		}
		for _, v := range vs {
			if inNets(v) {
				return true
			}
		}
		return false
	}, nil
}

// parseNet parses an IP address or a CIDR range.
func parseNet(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range", v)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR range", v)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// applyTransformers applies a field's transformers to its values in place.
func applyTransformers(ref *fieldRef, vals []string) []string {
	for _, t := range ref.transformers {
		switch t {
		case "tolower":
			for i, v := range vals {
				vals[i] = strings.ToLower(v)
			}
		case "toupper":
			for i, v := range vals {
				vals[i] = strings.ToUpper(v)
			}
		case "basename":
			for i, v := range vals {
				if j := strings.LastIndexByte(v, '/'); j >= 0 {
					vals[i] = v[j+1:]
				}
			}
		case "b64":
			out := vals[:0]
			for _, v := range vals {
				if b, err := base64.StdEncoding.DecodeString(v); err == nil {
					out = append(out, string(b))
				}
			}
			vals = out
		case "len":
			n := 0
			if ref.def.list {
				n = len(vals)
			} else if len(vals) > 0 {
				n = len(vals[0])
			}
			vals = append(vals[:0], strconv.Itoa(n))
		}
	}
	return vals
}

// containsFold reports whether s contains the lower-case needle, ignoring
// case, without allocating for ASCII text.
func containsFold(s, lowerNeedle string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return strings.Contains(strings.ToLower(s), lowerNeedle)
		}
	}
	n := len(lowerNeedle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lowerNeedle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

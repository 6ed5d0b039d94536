package posture

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// This file evaluates the subset of the ARM template expression language
// that templates use to name and configure resources: parameters(),
// variables(), string and logical functions, resourceId(). Functions whose
// value is decided at deployment (resourceGroup().location, uniqueString(),
// reference(), ...) evaluate to unknown, and so does anything built from
// them: a check that needs such a value reports "not assessed", never a
// pass.

// unknown is a value an expression cannot know before deployment.
type unknown struct{ why string }

// armEnv holds what expressions can see.
type armEnv struct {
	params map[string]any // lower-case name → value (or unknown)
	vars   *object        // raw variables (may hold expressions)
	cache  map[string]any
	// evaluating guards against variables that refer to themselves.
	evaluating map[string]bool
	steps      int
}

// maxSteps bounds the work one template may cause.
const maxSteps = 200000

// isExpression reports whether a template string is an expression.
func isExpression(s string) bool {
	return len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' && !strings.HasPrefix(s, "[[")
}

// evalString evaluates a template string: an expression, an escaped
// literal ("[[...]"), or a plain string.
func (e *armEnv) evalString(s string) any {
	if !isExpression(s) {
		if strings.HasPrefix(s, "[[") {
			return evaluatedString(s[1:])
		}
		return s
	}
	p := &exprParser{src: s[1 : len(s)-1]}
	ex, err := p.parse()
	if err != nil {
		return unknown{why: fmt.Sprintf("the ARM expression %s, which bulwark cannot parse (%v)", s, err)}
	}
	v := e.eval(ex)
	if u, ok := v.(unknown); ok {
		return unknown{why: fmt.Sprintf("the ARM expression %s, unknown before deployment (%s)", s, u.why)}
	}
	if str, ok := v.(string); ok {
		return evaluatedString(str)
	}
	return v
}

// deep evaluates every expression string inside v.
func (e *armEnv) deep(v any) any {
	e.steps++
	if e.steps > maxSteps {
		return unknown{why: "the template is too large to evaluate"}
	}
	switch v := v.(type) {
	case string:
		return e.evalString(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = e.deep(x)
		}
		return out
	case *object:
		out := &object{}
		for i, k := range v.keys {
			out.set(k, e.deep(v.vals[i]))
		}
		return out
	}
	return v
}

func (e *armEnv) variable(name string) any {
	key := strings.ToLower(name)
	if v, ok := e.cache[key]; ok {
		return v
	}
	if e.vars == nil {
		return unknown{why: fmt.Sprintf("variable '%s' is not defined", name)}
	}
	raw, ok := e.vars.get(name)
	if !ok {
		return unknown{why: fmt.Sprintf("variable '%s' is not defined", name)}
	}
	if e.evaluating == nil {
		e.evaluating = map[string]bool{}
	}
	if e.evaluating[key] {
		return unknown{why: fmt.Sprintf("variable '%s' refers to itself", name)}
	}
	e.evaluating[key] = true
	v := e.deep(raw)
	delete(e.evaluating, key)
	if e.cache == nil {
		e.cache = map[string]any{}
	}
	e.cache[key] = v
	return v
}

// expr is a parsed expression.
type expr interface{}

type (
	litExpr  struct{ v any }
	callExpr struct {
		name string
		args []expr
	}
	propExpr struct {
		x    expr
		name string
	}
	indexExpr struct{ x, index expr }
)

type exprParser struct {
	src   string
	pos   int
	depth int
}

func (p *exprParser) parse() (expr, error) {
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("unexpected %q at %d", p.src[p.pos:], p.pos)
	}
	return x, nil
}

func (p *exprParser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func (p *exprParser) expr() (expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 64 {
		return nil, fmt.Errorf("nested too deeply")
	}
	p.space()
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("unexpected end")
	}
	var x expr
	switch c := p.src[p.pos]; {
	case c == '\'':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		x = litExpr{s}
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.ParseInt(p.src[start:p.pos], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", p.src[start:p.pos])
		}
		x = litExpr{float64(n)}
	case isIdent(c):
		start := p.pos
		for p.pos < len(p.src) && (isIdent(p.src[p.pos]) || (p.src[p.pos] >= '0' && p.src[p.pos] <= '9')) {
			p.pos++
		}
		name := p.src[start:p.pos]
		p.space()
		if p.pos >= len(p.src) || p.src[p.pos] != '(' {
			return nil, fmt.Errorf("expected ( after %s", name)
		}
		p.pos++
		var args []expr
		p.space()
		if p.pos < len(p.src) && p.src[p.pos] == ')' {
			p.pos++
		} else {
			for {
				a, err := p.expr()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				p.space()
				if p.pos >= len(p.src) {
					return nil, fmt.Errorf("unterminated call to %s", name)
				}
				if p.src[p.pos] == ',' {
					p.pos++
					continue
				}
				if p.src[p.pos] == ')' {
					p.pos++
					break
				}
				return nil, fmt.Errorf("unexpected %q in call to %s", p.src[p.pos], name)
			}
		}
		x = callExpr{name: strings.ToLower(name), args: args}
	default:
		return nil, fmt.Errorf("unexpected %q", c)
	}
	for {
		p.space()
		if p.pos >= len(p.src) {
			return x, nil
		}
		switch p.src[p.pos] {
		case '.':
			p.pos++
			p.space()
			start := p.pos
			for p.pos < len(p.src) && (isIdent(p.src[p.pos]) || (p.src[p.pos] >= '0' && p.src[p.pos] <= '9')) {
				p.pos++
			}
			if start == p.pos {
				return nil, fmt.Errorf("expected a property name after '.'")
			}
			x = propExpr{x: x, name: p.src[start:p.pos]}
		case '[':
			p.pos++
			idx, err := p.expr()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.pos >= len(p.src) || p.src[p.pos] != ']' {
				return nil, fmt.Errorf("expected ]")
			}
			p.pos++
			x = indexExpr{x: x, index: idx}
		default:
			return x, nil
		}
	}
}

func isIdent(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func (p *exprParser) str() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '\'' {
			if p.pos+1 < len(p.src) && p.src[p.pos+1] == '\'' {
				b.WriteByte('\'')
				p.pos += 2
				continue
			}
			p.pos++
			return b.String(), nil
		}
		b.WriteByte(c)
		p.pos++
	}
	return "", fmt.Errorf("unterminated string")
}

// eval evaluates a parsed expression.
func (e *armEnv) eval(x expr) any {
	e.steps++
	if e.steps > maxSteps {
		return unknown{why: "the template is too large to evaluate"}
	}
	switch x := x.(type) {
	case litExpr:
		return x.v
	case propExpr:
		base := e.eval(x.x)
		return member(base, x.name)
	case indexExpr:
		base := e.eval(x.x)
		idx := e.eval(x.index)
		if u, ok := base.(unknown); ok {
			return u
		}
		if u, ok := idx.(unknown); ok {
			return u
		}
		switch b := base.(type) {
		case []any:
			if f, ok := idx.(float64); ok && f >= 0 && f < float64(len(b)) {
				return b[int(f)]
			}
			return unknown{why: "index out of range"}
		case *object:
			if s, ok := asString(idx); ok {
				return member(b, s)
			}
		}
		return unknown{why: "cannot index this value"}
	case callExpr:
		return e.call(x)
	}
	return unknown{why: "unsupported expression"}
}

func member(base any, name string) any {
	switch b := base.(type) {
	case unknown:
		return b
	case *object:
		if v, ok := b.get(name); ok {
			return v
		}
		return unknown{why: fmt.Sprintf("no property %q", name)}
	}
	return unknown{why: fmt.Sprintf("property %q of a non-object", name)}
}

func asString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case evaluatedString:
		return string(v), true
	}
	return "", false
}

// deploymentOnly are functions whose value exists only at deployment.
var deploymentOnly = map[string]bool{
	"uniquestring": true, "guid": true, "newguid": true, "utcnow": true, "reference": true,
	"deployment": true, "environment": true, "copyindex": true, "managementgroup": true,
	"tenant": true, "pickzones": true, "managementgroupresourceid": true,
}

func (e *armEnv) call(x callExpr) any {
	// Functions with lazily evaluated arguments.
	if x.name == "if" {
		if len(x.args) != 3 {
			return unknown{why: "if() needs 3 arguments"}
		}
		c := e.eval(x.args[0])
		b, ok := c.(bool)
		if !ok {
			if u, isU := c.(unknown); isU {
				return u
			}
			return unknown{why: "if() condition is not a boolean"}
		}
		if b {
			return e.eval(x.args[1])
		}
		return e.eval(x.args[2])
	}
	args := make([]any, len(x.args))
	for i, a := range x.args {
		args[i] = e.eval(a)
	}
	firstUnknown := func() (unknown, bool) {
		for _, a := range args {
			if u, ok := a.(unknown); ok {
				return u, true
			}
		}
		return unknown{}, false
	}
	switch {
	case deploymentOnly[x.name] || strings.HasPrefix(x.name, "list"):
		return unknown{why: x.name + "() is decided at deployment"}
	case x.name == "resourcegroup":
		return &object{keys: []string{"name", "location", "id"}, vals: []any{
			unknown{why: "resourceGroup().name is decided at deployment"},
			unknown{why: "resourceGroup().location is decided at deployment"},
			unknown{why: "resourceGroup().id is decided at deployment"},
		}}
	case x.name == "subscription":
		return &object{keys: []string{"subscriptionId", "id", "tenantId", "displayName"}, vals: []any{
			unknown{why: "subscription() is decided at deployment"},
			unknown{why: "subscription() is decided at deployment"},
			unknown{why: "subscription() is decided at deployment"},
			unknown{why: "subscription() is decided at deployment"},
		}}
	case x.name == "parameters":
		if len(args) != 1 {
			return unknown{why: "parameters() needs one argument"}
		}
		name, ok := asString(args[0])
		if !ok {
			return unknown{why: "parameters() name is not a string"}
		}
		key := strings.ToLower(name)
		v, found := e.params[key]
		if !found {
			return unknown{why: fmt.Sprintf("parameter '%s' is not defined", name)}
		}
		if lp, ok := v.(lazyParam); ok {
			e.params[key] = unknown{why: fmt.Sprintf("parameter '%s' refers to itself", name)}
			v = e.deep(lp.raw)
			e.params[key] = v
		}
		return v
	case x.name == "variables":
		if len(args) != 1 {
			return unknown{why: "variables() needs one argument"}
		}
		name, ok := asString(args[0])
		if !ok {
			return unknown{why: "variables() name is not a string"}
		}
		return e.variable(name)
	case x.name == "true":
		return true
	case x.name == "false":
		return false
	case x.name == "null":
		return nil
	}
	if u, ok := firstUnknown(); ok {
		// coalesce can skip unknown arguments only after a known non-null.
		if x.name != "coalesce" {
			return u
		}
	}
	switch x.name {
	case "concat":
		if len(args) > 0 {
			if _, isArr := args[0].([]any); isArr {
				var out []any
				for _, a := range args {
					arr, ok := a.([]any)
					if !ok {
						return unknown{why: "concat() mixes arrays and other values"}
					}
					out = append(out, arr...)
				}
				return out
			}
		}
		var b strings.Builder
		for _, a := range args {
			b.WriteString(stringify(a))
		}
		return b.String()
	case "format":
		if len(args) == 0 {
			return unknown{why: "format() needs arguments"}
		}
		f, _ := asString(args[0])
		for i := len(args) - 1; i >= 1; i-- {
			f = strings.ReplaceAll(f, "{"+strconv.Itoa(i-1)+"}", stringify(args[i]))
		}
		return f
	case "tolower":
		if len(args) == 1 {
			return strings.ToLower(stringify(args[0]))
		}
	case "toupper":
		if len(args) == 1 {
			return strings.ToUpper(stringify(args[0]))
		}
	case "trim":
		if len(args) == 1 {
			return strings.TrimSpace(stringify(args[0]))
		}
	case "string":
		if len(args) == 1 {
			return stringify(args[0])
		}
	case "bool":
		if len(args) == 1 {
			switch v := args[0].(type) {
			case bool:
				return v
			case float64:
				return v != 0
			}
			if s, ok := asString(args[0]); ok {
				if b, err := strconv.ParseBool(strings.ToLower(s)); err == nil {
					return b
				}
			}
		}
	case "int":
		if len(args) == 1 {
			switch v := args[0].(type) {
			case float64:
				return v
			}
			if s, ok := asString(args[0]); ok {
				if n, err := strconv.ParseInt(s, 10, 64); err == nil {
					return float64(n)
				}
			}
		}
	case "json":
		if len(args) == 1 {
			if s, ok := asString(args[0]); ok {
				n, err := parseJSON("json()", []byte(s))
				if err != nil {
					return unknown{why: "json() of invalid JSON"}
				}
				return n.toAny()
			}
		}
	case "equals":
		if len(args) == 2 {
			return equalValues(args[0], args[1])
		}
	case "not":
		if len(args) == 1 {
			if b, ok := args[0].(bool); ok {
				return !b
			}
		}
	case "and", "or":
		all, any := true, false
		for _, a := range args {
			b, ok := a.(bool)
			if !ok {
				return unknown{why: x.name + "() of a non-boolean"}
			}
			all = all && b
			any = any || b
		}
		if x.name == "and" {
			return all
		}
		return any
	case "empty":
		if len(args) == 1 {
			switch v := args[0].(type) {
			case nil:
				return true
			case []any:
				return len(v) == 0
			case *object:
				return len(v.keys) == 0
			}
			if s, ok := asString(args[0]); ok {
				return s == ""
			}
		}
	case "length":
		if len(args) == 1 {
			switch v := args[0].(type) {
			case []any:
				return float64(len(v))
			case *object:
				return float64(len(v.keys))
			}
			if s, ok := asString(args[0]); ok {
				return float64(len(s))
			}
		}
	case "contains":
		if len(args) == 2 {
			switch c := args[0].(type) {
			case []any:
				for _, v := range c {
					if equalValues(v, args[1]) {
						return true
					}
				}
				return false
			case *object:
				k, _ := asString(args[1])
				_, ok := c.get(k)
				return ok
			}
			if s, ok := asString(args[0]); ok {
				return strings.Contains(strings.ToLower(s), strings.ToLower(stringify(args[1])))
			}
		}
	case "coalesce":
		for _, a := range args {
			switch a.(type) {
			case unknown:
				return a
			case nil:
				continue
			}
			return a
		}
		return nil
	case "createarray":
		return append([]any{}, args...)
	case "createobject":
		if len(args)%2 == 0 {
			o := &object{}
			for i := 0; i < len(args); i += 2 {
				k, ok := asString(args[i])
				if !ok {
					return unknown{why: "createObject() key is not a string"}
				}
				o.set(k, args[i+1])
			}
			return o
		}
	case "union":
		o := &object{}
		for _, a := range args {
			src, ok := a.(*object)
			if !ok {
				return unknown{why: "union() of non-objects"}
			}
			for i, k := range src.keys {
				o.set(k, src.vals[i])
			}
		}
		return o
	case "first", "last":
		if len(args) == 1 {
			if arr, ok := args[0].([]any); ok && len(arr) > 0 {
				if x.name == "first" {
					return arr[0]
				}
				return arr[len(arr)-1]
			}
		}
	case "split":
		if len(args) == 2 {
			s, ok1 := asString(args[0])
			sep, ok2 := asString(args[1])
			if ok1 && ok2 && sep != "" {
				var out []any
				for _, part := range strings.Split(s, sep) {
					out = append(out, part)
				}
				return out
			}
		}
	case "replace":
		if len(args) == 3 {
			return strings.ReplaceAll(stringify(args[0]), stringify(args[1]), stringify(args[2]))
		}
	case "resourceid", "subscriptionresourceid", "tenantresourceid", "extensionresourceid":
		return resourceID(x.name, args)
	}
	return unknown{why: x.name + "() is not evaluated by bulwark"}
}

// resourceID builds the ID resourceId() and its relatives return. The
// subscription and resource group of the deployment stay placeholders
// ("{subscriptionId}", "{resourceGroup}").
func resourceID(fn string, args []any) any {
	strs := make([]string, len(args))
	for i, a := range args {
		s, ok := asString(a)
		if !ok {
			return unknown{why: fn + "() of a non-string"}
		}
		strs[i] = s
	}
	if fn == "extensionresourceid" {
		if len(strs) < 3 {
			return unknown{why: "extensionResourceId() needs a scope, a type and a name"}
		}
		return strings.TrimRight(strs[0], "/") + "/providers/" + joinTypeNames(strs[1], strs[2:])
	}
	t := -1
	for i, s := range strs {
		if strings.Contains(s, "/") {
			t = i
			break
		}
	}
	if t < 0 || t+1 >= len(strs) {
		return unknown{why: fn + "() without a resource type and name"}
	}
	sub, rg := "{subscriptionId}", "{resourceGroup}"
	switch {
	case t == 2:
		sub, rg = strs[0], strs[1]
	case t == 1 && fn == "subscriptionresourceid":
		sub = strs[0]
	case t == 1:
		rg = strs[0]
	}
	tail := joinTypeNames(strs[t], strs[t+1:])
	switch fn {
	case "tenantresourceid":
		return "/providers/" + tail
	case "subscriptionresourceid":
		return "/subscriptions/" + sub + "/providers/" + tail
	}
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/" + tail
}

// joinTypeNames interleaves "Microsoft.Network/virtualNetworks/subnets"
// with names ["vnet", "snet"] into
// "Microsoft.Network/virtualNetworks/vnet/subnets/snet".
func joinTypeNames(typ string, names []string) string {
	parts := strings.Split(typ, "/")
	if len(parts) < 2 {
		return typ + "/" + strings.Join(names, "/")
	}
	out := []string{parts[0]}
	for i, p := range parts[1:] {
		out = append(out, p)
		if i < len(names) {
			out = append(out, names[i])
		}
	}
	return strings.Join(out, "/")
}

func stringify(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case evaluatedString:
		return string(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	b, _ := json.Marshal(plain(v))
	return string(b)
}

func plain(v any) any {
	switch v := v.(type) {
	case evaluatedString:
		return string(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plain(x)
		}
		return out
	case *object:
		out := map[string]any{}
		for i, k := range v.keys {
			out[k] = plain(v.vals[i])
		}
		return out
	case unknown:
		return nil
	}
	return v
}

func equalValues(a, b any) bool {
	as, aok := asString(a)
	bs, bok := asString(b)
	if aok && bok {
		return strings.EqualFold(as, bs)
	}
	pa, _ := json.Marshal(plain(a))
	pb, _ := json.Marshal(plain(b))
	return string(pa) == string(pb)
}

package detect

import (
	"fmt"
	"strconv"
	"strings"
)

// The condition language is Falco's (libsinsp's filter grammar):
//
//	Expr       ::= AndExpr ('or' AndExpr)*
//	AndExpr    ::= NotExpr ('and' NotExpr)*
//	NotExpr    ::= 'not'* Check
//	Check      ::= Field Operator Value | Field 'exists' | MacroName | '(' Expr ')'
//	Field      ::= [transformer '('] FieldName ['[' Arg ']'] [')']
//	Value      ::= QuotedString | BareString | '(' [Value (',' Value)*] ')' | ListName
//
// Keywords are 'and', 'or', 'not' and the word operators. A bare string
// runs up to whitespace, '(', ')', ',', '=' or a quote.

// maxParseDepth bounds nesting so hostile conditions cannot exhaust the
// stack.
const maxParseDepth = 1000

// expr is a node of a parsed condition.
type expr interface{ offset() int }

type andExpr struct {
	pos  int
	list []expr
}

type orExpr struct {
	pos  int
	list []expr
}

type notExpr struct {
	pos int
	x   expr
}

// identExpr is a macro reference.
type identExpr struct {
	pos  int
	name string
}

// fieldExpr is the left-hand side of a check.
type fieldExpr struct {
	pos    int
	name   string
	arg    string
	hasArg bool
	// transformers are applied innermost first.
	transformers []string
}

func (f fieldExpr) String() string {
	s := f.name
	if f.hasArg {
		s += "[" + f.arg + "]"
	}
	for _, t := range f.transformers {
		s = t + "(" + s + ")"
	}
	return s
}

// valueExpr is one right-hand side value.
type valueExpr struct {
	pos    int
	s      string
	quoted bool
}

// checkExpr compares a field with values.
type checkExpr struct {
	pos   int
	field fieldExpr
	op    string
	// values is the right-hand side; for list operators it may name lists
	// to expand.
	values []valueExpr
	// listIdent is set when the right-hand side is a bare list name
	// ("x in my_list").
	listIdent bool
}

func (e *andExpr) offset() int   { return e.pos }
func (e *orExpr) offset() int    { return e.pos }
func (e *notExpr) offset() int   { return e.pos }
func (e *identExpr) offset() int { return e.pos }
func (e *checkExpr) offset() int { return e.pos }

// SyntaxError is a malformed condition.
type SyntaxError struct {
	// Offset is the byte offset in the condition.
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s (at offset %d)", e.Msg, e.Offset)
}

// Operators by kind.
var (
	unaryOps = map[string]bool{"exists": true}
	numOps   = map[string]bool{"<": true, "<=": true, ">": true, ">=": true}
	strOps   = map[string]bool{
		"=": true, "==": true, "!=": true, "contains": true, "icontains": true, "startswith": true,
		"endswith": true, "glob": true, "iglob": true, "regex": true, "bcontains": true, "bstartswith": true,
	}
	listOps = map[string]bool{"in": true, "intersects": true, "pmatch": true}
)

var transformerNames = map[string]bool{"tolower": true, "toupper": true, "b64": true, "basename": true, "len": true}

type parser struct {
	in    string
	pos   int
	depth int
}

// parseCondition parses a condition into an expression tree.
func parseCondition(in string) (expr, error) {
	p := &parser{in: in}
	p.blank()
	if p.pos >= len(p.in) {
		return nil, &SyntaxError{0, "empty condition"}
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.blank()
	if p.pos < len(p.in) {
		if p.in[p.pos] == ')' {
			return nil, &SyntaxError{p.pos, "unbalanced parentheses: unexpected ')'"}
		}
		return nil, &SyntaxError{p.pos, fmt.Sprintf("unexpected %s after expression, expecting 'and', 'or' or the end", p.describe())}
	}
	return e, nil
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\b' || c == '\f' || c == '\v'
}

func (p *parser) blank() {
	for p.pos < len(p.in) && isBlank(p.in[p.pos]) {
		p.pos++
	}
}

// describe names the token at the cursor for error messages.
func (p *parser) describe() string {
	if p.pos >= len(p.in) {
		return "end of condition"
	}
	end := p.pos
	for end < len(p.in) && !isBlank(p.in[end]) && end-p.pos < 24 {
		end++
	}
	if end == p.pos {
		end++
	}
	return strconv.Quote(p.in[p.pos:end])
}

// keyword consumes kw when it is followed by a blank or '('.
func (p *parser) keyword(kw string) bool {
	if !strings.HasPrefix(p.in[p.pos:], kw) {
		return false
	}
	next := p.pos + len(kw)
	if next < len(p.in) && !isBlank(p.in[next]) && p.in[next] != '(' {
		return false
	}
	p.pos = next
	return true
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxParseDepth {
		return &SyntaxError{p.pos, "condition nested too deeply"}
	}
	return nil
}

func (p *parser) parseOr() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	start := p.pos
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	list := []expr{first}
	for {
		p.blank()
		if !p.keyword("or") {
			break
		}
		p.blank()
		next, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		list = append(list, next)
	}
	if len(list) == 1 {
		return first, nil
	}
	return &orExpr{start, list}, nil
}

func (p *parser) parseAnd() (expr, error) {
	start := p.pos
	first, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	list := []expr{first}
	for {
		p.blank()
		if !p.keyword("and") {
			break
		}
		p.blank()
		next, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		list = append(list, next)
	}
	if len(list) == 1 {
		return first, nil
	}
	return &andExpr{start, list}, nil
}

func (p *parser) parseNot() (expr, error) {
	start := p.pos
	nots := 0
	for {
		p.blank()
		if !p.keyword("not") {
			break
		}
		nots++
		if nots > maxParseDepth {
			return nil, &SyntaxError{p.pos, "condition nested too deeply"}
		}
	}
	p.blank()
	e, err := p.parseCheck()
	if err != nil {
		return nil, err
	}
	for range nots {
		e = &notExpr{start, e}
	}
	return e, nil
}

func isIdentStart(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '_' }

// lexName reads [a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z][a-zA-Z0-9_]*)*.
func (p *parser) lexName() string {
	start := p.pos
	if p.pos >= len(p.in) || !isIdentStart(p.in[p.pos]) {
		return ""
	}
	for {
		for p.pos < len(p.in) && isIdentChar(p.in[p.pos]) {
			p.pos++
		}
		if p.pos+1 < len(p.in) && p.in[p.pos] == '.' && isIdentStart(p.in[p.pos+1]) {
			p.pos++
			continue
		}
		return p.in[start:p.pos]
	}
}

func (p *parser) parseCheck() (expr, error) {
	start := p.pos
	if p.pos >= len(p.in) {
		return nil, &SyntaxError{p.pos, "unexpected end of condition, expecting a check, a macro or '('"}
	}
	if p.in[p.pos] == '(' {
		p.pos++
		p.blank()
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.blank()
		if p.pos >= len(p.in) || p.in[p.pos] != ')' {
			return nil, &SyntaxError{start, "unbalanced parentheses: missing ')' for this '('"}
		}
		p.pos++
		return e, nil
	}
	name := p.lexName()
	if name == "" {
		if p.in[p.pos] == ')' {
			return nil, &SyntaxError{p.pos, "unbalanced parentheses: unexpected ')'"}
		}
		return nil, &SyntaxError{p.pos, fmt.Sprintf("unexpected %s, expecting a check, a macro or '('", p.describe())}
	}
	// A transformer: tolower(field) op value.
	if transformerNames[name] && p.pos < len(p.in) && p.in[p.pos] == '(' {
		p.pos = start
		f, err := p.parseTransformed()
		if err != nil {
			return nil, err
		}
		return p.parseCondition(start, f)
	}
	if name == "and" || name == "or" || name == "not" {
		return nil, &SyntaxError{start, fmt.Sprintf("unexpected keyword '%s', expecting a check, a macro or '('", name)}
	}
	if !strings.Contains(name, ".") {
		if p.pos < len(p.in) && p.in[p.pos] == '[' {
			return nil, &SyntaxError{start, fmt.Sprintf("%q is not a field name (fields have the form class.name)", name)}
		}
		return &identExpr{start, name}, nil
	}
	f := fieldExpr{pos: start, name: name}
	if err := p.parseFieldArg(&f); err != nil {
		return nil, err
	}
	return p.parseCondition(start, f)
}

// parseTransformed reads transformer(...(field)...).
func (p *parser) parseTransformed() (fieldExpr, error) {
	start := p.pos
	var stack []string
	for {
		save := p.pos
		name := p.lexName()
		if transformerNames[name] && p.pos < len(p.in) && p.in[p.pos] == '(' {
			p.pos++
			p.blank()
			stack = append(stack, name)
			if len(stack) > 16 {
				return fieldExpr{}, &SyntaxError{save, "too many nested transformers"}
			}
			continue
		}
		if name == "" || !strings.Contains(name, ".") {
			p.pos = save
			return fieldExpr{}, &SyntaxError{save, fmt.Sprintf("expecting a field name inside %s(), got %s", stack[len(stack)-1], p.describe())}
		}
		f := fieldExpr{pos: save, name: name}
		if err := p.parseFieldArg(&f); err != nil {
			return fieldExpr{}, err
		}
		for i := len(stack) - 1; i >= 0; i-- {
			p.blank()
			if p.pos >= len(p.in) || p.in[p.pos] != ')' {
				return fieldExpr{}, &SyntaxError{start, fmt.Sprintf("unbalanced parentheses: missing ')' closing %s(", stack[i])}
			}
			p.pos++
			f.transformers = append(f.transformers, stack[i])
		}
		return f, nil
	}
}

func (p *parser) parseFieldArg(f *fieldExpr) error {
	if p.pos >= len(p.in) || p.in[p.pos] != '[' {
		return nil
	}
	open := p.pos
	p.pos++
	if p.pos < len(p.in) && (p.in[p.pos] == '"' || p.in[p.pos] == '\'') {
		s, err := p.lexQuoted()
		if err != nil {
			return err
		}
		f.arg = s
	} else {
		start := p.pos
		for p.pos < len(p.in) && !strings.ContainsRune(" \b\t\n\r[]\"'", rune(p.in[p.pos])) {
			p.pos++
		}
		f.arg = p.in[start:p.pos]
	}
	if p.pos >= len(p.in) || p.in[p.pos] != ']' {
		return &SyntaxError{open, fmt.Sprintf("missing ']' closing the argument of %s", f.name)}
	}
	p.pos++
	f.hasArg = true
	return nil
}

// lexOperator reads a symbolic or word operator.
func (p *parser) lexOperator() string {
	for _, op := range []string{"==", "!=", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(p.in[p.pos:], op) {
			p.pos += len(op)
			return op
		}
	}
	start := p.pos
	for p.pos < len(p.in) && p.in[p.pos] >= 'a' && p.in[p.pos] <= 'z' {
		p.pos++
	}
	return p.in[start:p.pos]
}

func (p *parser) parseCondition(start int, f fieldExpr) (expr, error) {
	p.blank()
	if p.pos >= len(p.in) {
		return nil, &SyntaxError{p.pos, fmt.Sprintf("missing operator after field %s", f)}
	}
	opPos := p.pos
	op := p.lexOperator()
	switch {
	case op == "":
		return nil, &SyntaxError{opPos, fmt.Sprintf("expecting an operator after field %s, got %s", f, p.describe())}
	case unaryOps[op]:
		return &checkExpr{pos: start, field: f, op: op}, nil
	case numOps[op]:
		p.blank()
		v, ok := p.lexNumber()
		if !ok {
			return nil, &SyntaxError{p.pos, fmt.Sprintf("operator %s needs a number, got %s", op, p.describe())}
		}
		return &checkExpr{pos: start, field: f, op: op, values: []valueExpr{v}}, nil
	case strOps[op]:
		if isIdentChar(op[len(op)-1]) && p.pos < len(p.in) && !isBlank(p.in[p.pos]) && p.in[p.pos] != '"' && p.in[p.pos] != '\'' {
			return nil, p.unknownOp(opPos, op, f)
		}
		p.blank()
		v, err := p.lexValue()
		if err != nil {
			return nil, err
		}
		return &checkExpr{pos: start, field: f, op: op, values: []valueExpr{v}}, nil
	case listOps[op]:
		p.blank()
		if p.pos < len(p.in) && p.in[p.pos] == '(' {
			vals, err := p.lexList()
			if err != nil {
				return nil, err
			}
			return &checkExpr{pos: start, field: f, op: op, values: vals}, nil
		}
		namePos := p.pos
		name := p.lexName()
		if name == "" || strings.Contains(name, ".") {
			p.pos = namePos
			return nil, &SyntaxError{namePos, fmt.Sprintf("operator %s needs a list: '(a, b)' or a list name, got %s", op, p.describe())}
		}
		return &checkExpr{pos: start, field: f, op: op, values: []valueExpr{{pos: namePos, s: name}}, listIdent: true}, nil
	default:
		return nil, p.unknownOp(opPos, op, f)
	}
}

func (p *parser) unknownOp(pos int, op string, f fieldExpr) error {
	end := pos
	for end < len(p.in) && !isBlank(p.in[end]) && p.in[end] != '(' {
		end++
	}
	return &SyntaxError{pos, fmt.Sprintf("unknown operator %q after field %s (want one of %s)", p.in[pos:end], f, operatorList)}
}

var operatorList = "=, ==, !=, <, <=, >, >=, contains, icontains, startswith, endswith, glob, iglob, regex, in, intersects, pmatch, exists"

func (p *parser) lexNumber() (valueExpr, bool) {
	start := p.pos
	i := p.pos
	if strings.HasPrefix(p.in[i:], "0x") || strings.HasPrefix(p.in[i:], "0X") {
		j := i + 2
		for j < len(p.in) && isIdentChar(p.in[j]) {
			j++
		}
		if j > i+2 {
			p.pos = j
			return valueExpr{pos: start, s: p.in[start:j]}, true
		}
	}
	if i < len(p.in) && (p.in[i] == '+' || p.in[i] == '-') {
		i++
	}
	digits := i
	for i < len(p.in) && p.in[i] >= '0' && p.in[i] <= '9' {
		i++
	}
	if i == digits {
		return valueExpr{}, false
	}
	if i < len(p.in) && p.in[i] == '.' {
		i++
		for i < len(p.in) && p.in[i] >= '0' && p.in[i] <= '9' {
			i++
		}
	}
	if i+1 < len(p.in) && (p.in[i] == 'e' || p.in[i] == 'E') && (p.in[i+1] == '+' || p.in[i+1] == '-') {
		j := i + 2
		for j < len(p.in) && p.in[j] >= '0' && p.in[j] <= '9' {
			j++
		}
		if j > i+2 {
			i = j
		}
	}
	p.pos = i
	return valueExpr{pos: start, s: p.in[start:i]}, true
}

func isBareChar(c byte) bool {
	return !isBlank(c) && c != '(' && c != ')' && c != ',' && c != '=' && c != '"' && c != '\''
}

// lexValue reads a quoted or bare string.
func (p *parser) lexValue() (valueExpr, error) {
	start := p.pos
	if p.pos >= len(p.in) {
		return valueExpr{}, &SyntaxError{p.pos, "missing value at end of condition"}
	}
	if c := p.in[p.pos]; c == '"' || c == '\'' {
		s, err := p.lexQuoted()
		if err != nil {
			return valueExpr{}, err
		}
		return valueExpr{pos: start, s: s, quoted: true}, nil
	}
	for p.pos < len(p.in) && isBareChar(p.in[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return valueExpr{}, &SyntaxError{p.pos, fmt.Sprintf("expecting a value, got %s", p.describe())}
	}
	return valueExpr{pos: start, s: p.in[start:p.pos]}, nil
}

// lexQuoted reads a single- or double-quoted string. Backslash escapes
// the quote, a backslash, \b \f \n \r \t and \xHH; any other escape is
// kept as written so regular expressions survive.
func (p *parser) lexQuoted() (string, error) {
	start := p.pos
	q := p.in[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.in):
			n := p.in[p.pos+1]
			switch n {
			case '"', '\'', '\\':
				b.WriteByte(n)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'x':
				if p.pos+3 < len(p.in) {
					if v, err := strconv.ParseUint(p.in[p.pos+2:p.pos+4], 16, 8); err == nil {
						b.WriteByte(byte(v))
						p.pos += 4
						continue
					}
				}
				b.WriteString(`\x`)
			default:
				b.WriteByte('\\')
				b.WriteByte(n)
			}
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", &SyntaxError{start, "unterminated quoted string"}
}

// lexList reads '(' [value (',' value)*] ')'.
func (p *parser) lexList() ([]valueExpr, error) {
	open := p.pos
	p.pos++
	p.blank()
	var vals []valueExpr
	if p.pos < len(p.in) && p.in[p.pos] == ')' {
		p.pos++
		return vals, nil
	}
	for {
		p.blank()
		if p.pos >= len(p.in) {
			return nil, &SyntaxError{open, "unbalanced parentheses: missing ')' closing this list"}
		}
		v, err := p.lexValue()
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		p.blank()
		if p.pos >= len(p.in) {
			return nil, &SyntaxError{open, "unbalanced parentheses: missing ')' closing this list"}
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return vals, nil
		default:
			return nil, &SyntaxError{p.pos, fmt.Sprintf("expecting ',' or ')' in list, got %s", p.describe())}
		}
	}
}

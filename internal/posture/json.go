package posture

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kind is the JSON type of a node.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kArray
	kObject
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// node is one JSON value with the line it starts on. Object keys keep
// their order and their case; lookups compare keys case-insensitively,
// because the Azure CLI and the Azure REST API spell the same field with
// different casing (authorizedIpRanges, authorizedIPRanges).
type node struct {
	kind kind
	line int
	b    bool
	str  string // string value, or the literal of a number
	keys []string
	vals []*node // object members (parallel to keys) or array elements
	// evaluated marks a string produced by evaluating an ARM expression,
	// so that it is never evaluated again.
	evaluated bool
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 256

// SyntaxError is malformed JSON, with its position.
type SyntaxError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

// Error renders file:line:column: invalid JSON: message.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d:%d: invalid JSON: %s", e.File, e.Line, e.Column, e.Msg)
}

// parseJSON parses data into a tree of nodes.
func parseJSON(file string, data []byte) (*node, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	p := &jsonParser{file: file, data: data, line: 1}
	p.space()
	if p.pos >= len(p.data) {
		return nil, p.errorf("empty input")
	}
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos < len(p.data) {
		return nil, p.errorf("unexpected %s after the top-level value", p.describe())
	}
	return n, nil
}

type jsonParser struct {
	file    string
	data    []byte
	pos     int
	line    int
	lineAt  int // offset where the current line starts
	scratch []byte
}

func (p *jsonParser) errorf(format string, args ...any) error {
	col := utf8.RuneCount(p.data[p.lineAt:min(p.pos, len(p.data))]) + 1
	return &SyntaxError{File: p.file, Line: p.line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *jsonParser) describe() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	return strconv.QuoteRune(r)
}

func (p *jsonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\n':
			p.line++
			p.pos++
			p.lineAt = p.pos
		case ' ', '\t', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nesting deeper than %d levels", maxDepth)
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	line := p.line
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &node{kind: kString, line: line, str: s}, nil
	case c == 't':
		return p.literal("true", &node{kind: kBool, line: line, b: true})
	case c == 'f':
		return p.literal("false", &node{kind: kBool, line: line})
	case c == 'n':
		return p.literal("null", &node{kind: kNull, line: line})
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return nil, p.errorf("unexpected %s looking for a value", p.describe())
}

func (p *jsonParser) literal(word string, n *node) (*node, error) {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return nil, p.errorf("unexpected %s looking for a value", p.describe())
	}
	p.pos += len(word)
	return n, nil
}

func (p *jsonParser) number() (*node, error) {
	start := p.pos
	line := p.line
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.pos++
			continue
		}
		break
	}
	lit := string(p.data[start:p.pos])
	if !json.Valid([]byte(lit)) {
		p.pos = start
		return nil, p.errorf("invalid number %q", lit)
	}
	return &node{kind: kNumber, line: line, str: lit}, nil
}

func (p *jsonParser) string() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	simple := true
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			raw := p.data[start:p.pos]
			if simple {
				return string(raw[1 : len(raw)-1]), nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				p.pos = start
				return "", p.errorf("invalid string: %v", cleanJSONErr(err))
			}
			return s, nil
		case c == '\\':
			simple = false
			p.pos += 2
		case c < 0x20:
			if c == '\n' {
				return "", p.errorf("newline inside a string")
			}
			return "", p.errorf("control character inside a string")
		default:
			if c >= utf8.RuneSelf {
				simple = false
			}
			p.pos++
		}
	}
	p.pos = len(p.data)
	return "", p.errorf("unterminated string")
}

func (p *jsonParser) object(depth int) (*node, error) {
	n := &node{kind: kObject, line: p.line}
	p.pos++ // {
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return n, nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("unexpected %s looking for an object key", p.describe())
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("unexpected %s after object key %q", p.describe(), key)
		}
		p.pos++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, key)
		n.vals = append(n.vals, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input inside an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return n, nil
		default:
			return nil, p.errorf("unexpected %s after object value", p.describe())
		}
	}
}

func (p *jsonParser) array(depth int) (*node, error) {
	n := &node{kind: kArray, line: p.line}
	p.pos++ // [
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return n, nil
	}
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.vals = append(n.vals, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input inside an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return n, nil
		default:
			return nil, p.errorf("unexpected %s after array element", p.describe())
		}
	}
}

func cleanJSONErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error()
	}
	return err.Error()
}

// get returns the member of an object whose key equals key,
// case-insensitively, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kObject {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	for i, k := range n.keys {
		if strings.EqualFold(k, key) {
			return n.vals[i]
		}
	}
	return nil
}

// has reports whether an object has key (case-insensitively), even with a
// null value.
func (n *node) has(key string) bool { return n.get(key) != nil }

// keyOf returns the key as spelled in the input, or key itself.
func (n *node) keyOf(key string) string {
	if n == nil || n.kind != kObject {
		return key
	}
	for _, k := range n.keys {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return key
}

// isNull reports a JSON null (or a nil node).
func (n *node) isNull() bool { return n == nil || n.kind == kNull }

// text returns a string value; ok is false for other kinds.
func (n *node) text() (string, bool) {
	if n == nil || n.kind != kString {
		return "", false
	}
	return n.str, true
}

// textOr returns the string value, or "" for any other kind.
func (n *node) textOr() string {
	s, _ := n.text()
	return s
}

// elems returns the elements of an array (nil for other kinds).
func (n *node) elems() []*node {
	if n == nil || n.kind != kArray {
		return nil
	}
	return n.vals
}

// toAny converts a node into plain Go values (map[string]any, []any,
// string, float64, bool, nil), for the ARM expression evaluator.
func (n *node) toAny() any {
	if n == nil {
		return nil
	}
	switch n.kind {
	case kBool:
		return n.b
	case kNumber:
		f, _ := strconv.ParseFloat(n.str, 64)
		return f
	case kString:
		if n.evaluated {
			return evaluatedString(n.str)
		}
		return n.str
	case kArray:
		out := make([]any, len(n.vals))
		for i, v := range n.vals {
			out[i] = v.toAny()
		}
		return out
	case kObject:
		out := &object{}
		for i, k := range n.keys {
			out.set(k, n.vals[i].toAny())
		}
		return out
	}
	return nil
}

// fromAny converts a plain Go value back into a node at line.
func fromAny(v any, line int) *node {
	switch v := v.(type) {
	case nil:
		return &node{kind: kNull, line: line}
	case bool:
		return &node{kind: kBool, line: line, b: v}
	case float64:
		return &node{kind: kNumber, line: line, str: strconv.FormatFloat(v, 'f', -1, 64)}
	case int64:
		return &node{kind: kNumber, line: line, str: strconv.FormatInt(v, 10)}
	case string:
		return &node{kind: kString, line: line, str: v}
	case evaluatedString:
		return &node{kind: kString, line: line, str: string(v), evaluated: true}
	case []any:
		n := &node{kind: kArray, line: line}
		for _, e := range v {
			n.vals = append(n.vals, fromAny(e, line))
		}
		return n
	case *object:
		n := &node{kind: kObject, line: line}
		for i, k := range v.keys {
			n.keys = append(n.keys, k)
			n.vals = append(n.vals, fromAny(v.vals[i], line))
		}
		return n
	}
	return &node{kind: kNull, line: line}
}

// evaluatedString is a string produced by an ARM expression: it is data,
// never another expression.
type evaluatedString string

// object is an ordered JSON object for the ARM evaluator; keys compare
// case-insensitively, as ARM does.
type object struct {
	keys []string
	vals []any
}

func (o *object) get(key string) (any, bool) {
	for i, k := range o.keys {
		if strings.EqualFold(k, key) {
			return o.vals[i], true
		}
	}
	return nil, false
}

func (o *object) set(key string, v any) {
	for i, k := range o.keys {
		if strings.EqualFold(k, key) {
			o.vals[i] = v
			return
		}
	}
	o.keys = append(o.keys, key)
	o.vals = append(o.vals, v)
}

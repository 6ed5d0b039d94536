package audit

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and objects in an event, as
// encoding/json does, so that hostile input cannot exhaust the stack.
const maxDepth = 10000

// Kind is the JSON type of a Value.
type Kind int

// JSON kinds. Invalid is returned for an empty or malformed value.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"invalid", "null", "boolean", "number", "string", "array", "object"}

// String returns the JSON name of k.
func (k Kind) String() string {
	if k < Invalid || k > Object {
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// Value is one JSON value inside an event, kept as its raw bytes. Values
// returned by an Event share the event's buffer and must not be modified.
// Every method is safe on malformed input: it reports "not found" or
// Invalid rather than panicking.
type Value []byte

// SyntaxError is a JSON syntax error at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(d []byte, i int) int {
	for i < len(d) && isSpace(d[i]) {
		i++
	}
	return i
}

// scanValue validates the JSON value starting at d[i] (i at its first
// byte) and returns the offset just past it.
func scanValue(d []byte, i, depth int) (int, error) {
	if i >= len(d) {
		return i, &SyntaxError{i, "unexpected end of input"}
	}
	switch c := d[i]; {
	case c == '{':
		return scanObject(d, i, depth+1)
	case c == '[':
		return scanArray(d, i, depth+1)
	case c == '"':
		return scanString(d, i)
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(d, i)
	case c == 't':
		return scanLiteral(d, i, "true")
	case c == 'f':
		return scanLiteral(d, i, "false")
	case c == 'n':
		return scanLiteral(d, i, "null")
	default:
		return i, &SyntaxError{i, fmt.Sprintf("unexpected character %q", c)}
	}
}

func scanLiteral(d []byte, i int, lit string) (int, error) {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return i, &SyntaxError{i, "invalid literal, want " + lit}
	}
	return i + len(lit), nil
}

func scanObject(d []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return i, &SyntaxError{i, "nesting too deep"}
	}
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return i, &SyntaxError{i, "expected object key string"}
		}
		end, err := scanString(d, i)
		if err != nil {
			return end, err
		}
		i = skipSpace(d, end)
		if i >= len(d) || d[i] != ':' {
			return i, &SyntaxError{i, "expected ':' after object key"}
		}
		i = skipSpace(d, i+1)
		if i, err = scanValue(d, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, &SyntaxError{i, "unexpected end of input in object"}
		}
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, &SyntaxError{i, "expected ',' or '}' in object"}
		}
	}
}

func scanArray(d []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return i, &SyntaxError{i, "nesting too deep"}
	}
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = scanValue(d, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, &SyntaxError{i, "unexpected end of input in array"}
		}
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, &SyntaxError{i, "expected ',' or ']' in array"}
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// plainStringByte marks the bytes a JSON string holds as they are.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString validates the string starting at the quote d[i].
func scanString(d []byte, i int) (int, error) {
	i++
	for i < len(d) {
		for i < len(d) && plainStringByte[d[i]] {
			i++
		}
		if i >= len(d) {
			break
		}
		c := d[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(d) {
				return i, &SyntaxError{i, "unexpected end of input in string escape"}
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(d)-i < 6 || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return i, &SyntaxError{i, "invalid \\u escape in string"}
				}
				i += 6
			default:
				return i, &SyntaxError{i, fmt.Sprintf("invalid escape %q in string", d[i+1])}
			}
		case c < 0x20:
			return i, &SyntaxError{i, "control character in string"}
		default:
			i++
		}
	}
	return i, &SyntaxError{i, "unterminated string"}
}

func scanDigits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}

func scanNumber(d []byte, i int) (int, error) {
	start := i
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = scanDigits(d, i+1)
	default:
		return i, &SyntaxError{start, "invalid number"}
	}
	if i < len(d) && d[i] == '.' {
		j := scanDigits(d, i+1)
		if j == i+1 {
			return j, &SyntaxError{start, "invalid number: no digits after '.'"}
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := scanDigits(d, i)
		if j == i {
			return j, &SyntaxError{start, "invalid number: no digits in exponent"}
		}
		i = j
	}
	return i, nil
}

// validate checks that d holds exactly one JSON value (with optional
// surrounding whitespace) and returns its bounds.
func validate(d []byte) (start, end int, err error) {
	start = skipSpace(d, 0)
	end, err = scanValue(d, start, 0)
	if err != nil {
		return 0, 0, err
	}
	if rest := skipSpace(d, end); rest != len(d) {
		return 0, 0, &SyntaxError{rest, "unexpected data after top-level value"}
	}
	return start, end, nil
}

// Valid reports whether v is exactly one well-formed JSON value.
func (v Value) Valid() bool {
	_, _, err := validate(v)
	return err == nil
}

// trimmed returns v without surrounding whitespace.
func (v Value) trimmed() Value {
	i := skipSpace(v, 0)
	j := len(v)
	for j > i && isSpace(v[j-1]) {
		j--
	}
	return v[i:j]
}

// Kind returns the JSON type of v, judged by its first byte.
func (v Value) Kind() Kind {
	i := skipSpace(v, 0)
	if i >= len(v) {
		return Invalid
	}
	switch c := v[i]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return Invalid
}

// Members iterates over the members of an object, in document order,
// yielding each key (unescaped) and value. It stops early at malformed
// input, and yields nothing when v is not an object.
func (v Value) Members() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		v.members(func(rawKey []byte, val Value) bool {
			k, ok := unquote(rawKey)
			if !ok {
				return false
			}
			return yield(k, val)
		})
	}
}

// members walks an object passing each raw (quoted) key and value.
func (v Value) members(fn func(rawKey []byte, val Value) bool) {
	d := []byte(v)
	objectMembers(d, func(ks, ke, vs, ve int) bool {
		return fn(d[ks:ke], Value(d[vs:ve:ve]))
	})
}

// skipString returns the end of the string starting at the quote d[i]
// without validating its content; ok is false when it is not closed.
func skipString(d []byte, i int) (int, bool) {
	j := i + 1
	for j < len(d) {
		k := bytes.IndexByte(d[j:], '"')
		if k < 0 {
			return len(d), false
		}
		j += k
		n := 0
		for b := j - 1; b > i && d[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, true
		}
		j++
	}
	return len(d), false
}

// skipValue returns the end of the value starting at d[i]. It checks
// only what it needs to stay in bounds (strings closed, brackets
// balanced); events are validated once, when decoded, and walking them
// must be cheap.
func skipValue(d []byte, i int) (int, bool) {
	if i >= len(d) {
		return i, false
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				end, ok := skipString(d, j)
				if !ok {
					return end, false
				}
				j = end - 1
			case '{', '[':
				depth++
				if depth > maxDepth {
					return j, false
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return len(d), false
	case ',', ':', '}', ']':
		return i, false
	}
	j := i
	for j < len(d) && !isSpace(d[j]) && d[j] != ',' && d[j] != '}' && d[j] != ']' && d[j] != ':' {
		j++
	}
	return j, j > i
}

// objectMembers walks the object in d, passing the bounds of each quoted
// key and of each value. It stops at malformed input.
func objectMembers(d []byte, fn func(ks, ke, vs, ve int) bool) {
	i := skipSpace(d, 0)
	if i >= len(d) || d[i] != '{' {
		return
	}
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == '}' {
		return
	}
	for i < len(d) {
		if d[i] != '"' {
			return
		}
		kend, ok := skipString(d, i)
		if !ok {
			return
		}
		ks := i
		i = skipSpace(d, kend)
		if i >= len(d) || d[i] != ':' {
			return
		}
		i = skipSpace(d, i+1)
		vend, ok := skipValue(d, i)
		if !ok {
			return
		}
		if !fn(ks, kend, i, vend) {
			return
		}
		i = skipSpace(d, vend)
		if i >= len(d) || d[i] != ',' {
			return
		}
		i = skipSpace(d, i+1)
	}
}

// arrayElements walks the array in d, passing the bounds of each element.
func arrayElements(d []byte, fn func(vs, ve int) bool) {
	i := skipSpace(d, 0)
	if i >= len(d) || d[i] != '[' {
		return
	}
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == ']' {
		return
	}
	for i < len(d) {
		end, ok := skipValue(d, i)
		if !ok {
			return
		}
		if !fn(i, end) {
			return
		}
		i = skipSpace(d, end)
		if i >= len(d) || d[i] != ',' {
			return
		}
		i = skipSpace(d, i+1)
	}
}

// Elements iterates over the elements of an array in order. It yields
// nothing when v is not an array and stops early at malformed input.
func (v Value) Elements() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		d := []byte(v)
		arrayElements(d, func(vs, ve int) bool { return yield(Value(d[vs:ve:ve])) })
	}
}

// keyEquals reports whether the quoted raw key equals key.
func keyEquals(rawKey []byte, key string) bool {
	inner := rawKey[1 : len(rawKey)-1]
	if len(inner) == len(key) && string(inner) == key {
		return true
	}
	// Only a key with escapes can still be equal.
	for _, c := range inner {
		if c == '\\' {
			k, ok := unquote(rawKey)
			return ok && k == key
		}
	}
	return false
}

// Get returns the member named key of an object. When an object repeats a
// key, the last one wins, as in encoding/json.
func (v Value) Get(key string) (Value, bool) {
	var out Value
	found := false
	v.members(func(rawKey []byte, val Value) bool {
		if keyEquals(rawKey, key) {
			out, found = val, true
		}
		return true
	})
	return out, found
}

// Path follows a sequence of object keys, returning the value at the end.
func (v Value) Path(keys ...string) (Value, bool) {
	cur := v
	for _, k := range keys {
		next, ok := cur.Get(k)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// Index returns element i of an array.
func (v Value) Index(i int) (Value, bool) {
	if i < 0 {
		return nil, false
	}
	n := 0
	for e := range v.Elements() {
		if n == i {
			return e, true
		}
		n++
	}
	return nil, false
}

// Len returns the number of elements of an array or members of an object,
// and 0 for anything else.
func (v Value) Len() int {
	n := 0
	switch v.Kind() {
	case Array:
		for range v.Elements() {
			n++
		}
	case Object:
		v.members(func([]byte, Value) bool { n++; return true })
	}
	return n
}

// Str returns the content of a JSON string, unescaped. It reports false
// when v is not a string.
func (v Value) Str() (string, bool) {
	t := v.trimmed()
	if len(t) < 2 || t[0] != '"' {
		return "", false
	}
	return unquote(t)
}

// Bool returns the value of a JSON boolean.
func (v Value) Bool() (value, ok bool) {
	switch string(v.trimmed()) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// IsNull reports whether v is the JSON null.
func (v Value) IsNull() bool { return string(v.trimmed()) == "null" }

// Text renders v the way Falco's k8saudit plugin renders a field value: a
// string's content, or the compact JSON text of anything else. It returns
// "" for malformed input.
func (v Value) Text() string {
	t := v.trimmed()
	if len(t) == 0 {
		return ""
	}
	if t[0] == '"' {
		s, _ := unquote(t)
		return s
	}
	if !hasSpaceOutsideStrings(t) {
		return string(t)
	}
	var b strings.Builder
	b.Grow(len(t))
	inStr := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case inStr && c == '\\' && i+1 < len(t):
			b.WriteByte(c)
			i++
			b.WriteByte(t[i])
			continue
		case c == '"':
			inStr = !inStr
		case !inStr && isSpace(c):
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func hasSpaceOutsideStrings(t []byte) bool {
	inStr := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && isSpace(c):
			return true
		}
	}
	return false
}

// unquote unescapes a quoted JSON string, replacing invalid UTF-8 and
// unpaired surrogates with U+FFFD exactly as encoding/json does.
func unquote(q []byte) (string, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	inner := q[1 : len(q)-1]
	if isSimple(inner) {
		return string(inner), true
	}
	return unescape(inner)
}

// isSimple reports whether a string's content is its value: no escapes,
// no control characters, valid UTF-8.
func isSimple(inner []byte) bool {
	ascii := true
	for _, c := range inner {
		switch {
		case c == '\\' || c == '"' || c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return ascii || utf8.Valid(inner)
}

func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unescape decodes the content of a JSON string.
func unescape(s []byte) (string, bool) {
	b := make([]byte, 0, len(s)+utf8.UTFMax)
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			if r+1 >= len(s) {
				return "", false
			}
			switch s[r+1] {
			case '"', '\\', '/':
				b = append(b, s[r+1])
				r += 2
			case 'b':
				b = append(b, '\b')
				r += 2
			case 'f':
				b = append(b, '\f')
				r += 2
			case 'n':
				b = append(b, '\n')
				r += 2
			case 'r':
				b = append(b, '\r')
				r += 2
			case 't':
				b = append(b, '\t')
				r += 2
			case 'u':
				rr := getu4(s[r:])
				if rr < 0 {
					return "", false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						break
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
			default:
				return "", false
			}
		case c == '"' || c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return string(b), true
}

// Pointer resolves an RFC 6901 JSON pointer ("/spec/containers/0/image")
// against v. The empty pointer is v itself.
func (v Value) Pointer(ptr string) (Value, bool) {
	if ptr == "" {
		return v.trimmed(), len(v.trimmed()) > 0
	}
	if ptr[0] != '/' {
		return nil, false
	}
	cur := v
	for tok := range strings.SplitSeq(ptr[1:], "/") {
		if strings.IndexByte(tok, '~') >= 0 {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		}
		switch cur.Kind() {
		case Object:
			next, ok := cur.Get(tok)
			if !ok {
				return nil, false
			}
			cur = next
		case Array:
			i, ok := arrayIndex(tok)
			if !ok {
				return nil, false
			}
			next, ok := cur.Index(i)
			if !ok {
				return nil, false
			}
			cur = next
		default:
			return nil, false
		}
	}
	return cur, true
}

// arrayIndex parses an RFC 6901 array index: decimal, no leading zeros.
func arrayIndex(tok string) (int, bool) {
	if tok == "" || len(tok) > 9 || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// errNotObject is returned when an event is not a JSON object.
var errNotObject = errors.New("audit event is not a JSON object")

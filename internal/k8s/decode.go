package k8s

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"
)

// DecodeError is an error in one manifest, with its position.
type DecodeError struct {
	File string
	Line int
	Err  error
}

func (e *DecodeError) Error() string {
	file := e.File
	if file == "" {
		file = "<input>"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", file, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", file, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decode reads every object in data, a manifest named file. It accepts
// multi-document YAML, a JSON object, a JSON array of objects, a stream of
// JSON objects, and List kinds (whose items are returned, not the List).
// Empty documents are skipped. Every object must have apiVersion and kind.
func Decode(file string, data []byte) ([]*Object, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, &DecodeError{File: file, Err: fmt.Errorf("not a text manifest (binary data at byte %d)", i)}
	}
	if !utf8.Valid(data) {
		return nil, &DecodeError{File: file, Err: errors.New("not a text manifest (invalid UTF-8)")}
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return decodeJSON(file, data)
	}
	return decodeYAML(file, data)
}

var docSeparator = regexp.MustCompile(`^---(\s|$)`)

type yamlDoc struct {
	line int // 1-based line of the document's first line
	text []byte
}

// splitYAML splits a YAML stream on document separators, as kubectl does.
func splitYAML(data []byte) []yamlDoc {
	var docs []yamlDoc
	var cur bytes.Buffer
	start := 1
	line := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if docSeparator.Match(text) || bytes.Equal(bytes.TrimRight(text, " \t\r"), []byte("...")) {
			docs = append(docs, yamlDoc{line: start, text: bytes.Clone(cur.Bytes())})
			cur.Reset()
			start = line + 1
			// A separator may carry content after it ("--- {a: b}").
			if rest := bytes.TrimSpace(text[3:]); len(rest) > 0 && rest[0] != '#' && !bytes.Equal(text, []byte("...")) {
				cur.Write(rest)
				cur.WriteByte('\n')
				start = line
			}
			continue
		}
		cur.Write(text)
		cur.WriteByte('\n')
	}
	docs = append(docs, yamlDoc{line: start, text: cur.Bytes()})
	return docs
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func decodeYAML(file string, data []byte) ([]*Object, error) {
	docs := splitYAML(data)
	results := make([]docResult, len(docs))
	workers := runtime.GOMAXPROCS(0)
	if len(docs) < 64 || workers < 2 {
		for i := range docs {
			results[i] = decodeDoc(file, docs[i])
		}
	} else {
		// Large streams (kubectl get -A, helm template of a big chart)
		// decode in parallel; results keep document order.
		var wg sync.WaitGroup
		chunk := (len(docs) + workers - 1) / workers
		for start := 0; start < len(docs); start += chunk {
			end := min(start+chunk, len(docs))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := start; i < end; i++ {
					results[i] = decodeDoc(file, docs[i])
				}
			}()
		}
		wg.Wait()
	}
	var out []*Object
	for _, r := range results {
		if r.err != nil {
			return out, r.err
		}
		out = append(out, r.objs...)
	}
	return out, nil
}

type docResult struct {
	objs []*Object
	err  error
}

func decodeDoc(file string, doc yamlDoc) docResult {
	first := firstContentLine(doc.text)
	if first < 0 {
		return docResult{} // empty or comments only
	}
	js, err := yaml.YAMLToJSON(doc.text)
	if err != nil {
		return docResult{err: &DecodeError{File: file, Line: doc.line + yamlErrLine(err, first) - 1, Err: cleanYAMLErr(err)}}
	}
	var v any
	if err := unmarshalJSON(js, &v); err != nil {
		return docResult{err: &DecodeError{File: file, Line: doc.line + first, Err: err}}
	}
	if v == nil {
		return docResult{}
	}
	text := doc.text
	objs, err := toObjects(file, doc.line+first, v, lazyLines(func() []int { return yamlItemLines(text) }))
	return docResult{objs: objs, err: err}
}

// firstContentLine returns the 0-based index of the first line that is not
// blank or a comment, or -1.
func firstContentLine(text []byte) int {
	for i, l := range bytes.Split(text, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		return i
	}
	return -1
}

func yamlErrLine(err error, fallback int) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		if n, e := strconv.Atoi(m[1]); e == nil {
			return n
		}
	}
	return fallback + 1
}

func cleanYAMLErr(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = yamlLineRE.ReplaceAllString(msg, "")
	msg = strings.ReplaceAll(msg, "yaml: :", "yaml:")
	msg = strings.Join(strings.Fields(msg), " ")
	return errors.New("invalid YAML: " + strings.TrimPrefix(msg, "yaml: "))
}

// lazyLines turns a one-time computation of item lines into the lookup
// toObjects wants.
func lazyLines(compute func() []int) func(int) int {
	var lines []int
	done := false
	return func(i int) int {
		if !done {
			lines, done = compute(), true
		}
		if i < len(lines) {
			return lines[i]
		}
		return 0
	}
}

// yamlItemLines finds the lines of items[] in a YAML List document, relative
// to the document, 1-based.
func yamlItemLines(doc []byte) []int {
	var n yamlv3.Node
	if err := yamlv3.Unmarshal(doc, &n); err != nil || len(n.Content) == 0 {
		return nil
	}
	root := n.Content[0]
	if root.Kind != yamlv3.MappingNode {
		return nil
	}
	for k := 0; k+1 < len(root.Content); k += 2 {
		if root.Content[k].Value == "items" && root.Content[k+1].Kind == yamlv3.SequenceNode {
			items := root.Content[k+1].Content
			lines := make([]int, len(items))
			for i, it := range items {
				lines[i] = it.Line
			}
			return lines
		}
	}
	return nil
}

func unmarshalJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func decodeJSON(file string, data []byte) ([]*Object, error) {
	var out []*Object
	lines := newLineIndex(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		off := skipSpace(data, dec.InputOffset())
		if off >= int64(len(data)) {
			return out, nil
		}
		line := lines.line(off)
		if data[off] == '[' {
			// A JSON array of objects.
			if _, err := dec.Token(); err != nil {
				return out, &DecodeError{File: file, Line: line, Err: jsonErr(err)}
			}
			for dec.More() {
				eoff := skipSpace(data, dec.InputOffset())
				if eoff < int64(len(data)) && data[eoff] == ',' {
					eoff = skipSpace(data, eoff+1)
				}
				var v any
				if err := dec.Decode(&v); err != nil {
					return out, &DecodeError{File: file, Line: lines.line(eoff), Err: jsonErr(err)}
				}
				objs, err := toObjects(file, lines.line(eoff), v, nil)
				if err != nil {
					return out, err
				}
				out = append(out, objs...)
			}
			if _, err := dec.Token(); err != nil {
				return out, &DecodeError{File: file, Line: lines.line(dec.InputOffset()), Err: jsonErr(err)}
			}
			continue
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			errLine := line
			var se *json.SyntaxError
			if errors.As(err, &se) {
				errLine = lines.line(se.Offset)
			}
			return out, &DecodeError{File: file, Line: errLine, Err: jsonErr(err)}
		}
		end := dec.InputOffset()
		objs, err := toObjects(file, line, v, lazyLines(func() []int {
			offs := jsonItemOffsets(data[off:end])
			rel := make([]int, len(offs))
			for i, o := range offs {
				rel[i] = lines.line(off+o) - line + 1
			}
			return rel
		}))
		if err != nil {
			return out, err
		}
		out = append(out, objs...)
	}
}

func jsonErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: unexpected end of input")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n':
			off++
		default:
			return off
		}
	}
	return off
}

// jsonItemOffsets returns the byte offsets of items[] in a JSON object.
func jsonItemOffsets(obj []byte) []int64 {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil
		}
		if k != "items" {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return nil
			}
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return nil
		}
		var offs []int64
		for dec.More() {
			off := skipSpace(obj, dec.InputOffset())
			if off < int64(len(obj)) && obj[off] == ',' {
				off = skipSpace(obj, off+1)
			}
			offs = append(offs, off)
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return offs
			}
		}
		return offs
	}
	return nil
}

// toObjects turns one decoded document into objects, expanding List kinds.
// itemLine gives the line of items[i] relative to the document (1-based), or
// 0 when unknown.
func toObjects(file string, line int, v any, itemLine func(int) int) ([]*Object, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &DecodeError{File: file, Line: line, Err: fmt.Errorf("expected a Kubernetes object (a mapping with apiVersion and kind), got %s", describe(v))}
	}
	kind, _ := m["kind"].(string)
	if items, isList := m["items"].([]any); isList && strings.HasSuffix(kind, "List") {
		out := make([]*Object, 0, len(items))
		for i, it := range items {
			l := line
			if itemLine != nil {
				if rel := itemLine(i); rel > 0 {
					l = line + rel - 1
				}
			}
			objs, err := toObjects(file, l, it, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	if err := validateObject(m); err != nil {
		return nil, &DecodeError{File: file, Line: line, Err: err}
	}
	return []*Object{{Content: m, File: file, Line: line}}, nil
}

func validateObject(m map[string]any) error {
	av, ok := m["apiVersion"].(string)
	if !ok || av == "" {
		return errors.New("object has no apiVersion")
	}
	k, ok := m["kind"].(string)
	if !ok || k == "" {
		return errors.New("object has no kind")
	}
	if md, present := m["metadata"]; present && md != nil {
		if _, ok := md.(map[string]any); !ok {
			return fmt.Errorf("%s: metadata must be a mapping, got %s", k, describe(md))
		}
	}
	return nil
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

type lineIndex []int64 // offsets of line starts

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{0}
	for i, b := range data {
		if b == '\n' {
			idx = append(idx, int64(i+1))
		}
	}
	return idx
}

func (li lineIndex) line(off int64) int {
	lo, hi := 0, len(li)
	for lo < hi {
		mid := (lo + hi) / 2
		if li[mid] <= off {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLineSize is the largest JSON line a LineReader accepts.
const MaxLineSize = 16 << 20

// DecodeList decodes an audit.k8s.io/v1 EventList, the body the API
// server's audit webhook backend posts. A single Event is accepted too and
// returned as a one-element list. Errors name the failing item.
func DecodeList(data []byte) ([]*Event, error) {
	start, end, err := validate(data)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, end-start)
	copy(raw, data[start:end])
	return decodeListOwned(raw)
}

func decodeListOwned(raw []byte) ([]*Event, error) {
	v := Value(raw)
	if v.Kind() != Object {
		return nil, errNotObject
	}
	kindV, _ := v.Get("kind")
	kind, _ := kindV.Str()
	if kind != KindEventList {
		// Not a list: one event (decodeOwned rejects other kinds).
		ev, err := decodeOwned(raw)
		if err != nil {
			return nil, err
		}
		return []*Event{ev}, nil
	}
	items, ok := v.Get("items")
	if !ok || items.IsNull() {
		return nil, nil
	}
	if items.Kind() != Array {
		return nil, typeErr("items", Array, items)
	}
	var out []*Event
	i := 0
	for it := range items.Elements() {
		ev, err := decodeOwned(it)
		if err != nil {
			return nil, fmt.Errorf("items[%d]: %w", i, err)
		}
		out = append(out, ev)
		i++
	}
	return out, nil
}

// LineError is a failure to read or decode one line of a JSON-lines
// stream of audit events.
type LineError struct {
	// Name is the stream's name (a file name), if known.
	Name string
	// Line is the 1-based line number.
	Line int
	Err  error
}

func (e *LineError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// LineReader reads audit events from JSON lines, the format of the API
// server's log backend (--audit-log-path): one Event per line. A line may
// also hold an EventList, whose items are returned one by one. Blank
// lines are skipped.
//
// Next returns the events in order and io.EOF at the end. A line that
// does not decode yields a *LineError; reading may continue with the next
// line. A LineReader is not safe for concurrent use.
type LineReader struct {
	name    string
	r       *bufio.Reader
	line    int
	pending []*Event
	buf     []byte
	err     error
}

// NewLineReader returns a reader of JSON-lines audit events from r; name
// is used in errors (for example the file name).
func NewLineReader(r io.Reader, name string) *LineReader {
	return &LineReader{name: name, r: bufio.NewReaderSize(r, 64<<10)}
}

// Line returns the number of the line last read.
func (lr *LineReader) Line() int { return lr.line }

// Next returns the next event.
func (lr *LineReader) Next() (*Event, error) {
	for {
		if len(lr.pending) > 0 {
			ev := lr.pending[0]
			lr.pending[0] = nil
			lr.pending = lr.pending[1:]
			return ev, nil
		}
		if lr.err != nil {
			return nil, lr.err
		}
		line, err := lr.readLine()
		if err == errLineTooLong {
			return nil, &LineError{lr.name, lr.line, err}
		}
		if err != nil {
			if err == io.EOF {
				lr.err = io.EOF
				if len(bytes.TrimSpace(line)) == 0 {
					return nil, io.EOF
				}
			} else {
				lr.err = &LineError{lr.name, lr.line, err}
				return nil, lr.err
			}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		evs, derr := DecodeList(line)
		if derr != nil {
			return nil, &LineError{lr.name, lr.line, derr}
		}
		lr.pending = evs
	}
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineSize)

// readLine returns the next line without its newline. The returned slice
// is only valid until the next call.
func (lr *LineReader) readLine() ([]byte, error) {
	lr.line++
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if len(lr.buf)+len(chunk) > MaxLineSize+1 {
			// Drain the rest of the long line so reading can go on.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lr.r.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			if err == io.EOF {
				lr.err = io.EOF
			}
			return nil, errLineTooLong
		}
		lr.buf = append(lr.buf, chunk...)
		switch {
		case err == nil:
			return bytes.TrimRight(lr.buf, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return lr.buf, err
		}
	}
}

// ItemError is an item of an EventList that is not an audit event.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return fmt.Sprintf("items[%d]: %v", e.Index, e.Err) }

func (e *ItemError) Unwrap() error { return e.Err }

// DecodeBatch decodes the body the API server's audit webhook posts: an
// audit.k8s.io/v1 EventList, or a single Event. Unlike DecodeList it keeps
// going past an item that is valid JSON but not an event, returning it as
// an ItemError; an error means the body as a whole is not a batch
// (malformed JSON, another kind or apiVersion).
//
// The body is validated and copied once; the events share the copy.
func DecodeBatch(data []byte) ([]*Event, []*ItemError, error) {
	start, end, err := validate(data)
	if err != nil {
		return nil, nil, err
	}
	raw := make([]byte, end-start)
	copy(raw, data[start:end])
	v := Value(raw)
	if v.Kind() != Object {
		return nil, nil, fmt.Errorf("body is a JSON %s, not an %s object", v.Kind(), KindEventList)
	}
	kind, _ := v.Get("kind")
	switch k, _ := kind.Str(); k {
	case KindEventList:
	case "", KindEvent:
		ev, err := decodeOwned(raw)
		if err != nil {
			return nil, nil, err
		}
		return []*Event{ev}, nil, nil
	default:
		return nil, nil, fmt.Errorf("kind %q is not %s", k, KindEventList)
	}
	if av, ok := v.Get("apiVersion"); ok {
		if s, _ := av.Str(); s != "" && s != APIVersion {
			return nil, nil, fmt.Errorf("apiVersion %q is not %s", s, APIVersion)
		}
	}
	var (
		events []*Event
		bad    []*ItemError
	)
	objectMembers(raw, func(ks, ke, vs, ve int) bool {
		if !keyEquals(raw[ks:ke], "items") {
			return true
		}
		items := raw[vs:ve:ve]
		switch Value(items).Kind() {
		case Null:
			return false
		case Array:
		default:
			err = fmt.Errorf("items is a JSON %s, not an array", Value(items).Kind())
			return false
		}
		i := 0
		arrayElements(items, func(s, e int) bool {
			ev, derr := decodeOwned(items[s:e:e])
			if derr != nil {
				bad = append(bad, &ItemError{Index: i, Err: derr})
			} else {
				events = append(events, ev)
			}
			i++
			return true
		})
		return false
	})
	if err != nil {
		return nil, nil, err
	}
	return events, bad, nil
}

package archive

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// Hash is a SHA-256 value: an event chain value or an object digest.
type Hash [sha256.Size]byte

// String returns h in lowercase hexadecimal.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Genesis is the chain value before the first event ever archived.
var Genesis Hash

// chainNext returns the chain value after an event: SHA-256 of the
// previous value (32 bytes) followed by the event's raw bytes.
func chainNext(prev Hash, raw []byte) Hash {
	d := sha256.New()
	d.Write(prev[:])
	d.Write(raw)
	var h Hash
	d.Sum(h[:0])
	return h
}

func parseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) || !isLowerHex([]byte(s)) {
		return h, fmt.Errorf("%q is not a SHA-256 value in lowercase hexadecimal", s)
	}
	hex.Decode(h[:], []byte(s))
	return h, nil
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// A record is one line of a segment or journal:
//
//	{"h":"<64 hex digits>","e":<raw event>}\n
//
// The fixed prefix and suffix let the reader slice the event out without
// a JSON parser, so Read returns the bytes exactly as appended.
const (
	recordPrefix = `{"h":"`
	recordMiddle = `","e":`
	hashHex      = 2 * sha256.Size
	// recordOverhead is the bytes a record adds to its event.
	recordOverhead = len(recordPrefix) + hashHex + len(recordMiddle) + len("}\n")
	eventOffset    = len(recordPrefix) + hashHex + len(recordMiddle)

	// MaxEventBytes is the largest event Append accepts.
	MaxEventBytes = 64 << 20
	maxLineBytes  = MaxEventBytes + recordOverhead
)

// appendRecord appends the record of one event with chain value h.
func appendRecord(buf []byte, h Hash, raw []byte) []byte {
	buf = append(buf, recordPrefix...)
	buf = hex.AppendEncode(buf, h[:])
	buf = append(buf, recordMiddle...)
	buf = append(buf, raw...)
	return append(buf, '}', '\n')
}

// parseRecord splits a record line (with its newline) into chain value
// and event.
func parseRecord(line []byte) (Hash, []byte, error) {
	var h Hash
	if len(line) < recordOverhead+2 || line[len(line)-1] != '\n' || line[len(line)-2] != '}' {
		return h, nil, errors.New("not a record line")
	}
	if !bytes.HasPrefix(line, []byte(recordPrefix)) || string(line[len(recordPrefix)+hashHex:eventOffset]) != recordMiddle {
		return h, nil, errors.New("not a record line")
	}
	hx := line[len(recordPrefix) : len(recordPrefix)+hashHex]
	if !isLowerHex(hx) {
		return h, nil, errors.New("chain value is not lowercase hexadecimal")
	}
	hex.Decode(h[:], hx)
	raw := line[eventOffset : len(line)-2]
	if err := checkEvent(raw); err != nil {
		return h, nil, err
	}
	return h, raw, nil
}

// checkEvent is the shape Append requires of an event: one JSON object on
// one line. Full JSON validation is the caller's (the receivers decode
// every event).
func checkEvent(raw []byte) error {
	switch {
	case len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}':
		return errors.New("event is not a JSON object")
	case len(raw) > MaxEventBytes:
		return fmt.Errorf("event of %d bytes exceeds %d", len(raw), MaxEventBytes)
	case bytes.IndexByte(raw, '\n') >= 0:
		return errors.New("event contains a newline")
	}
	return nil
}

// ErrTruncated reports data that ends inside a record: a torn write in a
// journal, a truncated segment.
var ErrTruncated = errors.New("truncated record")

// RecordError is a damaged record: Index is the record's index in its
// segment and Offset its byte offset in the uncompressed stream.
type RecordError struct {
	Name   string
	Index  uint64
	Offset int64
	Err    error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s: event %d (offset %d): %v", e.Name, e.Index, e.Offset, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// recordReader reads the records of a segment (after decompression) or a
// journal (after its header). It never panics on malformed input.
type recordReader struct {
	br    *bufio.Reader
	name  string
	index uint64 // index of the next record
	off   int64  // offset of the next record
	long  []byte // a line longer than br's buffer
}

func newRecordReader(r io.Reader, name string) *recordReader {
	return &recordReader{br: bufio.NewReaderSize(r, 256<<10), name: name}
}

// next returns the next record. At the end of the data it returns
// io.EOF; a damaged or partial record is a *RecordError; an error of the
// underlying reader (a gzip checksum) is returned wrapped with the name.
// The event is valid until the next call.
func (r *recordReader) next() (Hash, []byte, error) {
	line, err := r.line()
	if err != nil {
		return Hash{}, nil, err
	}
	h, raw, err := parseRecord(line)
	if err != nil {
		return h, nil, r.errorf(err)
	}
	r.index++
	r.off += int64(len(line))
	return h, raw, nil
}

func (r *recordReader) errorf(err error) error {
	return &RecordError{Name: r.name, Index: r.index, Offset: r.off, Err: err}
}

func (r *recordReader) line() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == nil {
		return line, nil
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(r.long) > maxLineBytes {
				return nil, r.errorf(fmt.Errorf("record longer than %d bytes", maxLineBytes))
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
		if err == nil {
			if len(line) > maxLineBytes {
				return nil, r.errorf(fmt.Errorf("record longer than %d bytes", maxLineBytes))
			}
			return line, nil
		}
	}
	switch {
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, r.errorf(ErrTruncated)
	}
	return nil, fmt.Errorf("%s: after event %d: %w", r.name, r.index, err)
}

// journalHeader is the first line of a journal file. It names the
// segment the journal holds and the chain value its first event follows.
type journalHeader struct {
	Journal    int       `json:"journal"`
	Sequence   uint64    `json:"sequence"`
	Opened     time.Time `json:"opened"`
	ChainStart string    `json:"chainStart"`
}

const journalVersion = 1

func (h journalHeader) line() []byte {
	b, _ := json.Marshal(h) // a struct of plain fields; cannot fail
	return append(b, '\n')
}

// readJournalHeader reads and checks the header line of a journal; n is
// its length.
func readJournalHeader(br *bufio.Reader, name string) (journalHeader, Hash, int, error) {
	var h journalHeader
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return h, Hash{}, 0, fmt.Errorf("%s: header: %w", name, ErrTruncated)
		}
		return h, Hash{}, 0, fmt.Errorf("%s: header: %w", name, err)
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return h, Hash{}, 0, fmt.Errorf("%s: header: %w", name, err)
	}
	if h.Journal != journalVersion {
		return h, Hash{}, 0, fmt.Errorf("%s: header: journal version %d is not %d", name, h.Journal, journalVersion)
	}
	start, err := parseHash(h.ChainStart)
	if err != nil {
		return h, Hash{}, 0, fmt.Errorf("%s: header: chainStart: %w", name, err)
	}
	return h, start, len(line), nil
}

// Checkpoint closes a segment. Its stored bytes are hashed into the next
// checkpoint's Previous, so checkpoints form a chain as events do.
type Checkpoint struct {
	Version  int    `json:"version"`
	Sequence uint64 `json:"sequence"`
	// Segment is the key of the segment object in the bucket.
	Segment string `json:"segment"`
	Events  uint64 `json:"events"`
	// FirstEventTime and LastEventTime are the times (stageTimestamp, or
	// requestReceivedTimestamp) of the segment's first and last events;
	// zero when an event carries neither.
	FirstEventTime time.Time `json:"firstEventTime,omitzero"`
	LastEventTime  time.Time `json:"lastEventTime,omitzero"`
	// Opened is when the segment's first event was appended; Sealed when
	// the segment was closed to appends. Retention goes by Sealed.
	Opened time.Time `json:"opened"`
	Sealed time.Time `json:"sealed"`
	// Size and SHA256 describe the stored (compressed) segment object.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// ChainStart is the chain value before the segment's first event (the
	// previous segment's Chain), Chain the value after its last.
	ChainStart string `json:"chainStart"`
	Chain      string `json:"chain"`
	// Previous is the SHA-256 of the previous checkpoint object; empty for
	// the first segment ever archived.
	Previous string `json:"previous"`
}

const checkpointVersion = 1

// encode returns the checkpoint's stored bytes (JSON and a newline).
func (c *Checkpoint) encode() []byte {
	b, _ := json.Marshal(c) // plain fields; cannot fail
	return append(b, '\n')
}

func decodeCheckpoint(data []byte, name string) (*Checkpoint, error) {
	c := &Checkpoint{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	if c.Version != checkpointVersion {
		return nil, fmt.Errorf("checkpoint %s: version %d is not %d", name, c.Version, checkpointVersion)
	}
	for _, f := range []struct{ name, v string }{{"sha256", c.SHA256}, {"chainStart", c.ChainStart}, {"chain", c.Chain}} {
		if _, err := parseHash(f.v); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %s: %w", name, f.name, err)
		}
	}
	if c.Previous != "" {
		if _, err := parseHash(c.Previous); err != nil {
			return nil, fmt.Errorf("checkpoint %s: previous: %w", name, err)
		}
	}
	return c, nil
}

// head is the last sealed checkpoint: where the chains continue.
type head struct {
	ckpt *Checkpoint
	raw  []byte // stored bytes
	sum  Hash   // SHA-256 of raw
}

func newHead(raw []byte, name string) (*head, error) {
	c, err := decodeCheckpoint(raw, name)
	if err != nil {
		return nil, err
	}
	return &head{ckpt: c, raw: raw, sum: sha256.Sum256(raw)}, nil
}

// chain is the chain value after the head's segment.
func (h *head) chain() Hash {
	if h == nil {
		return Genesis
	}
	c, _ := parseHash(h.ckpt.Chain) // checked by decodeCheckpoint
	return c
}

// Retention record: written before retention deletes segments, it keeps
// the checkpoint of the last segment deleted so Verify can start the
// chains there.
type retentionRecord struct {
	Version int `json:"version"`
	// Through is the sequence number of the last segment deleted.
	Through uint64    `json:"through"`
	Updated time.Time `json:"updated"`
	// Checkpoint is the stored text of checkpoint Through and
	// CheckpointSHA256 its digest.
	Checkpoint       string `json:"checkpoint"`
	CheckpointSHA256 string `json:"checkpointSha256"`
}

// Object keys.
const (
	segmentsDir    = "segments/"
	checkpointsDir = "checkpoints/"
	retentionKey   = "retention.json"
	segmentExt     = ".jsonl.gz"
	checkpointExt  = ".json"
)

// segmentKey is the key of segment seq opened at t: the UTC hour
// partitions the keys.
func segmentKey(seq uint64, opened time.Time) string {
	return fmt.Sprintf("%s%s/%012d%s", segmentsDir, opened.UTC().Format("2006/01/02/15"), seq, segmentExt)
}

func checkpointKey(seq uint64) string {
	return fmt.Sprintf("%s%012d%s", checkpointsDir, seq, checkpointExt)
}

// parseSegmentKey returns the sequence number of a segment key.
func parseSegmentKey(key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, segmentsDir)
	if !ok {
		return 0, false
	}
	dir, file := path.Split(rest)
	if _, err := time.Parse("2006/01/02/15/", dir); err != nil {
		return 0, false
	}
	return parseSeqName(file, segmentExt)
}

func parseCheckpointKey(key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, checkpointsDir)
	if !ok {
		return 0, false
	}
	return parseSeqName(rest, checkpointExt)
}

func parseSeqName(name, ext string) (uint64, bool) {
	num, ok := strings.CutSuffix(name, ext)
	if !ok || len(num) != 12 {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}

// eventTime is the time of an event: its stageTimestamp, else its
// requestReceivedTimestamp; zero when neither parses.
func eventTime(raw []byte) time.Time {
	v := audit.Value(raw)
	for _, k := range []string{"stageTimestamp", "requestReceivedTimestamp"} {
		if s, ok := v.Get(k); ok {
			if str, ok := s.Str(); ok {
				if t, err := time.Parse(time.RFC3339Nano, str); err == nil {
					return t.UTC()
				}
			}
		}
	}
	return time.Time{}
}

package alert

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/fsutil"
)

// queue holds a sink's undelivered alerts between Router.Send and the
// sink's delivery goroutine. Append is safe for concurrent use; Next and
// Ack are called by the one delivery goroutine.
type queue interface {
	// Append stores records; they are durable when it returns nil.
	Append(recs [][]byte) error
	// Next blocks until records are available (or ctx is done) and
	// returns up to max of them, with the position to acknowledge once
	// they are delivered.
	Next(ctx context.Context, max int) ([]record, uint64, error)
	// Ack marks everything before pos delivered.
	Ack(pos uint64) error
	// Size is the bytes stored and not yet acknowledged.
	Size() int64
	Close() error
}

// record is one spooled alert: its JSON and when it was spooled.
type record struct {
	data []byte
	time time.Time
}

// dropFunc reports alerts a queue had to drop (reason "spool_full").
type dropFunc func(reason string, records int, bytes int64)

var errQueueClosed = errors.New("spool closed")

// Spool file format. A spool directory holds segment files named by the
// logical offset of their first byte (%020d.seg) and an "ack" file.
// Logical offsets grow forever across segments: a segment's records span
// [base, base+size). Each record is
//
//	u32 length of payload | u32 CRC-32C of (time, payload) | i64 time (Unix ns) | payload
//
// little-endian. Appends are written to the last segment and fsynced
// before Append returns; a segment is fsynced and closed before the next
// is created. The ack file holds the acknowledged offset (u64) and its
// CRC-32C (u32), rewritten in place and fsynced at most once a second;
// losing it (a crash, a torn write) only means redelivery, from the
// previous acknowledged offset or the oldest segment.
const (
	recordHeader    = 16
	ackSyncInterval = time.Second
	maxRecordBytes  = 16 << 20
	segmentSuffix   = ".seg"
	ackFile         = "ack"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	base uint64
	size int64
}

func (s segment) end() uint64 { return s.base + uint64(s.size) }

func (s segment) path(dir string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", s.base, segmentSuffix))
}

// spool is a durable queue on disk: append-only segment files, fsync on
// append, an acknowledged offset, bounded by size (the oldest segments
// are dropped, reported through onDrop).
type spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	onDrop   dropFunc
	logger   *slog.Logger

	mu      sync.Mutex
	synced  *sync.Cond // broadcast when a sync finishes
	segs    []segment  // ordered; the last is being written
	w       *os.File   // the last segment
	ackF    *os.File
	pos     uint64 // end of written data
	durable uint64 // end of fsynced data
	syncing bool
	ack     uint64 // everything before it is delivered or dropped
	// ackSynced is when the ack file was last fsynced; ackDirty says it
	// changed since.
	ackSynced time.Time
	ackDirty  bool
	read      uint64 // next position Next reads
	closed    bool
	notify    chan struct{}
}

// openSpool opens (creating, or recovering after a crash) the spool in
// dir. A torn record at the end of the last segment, left by a crash
// during a write that was never acknowledged to the caller, is cut off.
func openSpool(dir string, maxBytes, segBytes int64, onDrop dropFunc, logger *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, segBytes: segBytes, onDrop: onDrop, logger: logger, notify: make(chan struct{}, 1)}
	s.synced = sync.NewCond(&s.mu)
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	return s, nil
}

func (s *spool) recover() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		base, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		s.segs = append(s.segs, segment{base: base, size: info.Size()})
	}
	slices.SortFunc(s.segs, func(a, b segment) int {
		switch {
		case a.base < b.base:
			return -1
		case a.base > b.base:
			return 1
		}
		return 0
	})

	s.ackF, err = os.OpenFile(filepath.Join(s.dir, ackFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	ack, ackOK := s.readAck()

	if n := len(s.segs); n > 0 {
		// Only the last segment can end in a torn record: every other
		// one was fsynced before its successor was created.
		last := &s.segs[n-1]
		valid, _, err := scanSegment(last.path(s.dir), 0, -1)
		if err != nil {
			return err
		}
		if valid < last.size {
			s.logger.Warn("alert_spool_truncated", "segment", filepath.Base(last.path(s.dir)), "valid_bytes", valid, "dropped_bytes", last.size-valid)
			if err := os.Truncate(last.path(s.dir), valid); err != nil {
				return err
			}
			last.size = valid
		}
	}
	switch {
	case len(s.segs) == 0:
		if !ackOK {
			ack = 0
		}
	case !ackOK || ack < s.segs[0].base:
		if ackOK {
			s.logger.Warn("alert_spool_ack_before_data", "ack", ack, "oldest", s.segs[0].base)
		}
		ack = s.segs[0].base
	case ack > s.segs[len(s.segs)-1].end():
		s.logger.Warn("alert_spool_ack_after_data", "ack", ack, "end", s.segs[len(s.segs)-1].end())
		ack = s.segs[len(s.segs)-1].end()
	}
	s.ack, s.read = ack, ack
	// Segments wholly acknowledged (a crash between writing the ack and
	// removing them) go now, except the last, which keeps being written.
	for len(s.segs) > 1 && s.segs[0].end() <= s.ack {
		if err := os.Remove(s.segs[0].path(s.dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 {
		return s.createSegment(ack)
	}
	last := s.segs[len(s.segs)-1]
	s.w, err = os.OpenFile(last.path(s.dir), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.pos, s.durable = last.end(), last.end()
	return nil
}

// readAck reads the acknowledged offset; ok is false when the file is
// new or torn.
func (s *spool) readAck() (uint64, bool) {
	var b [12]byte
	if n, err := s.ackF.ReadAt(b[:], 0); n != len(b) || (err != nil && err != io.EOF) {
		return 0, false
	}
	if crc32.Checksum(b[:8], castagnoli) != binary.LittleEndian.Uint32(b[8:]) {
		s.logger.Warn("alert_spool_ack_corrupt", "file", s.ackF.Name())
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:8]), true
}

// writeAck rewrites the acknowledged offset. It is fsynced at most once
// per ackSyncInterval (and on Close): a lost acknowledgement only means
// redelivery, never loss, and keeping its fsyncs off the disk leaves
// them to appends, which callers wait for.
func (s *spool) writeAck(pos uint64) error {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], pos)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	if _, err := s.ackF.WriteAt(b[:], 0); err != nil {
		return err
	}
	if time.Since(s.ackSynced) < ackSyncInterval {
		s.ackDirty = true
		return nil
	}
	s.ackSynced, s.ackDirty = time.Now(), false
	return s.ackF.Sync()
}

func (s *spool) createSegment(base uint64) error {
	seg := segment{base: base}
	f, err := os.OpenFile(seg.path(s.dir), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := fsutil.SyncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.w = f
	s.segs = append(s.segs, seg)
	s.pos, s.durable = base, base
	return nil
}

// scanSegment reads the records of a segment file from offset from; it
// returns the offset just past the last valid record and how many valid
// records it read. limit < 0 reads to the end of the file.
func scanSegment(path string, from, limit int64) (int64, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0, 0, err
	}
	if limit >= 0 {
		r = io.LimitReader(f, limit-from)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	off, n := from, 0
	for {
		_, size, err := readRecord(br)
		if err != nil {
			return off, n, nil
		}
		off += size
		n++
	}
}

// readRecord reads one record; any malformed or truncated record is an
// error.
func readRecord(br *bufio.Reader) (record, int64, error) {
	var h [recordHeader]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return record{}, 0, err
	}
	n := binary.LittleEndian.Uint32(h[0:4])
	if n > maxRecordBytes {
		return record{}, 0, fmt.Errorf("record of %d bytes", n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(br, data); err != nil {
		return record{}, 0, err
	}
	crc := crc32.Update(crc32.Checksum(h[8:16], castagnoli), castagnoli, data)
	if crc != binary.LittleEndian.Uint32(h[4:8]) {
		return record{}, 0, errors.New("record checksum mismatch")
	}
	t := time.Unix(0, int64(binary.LittleEndian.Uint64(h[8:16])))
	return record{data: data, time: t}, recordHeader + int64(n), nil
}

func appendRecord(buf, data []byte, t time.Time) []byte {
	var h [recordHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(data)))
	binary.LittleEndian.PutUint64(h[8:16], uint64(t.UnixNano()))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Update(crc32.Checksum(h[8:16], castagnoli), castagnoli, data))
	return append(append(buf, h[:]...), data...)
}

// Append writes the records and fsyncs them. Concurrent appends share
// fsyncs (group commit): each waits until a sync covering its records
// has finished.
func (s *spool) Append(recs [][]byte) error {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errQueueClosed
	}
	var buf []byte
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := s.w.Write(buf)
		if err != nil {
			// The segment may now end in a partial record; cut it off so
			// later appends stay readable.
			s.truncateTail()
			return err
		}
		s.pos += uint64(len(buf))
		s.segs[len(s.segs)-1].size += int64(len(buf))
		buf = buf[:0]
		return nil
	}
	for _, data := range recs {
		if len(data) > maxRecordBytes {
			return fmt.Errorf("spool %s: alert of %d bytes exceeds %d", s.dir, len(data), maxRecordBytes)
		}
		cur := s.segs[len(s.segs)-1]
		if cur.size+int64(len(buf)) > 0 && cur.size+int64(len(buf)+recordHeader+len(data)) > s.segBytes {
			if err := flush(); err != nil {
				return fmt.Errorf("spool %s: write: %w", s.dir, err)
			}
			if err := s.rotate(); err != nil {
				return fmt.Errorf("spool %s: rotate: %w", s.dir, err)
			}
		}
		buf = appendRecord(buf, data, now)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("spool %s: write: %w", s.dir, err)
	}
	s.enforceBound()
	return s.syncTo(s.pos)
}

func (s *spool) truncateTail() {
	cur := s.segs[len(s.segs)-1]
	if err := s.w.Truncate(cur.size); err != nil {
		s.logger.Error("alert_spool_truncate_failed", "segment", filepath.Base(cur.path(s.dir)), "error", err)
	}
}

// rotate closes the current segment (fsynced) and starts the next. The
// caller holds mu.
func (s *spool) rotate() error {
	for s.syncing {
		s.synced.Wait()
	}
	if err := s.w.Sync(); err != nil {
		return err
	}
	if err := s.w.Close(); err != nil {
		return err
	}
	s.durable = s.pos
	s.signal()
	return s.createSegment(s.pos)
}

// syncTo returns once everything before target is fsynced. The caller
// holds mu; it is released while fsync runs.
func (s *spool) syncTo(target uint64) error {
	for s.durable < target {
		if s.closed {
			return errQueueClosed
		}
		if s.syncing {
			s.synced.Wait()
			continue
		}
		s.syncing = true
		f, upto := s.w, s.pos
		s.mu.Unlock()
		err := f.Sync()
		s.mu.Lock()
		s.syncing = false
		s.synced.Broadcast()
		if err != nil {
			return fmt.Errorf("spool %s: fsync: %w", s.dir, err)
		}
		if upto > s.durable {
			s.durable = upto
			s.signal()
		}
	}
	return nil
}

func (s *spool) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// enforceBound drops the oldest segments while the unacknowledged bytes
// exceed maxBytes; the segment being written is never dropped. The
// caller holds mu.
func (s *spool) enforceBound() {
	for s.maxBytes > 0 && int64(s.pos-s.ack) > s.maxBytes && len(s.segs) > 1 {
		old := s.segs[0]
		from := int64(0)
		if s.ack > old.base {
			from = int64(s.ack - old.base)
		}
		_, n, err := scanSegment(old.path(s.dir), from, old.size)
		if err != nil {
			s.logger.Error("alert_spool_count_failed", "segment", filepath.Base(old.path(s.dir)), "error", err)
		}
		dropped := int64(old.end() - max(s.ack, old.base))
		if err := s.setAck(old.end()); err != nil {
			s.logger.Error("alert_spool_ack_failed", "error", err)
			return
		}
		if s.onDrop != nil {
			s.onDrop("spool_full", n, dropped)
		}
	}
}

// setAck records a new acknowledged offset and removes the segments it
// passes. The caller holds mu.
func (s *spool) setAck(pos uint64) error {
	if pos <= s.ack {
		return nil
	}
	if err := s.writeAck(pos); err != nil {
		return fmt.Errorf("spool %s: write ack: %w", s.dir, err)
	}
	s.ack = pos
	if s.read < pos {
		s.read = pos
	}
	for len(s.segs) > 1 && s.segs[0].end() <= pos {
		if err := os.Remove(s.segs[0].path(s.dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool %s: remove segment: %w", s.dir, err)
		}
		s.segs = s.segs[1:]
	}
	return nil
}

// Next returns up to max durable records after the last ones returned,
// reading across segments.
func (s *spool) Next(ctx context.Context, max int) ([]record, uint64, error) {
	for {
		recs, pos, err := s.readAvailable(max)
		if err != nil || len(recs) > 0 {
			return recs, pos, err
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-s.notify:
		}
	}
}

// readAvailable reads up to max durable records from the read offset.
func (s *spool) readAvailable(max int) ([]record, uint64, error) {
	var out []record
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(out) < max {
		if s.closed {
			return nil, 0, errQueueClosed
		}
		if s.read >= s.durable {
			break
		}
		seg, ok := s.segmentAt(s.read)
		if !ok {
			return nil, 0, fmt.Errorf("spool %s: offset %d is in no segment", s.dir, s.read)
		}
		start := s.read
		limit := min(seg.end(), s.durable)
		s.mu.Unlock()
		recs, next, err := readRecords(seg.path(s.dir), int64(start-seg.base), int64(limit-seg.base), max-len(out))
		s.mu.Lock()
		if s.ack > start {
			// The segment was dropped (spool full) while we read it:
			// start again from the new acknowledged offset.
			out = out[:0]
			continue
		}
		if err != nil {
			// Records before the durable offset were fsynced and checked
			// at recovery: this is a damaged disk. Skip the rest of the
			// segment rather than stall the sink.
			s.logger.Error("alert_spool_read_failed", "segment", filepath.Base(seg.path(s.dir)), "offset", start, "error", err)
			if len(recs) == 0 {
				next = int64(limit - seg.base)
			}
		}
		out = append(out, recs...)
		s.read = seg.base + uint64(next)
	}
	return out, s.read, nil
}

// segmentAt finds the segment holding pos. A pos at a segment's end, or
// in a gap before a segment (a segment file removed by hand), moves the
// read offset to the next segment's start. The caller holds mu.
func (s *spool) segmentAt(pos uint64) (segment, bool) {
	for _, seg := range s.segs {
		if pos < seg.base {
			s.logger.Warn("alert_spool_gap", "from", pos, "to", seg.base)
			s.read, pos = seg.base, seg.base
		}
		if pos < seg.end() {
			return seg, true
		}
	}
	return segment{}, false
}

func readRecords(path string, from, limit int64, max int) ([]record, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, from, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(io.NewSectionReader(f, from, limit-from), 64<<10)
	var recs []record
	off := from
	for len(recs) < max && off < limit {
		r, n, err := readRecord(br)
		if err != nil {
			return recs, off, err
		}
		recs = append(recs, r)
		off += n
	}
	return recs, off, nil
}

// Ack marks everything before pos delivered; older positions are ignored.
func (s *spool) Ack(pos uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errQueueClosed
	}
	return s.setAck(pos)
}

// Size is the bytes not yet acknowledged.
func (s *spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(s.pos - s.ack)
}

// Close syncs and closes the spool's files. Appends and reads after it
// fail.
func (s *spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	for s.syncing {
		s.synced.Wait()
	}
	s.closed = true
	s.synced.Broadcast()
	close(s.notify)
	return s.closeFiles()
}

func (s *spool) closeFiles() error {
	var errs []error
	if s.w != nil {
		errs = append(errs, s.w.Sync(), s.w.Close())
	}
	if s.ackF != nil {
		if s.ackDirty {
			errs = append(errs, s.ackF.Sync())
		}
		errs = append(errs, s.ackF.Close())
	}
	return errors.Join(errs...)
}

// memQueue is the non-durable queue of spool.memory: the same contract
// as the spool, in memory.
type memQueue struct {
	maxBytes int64
	onDrop   dropFunc

	mu     sync.Mutex
	recs   []record // recs[0] is at offset base
	base   uint64
	read   uint64
	bytes  int64
	closed bool
	notify chan struct{}
}

func newMemQueue(maxBytes int64, onDrop dropFunc) *memQueue {
	return &memQueue{maxBytes: maxBytes, onDrop: onDrop, notify: make(chan struct{}, 1)}
}

func (q *memQueue) Append(recs [][]byte) error {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errQueueClosed
	}
	for _, d := range recs {
		q.recs = append(q.recs, record{data: slices.Clone(d), time: now})
		q.bytes += int64(len(d))
	}
	dropped, droppedBytes := 0, int64(0)
	for q.maxBytes > 0 && q.bytes > q.maxBytes && len(q.recs) > 1 {
		droppedBytes += int64(len(q.recs[0].data))
		q.bytes -= int64(len(q.recs[0].data))
		q.recs[0] = record{}
		q.recs = q.recs[1:]
		q.base++
		dropped++
	}
	if q.read < q.base {
		q.read = q.base
	}
	if dropped > 0 && q.onDrop != nil {
		q.onDrop("spool_full", dropped, droppedBytes)
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return nil
}

func (q *memQueue) Next(ctx context.Context, max int) ([]record, uint64, error) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, 0, errQueueClosed
		}
		if end := q.base + uint64(len(q.recs)); q.read < end {
			i := int(q.read - q.base)
			n := min(max, len(q.recs)-i)
			out := slices.Clone(q.recs[i : i+n])
			q.read += uint64(n)
			pos := q.read
			q.mu.Unlock()
			return out, pos, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-q.notify:
		}
	}
}

func (q *memQueue) Ack(pos uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.base < pos && len(q.recs) > 0 {
		q.bytes -= int64(len(q.recs[0].data))
		q.recs[0] = record{}
		q.recs = q.recs[1:]
		q.base++
	}
	return nil
}

func (q *memQueue) Size() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func (q *memQueue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.notify)
	}
	return nil
}

package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// Defaults of Options.
const (
	DefaultMaxSegmentBytes = 64 << 20
	DefaultMaxSegmentAge   = 5 * time.Minute
)

// Options configure an Archive.
type Options struct {
	// URL is the bucket URL (file://, azblob://, s3://); required. A
	// file:// directory is created when missing.
	URL string
	// JournalDir is a local directory: the open segment is journaled
	// there, fsynced, before it is sealed and uploaded. Required.
	JournalDir string
	// MaxSegmentBytes seals the open segment at this uncompressed size
	// (default 64 MiB).
	MaxSegmentBytes int64
	// MaxSegmentAge seals the open segment when it is this old (default 5
	// minutes).
	MaxSegmentAge time.Duration
	// Retention deletes sealed segments (and their checkpoints) older than
	// this; 0 keeps everything.
	Retention time.Duration
	Logger    *slog.Logger
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
}

// Archive is the tamper-evident archive of audit events: a journal on
// local disk for the open segment, and sealed, compressed, hash-chained
// segments with their checkpoints in a bucket.
//
// Lifecycle: Open; then Append and Read from any goroutine, and Run in
// one goroutine; cancel Run's context and wait for it, then Close.
type Archive struct {
	o        Options
	dir      string
	bucket   *blob.Bucket
	fileRoot string // for a file:// bucket, its directory (objects are fsynced)
	logger   *slog.Logger

	mu       sync.Mutex
	synced   *sync.Cond // broadcast when an fsync ends
	syncing  bool
	written  int64 // bytes written to journals by this process
	durable  int64 // of which fsynced
	cur      *journal
	closedJ  []*journal // closed journals waiting to be sealed, in order
	sealed   []*sealedSegment
	next     uint64 // sequence number of the next segment to open
	chain    Hash   // chain value after the last event appended
	err      error  // sticky: after a failed fsync the journal is not trusted
	closing  bool
	running  bool
	buf      []byte
	lastUp   time.Time
	upErr    error
	sealMu   sync.Mutex // one sealer at a time; guards head
	head     *head
	uploadMu sync.Mutex // one uploader at a time

	sealKick   chan struct{}
	uploadKick chan struct{}

	// Intervals of Run, shortened by tests.
	tick           time.Duration
	retentionEvery time.Duration
	closeTimeout   time.Duration
}

// sealedSegment is a segment sealed in the journal directory and not yet
// uploaded.
type sealedSegment struct {
	seq      uint64
	key      string
	gzPath   string
	ckptPath string
	ckpt     []byte
	size     int64
	sum      Hash   // SHA-256 of the segment file; zero when recovered
	md5      []byte // its MD5, for the upload; nil when recovered
}

var errClosed = errors.New("audit archive: closed")

// Open opens the archive, recovering the journal directory after a crash:
// a record torn by a crash is cut off (its bytes kept in a .torn file),
// closed journals are sealed and sealed segments uploaded by Run, and the
// chains continue from the last checkpoint. With an empty journal
// directory Open reads the last checkpoint from the bucket, which must
// then be reachable.
func Open(ctx context.Context, o Options) (*Archive, error) {
	if o.URL == "" {
		return nil, errors.New("audit archive: no bucket URL")
	}
	if o.JournalDir == "" {
		return nil, errors.New("audit archive: no journal directory")
	}
	if o.MaxSegmentBytes <= 0 {
		o.MaxSegmentBytes = DefaultMaxSegmentBytes
	}
	if o.MaxSegmentAge <= 0 {
		o.MaxSegmentAge = DefaultMaxSegmentAge
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.JournalDir, journalDirPerm); err != nil {
		return nil, fmt.Errorf("audit archive: journal directory: %w", err)
	}
	b, root, err := openBucket(ctx, o.URL, true)
	if err != nil {
		return nil, err
	}
	a := &Archive{
		o: o, dir: o.JournalDir, bucket: b, fileRoot: root,
		logger:     o.Logger.With("archive", redactURL(o.URL)),
		sealKick:   make(chan struct{}, 1),
		uploadKick: make(chan struct{}, 1),
		tick:       time.Second, retentionEvery: time.Hour, closeTimeout: 30 * time.Second,
	}
	a.synced = sync.NewCond(&a.mu)
	if err := a.recover(ctx); err != nil {
		a.closeFiles()
		b.Close()
		return nil, fmt.Errorf("audit archive: journal %s: %w", o.JournalDir, err)
	}
	return a, nil
}

// recover rebuilds the state from the journal directory (see journal.go
// for its layout and the order in which files are written).
func (a *Archive) recover(ctx context.Context) error {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return err
	}
	var journals []uint64
	gz, ckpts := map[uint64]bool{}, map[uint64]bool{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, tmpExt) {
			os.Remove(filepath.Join(a.dir, name)) // an interrupted write
			continue
		}
		if seq, ok := parseLocalName(name, journalExt); ok {
			journals = append(journals, seq)
		} else if seq, ok := parseLocalName(name, sealedExt); ok {
			gz[seq] = true
		} else if seq, ok := parseLocalName(name, localCkptExt); ok {
			ckpts[seq] = true
		}
	}
	slices.Sort(journals)

	// The head: head.json, or a later local checkpoint (a crash between
	// writing the checkpoint and head.json).
	hp := filepath.Join(a.dir, headFile)
	if raw, err := os.ReadFile(hp); err == nil {
		if a.head, err = newHead(raw, hp); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	headChanged := false
	for _, seq := range slices.Sorted(mapKeys(ckpts)) {
		p := filepath.Join(a.dir, localName(seq, localCkptExt))
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h, err := newHead(raw, p)
		if err != nil {
			return err
		}
		if h.ckpt.Sequence != seq {
			return fmt.Errorf("%s holds the checkpoint of segment %d", p, h.ckpt.Sequence)
		}
		if a.head == nil || seq > a.head.ckpt.Sequence {
			a.head, headChanged = h, true
		}
		gp := filepath.Join(a.dir, localName(seq, sealedExt))
		if !gz[seq] {
			// Uploaded: the segment file is removed before its checkpoint.
			os.Remove(p)
			continue
		}
		delete(gz, seq)
		a.sealed = append(a.sealed, &sealedSegment{seq: seq, key: h.ckpt.Segment, gzPath: gp, ckptPath: p, ckpt: raw, size: h.ckpt.Size})
	}
	for seq := range gz {
		p := filepath.Join(a.dir, localName(seq, sealedExt))
		if slices.Contains(journals, seq) {
			os.Remove(p) // sealing was interrupted; the journal is sealed again
			continue
		}
		a.logger.Error("audit_archive_orphan_segment", "file", p)
	}
	if headChanged {
		if err := writeFileSync(hp, a.head.raw); err != nil {
			return err
		}
	}

	// Journals. Those at or before the head were sealed; the rest are
	// checked record by record, a damaged tail cut off.
	chain := a.head.chain()
	next := uint64(0)
	if a.head != nil {
		next = a.head.ckpt.Sequence + 1
	}
	var live []*journal
	for i, seq := range journals {
		p := filepath.Join(a.dir, localName(seq, journalExt))
		if a.head != nil && seq <= a.head.ckpt.Sequence {
			os.Remove(p)
			continue
		}
		j, err := a.recoverJournal(p, i == len(journals)-1)
		if err != nil {
			return err
		}
		if j == nil {
			continue
		}
		if j.seq != seq {
			return fmt.Errorf("%s holds segment %d", p, j.seq)
		}
		if j.seq != next || j.chainStart != chain {
			a.logger.Error("audit_archive_chain_discontinuity", "journal", p, "want_sequence", next, "chain_start", j.chainStart.String(), "want_chain_start", chain.String())
		}
		live = append(live, j)
		chain, next = j.chain, j.seq+1
	}
	if len(live) > 0 {
		last := live[len(live)-1]
		f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, journalPerm)
		if err != nil {
			return err
		}
		last.f = f
		a.cur, a.closedJ = last, live[:len(live)-1]
	}
	a.chain, a.next = chain, next

	if a.head == nil && len(live) == 0 && len(a.sealed) == 0 {
		// A new journal directory: continue the bucket's chains.
		h, err := bucketHead(ctx, a.bucket)
		if err != nil {
			return fmt.Errorf("read the last checkpoint from the bucket: %w", err)
		}
		if h != nil {
			if err := writeFileSync(hp, h.raw); err != nil {
				return err
			}
			a.head, a.chain, a.next = h, h.chain(), h.ckpt.Sequence+1
			a.logger.Info("audit_archive_continues", "sequence", a.next, "checkpoint", h.sum.String())
		}
	}
	if len(a.closedJ) > 0 {
		kick(a.sealKick)
	}
	if len(a.sealed) > 0 {
		kick(a.uploadKick)
	}
	return nil
}

// recoverJournal scans a journal; a damaged or torn tail is saved to a
// .torn file and cut off. A journal whose header cannot be read is moved
// aside (nil journal): a torn header means nothing in it was fsynced.
func (a *Archive) recoverJournal(p string, last bool) (*journal, error) {
	j, scanErr := scanJournal(p)
	if j == nil {
		if errors.Is(scanErr, os.ErrNotExist) {
			return nil, nil
		}
		aside := p + tornExt
		a.logger.Warn("audit_archive_journal_unreadable", "journal", p, "moved_to", aside, "error", scanErr)
		if err := os.Rename(p, aside); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if scanErr == nil {
		return j, nil
	}
	if re := (*RecordError)(nil); !errors.As(scanErr, &re) {
		return nil, scanErr // cannot read the file: nothing is cut off
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	dropped := info.Size() - j.size
	torn := filepath.Join(a.dir, fmt.Sprintf("%012d-%d%s", j.seq, j.size, tornExt))
	if err := saveTail(p, j.size, torn); err != nil {
		return nil, fmt.Errorf("save the damaged tail of %s: %w", p, err)
	}
	if err := os.Truncate(p, j.size); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, journalPerm)
	if err != nil {
		return nil, err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return nil, err
	}
	level := slog.LevelWarn
	if !last {
		// Only the last journal can end in a torn write: the others were
		// fsynced before it was created.
		level = slog.LevelError
	}
	a.logger.Log(context.Background(), level, "audit_archive_journal_truncated", "journal", p, "events_kept", j.events, "dropped_bytes", dropped, "saved_to", torn, "error", scanErr)
	return j, nil
}

func saveTail(p string, from int64, to string) error {
	src, err := os.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := src.Seek(from, io.SeekStart); err != nil {
		return err
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	return writeFileSync(to, data)
}

func localName(seq uint64, ext string) string { return fmt.Sprintf("%012d%s", seq, ext) }

func parseLocalName(name, ext string) (uint64, bool) {
	num, ok := strings.CutSuffix(name, ext)
	if !ok || len(num) != 12 {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Append stores the events in order: each the raw JSON of one
// audit.k8s.io/v1 Event, on one line. When it returns nil they are
// fsynced in the journal and will reach the bucket even if the process is
// killed right after. The events of one call get consecutive positions
// in one segment; Append returns the position of the first.
//
// Append is safe for concurrent use; concurrent calls share fsyncs. ctx
// is checked before the events are written; once they are, Append waits
// for the fsync.
func (a *Archive) Append(ctx context.Context, events [][]byte) (audit.Position, error) {
	var n int64
	for i, e := range events {
		if err := checkEvent(e); err != nil {
			return audit.Position{}, fmt.Errorf("audit archive: event %d of %d: %w", i, len(events), err)
		}
		n += int64(len(e) + recordOverhead)
	}
	if err := ctx.Err(); err != nil {
		return audit.Position{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if err := a.usable(); err != nil {
			return audit.Position{}, err
		}
		j := a.cur
		if j == nil || j.events == 0 || (j.size-j.hdr+n <= a.o.MaxSegmentBytes && a.o.Now().Sub(j.opened) < a.o.MaxSegmentAge) {
			break
		}
		if err := a.rotate(j); err != nil {
			return audit.Position{}, err
		}
	}
	if len(events) == 0 {
		if a.cur != nil {
			return audit.Position{Segment: a.cur.seq, Index: a.cur.events}, nil
		}
		return audit.Position{Segment: a.next}, nil
	}
	if a.cur == nil {
		j, err := createJournal(a.dir, a.next, a.o.Now(), a.chain)
		if err != nil {
			return audit.Position{}, fmt.Errorf("audit archive: create journal: %w", err)
		}
		a.cur = j
		a.next++
		a.written += j.size
		a.durable += j.size
	}
	j := a.cur
	pos := audit.Position{Segment: j.seq, Index: j.events}
	buf := a.buf[:0]
	h := a.chain
	for _, e := range events {
		h = chainNext(h, e)
		buf = appendRecord(buf, h, e)
	}
	if cap(buf) <= 4<<20 {
		a.buf = buf
	}
	if _, err := j.f.Write(buf); err != nil {
		// The journal may end in a partial record now: cut it off so the
		// next append follows a whole one.
		if terr := j.f.Truncate(j.size); terr != nil {
			a.err = fmt.Errorf("audit archive: journal %s: truncate after a failed write: %w", j.path, terr)
		}
		return audit.Position{}, fmt.Errorf("audit archive: write %s: %w", j.path, err)
	}
	if j.events == 0 {
		j.first = eventTime(events[0])
	}
	j.last = eventTime(events[len(events)-1])
	a.chain, j.chain = h, h
	j.events += uint64(len(events))
	j.size += int64(len(buf))
	a.written += int64(len(buf))
	if err := a.syncTo(a.written); err != nil {
		return audit.Position{}, err
	}
	return pos, nil
}

// usable is nil when Append may write. The caller holds mu.
func (a *Archive) usable() error {
	if a.err != nil {
		return a.err
	}
	if a.closing {
		return errClosed
	}
	return nil
}

// syncTo returns once the journals are fsynced up to target (a count of
// bytes written). Concurrent callers share one fsync: while one runs, the
// others wait for it and start the next only if they still need one. The
// caller holds mu; it is released during fsync.
func (a *Archive) syncTo(target int64) error {
	for a.durable < target {
		if a.err != nil {
			return a.err
		}
		if a.syncing {
			a.synced.Wait()
			continue
		}
		j, upto, size := a.cur, a.written, a.cur.size
		a.syncing = true
		a.mu.Unlock()
		err := j.f.Sync()
		a.mu.Lock()
		a.syncing = false
		a.synced.Broadcast()
		if err != nil {
			// After a failed fsync the kernel may have dropped the dirty
			// pages: what the journal holds is no longer known. Refuse
			// appends until Open recovers it from disk.
			a.err = fmt.Errorf("audit archive: fsync %s: %w (reopen the archive to recover)", j.path, err)
			return a.err
		}
		a.durable = max(a.durable, upto)
		j.synced = max(j.synced, size)
	}
	return nil
}

// rotate closes the journal j (fsynced) for sealing; the next Append
// opens a new segment. The caller holds mu.
func (a *Archive) rotate(j *journal) error {
	for a.syncing {
		a.synced.Wait()
	}
	if a.cur != j {
		return nil // rotated by another caller while waiting
	}
	if err := j.f.Sync(); err != nil {
		a.err = fmt.Errorf("audit archive: fsync %s: %w (reopen the archive to recover)", j.path, err)
		return a.err
	}
	if err := j.f.Close(); err != nil {
		a.err = fmt.Errorf("audit archive: close %s: %w", j.path, err)
		return a.err
	}
	j.f = nil
	j.synced = j.size
	j.closed = a.o.Now().UTC()
	a.durable = a.written
	a.cur = nil
	a.closedJ = append(a.closedJ, j)
	kick(a.sealKick)
	return nil
}

// rotateByAge closes the open segment once it is MaxSegmentAge old.
func (a *Archive) rotateByAge() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if j := a.cur; j != nil && j.events > 0 && a.err == nil && a.o.Now().Sub(j.opened) >= a.o.MaxSegmentAge {
		if err := a.rotate(j); err != nil {
			a.logger.Error("audit_archive_rotate_failed", "journal", j.path, "error", err)
		}
	}
}

// Close stops appends, seals the open segment and uploads what is sealed,
// trying for a bounded time; what cannot be uploaded stays in the journal
// directory for the next Open. Cancel Run and wait for it first.
func (a *Archive) Close() error {
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		return nil
	}
	a.closing = true
	for a.syncing {
		a.synced.Wait()
	}
	var errs []error
	if j := a.cur; j != nil {
		if j.events > 0 && a.err == nil {
			errs = append(errs, a.rotate(j))
		} else {
			j.f.Close()
			j.f = nil
			if j.events == 0 {
				os.Remove(j.path)
				a.cur = nil
			}
		}
	}
	a.mu.Unlock()
	if err := a.sealAll(); err != nil {
		errs = append(errs, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.closeTimeout)
	defer cancel()
	if err := a.uploadAll(ctx); err != nil {
		a.mu.Lock()
		n := len(a.sealed) + len(a.closedJ)
		a.mu.Unlock()
		errs = append(errs, fmt.Errorf("%w (%d segments stay in %s for the next Open)", err, n, a.dir))
	}
	a.closeFiles()
	errs = append(errs, a.bucket.Close())
	return errors.Join(errs...)
}

func (a *Archive) closeFiles() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil && a.cur.f != nil {
		a.cur.f.Close()
		a.cur.f = nil
	}
}

// Stats describe the archive's local backlog.
type Stats struct {
	// Open is the position the next event gets.
	Open audit.Position
	// Pending is the number of segments closed or sealed and not yet
	// uploaded, PendingBytes the size of their local files.
	Pending      int
	PendingBytes int64
	// LastUpload is when a segment was last uploaded; LastUploadError the
	// last upload failure, nil after a success.
	LastUpload      time.Time
	LastUploadError error
}

// Stats returns the archive's backlog.
func (a *Archive) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{Open: audit.Position{Segment: a.next}, LastUpload: a.lastUp, LastUploadError: a.upErr}
	if a.cur != nil {
		s.Open = audit.Position{Segment: a.cur.seq, Index: a.cur.events}
	}
	for _, j := range a.closedJ {
		s.Pending++
		s.PendingBytes += j.size
	}
	for _, sg := range a.sealed {
		s.Pending++
		s.PendingBytes += sg.size
	}
	return s
}

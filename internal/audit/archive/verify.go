package archive

import (
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Since checks only the segments sealed at or after this time, and the
	// checkpoint links from the one before them; zero checks everything
	// retention kept.
	Since time.Time
	// Concurrency is the number of segments read at once (default 4).
	Concurrency int
}

// ProblemKind classifies a problem Verify found.
type ProblemKind string

// Problem kinds.
const (
	// A record that does not parse, or whose chain value does not follow
	// from the previous one (an event changed, removed, inserted or
	// moved), or a compressed stream that does not decode.
	ProblemDamaged ProblemKind = "damaged"
	// A segment that ends inside a record or inside its compressed stream.
	ProblemTruncated ProblemKind = "truncated"
	// A segment object whose size or SHA-256 is not its checkpoint's.
	ProblemDigest ProblemKind = "digest_mismatch"
	// A segment whose event count or final chain value is not its
	// checkpoint's.
	ProblemCount ProblemKind = "count_mismatch"
	// A checkpoint whose segment is not in the bucket.
	ProblemMissingSegment ProblemKind = "missing_segment"
	// A segment without its checkpoint.
	ProblemMissingCheckpoint ProblemKind = "missing_checkpoint"
	// Sequence numbers with neither segment nor checkpoint.
	ProblemGap ProblemKind = "gap"
	// A checkpoint that does not follow the previous one: its previous
	// digest or its chain start differs.
	ProblemChainBreak ProblemKind = "chain_break"
	// A checkpoint that cannot be read or names another sequence number.
	ProblemCheckpoint ProblemKind = "bad_checkpoint"
	// A segment stored under another key than its checkpoint names.
	ProblemMisplaced ProblemKind = "misplaced"
	// An object that is not part of the archive's layout, or a damaged
	// retention record.
	ProblemUnexpected ProblemKind = "unexpected_object"
)

// Problem is one thing wrong in the archive.
type Problem struct {
	Kind ProblemKind `json:"kind"`
	// Sequence is the segment's sequence number, Key the object the
	// problem is about (the segment's key when there is one).
	Sequence uint64 `json:"sequence"`
	Key      string `json:"key"`
	// Index is the event's index in its segment; -1 when the problem is
	// not about one event.
	Index   int64  `json:"index"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Index >= 0 {
		return fmt.Sprintf("%s: event %d: %s (%s)", p.Key, p.Index, p.Message, p.Kind)
	}
	return fmt.Sprintf("%s: %s (%s)", p.Key, p.Message, p.Kind)
}

// Report is what Verify checked and found.
type Report struct {
	// Segments and Events are the segment objects read and the events in
	// them that were read and chained correctly.
	Segments int    `json:"segments"`
	Events   uint64 `json:"events"`
	// FirstEventTime and LastEventTime span the checked segments'
	// checkpoints.
	FirstEventTime time.Time `json:"firstEventTime,omitzero"`
	LastEventTime  time.Time `json:"lastEventTime,omitzero"`
	// RetainedFrom is the first sequence number retention kept; segments
	// before it were deleted by retention, which is not a problem.
	RetainedFrom uint64 `json:"retainedFrom"`
	// Uploading is the newest segment when its checkpoint is not in the
	// bucket yet (an upload in progress, or failing and retried): it is
	// checked against the previous checkpoint's chain but not reported as
	// missing its checkpoint.
	Uploading string    `json:"uploading,omitempty"`
	Problems  []Problem `json:"problems"`
}

// OK reports whether Verify found no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the archive in the bucket at url: every segment against
// its checkpoint (size, SHA-256, event count, chain values record by
// record), every checkpoint against the previous one, and the sequence
// numbers for gaps. It returns every problem found in the report; the
// error is for an archive that cannot be checked at all (the bucket
// cannot be opened or listed).
//
// Segments not yet uploaded (in a journal directory) are not checked; the
// newest segment without its checkpoint is taken for an upload in
// progress (Report.Uploading). Removing the newest segments and
// checkpoints leaves no trace in the bucket: compare with a checkpoint
// digest kept elsewhere.
func Verify(ctx context.Context, url string, o VerifyOptions) (*Report, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	b, _, err := openBucket(ctx, url, false)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	v := &verifier{b: b, o: o, rep: &Report{Problems: []Problem{}}}
	if err := v.run(ctx); err != nil {
		return nil, err
	}
	slices.SortStableFunc(v.rep.Problems, func(p, q Problem) int {
		return cmp.Or(cmp.Compare(p.Sequence, q.Sequence), cmp.Compare(p.Index, q.Index))
	})
	return v.rep, nil
}

type verifier struct {
	b   *blob.Bucket
	o   VerifyOptions
	mu  sync.Mutex
	rep *Report
}

func (v *verifier) problem(p Problem) {
	v.mu.Lock()
	v.rep.Problems = append(v.rep.Problems, p)
	v.mu.Unlock()
}

// link is what the next checkpoint must follow: the previous checkpoint's
// digest and chain value.
type link struct {
	known bool
	sum   string // "" before the first segment
	chain Hash
}

func (v *verifier) run(ctx context.Context) error {
	// The start: retention's record, else the genesis.
	start := link{known: true, chain: Genesis}
	base := uint64(0)
	rec, err := readRetention(ctx, v.b)
	switch {
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		v.problem(Problem{Kind: ProblemUnexpected, Key: retentionKey, Index: -1, Message: err.Error()})
		start = link{}
	case rec != nil:
		c, _ := decodeCheckpoint([]byte(rec.Checkpoint), retentionKey) // checked by readRetention
		start = link{known: true, sum: rec.CheckpointSHA256, chain: mustHash(c.Chain)}
		base = rec.Through + 1
	}

	ckptKeys := map[uint64]string{}
	segKeys := map[uint64]string{}
	if err := listKeys(ctx, v.b, checkpointsDir, func(key string) {
		if seq, ok := parseCheckpointKey(key); ok {
			ckptKeys[seq] = key
		} else if !strings.HasSuffix(key, tmpExt) {
			v.problem(Problem{Kind: ProblemUnexpected, Key: key, Index: -1, Message: "not a checkpoint key"})
		}
	}); err != nil {
		return err
	}
	if err := listKeys(ctx, v.b, segmentsDir, func(key string) {
		seq, ok := parseSegmentKey(key)
		switch {
		case !ok && !strings.HasSuffix(key, tmpExt):
			v.problem(Problem{Kind: ProblemUnexpected, Key: key, Index: -1, Message: "not a segment key"})
		case !ok:
		case segKeys[seq] != "":
			v.problem(Problem{Kind: ProblemMisplaced, Sequence: seq, Key: key, Index: -1, Message: fmt.Sprintf("a second segment %d (the other is %s)", seq, segKeys[seq])})
		default:
			segKeys[seq] = key
		}
	}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	var seqs []uint64
	for seq := range ckptKeys {
		if seq >= base {
			seqs = append(seqs, seq)
		}
	}
	for seq := range segKeys {
		if seq >= base && ckptKeys[seq] == "" {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	if rec == nil && !start.known && len(seqs) > 0 {
		base = seqs[0] // retention record damaged: start where the objects start
	}
	v.rep.RetainedFrom = base
	if len(seqs) == 0 {
		return nil
	}
	last := seqs[len(seqs)-1]

	first := base
	if !v.o.Since.IsZero() {
		first = v.firstSince(ctx, ckptKeys, base, last)
		if first > base {
			start = link{}
		}
	}
	// Checkpoints, read concurrently.
	ckpts := map[uint64]*readCheckpoint{}
	from := first
	if first > base {
		from = first - 1 // the link into the first checked segment
	}
	var wg sync.WaitGroup
	var cmu sync.Mutex
	pending := make(chan uint64)
	for range 4 * v.o.Concurrency {
		wg.Go(func() {
			for seq := range pending {
				key := ckptKeys[seq]
				raw, err := readObject(ctx, v.b, key)
				rc := &readCheckpoint{key: key, raw: raw, err: err}
				if err == nil {
					rc.c, rc.err = decodeCheckpoint(raw, key)
					rc.sum = fmt.Sprintf("%x", sha256.Sum256(raw))
				}
				cmu.Lock()
				ckpts[seq] = rc
				cmu.Unlock()
			}
		})
	}
	for seq := range ckptKeys {
		if seq >= from && seq <= last {
			pending <- seq
		}
	}
	close(pending)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if first > base {
		if rc := ckpts[first-1]; rc != nil && rc.err == nil {
			start = link{known: true, sum: rc.sum, chain: mustHash(rc.c.Chain)}
		}
	}

	// Walk the sequence numbers in order for the links; segments are
	// checked concurrently, each from its own checkpoint's chain start.
	jobs := make(chan segmentJob)
	var workers sync.WaitGroup
	for range v.o.Concurrency {
		workers.Go(func() {
			for j := range jobs {
				v.checkSegment(ctx, j)
			}
		})
	}
	prev := start
	gapFrom := uint64(0)
	inGap := false
	endGap := func(to uint64) {
		if inGap {
			msg := fmt.Sprintf("segment %d is missing: neither segment nor checkpoint", gapFrom)
			if to-1 > gapFrom {
				msg = fmt.Sprintf("segments %d to %d are missing: neither segments nor checkpoints", gapFrom, to-1)
			}
			v.problem(Problem{Kind: ProblemGap, Sequence: gapFrom, Key: checkpointKey(gapFrom), Index: -1, Message: msg})
			inGap = false
		}
	}
	for seq := first; seq <= last; seq++ {
		rc, segKey := ckpts[seq], segKeys[seq]
		if rc == nil && segKey == "" {
			if !inGap {
				inGap, gapFrom = true, seq
			}
			prev = link{}
			continue
		}
		endGap(seq)
		job := segmentJob{seq: seq, key: segKey}
		switch {
		case rc == nil && seq == last:
			// The newest segment: its checkpoint is uploaded after it.
			v.mu.Lock()
			v.rep.Uploading = segKey
			v.mu.Unlock()
		case rc == nil:
			v.problem(Problem{Kind: ProblemMissingCheckpoint, Sequence: seq, Key: segKey, Index: -1, Message: fmt.Sprintf("no checkpoint %s", checkpointKey(seq))})
		case rc.err != nil:
			v.problem(Problem{Kind: ProblemCheckpoint, Sequence: seq, Key: rc.key, Index: -1, Message: rc.err.Error()})
		default:
			job.c = rc.c
			v.checkLink(seq, rc, prev)
		}
		if job.c != nil {
			job.start, job.startKnown = mustHash(job.c.ChainStart), true
		} else if prev.known {
			job.start, job.startKnown = prev.chain, true
		}
		switch {
		case segKey == "" && job.c != nil:
			v.problem(Problem{Kind: ProblemMissingSegment, Sequence: seq, Key: job.c.Segment, Index: -1, Message: fmt.Sprintf("segment missing (checkpoint %s names it)", rc.key)})
		case segKey == "":
		default:
			if job.c != nil && job.c.Segment != segKey {
				v.problem(Problem{Kind: ProblemMisplaced, Sequence: seq, Key: segKey, Index: -1, Message: fmt.Sprintf("checkpoint %s names %s", rc.key, job.c.Segment)})
			}
			jobs <- job
		}
		if job.c != nil {
			prev = link{known: true, sum: rc.sum, chain: mustHash(job.c.Chain)}
			v.mu.Lock()
			if t := job.c.FirstEventTime; !t.IsZero() && (v.rep.FirstEventTime.IsZero() || t.Before(v.rep.FirstEventTime)) {
				v.rep.FirstEventTime = t
			}
			if t := job.c.LastEventTime; t.After(v.rep.LastEventTime) {
				v.rep.LastEventTime = t
			}
			v.mu.Unlock()
		} else {
			prev = link{}
		}
	}
	close(jobs)
	workers.Wait()
	return ctx.Err()
}

type readCheckpoint struct {
	key string
	raw []byte
	sum string
	c   *Checkpoint
	err error
}

type segmentJob struct {
	seq        uint64
	key        string
	c          *Checkpoint // nil when missing or unreadable
	start      Hash
	startKnown bool
}

// checkLink checks that checkpoint seq follows the previous one.
func (v *verifier) checkLink(seq uint64, rc *readCheckpoint, prev link) {
	c := rc.c
	if c.Sequence != seq {
		v.problem(Problem{Kind: ProblemCheckpoint, Sequence: seq, Key: rc.key, Index: -1, Message: fmt.Sprintf("holds the checkpoint of segment %d", c.Sequence)})
	}
	if !prev.known {
		return
	}
	var why []string
	if c.Previous != prev.sum {
		want := "the previous checkpoint's digest " + prev.sum
		if prev.sum == "" {
			want = "empty (the first segment)"
		}
		why = append(why, fmt.Sprintf("previous is %q, want %s", c.Previous, want))
	}
	if c.ChainStart != prev.chain.String() {
		why = append(why, fmt.Sprintf("chain start %s is not the previous segment's chain value %s", c.ChainStart, prev.chain))
	}
	if len(why) > 0 {
		v.problem(Problem{Kind: ProblemChainBreak, Sequence: seq, Key: rc.key, Index: -1, Message: strings.Join(why, "; ")})
	}
}

// checkSegment reads one segment and checks it against its checkpoint and
// the chain.
func (v *verifier) checkSegment(ctx context.Context, j segmentJob) {
	p := func(kind ProblemKind, index int64, format string, args ...any) {
		v.problem(Problem{Kind: kind, Sequence: j.seq, Key: j.key, Index: index, Message: fmt.Sprintf(format, args...)})
	}
	ctx, cancel := context.WithTimeout(ctx, segmentReadTimeout)
	defer cancel()
	r, err := v.b.NewReader(ctx, j.key, nil)
	if err != nil {
		if isNotFound(err) {
			p(ProblemMissingSegment, -1, "segment deleted while verifying")
			return
		}
		p(ProblemDamaged, -1, "read: %v", err)
		return
	}
	defer r.Close()
	d := sha256.New()
	cr := &countWriter{w: d}
	raw := io.TeeReader(r, cr)

	events, chain, recErr := checkRecords(raw, j)
	if _, err := io.Copy(io.Discard, raw); err != nil && recErr == nil {
		recErr = fmt.Errorf("read: %w", err)
	}
	v.mu.Lock()
	v.rep.Segments++
	v.rep.Events += events
	v.mu.Unlock()
	sum := sumOf(d)
	if j.c != nil && (sum.String() != j.c.SHA256 || cr.n != j.c.Size) {
		p(ProblemDigest, -1, "stored object has %d bytes, SHA-256 %s; its checkpoint says %d bytes, %s: the segment was modified or replaced", cr.n, sum, j.c.Size, j.c.SHA256)
	}
	var re *RecordError
	switch {
	case recErr == nil:
	case errors.As(recErr, &re) && errors.Is(re.Err, ErrTruncated):
		p(ProblemTruncated, int64(re.Index), "segment ends inside this event: truncated")
		return
	case errors.As(recErr, &re):
		p(ProblemDamaged, int64(re.Index), "%v", re.Err)
		return
	default:
		p(ProblemDamaged, int64(events), "%v", recErr)
		return
	}
	if j.c == nil {
		return
	}
	if events != j.c.Events {
		p(ProblemCount, -1, "%d events; its checkpoint says %d", events, j.c.Events)
	} else if chain.String() != j.c.Chain {
		p(ProblemCount, -1, "the last event's chain value is %s; its checkpoint says %s", chain, j.c.Chain)
	}
}

// checkRecords decompresses a segment and checks its records' chain. It
// returns the number of good records, the chain value after them, and
// what stopped it early.
func checkRecords(r io.Reader, j segmentJob) (uint64, Hash, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, Hash{}, fmt.Errorf("gzip: %w", err)
	}
	rr := newRecordReader(zr, j.key)
	prev, known := j.start, j.startKnown
	for {
		h, raw, err := rr.next()
		if err == io.EOF {
			return rr.index, prev, nil
		}
		if err != nil {
			var re *RecordError
			if errors.As(err, &re) {
				return rr.index, prev, err
			}
			return rr.index, prev, fmt.Errorf("gzip: %w", errors.Unwrap(err))
		}
		if known && chainNext(prev, raw) != h {
			return rr.index - 1, prev, &RecordError{Name: j.key, Index: rr.index - 1, Offset: rr.off, Err: errors.New("chain value does not match: the event was changed, moved, inserted or a previous one removed")}
		}
		prev, known = h, true
	}
}

// firstSince finds the first segment sealed at or after Since by binary
// search over the checkpoints; an unreadable checkpoint counts as after,
// so damage is never skipped.
func (v *verifier) firstSince(ctx context.Context, ckptKeys map[uint64]string, base, last uint64) uint64 {
	var seqs []uint64
	for seq := range ckptKeys {
		if seq >= base && seq <= last {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	i, _ := slices.BinarySearchFunc(seqs, v.o.Since, func(seq uint64, since time.Time) int {
		raw, err := readObject(ctx, v.b, ckptKeys[seq])
		if err != nil {
			return 1
		}
		c, err := decodeCheckpoint(raw, ckptKeys[seq])
		if err != nil || !c.Sealed.Before(since) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return base
	}
	// Start right after the last checkpoint sealed before Since, so a gap
	// after it is still seen.
	return seqs[i-1] + 1
}

func mustHash(s string) Hash {
	h, _ := parseHash(s) // checked by decodeCheckpoint
	return h
}

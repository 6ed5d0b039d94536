package archive

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/bulwark-k8s/bulwark/internal/fsutil"
)

// gzipLevel is the compression level of segments. klauspost/compress's
// gzip at its default level compresses as well as the standard library's
// at the same level, at 2.5 times the speed (docs/performance.md); the
// output is plain gzip.
const gzipLevel = gzip.DefaultCompression

// Upload retries back off from minBackoff, doubling up to maxBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 5 * time.Minute
)

// Run seals segments when they are MaxSegmentAge old, seals closed
// journals, uploads sealed segments and their checkpoints (in order,
// retrying failed uploads with backoff), and applies retention, until ctx
// ends. It returns nil then, once its goroutines have stopped.
func (a *Archive) Run(ctx context.Context) error {
	a.mu.Lock()
	switch {
	case a.closing:
		a.mu.Unlock()
		return errClosed
	case a.running:
		a.mu.Unlock()
		return errors.New("audit archive: already running")
	}
	a.running = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		a.mu.Unlock()
	}()

	var wg sync.WaitGroup
	wg.Go(func() { a.sealLoop(ctx) })
	wg.Go(func() { a.uploadLoop(ctx) })
	if a.o.Retention > 0 {
		wg.Go(func() { a.retentionLoop(ctx) })
	}
	t := time.NewTicker(a.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			a.rotateByAge()
		}
	}
}

func (a *Archive) sealLoop(ctx context.Context) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	<-retry.C
	for {
		if err := a.sealAll(); err != nil {
			// A local disk problem; the journals stay and are sealed later.
			a.logger.Error("audit_archive_seal_failed", "error", err)
			retry.Reset(time.Minute)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.sealKick:
		case <-retry.C:
		}
	}
}

func (a *Archive) uploadLoop(ctx context.Context) {
	backoff := time.Duration(0)
	retry := time.NewTimer(0)
	defer retry.Stop()
	<-retry.C
	for {
		err := a.uploadAll(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			a.logger.Warn("audit_archive_upload_failed", "error", err, "retry_in", backoff.String())
			retry.Reset(backoff)
			select {
			case <-ctx.Done():
				return
			case <-retry.C:
			}
			continue
		}
		backoff = 0
		select {
		case <-ctx.Done():
			return
		case <-a.uploadKick:
		}
	}
}

// sealAll seals every closed journal, in order.
func (a *Archive) sealAll() error {
	a.sealMu.Lock()
	defer a.sealMu.Unlock()
	for {
		a.mu.Lock()
		if len(a.closedJ) == 0 {
			a.mu.Unlock()
			return nil
		}
		j := a.closedJ[0]
		a.mu.Unlock()
		s, err := a.seal(j)
		if err != nil {
			return fmt.Errorf("seal %s: %w", j.path, err)
		}
		a.mu.Lock()
		a.closedJ = a.closedJ[1:]
		a.sealed = append(a.sealed, s)
		a.mu.Unlock()
		// Removed only now: Read opens journals under mu, from the lists.
		if err := os.Remove(j.path); err != nil {
			a.logger.Error("audit_archive_remove_failed", "file", j.path, "error", err)
		}
		kick(a.uploadKick)
	}
}

// seal compresses a closed journal into a segment file, writes its
// checkpoint and the new head; the caller then removes the journal. The
// caller holds sealMu.
func (a *Archive) seal(j *journal) (*sealedSegment, error) {
	if want := a.head.chain(); j.chainStart != want {
		a.logger.Error("audit_archive_chain_discontinuity", "journal", j.path, "chain_start", j.chainStart.String(), "want_chain_start", want.String())
	}
	gzPath := filepath.Join(a.dir, localName(j.seq, sealedExt))
	size, sum, md5sum, err := compressFile(j.path, j.hdr, j.size, gzPath)
	if err != nil {
		return nil, err
	}
	sealed := j.closed
	if sealed.IsZero() {
		sealed = a.o.Now().UTC()
	}
	c := &Checkpoint{
		Version: checkpointVersion, Sequence: j.seq, Segment: segmentKey(j.seq, j.opened),
		Events: j.events, FirstEventTime: j.first, LastEventTime: j.last,
		Opened: j.opened, Sealed: sealed,
		Size: size, SHA256: sum.String(),
		ChainStart: j.chainStart.String(), Chain: j.chain.String(),
	}
	if a.head != nil {
		c.Previous = a.head.sum.String()
	}
	raw := c.encode()
	ckptPath := filepath.Join(a.dir, localName(j.seq, localCkptExt))
	if err := writeFileSync(ckptPath, raw); err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(a.dir, headFile), raw); err != nil {
		return nil, err
	}
	a.head = &head{ckpt: c, raw: raw, sum: sha256.Sum256(raw)}
	a.logger.Debug("audit_archive_sealed", "segment", c.Segment, "events", c.Events, "bytes", size)
	return &sealedSegment{seq: j.seq, key: c.Segment, gzPath: gzPath, ckptPath: ckptPath, ckpt: raw, size: size, sum: sum, md5: md5sum}, nil
}

// compressFile gzips bytes [from, to) of src into dst (written to a
// temporary file, fsynced, renamed) and returns the size, SHA-256 and MD5
// of the result.
func compressFile(src string, from, to int64, dst string) (int64, Hash, []byte, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, Hash{}, nil, err
	}
	defer in.Close()
	tmp := dst + tmpExt
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, journalPerm)
	if err != nil {
		return 0, Hash{}, nil, err
	}
	fail := func(err error) (int64, Hash, []byte, error) {
		out.Close()
		os.Remove(tmp)
		return 0, Hash{}, nil, err
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	d, m := sha256.New(), md5.New()
	cw := &countWriter{w: io.MultiWriter(bw, d, m)}
	zw, _ := gzip.NewWriterLevel(cw, gzipLevel) // a valid level
	if _, err := io.Copy(zw, io.NewSectionReader(in, from, to-from)); err != nil {
		return fail(err)
	}
	if err := zw.Close(); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return 0, Hash{}, nil, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return 0, Hash{}, nil, err
	}
	if err := fsutil.SyncDir(filepath.Dir(dst)); err != nil {
		return 0, Hash{}, nil, err
	}
	return cw.n, sumOf(d), m.Sum(nil), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func sumOf(d hash.Hash) Hash {
	var h Hash
	d.Sum(h[:0])
	return h
}

// uploadAll uploads the sealed segments in order, each before its
// checkpoint, and removes their local files. It stops at the first
// failure so the bucket always holds a prefix of the sequence.
func (a *Archive) uploadAll(ctx context.Context) error {
	a.uploadMu.Lock()
	defer a.uploadMu.Unlock()
	for {
		a.mu.Lock()
		if len(a.sealed) == 0 {
			a.mu.Unlock()
			return nil
		}
		s := a.sealed[0]
		a.mu.Unlock()
		err := a.upload(ctx, s)
		a.mu.Lock()
		a.upErr = err
		if err == nil {
			a.sealed = a.sealed[1:]
			a.lastUp = time.Now()
		}
		a.mu.Unlock()
		if err != nil {
			return err
		}
		// Removed only now (Read opens local files under mu, from the
		// list). The segment file goes first: a checkpoint file without
		// its segment file tells Open the segment was uploaded.
		for _, p := range []string{s.gzPath, s.ckptPath} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				a.logger.Error("audit_archive_remove_failed", "file", p, "error", err)
			}
		}
	}
}

// upload copies one sealed segment and its checkpoint to the bucket.
func (a *Archive) upload(ctx context.Context, s *sealedSegment) error {
	ctx, cancel := context.WithTimeout(ctx, uploadTimeout(s.size))
	defer cancel()
	if err := a.putFile(ctx, s.key, s.gzPath, s.sum, s.md5, "application/gzip"); err != nil {
		return err
	}
	ckey := checkpointKey(s.seq)
	if err := a.putBytes(ctx, ckey, s.ckpt, "application/json"); err != nil {
		return err
	}
	a.logger.Info("audit_archive_uploaded", "segment", s.key, "checkpoint", ckey, "checkpoint_sha256", fmt.Sprintf("%x", sha256.Sum256(s.ckpt)), "bytes", s.size)
	return nil
}

// uploadTimeout bounds one upload: two minutes and 256 KiB/s.
func uploadTimeout(size int64) time.Duration {
	return 2*time.Minute + time.Duration(size/(256<<10))*time.Second
}

func (a *Archive) retentionLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.applyRetention(ctx); err != nil && ctx.Err() == nil {
			a.logger.Warn("audit_archive_retention_failed", "error", err)
		}
		t.Reset(a.retentionEvery)
	}
}

// applyRetention deletes the uploaded segments sealed more than
// Retention ago, oldest first, with their checkpoints. Before deleting it
// records the checkpoint of the last segment it deletes in retention.json,
// where Verify starts the chains.
func (a *Archive) applyRetention(ctx context.Context) error {
	cutoff := a.o.Now().Add(-a.o.Retention)
	seqs, err := listCheckpoints(ctx, a.bucket)
	if err != nil {
		return err
	}
	type victim struct {
		seq uint64
		raw []byte
		c   *Checkpoint
	}
	var victims []victim
	for _, seq := range seqs {
		key := checkpointKey(seq)
		raw, err := readObject(ctx, a.bucket, key)
		if err != nil {
			return err
		}
		c, err := decodeCheckpoint(raw, key)
		if err != nil {
			return err // never delete past a checkpoint that cannot be read
		}
		if segSeq, ok := parseSegmentKey(c.Segment); !ok || segSeq != seq || c.Sequence != seq {
			return fmt.Errorf("%s: names segment %q: not deleting past it", key, c.Segment)
		}
		if !c.Sealed.Before(cutoff) {
			break
		}
		victims = append(victims, victim{seq, raw, c})
	}
	if len(victims) == 0 {
		return nil
	}
	last := victims[len(victims)-1]
	prev, err := readRetention(ctx, a.bucket)
	if err != nil {
		return err
	}
	if prev == nil || prev.Through < last.seq {
		rec := &retentionRecord{
			Version: 1, Through: last.seq, Updated: a.o.Now().UTC(),
			Checkpoint: string(last.raw), CheckpointSHA256: fmt.Sprintf("%x", sha256.Sum256(last.raw)),
		}
		if err := writeRetention(ctx, a.bucket, rec); err != nil {
			return err
		}
	}
	for _, v := range victims {
		if err := deleteObject(ctx, a.bucket, v.c.Segment); err != nil {
			return err
		}
		if err := deleteObject(ctx, a.bucket, checkpointKey(v.seq)); err != nil {
			return err
		}
	}
	a.logger.Info("audit_archive_retention", "deleted_segments", len(victims), "through", last.seq, "cutoff", cutoff.UTC())
	return nil
}

// sortedSeqs returns the keys of m in order.
func sortedSeqs(m map[uint64]string) []uint64 {
	return slices.Sorted(mapKeys(m))
}

package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// segmentReadTimeout bounds the download of one segment by Read.
const segmentReadTimeout = 10 * time.Minute

// Read calls fn for every event at or after from, in order: the sealed
// segments (from the bucket, or local files not yet uploaded), the closed
// journals, then the open segment's journal up to what is fsynced when
// Read reaches it. Segments deleted by retention (or missing) are skipped
// with a warning. raw is valid only during the call. An error from fn
// stops Read and is returned.
//
// Read checks each record's form but not the hash chain; Verify does.
func (a *Archive) Read(ctx context.Context, from audit.Position, fn func(pos audit.Position, raw []byte) error) error {
	seq := from.Segment
	var listed map[uint64]string
	// relisted says listed was taken after segment relistedSeq was found
	// neither locally nor in the previous listing.
	relisted, relistedSeq := false, uint64(0)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		src, err := a.localSegment(seq)
		if err != nil {
			return err
		}
		skip := uint64(0)
		if seq == from.Segment {
			skip = from.Index
		}
		switch {
		case src.f != nil:
			err := readLocal(src, seq, skip, fn)
			src.f.Close()
			if err != nil || src.open {
				return err
			}
			seq++
			continue
		case src.end:
			return nil
		}
		// Not local: uploaded (or deleted by retention).
		key, ok := listed[seq]
		if !ok && (!relisted || relistedSeq != seq) {
			if listed, err = listSegments(ctx, a.bucket); err != nil {
				return fmt.Errorf("audit archive: read: %w", err)
			}
			relisted, relistedSeq = true, seq
			continue // it may have been uploaded meanwhile: look again
		}
		if !ok {
			next := src.nextLocal
			for s := range listed {
				if s > seq && s < next {
					next = s
				}
			}
			a.logger.Warn("audit_archive_read_gap", "from", seq, "to", next)
			seq = next
			continue
		}
		err = a.readRemote(ctx, key, seq, skip, fn)
		if isNotFound(err) {
			// Deleted by retention since it was listed.
			delete(listed, seq)
			continue
		}
		if err != nil {
			return err
		}
		seq++
	}
}

// localSource is a segment held in the journal directory, opened.
type localSource struct {
	f    *os.File
	name string
	gz   bool
	from int64 // offset of the first record
	to   int64 // end of fsynced records (journals)
	open bool  // the open segment: the last thing Read reads
	end  bool  // no such segment and nothing after it
	// nextLocal is the first local sequence number after the one asked
	// for (for skipping gaps).
	nextLocal uint64
}

// localSegment opens segment seq if the journal directory holds it. Files
// are opened under mu so the sealer and uploader, which remove them after
// updating the lists under mu, cannot remove them first.
func (a *Archive) localSegment(seq uint64) (localSource, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	src := localSource{nextLocal: a.next}
	open := func(p string) error {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("audit archive: read: %w", err)
		}
		src.f, src.name = f, p
		return nil
	}
	if j := a.cur; j != nil {
		if seq == j.seq {
			src.from, src.to, src.open = j.hdr, j.synced, true
			return src, open(j.path)
		}
		if j.seq > seq {
			src.nextLocal = j.seq
		}
	}
	if seq >= a.next {
		src.end = true
		return src, nil
	}
	for _, j := range a.closedJ {
		if j.seq == seq {
			src.from, src.to = j.hdr, j.size
			return src, open(j.path)
		}
		if j.seq > seq {
			src.nextLocal = min(src.nextLocal, j.seq)
		}
	}
	for _, s := range a.sealed {
		if s.seq == seq {
			src.gz = true
			return src, open(s.gzPath)
		}
		if s.seq > seq {
			src.nextLocal = min(src.nextLocal, s.seq)
		}
	}
	return src, nil
}

func readLocal(src localSource, seq, skip uint64, fn func(audit.Position, []byte) error) error {
	var r io.Reader
	if src.gz {
		r = src.f
	} else {
		r = io.NewSectionReader(src.f, src.from, src.to-src.from)
	}
	return readSegment(r, src.gz, src.name, seq, skip, fn)
}

// readRemote downloads a segment whole (so a slow fn does not hold the
// connection) and reads it.
func (a *Archive) readRemote(ctx context.Context, key string, seq, skip uint64, fn func(audit.Position, []byte) error) error {
	dctx, cancel := context.WithTimeout(ctx, segmentReadTimeout)
	data, err := a.bucket.ReadAll(dctx, key)
	cancel()
	if err != nil {
		if isNotFound(err) {
			return err
		}
		return fmt.Errorf("audit archive: read %s: %w", key, err)
	}
	return readSegment(bytes.NewReader(data), true, key, seq, skip, fn)
}

// readSegment reads the records of one segment, compressed or not,
// calling fn for those at index skip and after.
func readSegment(r io.Reader, compressed bool, name string, seq, skip uint64, fn func(audit.Position, []byte) error) error {
	if compressed {
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, 64<<10))
		if err != nil {
			return fmt.Errorf("audit archive: %s: gzip: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	rr := newRecordReader(r, name)
	for {
		_, raw, err := rr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit archive: %w", err)
		}
		if i := rr.index - 1; i >= skip {
			if err := fn(audit.Position{Segment: seq, Index: i}, raw); err != nil {
				return err
			}
		}
	}
}

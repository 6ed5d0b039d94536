package archive

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/fsutil"
)

// Journal directory. The open segment is written to <seq>.journal: a
// header line (journalHeader), then records, appended and fsynced before
// Append returns. Sealing compresses a closed journal into
// <seq>.jsonl.gz and writes <seq>.checkpoint.json, then head.json (a copy
// of that checkpoint: where the chains continue), then removes the
// journal. Uploading copies the two files to the bucket and removes them.
// A crash at any step is repaired by Open.
const (
	journalExt     = ".journal"
	sealedExt      = ".jsonl.gz"
	localCkptExt   = ".checkpoint.json"
	headFile       = "head.json"
	tmpExt         = ".tmp"
	tornExt        = ".torn"
	journalPerm    = 0o600
	journalDirPerm = 0o700
)

// journal is one unsealed segment in the journal directory.
type journal struct {
	seq        uint64
	path       string
	f          *os.File // open for appending; nil once closed
	opened     time.Time
	chainStart Hash
	chain      Hash // after the last record
	events     uint64
	hdr        int64 // length of the header line
	size       int64 // bytes written, header included
	synced     int64 // bytes fsynced
	first      time.Time
	last       time.Time
	closed     time.Time // when rotate closed it; zero when recovered
}

func journalName(seq uint64) string { return fmt.Sprintf("%012d%s", seq, journalExt) }

// createJournal creates and fsyncs the journal of a new segment.
func createJournal(dir string, seq uint64, opened time.Time, start Hash) (*journal, error) {
	p := filepath.Join(dir, journalName(seq))
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, journalPerm)
	if err != nil {
		return nil, err
	}
	hdr := journalHeader{Journal: journalVersion, Sequence: seq, Opened: opened.UTC(), ChainStart: start.String()}.line()
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		os.Remove(p)
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := fsutil.SyncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	n := int64(len(hdr))
	return &journal{seq: seq, path: p, f: f, opened: opened.UTC(), chainStart: start, chain: start, hdr: n, size: n, synced: n}, nil
}

// scanJournal reads a journal file and checks its records and their
// chain. It returns the journal (closed) with everything up to the first
// damaged or partial record, and the error that ended the scan there
// (nil when the whole file is good). A header that cannot be read is an
// error with no journal.
func scanJournal(p string) (*journal, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	j, err := readJournal(f, filepath.Base(p))
	if j != nil {
		j.path = p
	}
	return j, err
}

// readJournal reads a journal as scanJournal does.
func readJournal(r io.Reader, name string) (*journal, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	hdr, start, n, err := readJournalHeader(br, name)
	if err != nil {
		return nil, err
	}
	j := &journal{seq: hdr.Sequence, opened: hdr.Opened.UTC(), chainStart: start, chain: start, hdr: int64(n), size: int64(n)}
	rr := &recordReader{br: br, name: name}
	for {
		h, raw, err := rr.next()
		if err == io.EOF {
			break
		}
		if err == nil && chainNext(j.chain, raw) != h {
			err = rr.errorf(errors.New("chain value does not match"))
		}
		if err != nil {
			j.synced = j.size
			return j, err
		}
		t := eventTime(raw)
		if j.events == 0 {
			j.first = t
		}
		j.last = t
		j.chain = h
		j.events++
		j.size = int64(n) + rr.off
	}
	j.synced = j.size
	return j, nil
}

// writeFileSync writes a file atomically: a temporary file, fsynced, then
// renamed over name, and the directory fsynced.
func writeFileSync(name string, data []byte) error {
	tmp := name + tmpExt
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, journalPerm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return fsutil.SyncDir(filepath.Dir(name))
}

package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// TailOptions configure a file source.
type TailOptions struct {
	// Path is the audit log the API server's log backend writes
	// (--audit-log-path): one JSON event per line.
	Path string
	Sink Sink
	// StateDir keeps how far the file was read, so a restart goes on
	// where the last run stopped.
	StateDir string
	// Poll is how often the file is checked for new lines and rotation
	// (default 250ms).
	Poll time.Duration
	// Batch is the most events handed to the sink at once (default 500).
	Batch   int
	Metrics *Metrics
	Logger  *slog.Logger
}

// Tail follows a JSON-lines audit log across rotation: when the path
// names a new file (rename and create, as the API server and logrotate
// do) the old file is read to its end first; when the file shrinks
// (copytruncate) it is read again from the start. The offset of the last
// line stored is saved after each batch; after a restart reading resumes
// there, in the same file even if it was rotated meanwhile (found by its
// inode in the same directory).
type Tail struct {
	opts      TailOptions
	stateFile string

	f      *os.File
	ino    uint64
	offset int64 // of the first byte not yet stored
	line   int   // lines read from the current file, for errors
	buf    []byte
}

type tailState struct {
	Path   string `json:"path"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// NewTail returns the file source; Run reads.
func NewTail(opts TailOptions) (*Tail, error) {
	if opts.Sink == nil || opts.Path == "" || opts.StateDir == "" {
		return nil, errors.New("audit file source: path, sink and state directory are required")
	}
	abs, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, err
	}
	opts.Path = abs
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("audit file source: %w", err)
	}
	sum := sha256.Sum256([]byte(abs))
	return &Tail{opts: opts, stateFile: filepath.Join(opts.StateDir, "tail-"+hex.EncodeToString(sum[:6])+".json")}, nil
}

// Run reads until ctx ends. A missing file is waited for.
func (t *Tail) Run(ctx context.Context) error {
	defer t.close()
	if err := t.resume(); err != nil {
		return err
	}
	tick := time.NewTicker(t.opts.Poll)
	defer tick.Stop()
	for {
		if err := t.step(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			t.opts.Logger.Error("audit_file_read_failed", "file", t.opts.Path, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// resume opens the file read last time at the saved offset: the file at
// the path if it is the same one, else the file of the same directory
// with the saved inode (it was rotated while bulwark was down), else the
// file at the path from its start.
func (t *Tail) resume() error {
	data, err := os.ReadFile(t.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit file source state: %w", err)
	}
	var st tailState
	if err := json.Unmarshal(data, &st); err != nil || st.Path != t.opts.Path {
		t.opts.Logger.Warn("audit_file_state_ignored", "file", t.stateFile, "error", err)
		return nil
	}
	for _, name := range candidates(t.opts.Path) {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		ino, size := fileID(f)
		if ino == st.Inode && size >= st.Offset {
			if _, err := f.Seek(st.Offset, io.SeekStart); err != nil {
				f.Close()
				return err
			}
			t.f, t.ino, t.offset = f, ino, st.Offset
			t.line = -1 // unknown: lines are counted from the resume point
			if name != t.opts.Path {
				t.opts.Logger.Info("audit_file_resumed_rotated", "file", name, "offset", st.Offset)
			}
			return nil
		}
		f.Close()
	}
	t.opts.Logger.Warn("audit_file_rotated_away", "file", t.opts.Path,
		"reason", "the file read last time is gone; events written to it after the last run may be missing")
	return nil
}

// candidates are the path then the other files of its directory whose
// name starts with its name (audit.log.1, audit-2026-...log).
func candidates(path string) []string {
	out := []string{path}
	dir, base := filepath.Dir(path), filepath.Base(path)
	stem := base[:len(base)-len(filepath.Ext(base))]
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); n != base && !e.IsDir() && len(n) >= len(stem) && n[:len(stem)] == stem {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

func fileID(f *os.File) (ino uint64, size int64) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return ino, fi.Size()
}

// step reads what is new; on rotation it finishes the old file and moves
// to the new one.
func (t *Tail) step(ctx context.Context) error {
	if t.f == nil {
		f, err := os.Open(t.opts.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		t.f, t.offset, t.line = f, 0, 0
		t.ino, _ = fileID(f)
	}
	if err := t.drain(ctx, false); err != nil {
		return err
	}
	fi, err := os.Stat(t.opts.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil // rotated, the new file not created yet
	case err != nil:
		return err
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	if ino != t.ino {
		// Rotated: what the old file got after the last read, then the
		// new file from its start.
		if err := t.drain(ctx, true); err != nil {
			return err
		}
		t.opts.Logger.Info("audit_file_rotated", "file", t.opts.Path)
		t.close()
		return t.step(ctx)
	}
	if _, size := fileID(t.f); size < t.offset {
		t.opts.Logger.Warn("audit_file_truncated", "file", t.opts.Path, "offset", t.offset, "size", size)
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		t.offset, t.line, t.buf = 0, 0, t.buf[:0]
		return t.drain(ctx, false)
	}
	return nil
}

// drain reads complete lines to the end of the current file and stores
// them in batches. A last line without its newline waits for the rest,
// unless final (the file was rotated and will not grow).
func (t *Tail) drain(ctx context.Context, final bool) error {
	chunk := make([]byte, 256<<10)
	var (
		events  []*audit.Event
		pending int64 // bytes of the lines in events and skipped lines
	)
	flush := func() error {
		if len(events) > 0 {
			if err := t.opts.Sink.Ingest(events); err != nil {
				// Not stored: read these lines again next time.
				t.buf = t.buf[:0]
				t.line = -1
				if _, serr := t.f.Seek(t.offset, io.SeekStart); serr != nil {
					return errors.Join(err, serr)
				}
				return err
			}
		}
		t.offset += pending
		pending = 0
		events = events[:0]
		t.saveState()
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := t.f.Read(chunk)
		t.buf = append(t.buf, chunk[:n]...)
		for {
			i := bytes.IndexByte(t.buf, '\n')
			if i < 0 {
				break
			}
			line := t.buf[:i]
			pending += int64(i + 1)
			t.decodeLine(line, &events)
			t.buf = t.buf[i+1:]
			if len(events) >= t.opts.Batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if len(t.buf) > audit.MaxLineSize {
			t.reject(fmt.Errorf("line longer than %d bytes", audit.MaxLineSize))
			pending += int64(len(t.buf))
			t.buf = t.buf[:0]
			// The rest of the line is skipped with it.
			if err := t.skipLine(&pending); err != nil {
				return err
			}
		}
		if rerr == io.EOF || n == 0 {
			if final && len(bytes.TrimSpace(t.buf)) > 0 {
				pending += int64(len(t.buf))
				t.decodeLine(t.buf, &events)
				t.buf = t.buf[:0]
			}
			if len(events) > 0 || pending > 0 {
				return flush()
			}
			return nil
		}
		if rerr != nil {
			return rerr
		}
		// Keep the unread tail of the buffer small and owned.
		t.buf = append(make([]byte, 0, len(t.buf)+len(chunk)), t.buf...)
	}
}

func (t *Tail) skipLine(pending *int64) error {
	b := make([]byte, 64<<10)
	for {
		n, err := t.f.Read(b)
		if i := bytes.IndexByte(b[:n], '\n'); i >= 0 {
			*pending += int64(i + 1)
			t.buf = append(t.buf[:0], b[i+1:n]...)
			return nil
		}
		*pending += int64(n)
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (t *Tail) decodeLine(line []byte, events *[]*audit.Event) {
	if t.line >= 0 {
		t.line++
	}
	t.opts.Metrics.tailLines.WithLabelValues(t.opts.Path).Inc()
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	evs, err := audit.DecodeList(line)
	if err != nil {
		t.reject(err)
		return
	}
	*events = append(*events, evs...)
}

func (t *Tail) reject(err error) {
	t.opts.Metrics.rejected.Inc()
	where := t.opts.Path
	if t.line >= 0 {
		where = fmt.Sprintf("%s:%d", t.opts.Path, t.line)
	}
	t.opts.Logger.Warn("audit_line_rejected", "at", where, "offset", t.offset, "error", err)
}

func (t *Tail) saveState() {
	data, _ := json.Marshal(tailState{Path: t.opts.Path, Inode: t.ino, Offset: t.offset})
	if err := writeFileAtomic(t.stateFile, data); err != nil {
		t.opts.Logger.Error("audit_file_state_not_saved", "error", err)
	}
}

func (t *Tail) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	t.buf = t.buf[:0]
}

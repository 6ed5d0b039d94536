package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
)

// Writer is the stdout and file sink: one JSON alert per line. A file is
// fsynced after each batch.
type Writer struct {
	mu   sync.Mutex
	w    io.Writer
	f    *os.File // set when the sink owns a file
	path string
}

var (
	_ Sink   = (*Writer)(nil)
	_ Closer = (*Writer)(nil)
)

// NewWriter returns a sink writing JSON lines to w (stdout); it does not
// close w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// OpenFile returns a sink appending JSON lines to the file at path,
// creating it (mode 0600) when missing.
func OpenFile(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("alert file %s: %w", path, unwrapPath(err))
	}
	return &Writer{w: f, f: f, path: path}, nil
}

// Send implements Sink. A failed write (a full disk) is worth retrying.
func (s *Writer) Send(ctx context.Context, alerts ...Alert) (bool, error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	buf := make([]byte, 0, 512*len(alerts))
	for i := range alerts {
		line, err := json.Marshal(&alerts[i])
		if err != nil {
			return false, fmt.Errorf("encode alert %s: %w", alerts[i].ID, err)
		}
		buf = append(append(buf, line...), '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(buf); err != nil {
		return true, s.wrap(err)
	}
	if s.f != nil {
		if err := s.f.Sync(); err != nil {
			return true, s.wrap(err)
		}
	}
	return false, nil
}

func (s *Writer) wrap(err error) error {
	if s.path == "" {
		return fmt.Errorf("write: %w", unwrapPath(err))
	}
	return fmt.Errorf("write %s: %w", s.path, unwrapPath(err))
}

// Close closes the file the sink opened.
func (s *Writer) Close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}

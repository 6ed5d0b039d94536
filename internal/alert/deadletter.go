package alert

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// deadLetter appends the alerts a receiver rejected to a JSON-lines
// file, one {"time","sink","error","alert"} object per alert, fsynced,
// so an operator can inspect and replay them. Without a path (a memory
// spool) rejected alerts are only logged.
type deadLetter struct {
	path string
	sink string

	mu sync.Mutex
	f  *os.File
}

type deadLetterEntry struct {
	Time  time.Time `json:"time"`
	Sink  string    `json:"sink"`
	Error string    `json:"error"`
	Alert Alert     `json:"alert"`
}

func (d *deadLetter) write(alerts []Alert, reason error) error {
	if d == nil || d.path == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("dead-letter file %s: %w", d.path, unwrapPath(err))
		}
		d.f = f
	}
	var buf []byte
	now := time.Now().UTC()
	for _, a := range alerts {
		line, err := json.Marshal(deadLetterEntry{Time: now, Sink: d.sink, Error: reason.Error(), Alert: a})
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	if _, err := d.f.Write(buf); err != nil {
		return fmt.Errorf("dead-letter file %s: %w", d.path, err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("dead-letter file %s: %w", d.path, err)
	}
	return nil
}

func (d *deadLetter) close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

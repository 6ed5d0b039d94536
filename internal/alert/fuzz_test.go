package alert

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSpoolRecovery opens a spool whose last segment holds arbitrary
// bytes (a torn or damaged file): opening must not fail or panic, every
// record it returns must be one that was written whole, and appends
// after recovery must be readable.
func FuzzSpoolRecovery(f *testing.F) {
	good := appendRecord(appendRecord(nil, []byte(`{"id":"a"}`), time.Unix(1, 0)), []byte(`{"id":"b"}`), time.Unix(2, 0))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segment{base: 0}.path(".")), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := openSpool(dir, 1<<20, 1<<16, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer s.Close()
		if err := s.Append([][]byte{[]byte("after")}); err != nil {
			t.Fatal(err)
		}
		var last string
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			recs, pos, err := s.Next(ctx, 100)
			cancel()
			if err != nil {
				break
			}
			for _, r := range recs {
				last = string(r.data)
			}
			s.Ack(pos)
		}
		if last != "after" {
			t.Fatalf("the record appended after recovery reads back as %q", last)
		}
	})
}

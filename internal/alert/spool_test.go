package alert

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTestSpool(t *testing.T, dir string, maxBytes, segBytes int64, onDrop dropFunc) *spool {
	t.Helper()
	s, err := openSpool(dir, maxBytes, segBytes, onDrop, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func recs(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("record-%06d", from+i))
	}
	return out
}

// drain reads everything available, acknowledging as it goes when ack
// is set.
func drain(t *testing.T, q queue, ack bool) []string {
	t.Helper()
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		rs, pos, err := q.Next(ctx, 7)
		cancel()
		if err != nil {
			return got
		}
		for _, r := range rs {
			got = append(got, string(r.data))
		}
		if ack {
			if err := q.Ack(pos); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func want(from, n int) []string {
	var out []string
	for _, r := range recs(from, n) {
		out = append(out, string(r))
	}
	return out
}

func TestSpoolAppendReadAckReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20, 256, nil)
	if err := s.Append(recs(0, 30)); err != nil {
		t.Fatal(err)
	}
	// Read ten, acknowledge them, read five more without acknowledging.
	rs, pos, err := s.Next(context.Background(), 10)
	if err != nil || len(rs) != 10 {
		t.Fatalf("Next = %d records, %v", len(rs), err)
	}
	if time.Since(rs[0].time) > time.Minute {
		t.Errorf("record time %v", rs[0].time)
	}
	if err := s.Ack(pos); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Next(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	segsBefore := len(s.segs)
	if segsBefore < 3 {
		t.Fatalf("%d segments; the test wants rotation", segsBefore)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened, the spool resumes at the acknowledged offset: the five
	// read but not acknowledged come again.
	s = openTestSpool(t, dir, 1<<20, 256, nil)
	defer s.Close()
	if got := drain(t, s, true); strings.Join(got, ",") != strings.Join(want(10, 20), ",") {
		t.Fatalf("after reopen got %v", got)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(files) != 1 {
		t.Errorf("%d segment files after everything was acknowledged, want 1 (the current)", len(files))
	}
	if s.Size() != 0 {
		t.Errorf("Size = %d after acknowledging everything", s.Size())
	}
	// Appends continue after the reopen.
	if err := s.Append(recs(30, 3)); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, true); strings.Join(got, ",") != strings.Join(want(30, 3), ",") {
		t.Fatalf("after append got %v", got)
	}
}

func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20, 1<<20, nil)
	if err := s.Append(recs(0, 5)); err != nil {
		t.Fatal(err)
	}
	seg := s.segs[len(s.segs)-1].path(dir)
	s.Close()
	// A crash in the middle of a write leaves half a record.
	half := appendRecord(nil, []byte("half-written"), time.Now())
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(half[:len(half)-4])
	f.Close()

	s = openTestSpool(t, dir, 1<<20, 1<<20, nil)
	defer s.Close()
	if err := s.Append(recs(5, 1)); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, true); strings.Join(got, ",") != strings.Join(want(0, 6), ",") {
		t.Fatalf("got %v", got)
	}
}

func TestSpoolCorruptAck(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20, 1<<20, nil)
	s.Append(recs(0, 3))
	rs, pos, _ := s.Next(context.Background(), 2)
	if len(rs) != 2 {
		t.Fatal(len(rs))
	}
	s.Ack(pos)
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, ackFile), []byte("garbage-garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A torn ack means redelivery, never loss.
	s = openTestSpool(t, dir, 1<<20, 1<<20, nil)
	defer s.Close()
	if got := drain(t, s, false); strings.Join(got, ",") != strings.Join(want(0, 3), ",") {
		t.Fatalf("got %v", got)
	}
}

func TestSpoolBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	dropped := 0
	onDrop := func(reason string, n int, bytes int64) {
		mu.Lock()
		defer mu.Unlock()
		if reason != "spool_full" || bytes <= 0 {
			t.Errorf("drop reason %q bytes %d", reason, bytes)
		}
		dropped += n
	}
	// Records are 16+13 bytes; 4 per 128-byte segment; at most 512 bytes.
	s := openTestSpool(t, dir, 512, 128, onDrop)
	defer s.Close()
	for i := 0; i < 100; i++ {
		if err := s.Append(recs(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Size() > 512 {
		t.Errorf("Size = %d, above the bound", s.Size())
	}
	got := drain(t, s, true)
	if dropped+len(got) != 100 {
		t.Fatalf("dropped %d + kept %d != 100", dropped, len(got))
	}
	// What is kept is the newest, in order.
	if strings.Join(got, ",") != strings.Join(want(100-len(got), len(got)), ",") {
		t.Fatalf("kept %v", got)
	}
}

func TestSpoolConcurrentAppends(t *testing.T) {
	s := openTestSpool(t, t.TempDir(), 64<<20, 4096, nil)
	defer s.Close()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := 0; i < 100; i++ {
				if err := s.Append(recs(w*1000+i, 1)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// A reader runs meanwhile.
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(seen) < 800 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			rs, pos, err := s.Next(ctx, 50)
			cancel()
			if err != nil {
				t.Error(err)
				return
			}
			for _, r := range rs {
				if seen[string(r.data)] {
					t.Errorf("%s read twice", r.data)
				}
				seen[string(r.data)] = true
			}
			s.Ack(pos)
		}
	}()
	wg.Wait()
	<-done
	if len(seen) != 800 {
		t.Fatalf("read %d of 800", len(seen))
	}
}

func TestSpoolNextHonoursContext(t *testing.T) {
	s := openTestSpool(t, t.TempDir(), 1<<20, 1<<20, nil)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := s.Next(ctx, 1); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("Next on an empty spool returned %v after %v", err, time.Since(start))
	}
}

func TestMemQueue(t *testing.T) {
	dropped := 0
	q := newMemQueue(100, func(_ string, n int, _ int64) { dropped += n })
	defer q.Close()
	for i := 0; i < 20; i++ {
		q.Append(recs(i, 1))
	}
	got := drain(t, q, true)
	if dropped+len(got) != 20 || !bytes.Equal([]byte(got[len(got)-1]), recs(19, 1)[0]) {
		t.Fatalf("dropped %d kept %v", dropped, got)
	}
}

func TestSpoolSkipsMissingSegment(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20, 128, nil)
	if err := s.Append(recs(0, 12)); err != nil {
		t.Fatal(err)
	}
	if len(s.segs) < 3 {
		t.Fatalf("%d segments", len(s.segs))
	}
	lost := s.segs[1]
	s.Close()
	// Someone removes a segment by hand: its alerts are gone, the ones
	// after it must still come.
	if err := os.Remove(lost.path(dir)); err != nil {
		t.Fatal(err)
	}
	s = openTestSpool(t, dir, 1<<20, 128, nil)
	defer s.Close()
	got := drain(t, s, true)
	if len(got) == 0 || got[len(got)-1] != "record-000011" || len(got) >= 12 {
		t.Fatalf("got %v", got)
	}
}

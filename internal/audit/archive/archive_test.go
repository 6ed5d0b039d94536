package archive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	a := e.open(e.options())
	events := testEvents(0, 500)
	pos := appendAll(t, a, events, 7)

	// Before any upload: closed journals and the open one.
	checkRead(t, readAll(t, a, audit.Position{}), events, pos)
	// Sealed locally, not uploaded.
	if err := a.sealAll(); err != nil {
		t.Fatal(err)
	}
	checkRead(t, readAll(t, a, audit.Position{}), events, pos)
	// Uploaded.
	if err := a.uploadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkRead(t, readAll(t, a, audit.Position{}), events, pos)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a = e.open(e.options())
	defer a.Close()
	checkRead(t, readAll(t, a, audit.Position{}), events, pos)
	rep := verifyOK(t, e.url())
	if rep.Events != uint64(len(events)) || rep.Segments != int(pos[len(pos)-1].Segment+1) {
		t.Errorf("Verify checked %d segments, %d events; want %d, %d", rep.Segments, rep.Events, pos[len(pos)-1].Segment+1, len(events))
	}
	if !rep.FirstEventTime.Equal(t0) || !rep.LastEventTime.Equal(t0.Add(499*time.Millisecond)) {
		t.Errorf("Verify: events from %v to %v", rep.FirstEventTime, rep.LastEventTime)
	}

	// Segments are zcat-able JSON lines under hourly keys.
	files := e.segmentFiles()
	if len(files) < 2 {
		t.Fatalf("%d segments; want several", len(files))
	}
	keyRE := regexp.MustCompile(`^segments/2026/11/22/07/\d{12}\.jsonl\.gz$`)
	var n int
	for _, f := range files {
		if !keyRE.MatchString(e.key(f)) {
			t.Errorf("segment key %s", e.key(f))
		}
		sc := bufio.NewScanner(bytes.NewReader(gunzipFile(t, f)))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec struct {
				H string          `json:"h"`
				E json.RawMessage `json:"e"`
			}
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("%s: line %q: %v", f, sc.Text(), err)
			}
			if !bytes.Equal(rec.E, events[n]) {
				t.Fatalf("%s: event %d differs", f, n)
			}
			n++
		}
	}
	if n != len(events) {
		t.Errorf("segments hold %d events, want %d", n, len(events))
	}
	if zcat, err := exec.LookPath("zcat"); err == nil {
		out, err := exec.Command(zcat, files[0]).Output()
		if err != nil || !bytes.Equal(out, gunzipFile(t, files[0])) {
			t.Errorf("zcat %s: %v", files[0], err)
		}
	}
	// Checkpoints name their segment and chain.
	raw, err := os.ReadFile(filepath.Join(e.bucket, "checkpoints", "000000000001.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCheckpoint(raw, "1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Sequence != 1 || c.Segment != e.key(files[1]) || c.Previous == "" || c.Events == 0 {
		t.Errorf("checkpoint 1: %+v", c)
	}
	// Nothing left locally but the head.
	left, _ := os.ReadDir(e.journal)
	if len(left) != 1 || left[0].Name() != headFile {
		t.Errorf("journal directory holds %v", left)
	}
}

func TestReadFromMiddle(t *testing.T) {
	e := newEnv(t)
	a := e.open(e.options())
	defer a.Close()
	events := testEvents(0, 300)
	pos := appendAll(t, a, events, 10)
	if err := a.sealAll(); err != nil {
		t.Fatal(err)
	}
	if err := a.uploadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	more := testEvents(300, 100)
	pos = append(pos, appendAll(t, a, more, 10)...)
	events = append(events, more...)
	for _, i := range []int{0, 1, 137, 299, 300, 350, 399} {
		got := readAll(t, a, pos[i])
		checkRead(t, got, events[i:], pos[i:])
	}
	// Past the end.
	end := pos[len(pos)-1]
	end.Index++
	if got := readAll(t, a, end); len(got) != 0 {
		t.Errorf("Read past the end returned %d events", len(got))
	}
	if got := readAll(t, a, audit.Position{Segment: end.Segment + 5}); len(got) != 0 {
		t.Errorf("Read of a future segment returned %d events", len(got))
	}
	// fn's error stops Read.
	stop := errors.New("stop")
	n := 0
	err := a.Read(context.Background(), audit.Position{}, func(audit.Position, []byte) error {
		if n++; n == 42 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 42 {
		t.Errorf("Read returned %v after %d events", err, n)
	}
}

func TestSealBySize(t *testing.T) {
	e := newEnv(t)
	o := e.options()
	o.MaxSegmentBytes = 10 * int64(len(testEvent(0))+recordOverhead)
	a := e.open(o)
	defer a.Close()
	// Batches of 3: three fit in a segment (9 events), the fourth does
	// not; a batch is never split.
	for i := range 8 {
		p, err := a.Append(context.Background(), testEvents(3*i, 3))
		if err != nil {
			t.Fatal(err)
		}
		want := audit.Position{Segment: uint64(i / 3), Index: uint64(3 * (i % 3))}
		if p != want {
			t.Errorf("batch %d at %v, want %v", i, p, want)
		}
	}
	// A batch larger than a segment gets a segment of its own.
	p, err := a.Append(context.Background(), testEvents(100, 25))
	if err != nil || p != (audit.Position{Segment: 3}) {
		t.Errorf("large batch at %v, %v", p, err)
	}
	p, err = a.Append(context.Background(), testEvents(200, 1))
	if err != nil || p != (audit.Position{Segment: 4}) {
		t.Errorf("next batch at %v, %v", p, err)
	}
	if err := a.sealAll(); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats(); s.Pending != 4 || s.Open != (audit.Position{Segment: 4, Index: 1}) {
		t.Errorf("stats %+v", s)
	}
}

func TestSealByAge(t *testing.T) {
	e := newEnv(t)
	o := e.options()
	o.MaxSegmentAge = 5 * time.Minute
	a := e.open(o)
	a.tick = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		a.Close()
	}()

	if _, err := a.Append(ctx, testEvents(0, 2)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(4 * time.Minute)
	time.Sleep(50 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(e.bucket, "checkpoints", "000000000000.json")); err == nil {
		t.Fatal("segment sealed before MaxSegmentAge")
	}
	if _, err := a.Append(ctx, testEvents(2, 1)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	waitFor(t, "segment 0 sealed by age and uploaded", func() bool {
		_, err := os.Stat(filepath.Join(e.bucket, "checkpoints", "000000000000.json"))
		return err == nil
	})
	// An Append after MaxSegmentAge opens a new segment itself.
	p, err := a.Append(ctx, testEvents(3, 1))
	if err != nil || p != (audit.Position{Segment: 1}) {
		t.Fatalf("Append at %v, %v", p, err)
	}
	e.clock.Add(6 * time.Minute)
	p, err = a.Append(ctx, testEvents(4, 1))
	if err != nil || p != (audit.Position{Segment: 2}) {
		t.Fatalf("Append after the segment aged: at %v, %v", p, err)
	}
	waitFor(t, "segment 1 uploaded", func() bool {
		_, err := os.Stat(filepath.Join(e.bucket, "checkpoints", "000000000001.json"))
		return err == nil
	})
	raw, _ := os.ReadFile(filepath.Join(e.bucket, "checkpoints", "000000000000.json"))
	c, err := decodeCheckpoint(raw, "0")
	if err != nil {
		t.Fatal(err)
	}
	if c.Events != 3 || !c.Opened.Equal(t0) || !c.Sealed.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("checkpoint 0: %d events, opened %v, sealed %v", c.Events, c.Opened, c.Sealed)
	}
	if c.Segment != "segments/2026/11/22/07/000000000000.jsonl.gz" {
		t.Errorf("segment key %s", c.Segment)
	}
}

func TestAppendRejects(t *testing.T) {
	e := newEnv(t)
	a := e.open(e.options())
	defer a.Close()
	for _, ev := range []string{"", "[]", `{"a":` + "\n" + `1}`, " {}", "null"} {
		if _, err := a.Append(context.Background(), [][]byte{testEvent(1), []byte(ev)}); err == nil || !strings.Contains(err.Error(), "event 1 of 2") {
			t.Errorf("Append(%q): %v", ev, err)
		}
	}
	if p, err := a.Append(context.Background(), nil); err != nil || p != (audit.Position{}) {
		t.Errorf("empty Append: %v, %v", p, err)
	}
	if got := readAll(t, a, audit.Position{}); len(got) != 0 {
		t.Errorf("rejected batches were stored: %d events", len(got))
	}
}

func TestConcurrentAppend(t *testing.T) {
	e := newEnv(t)
	o := e.options()
	o.MaxSegmentBytes = 64 << 10
	a := e.open(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()

	const writers, batches, size = 8, 30, 5
	var mu sync.Mutex
	byPos := map[audit.Position][]byte{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				evs := testEvents((w*batches+b)*size, size)
				p, err := a.Append(ctx, evs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for k, ev := range evs {
					byPos[audit.Position{Segment: p.Segment, Index: p.Index + uint64(k)}] = ev
				}
				mu.Unlock()
			}
		})
	}
	// Read concurrently with the appends, sealing and uploads.
	wg.Go(func() {
		for range 5 {
			if err := a.Read(ctx, audit.Position{}, func(audit.Position, []byte) error { return nil }); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	got := readAll(t, a, audit.Position{})
	if len(got) != writers*batches*size || len(byPos) != len(got) {
		t.Fatalf("read %d events, appended %d at %d positions", len(got), writers*batches*size, len(byPos))
	}
	for i, ev := range got {
		if i > 0 && !got[i-1].pos.Less(ev.pos) {
			t.Fatalf("positions out of order: %v then %v", got[i-1].pos, ev.pos)
		}
		if !bytes.Equal(byPos[ev.pos], ev.raw) {
			t.Fatalf("event at %v differs from the one appended there", ev.pos)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, e.url())
}

// A new journal directory continues the chains of the bucket.
func TestNewJournalContinuesBucket(t *testing.T) {
	e := newEnv(t)
	a := e.open(e.options())
	events := testEvents(0, 100)
	appendAll(t, a, events, 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	o := e.options()
	o.JournalDir = filepath.Join(t.TempDir(), "other")
	b := e.open(o)
	p, err := b.Append(context.Background(), testEvents(100, 1))
	if err != nil {
		t.Fatal(err)
	}
	if p.Index != 0 || p.Segment == 0 {
		t.Errorf("first append after a new journal at %v", p)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, e.url())
}

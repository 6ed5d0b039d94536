package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// buildArchive archives 200 events in about 10 segments, uploaded.
func buildArchive(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	a := e.open(e.options())
	appendAll(t, a, testEvents(0, 200), 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(e.segmentFiles()); n < 5 {
		t.Fatalf("%d segments", n)
	}
	verifyOK(t, e.url())
	return e
}

// want is a problem Verify must report.
type want struct {
	kind  ProblemKind
	seq   uint64
	index int64 // -2: any
}

func TestVerifyFindsTampering(t *testing.T) {
	ckpt := func(e *env, seq uint64) string {
		return filepath.Join(e.bucket, filepath.FromSlash(checkpointKey(seq)))
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, e *env, segs []string)
		want   []want
	}{{
		name: "byte changed in a segment",
		tamper: func(t *testing.T, e *env, segs []string) {
			data, _ := os.ReadFile(segs[3])
			data[len(data)/2] ^= 0x20
			os.WriteFile(segs[3], data, 0o600)
		},
		want: []want{{ProblemDigest, 3, -1}, {ProblemDamaged, 3, -2}},
	}, {
		name: "byte changed in an event, recompressed",
		tamper: func(t *testing.T, e *env, segs []string) {
			data := gunzipFile(t, segs[2])
			i := bytes.Index(data, []byte(`"verb":"create"`))
			i = bytes.Index(data[i+1:], []byte(`"verb":"create"`)) + i + 1 // event 1
			copy(data[i:], `"verb":"delete"`)
			os.WriteFile(segs[2], gzipBytes(data), 0o600)
		},
		want: []want{{ProblemDigest, 2, -1}, {ProblemDamaged, 2, 1}},
	}, {
		name: "segment removed",
		tamper: func(t *testing.T, e *env, segs []string) {
			os.Remove(segs[4])
		},
		want: []want{{ProblemMissingSegment, 4, -1}},
	}, {
		name: "segment and checkpoint removed",
		tamper: func(t *testing.T, e *env, segs []string) {
			os.Remove(segs[4])
			os.Remove(ckpt(e, 4))
		},
		want: []want{{ProblemGap, 4, -1}},
	}, {
		name: "checkpoint removed",
		tamper: func(t *testing.T, e *env, segs []string) {
			os.Remove(ckpt(e, 2))
		},
		want: []want{{ProblemMissingCheckpoint, 2, -1}},
	}, {
		name: "segments swapped",
		tamper: func(t *testing.T, e *env, segs []string) {
			a, _ := os.ReadFile(segs[1])
			b, _ := os.ReadFile(segs[2])
			os.WriteFile(segs[1], b, 0o600)
			os.WriteFile(segs[2], a, 0o600)
		},
		want: []want{{ProblemDigest, 1, -1}, {ProblemDamaged, 1, 0}, {ProblemDigest, 2, -1}, {ProblemDamaged, 2, 0}},
	}, {
		name: "segments and checkpoints swapped",
		tamper: func(t *testing.T, e *env, segs []string) {
			a, _ := os.ReadFile(segs[1])
			b, _ := os.ReadFile(segs[2])
			os.WriteFile(segs[1], b, 0o600)
			os.WriteFile(segs[2], a, 0o600)
			a, _ = os.ReadFile(ckpt(e, 1))
			b, _ = os.ReadFile(ckpt(e, 2))
			os.WriteFile(ckpt(e, 1), b, 0o600)
			os.WriteFile(ckpt(e, 2), a, 0o600)
		},
		want: []want{{ProblemCheckpoint, 1, -1}, {ProblemChainBreak, 1, -1}, {ProblemCheckpoint, 2, -1}, {ProblemChainBreak, 2, -1}, {ProblemChainBreak, 3, -1}},
	}, {
		name: "events reordered in a segment",
		tamper: func(t *testing.T, e *env, segs []string) {
			lines := bytes.SplitAfter(gunzipFile(t, segs[3]), []byte("\n"))
			lines[4], lines[5] = lines[5], lines[4]
			os.WriteFile(segs[3], gzipBytes(bytes.Join(lines, nil)), 0o600)
		},
		want: []want{{ProblemDigest, 3, -1}, {ProblemDamaged, 3, 4}},
	}, {
		name: "event removed from a segment",
		tamper: func(t *testing.T, e *env, segs []string) {
			lines := bytes.SplitAfter(gunzipFile(t, segs[3]), []byte("\n"))
			lines = append(lines[:6], lines[7:]...)
			os.WriteFile(segs[3], gzipBytes(bytes.Join(lines, nil)), 0o600)
		},
		want: []want{{ProblemDigest, 3, -1}, {ProblemDamaged, 3, 6}},
	}, {
		name: "last events removed, recompressed",
		tamper: func(t *testing.T, e *env, segs []string) {
			lines := bytes.SplitAfter(gunzipFile(t, segs[3]), []byte("\n"))
			os.WriteFile(segs[3], gzipBytes(bytes.Join(lines[:3], nil)), 0o600)
		},
		want: []want{{ProblemDigest, 3, -1}, {ProblemCount, 3, -1}},
	}, {
		name: "segment truncated",
		tamper: func(t *testing.T, e *env, segs []string) {
			data, _ := os.ReadFile(segs[0])
			os.WriteFile(segs[0], data[:len(data)*2/3], 0o600)
		},
		want: []want{{ProblemDigest, 0, -1}, {ProblemTruncated, 0, -2}},
	}, {
		name: "checkpoint edited",
		tamper: func(t *testing.T, e *env, segs []string) {
			data, _ := os.ReadFile(ckpt(e, 2))
			data = bytes.Replace(data, []byte(`"events":`), []byte(`"events":1`), 1)
			os.WriteFile(ckpt(e, 2), data, 0o600)
		},
		want: []want{{ProblemCount, 2, -1}, {ProblemChainBreak, 3, -1}},
	}, {
		name: "checkpoint chain rewritten",
		tamper: func(t *testing.T, e *env, segs []string) {
			data, _ := os.ReadFile(ckpt(e, 3))
			c, _ := decodeCheckpoint(data, "3")
			c.Previous = strings.Repeat("0", 64)
			os.WriteFile(ckpt(e, 3), c.encode(), 0o600)
		},
		want: []want{{ProblemChainBreak, 3, -1}, {ProblemChainBreak, 4, -1}},
	}, {
		name: "unexpected object",
		tamper: func(t *testing.T, e *env, segs []string) {
			os.WriteFile(filepath.Join(e.bucket, "segments", "notes.txt"), []byte("x"), 0o600)
		},
		want: []want{{ProblemUnexpected, 0, -1}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := buildArchive(t)
			segs := e.segmentFiles()
			tc.tamper(t, e, segs)
			rep := verify(t, e.url())
			for _, w := range tc.want {
				found := false
				for _, p := range rep.Problems {
					if p.Kind == w.kind && p.Sequence == w.seq && (w.index == -2 || p.Index == w.index) {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s problem for segment %d (index %d)", w.kind, w.seq, w.index)
				}
			}
			for _, p := range rep.Problems {
				t.Logf("%s", p)
				if p.Kind != ProblemUnexpected && p.Kind != ProblemGap && p.Key == "" {
					t.Errorf("problem names no object: %+v", p)
				}
				if p.Kind == ProblemDigest && !strings.Contains(p.String(), e.key(segs[p.Sequence])) {
					t.Errorf("problem does not name segment %s: %s", e.key(segs[p.Sequence]), p)
				}
			}
			if len(rep.Problems) > len(tc.want)+3 {
				t.Errorf("%d problems for %d expected", len(rep.Problems), len(tc.want))
			}
		})
	}
}

// The newest segment without its checkpoint is an upload in progress.
func TestVerifyUploading(t *testing.T) {
	e := buildArchive(t)
	segs := e.segmentFiles()
	last := uint64(len(segs) - 1)
	os.Remove(filepath.Join(e.bucket, filepath.FromSlash(checkpointKey(last))))
	rep := verifyOK(t, e.url())
	if rep.Uploading != e.key(segs[last]) {
		t.Errorf("Uploading %q, want %q", rep.Uploading, e.key(segs[last]))
	}
	// Its events are still checked against the chain.
	data := gunzipFile(t, segs[last])
	data[100] ^= 1
	os.WriteFile(segs[last], gzipBytes(data), 0o600)
	rep = verify(t, e.url())
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != ProblemDamaged || rep.Problems[0].Index != 0 {
		t.Errorf("problems %v", rep.Problems)
	}
}

func TestVerifyErrors(t *testing.T) {
	if _, err := Verify(context.Background(), "file://"+filepath.Join(t.TempDir(), "absent"), VerifyOptions{}); err == nil {
		t.Error("Verify of a missing directory: no error")
	}
	if _, err := Verify(context.Background(), "nosuch://bucket", VerifyOptions{}); err == nil {
		t.Error("Verify of an unknown scheme: no error")
	}
	rep := verifyOK(t, "file://"+t.TempDir())
	if rep.Segments != 0 {
		t.Errorf("empty bucket: %+v", rep)
	}
}

func TestVerifySince(t *testing.T) {
	e := newEnv(t)
	a := e.open(e.options())
	for i := range 10 {
		appendAll(t, a, testEvents(20*i, 20), 10)
		e.clock.Add(time.Hour)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	all := verifyOK(t, e.url())
	// Damage an old segment: Verify since a later time does not see it.
	segs := e.segmentFiles()
	os.Remove(segs[1])
	since := t0.Add(5 * time.Hour)
	rep, err := Verify(context.Background(), e.url(), VerifyOptions{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Segments == 0 || rep.Segments >= all.Segments {
		t.Errorf("Verify since %v: %d of %d segments, problems %v", since, rep.Segments, all.Segments, rep.Problems)
	}
	if verify(t, e.url()).OK() {
		t.Error("full Verify misses the removed segment")
	}
}

func TestRetention(t *testing.T) {
	e := newEnv(t)
	o := e.options()
	o.Retention = 24 * time.Hour
	a := e.open(o)
	var events [][]byte
	var pos []audit.Position
	for i := range 6 {
		ev := testEvents(30*i, 30)
		events = append(events, ev...)
		pos = append(pos, appendAll(t, a, ev, 10)...)
		a.mu.Lock()
		a.rotate(a.cur)
		a.mu.Unlock()
		if err := a.sealAll(); err != nil {
			t.Fatal(err)
		}
		if err := a.uploadAll(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(10 * time.Hour)
	}
	// Now t0+60h: segments sealed before t0+36h go (those of the first
	// four rounds).
	if err := a.applyRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.bucket, retentionKey)); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, a, audit.Position{})
	if len(got) != 60 {
		t.Fatalf("after retention Read returned %d events, want 60", len(got))
	}
	checkRead(t, got, events[120:], pos[120:])
	rep := verifyOK(t, e.url())
	if rep.Events != 60 || rep.RetainedFrom == 0 {
		t.Errorf("Verify after retention: %+v", rep)
	}
	// Again, idempotent; then more events, and everything deleted.
	if err := a.applyRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendAll(t, a, testEvents(1000, 10), 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, e.url())
	e.clock.Add(100 * time.Hour)
	o.JournalDir = filepath.Join(t.TempDir(), "fresh") // continues from retention.json
	b := e.open(o)
	if err := b.applyRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.segmentFiles()); n != 0 {
		t.Errorf("%d segments left", n)
	}
	appendAll(t, b, testEvents(2000, 10), 10)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := verifyOK(t, e.url()); rep.Events != 10 {
		t.Errorf("Verify: %d events", rep.Events)
	}
}

// While the bucket is unreachable Append works and Run retries; once it
// is back everything is uploaded.
func TestUnreachableBucket(t *testing.T) {
	e := newEnv(t)
	a := e.open(e.options())
	// The bucket's directory becomes a file: every upload fails.
	moved := e.bucket + ".away"
	if err := os.Rename(e.bucket, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.bucket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	events := testEvents(0, 200)
	pos := appendAll(t, a, events, 10)
	waitFor(t, "a failed upload", func() bool { return a.Stats().LastUploadError != nil })
	checkRead(t, readAll(t, a, audit.Position{}), events, pos)
	if !strings.Contains(e.logs.String(), "audit_archive_upload_failed") {
		t.Error("upload failure not logged")
	}
	os.Remove(e.bucket)
	if err := os.Rename(moved, e.bucket); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the backlog uploaded", func() bool {
		s := a.Stats()
		return s.Pending == 0 && s.LastUploadError == nil
	})
	cancel()
	<-done
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, e.url())

	// Close with the bucket gone: the segments stay for the next Open.
	b := e.open(e.options())
	appendAll(t, b, testEvents(200, 20), 10)
	os.Rename(e.bucket, moved)
	os.WriteFile(e.bucket, nil, 0o600)
	b.closeTimeout = time.Second
	if err := b.Close(); err == nil || !strings.Contains(err.Error(), "stay in") {
		t.Errorf("Close with the bucket gone: %v", err)
	}
	os.Remove(e.bucket)
	os.Rename(moved, e.bucket)
	c := e.open(e.options())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := verifyOK(t, e.url()); rep.Events != 220 {
		t.Errorf("Verify: %d events, want 220", rep.Events)
	}
}

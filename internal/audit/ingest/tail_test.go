package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// appendLines writes events first..last-1 to file, one per line.
func appendLines(t *testing.T, file string, first, last int) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for i := first; i < last; i++ {
		b.WriteString(eventJSON(i))
		b.WriteByte('\n')
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

func wantIDs(first, last int) []string {
	var out []string
	for i := first; i < last; i++ {
		out = append(out, fmt.Sprintf("id-%06d", i))
	}
	return out
}

// runTail runs a Tail on file until stop is called.
func runTail(t *testing.T, file, state string, sink Sink) (stop func()) {
	t.Helper()
	tl, err := NewTail(TailOptions{Path: file, Sink: sink, StateDir: state, Poll: 5 * time.Millisecond, Batch: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tail: %v", err)
		}
	}
}

// waitFor polls until sink holds want, failing the test after 10 s.
func waitFor(t *testing.T, sink *recorder, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got := sink.ids(); len(got) >= len(want) {
			if !slices.Equal(got, want) {
				t.Fatalf("got %d events %v..., want %d", len(got), head(got), len(want))
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := sink.ids()
	t.Fatalf("after 10s: %d events, want %d (last %v)", len(got), len(want), tailOf(got))
}

func head(s []string) []string {
	return s[:min(len(s), 5)]
}

func tailOf(s []string) []string {
	return s[max(0, len(s)-3):]
}

func TestTailFollowsAndRotates(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.log")
	sink := &recorder{}
	stop := runTail(t, file, filepath.Join(dir, "state"), sink)
	defer stop()

	// The file does not exist yet: it is waited for.
	time.Sleep(20 * time.Millisecond)
	appendLines(t, file, 0, 30)
	waitFor(t, sink, wantIDs(0, 30))

	// Rename and create, as the API server's log backend rotates; lines
	// written to the old file after the rename are read too.
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, file+".1", 30, 35)
	appendLines(t, file, 35, 50)
	waitFor(t, sink, wantIDs(0, 50))

	// copytruncate: the file shrinks and is read from its start.
	if err := os.Truncate(file, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	appendLines(t, file, 50, 52)
	waitFor(t, sink, wantIDs(0, 52))
}

func TestTailPartialLineWaits(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.log")
	line := eventJSON(1)
	if err := os.WriteFile(file, []byte(line[:40]), 0o600); err != nil {
		t.Fatal(err)
	}
	sink := &recorder{}
	stop := runTail(t, file, filepath.Join(dir, "state"), sink)
	defer stop()
	time.Sleep(50 * time.Millisecond)
	if n := len(sink.ids()); n != 0 {
		t.Fatalf("a half-written line was taken: %d events", n)
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(line[40:] + "\n")
	f.Close()
	waitFor(t, sink, wantIDs(1, 2))
}

func TestTailSkipsBadLines(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.log")
	content := eventJSON(1) + "\nnot json\n\n" + `{"kind":"Event","verb":7}` + "\n" + eventJSON(2) + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	sink := &recorder{}
	stop := runTail(t, file, filepath.Join(dir, "state"), sink)
	defer stop()
	waitFor(t, sink, []string{"id-000001", "id-000002"})
}

func TestTailResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.log")
	state := filepath.Join(dir, "state")
	sink := &recorder{}
	appendLines(t, file, 0, 20)
	stop := runTail(t, file, state, sink)
	waitFor(t, sink, wantIDs(0, 20))
	stop()

	// While bulwark is down the file gets more lines and is rotated; the
	// next run reads the rest of the rotated file, then the new one, and
	// nothing twice.
	appendLines(t, file, 20, 25)
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, file, 25, 40)
	stop = runTail(t, file, state, sink)
	defer stop()
	waitFor(t, sink, wantIDs(0, 40))
}

func TestTailRetriesWhenTheSinkFails(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.log")
	sink := &recorder{failing: true}
	appendLines(t, file, 0, 10)
	stop := runTail(t, file, filepath.Join(dir, "state"), sink)
	defer stop()
	time.Sleep(50 * time.Millisecond)
	appendLines(t, file, 10, 16)
	time.Sleep(20 * time.Millisecond)
	sink.setFailing(false)
	waitFor(t, sink, wantIDs(0, 16))
}

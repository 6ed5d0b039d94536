package archive

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

// A crash during a write leaves a partial record at the end of the
// journal: Open cuts it off, keeps it in a .torn file, and the chains go
// on.
func TestRecoverTornWrite(t *testing.T) {
	e := newEnv(t)
	o := e.options()
	o.MaxSegmentBytes = 1 << 20
	a := e.open(o)
	events := testEvents(0, 50)
	pos := appendAll(t, a, events, 10)
	// Crash: no Close. The last batch is then torn mid-record.
	a.closeFiles()
	jp := filepath.Join(e.journal, journalName(0))
	info, err := os.Stat(jp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(jp, info.Size()-100); err != nil {
		t.Fatal(err)
	}

	a = e.open(o)
	if !strings.Contains(e.logs.String(), "audit_archive_journal_truncated") {
		t.Errorf("no warning for the torn record; logs:\n%s", e.logs)
	}
	torn, _ := filepath.Glob(filepath.Join(e.journal, "*"+tornExt))
	if len(torn) != 1 {
		t.Errorf("torn files: %v", torn)
	}
	kept := events[:49]
	checkRead(t, readAll(t, a, audit.Position{}), kept, pos[:49])
	p, err := a.Append(context.Background(), testEvents(1000, 3))
	if err != nil {
		t.Fatal(err)
	}
	if p != (audit.Position{Segment: 0, Index: 49}) {
		t.Errorf("first append after recovery at %v", p)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	rep := verifyOK(t, e.url())
	if rep.Events != 52 {
		t.Errorf("Verify: %d events, want 52", rep.Events)
	}
}

// A second Open without Close (a crash) finds everything appended, in
// every state: open, closed, sealed.
func TestRecoverWithoutClose(t *testing.T) {
	for _, stage := range []string{"journal", "closed", "sealed"} {
		t.Run(stage, func(t *testing.T) {
			e := newEnv(t)
			a := e.open(e.options())
			events := testEvents(0, 100)
			pos := appendAll(t, a, events, 10)
			if stage == "sealed" {
				if err := a.sealAll(); err != nil {
					t.Fatal(err)
				}
			}
			if stage == "journal" {
				// Only the open journal holds events.
				if err := a.sealAll(); err != nil {
					t.Fatal(err)
				}
				if err := a.uploadAll(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			a.closeFiles() // the process dies

			b := e.open(e.options())
			checkRead(t, readAll(t, b, audit.Position{}), events, pos)
			more := testEvents(100, 20)
			appendAll(t, b, more, 5)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if rep := verifyOK(t, e.url()); rep.Events != 120 {
				t.Errorf("Verify: %d events, want 120", rep.Events)
			}
		})
	}
}

// Crashes between the steps of sealing and uploading: the files each step
// leaves are repaired by Open.
func TestRecoverInterruptedSeal(t *testing.T) {
	e := newEnv(t)
	a := e.open(e.options())
	events := testEvents(0, 60)
	pos := appendAll(t, a, events, 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := e.open(e.options())
	appendAll(t, b, testEvents(60, 60), 10)
	events = append(events, testEvents(60, 60)...)
	b.mu.Lock()
	closed := append([]*journal(nil), b.closedJ...)
	b.mu.Unlock()
	if len(closed) < 2 {
		t.Fatalf("%d closed journals", len(closed))
	}
	// Seal the first closed journal by hand, leaving its journal (a crash
	// before its removal) and a partial segment file of the second (a
	// crash during compression).
	b.sealMu.Lock()
	if _, err := b.seal(closed[0]); err != nil {
		t.Fatal(err)
	}
	b.sealMu.Unlock()
	os.WriteFile(filepath.Join(e.journal, localName(closed[1].seq, sealedExt)), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(e.journal, "x"+tmpExt), []byte("partial"), 0o600)
	b.closeFiles()

	c := e.open(e.options())
	got := readAll(t, c, audit.Position{})
	if len(got) != len(events) {
		t.Fatalf("read %d events, want %d", len(got), len(events))
	}
	checkRead(t, got[:60], events[:60], pos)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, e.url())
	left, _ := os.ReadDir(e.journal)
	if len(left) != 1 {
		t.Errorf("journal directory holds %v", left)
	}
}

// The helper process of TestKill: appends batches forever, printing the
// position of each batch once Append returns.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv("ARCHIVE_KILL_DIR")
	if dir == "" {
		t.Skip("helper process of TestKill")
	}
	a, err := Open(context.Background(), Options{URL: "file://" + filepath.Join(dir, "archive"), JournalDir: filepath.Join(dir, "journal"), MaxSegmentBytes: 64 << 10})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go a.Run(context.Background())
	for i := 0; ; i += 10 {
		p, err := a.Append(context.Background(), testEvents(i, 10))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("appended", i+10, p.Segment, p.Index)
	}
}

// kill -9 while appending, sealing and uploading: every event whose
// Append returned is in the archive after the next Open, in order.
func TestKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	var ackedRuns []int
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$")
		cmd.Env = append(os.Environ(), "ARCHIVE_KILL_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		acked := 0
		deadline := time.Now().Add(time.Duration(200+150*round) * time.Millisecond)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) > 1 && f[0] == "appended" {
				acked, _ = strconv.Atoi(f[1])
			} else if f[0] == "error" {
				t.Fatal(sc.Text())
			}
			if time.Now().After(deadline) && acked > 0 {
				break
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		a, err := Open(context.Background(), Options{URL: "file://" + filepath.Join(dir, "archive"), JournalDir: filepath.Join(dir, "journal")})
		if err != nil {
			t.Fatal(err)
		}
		// Each round starts again at event 0: runs holds the number of
		// events of each round, which must be at least the number
		// acknowledged.
		var n, prev int
		var runs []int
		err = a.Read(context.Background(), audit.Position{}, func(_ audit.Position, raw []byte) error {
			n++
			var i int
			fmt.Sscanf(string(raw[strings.Index(string(raw), `"auditID":"`)+11:]), "%08x", &i)
			i /= 7919
			if i == 0 {
				runs = append(runs, 0)
				prev = -1
			}
			if i != prev+1 {
				return fmt.Errorf("event %d follows %d", i, prev)
			}
			prev = i
			runs[len(runs)-1]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ackedRuns = append(ackedRuns, acked)
		if len(runs) != len(ackedRuns) {
			t.Fatalf("round %d: the archive holds %d rounds", round, len(runs))
		}
		for r := range runs {
			if runs[r] < ackedRuns[r] {
				t.Fatalf("round %d: the archive holds %d events of round %d, %d were acknowledged", round, runs[r], r, ackedRuns[r])
			}
		}
		t.Logf("round %d: %d events acknowledged before kill -9; archive holds %d", round, acked, n)
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
	verifyOK(t, "file://"+filepath.Join(dir, "archive"))
}

package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/alert"
	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/audit/archive"
	"github.com/bulwark-k8s/bulwark/internal/audit/index"
	"github.com/bulwark-k8s/bulwark/internal/detect"
)

// execEventJSON is an exec into a pod: BW-DET-001 alerts on it.
func execEventJSON(i int) string {
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"exec-%06d","stage":"ResponseStarted",`+
		`"requestURI":"/api/v1/namespaces/dev/pods/web-%d/exec?command=sh&container=app&stdin=true&tty=true","verb":"create",`+
		`"user":{"username":"mallory","groups":["system:authenticated"]},"sourceIPs":["203.0.113.7"],`+
		`"objectRef":{"resource":"pods","namespace":"dev","name":"web-%d","apiVersion":"v1","subresource":"exec"},`+
		`"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2026-11-22T08:00:00.000000Z","stageTimestamp":"2026-11-22T08:00:00.001000Z"}`,
		i, i, i)
}

// stack is a pipeline over a real archive, index and alert router in
// dir, whose alerts are written as JSON lines to out.
type stack struct {
	archive  *archive.Archive
	index    *index.Index
	router   *alert.Router
	pipeline *Pipeline
	out      *syncWriter
	cancel   context.CancelFunc
	done     chan struct{}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

type testIndex struct{ ix *index.Index }

func (t testIndex) Last(ctx context.Context) (audit.Position, bool, error) { return t.ix.Last(ctx) }

func (t testIndex) Add(ctx context.Context, entries []Entry) error {
	out := make([]index.Entry, len(entries))
	for i, e := range entries {
		out[i] = index.Entry{Pos: e.Pos, Event: e.Event}
	}
	return t.ix.Add(ctx, out)
}

func openStack(t *testing.T, dir string, out *syncWriter) *stack {
	t.Helper()
	ctx := context.Background()
	a, err := archive.Open(ctx, archive.Options{URL: "file://" + filepath.Join(dir, "archive"), JournalDir: filepath.Join(dir, "journal")})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := alert.Build(alert.Config{Spool: alert.SpoolConfig{Dir: filepath.Join(dir, "spool")}, Sinks: []alert.SinkConfig{{Name: "out", Type: "stdout"}}},
		nil, alert.WithStdout(out))
	if err != nil {
		t.Fatal(err)
	}
	det, err := detect.LoadDefaultRules(detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPipeline(PipelineOptions{Archive: a, Index: testIndex{ix}, Detector: det, Alerts: r, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{archive: a, index: ix, router: r, pipeline: p, out: out}
}

// run starts the router and the pipeline.
func (s *stack) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.router.Run(ctx) })
	wg.Go(func() {
		if err := s.pipeline.Run(ctx); err != nil {
			t.Errorf("pipeline: %v", err)
		}
	})
	go func() { wg.Wait(); close(s.done) }()
}

// stop stops what run started and closes everything.
func (s *stack) stop(t *testing.T) {
	t.Helper()
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	for _, err := range []error{s.archive.Close(), s.index.Close(), s.router.Close()} {
		if err != nil {
			t.Error(err)
		}
	}
}

func decodeAll(t *testing.T, jsons ...string) []*audit.Event {
	t.Helper()
	out := make([]*audit.Event, len(jsons))
	for i, j := range jsons {
		ev, err := audit.Decode([]byte(j))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ev
	}
	return out
}

func (s *stack) indexed(t *testing.T) int {
	t.Helper()
	rows, err := s.index.Query(context.Background(), index.Query{AllStages: true, Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPipelineArchivesIndexesAndAlerts(t *testing.T) {
	dir := t.TempDir()
	out := &syncWriter{}
	s := openStack(t, dir, out)
	s.run(t)
	eventually(t, "pipeline ready", func() bool { return s.pipeline.Ready() == nil })
	if err := s.pipeline.Ingest(decodeAll(t, eventJSON(1), execEventJSON(2), eventJSON(3))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "3 events indexed", func() bool { return s.indexed(t) == 3 })
	eventually(t, "the exec alert delivered", func() bool { return strings.Contains(out.String(), `"auditID":"exec-000002"`) })
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("%d alerts, want 1:\n%s", n, out)
	}
	s.stop(t)

	var got []string
	a, err := archive.Open(context.Background(), archive.Options{URL: "file://" + filepath.Join(dir, "archive"), JournalDir: filepath.Join(dir, "journal")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Read(context.Background(), audit.Position{}, func(_ audit.Position, raw []byte) error {
		got = append(got, string(raw))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{eventJSON(1), execEventJSON(2), eventJSON(3)}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("archive holds\n%s", strings.Join(got, "\n"))
	}
}

// TestPipelineCatchesUpAfterACrash archives events that are never
// processed (the process dies before), then starts a new pipeline on the
// same directories: it indexes them and raises their alerts, and does not
// process again what was processed before.
func TestPipelineCatchesUpAfterACrash(t *testing.T) {
	dir := t.TempDir()
	out := &syncWriter{}
	s := openStack(t, dir, out)
	s.run(t)
	if err := s.pipeline.Ingest(decodeAll(t, execEventJSON(1))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first alert", func() bool { return strings.Contains(out.String(), "exec-000001") })
	s.stop(t)

	// Archived while nothing processes: Run is not running.
	s = openStack(t, dir, out)
	var evs []string
	for i := 2; i < 1200; i++ {
		if i%100 == 0 {
			evs = append(evs, execEventJSON(i))
		} else {
			evs = append(evs, eventJSON(i))
		}
	}
	for i := 0; i < len(evs); i += 50 {
		if err := s.pipeline.Ingest(decodeAll(t, evs[i:min(i+50, len(evs))]...)); err != nil {
			t.Fatal(err)
		}
	}
	// The process "dies": nothing is closed, the cursor is not saved.
	s.archive.Close()
	s.index.Close()
	s.router.Close()

	s = openStack(t, dir, out)
	s.run(t)
	defer s.stop(t)
	eventually(t, "every event indexed", func() bool { return s.indexed(t) == 1+len(evs) })
	eventually(t, "11 exec alerts", func() bool { return strings.Count(out.String(), "\n") >= 12 })
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(out.String(), `"rule":"BW-DET-001 Exec into a pod"`); n != 12 {
		t.Errorf("%d exec alerts, want 12 (none twice):\n%s", n, out)
	}
	if s.pipeline.Ready() != nil {
		t.Error("not ready after catching up")
	}
}

func TestPipelineConcurrentIngestKeepsOrder(t *testing.T) {
	dir := t.TempDir()
	s := openStack(t, dir, &syncWriter{})
	s.run(t)
	defer s.stop(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for b := range 20 {
				var batch []string
				for i := range 10 {
					batch = append(batch, eventJSON(w*1000+b*10+i))
				}
				if err := s.pipeline.Ingest(decodeAll(t, batch...)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	eventually(t, "800 events indexed", func() bool { return s.indexed(t) == 800 })
}

// slowIndex is the real index, slowed down.
type slowIndex struct {
	testIndex
	delay time.Duration
}

func (s slowIndex) Add(ctx context.Context, entries []Entry) error {
	time.Sleep(s.delay)
	return s.testIndex.Add(ctx, entries)
}

// TestPipelineSlowIndexFallsBehindAndCatchesUp: with a one-batch queue and
// a slow index, Ingest never waits for the index; the alerts flow, and the
// index reads what it missed back from the archive, each event once.
func TestPipelineSlowIndexFallsBehindAndCatchesUp(t *testing.T) {
	dir := t.TempDir()
	out := &syncWriter{}
	s := openStack(t, dir, out)
	det, err := detect.LoadDefaultRules(detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	s.pipeline, err = NewPipeline(PipelineOptions{Archive: s.archive, Index: slowIndex{testIndex{s.index}, 30 * time.Millisecond},
		Detector: det, Alerts: s.router, StateDir: filepath.Join(dir, "state"), Queue: 1, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	s.run(t)
	defer s.stop(t)
	start := time.Now()
	for b := range 40 {
		var batch []string
		for i := range 10 {
			if i == 0 {
				batch = append(batch, execEventJSON(b))
			} else {
				batch = append(batch, eventJSON(b*10+i))
			}
		}
		if err := s.pipeline.Ingest(decodeAll(t, batch...)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Ingest waited for the slow index: 40 batches took %v", d)
	}
	eventually(t, fmt.Sprintf("40 exec alerts (%d)", strings.Count(out.String(), "\n")), func() bool { return strings.Count(out.String(), "\n") >= 40 })
	if n := strings.Count(out.String(), "\n"); n != 40 {
		t.Errorf("%d alerts, want 40:\n%s", n, out)
	}
	eventually(t, "400 events indexed", func() bool { return s.indexed(t) == 400 })
	// The counter moves just after the rows are committed.
	eventually(t, "400 events counted", func() bool { return counterValue(m.indexed) >= 400 })
	time.Sleep(50 * time.Millisecond)
	if got := counterValue(m.indexed); got != 400 {
		t.Errorf("%v events indexed, want 400 (none twice)", got)
	}
}

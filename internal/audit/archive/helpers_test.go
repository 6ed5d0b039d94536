package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/audit"
)

var t0 = time.Date(2026, 11, 22, 7, 3, 0, 0, time.UTC)

// testEvent is a realistic audit event of about 1.5 KB; i makes it
// unique and sets its time.
func testEvent(i int) []byte {
	ts := t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
	return fmt.Appendf(nil, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"%08x-1c2d-4e5f-8a9b-%012x","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/team-%d/pods?fieldManager=kubectl-client-side-apply","verb":"create","user":{"username":"system:serviceaccount:ci:deployer-%d","uid":"5e6f7a8b-%04x-4c5d-9e0f-1a2b3c4d5e6f","groups":["system:serviceaccounts","system:serviceaccounts:ci","system:authenticated"],"extra":{"authentication.kubernetes.io/pod-name":["runner-%d-abcde"]}},"sourceIPs":["10.244.%d.%d"],"userAgent":"kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{"resource":"pods","namespace":"team-%d","name":"web-%x","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-%x","namespace":"team-%d","labels":{"app":"web","tier":"frontend"}},"spec":{"containers":[{"name":"web","image":"registry.example.com/web:1.%d","ports":[{"containerPort":8080}],"resources":{"limits":{"cpu":"500m","memory":"256Mi"}},"securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true}}],"serviceAccountName":"web"}},"requestReceivedTimestamp":"%s","stageTimestamp":"%s","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"deployer/team-%d\" of ClusterRole \"edit\" to ServiceAccount \"deployer-%d/ci\"","pod-security.kubernetes.io/enforce-policy":"restricted:latest"}}`,
		i*7919, i, i%50, i%7, i%65536, i, i%250, i%200+1, i%50, i*31, i*31, i%50, i%10, ts, ts, i%50, i%7)
}

func testEvents(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = testEvent(from + i)
	}
	return out
}

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is an archive's directories in a test: a file:// bucket and a
// journal directory.
type env struct {
	t       *testing.T
	bucket  string // directory of the file:// bucket
	journal string
	clock   *clock
	logs    *syncBuffer
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	return &env{t: t, bucket: filepath.Join(dir, "archive"), journal: filepath.Join(dir, "journal"), clock: newClock(), logs: &syncBuffer{}}
}

func (e *env) url() string { return "file://" + e.bucket }

func (e *env) options() Options {
	return Options{
		URL: e.url(), JournalDir: e.journal,
		MaxSegmentBytes: 16 << 10, MaxSegmentAge: time.Hour,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    e.clock.Now,
	}
}

func (e *env) open(o Options) *Archive {
	e.t.Helper()
	a, err := Open(context.Background(), o)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	return a
}

// appendAll appends the events in batches of n and returns their
// positions.
func appendAll(t *testing.T, a *Archive, events [][]byte, n int) []audit.Position {
	t.Helper()
	var pos []audit.Position
	for i := 0; i < len(events); i += n {
		b := events[i:min(i+n, len(events))]
		p, err := a.Append(context.Background(), b)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		for k := range b {
			pos = append(pos, audit.Position{Segment: p.Segment, Index: p.Index + uint64(k)})
		}
	}
	return pos
}

type readEvent struct {
	pos audit.Position
	raw []byte
}

func readAll(t *testing.T, a *Archive, from audit.Position) []readEvent {
	t.Helper()
	var out []readEvent
	err := a.Read(context.Background(), from, func(p audit.Position, raw []byte) error {
		out = append(out, readEvent{p, bytes.Clone(raw)})
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return out
}

// checkRead checks that Read returned exactly want, at positions pos.
func checkRead(t *testing.T, got []readEvent, want [][]byte, pos []audit.Position) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Read returned %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].raw, want[i]) {
			t.Fatalf("event %d: read\n%s\nwant\n%s", i, got[i].raw, want[i])
		}
		if pos != nil && got[i].pos != pos[i] {
			t.Fatalf("event %d: read at %v, appended at %v", i, got[i].pos, pos[i])
		}
	}
}

func verify(t *testing.T, url string) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), url, VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func verifyOK(t *testing.T, url string) *Report {
	t.Helper()
	rep := verify(t, url)
	for _, p := range rep.Problems {
		t.Errorf("Verify: %s", p)
	}
	return rep
}

// segmentFiles lists the segment objects of a file:// bucket, in
// sequence order (keys sort by hour, then sequence).
func (e *env) segmentFiles() []string {
	e.t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(e.bucket, "segments"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, segmentExt) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func (e *env) key(path string) string {
	rel, _ := filepath.Rel(e.bucket, path)
	return filepath.ToSlash(rel)
}

func gunzipFile(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func gzipBytes(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

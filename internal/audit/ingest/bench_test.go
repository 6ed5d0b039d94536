package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulwark-k8s/bulwark/internal/alert"
	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/audit/archive"
	"github.com/bulwark-k8s/bulwark/internal/audit/index"
	"github.com/bulwark-k8s/bulwark/internal/detect"
)

// mixedEvent is the i-th event of a realistic stream: mostly reads and
// watches at Metadata level, some writes with their request object (a
// pod of about 1.5 KB), secret reads, and one exec in a thousand.
func mixedEvent(i int) string {
	head := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"%08x-6c1f-4f0e-9a51-%012x","stage":"ResponseComplete",`+
		`"user":{"username":"system:serviceaccount:team-%d:deployer","uid":"4e1c3a1e-0d8b-4f6f-a0a4-%012x","groups":["system:serviceaccounts","system:serviceaccounts:team-%d","system:authenticated"]},`+
		`"sourceIPs":["10.240.%d.%d"],"userAgent":"kubectl/v1.37.1 (linux/amd64) kubernetes/abcdef0",`+
		`"requestReceivedTimestamp":"2026-11-22T08:00:00.%06dZ","stageTimestamp":"2026-11-22T08:00:00.%06dZ",`,
		i, i, i%7, i, i%7, i%250, i%200, i%1000000, (i+900)%1000000)
	ns := fmt.Sprintf("team-%d", i%7)
	switch {
	case i%1000 == 999:
		return head + fmt.Sprintf(`"level":"RequestResponse","requestURI":"/api/v1/namespaces/%s/pods/web-%d/exec?command=sh&container=app&stdin=true&tty=true","verb":"create",`+
			`"objectRef":{"resource":"pods","namespace":"%s","name":"web-%d","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101}}`, ns, i, ns, i)
	case i%10 == 3:
		pod := fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-%d","namespace":"%s","labels":{"app":"web","team":"%s","pod-template-hash":"5d8f7c9b4"},`+
			`"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d8f7c9b4","uid":"0b1c2d3e-aaaa-bbbb-cccc-%012x","controller":true}]},`+
			`"spec":{"serviceAccountName":"web","automountServiceAccountToken":false,"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},`+
			`"containers":[{"name":"app","image":"registry.example.com/shop/web:1.4.%d","ports":[{"containerPort":8080,"protocol":"TCP"}],`+
			`"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"500m","memory":"256Mi"}},`+
			`"securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]}},`+
			`"env":[{"name":"MODE","value":"production"},{"name":"DB_HOST","value":"db.%s.svc"}],"volumeMounts":[{"name":"tmp","mountPath":"/tmp"}]}],`+
			`"volumes":[{"name":"tmp","emptyDir":{}}]}}`, i, ns, ns, i, i%30, ns)
		return head + fmt.Sprintf(`"level":"Request","requestURI":"/api/v1/namespaces/%s/pods","verb":"create",`+
			`"objectRef":{"resource":"pods","namespace":"%s","name":"web-%d","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":%s}`, ns, ns, i, pod)
	case i%10 == 7:
		return head + fmt.Sprintf(`"level":"Metadata","requestURI":"/api/v1/namespaces/%s/secrets/db-credentials","verb":"get",`+
			`"objectRef":{"resource":"secrets","namespace":"%s","name":"db-credentials","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200}}`, ns, ns)
	case i%2 == 0:
		return head + fmt.Sprintf(`"level":"Metadata","requestURI":"/apis/apps/v1/namespaces/%s/deployments?watch=true&resourceVersion=%d","verb":"watch",`+
			`"objectRef":{"resource":"deployments","namespace":"%s","apiGroup":"apps","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200}}`, ns, i, ns)
	}
	return head + fmt.Sprintf(`"level":"Metadata","requestURI":"/api/v1/namespaces/%s/configmaps/settings-%d","verb":"get",`+
		`"objectRef":{"resource":"configmaps","namespace":"%s","name":"settings-%d","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200}}`, ns, i%40, ns, i%40)
}

// batchBodies are EventList bodies of size events each, n events in all.
func batchBodies(n, size int) [][]byte {
	var out [][]byte
	for i := 0; i < n; i += size {
		items := make([]string, 0, size)
		for j := i; j < min(i+size, n); j++ {
			items = append(items, mixedEvent(j))
		}
		out = append(out, []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`+strings.Join(items, ",")+`]}`))
	}
	return out
}

type countingAlerter struct {
	mu sync.Mutex
	n  int
}

func (c *countingAlerter) Send(_ context.Context, alerts ...alert.Alert) error {
	c.mu.Lock()
	c.n += len(alerts)
	c.mu.Unlock()
	return nil
}

// BenchmarkPipeline measures events per second from webhook bodies
// through decoding, the archive (journal fsynced per batch, segments
// sealed and gzipped into a file bucket), the default detection rules and,
// in the /index variants, the SQLite index. Alerts are counted, not
// delivered (BenchmarkEventToSink covers delivery). Run with -cpu 1 for
// the one-core figure.
func BenchmarkPipeline(b *testing.B) {
	for _, withIndex := range []bool{false, true} {
		name := "decode+archive+detect"
		if withIndex {
			name += "+index"
		}
		b.Run(name, func(b *testing.B) {
			const batch = 400
			bodies := batchBodies(20000, batch)
			var bytesIn int
			for _, body := range bodies {
				bytesIn += len(body)
			}
			dir := b.TempDir()
			ctx := context.Background()
			a, err := archive.Open(ctx, archive.Options{URL: "file://" + filepath.Join(dir, "archive"), JournalDir: filepath.Join(dir, "journal"), MaxSegmentBytes: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			det, err := detect.LoadDefaultRules(detect.Options{})
			if err != nil {
				b.Fatal(err)
			}
			opts := PipelineOptions{Archive: a, Detector: det, Alerts: &countingAlerter{}, StateDir: filepath.Join(dir, "state")}
			if withIndex {
				ix, err := index.Open(ctx, filepath.Join(dir, "index.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer ix.Close()
				opts.Index = testIndex{ix}
			}
			m := NewMetrics(nil)
			opts.Metrics = m
			p, err := NewPipeline(opts)
			if err != nil {
				b.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { _ = p.Run(runCtx); close(done) }()
			for p.Ready() != nil {
				time.Sleep(time.Millisecond)
			}
			b.SetBytes(int64(bytesIn / len(bodies) / batch))
			cpu0 := processCPU()
			b.ResetTimer()
			sent := 0
			for i := 0; i < b.N; i += batch {
				body := bodies[(i/batch)%len(bodies)]
				evs, _, err := audit.DecodeBatch(body)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Ingest(evs); err != nil {
					b.Fatal(err)
				}
				sent += len(evs)
			}
			for counterValue(m.processed) < float64(sent) || withIndex && counterValue(m.indexed) < float64(sent) {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "events/s")
			// The machine may be shared: events per second of this
			// process's CPU time (every thread, fsync included) is the
			// figure that does not depend on the neighbours.
			b.ReportMetric(float64(sent)/(processCPU()-cpu0).Seconds(), "events/cpu-s")
			cancel()
			<-done
			if err := a.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkEventToSink measures the latency from a webhook batch being
// handed to the pipeline to its alerts being written by a sink, through
// the real alert router with its disk spool, under a steady load of
// 20,000 events/s in batches of 200 with one exec in a hundred events.
func BenchmarkEventToSink(b *testing.B) {
	dir := b.TempDir()
	ctx := context.Background()
	a, err := archive.Open(ctx, archive.Options{URL: "file://" + filepath.Join(dir, "archive"), JournalDir: filepath.Join(dir, "journal")})
	if err != nil {
		b.Fatal(err)
	}
	ix, err := index.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	sink := &timedWriter{seen: map[string]time.Time{}}
	r, err := alert.Build(alert.Config{Spool: alert.SpoolConfig{Dir: filepath.Join(dir, "spool")}, Sinks: []alert.SinkConfig{{Name: "out", Type: "stdout"}}},
		nil, alert.WithStdout(sink))
	if err != nil {
		b.Fatal(err)
	}
	det, err := detect.LoadDefaultRules(detect.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPipeline(PipelineOptions{Archive: a, Index: testIndex{ix}, Detector: det, Alerts: r, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(runCtx) })
	wg.Go(func() { _ = p.Run(runCtx) })

	const batch, every = 200, 10 * time.Millisecond // 20,000 events/s
	sentAt := map[string]time.Time{}
	b.ResetTimer()
	next := time.Now()
	for i := 0; i < b.N; i++ {
		items := make([]string, batch)
		for j := range items {
			n := i*batch + j
			if n%100 == 0 {
				items[j] = execEventJSON(n)
			} else {
				items[j] = mixedEvent(n*10 + 1) // never an exec
			}
		}
		evs, _, err := audit.DecodeBatch([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.Join(items, ",") + `]}`))
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Until(next))
		next = next.Add(every)
		start := time.Now()
		for _, ev := range evs {
			if strings.HasPrefix(ev.AuditID, "exec-") {
				sentAt[ev.AuditID] = start
			}
		}
		if err := p.Ingest(evs); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for sink.count() < len(sentAt) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	_ = r.Close()
	_ = a.Close()
	var lat []time.Duration
	for id, t0 := range sentAt {
		t1, ok := sink.at(id)
		if !ok {
			b.Fatalf("alert for %s never delivered", id)
		}
		lat = append(lat, t1.Sub(t0))
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(len(lat)), "alerts")
}

var auditIDField = regexp.MustCompile(`"auditID":"([^"]+)"`)

// timedWriter records when each alert's line was written.
type timedWriter struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (w *timedWriter) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range auditIDField.FindAllSubmatch(p, -1) {
		if _, dup := w.seen[string(m[1])]; !dup {
			w.seen[string(m[1])] = now
		}
	}
	return len(p), nil
}

func (w *timedWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

func (w *timedWriter) at(id string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.seen[id]
	return t, ok
}

func counterValue(c prometheus.Counter) float64 { return promtest.ToFloat64(c) }

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadMix is a set of AdmissionReview bodies sent in turn.
type loadMix struct {
	name   string
	bodies [][]byte
}

func loadMixes(t testing.TB) []loadMix {
	pod := podBody(t, "CREATE", "production", "web", decode(t, compliantPod))
	centos := podBody(t, "CREATE", "production", "centos", decode(t, centosPod))
	p := decode(t, compliantPod)
	md := p["metadata"].(map[string]any)
	deploy := reviewBody(t, "CREATE", "apps", "v1", "Deployment", "deployments", "", "production", "web", map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "production", "labels": md["labels"]},
		"spec": map[string]any{
			"replicas": json.Number("2"),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"strategy": map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxUnavailable": json.Number("0")}},
			"template": map[string]any{"metadata": map[string]any{"labels": md["labels"]}, "spec": p["spec"]},
		},
	}, nil)
	svc := reviewBody(t, "CREATE", "", "v1", "Service", "services", "", "production", "web", decode(t, `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: production, labels: {app: web}}
spec: {type: ClusterIP, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
`), nil)
	cm := reviewBody(t, "CREATE", "", "v1", "ConfigMap", "configmaps", "", "production", "settings", decode(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: production}
data: {mode: fast, url: "https://example.com/api", retries: "3"}
`), nil)
	return []loadMix{
		{"pods", [][]byte{pod, centos}},
		{"mix", [][]byte{pod, centos, deploy, svc, cm, svc, cm, cm}},
	}
}

// loadServer serves h over HTTPS on loopback as bulwark serve does, and
// returns a client that talks to it like the API server (HTTP/2, TLS 1.2+,
// kept-alive connections).
func loadServer(tb testing.TB, h http.Handler) (string, *http.Client) {
	tb.Helper()
	now := time.Now()
	ca, err := NewCA("load-ca", now, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"127.0.0.1"}, now, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	tb.Cleanup(func() { _ = srv.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
	}}
	return "https://" + ln.Addr().String() + ValidatePath + "?timeout=10s", client
}

// loadResult summarises one load run.
type loadResult struct {
	requests  int
	elapsed   time.Duration
	latencies []time.Duration // sorted
	errors    int64
}

func (r loadResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r loadResult) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies)-1) * p)
	return r.latencies[i]
}

// runLoad sends n reviews from concurrency workers, for at most limit, and
// measures each round trip. With rate > 0 the load is paced (open loop):
// review i is due at start + i/rate, and its latency counts from when it
// was due, so that a slow answer's wait for a free worker is not hidden.
func runLoad(ctx context.Context, url string, client *http.Client, bodies [][]byte, n, concurrency int, limit time.Duration, rate float64) loadResult {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	lat := make([]time.Duration, n)
	var next, done, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if rate > 0 {
					due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					t0 = due
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				lat[i] = time.Since(t0)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var kept []time.Duration
	for _, d := range lat {
		if d > 0 {
			kept = append(kept, d)
		}
	}
	slices.Sort(kept)
	return loadResult{requests: int(done.Load()), elapsed: elapsed, latencies: kept, errors: errs.Load()}
}

// BenchmarkValidateLoad is the admission load test: /validate over HTTPS on
// loopback with the whole built-in library (workshop configuration), b.N
// reviews per run, at most 2
// minutes, for two mixes of reviews (pods only; pods, a Deployment,
// Services and ConfigMaps) and five loads: 1, 4 and 16 workers sending as
// fast as answers come (closed loop), and 1,000 and 2,000 reviews/s offered
// by 64 workers (open loop, latency from when each review was due). It
// reports throughput and latency percentiles:
//
//	go test ./internal/admission -run '^$' -bench ValidateLoad -benchtime 10000x
func BenchmarkValidateLoad(b *testing.B) {
	serverGC(b)
	h := NewHandler(Options{Engine: workshopEngine(b, nil), ExemptNamespaces: []string{"kube-system"}})
	url, client := loadServer(b, h)
	type load struct {
		workers int
		rate    float64 // reviews/s offered; 0: as fast as the workers go
	}
	for _, mix := range loadMixes(b) {
		for _, lc := range []load{{1, 0}, {4, 0}, {16, 0}, {64, 1000}, {64, 2000}} {
			name := fmt.Sprintf("%s/workers=%d", mix.name, lc.workers)
			if lc.rate > 0 {
				name = fmt.Sprintf("%s/rate=%.0f", mix.name, lc.rate)
			}
			b.Run(name, func(b *testing.B) {
				// Warm up connections and caches.
				runLoad(context.Background(), url, client, mix.bodies, 200, 16, time.Minute, 0)
				b.ResetTimer()
				r := runLoad(context.Background(), url, client, mix.bodies, b.N, lc.workers, 2*time.Minute, lc.rate)
				b.StopTimer()
				if r.errors > 0 {
					b.Errorf("%d requests failed", r.errors)
				}
				b.ReportMetric(r.rate(), "reviews/s")
				b.ReportMetric(float64(r.pct(0.50).Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(r.pct(0.99).Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(r.latencies[len(r.latencies)-1].Microseconds())/1000, "max-ms")
				b.Logf("%s: %d reviews in %s on %d CPUs: %.0f reviews/s, p50 %s, p90 %s, p99 %s, max %s",
					name, r.requests, r.elapsed.Round(time.Millisecond), runtime.GOMAXPROCS(0), r.rate(),
					r.pct(0.5).Round(time.Microsecond), r.pct(0.9).Round(time.Microsecond), r.pct(0.99).Round(time.Microsecond),
					r.latencies[len(r.latencies)-1].Round(time.Microsecond))
			})
		}
	}
}

// BenchmarkValidate is the handler alone (no network), one review per
// iteration, for the CPU cost of a review.
func BenchmarkValidate(b *testing.B) {
	serverGC(b)
	h := NewHandler(Options{Engine: workshopEngine(b, nil)})
	for _, mix := range loadMixes(b) {
		b.Run(mix.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				rec := &discardWriter{header: http.Header{}}
				req, _ := http.NewRequest(http.MethodPost, ValidatePath, bytes.NewReader(mix.bodies[i%len(mix.bodies)]))
				h.ServeHTTP(rec, req)
				if rec.code != 0 && rec.code != http.StatusOK {
					b.Fatalf("status %d", rec.code)
				}
			}
		})
	}
}

// serverGC runs the benchmark with bulwark serve's garbage collector
// target, unless GOGC sets one.
func serverGC(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(GCPercent)
		b.Cleanup(func() { debug.SetGCPercent(old) })
	}
}

type discardWriter struct {
	header http.Header
	code   int
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// TestLoadSmoke runs the load generator briefly so that it stays working:
// every review answered, none failed.
func TestLoadSmoke(t *testing.T) {
	h := NewHandler(Options{Engine: libraryEngine(t)})
	url, client := loadServer(t, h)
	mix := loadMixes(t)[1]
	r := runLoad(context.Background(), url, client, mix.bodies, 200, 8, time.Minute, 0)
	if r.errors > 0 || r.requests != 200 {
		t.Fatalf("%d answered, %d failed", r.requests, r.errors)
	}
	if s := fmt.Sprint(r.pct(0.99)); s == "0s" {
		t.Error("no latency measured")
	}
}

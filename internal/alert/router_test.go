package alert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/detect"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"
)

func TestConfigValidation(t *testing.T) {
	hook := func(u string) *WebhookConfig { return &WebhookConfig{HTTPConfig: HTTPConfig{URL: u}} }
	mem := SpoolConfig{Memory: true}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none: valid
	}{
		{"valid", Config{Spool: mem, Sinks: []SinkConfig{{Name: "a", Type: "stdout"}, {Name: "b", Type: "webhook", Webhook: hook("https://x")}},
			Routes: []RouteConfig{{MinPriority: "warning", Sinks: []string{"a", "b"}}}}, nil},
		{"no sinks needs no spool", Config{}, nil},
		{"spool required", Config{Sinks: []SinkConfig{{Name: "a", Type: "stdout"}}}, []string{"spool.dir: required"}},
		{"bad sink", Config{Spool: mem, Sinks: []SinkConfig{{Name: "A b", Type: "smtp"}}},
			[]string{`sinks[0] (A b).name: "A b" must be lower-case`, `sinks[0] (A b): type: "smtp" is not one of`}},
		{"duplicate and missing block", Config{Spool: mem, Sinks: []SinkConfig{{Name: "a", Type: "stdout"}, {Name: "a", Type: "syslog"}}},
			[]string{`sinks[1] (a).name: "a" is used by another sink`, "sinks[1] (a): syslog: required for type syslog"}},
		{"wrong block", Config{Spool: mem, Sinks: []SinkConfig{{Name: "a", Type: "webhook", Webhook: hook("https://x"), Splunk: &SplunkConfig{}}}},
			[]string{"sinks[0] (a): splunk: set, but the type is webhook"}},
		{"syslog fields", Config{Spool: mem, Sinks: []SinkConfig{{Name: "s", Type: "syslog", Syslog: &SyslogConfig{
			Network: "sctp", Address: "nohost", Facility: "local9", Format: "leef", StructuredDataID: "x", TLS: TLSConfig{CertFile: "c"}}}}},
			[]string{`syslog.network: "sctp"`, `syslog.address: "nohost" is not host:port`, `syslog.facility: "local9"`,
				`syslog.format: "leef"`, `syslog.structuredDataID: "x"`, "syslog.tls: certFile and keyFile go together"}},
		{"http fields", Config{Spool: mem, Sinks: []SinkConfig{
			{Name: "w", Type: "webhook", Webhook: &WebhookConfig{HTTPConfig: HTTPConfig{URL: "ftp://x", BearerToken: "t", BasicAuth: &BasicAuth{}}}},
			{Name: "s", Type: "splunk", Splunk: &SplunkConfig{URL: "https://s"}},
			{Name: "z", Type: "azuremonitor", AzureMonitor: &AzureMonitorConfig{Endpoint: "https://e"}},
			{Name: "e", Type: "elasticsearch", Elasticsearch: &ElasticsearchConfig{URL: "https://e", APIKey: "k", Username: "u"}},
		}}, []string{"webhook.url: not an http(s) URL", "bearerToken and basicAuth are exclusive", "basicAuth.username: required",
			"splunk: token or tokenFile required", "azureMonitor.dcrImmutableId: required", "azureMonitor.stream: required",
			"azureMonitor.tenantId: required", "azureMonitor: clientSecret or clientSecretFile required", "apiKey and username are exclusive"}},
		{"routes", Config{Spool: mem, Sinks: []SinkConfig{{Name: "a", Type: "stdout"}},
			Routes: []RouteConfig{{MinPriority: "severe", Sinks: []string{"b"}}, {}}},
			[]string{`routes[0].minPriority: invalid priority "severe"`, `routes[0].sinks: no sink named "b"`, "routes[1].sinks: required",
				"sinks[0] (a): in no route"}},
		{"url with credentials is not echoed", Config{Spool: mem, Sinks: []SinkConfig{{Name: "w", Type: "webhook", Webhook: hook("gopher://u:hunter2@x")}}},
			[]string{"webhook.url: not an http(s) URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.cfg, nil, WithStdout(&bytes.Buffer{}))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Build accepted an invalid configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows a URL password: %v", err)
			}
		})
	}
}

// TestDocsExample parses the example alerts block of docs/alerts.md the
// way bulwark.yaml is read, and validates it.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(alerts:.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/alerts.md has no ```yaml block starting with alerts:")
	}
	var file struct {
		Alerts Config `json:"alerts"`
	}
	if err := yaml.UnmarshalStrict(m[1], &file); err != nil {
		t.Fatalf("example: %v", err)
	}
	c := file.Alerts
	if err := c.validate(); err != nil {
		t.Fatalf("example: %v", err)
	}
	if len(c.Sinks) < 7 || c.Spool.MaxBytes != 512<<20 || time.Duration(c.Spool.MaxAge) != 72*time.Hour {
		t.Errorf("example parsed as %+v", c)
	}
	types := map[string]bool{}
	for _, s := range c.Sinks {
		types[s.Type] = true
	}
	for _, typ := range []string{"stdout", "file", "webhook", "ocsf", "syslog", "splunk", "azuremonitor", "elasticsearch"} {
		if !types[typ] {
			t.Errorf("the example has no %s sink", typ)
		}
	}
}

func TestSizeAndDuration(t *testing.T) {
	for in, want := range map[string]Size{`1024`: 1024, `"64Mi"`: 64 << 20, `"2G"`: 2e9, `"1Ki"`: 1024} {
		var s Size
		if err := json.Unmarshal([]byte(in), &s); err != nil || s != want {
			t.Errorf("%s: %d, %v", in, s, err)
		}
	}
	for _, in := range []string{`-1`, `"12Q"`, `"x"`} {
		var s Size
		if err := json.Unmarshal([]byte(in), &s); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"1m30s"`), &d); err != nil || time.Duration(d) != 90*time.Second {
		t.Errorf("duration %v %v", d, err)
	}
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Error("bad duration accepted")
	}
	// Secrets never print.
	s := Secret("hunter2")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), mustJSON(t, struct{ S Secret }{s})} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runRouter builds and runs a router; stop cancels Run, waits for it and
// closes the router.
func runRouter(t *testing.T, cfg Config, opts ...Option) (r *Router, logs *bytes.Buffer, stop func()) {
	t.Helper()
	var mu sync.Mutex
	logs = &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: logs}, nil))
	r, err := Build(cfg, logger, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			if err := r.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return r, logs, stop
}

func readJSONLines(t *testing.T, path string) []Alert {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Alert
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, a)
	}
	return out
}

func TestRouting(t *testing.T) {
	dir := t.TempDir()
	file := func(name string) SinkConfig {
		return SinkConfig{Name: name, Type: "file", File: &FileConfig{Path: filepath.Join(dir, name+".jsonl")}}
	}
	cfg := Config{
		Cluster: "prod",
		Spool:   SpoolConfig{Dir: filepath.Join(dir, "spool")},
		Sinks:   []SinkConfig{file("siem"), file("exec"), file("all")},
		Routes: []RouteConfig{
			{MinPriority: "error", Sinks: []string{"siem"}},
			{Tags: []string{"REQ-05a"}, Sinks: []string{"exec", "siem"}},
			{Sinks: []string{"all"}},
		},
	}
	r, _, stop := runRouter(t, cfg)
	mk := func(rule string, p detect.Priority, tags ...string) Alert {
		return Alert{Rule: rule, Priority: p, Tags: tags, Time: testTime, Output: rule}
	}
	alerts := []Alert{
		mk("critical", detect.PriorityCritical),
		mk("error", detect.PriorityError),
		mk("warning", detect.PriorityWarning),
		mk("exec", detect.PriorityNotice, "REQ-05a"),
	}
	if err := r.Send(context.Background(), alerts...); err != nil {
		t.Fatal(err)
	}
	rules := func(name string) string {
		var out []string
		for _, a := range readJSONLines(t, filepath.Join(dir, name+".jsonl")) {
			out = append(out, a.Rule)
			if a.Cluster != "prod" || a.ID == "" {
				t.Errorf("%s: alert without cluster or ID: %+v", name, a)
			}
		}
		return strings.Join(out, ",")
	}
	waitFor(t, 5*time.Second, func() bool { return len(readJSONLines(t, filepath.Join(dir, "all.jsonl"))) == 4 }, "all alerts delivered")
	waitFor(t, 5*time.Second, func() bool { return rules("siem") == "critical,error,exec" }, "siem gets error and above plus REQ-05a")
	waitFor(t, 5*time.Second, func() bool { return rules("exec") == "exec" }, "exec gets REQ-05a")
	stop()
}

func TestDedupWindow(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	window := Duration(300 * time.Millisecond)
	cfg := Config{Spool: SpoolConfig{Memory: true}, Dedup: DedupConfig{Window: &window},
		Sinks: []SinkConfig{{Name: "f", Type: "file", File: &FileConfig{Path: out}}}}
	r, _, _ := runRouter(t, cfg)
	a := execAlert()
	for i := 0; i < 3; i++ {
		if err := r.Send(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, func() bool { return len(readJSONLines(t, out)) == 1 }, "one delivery")
	time.Sleep(400 * time.Millisecond)
	if err := r.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return len(readJSONLines(t, out)) == 2 }, "a second delivery after the window")
	if got := metricValue(t, r, "bulwark_alert_deduplicated_total", nil); got != 2 {
		t.Errorf("deduplicated_total = %v, want 2", got)
	}
}

func TestDedupBounded(t *testing.T) {
	d := NewDedup(time.Hour, 100)
	now := time.Now()
	for i := 0; i < 10000; i++ {
		d.Seen(fmt.Sprint(i), now)
	}
	if len(d.seen) > 101 {
		t.Errorf("%d IDs remembered, want at most 100", len(d.seen))
	}
	if !d.Seen("9999", now) || d.Seen("0", now) {
		t.Error("the newest ID is forgotten or the oldest remembered")
	}
}

// flaky fails its first n sends with the given error.
type flaky struct {
	mu    sync.Mutex
	n     int
	retry bool
	err   error
	calls [][]Alert
}

func (f *flaky) Send(_ context.Context, alerts ...Alert) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, alerts)
	if len(f.calls) <= f.n {
		return f.retry, f.err
	}
	return false, nil
}

func TestRetryStage(t *testing.T) {
	t.Run("backs off exponentially with jitter", func(t *testing.T) {
		var waits []time.Duration
		f := &flaky{n: 5, retry: true, err: errors.New("down")}
		r := &Retry{Next: f, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
			OnRetry: func(_ []Alert, _ error, w time.Duration) { waits = append(waits, w) }}
		if retry, err := r.Send(context.Background(), execAlert()); err != nil || retry {
			t.Fatalf("Send = %v, %v", retry, err)
		}
		bounds := [][2]time.Duration{{5, 10}, {10, 20}, {20, 40}, {20, 40}, {20, 40}}
		for i, w := range waits {
			lo, hi := bounds[i][0]*time.Millisecond, bounds[i][1]*time.Millisecond
			if w < lo || w > hi {
				t.Errorf("wait %d = %v, want within [%v, %v]", i, w, lo, hi)
			}
		}
		if len(f.calls) != 6 {
			t.Errorf("%d attempts, want 6", len(f.calls))
		}
	})
	t.Run("honours Retry-After", func(t *testing.T) {
		var wait time.Duration
		f := &flaky{n: 1, retry: true, err: &HTTPError{Status: 429, After: 150 * time.Millisecond}}
		r := &Retry{Next: f, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
			OnRetry: func(_ []Alert, _ error, w time.Duration) { wait = w }}
		start := time.Now()
		r.Send(context.Background(), execAlert())
		if wait != 150*time.Millisecond || time.Since(start) < 150*time.Millisecond {
			t.Errorf("waited %v (%v), want the receiver's 150ms", wait, time.Since(start))
		}
	})
	t.Run("rejects without retrying", func(t *testing.T) {
		var rejected []Alert
		f := &flaky{n: 1, retry: false, err: &HTTPError{Status: 400}}
		r := &Retry{Next: f, OnReject: func(a []Alert, _ error) { rejected = a }}
		if _, err := r.Send(context.Background(), execAlert()); err != nil || len(rejected) != 1 || len(f.calls) != 1 {
			t.Errorf("err %v, rejected %d, calls %d", err, len(rejected), len(f.calls))
		}
	})
	t.Run("stops when cancelled", func(t *testing.T) {
		f := &flaky{n: 1 << 30, retry: true, err: errors.New("down")}
		r := &Retry{Next: f, InitialBackoff: time.Hour, MaxBackoff: time.Hour}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		retry, err := r.Send(ctx, execAlert())
		if !retry || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Send = %v, %v", retry, err)
		}
	})
	t.Run("drops alerts past the age bound", func(t *testing.T) {
		var expired []Alert
		old, fresh := execAlert(), execAlert()
		old.enqueued, fresh.enqueued = time.Now().Add(-2*time.Hour), time.Now()
		f := &flaky{}
		r := &Retry{Next: f, MaxAge: time.Hour, OnExpire: func(a []Alert) { expired = a }}
		r.Send(context.Background(), old, fresh)
		if len(expired) != 1 || len(f.calls) != 1 || len(f.calls[0]) != 1 {
			t.Errorf("expired %d, sent %v", len(expired), f.calls)
		}
	})
}

func TestRateLimit(t *testing.T) {
	f := &flaky{}
	l := &RateLimit{Next: f, PerSecond: 100, Burst: 5}
	start := time.Now()
	for i := 0; i < 5; i++ {
		l.Send(context.Background(), execAlert(), execAlert(), execAlert())
	}
	// 15 alerts: 5 at once, 10 more at 100/s.
	if took := time.Since(start); took < 90*time.Millisecond || took > time.Second {
		t.Errorf("15 alerts at 100/s (burst 5) took %v, want about 100ms", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := &RateLimit{Next: f, PerSecond: 0.001, Burst: 1}
	slow.Send(context.Background(), execAlert())
	if retry, err := slow.Send(ctx, execAlert()); !retry || err == nil {
		t.Errorf("cancelled wait = %v, %v", retry, err)
	}
}

func metricValue(t *testing.T, c prometheus.Collector, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			case m.Histogram != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

func TestMetrics(t *testing.T) {
	h := newHTTPReceiver(t, false)
	h.setVerify(func(r *http.Request, body []byte) error { return nil })
	cfg := Config{Spool: SpoolConfig{Dir: t.TempDir()}, Sinks: []SinkConfig{{Name: "hook", Type: "webhook", Webhook: &WebhookConfig{HTTPConfig: HTTPConfig{URL: h.URL}},
		Retry: RetryConfig{InitialBackoff: Duration(time.Millisecond), MaxBackoff: Duration(time.Millisecond)}}}}
	r, _, _ := runRouter(t, cfg)
	h.setMode(modeUnavailable)
	if err := r.Send(context.Background(), conformanceAlerts(2)...); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, r, "bulwark_alert_spooled_bytes", map[string]string{"sink": "hook"}); got <= 0 {
		t.Errorf("spooled_bytes = %v while the receiver is down", got)
	}
	waitFor(t, 5*time.Second, func() bool { return metricValue(t, r, "bulwark_alert_retried_total", nil) >= 2 }, "retries counted")
	h.setMode(modeOK)
	waitFor(t, 5*time.Second, func() bool {
		return metricValue(t, r, "bulwark_alert_sent_total", map[string]string{"sink": "hook"}) == 2
	}, "2 sent")
	h.setMode(modeRejected)
	r.Send(context.Background(), conformanceAlerts(3)[2])
	waitFor(t, 5*time.Second, func() bool {
		return metricValue(t, r, "bulwark_alert_dropped_total", map[string]string{"sink": "hook", "reason": "rejected"}) == 1
	}, "1 rejected")
	for _, name := range []string{"bulwark_alert_failed_total", "bulwark_alert_send_duration_seconds", "bulwark_alert_delivery_latency_seconds"} {
		if metricValue(t, r, name, map[string]string{"sink": "hook"}) == 0 {
			t.Errorf("%s not recorded", name)
		}
	}
	waitFor(t, 5*time.Second, func() bool { return metricValue(t, r, "bulwark_alert_spooled_bytes", nil) == 0 }, "spool empty")
}

func TestRouterLifecycle(t *testing.T) {
	r, err := Build(Config{Spool: SpoolConfig{Memory: true}, Sinks: []SinkConfig{{Name: "o", Type: "stdout"}}}, nil, WithStdout(&bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, time.Second, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.running }, "running")
	if err := r.Run(ctx); err == nil {
		t.Error("a second Run was accepted")
	}
	if err := r.Close(); err == nil {
		t.Error("Close while running was accepted")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Send(context.Background(), execAlert()); err == nil {
		t.Error("Send after Close was accepted")
	}
}

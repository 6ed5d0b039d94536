package alert

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The credentials of the conformance sinks; none may appear in an error
// or a log line.
const (
	secretBearer   = "webhook-bearer-s3cr3t-token"
	secretPassword = "basic-p@ss w0rd/secret"
	secretSplunk   = "11111111-2222-3333-4444-splunksecret"
	secretAzure    = "azure+client/secret=value~1"
	secretESKey    = "ZXMta2V5LWlkOmVzLWtleS1zZWNyZXQ="
	secretHeader   = "x-api-key-secret-value"
)

var allSecrets = []string{secretBearer, secretPassword, secretSplunk, secretAzure, secretESKey, secretHeader, azureToken,
	"YWRtaW46YmFzaWMtcEBzcyB3MHJkL3NlY3JldA=="} // base64 of admin:<password>

// failure is one way a receiver fails and whether the sink must call it
// worth retrying.
type failure struct {
	name  string
	cfg   SinkConfig
	mode  httpMode // set on the HTTP receiver for this failure
	retry bool
	// attempts a send may take to observe the failure (UDP learns of a
	// closed port from the ICMP answer to an earlier datagram).
	attempts int
}

// fixture is a sink type wired to a live receiver.
type fixture struct {
	ok       SinkConfig
	received func() int // alerts the receiver has
	http     *httpReceiver
	failures []failure
	hang     *SinkConfig // a receiver that accepts and never answers
	stdout   *bytes.Buffer
	brokenW  bool // the stdout fixture's failure is a broken writer
}

func downAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func caFileFor(t *testing.T, h *httpReceiver) string {
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// httpFailures are the failures every HTTP sink must classify the same
// way.
func httpFailures(cfg func(url string) SinkConfig, t *testing.T) []failure {
	return []failure{
		{name: "connection refused", cfg: cfg("https://" + downAddr(t)), retry: true},
		{name: "503", cfg: cfg(""), mode: modeUnavailable, retry: true},
		{name: "429", cfg: cfg(""), mode: modeThrottled, retry: true},
		{name: "408", cfg: cfg(""), mode: modeTimeout, retry: true},
		{name: "400", cfg: cfg(""), mode: modeRejected, retry: false},
	}
}

type harness struct {
	name  string
	setup func(t *testing.T) *fixture
}

func countBodies(h *httpReceiver, per func(receivedRequest) int) func() int {
	return func() int {
		n := 0
		for _, r := range h.received() {
			n += per(r)
		}
		return n
	}
}

func lines(b []byte) int { return strings.Count(strings.TrimSpace(string(b)), "\n") + 1 }

var harnesses = []harness{
	{"stdout", func(t *testing.T) *fixture {
		var buf bytes.Buffer
		return &fixture{ok: SinkConfig{Type: "stdout"}, stdout: &buf,
			received: func() int { return strings.Count(buf.String(), "\n") },
			failures: []failure{{name: "broken pipe", cfg: SinkConfig{Type: "stdout"}, retry: true}}, brokenW: true}
	}},
	{"file", func(t *testing.T) *fixture {
		path := filepath.Join(t.TempDir(), "alerts.jsonl")
		return &fixture{ok: SinkConfig{Type: "file", File: &FileConfig{Path: path}},
			received: func() int { b, _ := os.ReadFile(path); return bytes.Count(b, []byte("\n")) },
			failures: []failure{{name: "disk full", cfg: SinkConfig{Type: "file", File: &FileConfig{Path: "/dev/full"}}, retry: true}}}
	}},
	{"webhook bearer", func(t *testing.T) *fixture {
		h := newHTTPReceiver(t, true)
		ca := caFileFor(t, h)
		cfg := func(u string) SinkConfig {
			return SinkConfig{Type: "webhook", Webhook: &WebhookConfig{HTTPConfig: HTTPConfig{URL: orDefault(u, h.URL+"/hook"),
				BearerToken: secretBearer, Headers: map[string]Secret{"X-Api-Key": secretHeader}, TLS: TLSConfig{CAFile: ca}}}}
		}
		return &fixture{ok: cfg(""), http: h, received: countBodies(h, func(receivedRequest) int { return 1 }),
			failures: httpFailures(cfg, t), hang: ptr(cfg(""))}
	}},
	{"webhook basic batch", func(t *testing.T) *fixture {
		h := newHTTPReceiver(t, false)
		cfg := func(u string) SinkConfig {
			if strings.HasPrefix(u, "https://") {
				u = "http://" + strings.TrimPrefix(u, "https://")
			}
			return SinkConfig{Type: "webhook", Webhook: &WebhookConfig{Batch: true, HTTPConfig: HTTPConfig{URL: orDefault(u, h.URL),
				BasicAuth: &BasicAuth{Username: "admin", Password: secretPassword}}}}
		}
		return &fixture{ok: cfg(""), http: h,
			received: countBodies(h, func(r receivedRequest) int { return strings.Count(string(r.body), `"rule":`) }),
			failures: httpFailures(cfg, t), hang: ptr(cfg(""))}
	}},
	{"ocsf", func(t *testing.T) *fixture {
		h := newHTTPReceiver(t, true)
		ca := caFileFor(t, h)
		cfg := func(u string) SinkConfig {
			return SinkConfig{Type: "ocsf", OCSF: &WebhookConfig{HTTPConfig: HTTPConfig{URL: orDefault(u, h.URL+"/ocsf"),
				BearerToken: secretBearer, TLS: TLSConfig{CAFile: ca}}}}
		}
		return &fixture{ok: cfg(""), http: h,
			received: countBodies(h, func(r receivedRequest) int { return strings.Count(string(r.body), `"class_uid":2004`) }),
			failures: httpFailures(cfg, t), hang: ptr(cfg(""))}
	}},
	{"splunk", func(t *testing.T) *fixture {
		h := newHTTPReceiver(t, true)
		ca := caFileFor(t, h)
		cfg := func(u string) SinkConfig {
			return SinkConfig{Type: "splunk", Splunk: &SplunkConfig{URL: orDefault(u, h.URL), Token: secretSplunk, TLS: TLSConfig{CAFile: ca}}}
		}
		return &fixture{ok: cfg(""), http: h, received: countBodies(h, func(r receivedRequest) int { return lines(r.body) }),
			failures: httpFailures(cfg, t), hang: ptr(cfg(""))}
	}},
	{"azuremonitor", func(t *testing.T) *fixture {
		h := newHTTPReceiver(t, true)
		ca := caFileFor(t, h)
		cfg := func(u string) SinkConfig {
			return SinkConfig{Type: "azuremonitor", AzureMonitor: &AzureMonitorConfig{
				Endpoint: orDefault(u, h.URL), DCRImmutableID: azureDCR, Stream: azureStream,
				TenantID: azureTenant, ClientID: "client-1", ClientSecret: secretAzure,
				Authority: orDefault(u, h.URL), TLS: TLSConfig{CAFile: ca}}}
		}
		f := &fixture{ok: cfg(""), http: h,
			received: countBodies(h, func(r receivedRequest) int { return strings.Count(string(r.body), `"AlertId":`) }),
			failures: httpFailures(cfg, t), hang: ptr(cfg(""))}
		f.failures = append(f.failures, failure{name: "token denied", cfg: cfg(""), mode: modeTokenDenied, retry: false})
		return f
	}},
	{"elasticsearch", func(t *testing.T) *fixture {
		h := newHTTPReceiver(t, true)
		ca := caFileFor(t, h)
		cfg := func(u string) SinkConfig {
			return SinkConfig{Type: "elasticsearch", Elasticsearch: &ElasticsearchConfig{URL: orDefault(u, h.URL), APIKey: secretESKey, TLS: TLSConfig{CAFile: ca}}}
		}
		return &fixture{ok: cfg(""), http: h, received: countBodies(h, func(r receivedRequest) int { return lines(r.body) / 2 }),
			failures: httpFailures(cfg, t), hang: ptr(cfg(""))}
	}},
	{"syslog udp", func(t *testing.T) *fixture {
		s := startSyslogServer(t, "udp", nil, false)
		pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
		closed := pc.LocalAddr().String()
		pc.Close()
		cfg := func(addr string) SinkConfig {
			return SinkConfig{Type: "syslog", Syslog: &SyslogConfig{Network: "udp", Address: addr}}
		}
		return &fixture{ok: cfg(s.addr), received: func() int { return len(s.messages()) },
			failures: []failure{{name: "port unreachable", cfg: cfg(closed), retry: true, attempts: 5}}}
	}},
	{"syslog tcp", func(t *testing.T) *fixture {
		s := startSyslogServer(t, "tcp", nil, false)
		hang := startSyslogServer(t, "tcp", nil, true)
		cfg := func(addr string) SinkConfig {
			return SinkConfig{Type: "syslog", Syslog: &SyslogConfig{Network: "tcp", Address: addr}}
		}
		return &fixture{ok: cfg(s.addr), received: func() int { return len(s.messages()) },
			failures: []failure{{name: "connection refused", cfg: cfg(downAddr(t)), retry: true}}, hang: ptr(cfg(hang.addr))}
	}},
	{"syslog tls", func(t *testing.T) *fixture {
		pki := newTestPKI(t)
		s := startSyslogServer(t, "tls", &pki, false)
		hang := startSyslogServer(t, "tls", &pki, true)
		cfg := func(addr string) SinkConfig {
			return SinkConfig{Type: "syslog", Syslog: &SyslogConfig{Network: "tls", Address: addr, TLS: TLSConfig{CAFile: pki.caFile}}}
		}
		untrusted := cfg(s.addr)
		untrusted.Syslog.TLS.CAFile = ""
		return &fixture{ok: cfg(s.addr), received: func() int { return len(s.messages()) },
			failures: []failure{
				{name: "connection refused", cfg: cfg(downAddr(t)), retry: true},
				// An unknown certificate is retried: an operator fixes it
				// while the spool keeps the alerts.
				{name: "unknown certificate", cfg: untrusted, retry: true},
			}, hang: ptr(cfg(hang.addr))}
	}},
}

func ptr[T any](v T) *T { return &v }

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

func conformanceAlerts(n int) []Alert {
	out := make([]Alert, n)
	for i := range out {
		a := execAlert()
		a.AuditID = fmt.Sprintf("audit-%d", i)
		a.ID = a.StableID()
		out[i] = a
	}
	return out
}

func (f *fixture) sink(t *testing.T, cfg SinkConfig, timeout time.Duration) Sink {
	t.Helper()
	cfg.Name = "conformance"
	cfg.Timeout = Duration(timeout)
	if err := (&Config{Spool: SpoolConfig{Memory: true}, Sinks: []SinkConfig{cfg}}).validate(); err != nil {
		t.Fatalf("invalid fixture config: %v", err)
	}
	o := buildOptions{version: "test", stdout: f.stdout}
	if f.brokenW && cfg.Type == "stdout" && f.stdout == nil {
		o.stdout = brokenWriter{}
	}
	s, err := newSink(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := s.(Closer); ok {
		t.Cleanup(func() { c.Close() })
	}
	return s
}

func assertNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range allSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s contains the secret %q:\n%s", where, s, text)
		}
	}
}

// TestSinkConformance is the contract every sink passes: it delivers,
// classifies each failure as worth retrying or not, honours
// cancellation, and never lets a credential into an error or a log.
func TestSinkConformance(t *testing.T) {
	for _, h := range harnesses {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			f := h.setup(t)

			t.Run("delivers", func(t *testing.T) {
				s := f.sink(t, f.ok, 5*time.Second)
				alerts := conformanceAlerts(3)
				retry, err := s.Send(context.Background(), alerts...)
				if err != nil || retry {
					t.Fatalf("Send = %v, %v; want false, nil", retry, err)
				}
				waitFor(t, 5*time.Second, func() bool { return f.received() >= 3 }, "receiver got the 3 alerts")
			})

			t.Run("cancelled before sending", func(t *testing.T) {
				s := f.sink(t, f.ok, 5*time.Second)
				before := f.received()
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				retry, err := s.Send(ctx, conformanceAlerts(1)...)
				if err == nil || !retry || !errors.Is(err, context.Canceled) {
					t.Errorf("Send(cancelled) = %v, %v; want true and context.Canceled", retry, err)
				}
				time.Sleep(50 * time.Millisecond)
				if f.received() != before {
					t.Error("a cancelled Send delivered")
				}
			})

			for _, fl := range f.failures {
				t.Run("classifies "+fl.name, func(t *testing.T) {
					if f.http != nil {
						f.http.setMode(fl.mode)
						defer f.http.setMode(modeOK)
					}
					if f.brokenW {
						f.stdout = nil
						defer func(b *bytes.Buffer) { f.stdout = b }(f.stdout)
					}
					s := f.sink(t, fl.cfg, 5*time.Second)
					var retry bool
					var err error
					for i := 0; i < max(fl.attempts, 1); i++ {
						retry, err = s.Send(context.Background(), conformanceAlerts(1)...)
						if err != nil {
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
					if err == nil {
						t.Fatalf("Send succeeded against a failing receiver")
					}
					if retry != fl.retry {
						t.Errorf("retry = %v, want %v (error: %v)", retry, fl.retry, err)
					}
					assertNoSecret(t, "error", err.Error())
				})
			}

			if f.hang != nil {
				t.Run("cancelled while blocked", func(t *testing.T) {
					if f.http != nil {
						f.http.setMode(modeHang)
						defer f.http.setMode(modeOK)
					}
					s := f.sink(t, *f.hang, time.Minute)
					// Enough data to fill the socket buffers of a receiver
					// that does not read.
					alerts := conformanceAlerts(1)
					if f.hang.Type == "syslog" {
						alerts = conformanceAlerts(2000)
						for i := range alerts {
							alerts[i].Output = strings.Repeat("x", 4096)
						}
					}
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					defer cancel()
					start := time.Now()
					retry, err := s.Send(ctx, alerts...)
					if took := time.Since(start); took > 3*time.Second {
						t.Errorf("Send returned %v after cancellation", took-300*time.Millisecond)
					}
					if err == nil || !retry {
						t.Errorf("Send = %v, %v; want true and an error", retry, err)
					}
				})
				t.Run("own timeout", func(t *testing.T) {
					if f.hang.Type == "syslog" {
						return // covered above: the write deadline is the timeout
					}
					f.http.setMode(modeHang)
					defer f.http.setMode(modeOK)
					s := f.sink(t, *f.hang, 200*time.Millisecond)
					start := time.Now()
					retry, err := s.Send(context.Background(), conformanceAlerts(1)...)
					if took := time.Since(start); took > 3*time.Second || err == nil || !retry {
						t.Errorf("Send = %v, %v after %v; want a retryable timeout within the sink's 200ms timeout", retry, err, took)
					}
				})
			}

			t.Run("router logs no secret", func(t *testing.T) {
				for _, fl := range f.failures {
					if f.http != nil {
						f.http.setMode(fl.mode)
					}
					if f.brokenW {
						continue // a broken stdout carries no secret; covered above
					}
					logs := routeThroughFailure(t, fl.cfg, !fl.retry)
					assertNoSecret(t, "logs of "+fl.name, logs)
					if f.http != nil {
						f.http.setMode(modeOK)
					}
				}
			})
		})
	}
}

// routeThroughFailure sends alerts through a router to a failing sink and
// returns its logs once the failure was logged.
func routeThroughFailure(t *testing.T, sc SinkConfig, rejected bool) string {
	t.Helper()
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{mu: &mu, w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sc.Name = "sink"
	sc.Timeout = Duration(2 * time.Second)
	sc.Retry = RetryConfig{InitialBackoff: Duration(10 * time.Millisecond), MaxBackoff: Duration(20 * time.Millisecond)}
	spoolDir := t.TempDir()
	cfg := Config{Cluster: "c", Spool: SpoolConfig{Dir: spoolDir}, Sinks: []SinkConfig{sc}}
	// Logging the configuration itself must not print secrets either.
	logger.Info("config", "alerts", cfg, "sink", fmt.Sprintf("%+v %#v", sc, sc))
	r, err := Build(cfg, logger, WithStdout(brokenWriter{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	if err := r.Send(context.Background(), conformanceAlerts(2)...); err != nil {
		t.Fatal(err)
	}
	msg := "alert_send_failed"
	if rejected {
		msg = "alert_rejected"
	}
	more := 0
	waitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		found := strings.Contains(buf.String(), msg)
		mu.Unlock()
		if !found && !rejected {
			// A UDP sink learns of a closed port from an earlier
			// datagram: keep sending.
			more++
			a := conformanceAlerts(1)[0]
			a.AuditID = fmt.Sprintf("more-%d", more)
			a.ID = ""
			r.Send(context.Background(), a)
		}
		return found
	}, "the failure is logged as "+msg)
	cancel()
	<-done
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return buf.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func waitFor(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

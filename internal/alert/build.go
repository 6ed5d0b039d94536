package alert

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/detect"
)

// Option changes what Build builds.
type Option func(*buildOptions)

type buildOptions struct {
	version string
	stdout  io.Writer
}

// WithVersion sets Bulwark's version as the sinks report it (CEF device
// version, OCSF product version, ECS observer version).
func WithVersion(v string) Option { return func(o *buildOptions) { o.version = v } }

// WithStdout sets where the stdout sink writes (default os.Stdout).
func WithStdout(w io.Writer) Option { return func(o *buildOptions) { o.stdout = w } }

// Build validates cfg and builds the router: each sink, its spool (in
// cfg.Spool.Dir/<sink name>), its stages and the routes. It reports every
// configuration problem at once, each naming its field. The caller owns
// the router (see Router for its lifecycle).
func Build(cfg Config, logger *slog.Logger, opts ...Option) (*Router, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := buildOptions{version: "dev", stdout: os.Stdout}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	r := &Router{logger: logger, cluster: cfg.Cluster, m: newMetrics()}
	window := defaultDedupWindow
	if cfg.Dedup.Window != nil {
		window = time.Duration(*cfg.Dedup.Window)
	}
	if window > 0 {
		r.dedup = NewDedup(window, orDefault(cfg.Dedup.MaxEntries, defaultDedupEntries))
	}
	byName := map[string]*pipeline{}
	for _, sc := range cfg.Sinks {
		p, err := buildPipeline(cfg.Spool, sc, o, logger, r.m)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("alerts: sink %s: %w", sc.Name, err)
		}
		r.pipes = append(r.pipes, p)
		byName[sc.Name] = p
	}
	for _, rc := range cfg.Routes {
		rt := route{min: detect.PriorityDebug}
		if rc.MinPriority != "" {
			rt.min, _ = detect.ParsePriority(rc.MinPriority) // validated
		}
		if len(rc.Tags) > 0 {
			rt.tags = map[string]bool{}
			for _, t := range rc.Tags {
				rt.tags[t] = true
			}
		}
		for _, n := range rc.Sinks {
			rt.pipes = append(rt.pipes, byName[n])
		}
		r.routes = append(r.routes, rt)
	}
	return r, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// newSink is the one place sink types are wired.
func newSink(sc SinkConfig, o buildOptions) (Sink, error) {
	timeout := orDefault(time.Duration(sc.Timeout), defaultTimeout)
	switch sc.Type {
	case "stdout":
		return NewWriter(o.stdout), nil
	case "file":
		return OpenFile(sc.File.Path)
	case "webhook":
		return NewWebhook(*sc.Webhook, timeout, nil)
	case "ocsf":
		return NewWebhook(*sc.OCSF, timeout, OCSFEncoder(o.version))
	case "syslog":
		return NewSyslog(*sc.Syslog, timeout, o.version)
	case "splunk":
		return NewSplunk(*sc.Splunk, timeout)
	case "azuremonitor":
		return NewAzureMonitor(*sc.AzureMonitor, timeout)
	case "elasticsearch":
		return NewElasticsearch(*sc.Elasticsearch, timeout, o.version)
	}
	return nil, fmt.Errorf("unknown sink type %q", sc.Type)
}

func buildPipeline(spool SpoolConfig, sc SinkConfig, o buildOptions, logger *slog.Logger, m *metrics) (*pipeline, error) {
	sink, err := newSink(sc, o)
	if err != nil {
		return nil, err
	}
	l := logger.With("sink", sc.Name)
	batch := defaultBatch[sc.Type]
	if (sc.Webhook != nil && sc.Webhook.Batch) || (sc.OCSF != nil && sc.OCSF.Batch) {
		batch = 100
	}
	p := &pipeline{
		name:   sc.Name,
		sink:   sink,
		batch:  orDefault(sc.BatchSize, batch),
		logger: l,
		m:      m,
	}
	maxBytes := int64(orDefault(spool.MaxBytes, defaultMaxBytes))
	maxAge := orDefault(time.Duration(spool.MaxAge), defaultMaxAge)
	onDrop := func(reason string, n int, bytes int64) {
		l.Error("alert_spool_full_dropped", "alerts", n, "bytes", bytes, "max_bytes", maxBytes)
		m.dropped.WithLabelValues(sc.Name, reason).Add(float64(n))
	}
	if spool.Memory {
		p.q = newMemQueue(maxBytes, onDrop)
	} else {
		dir := filepath.Join(spool.Dir, sc.Name)
		seg := min(int64(orDefault(spool.SegmentBytes, defaultSegmentBytes)), max(maxBytes/4, 4096))
		q, err := openSpool(dir, maxBytes, seg, onDrop, l)
		if err != nil {
			if c, ok := sink.(Closer); ok {
				c.Close()
			}
			return nil, err
		}
		p.q = q
		p.dead = &deadLetter{path: filepath.Join(dir, "deadletter.jsonl"), sink: sc.Name}
	}
	var deliver Sink = &instrumented{next: sink, name: sc.Name, m: m}
	if sc.RateLimit.PerSecond > 0 {
		deliver = &RateLimit{Next: deliver, PerSecond: sc.RateLimit.PerSecond,
			Burst: orDefault(sc.RateLimit.Burst, max(1, int(sc.RateLimit.PerSecond)))}
	}
	deliver = &Retry{
		Next:           deliver,
		InitialBackoff: orDefault(time.Duration(sc.Retry.InitialBackoff), defaultInitial),
		MaxBackoff:     orDefault(time.Duration(sc.Retry.MaxBackoff), defaultMaxBackoff),
		MaxAge:         maxAge,
		OnRetry: func(alerts []Alert, err error, wait time.Duration) {
			l.Warn("alert_send_failed", "alerts", len(alerts), "error", err, "retry_in", wait.Round(time.Millisecond))
			m.retried.WithLabelValues(sc.Name).Add(float64(len(alerts)))
		},
		OnReject: func(alerts []Alert, err error) {
			m.dropped.WithLabelValues(sc.Name, "rejected").Add(float64(len(alerts)))
			dlErr := p.dead.write(alerts, err)
			path := ""
			if p.dead != nil {
				path = p.dead.path
			}
			l.Error("alert_rejected", "alerts", len(alerts), "error", err, "dead_letter", path)
			if dlErr != nil {
				l.Error("alert_dead_letter_failed", "alerts", len(alerts), "error", dlErr)
			}
		},
		OnExpire: func(alerts []Alert) {
			l.Error("alert_expired", "alerts", len(alerts), "max_age", maxAge)
			m.dropped.WithLabelValues(sc.Name, "expired").Add(float64(len(alerts)))
		},
	}
	p.deliver = deliver
	return p, nil
}

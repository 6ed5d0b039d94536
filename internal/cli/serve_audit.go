package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/bulwark-k8s/bulwark/internal/alert"
	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/audit/archive"
	"github.com/bulwark-k8s/bulwark/internal/audit/index"
	"github.com/bulwark-k8s/bulwark/internal/audit/ingest"
)

// DefaultAuditDataDir holds the archive journal, the index, the alert
// spools and the pipeline's cursors unless --data-dir says otherwise.
const DefaultAuditDataDir = "/var/lib/bulwark/audit"

type auditServeFlags struct {
	enabled        bool
	dataDir        string
	archiveURL     string
	logs           []string
	tokenFile      string
	rules          []string
	noDefaultRules bool
	retention      time.Duration
	segmentAge     time.Duration
	segmentBytes   int64
	maxBatchBytes  int64
}

func (f *auditServeFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.enabled, "audit", false, "receive Kubernetes audit events (the API server's audit webhook on /audit, --audit-log files), archive every one, index them and alert on attacks")
	fl.StringVar(&f.dataDir, "data-dir", DefaultAuditDataDir, "audit: directory of the archive's journal, the index (index.db), the alert spools and read positions")
	fl.StringVar(&f.archiveURL, "archive-url", "", "audit: bucket of the archive: file:///path, azblob://container, s3://bucket (default file://<data-dir>/archive)")
	fl.StringArrayVar(&f.logs, "audit-log", nil, "audit: also follow this JSON-lines audit log (the API server's --audit-log-path), across rotation (repeatable)")
	fl.StringVar(&f.tokenFile, "audit-token-file", "", "audit: bearer tokens the audit webhook accepts, one per line (a client certificate signed by --client-ca-file is accepted too)")
	fl.StringArrayVar(&f.rules, "rules", nil, "audit: Falco rules file (k8s_audit source) to load after Bulwark's own (repeatable)")
	fl.BoolVar(&f.noDefaultRules, "no-default-rules", false, "audit: load only the --rules files and bulwark.yaml's audit.rules")
	fl.DurationVar(&f.retention, "audit-retention", 0, "audit: delete archived segments and index rows older than this (0 keeps everything)")
	fl.DurationVar(&f.segmentAge, "archive-segment-age", 5*time.Minute, "audit: seal and upload the open archive segment after this long")
	fl.Int64Var(&f.segmentBytes, "archive-segment-bytes", 64<<20, "audit: seal and upload the open archive segment at this uncompressed size")
	fl.Int64Var(&f.maxBatchBytes, "audit-max-batch-bytes", ingest.DefaultMaxBatchBytes, "audit: largest webhook batch, before and after gzip")
}

// auditComponent is the audit pipeline of bulwark serve --audit.
type auditComponent struct {
	receiver *ingest.Receiver // nil without webhook authentication
	pipeline *ingest.Pipeline
	archive  *archive.Archive
	index    *index.Index
	router   *alert.Router
	tails    []*ingest.Tail
	prune    time.Duration
	log      *slog.Logger
}

func newAuditComponent(ctx context.Context, f *serveFlags, reg *prometheus.Registry, log *slog.Logger) (c *auditComponent, err error) {
	af := &f.audit
	cfg, err := loadConfig(f.config)
	if err != nil {
		return nil, usageError(err)
	}
	var tokens *ingest.Tokens
	if af.tokenFile != "" {
		if tokens, err = ingest.LoadTokens(af.tokenFile); err != nil {
			return nil, usageError(fmt.Errorf("--audit-token-file: %w", err))
		}
	}
	webhook := tokens != nil || f.clientCAFile != ""
	if !webhook && len(af.logs) == 0 {
		return nil, usageError(errors.New("--audit needs a source: --audit-token-file or --client-ca-file to authenticate the API server's audit webhook, or --audit-log FILE"))
	}
	detector, err := detectEngine(cfg, af.rules, af.noDefaultRules)
	if err != nil {
		return nil, usageError(err)
	}
	alerts := cfg.Alerts
	if alerts.Spool.Dir == "" && !alerts.Spool.Memory {
		alerts.Spool.Dir = filepath.Join(af.dataDir, "spool")
	}
	if len(alerts.Sinks) == 0 {
		log.Info("alerts_to_stdout", "reason", "bulwark.yaml configures no alert sink")
		alerts.Sinks = []alert.SinkConfig{{Name: "stdout", Type: "stdout"}}
	}
	c = &auditComponent{prune: af.retention, log: log}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if c.router, err = alert.Build(alerts, log, alert.WithVersion(Version)); err != nil {
		return nil, usageError(err)
	}
	reg.MustRegister(c.router)
	url := af.archiveURL
	if url == "" {
		abs, err := filepath.Abs(filepath.Join(af.dataDir, "archive"))
		if err != nil {
			return nil, err
		}
		url = "file://" + filepath.ToSlash(abs)
	}
	if c.archive, err = archive.Open(ctx, archive.Options{
		URL:             url,
		JournalDir:      filepath.Join(af.dataDir, "journal"),
		MaxSegmentBytes: af.segmentBytes,
		MaxSegmentAge:   af.segmentAge,
		Retention:       af.retention,
		Logger:          log.With("component", "archive"),
	}); err != nil {
		return nil, fmt.Errorf("audit archive: %w", err)
	}
	if c.index, err = index.Open(ctx, index.IndexPath(af.dataDir)); err != nil {
		return nil, fmt.Errorf("audit index: %w", err)
	}
	m := ingest.NewMetrics(reg)
	if c.pipeline, err = ingest.NewPipeline(ingest.PipelineOptions{
		Archive:  c.archive,
		Index:    indexAdapter{c.index},
		Detector: detector,
		Alerts:   c.router,
		Cluster:  alerts.Cluster,
		StateDir: filepath.Join(af.dataDir, "state"),
		Metrics:  m,
		Logger:   log.With("component", "audit"),
	}); err != nil {
		return nil, err
	}
	if webhook {
		if c.receiver, err = ingest.NewReceiver(ingest.ReceiverOptions{
			Sink:               c.pipeline,
			Tokens:             tokens,
			ClientCertificates: f.clientCAFile != "",
			MaxBatchBytes:      af.maxBatchBytes,
			Metrics:            m,
			Logger:             log.With("component", "audit-webhook"),
		}); err != nil {
			return nil, usageError(err)
		}
	}
	for _, file := range af.logs {
		t, err := ingest.NewTail(ingest.TailOptions{
			Path: file, Sink: c.pipeline, StateDir: filepath.Join(af.dataDir, "state"),
			Metrics: m, Logger: log.With("component", "audit-file"),
		})
		if err != nil {
			return nil, usageError(err)
		}
		c.tails = append(c.tails, t)
	}
	log.Info("audit_pipeline", "archive", url, "data_dir", af.dataDir, "rules", len(detector.Rules()),
		"webhook", webhook, "files", af.logs, "sinks", c.router.Sinks())
	return c, nil
}

// indexAdapter gives the index the pipeline's entry type.
type indexAdapter struct{ ix *index.Index }

func (a indexAdapter) Last(ctx context.Context) (audit.Position, bool, error) { return a.ix.Last(ctx) }

func (a indexAdapter) Add(ctx context.Context, entries []ingest.Entry) error {
	out := make([]index.Entry, len(entries))
	for i, e := range entries {
		out[i] = index.Entry{Pos: e.Pos, Event: e.Event}
	}
	return a.ix.Add(ctx, out)
}

func (c *auditComponent) Register(mux *http.ServeMux) {
	if c.receiver != nil {
		mux.Handle(ingest.Path, c.receiver)
	}
}

func (c *auditComponent) Ready() error { return c.pipeline.Ready() }

// Run runs the archive, the alert router, the pipeline and the file
// sources. When ctx ends (after the HTTPS server has drained, so no batch
// is being received) the sources stop first, then the pipeline; the
// archive seals its open segment and the spools close.
func (c *auditComponent) Run(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	record := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	// The archive and the router outlive the pipeline, which hands them
	// its last batches.
	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { record(c.archive.Run(background)) })
	bg.Go(func() { record(c.router.Run(background)) })
	if c.prune > 0 {
		bg.Go(func() { c.pruneIndex(background) })
	}
	wg.Go(func() { record(c.pipeline.Run(ctx)) })
	for _, t := range c.tails {
		wg.Go(func() { record(t.Run(ctx)) })
	}
	wg.Wait()
	stopBackground()
	bg.Wait()
	c.close()
	return errors.Join(errs...)
}

func (c *auditComponent) pruneIndex(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := c.index.Prune(ctx, time.Now().Add(-c.prune))
		if err != nil && ctx.Err() == nil {
			c.log.Error("audit_index_prune_failed", "error", err)
		} else if n > 0 {
			c.log.Info("audit_index_pruned", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *auditComponent) close() {
	if c.archive != nil {
		if err := c.archive.Close(); err != nil {
			c.log.Error("audit_archive_close", "error", err)
		}
	}
	if c.index != nil {
		if err := c.index.Close(); err != nil {
			c.log.Error("audit_index_close", "error", err)
		}
	}
	if c.router != nil {
		if err := c.router.Close(); err != nil {
			c.log.Error("alert_router_close", "error", err)
		}
	}
}

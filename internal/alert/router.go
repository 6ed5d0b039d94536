package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/detect"
	"github.com/prometheus/client_golang/prometheus"
)

// Router routes alerts by priority and tags to named sinks, each behind
// its own spool, retry, rate limit and metrics.
//
// Lifecycle: Build returns it; its owner calls Run in a goroutine (it
// delivers until its context is cancelled and returns once every
// delivery goroutine has stopped), Send from any goroutine, before or
// during Run, and Close once after Run has returned. Alerts spooled but
// not delivered when Run stops are delivered by the next Run, in this
// process or (with a disk spool) the next one.
type Router struct {
	logger  *slog.Logger
	cluster string
	dedup   *Dedup
	routes  []route
	pipes   []*pipeline
	m       *metrics

	mu      sync.Mutex
	running bool
	closed  bool
}

var _ prometheus.Collector = (*Router)(nil)

type route struct {
	min   detect.Priority
	tags  map[string]bool
	pipes []*pipeline
}

// pipeline is one sink with its queue and stages.
type pipeline struct {
	name    string
	sink    Sink // closed by Router.Close when it is a Closer
	deliver Sink // sink wrapped in its stages
	q       queue
	batch   int
	dead    *deadLetter
	logger  *slog.Logger
	m       *metrics
}

// Send routes the alerts and spools each in every sink it is routed to.
// An alert without a cluster gets the router's; one without an ID gets
// its stable ID. Alerts seen within the dedup window are dropped. When
// Send returns nil every alert is durable in its sinks' spools (a disk
// spool has fsynced it) and will be delivered; on an error the caller
// may send the alerts again (a sink that did spool them may then deliver
// them twice).
func (r *Router) Send(ctx context.Context, alerts ...Alert) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return errors.New("alert router closed")
	}
	now := time.Now()
	batches := make(map[*pipeline][][]byte, len(r.pipes))
	var ids []string
	for i := range alerts {
		a := alerts[i]
		if a.Cluster == "" {
			a.Cluster = r.cluster
		}
		if a.ID == "" {
			a.ID = a.StableID()
		}
		targets := r.match(&a)
		if len(targets) == 0 {
			continue
		}
		if r.dedup != nil && r.dedup.Seen(a.ID, now) {
			r.m.deduplicated.Inc()
			continue
		}
		ids = append(ids, a.ID)
		data, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("encode alert %s: %w", a.ID, err)
		}
		for _, p := range targets {
			batches[p] = append(batches[p], data)
		}
	}
	var errs []error
	for _, p := range r.pipes {
		recs := batches[p]
		if len(recs) == 0 {
			continue
		}
		if err := p.q.Append(recs); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", p.name, err))
		}
		p.m.spooled.WithLabelValues(p.name).Set(float64(p.q.Size()))
	}
	if len(errs) > 0 {
		if r.dedup != nil {
			for _, id := range ids {
				r.dedup.Forget(id)
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

// match returns the pipelines an alert is routed to.
func (r *Router) match(a *Alert) []*pipeline {
	if len(r.routes) == 0 {
		return r.pipes
	}
	var out []*pipeline
	for _, rt := range r.routes {
		if a.Priority > rt.min || !rt.matchTags(a) {
			continue
		}
		for _, p := range rt.pipes {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func (rt *route) matchTags(a *Alert) bool {
	if len(rt.tags) == 0 {
		return true
	}
	if rt.tags[a.Check] {
		return true
	}
	for _, set := range [][]string{a.Tags, a.Requirements} {
		for _, t := range set {
			if rt.tags[t] {
				return true
			}
		}
	}
	return false
}

// Run delivers spooled alerts to every sink until ctx is cancelled, then
// waits for its delivery goroutines to stop. An alert whose delivery was
// interrupted stays spooled.
func (r *Router) Run(ctx context.Context) error {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return errors.New("alert router closed")
	case r.running:
		r.mu.Unlock()
		return errors.New("alert router already running")
	}
	r.running = true
	r.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range r.pipes {
		wg.Go(func() { p.run(ctx) })
	}
	wg.Wait()

	r.mu.Lock()
	r.running = false
	r.mu.Unlock()
	return nil
}

// Close closes the spools, dead-letter files and sinks. Call it after
// Run has returned.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return errors.New("alert router: Close while Run is running")
	}
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for _, p := range r.pipes {
		if err := p.q.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: close spool: %w", p.name, err))
		}
		if err := p.dead.close(); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", p.name, err))
		}
		if c, ok := p.sink.(Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("sink %s: close: %w", p.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Drain waits until every sink has delivered (or dropped) everything
// spooled, or ctx is done. Run must be running. A one-shot command calls
// it before cancelling Run.
func (r *Router) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		pending := false
		for _, p := range r.pipes {
			if p.q.Size() > 0 {
				pending = true
			}
		}
		if !pending {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Sinks returns the configured sink names, in configuration order.
func (r *Router) Sinks() []string {
	names := make([]string, len(r.pipes))
	for i, p := range r.pipes {
		names[i] = p.name
	}
	return names
}

// Describe implements prometheus.Collector.
func (r *Router) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range r.m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (r *Router) Collect(ch chan<- prometheus.Metric) {
	for _, p := range r.pipes {
		p.m.spooled.WithLabelValues(p.name).Set(float64(p.q.Size()))
	}
	for _, c := range r.m.collectors() {
		c.Collect(ch)
	}
}

// run is a pipeline's delivery goroutine.
func (p *pipeline) run(ctx context.Context) {
	for {
		recs, pos, err := p.q.Next(ctx, p.batch)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, errQueueClosed) {
				return
			}
			p.logger.Error("alert_spool_read_failed", "error", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		alerts := make([]Alert, 0, len(recs))
		for _, rec := range recs {
			var a Alert
			if err := json.Unmarshal(rec.data, &a); err != nil {
				p.logger.Error("alert_spool_record_corrupt", "error", err)
				p.m.dropped.WithLabelValues(p.name, "corrupt").Inc()
				continue
			}
			a.enqueued = rec.time
			alerts = append(alerts, a)
		}
		if len(alerts) > 0 {
			if _, err := p.deliver.Send(ctx, alerts...); err != nil {
				return // cancelled: the batch stays spooled
			}
		}
		if err := p.q.Ack(pos); err != nil {
			p.logger.Error("alert_spool_ack_failed", "error", err)
		}
		p.m.spooled.WithLabelValues(p.name).Set(float64(p.q.Size()))
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/alert"
	"github.com/bulwark-k8s/bulwark/internal/audit"
	"github.com/bulwark-k8s/bulwark/internal/detect"
)

// Archive keeps every event durably, in order (internal/audit/archive).
type Archive interface {
	// Append stores the raw events; they are durable when it returns nil.
	// The events of one call get consecutive positions in one segment,
	// starting at the position returned.
	Append(ctx context.Context, events [][]byte) (audit.Position, error)
	// Read calls fn for every event at or after from, in order.
	Read(ctx context.Context, from audit.Position, fn func(audit.Position, []byte) error) error
}

// Entry is one archived event.
type Entry struct {
	Pos   audit.Position
	Event *audit.Event
}

// Indexer indexes archived events; adding an entry twice keeps one.
type Indexer interface {
	Add(ctx context.Context, entries []Entry) error
	// Last is the highest position added; false when none was.
	Last(ctx context.Context) (audit.Position, bool, error)
}

// Alerter takes alerts; when Send returns nil they are durable in the
// sinks' spools (alert.Router).
type Alerter interface {
	Send(ctx context.Context, alerts ...alert.Alert) error
}

// PipelineOptions configure the pipeline.
type PipelineOptions struct {
	Archive  Archive
	Index    Indexer        // optional
	Detector *detect.Engine // optional
	Alerts   Alerter        // required with a Detector
	Cluster  string         // names the cluster in alerts
	// StateDir holds the detector's cursor: the position up to which
	// archived events have been judged and their alerts spooled.
	StateDir string
	// Queue is the number of batches each consumer holds before it
	// falls back to reading the archive (default 64).
	Queue   int
	Metrics *Metrics
	Logger  *slog.Logger
}

// Pipeline carries audit events from the receivers to the archive, then
// to two consumers: the detection rules, whose alerts go to the router,
// and the index.
//
// An event is archived first and durably; Ingest returns only then, and
// hands the batch to each consumer's queue without waiting: a consumer
// whose queue is full is marked behind and later reads what it missed
// back from the archive. Each consumer processes events in archive order
// and knows how far it got (the detector's cursor file, the index's last
// position), so after a crash it reads the rest back from the archive:
// an archived event is always indexed and judged, its alerts at least
// once. A slow index never delays an alert.
type Pipeline struct {
	opts PipelineOptions

	// mu serializes Append and the hand-over to the consumers, so batches
	// reach them in archive order.
	mu        sync.Mutex
	consumers []*consumer
	runs      atomic.Int32
}

type batch struct {
	pos      audit.Position
	events   []*audit.Event
	archived time.Time
}

// consumer is one of the pipeline's stages after the archive.
type consumer struct {
	name   string
	work   chan batch
	behind atomic.Bool // batches were dropped from work: read the archive
	ready  atomic.Bool
	next   audit.Position // first position not yet handled (Run only)
	handle func(ctx context.Context, pos audit.Position, events []*audit.Event) error
	saved  func(next audit.Position, force bool)
}

// NewPipeline returns the pipeline; Run starts its processing.
func NewPipeline(opts PipelineOptions) (*Pipeline, error) {
	if opts.Archive == nil {
		return nil, errors.New("audit pipeline: no archive")
	}
	if opts.Detector != nil && opts.Alerts == nil {
		return nil, errors.New("audit pipeline: detection rules without an alert router")
	}
	if opts.StateDir == "" {
		return nil, errors.New("audit pipeline: no state directory")
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("audit pipeline: %w", err)
	}
	if opts.Queue <= 0 {
		opts.Queue = 64
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{opts: opts}
	if opts.Detector != nil {
		c, err := p.detectConsumer()
		if err != nil {
			return nil, err
		}
		p.consumers = append(p.consumers, c)
	}
	if opts.Index != nil {
		c, err := p.indexConsumer()
		if err != nil {
			return nil, err
		}
		p.consumers = append(p.consumers, c)
	}
	return p, nil
}

func (p *Pipeline) detectConsumer() (*consumer, error) {
	file := filepath.Join(p.opts.StateDir, "cursor.json")
	next, err := readCursor(file)
	if err != nil {
		return nil, err
	}
	var last time.Time
	return &consumer{
		name: "detect", work: make(chan batch, p.opts.Queue), next: next,
		handle: p.detect,
		saved: func(next audit.Position, force bool) {
			if !force && time.Since(last) < time.Second {
				return
			}
			last = time.Now()
			data, _ := json.Marshal(cursorState{Next: next})
			if err := writeFileAtomic(file, data); err != nil {
				p.opts.Logger.Error("audit_cursor_not_saved", "error", err)
			}
		},
	}, nil
}

func (p *Pipeline) indexConsumer() (*consumer, error) {
	last, ok, err := p.opts.Index.Last(context.Background())
	if err != nil {
		return nil, fmt.Errorf("audit index: %w", err)
	}
	var next audit.Position
	if ok {
		next = audit.Position{Segment: last.Segment, Index: last.Index + 1}
	}
	return &consumer{
		name: "index", work: make(chan batch, p.opts.Queue), next: next,
		handle: p.index,
		saved:  func(audit.Position, bool) {}, // the index keeps its own
	}, nil
}

// Ingest archives the events in order and hands them to the consumers.
// When it returns nil they are durable.
func (p *Pipeline) Ingest(events []*audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	raws := make([][]byte, len(events))
	for i, ev := range events {
		raws[i] = oneLine(ev)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pos, err := p.opts.Archive.Append(context.Background(), raws)
	if err != nil {
		p.opts.Metrics.appendErrors.Inc()
		return fmt.Errorf("archive: %w", err)
	}
	p.opts.Metrics.archived.Add(float64(len(events)))
	b := batch{pos: pos, events: events, archived: time.Now()}
	for _, c := range p.consumers {
		select {
		case c.work <- b:
		default:
			// Full: the consumer reads this batch back from the archive.
			c.behind.Store(true)
		}
	}
	return nil
}

// oneLine is the event's JSON on one line: as received unless it was
// indented across lines.
func oneLine(ev *audit.Event) []byte {
	raw := []byte(ev.Raw())
	if raw == nil {
		raw, _ = json.Marshal(ev)
	}
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return raw
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw // a decoded event is valid JSON; not reached
	}
	return buf.Bytes()
}

// Ready is nil once every consumer has caught up with what the archive
// held when Run started.
func (p *Pipeline) Ready() error {
	for _, c := range p.consumers {
		if !c.ready.Load() {
			return fmt.Errorf("audit pipeline: %s catching up with the archive", c.name)
		}
	}
	return nil
}

// Run runs the consumers until ctx ends: each first handles what the
// archive holds beyond its position, then the batches Ingest hands it.
// Run may be called once.
func (p *Pipeline) Run(ctx context.Context) error {
	if p.runs.Add(1) != 1 {
		return errors.New("audit pipeline: Run called twice")
	}
	var (
		wg   sync.WaitGroup
		errs = make([]error, len(p.consumers))
	)
	for i, c := range p.consumers {
		wg.Go(func() { errs[i] = p.consume(ctx, c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *Pipeline) consume(ctx context.Context, c *consumer) error {
	defer func() { c.saved(c.next, true) }()
	if err := p.catchUp(ctx, c); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("audit pipeline: %s: catch up from %s: %w", c.name, c.next, err)
	}
	c.ready.Store(true)
	for {
		// Batches were dropped: read everything from the archive first.
		// Ingest marks the consumer behind before it queues any later
		// batch, so the mark is seen here before that batch is handled.
		if c.behind.Swap(false) {
			if err := p.catchUp(ctx, c); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("audit pipeline: %s: catch up from %s: %w", c.name, c.next, err)
			}
		}
		var b batch
		select {
		case <-ctx.Done():
			// Batches still queued are archived; the next Run reads
			// them back from there.
			return nil
		case b = <-c.work:
		}
		if c.behind.Load() {
			// Batches were dropped while this one waited in the queue:
			// the catch-up at the top reads them and this one (archived
			// before it was queued) in order.
			continue
		}
		if err := p.handle(ctx, c, b.pos, b.events); err != nil {
			return nil // ctx ended while retrying
		}
		if c.name == "detect" {
			p.opts.Metrics.lag.Observe(time.Since(b.archived).Seconds())
		}
	}
}

// catchUp handles what the archive holds from the consumer's position on.
func (p *Pipeline) catchUp(ctx context.Context, c *consumer) error {
	const chunk = 500
	var (
		events []*audit.Event
		first  audit.Position
		n      int
		from   = c.next
	)
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		err := p.handle(ctx, c, first, events)
		events = events[:0]
		return err
	}
	err := p.opts.Archive.Read(ctx, c.next, func(pos audit.Position, raw []byte) error {
		ev, err := audit.Decode(raw)
		if err != nil {
			// The archive only holds decoded events; a bad one was
			// damaged at rest, which audit verify reports.
			p.opts.Logger.Error("archived_event_unreadable", "position", pos.String(), "error", err)
			return nil
		}
		if len(events) > 0 && (pos.Segment != first.Segment || pos.Index != first.Index+uint64(len(events))) {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(events) == 0 {
			first = pos
		}
		events = append(events, ev)
		n++
		if len(events) == chunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if n > 0 {
		p.opts.Logger.Info("audit_caught_up", "consumer", c.name, "events", n, "from", from.String(), "next", c.next.String())
	}
	return err
}

// handle gives the consumer the events archived from pos on, skipping
// those before its position, retrying (with backoff) until it succeeds or
// ctx ends; then it moves the consumer's position.
func (p *Pipeline) handle(ctx context.Context, c *consumer, pos audit.Position, events []*audit.Event) error {
	if pos.Less(c.next) {
		skip := len(events)
		if pos.Segment == c.next.Segment {
			skip = int(min(c.next.Index-pos.Index, uint64(len(events))))
		}
		events = events[skip:]
		pos.Index += uint64(skip)
		if len(events) == 0 {
			return nil
		}
	}
	wait := 100 * time.Millisecond
	for {
		err := c.handle(ctx, pos, events)
		if err == nil {
			break
		}
		p.opts.Metrics.stageErrors.WithLabelValues(c.name).Inc()
		p.opts.Logger.Error("audit_processing_failed", "stage", c.name, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
	c.next = audit.Position{Segment: pos.Segment, Index: pos.Index + uint64(len(events))}
	c.saved(c.next, false)
	return nil
}

// detect runs the rules on the events and spools their alerts.
func (p *Pipeline) detect(ctx context.Context, _ audit.Position, events []*audit.Event) error {
	var alerts []alert.Alert
	for _, ev := range events {
		for _, d := range p.opts.Detector.Evaluate(ev) {
			alerts = append(alerts, alert.New(d, p.opts.Cluster))
		}
	}
	if len(alerts) > 0 {
		if err := p.opts.Alerts.Send(ctx, alerts...); err != nil {
			return err
		}
		for _, a := range alerts {
			p.opts.Metrics.alerts.WithLabelValues(a.Rule, a.Priority.String()).Inc()
		}
	}
	p.opts.Metrics.processed.Add(float64(len(events)))
	return nil
}

// index adds the events to the index.
func (p *Pipeline) index(ctx context.Context, pos audit.Position, events []*audit.Event) error {
	entries := make([]Entry, len(events))
	for i, ev := range events {
		entries[i] = Entry{Pos: audit.Position{Segment: pos.Segment, Index: pos.Index + uint64(i)}, Event: ev}
	}
	if err := p.opts.Index.Add(ctx, entries); err != nil {
		return err
	}
	p.opts.Metrics.indexed.Add(float64(len(events)))
	return nil
}

type cursorState struct {
	Next audit.Position `json:"next"`
}

func readCursor(file string) (audit.Position, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return audit.Position{}, nil
	}
	if err != nil {
		return audit.Position{}, fmt.Errorf("audit pipeline cursor: %w", err)
	}
	var c cursorState
	if err := json.Unmarshal(data, &c); err != nil {
		return audit.Position{}, fmt.Errorf("audit pipeline cursor %s: %w (delete it to reprocess the whole archive)", file, err)
	}
	return c.Next, nil
}

func writeFileAtomic(file string, data []byte) error {
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

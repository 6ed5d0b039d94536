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
	// StateDir holds the cursor: the position up to which archived
	// events have been indexed and their alerts spooled.
	StateDir string
	// Queue is the number of batches archived but not yet processed
	// before Ingest waits (default 256).
	Queue   int
	Metrics *Metrics
	Logger  *slog.Logger
}

// Pipeline carries audit events from the receivers to the archive, then
// to the index and the detection rules, whose alerts go to the router.
//
// An event is archived first and durably; Ingest returns only then. The
// rest happens in Run, in archive order. Run records how far it got (the
// cursor); after a crash the next Run reads what lies beyond the cursor
// back from the archive, so an archived event is always indexed and
// judged, its alerts at least once.
type Pipeline struct {
	opts PipelineOptions

	// mu serializes Append and the hand-over to Run, so batches reach Run
	// in archive order.
	mu      sync.Mutex
	work    chan batch
	ready   atomic.Bool
	stopped chan struct{} // closed when Run returns

	cursorFile string
	next       audit.Position // the first position not yet processed (Run only)
	saved      time.Time
}

type batch struct {
	pos      audit.Position
	events   []*audit.Event
	archived time.Time
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
		opts.Queue = 256
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{opts: opts, work: make(chan batch, opts.Queue), stopped: make(chan struct{}),
		cursorFile: filepath.Join(opts.StateDir, "cursor.json")}
	next, err := readCursor(p.cursorFile)
	if err != nil {
		return nil, err
	}
	p.next = next
	return p, nil
}

// Ingest archives the events in order and queues them for processing.
// When it returns nil they are durable. It waits while the queue is full.
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
	select {
	case p.work <- batch{pos: pos, events: events, archived: time.Now()}:
	case <-p.stopped:
		// Archived; the next Run processes them from the archive.
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

// Ready is nil once Run has caught up with what the archive held when it
// started.
func (p *Pipeline) Ready() error {
	if !p.ready.Load() {
		return errors.New("audit pipeline: catching up with the archive")
	}
	return nil
}

// Run first processes what the archive holds beyond the cursor (events
// archived by an earlier process that were not processed), then every
// batch Ingest archives, until ctx ends. It saves the cursor as it goes
// and when it stops.
func (p *Pipeline) Run(ctx context.Context) error {
	defer close(p.stopped)
	defer p.saveCursor()
	if err := p.catchUp(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("audit pipeline: catch up from %s: %w", p.next, err)
	}
	p.ready.Store(true)
	for {
		select {
		case <-ctx.Done():
			// Batches still queued are archived; the next Run reads them
			// back from there.
			return nil
		case b := <-p.work:
			if err := p.process(ctx, b.pos, b.events); err != nil {
				return nil // ctx ended while retrying
			}
			p.opts.Metrics.lag.Observe(time.Since(b.archived).Seconds())
		}
	}
}

func (p *Pipeline) catchUp(ctx context.Context) error {
	const chunk = 500
	var (
		events []*audit.Event
		first  audit.Position
		n      int
	)
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		err := p.process(ctx, first, events)
		events = events[:0]
		return err
	}
	err := p.opts.Archive.Read(ctx, p.next, func(pos audit.Position, raw []byte) error {
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
		p.opts.Logger.Info("audit_caught_up", "events", n, "next", p.next.String())
	}
	return err
}

// process indexes the events archived from pos on and spools their
// alerts, retrying (with backoff) until it succeeds or ctx ends; then it
// moves the cursor. Events before the cursor are skipped.
func (p *Pipeline) process(ctx context.Context, pos audit.Position, events []*audit.Event) error {
	if pos.Segment < p.next.Segment || pos.Segment == p.next.Segment && pos.Index < p.next.Index {
		skip := 0
		if pos.Segment == p.next.Segment {
			skip = int(p.next.Index - pos.Index)
		} else {
			skip = len(events)
		}
		if skip >= len(events) {
			return nil
		}
		events = events[skip:]
		pos.Index += uint64(skip)
	}
	var alerts []alert.Alert
	if p.opts.Detector != nil {
		for _, ev := range events {
			for _, d := range p.opts.Detector.Evaluate(ev) {
				alerts = append(alerts, alert.New(d, p.opts.Cluster))
				p.opts.Metrics.alerts.WithLabelValues(d.Rule, d.Priority.String()).Inc()
			}
		}
	}
	if p.opts.Index != nil {
		entries := make([]Entry, len(events))
		for i, ev := range events {
			entries[i] = Entry{Pos: audit.Position{Segment: pos.Segment, Index: pos.Index + uint64(i)}, Event: ev}
		}
		if err := p.retry(ctx, "index", func() error { return p.opts.Index.Add(ctx, entries) }); err != nil {
			return err
		}
	}
	if len(alerts) > 0 {
		if err := p.retry(ctx, "alerts", func() error { return p.opts.Alerts.Send(ctx, alerts...) }); err != nil {
			return err
		}
	}
	p.opts.Metrics.processed.Add(float64(len(events)))
	p.next = audit.Position{Segment: pos.Segment, Index: pos.Index + uint64(len(events))}
	if time.Since(p.saved) >= time.Second {
		p.saveCursor()
	}
	return nil
}

func (p *Pipeline) retry(ctx context.Context, stage string, fn func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		p.opts.Metrics.stageErrors.WithLabelValues(stage).Inc()
		p.opts.Logger.Error("audit_processing_failed", "stage", stage, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
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

// saveCursor writes the cursor atomically. It is not fsynced: after a
// power loss an older cursor only means some events are processed twice.
func (p *Pipeline) saveCursor() {
	p.saved = time.Now()
	data, _ := json.Marshal(cursorState{Next: p.next})
	if err := writeFileAtomic(p.cursorFile, data); err != nil {
		p.opts.Logger.Error("audit_cursor_not_saved", "error", err)
	}
}

func writeFileAtomic(file string, data []byte) error {
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

package alert

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Retry is the stage that retries a sink's failures worth retrying, with
// exponential backoff and jitter, until they succeed, the receiver
// rejects them, they outlive MaxAge, or ctx is done. It returns an error
// only in the last case (with retry true): every other outcome is final
// and reported through the callbacks, so its caller may acknowledge the
// batch.
type Retry struct {
	Next Sink
	// InitialBackoff doubles after each failed attempt up to MaxBackoff;
	// each wait is drawn between half and all of it. A receiver's
	// Retry-After raises the wait.
	InitialBackoff, MaxBackoff time.Duration
	// MaxAge drops alerts spooled longer ago than it before an attempt
	// (0: never).
	MaxAge time.Duration
	// OnRetry is told of each failed attempt that will be retried.
	OnRetry func(alerts []Alert, err error, wait time.Duration)
	// OnReject receives the alerts a receiver refused.
	OnReject func(alerts []Alert, err error)
	// OnExpire receives the alerts dropped by MaxAge.
	OnExpire func(alerts []Alert)
}

var _ Sink = (*Retry)(nil)

// Send implements Sink.
func (r *Retry) Send(ctx context.Context, alerts ...Alert) (bool, error) {
	pending := alerts
	for attempt := 0; ; attempt++ {
		pending = r.expire(pending)
		if len(pending) == 0 {
			return false, nil
		}
		retry, err := r.Next.Send(ctx, pending...)
		if err == nil {
			return false, nil
		}
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		var pe *PartialError
		switch {
		case errors.As(err, &pe):
			if len(pe.Rejected) > 0 && r.OnReject != nil {
				r.OnReject(pe.Rejected, pe.Err)
			}
			if len(pe.Retry) == 0 {
				return false, nil
			}
			pending, err = pe.Retry, pe.Err
		case !retry:
			if r.OnReject != nil {
				r.OnReject(pending, err)
			}
			return false, nil
		}
		wait := r.backoff(attempt)
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) && ra.RetryAfter() > wait {
			wait = ra.RetryAfter()
		}
		if r.OnRetry != nil {
			r.OnRetry(pending, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return true, ctx.Err()
		case <-t.C:
		}
	}
}

func (r *Retry) backoff(attempt int) time.Duration {
	d := r.InitialBackoff
	if d <= 0 {
		d = defaultInitial
	}
	for i := 0; i < attempt && d < r.MaxBackoff; i++ {
		d *= 2
	}
	if r.MaxBackoff > 0 && d > r.MaxBackoff {
		d = r.MaxBackoff
	}
	half := d / 2
	return half + rand.N(half+1)
}

func (r *Retry) expire(alerts []Alert) []Alert {
	if r.MaxAge <= 0 {
		return alerts
	}
	cutoff := time.Now().Add(-r.MaxAge)
	var keep, old []Alert
	for _, a := range alerts {
		if !a.enqueued.IsZero() && a.enqueued.Before(cutoff) {
			old = append(old, a)
		} else {
			keep = append(keep, a)
		}
	}
	if len(old) > 0 && r.OnExpire != nil {
		r.OnExpire(old)
	}
	return keep
}

// RateLimit is the stage that delays sends to stay within PerSecond
// alerts per second, with bursts of up to Burst.
type RateLimit struct {
	Next      Sink
	PerSecond float64
	Burst     int

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

var _ Sink = (*RateLimit)(nil)

// Send implements Sink.
func (l *RateLimit) Send(ctx context.Context, alerts ...Alert) (bool, error) {
	if err := l.wait(ctx, len(alerts)); err != nil {
		return true, err
	}
	return l.Next.Send(ctx, alerts...)
}

func (l *RateLimit) wait(ctx context.Context, n int) error {
	if l.PerSecond <= 0 {
		return nil
	}
	burst := float64(max(l.Burst, 1))
	for n > 0 {
		l.mu.Lock()
		now := time.Now()
		if l.last.IsZero() {
			l.tokens = burst
		} else {
			l.tokens = min(burst, l.tokens+now.Sub(l.last).Seconds()*l.PerSecond)
		}
		l.last = now
		take := min(float64(n), burst)
		var delay time.Duration
		if l.tokens >= take {
			l.tokens -= take
			n -= int(take)
		} else {
			delay = time.Duration((take - l.tokens) / l.PerSecond * float64(time.Second))
		}
		l.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
	return nil
}

// Dedup remembers alert IDs for a window: the router drops an alert whose
// ID it saw less than Window ago, before routing and spooling it. It
// remembers at most MaxEntries IDs, forgetting the oldest first.
type Dedup struct {
	window time.Duration
	max    int

	mu    sync.Mutex
	seen  map[string]time.Time
	order []dedupEntry // insertion order, for expiry; order[head:] are live
	head  int
}

type dedupEntry struct {
	id string
	at time.Time
}

// NewDedup returns a dedup window of the given length.
func NewDedup(window time.Duration, maxEntries int) *Dedup {
	return &Dedup{window: window, max: maxEntries, seen: map[string]time.Time{}}
}

// Seen reports whether id was seen within the window, and remembers it
// if it was not.
func (d *Dedup) Seen(id string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.prune(now)
	if at, ok := d.seen[id]; ok && now.Sub(at) < d.window {
		return true
	}
	d.seen[id] = now
	d.order = append(d.order, dedupEntry{id, now})
	return false
}

// Forget removes id, so that the alert is accepted again (used when it
// could not be spooled).
func (d *Dedup) Forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, id)
}

func (d *Dedup) prune(now time.Time) {
	for d.head < len(d.order) {
		e := d.order[d.head]
		if now.Sub(e.at) < d.window && (d.max <= 0 || len(d.order)-d.head <= d.max) {
			break
		}
		if at, ok := d.seen[e.id]; ok && at.Equal(e.at) {
			delete(d.seen, e.id)
		}
		d.order[d.head] = dedupEntry{}
		d.head++
	}
	if d.head > 1024 && d.head > len(d.order)/2 {
		d.order = append(d.order[:0:0], d.order[d.head:]...)
		d.head = 0
	}
}

package alert

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the router's Prometheus metrics, labelled by sink. They
// belong to one Router (no global registry): the Router is a
// prometheus.Collector its owner registers.
type metrics struct {
	sent, failed, retried *prometheus.CounterVec
	dropped               *prometheus.CounterVec
	spooled               *prometheus.GaugeVec
	sendSeconds           *prometheus.HistogramVec
	deliverySeconds       *prometheus.HistogramVec
	deduplicated          prometheus.Counter
}

func newMetrics() *metrics {
	const ns, sub = "bulwark", "alert"
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	return &metrics{
		sent:    counter("sent_total", "Alerts a sink delivered.", "sink"),
		failed:  counter("failed_total", "Alerts in failed send attempts (each attempt counts).", "sink"),
		retried: counter("retried_total", "Alerts sent again after a failed attempt.", "sink"),
		dropped: counter("dropped_total", "Alerts a sink will never deliver, by reason: rejected (dead-lettered), expired, spool_full, corrupt.", "sink", "reason"),
		spooled: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "spooled_bytes",
			Help: "Bytes of alerts spooled and not yet delivered."}, []string{"sink"}),
		sendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "send_duration_seconds",
			Help: "Duration of one send attempt of a batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"sink"}),
		deliverySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "delivery_latency_seconds",
			Help: "Time from spooling an alert to its delivery.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 20)}, []string{"sink"}),
		deduplicated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "deduplicated_total",
			Help: "Alerts dropped by the dedup window."}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.sent, m.failed, m.retried, m.dropped, m.spooled, m.sendSeconds, m.deliverySeconds, m.deduplicated}
}

// instrumented is the innermost stage: it times each attempt and counts
// what the sink delivered and what failed.
type instrumented struct {
	next Sink
	name string
	m    *metrics
}

func (s *instrumented) Send(ctx context.Context, alerts ...Alert) (bool, error) {
	start := time.Now()
	retry, err := s.next.Send(ctx, alerts...)
	end := time.Now()
	s.m.sendSeconds.WithLabelValues(s.name).Observe(end.Sub(start).Seconds())
	var failed map[string]bool
	if err != nil {
		failed = map[string]bool{}
		var pe *PartialError
		if errors.As(err, &pe) {
			for _, set := range [][]Alert{pe.Retry, pe.Rejected} {
				for _, a := range set {
					failed[a.ID] = true
				}
			}
		} else {
			for _, a := range alerts {
				failed[a.ID] = true
			}
		}
	}
	latency := s.m.deliverySeconds.WithLabelValues(s.name)
	sent := 0
	for _, a := range alerts {
		if failed[a.ID] {
			continue
		}
		sent++
		if !a.enqueued.IsZero() {
			latency.Observe(end.Sub(a.enqueued).Seconds())
		}
	}
	s.m.sent.WithLabelValues(s.name).Add(float64(sent))
	s.m.failed.WithLabelValues(s.name).Add(float64(len(failed)))
	return retry, err
}

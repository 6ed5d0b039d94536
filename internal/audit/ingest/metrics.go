package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the audit pipeline's Prometheus metrics.
type Metrics struct {
	batches      *prometheus.CounterVec
	received     prometheus.Counter
	rejected     prometheus.Counter
	batchSeconds prometheus.Histogram
	archived     prometheus.Counter
	appendErrors prometheus.Counter
	processed    prometheus.Counter
	indexed      prometheus.Counter
	alerts       *prometheus.CounterVec
	lag          prometheus.Histogram
	stageErrors  *prometheus.CounterVec
	tailLines    *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_audit_webhook_batches_total",
			Help: "Audit webhook batches answered, by result (ok, unauthenticated, malformed, too_large, store_failed, ...).",
		}, []string{"result"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bulwark_audit_webhook_events_total",
			Help: "Audit events received by the webhook and stored.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bulwark_audit_events_rejected_total",
			Help: "Items of webhook batches or lines of audit log files that are not audit events.",
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bulwark_audit_webhook_batch_duration_seconds",
			Help:    "Time from receiving a webhook batch to answering it (after the events are durable).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		archived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bulwark_audit_events_archived_total",
			Help: "Audit events durably appended to the archive.",
		}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bulwark_audit_archive_errors_total",
			Help: "Batches the archive could not store.",
		}),
		processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bulwark_audit_events_detected_total",
			Help: "Archived audit events run through the detection rules (their alerts spooled).",
		}),
		indexed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bulwark_audit_events_indexed_total",
			Help: "Archived audit events added to the index.",
		}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_audit_alerts_total",
			Help: "Alerts raised by the detection rules, by rule and priority.",
		}, []string{"rule", "priority"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bulwark_audit_processing_lag_seconds",
			Help:    "Time from archiving a batch to having judged it and handed its alerts to the sinks' spools.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		stageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_audit_processing_errors_total",
			Help: "Failures to index archived events or to spool their alerts, by stage (index, detect); retried.",
		}, []string{"stage"}),
		tailLines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_audit_file_lines_total",
			Help: "Lines read from audit log files, by file.",
		}, []string{"file"}),
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.received, m.rejected, m.batchSeconds, m.archived, m.appendErrors,
			m.processed, m.indexed, m.alerts, m.lag, m.stageErrors, m.tailLines)
	}
	return m
}

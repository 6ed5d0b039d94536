package admission

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhook's Prometheus metrics. One Metrics is registered
// on one registry; pass it to every handler and background loop that
// reports.
type Metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	violations *prometheus.CounterVec
	errors     *prometheus.CounterVec
	mutations  *prometheus.CounterVec
	inventory  prometheus.Gauge
	audits     prometheus.Histogram
	auditFound *prometheus.GaugeVec
	policies   *prometheus.CounterVec
}

// Decisions, the decision label of bulwark_admission_requests_total.
const (
	DecisionAllowed  = "allowed"
	DecisionDenied   = "denied"
	DecisionWarned   = "warned"
	DecisionExempt   = "exempt"
	DecisionError    = "error"
	DecisionBadInput = "bad_request"
)

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_admission_requests_total",
			Help: "AdmissionReviews answered, by webhook (validate, mutate), operation and decision (allowed, warned, denied, exempt, error, bad_request).",
		}, []string{"webhook", "operation", "decision"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bulwark_admission_request_duration_seconds",
			Help:    "Time from receiving an AdmissionReview to having written the answer, by webhook.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"webhook"}),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_admission_violations_total",
			Help: "Policy violations found at admission, by check and enforcement action (deny, warn, dryrun).",
		}, []string{"check", "action"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_admission_errors_total",
			Help: "Reviews that could not be fully evaluated, by webhook and the failure policy applied.",
		}, []string{"webhook", "failure_policy"}),
		mutations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_admission_mutations_total",
			Help: "JSONPatch operations returned by the mutating webhook, by mutation.",
		}, []string{"mutation"}),
		inventory: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bulwark_inventory_objects",
			Help: "Objects in the policy engine's inventory (data.inventory).",
		}),
		audits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bulwark_audit_duration_seconds",
			Help:    "Duration of one background audit cycle (review of every object and report writing).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
		}),
		auditFound: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_audit_violations",
			Help: "Violations found by the last background audit cycle, by check and enforcement action.",
		}, []string{"check", "action"}),
		policies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_policy_sync_total",
			Help: "ConstraintTemplates and constraints loaded from the cluster, by kind (template, constraint) and result (added, removed, error).",
		}, []string{"kind", "result"}),
	}
	reg.MustRegister(m.requests, m.duration, m.violations, m.errors, m.mutations, m.inventory, m.audits, m.auditFound, m.policies)
	return m
}

package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/detect"
)

// Alert is one detection delivered to sinks. Its JSON form is what the
// stdout, file and webhook sinks write.
type Alert struct {
	// ID identifies the alert for deduplication and idempotent delivery:
	// the same rule firing on the same audit event in the same cluster
	// always has the same ID.
	ID       string          `json:"id"`
	Rule     string          `json:"rule"`
	Priority detect.Priority `json:"priority"`
	// Time is when the audited request happened.
	Time time.Time `json:"time"`
	// Output is the rule's output text with its fields substituted.
	Output string `json:"output"`
	// Fields are the fields the output uses, keyed as written in the rule
	// ("ka.user.name"); "<NA>" marks a missing value.
	Fields       map[string]string `json:"fields,omitempty"`
	AuditID      string            `json:"auditID,omitempty"`
	Requirements []string          `json:"requirements,omitempty"`
	Check        string            `json:"check,omitempty"`
	Tags         []string          `json:"tags,omitempty"`
	Source       string            `json:"source,omitempty"`
	Cluster      string            `json:"cluster,omitempty"`

	// enqueued is when the alert entered its sink's spool; set when it is
	// read back, used for the age bound and the delivery latency.
	enqueued time.Time
}

// New builds an alert from a detection, for the named cluster, with its
// ID set.
func New(d detect.Alert, cluster string) Alert {
	a := Alert{
		Rule:         d.Rule,
		Priority:     d.Priority,
		Time:         d.Time,
		Output:       d.Output,
		Fields:       d.Fields,
		AuditID:      d.AuditID,
		Requirements: slices.Clone(d.Requirements),
		Check:        d.Check,
		Tags:         slices.Clone(d.Tags),
		Source:       d.Source,
		Cluster:      cluster,
	}
	a.ID = a.StableID()
	return a
}

// StableID computes the alert's ID from its cluster, source, rule and
// audit event ID; an alert without an audit ID is identified by its time
// and output instead.
func (a Alert) StableID() string {
	h := sha256.New()
	for _, s := range []string{a.Cluster, a.Source, a.Rule} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if a.AuditID != "" {
		h.Write([]byte("audit\x00" + a.AuditID))
	} else {
		h.Write([]byte("time\x00" + a.Time.UTC().Format(time.RFC3339Nano) + "\x00" + a.Output))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// field returns the rendered value of an output field, or "" when the
// rule did not use it or it was not available.
func (a *Alert) field(name string) string {
	v := a.Fields[name]
	if v == "<NA>" {
		return ""
	}
	return v
}

// fieldList returns a list field's values ("(a,b)" as rendered by the
// detector), or a scalar field as one value.
func (a *Alert) fieldList(name string) []string {
	v := a.field(name)
	if v == "" {
		return nil
	}
	if strings.HasPrefix(v, "(") && strings.HasSuffix(v, ")") {
		v = v[1 : len(v)-1]
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	return []string{v}
}

// sourceIP is the first client address of the audited request.
func (a *Alert) sourceIP() string {
	if ips := a.fieldList("ka.sourceips"); len(ips) > 0 {
		return ips[0]
	}
	return ""
}

// eventClass is the alert's check ID, or its rule name without one (the
// CEF Device Event Class ID).
func (a *Alert) eventClass() string {
	if a.Check != "" {
		return a.Check
	}
	return a.Rule
}

// severity10 maps the priority onto the 0-10 scale CEF and ECS use:
// ArcSight reads 0-3 as low, 4-6 medium, 7-8 high, 9-10 very high.
func severity10(p detect.Priority) int {
	switch p {
	case detect.PriorityEmergency, detect.PriorityAlert:
		return 10
	case detect.PriorityCritical:
		return 9
	case detect.PriorityError:
		return 7
	case detect.PriorityWarning:
		return 5
	case detect.PriorityNotice:
		return 3
	case detect.PriorityInformational:
		return 1
	}
	return 0
}

// syslogSeverity maps the priority onto RFC 5424's severities, which
// Falco's priorities copy one for one (Emergency 0 .. Debug 7).
func syslogSeverity(p detect.Priority) int {
	if p < detect.PriorityEmergency || p > detect.PriorityDebug {
		return int(detect.PriorityWarning)
	}
	return int(p)
}

// epochMillis is t as milliseconds since the Unix epoch.
func epochMillis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

package detect

import (
	"fmt"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// Priority is a Falco rule priority, from Emergency (most severe) to Debug.
type Priority int

// Priorities in Falco's order, most severe first.
const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// String returns the priority as Falco prints it ("Warning").
func (p Priority) String() string {
	if p < PriorityEmergency || p > PriorityDebug {
		return fmt.Sprintf("Priority(%d)", int(p))
	}
	return priorityNames[p]
}

// ParsePriority parses a priority name, case-insensitively; "info" is
// accepted for Informational, as Falco does.
func ParsePriority(s string) (Priority, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	if n == "info" {
		return PriorityInformational, nil
	}
	for i, name := range priorityNames {
		if strings.ToLower(name) == n {
			return Priority(i), nil
		}
	}
	return 0, fmt.Errorf("invalid priority %q (want one of emergency, alert, critical, error, warning, notice, informational, debug)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Severity maps a priority onto the catalog's severities: Emergency,
// Alert and Critical are critical; Error is high; Warning is medium;
// Notice is low; Informational and Debug are info.
func (p Priority) Severity() controls.Severity {
	switch {
	case p <= PriorityCritical:
		return controls.Critical
	case p == PriorityError:
		return controls.High
	case p == PriorityWarning:
		return controls.Medium
	case p == PriorityNotice:
		return controls.Low
	}
	return controls.Info
}

package posture

import (
	"fmt"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// Check is one posture check. Evaluate is called once per cluster with
// the run's settings and must not modify the cluster.
type Check interface {
	Meta() controls.Check
	Evaluate(c *Cluster, s *Settings) Verdict
}

// Status is a check's outcome on one cluster.
type Status uint8

// Outcomes.
const (
	// Unknown: the input does not tell (a missing or unresolved field);
	// the check is reported "not assessed" with Reason.
	Unknown Status = iota
	Pass
	Fail
	// NotApplicable: the check does not apply to this cluster (Reason
	// says why); it is reported "not assessed" too.
	NotApplicable
)

// String names the status as reports do.
func (s Status) String() string {
	return [...]string{"not assessed", "pass", "fail", "not applicable"}[s]
}

// Verdict is the outcome of a check on one cluster.
type Verdict struct {
	Status Status
	// Reason explains Unknown and NotApplicable, naming the missing field.
	Reason string
	// Failures say what is wrong and where (Fail only).
	Failures []Failure
}

// Failure is one thing a check found wrong.
type Failure struct {
	Message string
	// Line of the offending field (0: the cluster's line).
	Line int
	// Object is set when the failure is about another resource than the
	// cluster (a public IP, a resource in another region).
	Object *controls.ObjectRef
	File   string
}

func pass() Verdict { return Verdict{Status: Pass} }

func failAt(line int, format string, args ...any) Verdict {
	return Verdict{Status: Fail, Failures: []Failure{{Message: fmt.Sprintf(format, args...), Line: line}}}
}

func unknownBecause(why string) Verdict { return Verdict{Status: Unknown, Reason: why} }

func notApplicable(why string) Verdict { return Verdict{Status: NotApplicable, Reason: why} }

// Settings are what the configuration says the checks compare against.
type Settings struct {
	// AllowedRegions, normalised ("eastus"); empty means the region check
	// is not assessed.
	AllowedRegions []string
	// AllowedResourceGroups may hold public IPs.
	AllowedResourceGroups []string
	// Versions is the supported Kubernetes minor versions table.
	Versions VersionTable
	// Disabled checks are not run.
	Disabled map[string]bool
	// Invalid holds checks whose parameters cannot be used, with why.
	Invalid map[string]string
}

// NewSettings derives the settings from a configuration.
func NewSettings(cfg *config.Config) *Settings {
	if cfg == nil {
		cfg = config.Default()
	}
	s := &Settings{Versions: Supported, Disabled: map[string]bool{}, Invalid: map[string]string{}}
	for _, r := range cfg.Regions.Allowed {
		s.AllowedRegions = append(s.AllowedRegions, normRegion(r))
	}
	s.AllowedResourceGroups = append(s.AllowedResourceGroups, cfg.PublicExposure.AllowedResourceGroups...)
	for id, cc := range cfg.Checks {
		if cc.Disabled {
			s.Disabled[id] = true
		}
	}
	if p, ok := cfg.Check(idVersion).Parameters["supportedMinorVersions"]; ok {
		vt, err := versionsFromParameter(p)
		if err != nil {
			s.Invalid[idVersion] = fmt.Sprintf("checks.%s.parameters.supportedMinorVersions: %v", idVersion, err)
		} else {
			s.Versions = vt
		}
	}
	return s
}

// ValidateConfig reports configuration the posture checks cannot use.
func ValidateConfig(cfg *config.Config) error {
	s := NewSettings(cfg)
	var msgs []string
	for _, m := range s.Invalid {
		msgs = append(msgs, m)
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return nil
}

// resourceGroupAllowed matches a resource group against the allow-list
// (case-insensitive, '*' at either end as a wildcard).
func (s *Settings) resourceGroupAllowed(rg string) bool {
	rg = strings.ToLower(rg)
	for _, a := range s.AllowedResourceGroups {
		a = strings.ToLower(a)
		switch {
		case a == "*":
			return true
		case strings.HasPrefix(a, "*") && strings.HasSuffix(a, "*") && len(a) > 1:
			if strings.Contains(rg, a[1:len(a)-1]) {
				return true
			}
		case strings.HasPrefix(a, "*"):
			if strings.HasSuffix(rg, a[1:]) {
				return true
			}
		case strings.HasSuffix(a, "*"):
			if strings.HasPrefix(rg, a[:len(a)-1]) {
				return true
			}
		case a == rg:
			return true
		}
	}
	return false
}

func (s *Settings) regionAllowed(loc string) bool {
	loc = normRegion(loc)
	for _, a := range s.AllowedRegions {
		if a == loc {
			return true
		}
	}
	return false
}

// check implements Check with a function.
type check struct {
	meta controls.Check
	eval func(c *Cluster, s *Settings) Verdict
	// inventory checks also run on files without a cluster.
	inventory bool
}

// Meta returns the catalog entry.
func (k *check) Meta() controls.Check { return k.meta }

// Evaluate runs the check on one cluster.
func (k *check) Evaluate(c *Cluster, s *Settings) Verdict { return k.eval(c, s) }

var _ Check = (*check)(nil)

// Checks returns the catalog entries of every posture check, sorted by ID.
func Checks() []controls.Check {
	all := builtin()
	out := make([]controls.Check, len(all))
	for i, k := range all {
		out[i] = k.Meta()
	}
	return out
}

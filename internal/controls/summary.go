package controls

import (
	"sort"
	"strings"
)

// Requirement statuses in the compliance summary.
const (
	StatusPass        = "pass"
	StatusFail        = "fail"
	StatusNotAssessed = "not assessed"
)

// Coverage records which checks an engine evaluated, and on how many
// objects, and which it could not evaluate and why. Engines fill one in per
// run; the summary uses it to tell "passed" from "not assessed".
type Coverage struct {
	Evaluated   map[string]int    `json:"evaluated,omitempty"`
	NotAssessed map[string]string `json:"notAssessed,omitempty"`
}

// Evaluated records that check id ran on n more objects.
func (c *Coverage) Evaluate(id string, n int) {
	if c.Evaluated == nil {
		c.Evaluated = map[string]int{}
	}
	c.Evaluated[id] += n
}

// Skip records that check id could not be evaluated, and why. A check that
// was evaluated elsewhere in the same run is not marked.
func (c *Coverage) Skip(id, reason string) {
	if c.NotAssessed == nil {
		c.NotAssessed = map[string]string{}
	}
	if _, ok := c.NotAssessed[id]; !ok {
		c.NotAssessed[id] = reason
	}
}

// Merge adds o's records to c.
func (c *Coverage) Merge(o Coverage) {
	for id, n := range o.Evaluated {
		c.Evaluate(id, n)
	}
	for id, r := range o.NotAssessed {
		c.Skip(id, r)
	}
}

// RequirementStatus is one row of the compliance summary.
type RequirementStatus struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Status string `json:"status"`
	// Failed counts findings against the requirement.
	Failed int `json:"failed"`
	// Passed counts the requirement's checks that were evaluated and produced
	// no finding.
	Passed int `json:"passed"`
	// NotAssessed counts the requirement's checks that could not run on the
	// given input.
	NotAssessed int `json:"notAssessed"`
	// Reason explains a "not assessed" status.
	Reason string `json:"reason,omitempty"`
}

// Summarize computes the compliance summary, one row per requirement in
// report order, plus a CUSTOM row when user policies produced findings
// without a requirement. Info-severity findings never fail a requirement.
func Summarize(cat *Catalog, cov Coverage, findings []Finding) []RequirementStatus {
	failedByReq := map[string]int{}
	failedChecks := map[string]bool{}
	for _, f := range findings {
		if f.Severity == Info {
			continue
		}
		failedChecks[f.Check] = true
		reqs := f.Requirements
		if len(reqs) == 0 {
			reqs = []string{Custom}
		}
		for _, r := range reqs {
			failedByReq[r]++
		}
	}
	reqs := Requirements()
	if failedByReq[Custom] > 0 {
		reqs = append(reqs, Requirement{ID: Custom, Title: "User policies without a requirement"})
	}
	out := make([]RequirementStatus, 0, len(reqs))
	for _, r := range reqs {
		row := RequirementStatus{ID: r.ID, Title: r.Title, Failed: failedByReq[r.ID]}
		var reasons []string
		for _, ch := range cat.ForRequirement(r.ID) {
			switch {
			case cov.Evaluated[ch.ID] > 0:
				if !failedChecks[ch.ID] {
					row.Passed++
				}
			default:
				row.NotAssessed++
				if reason, ok := cov.NotAssessed[ch.ID]; ok {
					reasons = append(reasons, reason)
				} else {
					reasons = append(reasons, notRunReason(ch))
				}
			}
		}
		switch {
		case row.Failed > 0:
			row.Status = StatusFail
		case row.Passed > 0:
			row.Status = StatusPass
		default:
			row.Status = StatusNotAssessed
			row.Reason = joinReasons(reasons)
			if row.Reason == "" {
				row.Reason = "no check for this requirement is in the catalog"
			}
		}
		out = append(out, row)
	}
	return out
}

func notRunReason(ch Check) string {
	switch ch.Engine {
	case EnginePosture:
		return "needs the cluster's configuration (az aks show JSON, ARM template or Terraform plan)"
	case EngineDetect:
		return "needs the audit pipeline (bulwark serve --audit or bulwark audit replay)"
	case EngineAnalyze:
		return "needs the analyzers' input"
	}
	if ch.Scope == "admission" {
		return "enforced at admission only (bulwark serve --admission)"
	}
	return "no object on the input is of a kind its checks apply to"
}

func joinReasons(rs []string) string {
	seen := map[string]bool{}
	var uniq []string
	for _, r := range rs {
		if r != "" && !seen[r] {
			seen[r] = true
			uniq = append(uniq, r)
		}
	}
	sort.Strings(uniq)
	return strings.Join(uniq, "; ")
}

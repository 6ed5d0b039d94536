package posture

import (
	"fmt"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/config"
	"github.com/bulwark-k8s/bulwark/internal/controls"
)

// Result is one check's verdict on one cluster (or on the inventory of a
// file without a cluster).
type Result struct {
	Check   controls.Check
	Cluster *Cluster
	Verdict Verdict
}

// Assess links the inputs (diagnostic settings, extensions and node pools
// to their clusters, across files) and runs every check that the
// configuration does not disable on every cluster. It does not modify the
// inputs.
func Assess(inputs []*Input, cfg *config.Config) []Result {
	s := NewSettings(cfg)
	subjects := link(inputs)
	var out []Result
	for _, k := range builtin() {
		if s.Disabled[k.meta.ID] {
			continue
		}
		for _, c := range subjects {
			if c.standalone && !k.inventory {
				continue
			}
			out = append(out, Result{Check: k.meta, Cluster: c, Verdict: k.Evaluate(c, s)})
		}
	}
	return out
}

// Evaluate runs the posture checks on inputs and returns the findings
// (engine "posture", with file and line of the offending field) and the
// coverage: every check evaluated on a cluster is counted, every check
// that could not be decided is recorded as not assessed with the reason
// (naming the missing field), and disabled checks are recorded as such.
func Evaluate(inputs []*Input, cfg *config.Config) ([]controls.Finding, controls.Coverage) {
	var cov controls.Coverage
	s := NewSettings(cfg)
	for _, k := range builtin() {
		if id := k.meta.ID; s.Disabled[id] {
			cov.Skip(id, "disabled in the configuration (checks."+id+".disabled)")
		}
	}
	var findings []controls.Finding
	for _, r := range Assess(inputs, cfg) {
		id := r.Check.ID
		switch r.Verdict.Status {
		case Pass:
			cov.Evaluate(id, 1)
		case Fail:
			cov.Evaluate(id, 1)
			findings = append(findings, toFindings(r)...)
		default:
			cov.Skip(id, label(r.Cluster)+": "+r.Verdict.Reason)
		}
	}
	if len(inputs) > 0 && !hasCluster(inputs) {
		for _, k := range builtin() {
			if !k.inventory {
				cov.Skip(k.meta.ID, "no AKS cluster in the posture inputs")
			}
		}
	}
	controls.SortFindings(findings)
	return findings, cov
}

func hasCluster(inputs []*Input) bool {
	for _, in := range inputs {
		if len(in.Clusters) > 0 {
			return true
		}
	}
	return false
}

func label(c *Cluster) string {
	if c.standalone {
		return c.File
	}
	return fmt.Sprintf("%s: cluster %s", c.File, c.Name)
}

func toFindings(r Result) []controls.Finding {
	m, c := r.Check, r.Cluster
	var out []controls.Finding
	for _, f := range r.Verdict.Failures {
		fd := controls.Finding{
			Check:        m.ID,
			Requirements: m.Requirements,
			Severity:     m.Severity,
			Title:        m.Title,
			Message:      f.Message,
			Remediation:  m.Remediation,
			Engine:       controls.EnginePosture,
			Object:       c.Ref,
			File:         c.File,
			Line:         c.Line,
		}
		if f.Object != nil {
			fd.Object = *f.Object
		}
		if f.File != "" {
			fd.File = f.File
		}
		if f.Line > 0 {
			fd.Line = f.Line
		}
		out = append(out, fd)
	}
	return out
}

// link builds the clusters to evaluate: copies of the parsed clusters with
// their diagnostic settings, extensions, separate node pools and inventory
// attached, plus one pseudo-cluster per file that has resources but no
// cluster.
func link(inputs []*Input) []*Cluster {
	copies := map[*Cluster]*Cluster{}
	var all []*Cluster
	for _, in := range inputs {
		for _, c := range in.Clusters {
			cc := *c
			cc.Pools = append([]*Pool(nil), c.Pools...)
			cc.Diagnostics = append([]*DiagnosticSetting(nil), c.Diagnostics...)
			cc.Extensions = append([]*Extension(nil), c.Extensions...)
			cc.Inventory = append([]*Resource(nil), c.Inventory...)
			copies[c] = &cc
			all = append(all, &cc)
		}
	}
	targets := func(own *Cluster, t ref) []*Cluster {
		if own != nil {
			if c := copies[own]; c != nil {
				return []*Cluster{c}
			}
		}
		var out []*Cluster
		for _, c := range all {
			if t.matches(c) {
				out = append(out, c)
			}
		}
		return out
	}
	var subjects []*Cluster
	subjects = append(subjects, all...)
	for _, in := range inputs {
		for _, p := range in.Pools {
			for _, c := range targets(p.cluster, p.target) {
				c.Pools = withPool(c.Pools, p)
			}
		}
		for _, d := range in.Diagnostics {
			for _, c := range targets(d.cluster, d.target) {
				c.Diagnostics = append(c.Diagnostics, d)
				if d.complete {
					c.DiagnosticsComplete = true
				}
			}
		}
		for _, e := range in.Extensions {
			for _, c := range targets(e.cluster, e.target) {
				c.Extensions = append(c.Extensions, e)
				if e.complete {
					c.ExtensionsComplete = true
				}
			}
		}
		if len(in.Resources) == 0 {
			continue
		}
		if len(in.Clusters) > 0 {
			c := copies[in.Clusters[0]]
			c.Inventory = append(c.Inventory, in.Resources...)
			continue
		}
		subjects = append(subjects, &Cluster{
			Name: in.File, File: in.File, Shape: in.Shape, standalone: true,
			Inventory: in.Resources,
		})
	}
	return subjects
}

// withPool adds a separately declared node pool; one of the same name in
// the cluster's own profile describes the same pool and is replaced.
func withPool(pools []*Pool, p *Pool) []*Pool {
	for i, q := range pools {
		if strings.EqualFold(q.Name, p.Name) {
			pools[i] = p
			return pools
		}
	}
	return append(pools, p)
}

package netpol

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-k8s/bulwark/internal/controls"
	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// Check IDs of the network policy analyzer.
const (
	CheckDefaultDenyIngress = "BW-ANL-050"
	CheckDefaultDenyEgress  = "BW-ANL-051"
	CheckOpenToNamespaces   = "BW-ANL-052"
	CheckInternetEgress     = "BW-ANL-053"
)

// Checks returns the catalog entries of the network policy analyzer.
func Checks() []controls.Check {
	c := func(id string, sev controls.Severity, title, remediation, anchor string) controls.Check {
		return controls.Check{
			ID: id, Requirements: []string{"REQ-07", "PRAC-NETPOL"}, Severity: sev, Title: title,
			Remediation: remediation, Anchor: anchor, Engine: controls.EngineAnalyze, Scope: "scan",
		}
	}
	return []controls.Check{
		c(CheckDefaultDenyIngress, controls.High, "Namespace has no default-deny ingress NetworkPolicy",
			"Add a NetworkPolicy with podSelector: {} and policyTypes: [Ingress] (and no rule allowing everything), then allow what each workload needs.",
			"CIS 5.3.2"),
		c(CheckDefaultDenyEgress, controls.Medium, "Namespace has no default-deny egress NetworkPolicy",
			"Add a NetworkPolicy with podSelector: {} and policyTypes: [Egress] that allows only DNS, then allow what each workload needs.",
			"CIS 5.3.2"),
		c(CheckOpenToNamespaces, controls.Medium, "Workload is reachable from every namespace",
			"Allow ingress only from the namespaces (namespaceSelector with kubernetes.io/metadata.name) and pods that need it.",
			""),
		c(CheckInternetEgress, controls.Medium, "NetworkPolicy allows egress to the internet (0.0.0.0/0, ::/0, or any destination)",
			"Allow egress to the CIDRs and ports the workload needs; send the rest through the egress firewall.",
			""),
	}
}

// Options configure the findings.
type Options struct {
	// SkipNamespaces are not reported on; nil means kube-system,
	// kube-public and kube-node-lease.
	SkipNamespaces []string
}

func (o Options) skip(ns string) bool {
	if o.SkipNamespaces == nil {
		return ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease"
	}
	return slices.Contains(o.SkipNamespaces, ns)
}

func finding(c controls.Check, msg string, obj controls.ObjectRef, file string, line int) controls.Finding {
	return controls.Finding{
		Check: c.ID, Requirements: c.Requirements, Severity: c.Severity, Title: c.Title,
		Message: msg, Remediation: c.Remediation, Engine: controls.EngineAnalyze,
		Object: obj, File: file, Line: line,
	}
}

// defaultDeny reports whether a policy isolates every pod of its namespace
// for a direction without allowing everything back.
func defaultDeny(p *Policy, rules []Rule, typed bool) bool {
	if !p.SelectsAll || !typed {
		return false
	}
	for _, r := range rules {
		if r.AllPeers && len(r.Ports) == 0 {
			return false
		}
	}
	return true
}

// Findings returns the analyzer's findings.
func (a *Analysis) Findings(opts Options) []controls.Finding {
	cat := map[string]controls.Check{}
	for _, c := range Checks() {
		cat[c.ID] = c
	}
	var out []controls.Finding
	byNS := map[string][]*Policy{}
	for _, p := range a.in.Policies {
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
	}
	for _, name := range a.in.NamespaceNames() {
		if opts.skip(name) {
			continue
		}
		ns := a.in.Namespaces[name]
		obj := controls.ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: name}
		var ingress, egress bool
		for _, p := range byNS[name] {
			ingress = ingress || defaultDeny(p, p.IngressRules, p.Ingress)
			egress = egress || defaultDeny(p, p.EgressRules, p.Egress)
		}
		if !ingress {
			out = append(out, finding(cat[CheckDefaultDenyIngress],
				fmt.Sprintf("namespace %s has no NetworkPolicy that denies ingress to all its pods by default; %s", name, exposure(a, name, true)),
				obj, ns.File, ns.Line))
		}
		if !egress {
			out = append(out, finding(cat[CheckDefaultDenyEgress],
				fmt.Sprintf("namespace %s has no NetworkPolicy that denies egress from all its pods by default; %s", name, exposure(a, name, false)),
				obj, ns.File, ns.Line))
		}
	}
	var required []string // every namespace reported on
	for _, n := range a.in.NamespaceNames() {
		if !opts.skip(n) {
			required = append(required, n)
		}
	}
	if len(required) > 1 {
		for _, w := range a.in.Workloads {
			if opts.skip(w.Namespace) {
				continue
			}
			c := a.classOf[w]
			why := ""
			if !a.ingIso.has(c) {
				why = "no NetworkPolicy selects it for ingress"
			} else {
				covered := map[string]bool{}
				for _, r := range a.ingress[c] {
					for ns := range a.ruleNamespaces(r.rule, r.policy.Namespace) {
						covered[ns] = true
					}
				}
				open := true
				for _, n := range required {
					if !covered[n] {
						open = false
						break
					}
				}
				if !open {
					continue
				}
				var pols []string
				for _, r := range a.ingress[c] {
					if len(a.ruleNamespaces(r.rule, r.policy.Namespace)) > 0 && !slices.Contains(pols, r.policy.Ref()) {
						pols = append(pols, r.policy.Ref())
					}
				}
				why = "allowed by " + strings.Join(pols, ", ")
			}
			out = append(out, finding(cat[CheckOpenToNamespaces],
				fmt.Sprintf("%s %s accepts connections from pods of every namespace (%s)", w.Kind, w.Ref(), why),
				controls.ObjectRef{APIVersion: "", Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}, w.File, w.Line))
		}
	}
	for _, p := range a.in.Policies {
		if opts.skip(p.Namespace) {
			continue
		}
		for i, r := range p.EgressRules {
			dest := ""
			if r.AllPeers {
				dest = "any destination"
			} else {
				for _, pe := range r.Peers {
					if pe.IPBlock != nil && pe.IPBlock.CIDR.Bits() == 0 {
						dest = pe.IPBlock.String()
						break
					}
				}
			}
			if dest == "" {
				continue
			}
			ports := resolvePorts(r.Ports, nil)
			if ports.Empty() {
				continue // only named ports, which match no outside address
			}
			out = append(out, finding(cat[CheckInternetEgress],
				fmt.Sprintf("%s egress rule %d allows %s (the internet) on %s", p.Ref(), i, dest, ports),
				controls.ObjectRef{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: p.Namespace, Name: p.Name}, p.File, p.Line))
		}
	}
	controls.SortFindings(out)
	return out
}

// exposure says how many workloads of a namespace are not isolated.
func exposure(a *Analysis, ns string, ingress bool) string {
	total, open := 0, 0
	for _, c := range a.byNS[ns] {
		n := len(a.classes[c].workloads)
		total += n
		iso := a.egIso
		if ingress {
			iso = a.ingIso
		}
		if !iso.has(c) {
			open += n
		}
	}
	dir := "from"
	if !ingress {
		dir = "to"
	}
	switch {
	case total == 0:
		return "pods created there will accept traffic " + dir + " anywhere"
	case open == 0:
		return "its current workloads are all selected by some policy, but new ones will not be"
	}
	return fmt.Sprintf("%d of its %d workloads accept traffic %s anywhere", open, total, dir)
}

// ruleNamespaces returns the namespaces some pod of which a rule admits
// (labels are chosen by whoever creates pods, so a pod selector does not
// narrow the namespaces).
func (a *Analysis) ruleNamespaces(r *Rule, policyNS string) map[string]bool {
	if m, ok := a.nsCoverage[r]; ok {
		return m
	}
	m := map[string]bool{}
	if r.AllPeers {
		for _, n := range a.in.NamespaceNames() {
			m[n] = true
		}
	}
	for _, pe := range r.Peers {
		switch {
		case pe.IPBlock != nil:
		case pe.NamespaceSelector == nil:
			m[policyNS] = true
		default:
			for _, n := range a.selectNamespaces(pe.NamespaceSelector) {
				m[n] = true
			}
		}
	}
	a.nsCoverage[r] = m
	return m
}

// Coverage marks the checks evaluated on the input.
func (a *Analysis) Coverage(opts Options) controls.Coverage {
	var cov controls.Coverage
	nss := 0
	for _, n := range a.in.NamespaceNames() {
		if !opts.skip(n) {
			nss++
		}
	}
	counts := map[string]int{
		CheckDefaultDenyIngress: nss,
		CheckDefaultDenyEgress:  nss,
		CheckOpenToNamespaces:   len(a.in.Workloads),
		CheckInternetEgress:     len(a.in.Policies),
	}
	for _, c := range Checks() {
		if nss == 0 {
			cov.Skip(c.ID, "no namespace, workload or NetworkPolicy in the input")
			continue
		}
		cov.Evaluate(c.ID, max(counts[c.ID], 1))
	}
	return cov
}

// Analyze is the network policy analyzer's entry point for bulwark scan:
// it parses the namespaces, workloads and NetworkPolicies among objs and
// returns the findings and the coverage of every network policy check.
// Without any namespace, workload or policy (outside skipped namespaces)
// the checks are marked not assessed.
func Analyze(objs []*k8s.Object, opts Options) ([]controls.Finding, controls.Coverage, error) {
	in, err := Parse(objs)
	if err != nil {
		return nil, controls.Coverage{}, err
	}
	a := New(in)
	return a.Findings(opts), a.Coverage(opts), nil
}

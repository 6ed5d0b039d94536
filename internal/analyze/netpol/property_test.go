package netpol

import (
	"fmt"
	"math/rand"
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/bulwark-k8s/bulwark/internal/k8s"
)

// gen generates random but valid clusters and policies from a small
// vocabulary, so that selectors often match and rules often overlap.
type gen struct {
	rng *rand.Rand
}

var (
	genNamespaces = []string{"a", "b", "c", "d"}
	genLabelKeys  = []string{"app", "tier", "team"}
	genLabelVals  = []string{"x", "y", "z"}
	genCIDRs      = []struct{ cidr, except string }{
		{"0.0.0.0/0", ""}, {"0.0.0.0/0", "10.0.0.0/8"}, {"10.0.0.0/8", ""}, {"10.0.0.0/8", "10.1.0.0/16"},
		{"10.1.0.0/16", ""}, {"192.168.0.0/16", ""}, {"203.0.113.0/24", ""}, {"::/0", ""}, {"2001:db8::/32", "2001:db8:1::/48"},
	}
	// genAddrs are the outside addresses the tests probe, one in each range
	// genCIDRs can carve out, plus a generic one.
	genAddrs = []string{"8.8.8.8", "10.2.3.4", "10.1.2.3", "192.168.1.1", "203.0.113.9", "2001:db8::1", "2001:db8:1::1", "2001:dead::1"}
)

func (g gen) pick(xs []string) string { return xs[g.rng.Intn(len(xs))] }

func (g gen) labels(max int) map[string]any {
	m := map[string]any{}
	for range g.rng.Intn(max + 1) {
		m[g.pick(genLabelKeys)] = g.pick(genLabelVals)
	}
	return m
}

func (g gen) selector() map[string]any {
	sel := map[string]any{}
	switch g.rng.Intn(4) {
	case 0: // empty: everything
	case 1:
		sel["matchLabels"] = g.labels(2)
	case 2:
		op := []string{"In", "NotIn", "Exists", "DoesNotExist"}[g.rng.Intn(4)]
		e := map[string]any{"key": g.pick(genLabelKeys), "operator": op}
		if op == "In" || op == "NotIn" {
			e["values"] = []any{g.pick(genLabelVals), g.pick(genLabelVals)}
		}
		sel["matchExpressions"] = []any{e}
	case 3:
		sel["matchLabels"] = g.labels(1)
		sel["matchExpressions"] = []any{map[string]any{"key": g.pick(genLabelKeys), "operator": "Exists"}}
	}
	return sel
}

func (g gen) peer() map[string]any {
	switch g.rng.Intn(5) {
	case 0:
		return map[string]any{"podSelector": g.selector()}
	case 1:
		return map[string]any{"namespaceSelector": g.selector()}
	case 2:
		return map[string]any{"podSelector": g.selector(), "namespaceSelector": g.selector()}
	case 3:
		return map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{MetadataNameLabel: g.pick(genNamespaces)}}}
	}
	c := genCIDRs[g.rng.Intn(len(genCIDRs))]
	b := map[string]any{"cidr": c.cidr}
	if c.except != "" {
		b["except"] = []any{c.except}
	}
	return map[string]any{"ipBlock": b}
}

func (g gen) port() map[string]any {
	p := map[string]any{}
	if g.rng.Intn(2) == 0 {
		p["protocol"] = []string{"TCP", "UDP", "SCTP"}[g.rng.Intn(3)]
	}
	switch g.rng.Intn(5) {
	case 0: // every port of the protocol
	case 1:
		p["port"] = []any{80, 443, 8080, 53}[g.rng.Intn(4)]
	case 2:
		p["port"] = 8000
		p["endPort"] = 8000 + g.rng.Intn(100)
	default:
		p["port"] = []string{"http", "dns", "metrics"}[g.rng.Intn(3)]
	}
	return p
}

func (g gen) rule(peerKey string) map[string]any {
	r := map[string]any{}
	if n := g.rng.Intn(3); n > 0 {
		var peers []any
		for range n {
			peers = append(peers, g.peer())
		}
		r[peerKey] = peers
	}
	if n := g.rng.Intn(3); n > 0 {
		var ports []any
		for range n {
			ports = append(ports, g.port())
		}
		r["ports"] = ports
	}
	return r
}

func (g gen) policy(name, ns string) map[string]any {
	spec := map[string]any{"podSelector": g.selector()}
	types := []string{"", "Ingress", "Egress", "Ingress,Egress"}[g.rng.Intn(4)]
	switch types {
	case "Ingress":
		spec["policyTypes"] = []any{"Ingress"}
	case "Egress":
		spec["policyTypes"] = []any{"Egress"}
	case "Ingress,Egress":
		spec["policyTypes"] = []any{"Ingress", "Egress"}
	}
	for _, dir := range []struct{ field, peer string }{{"ingress", "from"}, {"egress", "to"}} {
		n := g.rng.Intn(3)
		var rules []any
		for range n {
			rules = append(rules, g.rule(dir.peer))
		}
		if n > 0 {
			spec[dir.field] = rules
		}
	}
	return map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec,
	}
}

func (g gen) workload(i int) map[string]any {
	var ports []any
	if g.rng.Intn(2) == 0 {
		ports = append(ports, map[string]any{"name": "http", "containerPort": []int{80, 8080}[g.rng.Intn(2)]})
	}
	if g.rng.Intn(3) == 0 {
		ports = append(ports, map[string]any{"name": "dns", "containerPort": 53, "protocol": "UDP"})
	}
	if g.rng.Intn(3) == 0 {
		ports = append(ports, map[string]any{"name": "metrics", "containerPort": 8050})
	}
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": fmt.Sprintf("p%d", i), "namespace": g.pick(genNamespaces), "labels": g.labels(3)},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": "i", "ports": ports}}},
	}
}

func (g gen) cluster() []map[string]any {
	var objs []map[string]any
	for _, ns := range genNamespaces {
		objs = append(objs, map[string]any{"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": ns, "labels": g.labels(2)}})
	}
	for i := range 4 + g.rng.Intn(8) {
		objs = append(objs, g.workload(i))
	}
	for i := range g.rng.Intn(7) {
		objs = append(objs, g.policy(fmt.Sprintf("np%d", i), g.pick(genNamespaces)))
	}
	return objs
}

func toObjects(ms []map[string]any) []*k8s.Object {
	out := make([]*k8s.Object, len(ms))
	for i, m := range ms {
		out[i] = &k8s.Object{Content: m}
	}
	return out
}

func mustAnalyse(t *testing.T, ms []map[string]any) *Analysis {
	t.Helper()
	in, err := Parse(toObjects(ms))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return New(in)
}

// endpoints returns every workload and one address of each probed range.
func endpoints(a *Analysis) []Endpoint {
	var out []Endpoint
	for _, w := range a.in.Workloads {
		e, _ := a.WorkloadEndpoint(w)
		out = append(out, e)
	}
	for _, s := range genAddrs {
		out = append(out, a.Address(netip.MustParseAddr(s)))
	}
	return out
}

// reachAll computes every pair's ports, keyed by names (outside endpoints by
// the address probed, since ranges differ between analyses).
func reachAll(a *Analysis) map[string]Ports {
	eps := endpoints(a)
	names := make([]string, len(eps))
	for i, e := range eps {
		if e.Workload != nil {
			names[i] = e.Workload.Ref()
		} else {
			names[i] = genAddrs[i-len(a.in.Workloads)]
		}
	}
	out := map[string]Ports{}
	for i, s := range eps {
		for j, d := range eps {
			if i == j {
				continue
			}
			out[names[i]+" => "+names[j]] = a.Reach(s, d)
		}
	}
	return out
}

func subset(p, q Ports) bool { return p.Intersect(q).key() == p.key() }

// TestPropertyAllowRuleNeverRemoves: adding a rule to a direction a policy
// already has never removes a connection (or a port of one).
func TestPropertyAllowRuleNeverRemoves(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		g := gen{rand.New(rand.NewSource(seed))}
		objs := g.cluster()
		before := reachAll(mustAnalyse(t, objs))
		// Pick a policy and add a rule to a direction it has.
		var pols []map[string]any
		for _, o := range objs {
			if o["kind"] == "NetworkPolicy" {
				pols = append(pols, o)
			}
		}
		if len(pols) == 0 {
			continue
		}
		pol := pols[g.rng.Intn(len(pols))]
		spec := pol["spec"].(map[string]any)
		in, err := ParsePolicy(&k8s.Object{Content: pol})
		if err != nil {
			t.Fatal(err)
		}
		field, peer := "ingress", "from"
		if !in.Ingress || (in.Egress && g.rng.Intn(2) == 0) {
			field, peer = "egress", "to"
		}
		if field == "egress" && spec["policyTypes"] == nil && spec["egress"] == nil {
			continue // adding the first egress rule would turn egress isolation on
		}
		rules, _ := spec[field].([]any)
		spec[field] = append(rules, g.rule(peer))
		after := reachAll(mustAnalyse(t, objs))
		for k, p := range before {
			if !subset(p, after[k]) {
				t.Fatalf("seed %d: adding a rule to %s %s removed ports of %s: before %s, after %s", seed, pol["metadata"], field, k, p, after[k])
			}
		}
	}
}

// TestPropertyDefaultDenyNeverAdds: adding a deny-all policy (of any pod
// selector and types) never adds a connection.
func TestPropertyDefaultDenyNeverAdds(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		g := gen{rand.New(rand.NewSource(seed))}
		objs := g.cluster()
		before := reachAll(mustAnalyse(t, objs))
		types := [][]any{{"Ingress"}, {"Egress"}, {"Ingress", "Egress"}}[g.rng.Intn(3)]
		deny := map[string]any{
			"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
			"metadata": map[string]any{"name": "deny", "namespace": g.pick(genNamespaces)},
			"spec":     map[string]any{"podSelector": g.selector(), "policyTypes": types},
		}
		after := reachAll(mustAnalyse(t, append(objs, deny)))
		removed := 0
		for k, p := range after {
			if !subset(p, before[k]) {
				t.Fatalf("seed %d: adding %v added ports to %s: before %s, after %s", seed, deny, k, before[k], p)
			}
			if !subset(before[k], p) {
				removed++
			}
		}
		_ = removed
	}
}

// TestPropertyMatchesReference compares the analysis (classes, bitsets,
// memoised port sets) with a direct reading of the NetworkPolicy
// semantics, pod pair by pod pair, on random clusters.
func TestPropertyMatchesReference(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		g := gen{rand.New(rand.NewSource(seed))}
		objs := g.cluster()
		in, err := Parse(toObjects(objs))
		if err != nil {
			t.Fatal(err)
		}
		a := New(in)
		eps := endpoints(a)
		for _, s := range eps {
			for _, d := range eps {
				if s == d || (s.Workload == nil && d.Workload == nil) {
					continue
				}
				got := a.Reach(s, d)
				want := referenceReach(t, in, s, d)
				if got.key() != want.key() {
					t.Fatalf("seed %d: %s => %s: analysis %s, reference %s", seed, s, d, got, want)
				}
			}
		}
	}
}

// referenceReach evaluates one connection straight from the policies.
func referenceReach(t testing.TB, in *Input, src, dst Endpoint) Ports {
	t.Helper()
	addrOf := func(e Endpoint) netip.Addr {
		for _, s := range genAddrs {
			a := netip.MustParseAddr(s)
			if e.External.Contains(a) {
				return a
			}
		}
		t.Fatalf("the generator made %s without a probe address among genAddrs", e.External.Name)
		return netip.Addr{}
	}
	// peerMatches: does a peer of a policy in ns admit endpoint e?
	peerMatches := func(pe Peer, ns string, e Endpoint) bool {
		if e.Workload == nil {
			if pe.IPBlock == nil {
				return false
			}
			a := addrOf(e)
			if !pe.IPBlock.CIDR.Contains(a) {
				return false
			}
			for _, ex := range pe.IPBlock.Except {
				if ex.Contains(a) {
					return false
				}
			}
			return true
		}
		if pe.IPBlock != nil {
			return false
		}
		w := e.Workload
		if pe.NamespaceSelector == nil {
			return w.Namespace == ns && pe.PodSelector.Matches(labelSet(w.Labels))
		}
		if !pe.NamespaceSelector.Matches(labelSet(in.Namespaces[w.Namespace].Labels)) {
			return false
		}
		return pe.PodSelector == nil || pe.PodSelector.Matches(labelSet(w.Labels))
	}
	allowed := func(rules []Rule, ns string, peer Endpoint, portsOf []ContainerPort) Ports {
		var acc Ports
		for _, r := range rules {
			match := r.AllPeers
			for _, pe := range r.Peers {
				if peerMatches(pe, ns, peer) {
					match = true
				}
			}
			if match {
				acc = acc.Union(resolvePorts(r.Ports, portsOf))
			}
		}
		return acc
	}
	result := AllPorts()
	if dst.Workload != nil {
		isolated := false
		var acc Ports
		for _, p := range in.Policies {
			if p.Namespace == dst.Workload.Namespace && p.Ingress && p.PodSelector.Matches(labelSet(dst.Workload.Labels)) {
				isolated = true
				acc = acc.Union(allowed(p.IngressRules, p.Namespace, src, dst.Workload.Ports))
			}
		}
		if isolated {
			result = result.Intersect(acc)
		}
	}
	if src.Workload != nil {
		isolated := false
		var acc Ports
		var dstPorts []ContainerPort
		if dst.Workload != nil {
			dstPorts = dst.Workload.Ports
		}
		for _, p := range in.Policies {
			if p.Namespace == src.Workload.Namespace && p.Egress && p.PodSelector.Matches(labelSet(src.Workload.Labels)) {
				isolated = true
				acc = acc.Union(allowed(p.EgressRules, p.Namespace, dst, dstPorts))
			}
		}
		if isolated {
			result = result.Intersect(acc)
		}
	}
	return result
}

func TestPortsAlgebra(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	random := func() Ports {
		var p Ports
		for i := range p.spans {
			for range rng.Intn(4) {
				lo := uint16(1 + rng.Intn(100))
				p.spans[i] = unionSpans(p.spans[i], []Span{{lo, lo + uint16(rng.Intn(20))}})
			}
		}
		return p
	}
	contains := func(p Ports, proto string, port int) bool { return p.Contains(proto, port) }
	for range 500 {
		p, q := random(), random()
		u, x := p.Union(q), p.Intersect(q)
		for _, proto := range protocols {
			for port := 1; port <= 130; port++ {
				inP, inQ := contains(p, proto, port), contains(q, proto, port)
				if contains(u, proto, port) != (inP || inQ) || contains(x, proto, port) != (inP && inQ) {
					t.Fatalf("%s %d: p=%s q=%s union=%s intersect=%s", proto, port, p, q, u, x)
				}
			}
		}
		// Interned operations agree with the direct ones.
		tab := newPortTable()
		a, b := tab.intern(p), tab.intern(q)
		if tab.get(tab.unionOf(a, b)).key() != u.key() || tab.get(tab.intersectOf(a, b)).key() != x.key() {
			t.Fatalf("interned operations differ for %s and %s", p, q)
		}
	}
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

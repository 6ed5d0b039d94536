package netpol

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// class is a set of workloads no policy can tell apart: same namespace,
// same labels, same container ports (named ports resolve the same way).
// The analysis works on classes, not pods.
type class struct {
	ns        string
	labels    labels.Set
	ports     []ContainerPort
	workloads []*Workload
}

// peerSet is what a rule's from or to admits.
type peerSet struct {
	pods bitset // classes
	ext  bitset // external ranges
}

// ruleRef is one rule applying to one class.
type ruleRef struct {
	set    *peerSet
	rule   *Rule
	policy *Policy
	// ports is the rule's port set; for ingress resolved against the
	// selected class, for egress valid only when the rule has no named port
	// (named ports resolve against each destination).
	ports portID
	named bool
	// extPorts is an egress rule's port set towards outside addresses,
	// where named ports match nothing.
	extPorts portID
}

// Analysis is the connectivity of one input. Build it with New; it is not
// safe for concurrent use (it memoises port-set operations).
type Analysis struct {
	in         *Input
	classes    []*class
	byNS       map[string][]int
	nsAll      map[string]bitset
	ext        *externals
	ingress    [][]ruleRef
	egress     [][]ruleRef
	ingIso     bitset
	egIso      bitset
	ports      *portTable
	classOf    map[*Workload]int
	named      map[namedKey]portID
	podSel     map[string]bitset
	nsSel      map[string][]string
	peerSets   map[*Rule]*peerSet
	nsCoverage map[*Rule]map[string]bool
	names      map[*Workload]string
}

type namedKey struct {
	rule *Rule
	dst  int
}

// New analyses an input: it groups workloads into classes, evaluates every
// selector once per class (or namespace), and indexes the rules that apply
// to each class.
func New(in *Input) *Analysis {
	a := &Analysis{
		in:         in,
		byNS:       map[string][]int{},
		nsAll:      map[string]bitset{},
		ports:      newPortTable(),
		classOf:    map[*Workload]int{},
		named:      map[namedKey]portID{},
		podSel:     map[string]bitset{},
		nsSel:      map[string][]string{},
		peerSets:   map[*Rule]*peerSet{},
		nsCoverage: map[*Rule]map[string]bool{},
	}
	a.buildClasses()
	a.ext = buildExternals(in.Policies)
	n := len(a.classes)
	a.ingress = make([][]ruleRef, n)
	a.egress = make([][]ruleRef, n)
	a.ingIso = newBitset(n)
	a.egIso = newBitset(n)
	policies := append([]*Policy(nil), in.Policies...)
	sort.SliceStable(policies, func(i, j int) bool {
		if policies[i].Namespace != policies[j].Namespace {
			return policies[i].Namespace < policies[j].Namespace
		}
		return policies[i].Name < policies[j].Name
	})
	for _, p := range policies {
		selected := a.selectPods(p.PodSelector, p.Namespace)
		if selected.empty() {
			continue
		}
		if p.Ingress {
			refs := make([]ruleRef, len(p.IngressRules))
			for i := range p.IngressRules {
				r := &p.IngressRules[i]
				refs[i] = ruleRef{set: a.peers(r, p.Namespace), rule: r, policy: p, named: hasNamedPort(r.Ports)}
				if !refs[i].named {
					refs[i].ports = a.ports.intern(resolvePorts(r.Ports, nil))
				}
			}
			selected.each(func(c int) {
				a.ingIso.set(c)
				for _, ref := range refs {
					if ref.named {
						ref.ports = a.ports.intern(resolvePorts(ref.rule.Ports, a.classes[c].ports))
					}
					a.ingress[c] = append(a.ingress[c], ref)
				}
			})
		}
		if p.Egress {
			refs := make([]ruleRef, len(p.EgressRules))
			for i := range p.EgressRules {
				r := &p.EgressRules[i]
				refs[i] = ruleRef{set: a.peers(r, p.Namespace), rule: r, policy: p, named: hasNamedPort(r.Ports),
					extPorts: a.ports.intern(resolvePorts(r.Ports, nil))}
				if !refs[i].named {
					refs[i].ports = refs[i].extPorts
				}
			}
			selected.each(func(c int) {
				a.egIso.set(c)
				a.egress[c] = append(a.egress[c], refs...)
			})
		}
	}
	return a
}

func (a *Analysis) buildClasses() {
	index := map[string]int{}
	for _, w := range a.in.Workloads {
		key := classKey(w)
		c, ok := index[key]
		if !ok {
			c = len(a.classes)
			index[key] = c
			a.classes = append(a.classes, &class{ns: w.Namespace, labels: labels.Set(w.Labels), ports: w.Ports})
			a.byNS[w.Namespace] = append(a.byNS[w.Namespace], c)
		}
		a.classes[c].workloads = append(a.classes[c].workloads, w)
		a.classOf[w] = c
	}
	for ns, cs := range a.byNS {
		b := newBitset(len(a.classes))
		for _, c := range cs {
			b.set(c)
		}
		a.nsAll[ns] = b
	}
	// Display names: namespace/name, or namespace/kind/name when two
	// workloads of a namespace share a name.
	a.names = map[*Workload]string{}
	count := map[string]int{}
	for _, w := range a.in.Workloads {
		count[w.Ref()]++
	}
	for _, w := range a.in.Workloads {
		if count[w.Ref()] > 1 {
			a.names[w] = w.Namespace + "/" + strings.ToLower(w.Kind) + "/" + w.Name
		} else {
			a.names[w] = w.Ref()
		}
	}
}

func classKey(w *Workload) string {
	keys := make([]string, 0, len(w.Labels))
	for k := range w.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(w.Namespace)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(w.Labels[k])
	}
	b.WriteByte(1)
	for _, p := range w.Ports {
		if p.Name != "" {
			fmt.Fprintf(&b, "%s/%s/%d,", p.Name, p.Protocol, p.Port)
		}
	}
	return b.String()
}

// selectPods returns the classes of namespace ns a pod selector matches.
func (a *Analysis) selectPods(sel labels.Selector, ns string) bitset {
	key := ns + "\x00" + sel.String()
	if b, ok := a.podSel[key]; ok {
		return b
	}
	b := newBitset(len(a.classes))
	if sel.Empty() {
		if all, ok := a.nsAll[ns]; ok {
			b.or(all)
		}
	} else {
		for _, c := range a.byNS[ns] {
			if sel.Matches(a.classes[c].labels) {
				b.set(c)
			}
		}
	}
	a.podSel[key] = b
	return b
}

// selectNamespaces returns the namespaces a namespace selector matches.
func (a *Analysis) selectNamespaces(sel labels.Selector) []string {
	key := sel.String()
	if ns, ok := a.nsSel[key]; ok {
		return ns
	}
	var out []string
	for _, name := range a.in.NamespaceNames() {
		if sel.Matches(labels.Set(a.in.Namespaces[name].Labels)) {
			out = append(out, name)
		}
	}
	a.nsSel[key] = out
	return out
}

// peers returns what a rule of a policy in namespace ns admits.
func (a *Analysis) peers(r *Rule, ns string) *peerSet {
	if s, ok := a.peerSets[r]; ok {
		return s
	}
	s := &peerSet{pods: newBitset(len(a.classes)), ext: newBitset(len(a.ext.ranges))}
	if r.AllPeers {
		for i := range a.classes {
			s.pods.set(i)
		}
		for i := range a.ext.ranges {
			s.ext.set(i)
		}
	}
	for _, pe := range r.Peers {
		switch {
		case pe.IPBlock != nil:
			s.ext.or(a.ext.block(pe.IPBlock))
		case pe.NamespaceSelector == nil:
			s.pods.or(a.selectPods(pe.PodSelector, ns))
		default:
			for _, n := range a.selectNamespaces(pe.NamespaceSelector) {
				if pe.PodSelector == nil {
					if all, ok := a.nsAll[n]; ok {
						s.pods.or(all)
					}
					continue
				}
				s.pods.or(a.selectPods(pe.PodSelector, n))
			}
		}
	}
	a.peerSets[r] = s
	return s
}

func (s *peerSet) has(e, nClasses int) bool {
	if e < nClasses {
		return s.pods.has(e)
	}
	return s.ext.has(e - nClasses)
}

// ingressFrom is what dst's ingress allows from endpoint src.
func (a *Analysis) ingressFrom(dst, src int) portID {
	if !a.ingIso.has(dst) {
		return portsAll
	}
	n := len(a.classes)
	acc := portsNone
	for i := range a.ingress[dst] {
		r := &a.ingress[dst][i]
		if r.set.has(src, n) {
			acc = a.ports.unionOf(acc, r.ports)
			if acc == portsAll {
				break
			}
		}
	}
	return acc
}

// egressTo is what src's egress allows to endpoint dst.
func (a *Analysis) egressTo(src, dst int) portID {
	if !a.egIso.has(src) {
		return portsAll
	}
	n := len(a.classes)
	acc := portsNone
	for i := range a.egress[src] {
		r := &a.egress[src][i]
		if !r.set.has(dst, n) {
			continue
		}
		p := r.ports
		switch {
		case dst >= n:
			p = r.extPorts
		case r.named:
			p = a.namedPorts(r.rule, dst)
		}
		acc = a.ports.unionOf(acc, p)
		if acc == portsAll {
			break
		}
	}
	return acc
}

func (a *Analysis) namedPorts(r *Rule, dst int) portID {
	k := namedKey{r, dst}
	if id, ok := a.named[k]; ok {
		return id
	}
	id := a.ports.intern(resolvePorts(r.Ports, a.classes[dst].ports))
	a.named[k] = id
	return id
}

// reach is the port set a connection from endpoint src to endpoint dst may
// use: what src's egress allows intersected with what dst's ingress allows.
// Endpoints below len(classes) are classes, the others external ranges.
func (a *Analysis) reach(src, dst int) portID {
	n := len(a.classes)
	if src >= n && dst >= n {
		return portsNone
	}
	in := portsAll
	if dst < n {
		in = a.ingressFrom(dst, src)
		if in == portsNone {
			return portsNone
		}
	}
	out := portsAll
	if src < n {
		out = a.egressTo(src, dst)
	}
	return a.ports.intersectOf(in, out)
}

// Endpoint is a source or destination: a workload or a range of outside
// addresses.
type Endpoint struct {
	Workload *Workload
	External *External
	id       int
}

// String renders namespace/name, "internet", or the range's CIDRs.
func (e Endpoint) String() string {
	if e.Workload != nil {
		return e.Workload.Ref()
	}
	if e.External != nil {
		return e.External.Name
	}
	return "?"
}

// Name is the endpoint's display name (namespace/kind/name when two
// workloads share a namespace and name).
func (a *Analysis) Name(e Endpoint) string {
	if e.Workload != nil {
		if n, ok := a.names[e.Workload]; ok {
			return n
		}
	}
	return e.String()
}

// Reach returns the ports a connection from src to dst may use (empty when
// none). A connection between two outside addresses is not the cluster's
// business and is always empty.
func (a *Analysis) Reach(src, dst Endpoint) Ports {
	return a.ports.get(a.reach(src.id, dst.id))
}

// Internet is the endpoint for a generic outside address.
func (a *Analysis) Internet() Endpoint {
	return a.externalEndpoint(a.ext.internet)
}

// Address is the endpoint for an outside address.
func (a *Analysis) Address(addr netip.Addr) Endpoint {
	return a.externalEndpoint(a.ext.find(addr))
}

func (a *Analysis) externalEndpoint(i int) Endpoint {
	return Endpoint{External: a.ext.ranges[i], id: len(a.classes) + i}
}

// WorkloadEndpoint is the endpoint of a workload of the input.
func (a *Analysis) WorkloadEndpoint(w *Workload) (Endpoint, bool) {
	c, ok := a.classOf[w]
	if !ok {
		return Endpoint{}, false
	}
	return Endpoint{Workload: w, id: c}, true
}

// Find resolves what a user typed: NAMESPACE/NAME, NAMESPACE/KIND/NAME,
// "internet", or an IP address.
func (a *Analysis) Find(ref string) (Endpoint, error) {
	if ref == "internet" {
		return a.Internet(), nil
	}
	if addr, err := netip.ParseAddr(ref); err == nil {
		return a.Address(addr), nil
	}
	parts := strings.Split(ref, "/")
	var matches []*Workload
	switch len(parts) {
	case 2:
		for _, w := range a.in.Workloads {
			if w.Namespace == parts[0] && w.Name == parts[1] {
				matches = append(matches, w)
			}
		}
	case 3:
		for _, w := range a.in.Workloads {
			if w.Namespace == parts[0] && strings.EqualFold(w.Kind, parts[1]) && w.Name == parts[2] {
				matches = append(matches, w)
			}
		}
	default:
		return Endpoint{}, fmt.Errorf("%q: want NAMESPACE/WORKLOAD, NAMESPACE/KIND/WORKLOAD, internet or an IP address", ref)
	}
	switch len(matches) {
	case 0:
		return Endpoint{}, fmt.Errorf("%q: no such workload in the input", ref)
	case 1:
		e, _ := a.WorkloadEndpoint(matches[0])
		return e, nil
	}
	kinds := make([]string, len(matches))
	for i, w := range matches {
		kinds[i] = w.Namespace + "/" + strings.ToLower(w.Kind) + "/" + w.Name
	}
	return Endpoint{}, fmt.Errorf("%q is ambiguous: %s", ref, strings.Join(kinds, ", "))
}

// Input returns the analysed input.
func (a *Analysis) Input() *Input { return a.in }

// Externals returns the ranges of outside addresses the policies tell
// apart, the internet first.
func (a *Analysis) Externals() []Endpoint {
	out := []Endpoint{a.Internet()}
	for i := range a.ext.ranges {
		if i != a.ext.internet {
			out = append(out, a.externalEndpoint(i))
		}
	}
	return out
}

// IngressIsolated reports whether some policy isolates the workload for
// ingress (EgressIsolated: for egress).
func (a *Analysis) IngressIsolated(w *Workload) bool { return a.ingIso.has(a.classOf[w]) }

// EgressIsolated reports whether some policy isolates the workload for
// egress.
func (a *Analysis) EgressIsolated(w *Workload) bool { return a.egIso.has(a.classOf[w]) }

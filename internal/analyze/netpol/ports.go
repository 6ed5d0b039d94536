package netpol

import (
	"fmt"
	"strconv"
	"strings"
)

// protocols in the order port sets are kept and printed.
var protocols = [3]string{TCP, UDP, SCTP}

func protoIndex(p string) int {
	for i, q := range protocols {
		if q == p {
			return i
		}
	}
	return -1
}

// Span is an inclusive range of ports.
type Span struct{ From, To uint16 }

// Ports is a set of ports per protocol: what a connection may use.
type Ports struct {
	spans [3][]Span // sorted, disjoint, not adjacent
}

// AllPorts is every port of every protocol.
func AllPorts() Ports {
	var p Ports
	for i := range p.spans {
		p.spans[i] = []Span{{1, 65535}}
	}
	return p
}

// Empty reports whether no port is in the set.
func (p Ports) Empty() bool {
	return len(p.spans[0]) == 0 && len(p.spans[1]) == 0 && len(p.spans[2]) == 0
}

// All reports whether every port of every protocol is in the set.
func (p Ports) All() bool {
	for _, s := range p.spans {
		if len(s) != 1 || s[0] != (Span{1, 65535}) {
			return false
		}
	}
	return true
}

// Contains reports whether port of protocol is in the set.
func (p Ports) Contains(protocol string, port int) bool {
	i := protoIndex(protocol)
	if i < 0 {
		return false
	}
	for _, s := range p.spans[i] {
		if port >= int(s.From) && port <= int(s.To) {
			return true
		}
	}
	return false
}

// Spans returns the set's ranges of a protocol.
func (p Ports) Spans(protocol string) []Span {
	if i := protoIndex(protocol); i >= 0 {
		return p.spans[i]
	}
	return nil
}

// String renders "all ports", "none", or "TCP 80, TCP 8000-8080, UDP 53";
// a whole protocol renders as "UDP (all ports)".
func (p Ports) String() string {
	if p.All() {
		return "all ports"
	}
	if p.Empty() {
		return "none"
	}
	var parts []string
	for i, spans := range p.spans {
		if len(spans) == 1 && spans[0] == (Span{1, 65535}) {
			parts = append(parts, protocols[i]+" (all ports)")
			continue
		}
		for _, s := range spans {
			if s.From == s.To {
				parts = append(parts, fmt.Sprintf("%s %d", protocols[i], s.From))
			} else {
				parts = append(parts, fmt.Sprintf("%s %d-%d", protocols[i], s.From, s.To))
			}
		}
	}
	return strings.Join(parts, ", ")
}

func (p Ports) key() string {
	var b strings.Builder
	for i, spans := range p.spans {
		if i > 0 {
			b.WriteByte('|')
		}
		for _, s := range spans {
			b.WriteString(strconv.Itoa(int(s.From)))
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(s.To)))
			b.WriteByte(',')
		}
	}
	return b.String()
}

func unionSpans(a, b []Span) []Span {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	all := make([]Span, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var s Span
		if j >= len(b) || (i < len(a) && a[i].From <= b[j].From) {
			s = a[i]
			i++
		} else {
			s = b[j]
			j++
		}
		if n := len(all); n > 0 && int(s.From) <= int(all[n-1].To)+1 {
			if s.To > all[n-1].To {
				all[n-1].To = s.To
			}
			continue
		}
		all = append(all, s)
	}
	return all
}

func intersectSpans(a, b []Span) []Span {
	var out []Span
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo := max(a[i].From, b[j].From)
		hi := min(a[i].To, b[j].To)
		if lo <= hi {
			out = append(out, Span{lo, hi})
		}
		if a[i].To < b[j].To {
			i++
		} else {
			j++
		}
	}
	return out
}

// Union returns the ports in p or q.
func (p Ports) Union(q Ports) Ports {
	var out Ports
	for i := range out.spans {
		out.spans[i] = unionSpans(p.spans[i], q.spans[i])
	}
	return out
}

// Intersect returns the ports in both p and q.
func (p Ports) Intersect(q Ports) Ports {
	var out Ports
	for i := range out.spans {
		out.spans[i] = intersectSpans(p.spans[i], q.spans[i])
	}
	return out
}

// portID names an interned port set; the analysis combines port sets by ID
// with memoised unions and intersections.
type portID uint32

const (
	portsNone portID = 0
	portsAll  portID = 1
)

type portTable struct {
	sets  []Ports
	index map[string]portID
	union map[uint64]portID
	inter map[uint64]portID
}

func newPortTable() *portTable {
	t := &portTable{index: map[string]portID{}, union: map[uint64]portID{}, inter: map[uint64]portID{}}
	t.intern(Ports{})
	t.intern(AllPorts())
	return t
}

func (t *portTable) intern(p Ports) portID {
	k := p.key()
	if id, ok := t.index[k]; ok {
		return id
	}
	id := portID(len(t.sets))
	t.sets = append(t.sets, p)
	t.index[k] = id
	return id
}

func (t *portTable) get(id portID) Ports { return t.sets[id] }

func pairKey(a, b portID) uint64 {
	if a > b {
		a, b = b, a
	}
	return uint64(a)<<32 | uint64(b)
}

func (t *portTable) unionOf(a, b portID) portID {
	switch {
	case a == b || b == portsNone:
		return a
	case a == portsNone:
		return b
	case a == portsAll || b == portsAll:
		return portsAll
	}
	k := pairKey(a, b)
	if id, ok := t.union[k]; ok {
		return id
	}
	id := t.intern(t.sets[a].Union(t.sets[b]))
	t.union[k] = id
	return id
}

func (t *portTable) intersectOf(a, b portID) portID {
	switch {
	case a == b || b == portsAll:
		return a
	case a == portsAll:
		return b
	case a == portsNone || b == portsNone:
		return portsNone
	}
	k := pairKey(a, b)
	if id, ok := t.inter[k]; ok {
		return id
	}
	id := t.intern(t.sets[a].Intersect(t.sets[b]))
	t.inter[k] = id
	return id
}

// resolvePorts turns a rule's ports into a port set for a destination with
// the given container ports (nil for an address outside the cluster, where
// named ports match nothing).
func resolvePorts(rules []PortRule, dst []ContainerPort) Ports {
	if len(rules) == 0 {
		return AllPorts()
	}
	var out Ports
	for _, r := range rules {
		i := protoIndex(r.Protocol)
		var s Span
		switch {
		case r.Name != "":
			found := false
			for _, cp := range dst {
				if cp.Name == r.Name && cp.Protocol == r.Protocol {
					s, found = Span{uint16(cp.Port), uint16(cp.Port)}, true
					break
				}
			}
			if !found {
				continue
			}
		case r.Port == 0:
			s = Span{1, 65535}
		case r.EndPort != 0:
			s = Span{uint16(r.Port), uint16(r.EndPort)}
		default:
			s = Span{uint16(r.Port), uint16(r.Port)}
		}
		out.spans[i] = unionSpans(out.spans[i], []Span{s})
	}
	return out
}

func hasNamedPort(rules []PortRule) bool {
	for _, r := range rules {
		if r.Name != "" {
			return true
		}
	}
	return false
}

// ParsePort parses "8080", "8080/TCP", "53/udp" or a named port "http/TCP"
// into a protocol and a port number or name.
func ParsePort(s string) (protocol string, port int, name string, err error) {
	num, proto, hasProto := strings.Cut(s, "/")
	protocol = TCP
	if hasProto {
		protocol = strings.ToUpper(proto)
		if protoIndex(protocol) < 0 {
			return "", 0, "", fmt.Errorf("port %q: unknown protocol %q (want TCP, UDP or SCTP)", s, proto)
		}
	}
	if n, err := strconv.Atoi(num); err == nil {
		if n < 1 || n > 65535 {
			return "", 0, "", fmt.Errorf("port %q: must be between 1 and 65535", s)
		}
		return protocol, n, "", nil
	}
	if num == "" {
		return "", 0, "", fmt.Errorf("port %q: want PORT[/PROTOCOL]", s)
	}
	return protocol, 0, num, nil
}

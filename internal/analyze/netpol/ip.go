package netpol

import (
	"math/big"
	"net/netip"
	"sort"
	"strings"
)

// External is a range of addresses outside the cluster that every policy
// treats alike: the addresses whose innermost ipBlock CIDR (cidr or except)
// is Prefix, less the CIDRs inside it; or, for "internet", the addresses
// outside every CIDR the policies name (or inside only 0.0.0.0/0).
type External struct {
	// Name is "internet", "internet (IPv6)", or the range's CIDRs.
	Name string
	// Prefix is the innermost CIDR; invalid for the root ranges.
	Prefix netip.Prefix
	// Holes are the CIDRs inside Prefix that are not part of the range.
	Holes []netip.Prefix
	// Internet marks the range of generic outside addresses.
	Internet bool
	// IPv6 is the range's address family.
	IPv6 bool
}

// Contains reports whether addr is in the range.
func (e *External) Contains(addr netip.Addr) bool {
	if e.Prefix.IsValid() {
		if !e.Prefix.Contains(addr) {
			return false
		}
	} else if addr.Is4() == e.IPv6 {
		return false
	}
	for _, h := range e.Holes {
		if h.Contains(addr) {
			return false
		}
	}
	return true
}

// externals splits the address space along every CIDR the policies name.
type externals struct {
	ranges   []*External
	internet int // index of the IPv4 internet range
	// byPrefix maps a CIDR to its range index (-1 when the range is empty).
	byPrefix map[netip.Prefix]int
	prefixes []netip.Prefix // sorted by length, longest first
	roots    map[bool]int   // is4 → root range index, when there is one
	blocks   map[string]bitset
}

func prefixContains(outer, inner netip.Prefix) bool {
	return outer.Addr().Is4() == inner.Addr().Is4() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

func buildExternals(policies []*Policy) *externals {
	seen := map[netip.Prefix]bool{}
	var all []netip.Prefix
	add := func(p netip.Prefix) {
		if !seen[p] {
			seen[p] = true
			all = append(all, p)
		}
	}
	for _, p := range policies {
		for _, rules := range [][]Rule{p.IngressRules, p.EgressRules} {
			for _, r := range rules {
				for _, pe := range r.Peers {
					if pe.IPBlock != nil {
						add(pe.IPBlock.CIDR)
						for _, e := range pe.IPBlock.Except {
							add(e)
						}
					}
				}
			}
		}
	}
	x := &externals{byPrefix: map[netip.Prefix]int{}, roots: map[bool]int{}, blocks: map[string]bitset{}}
	// Parents by a sweep over prefixes sorted by address, then length:
	// CIDRs nest or are disjoint, so a stack of enclosing prefixes works.
	sorted := append([]netip.Prefix(nil), all...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Addr().Is4() != b.Addr().Is4() {
			return a.Addr().Is4()
		}
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c < 0
		}
		return a.Bits() < b.Bits()
	})
	children := map[netip.Prefix][]netip.Prefix{}
	var topLevel []netip.Prefix
	var stack []netip.Prefix
	for _, p := range sorted {
		for len(stack) > 0 && !prefixContains(stack[len(stack)-1], p) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			parent := stack[len(stack)-1]
			children[parent] = append(children[parent], p)
		} else {
			topLevel = append(topLevel, p)
		}
		stack = append(stack, p)
	}
	has6 := false
	for _, p := range all {
		if !p.Addr().Is4() {
			has6 = true
		}
	}
	// Root ranges: outside every CIDR (unless a /0 covers the family).
	for _, is4 := range []bool{true, false} {
		if !is4 && !has6 {
			continue
		}
		var tops []netip.Prefix
		zero := false
		for _, p := range topLevel {
			if p.Addr().Is4() == is4 {
				tops = append(tops, p)
				if p.Bits() == 0 {
					zero = true
				}
			}
		}
		if zero || covers(bitsOf(is4), 0, tops) {
			continue
		}
		name := "internet"
		if !is4 {
			name = "internet (IPv6)"
		}
		x.roots[is4] = len(x.ranges)
		x.ranges = append(x.ranges, &External{Name: name, Holes: tops, Internet: true, IPv6: !is4})
	}
	for _, p := range sorted {
		kids := children[p]
		if covers(bitsOf(p.Addr().Is4()), p.Bits(), kids) {
			x.byPrefix[p] = -1
			continue
		}
		e := &External{Prefix: p, Holes: kids, Name: rangeName(p, kids), IPv6: !p.Addr().Is4()}
		if p.Bits() == 0 {
			e.Internet = true
			e.Name = "internet"
			if !p.Addr().Is4() {
				e.Name = "internet (IPv6)"
			}
			x.roots[p.Addr().Is4()] = len(x.ranges)
		}
		x.byPrefix[p] = len(x.ranges)
		x.ranges = append(x.ranges, e)
	}
	x.prefixes = append([]netip.Prefix(nil), all...)
	sort.Slice(x.prefixes, func(i, j int) bool { return x.prefixes[i].Bits() > x.prefixes[j].Bits() })
	if i, ok := x.roots[true]; ok {
		x.internet = i
	} else {
		// Every IPv4 address is in some named CIDR other than /0: the
		// internet is where a public address falls.
		x.internet = x.find(netip.MustParseAddr("8.8.8.8"))
		x.ranges[x.internet].Internet = true
	}
	return x
}

func bitsOf(is4 bool) int {
	if is4 {
		return 32
	}
	return 128
}

// covers reports whether disjoint prefixes inside a /bits prefix fill it.
func covers(total, bits int, kids []netip.Prefix) bool {
	if len(kids) == 0 {
		return false
	}
	sum := new(big.Int)
	for _, k := range kids {
		sum.Add(sum, new(big.Int).Lsh(big.NewInt(1), uint(total-k.Bits())))
	}
	return sum.Cmp(new(big.Int).Lsh(big.NewInt(1), uint(total-bits))) == 0
}

func rangeName(p netip.Prefix, holes []netip.Prefix) string {
	if len(holes) == 0 {
		return p.String()
	}
	hs := make([]string, len(holes))
	for i, h := range holes {
		hs[i] = h.String()
	}
	return p.String() + " except " + strings.Join(hs, ", ")
}

// find returns the range an address is in.
func (x *externals) find(addr netip.Addr) int {
	addr = addr.Unmap()
	for _, p := range x.prefixes {
		if p.Contains(addr) {
			if i := x.byPrefix[p]; i >= 0 {
				return i
			}
		}
	}
	if i, ok := x.roots[addr.Is4()]; ok {
		return i
	}
	return x.internet
}

// block returns the ranges inside an ipBlock.
func (x *externals) block(b *IPBlock) bitset {
	key := b.String()
	if s, ok := x.blocks[key]; ok {
		return s
	}
	s := newBitset(len(x.ranges))
	for i, r := range x.ranges {
		if !r.Prefix.IsValid() || !prefixContains(b.CIDR, r.Prefix) {
			continue
		}
		excluded := false
		for _, e := range b.Except {
			if prefixContains(e, r.Prefix) {
				excluded = true
				break
			}
		}
		if !excluded {
			s.set(i)
		}
	}
	x.blocks[key] = s
	return s
}

package policy

import (
	"fmt"
	"net/netip"
	"slices"
)

// Class is the set of entries that can match a packet whose remote
// address's longest matching entry prefix is Prefix: every entry of the
// direction whose Remote contains Prefix, in rule order. A lookup of the
// remote address in a longest-prefix-match table of the classes, then a
// scan of one class, decides like PortTable.Decide, whatever the number
// of rules: the eBPF backend's scheme.
type Class struct {
	Dir     Dir
	Prefix  netip.Prefix
	Entries []Entry
}

// MaxClassEntries bounds the entries of one class: the eBPF program scans
// at most this many for a new flow.
const MaxClassEntries = 64

// Classes computes the classes of a port's table. Entries after the first
// unconditional one (any protocol, any local address) of a class can
// never decide and are left out. It fails when a class is larger than
// MaxClassEntries (too many rules with overlapping remote prefixes and
// different ports).
func (pt PortTable) Classes() ([]Class, error) {
	var out []Class
	for _, d := range []Dir{In, Out} {
		byPrefix := map[netip.Prefix][]int{}
		var order []netip.Prefix
		for i, e := range pt.Entries {
			if e.Dir != d {
				continue
			}
			if _, ok := byPrefix[e.Remote]; !ok {
				order = append(order, e.Remote)
			}
			byPrefix[e.Remote] = append(byPrefix[e.Remote], i)
		}
		for _, p := range order {
			var idx []int
			for b := 0; b <= p.Bits(); b++ {
				anc := netip.PrefixFrom(p.Addr(), b).Masked()
				idx = append(idx, byPrefix[anc]...)
			}
			slices.Sort(idx)
			c := Class{Dir: d, Prefix: p}
			for _, i := range idx {
				e := pt.Entries[i]
				c.Entries = append(c.Entries, e)
				if e.Unconditional() {
					break
				}
			}
			if len(c.Entries) > MaxClassEntries {
				return nil, fmt.Errorf("port %s: %d rules overlap for remote %s (%s), more than the %d the eBPF backend scans: merge rules or use the nftables backend",
					pt.Interface, len(c.Entries), p, d, MaxClassEntries)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// DecideClasses is Decide through the classes: the longest class prefix
// that contains remote, then its first matching entry. Tests prove that
// it agrees with Decide.
func DecideClasses(cs []Class, def bool, d Dir, remote, local netip.Addr, proto uint8, dport uint16) (bool, int) {
	best := -1
	for i, c := range cs {
		if c.Dir == d && c.Prefix.Contains(remote) && (best < 0 || c.Prefix.Bits() > cs[best].Prefix.Bits()) {
			best = i
		}
	}
	if best >= 0 {
		for _, e := range cs[best].Entries {
			if e.Matches(d, remote, local, proto, dport) {
				return e.Allow, e.Rule
			}
		}
	}
	return def, -1
}

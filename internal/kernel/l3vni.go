package kernel

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// L3VNI is a tenant's L3VNI as the kernel carries it: the VRF's routing
// table, the L3VNI's SVI (next hops of routes to other VTEPs are on it)
// and its VXLAN device (the router MACs of other VTEPs are on it).
type L3VNI struct {
	Tenant string
	VNI    uint32 // the L3VNI (4001)
	Table  uint32
	SVI    string // vlan3001
	VXLAN  string // vx4001
	VLAN   uint16 // the L3VNI's VLAN on the bridge
}

// L3Hole is a remote VTEP that routes of a tenant's table go through but
// whose router MAC the kernel lost: zebra installs, for each such next
// hop, a neighbor entry on the L3VNI's SVI (the VTEP address, or its
// IPv4-mapped IPv6 form for IPv6 routes, with the router MAC) and an FDB
// entry on the L3VNI's VXLAN device (the router MAC to the VTEP). Without
// them routed traffic to workloads behind that VTEP is lost, although
// every route looks right. FRR 8.4's zebra loses them when it replaces the
// routes, as it does when one of two TORs fails (docs/architecture.md).
type L3Hole struct {
	L3VNI              // the L3VNI whose SVI the next hop is on
	Gateway netip.Addr // the next hop: the VTEP, IPv4-mapped for IPv6 routes
	Routes  int        // routes of the tenants' tables through it
	MAC     string     // the router MAC of its neighbor entry, if it has one
	Problem string     // "" when nothing is missing
}

func (h L3Hole) String() string {
	p := h.Problem
	if p == "" {
		p = "router MAC " + h.MAC
	}
	return fmt.Sprintf("%s: %d routes via %s on %s: %s", h.Tenant, h.Routes, h.Gateway, h.SVI, p)
}

// Neighbor states (NUD_* of linux/neighbour.h), the bits of L3Neigh.State.
const (
	NUDNone       = 0x00
	NUDIncomplete = 0x01
	NUDReachable  = 0x02
	NUDStale      = 0x04
	NUDDelay      = 0x08
	NUDProbe      = 0x10
	NUDFailed     = 0x20
	NUDNoARP      = 0x40
	NUDPermanent  = 0x80
)

// L3Neigh is a neighbor entry on an L3VNI SVI.
type L3Neigh struct {
	MAC   string
	State int // NUD_* bits
}

// L3View is what the kernel holds for one L3VNI (internal/linux reads it).
type L3View struct {
	Gateways map[netip.Addr]int      // next hop on the SVI -> routes through it
	Neigh    map[netip.Addr]L3Neigh  // neighbor entries on the SVI
	FDB      map[string][]netip.Addr // router MAC -> remote VTEPs on the VXLAN device
}

// usable are the neighbor states of a resolved next hop: zebra's entries
// are NOARP; a neighbor learnt by ARP/ND would be REACHABLE (or STALE on
// its way to a re-probe), which the L3VNI never does.
const usable = NUDNoARP | NUDPermanent | NUDReachable | NUDStale | NUDDelay | NUDProbe

// L3NextHops lists the next hops of v, each with what is missing
// (Problem) or "" when whole, in address order.
func L3NextHops(l L3VNI, v L3View) []L3Hole {
	var out []L3Hole
	for gw, n := range v.Gateways {
		h := L3Hole{L3VNI: l, Gateway: gw, Routes: n}
		e, ok := v.Neigh[gw]
		if ok && e.State&usable != 0 && e.MAC != "" {
			h.MAC = e.MAC
		}
		switch {
		case !ok:
			h.Problem = "no neighbor entry (router MAC lost)"
		case h.MAC == "":
			h.Problem = fmt.Sprintf("neighbor entry %s, no router MAC", nudString(e.State))
		case !slices.Contains(v.FDB[e.MAC], gw.Unmap()):
			h.Problem = fmt.Sprintf("router MAC %s has no FDB entry to %s on %s", e.MAC, gw.Unmap(), l.VXLAN)
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b L3Hole) int { return a.Gateway.Compare(b.Gateway) })
	return out
}

func nudString(s int) string {
	names := []struct {
		bit  int
		name string
	}{
		{NUDIncomplete, "INCOMPLETE"}, {NUDFailed, "FAILED"}, {NUDNone, "NONE"},
		{NUDReachable, "REACHABLE"}, {NUDStale, "STALE"}, {NUDNoARP, "NOARP"},
	}
	var out []string
	for _, n := range names {
		if s&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	if len(out) == 0 {
		return fmt.Sprintf("state %#x", s)
	}
	return strings.Join(out, "|")
}

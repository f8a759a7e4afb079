package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// L3VNI is a tenant's L3VNI as the kernel carries it: the VRF's routing
// table, the L3VNI's SVI (next hops of routes to other VTEPs are on it)
// and its VXLAN device (the router MACs of other VTEPs are on it).
type L3VNI struct {
	Tenant string
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

// l3Neigh is a neighbor entry on an L3VNI SVI.
type l3Neigh struct {
	MAC   string
	State int // NUD_* bits
}

// l3View is what the kernel holds for one L3VNI.
type l3View struct {
	Gateways map[netip.Addr]int      // next hop on the SVI -> routes through it
	Neigh    map[netip.Addr]l3Neigh  // neighbor entries on the SVI
	FDB      map[string][]netip.Addr // router MAC -> remote VTEPs on the VXLAN device
}

// usable are the neighbor states of a resolved next hop: zebra's entries
// are NOARP; a neighbor learnt by ARP/ND would be REACHABLE (or STALE on
// its way to a re-probe), which the L3VNI never does.
const usable = netlink.NUD_NOARP | netlink.NUD_PERMANENT | netlink.NUD_REACHABLE | netlink.NUD_STALE |
	netlink.NUD_DELAY | netlink.NUD_PROBE

// l3NextHops lists the next hops of v, each with what is missing
// (Problem) or "" when whole, in address order.
func l3NextHops(l L3VNI, v l3View) []L3Hole {
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
		{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_FAILED, "FAILED"}, {netlink.NUD_NONE, "NONE"},
		{netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"}, {netlink.NUD_NOARP, "NOARP"},
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

// L3NextHops reads the routes of the L3VNIs' tables that go through an
// L3VNI's SVI (a tenant's own, or another tenant's for leaked routes),
// the SVIs' neighbors and the VXLAN devices' FDB, and lists every such
// next hop under the L3VNI whose SVI it is on, with what it lacks (see
// L3Hole; Problem "" when whole). An L3VNI whose devices do not exist is
// skipped: that is the reconcile's business. It only reads.
func (n *Netlink) L3NextHops(l3 []L3VNI) ([]L3Hole, error) {
	type dev struct {
		l       L3VNI
		svi, vx int
	}
	bySVI := map[int]*dev{}
	var devs []*dev
	for _, l := range l3 {
		svi, err := n.h.LinkByName(l.SVI)
		if err != nil {
			continue
		}
		vx, err := n.h.LinkByName(l.VXLAN)
		if err != nil {
			continue
		}
		d := &dev{l: l, svi: svi.Attrs().Index, vx: vx.Attrs().Index}
		bySVI[d.svi] = d
		devs = append(devs, d)
	}
	gws := map[int]map[netip.Addr]int{} // SVI -> next hop -> routes
	count := func(gw net.IP, link, family int) {
		if gw == nil || bySVI[link] == nil {
			return
		}
		if gws[link] == nil {
			gws[link] = map[netip.Addr]int{}
		}
		gws[link][addrOf(gw, family)]++
	}
	for _, d := range devs {
		routes, err := retry(func() ([]netlink.Route, error) {
			return n.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: int(d.l.Table)}, netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			return nil, fmt.Errorf("%s: list routes of table %d: %w", d.l.Tenant, d.l.Table, err)
		}
		for _, r := range routes {
			count(r.Gw, r.LinkIndex, r.Family)
			for _, nh := range r.MultiPath {
				count(nh.Gw, nh.LinkIndex, r.Family)
			}
		}
	}
	var holes []L3Hole
	for _, d := range devs {
		if len(gws[d.svi]) == 0 {
			continue
		}
		v, err := n.l3View(d.l, d.svi, d.vx)
		if err != nil {
			return holes, fmt.Errorf("%s: %w", d.l.Tenant, err)
		}
		v.Gateways = gws[d.svi]
		holes = append(holes, l3NextHops(d.l, v)...)
	}
	return holes, nil
}

// l3View reads an L3VNI's SVI neighbors and VXLAN FDB (Gateways is left
// to the caller).
func (n *Netlink) l3View(l L3VNI, svi, vx int) (l3View, error) {
	v := l3View{Neigh: map[netip.Addr]l3Neigh{}, FDB: map[string][]netip.Addr{}}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := retry(func() ([]netlink.Neigh, error) { return n.h.NeighList(svi, fam) })
		if err != nil {
			return v, fmt.Errorf("list neighbors of %s: %w", l.SVI, err)
		}
		for _, e := range ns {
			v.Neigh[addrOf(e.IP, fam)] = l3Neigh{MAC: e.HardwareAddr.String(), State: e.State}
		}
	}
	fdb, err := retry(func() ([]netlink.Neigh, error) { return n.h.NeighList(vx, unix.AF_BRIDGE) })
	if err != nil {
		return v, fmt.Errorf("list FDB of %s: %w", l.VXLAN, err)
	}
	for _, e := range fdb {
		if e.IP != nil && e.HardwareAddr != nil {
			mac := e.HardwareAddr.String()
			v.FDB[mac] = append(v.FDB[mac], addrOf(e.IP, netlink.FAMILY_V4))
		}
	}
	return v, nil
}

// addrOf converts a netlink address: IPv4 ones unmapped (the library may
// hand them over in 16 bytes), IPv6 ones as they are, so that an
// IPv4-mapped IPv6 next hop stays one.
func addrOf(ip net.IP, family int) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	if family == netlink.FAMILY_V4 || ip.To4() != nil && len(ip) == net.IPv4len {
		return a.Unmap()
	}
	return a
}

// InstallL3Entry installs what zebra installs for a next hop of an L3VNI
// and lost (see L3Hole): the FDB entries of the router MAC on the L3VNI's
// VXLAN device (to the VTEP) and in the bridge (the L3VNI's VLAN, to that
// device), then the neighbor entry of the next hop on the SVI. They are
// static, not extern_learn like zebra's, which tells them apart; zebra
// replaces them when it installs its own again.
func (n *Netlink) InstallL3Entry(h L3Hole) error {
	svi, err := n.h.LinkByName(h.SVI)
	if err != nil {
		return fmt.Errorf("%s: %w", h.SVI, err)
	}
	vx, err := n.h.LinkByName(h.VXLAN)
	if err != nil {
		return fmt.Errorf("%s: %w", h.VXLAN, err)
	}
	mac, err := net.ParseMAC(h.MAC)
	if err != nil || h.MAC == "" {
		return fmt.Errorf("next hop %s: no router MAC to install", h.Gateway)
	}
	dst := h.Gateway.Unmap()
	fam := netlink.FAMILY_V6
	if h.Gateway.Is4() {
		fam = netlink.FAMILY_V4
	}
	entries := []netlink.Neigh{
		{LinkIndex: vx.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_NOARP | netlink.NUD_PERMANENT,
			IP: dst.AsSlice(), HardwareAddr: mac},
		{LinkIndex: vx.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_MASTER, State: netlink.NUD_NOARP,
			Vlan: int(h.VLAN), HardwareAddr: mac},
		{LinkIndex: svi.Attrs().Index, Family: fam, State: netlink.NUD_NOARP, IP: h.Gateway.AsSlice(), HardwareAddr: mac},
	}
	for _, e := range entries {
		n.Writes++
		set := n.h.NeighSet
		if h.Gateway.Is4In6() && e.Family == netlink.FAMILY_V6 {
			set = neighSetMapped
		}
		if err := set(&e); err != nil {
			return fmt.Errorf("install router MAC %s of %s (%s): %w", h.MAC, h.Gateway, neighDesc(e), err)
		}
	}
	return nil
}

// neighSetMapped creates or replaces an IPv6 neighbor entry whose address
// is IPv4-mapped (::ffff:a.b.c.d, the next hop zebra gives IPv6 routes
// over an IPv4 VTEP); neighDelMapped deletes one. The netlink library
// sends such an address in 4 bytes, which the kernel refuses for IPv6, so
// the request is built here. It goes to the calling thread's network
// namespace, like Open's handle.
func neighSetMapped(e *netlink.Neigh) error {
	return neighMapped(unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK, e)
}

func neighDelMapped(e *netlink.Neigh) error {
	return neighMapped(unix.RTM_DELNEIGH, unix.NLM_F_ACK, e)
}

func neighMapped(cmd, flags int, e *netlink.Neigh) error {
	req := nl.NewNetlinkRequest(cmd, flags)
	msg := netlink.Ndmsg{Family: unix.AF_INET6, Index: uint32(e.LinkIndex), State: uint16(e.State), Flags: uint8(e.Flags)}
	req.AddData(&msg)
	req.AddData(nl.NewRtAttr(unix.NDA_DST, e.IP.To16()))
	if e.HardwareAddr != nil {
		req.AddData(nl.NewRtAttr(unix.NDA_LLADDR, e.HardwareAddr))
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

func neighDesc(e netlink.Neigh) string {
	switch {
	case e.Family != unix.AF_BRIDGE:
		return "neighbor"
	case e.Flags&netlink.NTF_SELF != 0:
		return "VXLAN FDB entry"
	default:
		return "bridge FDB entry"
	}
}

// RemoveL3Entry removes what InstallL3Entry installed for a next hop that
// no route uses any more, unless zebra took the neighbor entry over
// (extern_learn) or it carries another MAC by now: then nothing is
// touched. It reports whether it removed anything.
func (n *Netlink) RemoveL3Entry(h L3Hole) (bool, error) {
	svi, err := n.h.LinkByName(h.SVI)
	if err != nil {
		return false, ignoreNotFound(err)
	}
	fam := netlink.FAMILY_V6
	if h.Gateway.Is4() {
		fam = netlink.FAMILY_V4
	}
	ns, err := retry(func() ([]netlink.Neigh, error) { return n.h.NeighList(svi.Attrs().Index, fam) })
	if err != nil {
		return false, err
	}
	var mine *netlink.Neigh
	for i, e := range ns {
		if addrOf(e.IP, fam) == h.Gateway && e.HardwareAddr.String() == h.MAC && e.Flags&netlink.NTF_EXT_LEARNED == 0 {
			mine = &ns[i]
		}
	}
	if mine == nil {
		return false, nil
	}
	n.Writes++
	del := n.h.NeighDel
	if h.Gateway.Is4In6() {
		del = neighDelMapped
	}
	if err := del(mine); err != nil && !errors.Is(err, unix.ENOENT) {
		return false, fmt.Errorf("remove neighbor %s on %s: %w", h.Gateway, h.SVI, err)
	}
	// The router MAC's FDB entries go too when no neighbor on the SVI
	// (the other family's next hop of the same VTEP) still uses the MAC,
	// and only the static ones InstallL3Entry made.
	for _, f := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := retry(func() ([]netlink.Neigh, error) { return n.h.NeighList(svi.Attrs().Index, f) })
		if err != nil {
			return true, err
		}
		for _, e := range ns {
			if e.HardwareAddr.String() == h.MAC {
				return true, nil
			}
		}
	}
	vx, err := n.h.LinkByName(h.VXLAN)
	if err != nil {
		return true, ignoreNotFound(err)
	}
	fdb, err := retry(func() ([]netlink.Neigh, error) { return n.h.NeighList(vx.Attrs().Index, unix.AF_BRIDGE) })
	if err != nil {
		return true, err
	}
	for i, e := range fdb {
		if e.HardwareAddr.String() != h.MAC || e.Flags&netlink.NTF_EXT_LEARNED != 0 {
			continue
		}
		n.Writes++
		if err := n.h.NeighDel(&fdb[i]); err != nil && !errors.Is(err, unix.ENOENT) {
			return true, fmt.Errorf("remove FDB entry %s on %s: %w", h.MAC, h.VXLAN, err)
		}
	}
	return true, nil
}

// BounceLink sets an owned link down and up again. For an L3VNI's SVI
// that makes zebra take the L3VNI down and up, which drops and then
// installs again every router MAC and next-hop entry of the L3VNI from
// bgpd's routes: a recovery from the holes L3NextHops finds. Links evpnhost does not own
// are refused.
func (n *Netlink) BounceLink(name string) error {
	l, err := n.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if l.Attrs().Alias != OwnerAlias {
		return fmt.Errorf("%s: not owned by evpnhost, not touched", name)
	}
	n.Writes += 2
	if err := n.h.LinkSetDown(l); err != nil {
		return fmt.Errorf("%s down: %w", name, err)
	}
	if err := n.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s up: %w", name, err)
	}
	return nil
}

package linux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// L3NextHops reads the routes of the L3VNIs' tables that go through an
// L3VNI's SVI (a tenant's own, or another tenant's for leaked routes),
// the SVIs' neighbors and the VXLAN devices' FDB, and lists every such
// next hop under the L3VNI whose SVI it is on, with what it lacks (see
// L3Hole; Problem "" when whole). An L3VNI whose devices do not exist is
// skipped: that is the reconcile's business. It only reads.
func (n *Netlink) L3NextHops(l3 []kernel.L3VNI) ([]kernel.L3Hole, error) {
	type dev struct {
		l       kernel.L3VNI
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
	var holes []kernel.L3Hole
	for _, d := range devs {
		if len(gws[d.svi]) == 0 {
			continue
		}
		v, err := n.l3View(d.l, d.svi, d.vx)
		if err != nil {
			return holes, fmt.Errorf("%s: %w", d.l.Tenant, err)
		}
		v.Gateways = gws[d.svi]
		holes = append(holes, kernel.L3NextHops(d.l, v)...)
	}
	return holes, nil
}

// l3View reads an L3VNI's SVI neighbors and VXLAN FDB (Gateways is left
// to the caller).
func (n *Netlink) l3View(l kernel.L3VNI, svi, vx int) (kernel.L3View, error) {
	v := kernel.L3View{Neigh: map[netip.Addr]kernel.L3Neigh{}, FDB: map[string][]netip.Addr{}}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := retry(func() ([]netlink.Neigh, error) { return n.h.NeighList(svi, fam) })
		if err != nil {
			return v, fmt.Errorf("list neighbors of %s: %w", l.SVI, err)
		}
		for _, e := range ns {
			v.Neigh[addrOf(e.IP, fam)] = kernel.L3Neigh{MAC: e.HardwareAddr.String(), State: e.State}
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
func (n *Netlink) InstallL3Entry(h kernel.L3Hole) error {
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
func (n *Netlink) RemoveL3Entry(h kernel.L3Hole) (bool, error) {
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
	if l.Attrs().Alias != kernel.OwnerAlias {
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

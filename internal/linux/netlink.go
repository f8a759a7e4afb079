package linux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	mnl "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// Netlink observes and changes the kernel of the network namespace the
// process runs in. It counts its writes so callers can prove a no-op.
type Netlink struct {
	h      *netlink.Handle
	ns     netns.NsHandle // the namespace of h, for the raw bridge-port dump
	raw    *mnl.Conn      // raw rtnetlink in ns, dialled on first use (svd.go)
	Writes int

	idx map[string]int // link indexes known during one Apply (lookup cache)
}

// Open returns a Netlink bound to the current network namespace.
func Open() (*Netlink, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	ns, err := netns.Get()
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netns: %w", err)
	}
	return &Netlink{h: h, ns: ns}, nil
}

// Close releases the netlink sockets.
func (n *Netlink) Close() {
	n.h.Close()
	if n.raw != nil {
		_ = n.raw.Close()
	}
	_ = n.ns.Close()
}

// retry wraps netlink dumps, which the kernel may interrupt when the
// table changes underneath (NLM_F_DUMP_INTR): try again, with growing
// pauses (5 s in all): right after thousands of links came up, their IPv6
// addresses keep changing (DAD) and back-to-back address dumps were all
// interrupted. 0.3 s was not enough for 4000 SVIs in the Debian 13 VM
// (make bench, 2026-12-07: "list addresses: results may be incomplete").
func retry[T any](f func() (T, error)) (T, error) {
	var v T
	var err error
	for i := range 12 {
		time.Sleep(time.Duration(i*i) * 10 * time.Millisecond)
		v, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

// Observe reads the owned state plus the sysctls named in keys and the
// foreign ports named in ports (to see whether they are enslaved).
func (n *Netlink) Observe(sysctlKeys []string, ports []string) (kernel.State, error) {
	var s kernel.State
	for _, k := range sysctlKeys {
		v, err := readSysctl(k)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // e.g. an uplink's IPv6 settings before it exists
			}
			return s, err
		}
		s.Sysctls = append(s.Sysctls, kernel.Sysctl{Name: k, Value: v})
	}
	links, err := retry(n.linkList)
	if err != nil {
		return s, fmt.Errorf("list links: %w", err)
	}
	byIndex := map[int]netlink.Link{}
	for _, l := range links {
		byIndex[l.Attrs().Index] = l
	}
	name := func(idx int) string {
		if l, ok := byIndex[idx]; ok {
			return l.Attrs().Name
		}
		return ""
	}
	if lo, ok := findLink(links, "lo"); ok {
		addrs, err := retry(func() ([]netlink.Addr, error) { return n.h.AddrList(lo, netlink.FAMILY_V4) })
		if err != nil {
			return s, fmt.Errorf("list lo addresses: %w", err)
		}
		for _, a := range addrs {
			if a.Label == kernel.LoLabel {
				s.LoAddrs = append(s.LoAddrs, prefixOf(a.IPNet))
			}
		}
	}
	type vlanDump struct {
		vlans   map[int][]vlanInfo
		tunnels map[int][]kernel.Tunnel
	}
	bv, err := retry(func() (vlanDump, error) {
		v, t, err := n.bridgeVLANs()
		return vlanDump{v, t}, err
	})
	if err != nil {
		return s, fmt.Errorf("list bridge vlans: %w", err)
	}
	vlans := bv.vlans
	bridgeIdx := 0
	for _, l := range links {
		if l.Attrs().Alias == kernel.OwnerAlias && l.Attrs().Name == kernel.BridgeName && l.Type() == "bridge" {
			bridgeIdx = l.Attrs().Index
		}
	}
	// One dump each for addresses, neighbors and bridge port flags, not
	// one per link: per-link requests made Observe quadratic (the kernel
	// dumps everything and the library filters).
	addrsOf, neighsOf, portsOf, err := n.bulk(links)
	if err != nil {
		return s, err
	}
	for _, l := range links {
		a := l.Attrs()
		owned := a.Alias == kernel.OwnerAlias
		port := !owned && ((bridgeIdx != 0 && a.MasterIndex == bridgeIdx) || slices.Contains(ports, a.Name))
		if !owned && !port {
			continue
		}
		k := kernel.Link{Name: a.Name, MTU: a.MTU, MAC: a.HardwareAddr.String(), Master: name(a.MasterIndex), Up: a.Flags&net.FlagUp != 0,
			Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0}
		switch v := l.(type) {
		case *netlink.Bridge:
			k.Kind = kernel.KindBridge
		case *netlink.Vrf:
			k.Kind, k.Table = kernel.KindVRF, v.Table
		case *netlink.Vxlan:
			k.Kind, k.VNI = kernel.KindVXLAN, uint32(v.VxlanId)
			if ip, ok := netip.AddrFromSlice(v.SrcAddr); ok {
				k.Local = ip.Unmap()
			}
			if ip, ok := netip.AddrFromSlice(v.Group); ok && ip.Unmap().IsMulticast() {
				k.Group, k.Dev, k.TTL = ip.Unmap(), name(v.VtepDevIndex), v.TTL
			}
		case *netlink.Dummy:
			k.Kind = kernel.KindDummy
		case *netlink.Vlan:
			k.Kind, k.VLANID, k.Parent = kernel.KindVLAN, uint16(v.VlanId), name(a.ParentIndex)
		default:
			k.Kind = kernel.KindPort
		}
		if !owned {
			k.Kind = kernel.KindPort
		}
		for _, vi := range vlans[a.Index] {
			if k.Kind == kernel.KindBridge {
				k.VLANs = append(k.VLANs, vi.vid)
				continue
			}
			if vi.flags&nl.BRIDGE_VLAN_INFO_PVID != 0 && vi.flags&nl.BRIDGE_VLAN_INFO_UNTAGGED != 0 {
				k.PVID = vi.vid
			} else {
				k.VLANs = append(k.VLANs, vi.vid)
			}
		}
		slices.Sort(k.VLANs)
		if k.Kind == kernel.KindVXLAN && a.MasterIndex != 0 {
			pi, ok := portsOf[a.Index]
			if !ok {
				return s, fmt.Errorf("link %s: no bridge port flags", a.Name)
			}
			k.Learning, k.NeighSuppress = pi.Learning, pi.NeighSuppress
			k.VLANTunnel = pi.VlanTunnel
		}
		if v, ok := l.(*netlink.Vxlan); ok && owned && v.FlowBased {
			if err := n.observeSingle(&k, a.Index); err != nil {
				return s, fmt.Errorf("link %s: %w", a.Name, err)
			}
			if k.VNIFilter {
				k.Tunnels = bv.tunnels[a.Index]
			}
		}
		if k.Kind == kernel.KindDummy {
			local, err := n.localRoutes(a.Index)
			if err != nil {
				return s, err
			}
			for _, ad := range addrsOf[a.Index] {
				// A group joined with autojoin counts only without the
				// local route the kernel adds for it: that route sends
				// the copies multicast routing forwards to the device out
				// of lo instead, and they reach the VXLAN socket twice
				// (docs/bum-replication.md). Reported missing, the next
				// apply removes the route again.
				if p := prefixOf(ad.IPNet); p.Addr().IsMulticast() && !local[p.Addr()] {
					k.Addrs = append(k.Addrs, p)
				}
			}
			sortPrefixes(k.Addrs)
		}
		if k.Kind == kernel.KindVLAN {
			for _, ad := range addrsOf[a.Index] {
				p := prefixOf(ad.IPNet)
				if p.Addr().IsLinkLocalUnicast() {
					continue // kernel-made fe80::/64
				}
				k.Addrs = append(k.Addrs, p)
			}
			sortPrefixes(k.Addrs)
			for _, e := range neighsOf[a.Index] {
				ip, _ := netip.AddrFromSlice(e.IP)
				s.Neighs = append(s.Neighs, kernel.Neigh{Dev: a.Name, IP: ip.Unmap(), MAC: e.HardwareAddr.String()})
			}
		}
		s.Links = append(s.Links, k)
	}
	if bridgeIdx != 0 {
		fdb, err := n.fdb(bridgeIdx, byIndex)
		if err != nil {
			return s, err
		}
		s.FDB = fdb
	}
	routes, err := retry(func() ([]netlink.Route, error) {
		return n.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: kernel.RouteProtocol},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return s, fmt.Errorf("list routes: %w", err)
	}
	s.Guards = n.observeGuards()
	for _, r := range routes {
		dst := netip.MustParsePrefix("0.0.0.0/0")
		if r.Family == unix.AF_INET6 {
			dst = netip.MustParsePrefix("::/0")
		}
		if r.Dst != nil {
			dst = prefixOf(r.Dst)
		}
		kr := kernel.Route{Table: uint32(r.Table), Dst: dst, Metric: uint32(r.Priority)}
		if r.Type == unix.RTN_UNICAST {
			// A host route to a routed workload. (IPv6 unreachable routes
			// report dev lo: only unicast routes carry a device.)
			kr.Dev = name(r.LinkIndex)
		}
		s.Routes = append(s.Routes, kr)
	}
	return s, nil
}

// observeSingle completes k, the VXLAN device with index idx in
// external mode, when it is the single VXLAN device: its vnifilter flag
// and VNI filter entries.
func (n *Netlink) observeSingle(k *kernel.Link, idx int) error {
	on, err := n.vniFiltered(idx)
	if err != nil || !on {
		return err
	}
	k.VNIFilter = true
	if k.VNIs, err = retry(func() ([]uint32, error) { return n.vniFilter(idx) }); err != nil {
		return fmt.Errorf("vni filter: %w", err)
	}
	return nil // the maps come with the bridge VLAN dump
}

// localRoutes returns the addresses that have a local route (table
// local, type local) through the link with index idx.
func (n *Netlink) localRoutes(idx int) (map[netip.Addr]bool, error) {
	rs, err := retry(func() ([]netlink.Route, error) {
		return n.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_LOCAL, LinkIndex: idx},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
	})
	if err != nil {
		return nil, fmt.Errorf("list local routes: %w", err)
	}
	out := map[netip.Addr]bool{}
	for _, r := range rs {
		if r.Type == unix.RTN_LOCAL && r.Dst != nil {
			out[prefixOf(r.Dst).Addr()] = true
		}
	}
	return out, nil
}

// dropLocalRoute removes the local route the kernel adds with a group
// address (ip route del table local local G dev ipmr-lo): without it,
// multicast routing's copies for the device loop back on the device
// itself and are delivered once; with it they go out of lo as well, where
// the VXLAN device has joined the group, and arrive twice.
func (n *Netlink) dropLocalRoute(l netlink.Link, g netip.Prefix) error {
	n.Writes++
	return ignore(n.h.RouteDel(&netlink.Route{
		Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL, Dst: ipNet(netip.PrefixFrom(g.Addr(), g.Addr().BitLen())),
		LinkIndex: l.Attrs().Index, Scope: netlink.SCOPE_HOST, Protocol: unix.RTPROT_KERNEL,
	}), unix.ESRCH)
}

// bulk reads, in one dump each, the addresses of every link, the managed
// neighbor entries (permanent, not extern_learn; IPv4 before IPv6 per
// link) and the flags of every bridge port, keyed by link index.
func (n *Netlink) bulk(links []netlink.Link) (map[int][]netlink.Addr, map[int][]netlink.Neigh, map[int]netlink.Protinfo, error) {
	svi, port := false, false
	for _, l := range links {
		if l.Attrs().Alias != kernel.OwnerAlias {
			continue
		}
		switch l.Type() {
		case "vlan", "dummy":
			svi = true
		case "vxlan":
			port = port || l.Attrs().MasterIndex != 0
		}
	}
	addrsOf := map[int][]netlink.Addr{}
	neighsOf := map[int][]netlink.Neigh{}
	if svi {
		addrs, err := retry(func() ([]netlink.Addr, error) { return n.h.AddrList(nil, netlink.FAMILY_ALL) })
		if err != nil {
			return nil, nil, nil, fmt.Errorf("list addresses: %w", err)
		}
		for _, a := range addrs {
			addrsOf[a.LinkIndex] = append(addrsOf[a.LinkIndex], a)
		}
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			ns, err := retry(func() ([]netlink.Neigh, error) { return n.h.NeighList(0, fam) })
			if err != nil {
				return nil, nil, nil, fmt.Errorf("list neighbors: %w", err)
			}
			for _, e := range ns {
				if e.State&netlink.NUD_PERMANENT == 0 || e.Flags&netlink.NTF_EXT_LEARNED != 0 {
					continue // learnt, or installed by zebra for a remote host
				}
				neighsOf[e.LinkIndex] = append(neighsOf[e.LinkIndex], e)
			}
		}
	}
	var portsOf map[int]netlink.Protinfo
	if port {
		var err error
		if portsOf, err = retry(n.bridgePorts); err != nil {
			return nil, nil, nil, fmt.Errorf("list bridge ports: %w", err)
		}
	}
	return addrsOf, neighsOf, portsOf, nil
}

// bridgePorts dumps the bridge port flags (IFLA_PROTINFO) of every port,
// like `bridge -d link show`: LinkGetProtinfo does the same dump for
// a single link.
//
// It goes through mdlayher/netlink (svd.go): the kernel sizes a link
// dump's buffers by its largest link, which the single VXLAN device with
// thousands of VLAN-to-VNI maps takes beyond the 64 KiB vishvananda reads.
func (n *Netlink) bridgePorts() (map[int]netlink.Protinfo, error) {
	msgs, err := n.dump(unix.RTM_GETLINK, ifinfomsg(unix.AF_BRIDGE, 0))
	if err != nil {
		return nil, err // ErrDumpInterrupted included: retry dumps again
	}
	out := map[int]netlink.Protinfo{}
	for _, mm := range msgs {
		m := mm.Data
		if len(m) < unix.SizeofIfInfomsg {
			continue
		}
		ifi := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[ifi.Len():])
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_PROTINFO {
				continue
			}
			infos, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return nil, err
			}
			var pi netlink.Protinfo
			for _, i := range infos {
				on := len(i.Value) > 0 && i.Value[0] != 0
				switch i.Attr.Type {
				case nl.IFLA_BRPORT_LEARNING:
					pi.Learning = on
				case nl.IFLA_BRPORT_NEIGH_SUPPRESS:
					pi.NeighSuppress = on
				case nl.IFLA_BRPORT_VLAN_TUNNEL:
					pi.VlanTunnel = on
				}
			}
			out[int(ifi.Index)] = pi
		}
	}
	return out, nil
}

// fdb returns the managed FDB entries: permanent entries on the bridge
// itself other than its own MAC (anycast gateways), and static entries on
// foreign ports (workloads). VXLAN ports belong to zebra.
func (n *Netlink) fdb(bridgeIdx int, byIndex map[int]netlink.Link) ([]kernel.FDB, error) {
	all, err := retry(func() ([]netlink.Neigh, error) { return n.h.NeighList(0, unix.AF_BRIDGE) })
	if err != nil {
		return nil, fmt.Errorf("list fdb: %w", err)
	}
	br := byIndex[bridgeIdx]
	var out []kernel.FDB
	for _, e := range all {
		l, ok := byIndex[e.LinkIndex]
		if !ok || e.Flags&netlink.NTF_EXT_LEARNED != 0 || e.Vlan == 0 {
			continue
		}
		mac := e.HardwareAddr.String()
		switch {
		case e.LinkIndex == bridgeIdx:
			if e.State&netlink.NUD_PERMANENT != 0 && mac != br.Attrs().HardwareAddr.String() {
				out = append(out, kernel.FDB{Dev: kernel.BridgeName, MAC: mac, VLAN: uint16(e.Vlan), Self: true})
			}
		case l.Attrs().MasterIndex == bridgeIdx && l.Type() != "vxlan" && l.Attrs().Alias != kernel.OwnerAlias:
			if e.State&netlink.NUD_NOARP != 0 && e.State&netlink.NUD_PERMANENT == 0 {
				out = append(out, kernel.FDB{Dev: l.Attrs().Name, MAC: mac, VLAN: uint16(e.Vlan)})
			}
		}
	}
	slices.SortFunc(out, func(a, b kernel.FDB) int { return strings.Compare(a.Key(), b.Key()) })
	return out, nil
}

// Apply runs the operations in order and stops at the first failure,
// returning how many succeeded. Nothing is rolled back: every operation
// leaves a consistent kernel and the next apply resumes from there.
//
// A failed operation does not stop the others: one tenant's broken
// device must not hold back the rest of the host. Operations that touch a
// link whose add or replace failed (its ports, addresses, FDB and neighbor
// entries, bringing it up) are skipped rather than tried, so a foreign
// device that happens to carry an owned name is never modified. The error
// is an *ApplyError listing every failure; the count is of operations
// applied.
func (n *Netlink) Apply(ops []kernel.Op) (int, error) {
	n.idx = map[string]int{}
	defer func() { n.idx = nil }()
	var ae kernel.ApplyError
	done := 0
	for _, op := range ops {
		if dep := ae.Blocks(op); dep != "" {
			ae.Failed = append(ae.Failed, kernel.OpError{Op: op, Err: fmt.Errorf("skipped: link %s could not be created", dep)})
			continue
		}
		if err := n.apply(op); err != nil {
			ae.Failed = append(ae.Failed, kernel.OpError{Op: op, Err: err})
			continue
		}
		done++
	}
	if len(ae.Failed) > 0 {
		return done, &ae
	}
	return done, nil
}

func (n *Netlink) apply(op kernel.Op) error {
	switch {
	case op.Guards != nil:
		return n.setGuards(*op.Guards)
	case op.Sysctl != nil:
		n.Writes++
		return writeSysctl(op.Sysctl.Name, op.Sysctl.Value)
	case op.LoAddr != nil:
		lo, err := n.byName("lo")
		if err != nil {
			return err
		}
		a := &netlink.Addr{IPNet: ipNet(*op.LoAddr), Label: kernel.LoLabel}
		n.Writes++
		if op.Action == kernel.ActDelete {
			return ignore(n.h.AddrDel(lo, a), unix.EADDRNOTAVAIL)
		}
		if err := n.h.LinkSetUp(lo); err != nil {
			return err
		}
		return ignore(n.h.AddrAdd(lo, a), unix.EEXIST)
	case op.Route != nil:
		r := routeOf(*op.Route)
		if op.Route.Dev != "" {
			l, err := n.byName(op.Route.Dev)
			if err != nil {
				if op.Action == kernel.ActDelete {
					return ignoreNotFound(err) // the device took its routes with it
				}
				return err
			}
			r.LinkIndex, r.Type, r.Scope = l.Attrs().Index, unix.RTN_UNICAST, netlink.SCOPE_LINK
		}
		n.Writes++
		if op.Action == kernel.ActDelete {
			return ignore(n.h.RouteDel(r), unix.ESRCH)
		}
		return ignore(n.h.RouteAdd(r), unix.EEXIST)
	case op.Neigh != nil:
		return n.applyNeigh(op)
	case op.FDB != nil:
		return n.applyFDB(op)
	case op.Link != nil:
		return n.applyLink(op)
	}
	return fmt.Errorf("empty operation")
}

func (n *Netlink) applyNeigh(op kernel.Op) error {
	l, err := n.byName(op.Neigh.Dev)
	if err != nil {
		return err
	}
	mac, _ := net.ParseMAC(op.Neigh.MAC)
	fam := netlink.FAMILY_V4
	if op.Neigh.IP.Is6() {
		fam = netlink.FAMILY_V6
	}
	e := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: op.Neigh.IP.AsSlice(), HardwareAddr: mac}
	n.Writes++
	if op.Action == kernel.ActDelete {
		return ignore(n.h.NeighDel(e), unix.ENOENT)
	}
	return n.h.NeighSet(e)
}

func (n *Netlink) applyFDB(op kernel.Op) error {
	l, err := n.byName(op.FDB.Dev)
	if err != nil {
		return err
	}
	mac, _ := net.ParseMAC(op.FDB.MAC)
	e := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_BRIDGE, HardwareAddr: mac, Vlan: int(op.FDB.VLAN)}
	if op.FDB.Self {
		e.Flags, e.State = netlink.NTF_SELF, netlink.NUD_PERMANENT // bridge fdb add MAC dev BR vlan V self local
	} else {
		e.Flags, e.State = netlink.NTF_MASTER, netlink.NUD_NOARP // bridge fdb add MAC dev PORT vlan V master static
	}
	n.Writes++
	if op.Action == kernel.ActDelete {
		return ignore(n.h.NeighDel(e), unix.ENOENT)
	}
	return n.h.NeighSet(e)
}

func (n *Netlink) applyLink(op kernel.Op) error {
	d := *op.Link
	switch op.Action {
	case kernel.ActDelete:
		l, err := n.byName(d.Name)
		if err != nil {
			return ignoreNotFound(err)
		}
		delete(n.idx, d.Name)
		n.Writes++
		return n.h.LinkDel(l)
	case kernel.ActUp:
		l, err := n.byName(d.Name)
		if err != nil {
			return err
		}
		n.Writes++
		return n.h.LinkSetUp(l)
	case kernel.ActReplace:
		if l, err := n.byName(d.Name); err == nil {
			delete(n.idx, d.Name)
			n.Writes++
			if err := n.h.LinkDel(l); err != nil {
				return err
			}
		}
		return n.create(d)
	case kernel.ActAdd:
		return n.create(d)
	case kernel.ActSet:
		return n.set(d, *op.Old, op.Changes)
	}
	return fmt.Errorf("unknown action %q", op.Action)
}

// create adds the link down, then sets every managed attribute.
func (n *Netlink) create(d kernel.Link) error {
	attrs := netlink.LinkAttrs{Name: d.Name, MTU: d.MTU}
	if d.MAC != "" {
		attrs.HardwareAddr, _ = net.ParseMAC(d.MAC)
	}
	var l netlink.Link
	switch d.Kind {
	case kernel.KindBridge:
		on, pvid := true, uint16(0)
		// ip link add evpnbr type bridge vlan_filtering 1 vlan_default_pvid 0
		l = &netlink.Bridge{LinkAttrs: attrs, VlanFiltering: &on, VlanDefaultPVID: &pvid}
	case kernel.KindVRF:
		l = &netlink.Vrf{LinkAttrs: attrs, Table: d.Table} // ip link add NAME type vrf table T
	case kernel.KindVXLAN:
		if d.VNIFilter {
			if err := n.createSingle(d); err != nil {
				return err
			}
			l = &netlink.Device{LinkAttrs: attrs}
			break
		}
		// ip link add vxN type vxlan id N local VTEP dstport 4789 nolearning
		vx := &netlink.Vxlan{LinkAttrs: attrs, VxlanId: int(d.VNI), SrcAddr: d.Local.AsSlice(), Port: kernel.VXLANPort, Learning: false}
		if d.Group.IsValid() {
			// ... group G dev D ttl N: BUM frames go to the group (the
			// kernel's default TTL for a group would be 1).
			dev, err := n.byName(d.Dev)
			if err != nil {
				return fmt.Errorf("vxlan device %s: %w", d.Dev, err)
			}
			vx.Group, vx.VtepDevIndex, vx.TTL = d.Group.AsSlice(), dev.Attrs().Index, d.TTL
		}
		l = vx
	case kernel.KindDummy:
		l = &netlink.Dummy{LinkAttrs: attrs} // ip link add NAME type dummy
	case kernel.KindVLAN:
		p, err := n.byName(d.Parent)
		if err != nil {
			return fmt.Errorf("parent %s: %w", d.Parent, err)
		}
		attrs.ParentIndex = p.Attrs().Index
		l = &netlink.Vlan{LinkAttrs: attrs, VlanId: int(d.VLANID)} // ip link add link BR name vlanV type vlan id V
	default:
		return fmt.Errorf("cannot create a %s", d.Kind)
	}
	if !d.VNIFilter {
		n.Writes++
		if err := n.h.LinkAdd(l); err != nil {
			return err
		}
	} else {
		// createSingle's request carries no index back: look it up.
		dev, err := n.h.LinkByName(d.Name)
		if err != nil {
			return err
		}
		l = dev
	}
	if i := l.Attrs().Index; i != 0 && n.idx != nil {
		n.idx[d.Name] = i // LinkAdd looked it up
	}
	n.Writes++
	if err := n.h.LinkSetAlias(l, kernel.OwnerAlias); err != nil {
		return err
	}
	if d.Kind == kernel.KindVLAN {
		// Every host has the same SVI MAC, hence the same IPv6 link-local
		// address: duplicate address detection would fail it.
		n.Writes++
		if err := writeSysctl("net/ipv6/conf/"+d.Name+"/accept_dad", "0"); err != nil {
			return err
		}
	}
	var ch kernel.LinkChanges
	if d.Master != "" {
		ch = append(ch, kernel.LinkChange{Attr: kernel.AttrMaster})
	}
	if len(d.VLANs) > 0 {
		ch = append(ch, kernel.LinkChange{Attr: kernel.AttrVLANs})
	}
	if d.PVID != 0 {
		ch = append(ch, kernel.LinkChange{Attr: kernel.AttrPVID})
	}
	if d.Kind == kernel.KindVXLAN {
		ch = append(ch, kernel.LinkChange{Attr: kernel.AttrLearning}, kernel.LinkChange{Attr: kernel.AttrNeighSuppress})
	}
	if d.VNIFilter {
		// In the order the kernel needs: the maps need the VLANs and
		// vlan_tunnel.
		ch = append(ch, kernel.LinkChange{Attr: kernel.AttrVLANTunnel}, kernel.LinkChange{Attr: kernel.AttrVNIs}, kernel.LinkChange{Attr: kernel.AttrTunnels})
	}
	if len(d.Addrs) > 0 {
		ch = append(ch, kernel.LinkChange{Attr: kernel.AttrAddrs})
	}
	return n.set(d, kernel.Link{Name: d.Name, Kind: d.Kind, Learning: true}, ch)
}

// set changes the named attributes of an existing link from o to d.
func (n *Netlink) set(d, o kernel.Link, changes kernel.LinkChanges) error {
	l, err := n.byName(d.Name)
	if err != nil {
		return err
	}
	for _, c := range changes {
		switch c.Attr {
		case kernel.AttrVLANTunnel, kernel.AttrVNIs, kernel.AttrTunnels:
			if err := n.setSingle(l, c.Attr, d, o); err != nil {
				return fmt.Errorf("%s: %w", c.Attr, err)
			}
			continue
		}
		n.Writes++
		switch c.Attr {
		case kernel.AttrMTU:
			err = n.h.LinkSetMTU(l, d.MTU)
		case kernel.AttrAddress:
			mac, _ := net.ParseMAC(d.MAC)
			err = n.h.LinkSetHardwareAddr(l, mac)
		case kernel.AttrMaster:
			if d.Master == "" {
				err = n.h.LinkSetNoMaster(l)
				break
			}
			var m netlink.Link
			if m, err = n.byName(d.Master); err == nil {
				err = n.h.LinkSetMasterByIndex(l, m.Attrs().Index)
			}
			// A new bridge port starts with VLAN 1 unless vlan_default_pvid
			// is 0 (it is on evpnbr); the pvid change below sets the rest.
		case kernel.AttrVLANs:
			// Contiguous VLANs go in one request (bridge vlan add vid A-B):
			// a bridge carries thousands.
			self := d.Kind == kernel.KindBridge
			// The kernel rejects a range of one (begin == end).
			for _, r := range vlanRanges(d.VLANs, o.VLANs) {
				switch {
				case err != nil:
				case r[0] == r[1]:
					err = n.h.BridgeVlanAdd(l, r[0], false, false, self, !self)
				default:
					err = n.h.BridgeVlanAddRange(l, r[0], r[1], false, false, self, !self)
				}
			}
			for _, r := range vlanRanges(o.VLANs, d.VLANs) {
				switch {
				case err != nil:
				case r[0] == r[1]:
					err = ignore(n.h.BridgeVlanDel(l, r[0], false, false, self, !self), unix.ENOENT)
				default:
					err = ignore(n.h.BridgeVlanDelRange(l, r[0], r[1], false, false, self, !self), unix.ENOENT)
				}
			}
		case kernel.AttrPVID:
			if o.PVID != 0 && o.PVID != d.PVID {
				err = ignore(n.h.BridgeVlanDel(l, o.PVID, true, true, false, true), unix.ENOENT)
			}
			if err == nil && d.PVID != 0 {
				err = n.h.BridgeVlanAdd(l, d.PVID, true, true, false, true) // bridge vlan add dev P vid V pvid untagged
			}
		case kernel.AttrLearning:
			err = n.h.LinkSetLearning(l, d.Learning) // bridge link set dev P learning off
		case kernel.AttrNeighSuppress:
			err = n.h.LinkSetBrNeighSuppress(l, d.NeighSuppress) // bridge link set dev P neigh_suppress on
		case kernel.AttrAddrs:
			for _, a := range o.Addrs {
				if !slices.Contains(d.Addrs, a) && err == nil {
					err = ignore(n.h.AddrDel(l, &netlink.Addr{IPNet: ipNet(a)}), unix.EADDRNOTAVAIL)
				}
			}
			for _, a := range d.Addrs {
				if !slices.Contains(o.Addrs, a) && err == nil {
					na := &netlink.Addr{IPNet: ipNet(a)}
					if a.Addr().Is6() {
						na.Flags = unix.IFA_F_NODAD // anycast gateway: same address on every host
					}
					if a.Addr().IsMulticast() {
						na.Flags = unix.IFA_F_MCAUTOJOIN // ip addr add G/32 dev ipmr-lo autojoin
					}
					err = ignore(n.h.AddrAdd(l, na), unix.EEXIST)
					if err == nil && a.Addr().IsMulticast() {
						err = n.dropLocalRoute(l, a)
					}
				}
			}
		default:
			err = fmt.Errorf("unknown attribute %q", c.Attr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.Attr, err)
		}
	}
	return nil
}

// byName is LinkByName with, during Apply, a cache of link indexes: the
// operations only need the index, and each lookup is a round trip that
// returns (and decodes) the whole link. Links deleted during Apply leave
// the cache.
func (n *Netlink) byName(name string) (netlink.Link, error) {
	if i, ok := n.idx[name]; ok {
		return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name, Index: i}}, nil
	}
	l, err := n.h.LinkByName(name)
	if err == nil && n.idx != nil {
		n.idx[name] = l.Attrs().Index
	}
	return l, err
}

// vlanRanges returns the VLANs of want that have lacks, as sorted
// contiguous ranges [first, last].
func vlanRanges(want, has []uint16) [][2]uint16 {
	var v []uint16
	for _, x := range want {
		if !slices.Contains(has, x) {
			v = append(v, x)
		}
	}
	slices.Sort(v)
	v = slices.Compact(v)
	var out [][2]uint16
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		out = append(out, [2]uint16{v[i], v[j]})
		i = j + 1
	}
	return out
}

func routeOf(r kernel.Route) *netlink.Route {
	fam := netlink.FAMILY_V4
	if r.Dst.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	return &netlink.Route{Family: fam, Table: int(r.Table), Dst: ipNet(r.Dst), Type: unix.RTN_UNREACHABLE,
		Priority: int(r.Metric), Protocol: kernel.RouteProtocol}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	if a.Is4In6() {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, ones)
}

func sortPrefixes(p []netip.Prefix) {
	slices.SortFunc(p, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
}

func findLink(ls []netlink.Link, name string) (netlink.Link, bool) {
	for _, l := range ls {
		if l.Attrs().Name == name {
			return l, true
		}
	}
	return nil, false
}

func ignore(err error, errno unix.Errno) error {
	if errors.Is(err, errno) {
		return nil
	}
	return err
}

func ignoreNotFound(err error) error {
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

// sysctlPath maps a key written with slashes (net/ipv4/ip_forward), which
// keeps interface names with dots intact, to its /proc/sys file.
func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", key)
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(b)), err
}

// WriteSysctl sets a sysctl of the current network namespace, the key
// written with slashes (net/ipv6/conf/DEV/disable_ipv6).
func WriteSysctl(key, value string) error { return writeSysctl(key, value) }

func writeSysctl(key, value string) error {
	return os.WriteFile(sysctlPath(key), []byte(value), 0o644)
}

// RefreshNeighbors asks the kernel to re-resolve every learnt neighbor on
// the owned SVIs that is no longer confirmed (STALE), so workloads that
// evpnhost did not attach itself (and whose MAC/IP it cannot install as
// permanent entries) keep their type-2 routes while they live: zebra
// withdraws a MAC/IP route once its entry ages out, and with ARP
// suppression nobody relearns it (docs/field-notes.md §4). The kernel probes with
// unicast ARP/NS, like `ip neigh change IP dev SVI use` would trigger.
// It returns how many entries were refreshed.
func (n *Netlink) RefreshNeighbors() (int, error) {
	links, err := retry(n.linkList)
	if err != nil {
		return 0, fmt.Errorf("list links: %w", err)
	}
	count := 0
	for _, l := range links {
		if l.Attrs().Alias != kernel.OwnerAlias || l.Type() != "vlan" {
			continue
		}
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			ns, err := retry(func() ([]netlink.Neigh, error) { return n.h.NeighList(l.Attrs().Index, fam) })
			if err != nil {
				return count, fmt.Errorf("list neighbors of %s: %w", l.Attrs().Name, err)
			}
			for _, e := range ns {
				if e.State&netlink.NUD_STALE == 0 || e.Flags&netlink.NTF_EXT_LEARNED != 0 {
					continue
				}
				// NTF_USE makes the kernel treat the entry as used: a
				// stale entry goes through DELAY to PROBE.
				ref := netlink.Neigh{LinkIndex: e.LinkIndex, Family: fam, IP: e.IP, HardwareAddr: e.HardwareAddr,
					State: netlink.NUD_STALE, Flags: netlink.NTF_USE}
				if err := n.h.NeighSet(&ref); err != nil && !errors.Is(err, unix.ENOENT) {
					return count, fmt.Errorf("refresh %s on %s: %w", e.IP, l.Attrs().Name, err)
				}
				count++
			}
		}
	}
	return count, nil
}

// DeleteLink deletes a link by name, owned or not: the host end of a
// workload veth whose container is gone (deleting one end of a veth
// deletes both). A missing link is not an error; existed tells whether
// there was one.
func (n *Netlink) DeleteLink(name string) (existed bool, err error) {
	l, err := n.h.LinkByName(name)
	if err != nil {
		return false, ignoreNotFound(err)
	}
	n.Writes++
	if err := n.h.LinkDel(l); err != nil {
		return true, ignoreNotFound(err)
	}
	return true, nil
}

// DeleteLinkIndex deletes the link with ifindex index if it still has
// name: a link the caller created and observed, never one that took its
// name since. existed tells whether it was there and deleted.
func (n *Netlink) DeleteLinkIndex(index int, name string) (existed bool, err error) {
	l, err := n.h.LinkByIndex(index)
	if err != nil {
		return false, ignoreNotFound(err)
	}
	if l.Attrs().Name != name {
		return false, nil
	}
	n.Writes++
	if err := n.h.LinkDel(l); err != nil {
		return true, ignoreNotFound(err)
	}
	return true, nil
}

// Subscribe reports kernel changes that may have undone evpnhost's work:
// link and address events of the current network namespace. Each event
// only says "look again"; the caller debounces and diffs. The channel
// closes when done closes or the subscription fails.
func Subscribe(done <-chan struct{}) (<-chan struct{}, error) {
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	failed := make(chan struct{})
	var once sync.Once
	fail := func(error) { once.Do(func() { close(failed) }) }
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: fail}); err != nil {
		return nil, fmt.Errorf("subscribe to link events: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: fail}); err != nil {
		return nil, fmt.Errorf("subscribe to address events: %w", err)
	}
	out := make(chan struct{}, 1)
	poke := func() {
		select {
		case out <- struct{}{}:
		default: // one pending signal is enough
		}
	}
	go func() {
		defer close(out)
		for {
			select {
			case <-done:
				return
			case <-failed:
				return
			case _, ok := <-links:
				if !ok {
					return
				}
				poke()
			case _, ok := <-addrs:
				if !ok {
					return
				}
				poke()
			}
		}
	}()
	return out, nil
}

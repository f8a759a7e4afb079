// Package plan turns a validated intent into the desired kernel state and
// the desired FRR configuration model. It is pure: no I/O, no clock, and
// the same intent always gives the same result, in a deterministic order.
package plan

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// Desired is what a host should look like.
type Desired struct {
	Kernel kernel.State
	FRR    frr.Config
}

// Attachment is a workload attached at run time, outside the intent (by
// the CNI plugin or `evpnhost attach`). Bridged attachments become bridge
// ports like intent workloads; routed ones become ports of the tenant VRF
// with a host route per address (advertised as type-5 routes).
type Attachment struct {
	Network   string // "tenant/network"
	Interface string // host side
	MAC       string
	IPs       []netip.Addr
	Routed    bool
	Name      string // the workload's name for policy selectors (a Docker container's); may be empty
}

// Build computes the desired state of the host described by in, which must
// have passed validation.
func Build(in *api.Intent) Desired { return BuildWith(in, nil) }

// BuildWith is Build plus run-time attachments. Attachments naming a
// network the intent does not have, an interface evpnhost owns or uses
// (ReservedInterface), or an interface an earlier attachment already uses,
// are left out (Skipped tells which).
func BuildWith(in *api.Intent, atts []Attachment) Desired {
	d, _ := build(in, atts)
	return d
}

// Skipped lists the attachments BuildWith leaves out, with the reason.
func Skipped(in *api.Intent, atts []Attachment) map[string]string {
	_, s := build(in, atts)
	return s
}

func build(in *api.Intent, atts []Attachment) (Desired, map[string]string) {
	skipped := map[string]string{}
	h := in.Host
	vtep := h.VTEPAddr()
	d := Desired{FRR: frr.Config{
		Hostname: h.Name,
		ASN:      h.ASN,
		RouterID: h.RouterIDAddr(),
		VTEP:     netip.PrefixFrom(vtep, 32),
		Uplinks:  slices.Clone(h.Uplinks),
		BFD:      h.BFD,
	}}
	k := &d.Kernel
	k.Sysctls = underlaySysctls(h.Uplinks)
	k.LoAddrs = []netip.Prefix{netip.PrefixFrom(vtep, 32)}
	if len(in.Tenants) == 0 {
		for _, a := range atts {
			skipped[a.Interface] = "unknown network " + a.Network
		}
		return d, skipped
	}

	defMTU := h.UnderlayMTU() - api.VXLANOverhead
	l3vlan := in.L3VLAN()
	single := h.VXLANDevice == api.VXLANSingle
	// The single VXLAN device: every VNI's VLAN, filter entry and map
	// (docs/intent.md); its MTU is the largest network's.
	svd := kernel.Link{Name: SingleVXLAN, Kind: kernel.KindVXLAN, VNIFilter: true, VLANTunnel: true, Local: vtep,
		Master: kernel.BridgeName, MTU: defMTU, MAC: RouterMAC(vtep), NeighSuppress: true, Learning: false, Up: true}
	carry := func(vni uint32, vlan uint16) {
		svd.VLANs = append(svd.VLANs, vlan)
		svd.VNIs = append(svd.VNIs, vni)
		svd.Tunnels = append(svd.Tunnels, kernel.Tunnel{VLAN: vlan, VNI: vni})
	}
	bridge := kernel.Link{Name: kernel.BridgeName, Kind: kernel.KindBridge, MAC: RouterMAC(vtep), Up: true}
	var vrfs, vxlans, svis, ports []kernel.Link
	var groups []netip.Prefix       // multicast groups of the networks
	devsOf := map[string][]string{} // tenant -> its SVIs and routed ports
	netVLAN := map[string]uint16{}
	tables := map[string]uint32{}
	for _, t := range in.Tenants {
		tables[t.Name] = t.Table()
		lv := l3vlan[t.Name]
		bridge.VLANs = append(bridge.VLANs, lv)
		vrfs = append(vrfs, kernel.Link{Name: t.Name, Kind: kernel.KindVRF, Table: t.Table(), Up: true})
		l3svi := kernel.Link{Name: sviName(lv), Kind: kernel.KindVLAN, Parent: kernel.BridgeName,
			VLANID: lv, Master: t.Name, MTU: defMTU, Up: true}
		if single {
			// One router MAC per VTEP: on the bridge, the device and the
			// L3 SVIs (FRR's SVD; per-VRF SVI MACs blackhole, FRR #22577).
			carry(t.L3VNI, lv)
			l3svi.MAC = RouterMAC(vtep)
		} else {
			vxlans = append(vxlans, vxlan(t.L3VNI, lv, vtep, defMTU, true))
		}
		svis = append(svis, l3svi)
		devsOf[t.Name] = append(devsOf[t.Name], sviName(lv))
		for _, af := range []string{"0.0.0.0/0", "::/0"} {
			k.Routes = append(k.Routes, kernel.Route{Table: t.Table(), Dst: netip.MustParsePrefix(af), Metric: kernel.UnreachableMetric})
		}
		vrf := frr.VRF{Name: t.Name, L3VNI: t.L3VNI, RouterID: h.RouterIDAddr(), RD: t.RD}
		if t.RouteTargets != nil {
			vrf.RTImport = slices.Clone(t.RouteTargets.Import)
			vrf.RTExport = slices.Clone(t.RouteTargets.Export)
		}
		for _, n := range t.Networks {
			mtu := n.MTUOr(h.UnderlayMTU())
			netVLAN[t.Name+"/"+n.Name] = n.VLAN
			bridge.VLANs = append(bridge.VLANs, n.VLAN)
			if single {
				carry(n.VNI, n.VLAN)
				svd.MTU = max(svd.MTU, mtu)
			} else {
				vx := vxlan(n.VNI, n.VLAN, vtep, mtu, n.Suppress())
				if g := n.Group(); g.IsValid() {
					vx.Group, vx.Dev, vx.TTL = g, MulticastDev, MulticastTTL
					if !slices.Contains(groups, netip.PrefixFrom(g, 32)) {
						groups = append(groups, netip.PrefixFrom(g, 32))
					}
				}
				vxlans = append(vxlans, vx)
			}
			gws := n.GatewayPrefixes()
			slices.SortFunc(gws, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
			mac := n.GatewayMAC().String()
			svis = append(svis, kernel.Link{Name: sviName(n.VLAN), Kind: kernel.KindVLAN, Parent: kernel.BridgeName,
				VLANID: n.VLAN, Master: t.Name, MTU: mtu, MAC: mac, Addrs: gws, Up: true})
			devsOf[t.Name] = append(devsOf[t.Name], sviName(n.VLAN))
			// Frames to the anycast MAC must stay on this host: without a
			// local entry the bridge floods them into the VXLAN and every
			// host routes a copy (docs/field-notes.md §3).
			k.FDB = append(k.FDB, kernel.FDB{Dev: kernel.BridgeName, MAC: mac, VLAN: n.VLAN, Self: true})
			for _, s := range n.Subnets() {
				if s.Addr().Is4() {
					vrf.IPv4 = true
				} else {
					vrf.IPv6 = true
				}
			}
		}
		vrf.Imports = leaks(in, t)
		for _, im := range vrf.Imports {
			for _, p := range im.Prefixes {
				vrf.IPv4 = vrf.IPv4 || p.Addr().Is4()
				vrf.IPv6 = vrf.IPv6 || p.Addr().Is6()
			}
		}
		d.FRR.VRFs = append(d.FRR.VRFs, vrf)
	}
	slices.Sort(bridge.VLANs)
	if single {
		slices.Sort(svd.VLANs)
		slices.Sort(svd.VNIs)
		slices.SortFunc(svd.Tunnels, func(a, b kernel.Tunnel) int { return int(a.VLAN) - int(b.VLAN) })
		vxlans = []kernel.Link{svd}
	}
	var dummies []kernel.Link
	if len(groups) > 0 {
		m := h.Multicast
		d.FRR.Multicast = &frr.Multicast{RP: m.RPAddr(), Groups: m.GroupPrefixes()}
		slices.SortFunc(groups, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		dummies = append(dummies, kernel.Link{Name: TermDev, Kind: kernel.KindDummy, Addrs: groups, Up: true})
	}
	// SVIs cannot exceed the bridge's MTU: give it the largest one.
	for _, v := range vxlans {
		bridge.MTU = max(bridge.MTU, v.MTU)
	}
	workloads := slices.Clone(in.Workloads)
	used := map[string]bool{}
	for _, w := range workloads {
		used[w.Interface] = true
	}
	var routed []kernel.Link
	own := slices.Concat(dummies, []kernel.Link{bridge}, vrfs, vxlans, svis)
	for _, a := range atts {
		switch {
		case netVLAN[a.Network] == 0:
			skipped[a.Interface] = "unknown network " + a.Network
			continue
		case reserved(in, own, a.Interface) != "":
			skipped[a.Interface] = reserved(in, own, a.Interface)
			continue
		case used[a.Interface]:
			skipped[a.Interface] = "interface already used by another workload"
			continue
		}
		used[a.Interface] = true
		if !a.Routed {
			w := api.Workload{Name: a.Interface, Network: a.Network, Interface: a.Interface, MAC: a.MAC}
			for _, ip := range a.IPs {
				w.IPs = append(w.IPs, ip.String())
			}
			workloads = append(workloads, w)
			continue
		}
		// Routed: the host end is a port of the tenant VRF, each address a
		// host route through it (protocol 208, redistributed into BGP as
		// type-5 routes by the EVPNHOST-HOSTROUTES route-map).
		tenant, _, _ := api.SplitNetworkRef(a.Network)
		routed = append(routed, kernel.Link{Name: a.Interface, Kind: kernel.KindPort, Master: tenant, Up: true})
		devsOf[tenant] = append(devsOf[tenant], a.Interface)
		for _, ip := range a.IPs {
			var metric uint32
			if ip.Is6() {
				metric = 1024 // what the kernel reports for an IPv6 route added without one
			}
			k.Routes = append(k.Routes, kernel.Route{Table: tables[tenant], Dst: netip.PrefixFrom(ip, ip.BitLen()), Metric: metric, Dev: a.Interface})
		}
	}
	for _, w := range workloads {
		vid := netVLAN[w.Network]
		// Up: a port is brought up when it joins the bridge, as ifupdown2's
		// bridge-ports and the CNI bridge plugin do; a port left down
		// passes nothing, not even the workload's ARP for its gateway.
		ports = append(ports, kernel.Link{Name: w.Interface, Kind: kernel.KindPort, Master: kernel.BridgeName, PVID: vid, Up: true})
		mac := w.HWAddr()
		if mac == nil {
			continue
		}
		k.FDB = append(k.FDB, kernel.FDB{Dev: w.Interface, MAC: mac.String(), VLAN: vid})
		for _, ip := range w.Addrs() {
			k.Neighs = append(k.Neighs, kernel.Neigh{Dev: sviName(vid), IP: ip, MAC: mac.String()})
		}
	}
	k.Links = slices.Concat(dummies, []kernel.Link{bridge}, vrfs, vxlans, svis, ports, routed)
	// One-way leaks: the exporter has return routes to the importer;
	// guards let only the importer open connections over them. Out is
	// also the importer's VRF device: FRR 10 installs leaked routes
	// through it ("10.1.10.0/24 dev red" in shared's table; FRR 8.4: dev
	// vlan10), and the second lookup, in the importer's table, is the VRF
	// device's output, which the forward hook never sees.
	for _, v := range d.FRR.VRFs {
		for _, im := range v.Imports {
			if !im.Return {
				continue
			}
			for _, in := range append([]string{v.Name}, devsOf[v.Name]...) {
				for _, out := range append([]string{im.From}, devsOf[im.From]...) {
					k.Guards = append(k.Guards, kernel.Guard{In: in, Out: out})
				}
			}
		}
	}
	return d, skipped
}

// Multicast replication (docs/bum-replication.md): VXLAN devices send
// their BUM frames to the group through MulticastDev (lo: the packet loops
// back into the kernel's multicast routing, which pimd programs as first
// hop router for the VTEP) with MulticastTTL (the kernel's default for a
// group is 1: one hop). Traffic from other VTEPs is routed by pimd into
// TermDev, FRR's termination device for VXLAN, on which the host joins
// every group, so the kernel delivers it to the VXLAN socket.
const (
	MulticastDev = "lo"
	MulticastTTL = 64
	TermDev      = "ipmr-lo"
)

// leaks are the route imports of tenant t: its own imports, and a return
// import of the subnets of every tenant that imports from t without t
// importing from it (replies need a way back; docs/route-leaking.md).
func leaks(in *api.Intent, t api.Tenant) []frr.Import {
	var out []frr.Import
	mine := map[string]bool{}
	for _, im := range t.Imports {
		mine[im.From] = true
		out = append(out, frr.Import{From: im.From, Prefixes: im.PrefixList(), Readvertise: im.Readvertise})
	}
	for _, o := range in.Tenants {
		if o.Name == t.Name || mine[o.Name] {
			continue
		}
		for _, im := range o.Imports {
			if im.From != t.Name {
				continue
			}
			var subnets []netip.Prefix
			for _, n := range o.Networks {
				subnets = append(subnets, n.Subnets()...)
			}
			if len(subnets) > 0 {
				out = append(out, frr.Import{From: o.Name, Prefixes: subnets, Return: true})
			}
		}
	}
	return out
}

// RouterMAC is the bridge MAC, which FRR uses as this host's router MAC on
// every L3VNI. It is derived from the VTEP so it is stable across applies
// and reboots: changing it would withdraw every type-2 route behind it.
func RouterMAC(vtep netip.Addr) string {
	b := vtep.As4()
	return fmt.Sprintf("02:ee:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

func vxlan(vni uint32, vlan uint16, local netip.Addr, mtu int, suppress bool) kernel.Link {
	return kernel.Link{Name: VXLANName(vni), Kind: kernel.KindVXLAN, VNI: vni, Local: local, Master: kernel.BridgeName,
		PVID: vlan, MTU: mtu, NeighSuppress: suppress, Learning: false, Up: true}
}

// L3VNIs are the kernel devices and tables of the intent's L3VNIs, for
// linux.Netlink.L3NextHops.
func L3VNIs(in *api.Intent) []kernel.L3VNI {
	lv := in.L3VLAN()
	out := make([]kernel.L3VNI, 0, len(in.Tenants))
	for _, t := range in.Tenants {
		vx := VXLANName(t.L3VNI)
		if in.Host.VXLANDevice == api.VXLANSingle {
			vx = SingleVXLAN
		}
		out = append(out, kernel.L3VNI{Tenant: t.Name, VNI: t.L3VNI, Table: t.Table(), SVI: sviName(lv[t.Name]), VXLAN: vx, VLAN: lv[t.Name]})
	}
	return out
}

// SingleVXLAN is the single VXLAN device (host.vxlanDevice: single).
const SingleVXLAN = "evpnvx"

// VXLANName is the device of a VNI.
func VXLANName(vni uint32) string { return fmt.Sprintf("vx%d", vni) }

func sviName(vlan uint16) string { return fmt.Sprintf("vlan%d", vlan) }

// SVIName is the SVI device of a VLAN.
func SVIName(vlan uint16) string { return sviName(vlan) }

// underlaySysctls are the settings EVPN routing needs: forwarding, loose
// or no reverse-path filtering (ECMP over two uplinks), IPv6 on uplinks for
// BGP unnumbered.
func underlaySysctls(uplinks []string) []kernel.Sysctl {
	s := []kernel.Sysctl{
		{Name: "net/ipv4/ip_forward", Value: "1"},
		{Name: "net/ipv6/conf/all/forwarding", Value: "1"},
		{Name: "net/ipv4/conf/all/rp_filter", Value: "0"},
		{Name: "net/ipv4/conf/default/rp_filter", Value: "0"},
	}
	for _, u := range uplinks {
		s = append(s,
			kernel.Sysctl{Name: "net/ipv6/conf/" + u + "/disable_ipv6", Value: "0"},
			kernel.Sysctl{Name: "net/ipv4/conf/" + u + "/rp_filter", Value: "0"})
	}
	return s
}

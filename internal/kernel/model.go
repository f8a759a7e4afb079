// Package kernel models the kernel objects evpnhost manages (sysctls, the
// VTEP address, the VLAN-aware bridge, VXLAN devices, VRFs, SVIs, routes,
// neighbor and FDB entries), computes the ordered operations that take an
// observed state to a desired one (Diff). It is pure: no netlink, nftables
// or system calls, so it builds and tests anywhere; internal/linux observes
// the kernel into a State and applies the operations.
//
// Ownership: every link evpnhost creates carries the alias "evpnhost"
// (`ip link set DEV alias evpnhost`); the VTEP address on lo carries the
// label "lo:evpnhost"; routes carry protocol RouteProtocol. Objects without
// these marks are never changed or deleted, except ports enslaved to the
// evpnhost bridge (the bridge is ours, so are its memberships).
package kernel

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Ownership marks.
const (
	OwnerAlias    = "evpnhost"
	LoLabel       = "lo:evpnhost"
	RouteProtocol = 208 // rtnetlink protocol of evpnhost routes ("evpnhost" in rt_protos)
	// UnreachableMetric is the metric of the per-VRF unreachable default.
	UnreachableMetric = 4278198272
	VXLANPort         = 4789
	BridgeName        = "evpnbr"
)

// Kind is the type of a link.
type Kind string

// Link kinds evpnhost creates, and KindPort for foreign interfaces it only
// enslaves to the bridge (workload taps and veths).
const (
	KindBridge Kind = "bridge"
	KindVRF    Kind = "vrf"
	KindVXLAN  Kind = "vxlan"
	KindVLAN   Kind = "vlan"
	KindPort   Kind = "port"
	// KindDummy is a dummy device (ipmr-lo, the termination device of
	// multicast VXLAN traffic, see docs/bum-replication.md).
	KindDummy Kind = "dummy"
)

// State is a set of kernel objects. Desired states come from the plan
// package; observed ones from linux.Netlink.Observe.
type State struct {
	Sysctls []Sysctl
	LoAddrs []netip.Prefix // addresses on lo labelled LoLabel
	Links   []Link         // in creation order
	Routes  []Route
	Neighs  []Neigh
	FDB     []FDB
	Guards  []Guard // leak guards (nftables), see Guard
}

// Sysctl is one /proc/sys setting; Name uses slashes: net/ipv4/ip_forward.
type Sysctl struct{ Name, Value string }

// Link is a network interface and the attributes evpnhost manages on it.
type Link struct {
	Name   string
	Kind   Kind
	MTU    int    // 0: don't care
	MAC    string // lower-case; "": don't care
	Master string // bridge or VRF; "" none
	Up     bool
	// Carrier is observed only (IFF_LOWER_UP: the device is up and its
	// link, e.g. the other end of a veth, is up too); Diff ignores it.
	// status reports workload ports without it.
	Carrier bool

	Table uint32     // vrf
	VNI   uint32     // vxlan
	Local netip.Addr // vxlan source (VTEP)
	// Group is the multicast group of a vxlan with multicast BUM
	// replication (invalid: ingress replication), sent and received
	// through the device Dev with TTL.
	Group  netip.Addr
	Dev    string
	TTL    int
	Parent string // vlan: the bridge
	VLANID uint16 // vlan

	// Bridge self VLANs (bridge) or the untagged PVID of a port (vxlan, port).
	VLANs []uint16
	PVID  uint16
	// NeighSuppress is ARP/ND suppression on a bridge port (vxlan).
	NeighSuppress bool
	// Learning is MAC learning on a bridge port.
	Learning bool

	// The single VXLAN device (vxlanDevice: single, docs/intent.md):
	// VNIFilter is `external vnifilter` (VNI is then 0), VLANTunnel the
	// bridge port flag vlan_tunnel, VNIs the device's VNI filter entries
	// (`bridge vni add`) and Tunnels its VLAN-to-VNI maps (`bridge vlan
	// add ... tunnel_info id VNI`), both sorted. VLANs are then the
	// device's tagged VLANs, PVID 0.
	VNIFilter  bool
	VLANTunnel bool
	VNIs       []uint32
	Tunnels    []Tunnel
	Addrs      []netip.Prefix // IPv6 ones are added without DAD
}

// Tunnel maps a bridge VLAN to a VNI on the single VXLAN device.
type Tunnel struct {
	VLAN uint16
	VNI  uint32
}

// Route is a protocol-208 route in a VRF table: the unreachable default
// (Dev empty) or, with Dev set, a host route (/32, /128) to a routed
// workload through its host-side interface (scope link).
type Route struct {
	Table  uint32
	Dst    netip.Prefix
	Metric uint32
	Dev    string // "": unreachable
}

// Neigh is a permanent neighbor entry (IP → MAC) on an SVI.
type Neigh struct {
	Dev string
	IP  netip.Addr
	MAC string
}

// FDB is a bridge forwarding entry. Self entries sit on the bridge itself
// (the anycast gateway MAC, "self local"); others are static entries on a
// bridge port ("master static").
type FDB struct {
	Dev  string
	MAC  string
	VLAN uint16
	Self bool
}

// Key identifies an object across states.
func (l Link) Key() string   { return "link " + l.Name }
func (r Route) Key() string  { return fmt.Sprintf("route table %d %s", r.Table, r.Dst) }
func (n Neigh) Key() string  { return fmt.Sprintf("neigh %s dev %s", n.IP, n.Dev) }
func (f FDB) Key() string    { return fmt.Sprintf("fdb %s dev %s vlan %d", f.MAC, f.Dev, f.VLAN) }
func (s Sysctl) Key() string { return "sysctl " + s.Name }

// String renders a link like `ip -d link` would describe it, one line.
func (l Link) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s type %s", l.Name, l.Kind)
	switch {
	case l.Kind == KindVRF:
		fmt.Fprintf(&b, " table %d", l.Table)
	case l.Kind == KindVXLAN && l.VNIFilter:
		fmt.Fprintf(&b, " external vnifilter local %s dstport %d nolearning", l.Local, VXLANPort)
	case l.Kind == KindVXLAN:
		fmt.Fprintf(&b, " id %d local %s", l.VNI, l.Local)
		if l.Group.IsValid() {
			fmt.Fprintf(&b, " group %s dev %s ttl %d", l.Group, l.Dev, l.TTL)
		}
		fmt.Fprintf(&b, " dstport %d nolearning", VXLANPort)
	case l.Kind == KindVLAN:
		fmt.Fprintf(&b, " link %s id %d", l.Parent, l.VLANID)
	}
	if l.Master != "" {
		fmt.Fprintf(&b, " master %s", l.Master)
	}
	if l.MTU != 0 {
		fmt.Fprintf(&b, " mtu %d", l.MTU)
	}
	if l.MAC != "" {
		fmt.Fprintf(&b, " address %s", l.MAC)
	}
	if l.PVID != 0 {
		fmt.Fprintf(&b, " pvid %d", l.PVID)
	}
	if len(l.VLANs) > 0 {
		fmt.Fprintf(&b, " vlans %s", joinVLANs(l.VLANs))
	}
	if l.Kind == KindVXLAN {
		fmt.Fprintf(&b, " neigh_suppress %s", onOff(l.NeighSuppress))
	}
	if l.VNIFilter {
		fmt.Fprintf(&b, " vlan_tunnel %s vnis %s tunnels %s", onOff(l.VLANTunnel), joinVNIs(l.VNIs), joinTunnels(l.Tunnels))
	}
	for _, a := range l.Addrs {
		fmt.Fprintf(&b, " addr %s", a)
	}
	return b.String()
}

func joinVLANs(v []uint16) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

// joinVNIs writes VNIs as sorted ranges: 10-12,20.
func joinVNIs(v []uint32) string {
	var parts []string
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(v[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", v[i], v[j]))
		}
		i = j + 1
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// joinTunnels writes VLAN-to-VNI maps as ranges where both VLAN and VNI
// go up by one: 10-12=1010-1012,20=2000.
func joinTunnels(t []Tunnel) string {
	var parts []string
	for _, r := range TunnelRanges(t) {
		if r.Last == r.First {
			parts = append(parts, fmt.Sprintf("%d=%d", r.First.VLAN, r.First.VNI))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d=%d-%d", r.First.VLAN, r.Last.VLAN, r.First.VNI, r.Last.VNI))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// TunnelRange is a run of VLAN-to-VNI maps where VLAN and VNI both go up
// by one from First to Last: the kernel takes and reports such a run as
// one range.
type TunnelRange struct{ First, Last Tunnel }

// TunnelRanges groups maps sorted by VLAN into ranges.
func TunnelRanges(t []Tunnel) []TunnelRange {
	var out []TunnelRange
	for i := 0; i < len(t); {
		j := i
		for j+1 < len(t) && t[j+1].VLAN == t[j].VLAN+1 && t[j+1].VNI == t[j].VNI+1 {
			j++
		}
		out = append(out, TunnelRange{t[i], t[j]})
		i = j + 1
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// Link returns the link called name.
func (s *State) Link(name string) (Link, bool) {
	i := slices.IndexFunc(s.Links, func(l Link) bool { return l.Name == name })
	if i < 0 {
		return Link{}, false
	}
	return s.Links[i], true
}

// Empty reports whether the state holds no evpnhost object (sysctls aside,
// which are settings, not objects).
func (s *State) Empty() bool {
	return len(s.LoAddrs) == 0 && len(s.Links) == 0 && len(s.Routes) == 0 &&
		len(s.Neighs) == 0 && len(s.FDB) == 0 && len(s.Guards) == 0
}

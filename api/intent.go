// Package api defines the evpnhost intent: the declarative description of a
// host's underlay, its tenants (VRFs with an L3VNI), their networks (L2VNIs
// with a distributed anycast gateway) and the workloads attached to them.
//
// The package does no I/O beyond reading the intent file: Parse decodes
// strictly, Validate reports every problem with its path, and Defaults fills
// the optional fields. Field names are binding (see docs/intent.md).
package api

import (
	"net"
	"net/netip"
	"strings"
)

// Intent is the whole desired state of one host.
type Intent struct {
	Host      Host       `yaml:"host" json:"host"`
	Tenants   []Tenant   `yaml:"tenants,omitempty" json:"tenants,omitempty"`
	Workloads []Workload `yaml:"workloads,omitempty" json:"workloads,omitempty"`
}

// Host is the host's own underlay: its ASN, VTEP loopback and uplinks.
type Host struct {
	// Name is the host name, used in logs and FRR's hostname.
	Name string `yaml:"name" json:"name"`
	// ASN is the host's private ASN, eBGP to the TORs.
	ASN uint32 `yaml:"asn" json:"asn"`
	// RouterID defaults to VTEP.
	RouterID string `yaml:"routerID,omitempty" json:"routerID,omitempty"`
	// VTEP is the loopback address, advertised in IPv4 unicast and used as
	// the VXLAN source address.
	VTEP string `yaml:"vtep" json:"vtep"`
	// Uplinks are the interfaces with BGP unnumbered sessions to the TORs.
	Uplinks []string `yaml:"uplinks" json:"uplinks"`
	// BFD enables BFD on the uplink sessions.
	BFD bool `yaml:"bfd,omitempty" json:"bfd,omitempty"`
	// MTU is the underlay MTU of the uplinks (default 1500); networks
	// default to MTU-50.
	MTU int `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	// Multicast is the PIM-SM underlay used by networks with multicast
	// replication (docs/bum-replication.md); nil: none.
	Multicast *HostMulticast `yaml:"multicast,omitempty" json:"multicast,omitempty"`
	// VXLANDevice is how VNIs map to VXLAN devices: VXLANSingle or
	// VXLANPerVNI; "" resolves at apply time (ResolveVXLANDevice).
	VXLANDevice string `yaml:"vxlanDevice,omitempty" json:"vxlanDevice,omitempty"`
}

// Tenant is a VRF with its L3VNI and its networks.
type Tenant struct {
	Name  string `yaml:"name" json:"name"`
	L3VNI uint32 `yaml:"l3vni" json:"l3vni"`
	// VRFTable is the kernel routing table of the VRF; defaults to L3VNI.
	VRFTable uint32 `yaml:"vrfTable,omitempty" json:"vrfTable,omitempty"`
	// VLAN is the bridge VLAN that carries the L3VNI; defaults to the
	// lowest VLAN in 3000-4094 not used by any network of the intent.
	VLAN uint16 `yaml:"vlan,omitempty" json:"vlan,omitempty"`
	// RD is the type-5 route distinguisher (ASN:NN or IP:NN); auto when empty.
	RD string `yaml:"rd,omitempty" json:"rd,omitempty"`
	// RouteTargets override FRR's automatic route targets for interop.
	RouteTargets *RouteTargets `yaml:"routeTargets,omitempty" json:"routeTargets,omitempty"`
	Networks     []Network     `yaml:"networks,omitempty" json:"networks,omitempty"`
	// Imports leak other tenants' routes into this one (docs/route-leaking.md).
	Imports []Import `yaml:"imports,omitempty" json:"imports,omitempty"`
	// Policy is the tenant's micro-segmentation policy (docs/policy.md);
	// nil: no enforcement.
	Policy *Policy `yaml:"policy,omitempty" json:"policy,omitempty"`
}

// RouteTargets are explicit import and export route targets (ASN:NN).
type RouteTargets struct {
	Import []string `yaml:"import,omitempty" json:"import,omitempty"`
	Export []string `yaml:"export,omitempty" json:"export,omitempty"`
}

// Network is an L2 segment (L2VNI) with its anycast gateway.
type Network struct {
	Name string `yaml:"name" json:"name"`
	VNI  uint32 `yaml:"vni" json:"vni"`
	VLAN uint16 `yaml:"vlan" json:"vlan"`
	// Gateways are the anycast gateway addresses in CIDR form; the prefix is
	// the network's subnet.
	Gateways []string `yaml:"gateways,omitempty" json:"gateways,omitempty"`
	// AnycastMAC is the gateway MAC, the same on every host.
	AnycastMAC string `yaml:"anycastMAC,omitempty" json:"anycastMAC,omitempty"`
	// ARPSuppression defaults to true.
	ARPSuppression *bool `yaml:"arpSuppression,omitempty" json:"arpSuppression,omitempty"`
	MTU            int   `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	// Replication is how BUM traffic reaches other VTEPs: ingress (nil,
	// the default) or a multicast group (docs/bum-replication.md).
	Replication *Replication `yaml:"replication,omitempty" json:"replication,omitempty"`
}

// Workload is a static attachment of an existing interface to a network.
type Workload struct {
	Name      string   `yaml:"name" json:"name"`
	Network   string   `yaml:"network" json:"network"` // "tenant/network"
	Interface string   `yaml:"interface" json:"interface"`
	MAC       string   `yaml:"mac,omitempty" json:"mac,omitempty"`
	IPs       []string `yaml:"ips,omitempty" json:"ips,omitempty"`
}

// Defaults used when the intent leaves a field out.
const (
	DefaultUnderlayMTU = 1500
	VXLANOverhead      = 50
	DefaultAnycastMAC  = "00:00:5e:00:01:01"
	// L3VNIVLANBase is where automatically chosen L3VNI VLANs start.
	L3VNIVLANBase = 3000
)

// Accessors below assume a validated intent; they return zero values for
// malformed input instead of failing.

// VTEPAddr is the parsed VTEP address.
func (h Host) VTEPAddr() netip.Addr { a, _ := netip.ParseAddr(h.VTEP); return a }

// RouterIDAddr is the router ID, defaulting to the VTEP.
func (h Host) RouterIDAddr() netip.Addr {
	if h.RouterID == "" {
		return h.VTEPAddr()
	}
	a, _ := netip.ParseAddr(h.RouterID)
	return a
}

// UnderlayMTU is the uplink MTU, defaulting to 1500.
func (h Host) UnderlayMTU() int {
	if h.MTU == 0 {
		return DefaultUnderlayMTU
	}
	return h.MTU
}

// Table is the VRF routing table, defaulting to the L3VNI.
func (t Tenant) Table() uint32 {
	if t.VRFTable == 0 {
		return t.L3VNI
	}
	return t.VRFTable
}

// GatewayPrefixes are the gateway addresses with their prefix length.
func (n Network) GatewayPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, g := range n.Gateways {
		if p, err := netip.ParsePrefix(g); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Subnets are the networks' subnets (gateway prefixes, masked).
func (n Network) Subnets() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range n.GatewayPrefixes() {
		out = append(out, p.Masked())
	}
	return out
}

// GatewayMAC is the anycast gateway MAC, defaulting to DefaultAnycastMAC.
func (n Network) GatewayMAC() net.HardwareAddr {
	s := n.AnycastMAC
	if s == "" {
		s = DefaultAnycastMAC
	}
	m, _ := net.ParseMAC(s)
	return m
}

// Suppress reports whether ARP/ND suppression is on (default true).
func (n Network) Suppress() bool { return n.ARPSuppression == nil || *n.ARPSuppression }

// MTUOr is the network MTU, defaulting to the underlay MTU minus VXLAN overhead.
func (n Network) MTUOr(underlay int) int {
	if n.MTU == 0 {
		return underlay - VXLANOverhead
	}
	return n.MTU
}

// HWAddr is the workload MAC, nil when not given.
func (w Workload) HWAddr() net.HardwareAddr {
	if w.MAC == "" {
		return nil
	}
	m, _ := net.ParseMAC(w.MAC)
	return m
}

// Addrs are the workload's parsed addresses.
func (w Workload) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, s := range w.IPs {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// SplitNetworkRef splits "tenant/network".
func SplitNetworkRef(ref string) (tenant, network string, ok bool) {
	tenant, network, ok = strings.Cut(ref, "/")
	return tenant, network, ok && tenant != "" && network != "" && !strings.Contains(network, "/")
}

// L3VLAN is the VLAN carrying each tenant's L3VNI, keyed by tenant name:
// the tenant's VLAN when set, otherwise the lowest free VLAN from
// L3VNIVLANBase upwards, assigned in tenant order.
func (in *Intent) L3VLAN() map[string]uint16 {
	used := map[uint16]bool{}
	for _, t := range in.Tenants {
		if t.VLAN != 0 {
			used[t.VLAN] = true
		}
		for _, n := range t.Networks {
			used[n.VLAN] = true
		}
	}
	out := map[string]uint16{}
	next := uint16(L3VNIVLANBase)
	for _, t := range in.Tenants {
		if t.VLAN != 0 {
			out[t.Name] = t.VLAN
			continue
		}
		for used[next] && next < 4094 {
			next++
		}
		out[t.Name] = next
		used[next] = true
	}
	return out
}

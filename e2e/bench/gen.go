// Package bench generates the scale benchmark's inputs: intents with many
// L2VNIs and tenant VRFs, and, from the desired kernel state plan.Build
// makes of them, the equivalent ifupdown2 interfaces file and raw
// `ip -batch` / `bridge -batch` scripts (the baselines of `make bench`,
// see docs/benchmarks.md).
package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// Case is one point of the matrix: VNIs L2VNIs spread over Tenants VRFs.
type Case struct {
	VNIs    int `json:"vnis"`
	Tenants int `json:"tenants"`
	// Single puts every VNI on the single VXLAN device
	// (host.vxlanDevice: single); false: one device per VNI.
	Single bool `json:"single,omitempty"`
}

func (c Case) String() string {
	s := fmt.Sprintf("vnis=%d,tenants=%d", c.VNIs, c.Tenants)
	if c.Single {
		s += ",single"
	}
	return s
}

// Mode is the case's host.vxlanDevice.
func (c Case) Mode() string {
	if c.Single {
		return api.VXLANSingle
	}
	return api.VXLANPerVNI
}

// MaxBridgePorts is the kernel's limit of ports per bridge (BR_MAX_PORTS
// 1024, port numbers 1-1023): enslaving one more fails with EXFULL
// ("exchange full"). evpnhost gives every L2VNI and every L3VNI its own
// VXLAN device, a port of evpnbr, so VNIs+Tenants (+ workload ports) must
// stay <= 1023 on a real kernel (the validator's limit).
const MaxBridgePorts = api.MaxBridgePorts

// Matrix is the kernel benchmark matrix: every case fits into one bridge
// (VNIs+Tenants <= MaxBridgePorts; the VLAN limit, 4094, is then no
// concern). 4000 L2VNIs, or 1000 L2VNIs with 100 or 500 tenants, cannot be
// built with one VXLAN device per VNI. The largest case goes last.
var Matrix = []Case{
	{100, 10, false}, {500, 10, false}, {500, 100, false}, {500, 500, false}, {1000, 10, false},
}

// SingleMatrix is the single VXLAN device's matrix (FRR >= 9 and
// vnifilter: scripts/bench.sh runs it on the Debian 13 VM): one device
// carries every VNI, so it goes to 4000 L2VNIs.
var SingleMatrix = []Case{{100, 10, true}, {1000, 10, true}, {4000, 10, true}, {1000, 100, true}}

// MicroMatrix is what the Go micro-benchmarks of the pure parts use: no
// kernel involved, so it goes up to the VLAN limit (4000 L2VNIs).
var MicroMatrix = []Case{{100, 10, false}, {1000, 10, false}, {4000, 10, false}, {1000, 100, false}, {1000, 500, false}}

// VTEP of the generated host.
const VTEP = "10.0.0.1"

// Intent returns a valid intent for c: network i (1-based) has VNI
// 10000+i on VLAN i and belongs to tenant (i-1)%Tenants; odd networks get
// an IPv4 /24 gateway, even ones an IPv6 /64. Tenant t (1-based) is VRF
// "t<t>" with L3VNI 100000+t on VLAN VNIs+t and table 1000+t (ifupdown2
// only accepts VRF tables 1001-5000).
func Intent(c Case) *api.Intent {
	if c.VNIs+c.Tenants > api.MaxVLAN {
		panic(fmt.Sprintf("%v does not fit into %d VLANs", c, api.MaxVLAN))
	}
	in := &api.Intent{Host: api.Host{Name: "bench", ASN: 65101, VTEP: VTEP, Uplinks: []string{"up1"}, VXLANDevice: c.Mode()}}
	for t := 1; t <= c.Tenants; t++ {
		in.Tenants = append(in.Tenants, api.Tenant{Name: fmt.Sprintf("t%d", t), L3VNI: uint32(100000 + t),
			VRFTable: uint32(1000 + t), VLAN: uint16(c.VNIs + t)})
	}
	for i := 1; i <= c.VNIs; i++ {
		gw := fmt.Sprintf("10.%d.%d.1/24", 100+i/256, i%256)
		if i%2 == 0 {
			gw = fmt.Sprintf("fd00:%x::1/64", i)
		}
		t := &in.Tenants[(i-1)%c.Tenants]
		t.Networks = append(t.Networks, api.Network{Name: fmt.Sprintf("n%d", i), VNI: uint32(10000 + i), VLAN: uint16(i), Gateways: []string{gw}})
	}
	return in
}

// Batch returns the `ip -batch` and `bridge -batch` scripts that build the
// kernel objects of s (sysctls left out), in three steps: ip (links,
// addresses, routes, all down), bridge (VLANs, port flags, FDB), ip again
// (links up). Each object is made with as few commands as iproute2 allows
// (master, MTU and MAC in the `link add`): the near-lower bound for
// netlink-based configuration.
func Batch(s kernel.State) (ipCreate, bridge, ipUp string) {
	var ip, br, up strings.Builder
	ip.WriteString("link set lo up\n")
	for _, a := range s.LoAddrs {
		fmt.Fprintf(&ip, "addr add %s dev lo label %s\n", a, kernel.LoLabel)
	}
	for _, l := range s.Links {
		var opts strings.Builder
		if l.MTU != 0 {
			fmt.Fprintf(&opts, " mtu %d", l.MTU)
		}
		if l.MAC != "" {
			fmt.Fprintf(&opts, " address %s", l.MAC)
		}
		if l.Master != "" {
			fmt.Fprintf(&opts, " master %s", l.Master)
		}
		switch {
		case l.Kind == kernel.KindBridge:
			fmt.Fprintf(&ip, "link add %s%s type bridge vlan_filtering 1 vlan_default_pvid 0\n", l.Name, opts.String())
			for _, r := range vlanRanges(l.VLANs) {
				fmt.Fprintf(&br, "vlan add dev %s vid %s self\n", l.Name, r)
			}
		case l.Kind == kernel.KindVRF:
			fmt.Fprintf(&ip, "link add %s%s type vrf table %d\n", l.Name, opts.String(), l.Table)
		case l.Kind == kernel.KindVXLAN && l.VNIFilter:
			// The single VXLAN device: FRR's doc/user/evpn.rst sequence.
			fmt.Fprintf(&ip, "link add %s%s type vxlan external vnifilter local %s dstport %d nolearning\n", l.Name, opts.String(), l.Local, kernel.VXLANPort)
			for _, r := range vlanRanges(l.VLANs) {
				fmt.Fprintf(&br, "vlan add dev %s vid %s\n", l.Name, r)
			}
			fmt.Fprintf(&br, "link set dev %s vlan_tunnel on learning off neigh_suppress %s\n", l.Name, onOff(l.NeighSuppress))
			for _, r := range vniRanges(l.VNIs) {
				fmt.Fprintf(&br, "vni add dev %s vni %s\n", l.Name, r)
			}
			for _, r := range kernel.TunnelRanges(l.Tunnels) {
				if r.First == r.Last {
					fmt.Fprintf(&br, "vlan add dev %s vid %d tunnel_info id %d\n", l.Name, r.First.VLAN, r.First.VNI)
				} else {
					fmt.Fprintf(&br, "vlan add dev %s vid %d-%d tunnel_info id %d-%d\n", l.Name, r.First.VLAN, r.Last.VLAN, r.First.VNI, r.Last.VNI)
				}
			}
		case l.Kind == kernel.KindVXLAN:
			fmt.Fprintf(&ip, "link add %s%s type vxlan id %d local %s dstport %d nolearning\n", l.Name, opts.String(), l.VNI, l.Local, kernel.VXLANPort)
			fmt.Fprintf(&br, "vlan add dev %s vid %d pvid untagged\n", l.Name, l.PVID)
			fmt.Fprintf(&br, "link set dev %s learning off neigh_suppress %s\n", l.Name, onOff(l.NeighSuppress))
		case l.Kind == kernel.KindVLAN:
			fmt.Fprintf(&ip, "link add link %s name %s%s type vlan id %d\n", l.Parent, l.Name, opts.String(), l.VLANID)
			for _, a := range l.Addrs {
				nodad := ""
				if a.Addr().Is6() {
					nodad = " nodad"
				}
				fmt.Fprintf(&ip, "addr add %s dev %s%s\n", a, l.Name, nodad)
			}
		default:
			continue // ports are foreign: the generated intents have none
		}
		// The kernel ignores IFLA_IFALIAS when creating a link: a separate
		// command, as evpnhost does.
		fmt.Fprintf(&ip, "link set %s alias %s\n", l.Name, kernel.OwnerAlias)
		if l.Up {
			fmt.Fprintf(&up, "link set %s up\n", l.Name)
		}
	}
	for _, r := range s.Routes {
		fmt.Fprintf(&ip, "route add unreachable %s metric %d table %d proto %d\n", r.Dst, r.Metric, r.Table, kernel.RouteProtocol)
	}
	for _, f := range s.FDB {
		if f.Self {
			fmt.Fprintf(&br, "fdb add %s dev %s vlan %d self local\n", f.MAC, f.Dev, f.VLAN)
		} else {
			fmt.Fprintf(&br, "fdb add %s dev %s vlan %d master static\n", f.MAC, f.Dev, f.VLAN)
		}
	}
	return ip.String(), br.String(), up.String()
}

// Interfaces returns an ifupdown2 interfaces file describing the kernel
// objects of s (sysctls left out): a VLAN-aware bridge with every VXLAN as
// an access port, VRFs with their unreachable defaults (post-up, as
// ifupdown2 3.0 does not add them), SVIs in their VRF with the gateway
// address and MAC (ifupdown2 adds the bridge's local FDB entry for the MAC
// of an SVI on a VLAN-aware bridge itself).
func Interfaces(s kernel.State) string {
	var b strings.Builder
	b.WriteString("auto lo\niface lo inet loopback\n")
	for _, a := range s.LoAddrs {
		fmt.Fprintf(&b, "    address %s\n", a)
	}
	routes := map[uint32][]kernel.Route{}
	for _, r := range s.Routes {
		routes[r.Table] = append(routes[r.Table], r)
	}
	for _, l := range s.Links {
		if l.Kind == kernel.KindPort {
			continue
		}
		fmt.Fprintf(&b, "\nauto %s\niface %s\n", l.Name, l.Name)
		fmt.Fprintf(&b, "    alias %s\n", kernel.OwnerAlias)
		if l.MTU != 0 {
			fmt.Fprintf(&b, "    mtu %d\n", l.MTU)
		}
		if l.MAC != "" {
			fmt.Fprintf(&b, "    hwaddress %s\n", l.MAC)
		}
		switch l.Kind {
		case kernel.KindBridge:
			var ports []string
			for _, p := range s.Links {
				if p.Master == l.Name {
					ports = append(ports, p.Name)
				}
			}
			b.WriteString("    bridge-vlan-aware yes\n    bridge-stp off\n")
			fmt.Fprintf(&b, "    bridge-ports %s\n", strings.Join(ports, " "))
			fmt.Fprintf(&b, "    bridge-vids %s\n", strings.Join(vlanRanges(l.VLANs), " "))
		case kernel.KindVRF:
			fmt.Fprintf(&b, "    vrf-table %d\n", l.Table)
			for _, r := range routes[l.Table] {
				fam := "-4"
				if r.Dst.Addr().Is6() {
					fam = "-6"
				}
				fmt.Fprintf(&b, "    post-up ip %s route add unreachable %s metric %d table %d proto %d\n", fam, r.Dst, r.Metric, r.Table, kernel.RouteProtocol)
			}
		case kernel.KindVXLAN:
			if l.VNIFilter {
				// ifupdown2's single VXLAN device: the VLAN-to-VNI map
				// on the port (ifupdown2 3.0 creates it `external`,
				// without vnifilter, and adds no VNI filter entries).
				fmt.Fprintf(&b, "    vxlan-local-tunnelip %s\n    vxlan-port %d\n", l.Local, kernel.VXLANPort)
				// One map per line: Debian 13's ifupdown2 (3.0.0) splits each
				// bridge-vlan-vni-map line at "=" once, so several maps on one
				// line are a syntax error (whose warning then fails on its own
				// format string, addons/bridge.py).
				for _, r := range kernel.TunnelRanges(l.Tunnels) {
					if r.First == r.Last {
						fmt.Fprintf(&b, "    bridge-vlan-vni-map %d=%d\n", r.First.VLAN, r.First.VNI)
					} else {
						fmt.Fprintf(&b, "    bridge-vlan-vni-map %d-%d=%d-%d\n", r.First.VLAN, r.Last.VLAN, r.First.VNI, r.Last.VNI)
					}
				}
				fmt.Fprintf(&b, "    bridge-learning off\n    bridge-arp-nd-suppress %s\n", onOff(l.NeighSuppress))
				break
			}
			fmt.Fprintf(&b, "    vxlan-id %d\n    vxlan-local-tunnelip %s\n    vxlan-port %d\n    vxlan-learning no\n", l.VNI, l.Local, kernel.VXLANPort)
			fmt.Fprintf(&b, "    bridge-access %d\n    bridge-learning off\n    bridge-arp-nd-suppress %s\n", l.PVID, onOff(l.NeighSuppress))
		case kernel.KindVLAN:
			fmt.Fprintf(&b, "    vlan-raw-device %s\n    vlan-id %d\n", l.Parent, l.VLANID)
			if l.Master != "" {
				fmt.Fprintf(&b, "    vrf %s\n", l.Master)
			}
			for _, a := range l.Addrs {
				fmt.Fprintf(&b, "    address %s\n", a)
			}
		}
	}
	return b.String()
}

// Objects counts the kernel objects of s, for the report.
func Objects(s kernel.State) (links, addrs, routes, fdb int) {
	for _, l := range s.Links {
		links++
		addrs += len(l.Addrs)
	}
	return links, addrs + len(s.LoAddrs), len(s.Routes), len(s.FDB)
}

func vlanRanges(v []uint16) []string {
	v = slices.Clone(v)
	slices.Sort(v)
	var out []string
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		if i == j {
			out = append(out, fmt.Sprint(v[i]))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", v[i], v[j]))
		}
		i = j + 1
	}
	return out
}

func vniRanges(v []uint32) []string {
	var out []string
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		if i == j {
			out = append(out, fmt.Sprint(v[i]))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", v[i], v[j]))
		}
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

package kerneltest

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// Dump prints s like `ip -d link`, `ip route`, `ip neigh`, `bridge fdb`
// and sysctl would, deterministically: one block per link sorted by name
// (state, mtu, master, address; then its type's details, bridge port
// settings, addresses and alias), then the VTEP addresses on lo, routes
// by table, neighbours, FDB entries, sysctls and leak guards, each sorted.
// Empty sections are left out.
func Dump(s kernel.State) string {
	var b strings.Builder
	links := slices.Clone(s.Links)
	slices.SortFunc(links, func(x, y kernel.Link) int { return strings.Compare(x.Name, y.Name) })
	for _, l := range links {
		dumpLink(&b, l)
	}
	section(&b, "lo", s.LoAddrs, func(p netip.Prefix) string { return "inet " + p.String() + " label " + kernel.LoLabel })
	routes := slices.Clone(s.Routes)
	slices.SortFunc(routes, func(x, y kernel.Route) int {
		return cmp.Or(cmp.Compare(x.Table, y.Table), strings.Compare(x.Dst.String(), y.Dst.String()), strings.Compare(x.Dev, y.Dev))
	})
	section(&b, "routes", routes, routeLine)
	section(&b, "neighbours", s.Neighs, func(n kernel.Neigh) string {
		return fmt.Sprintf("%s dev %s lladdr %s PERMANENT", n.IP, n.Dev, n.MAC)
	})
	section(&b, "fdb", s.FDB, func(f kernel.FDB) string {
		how := "master static"
		if f.Self {
			how = "self permanent"
		}
		return fmt.Sprintf("%s dev %s vlan %d %s", f.MAC, f.Dev, f.VLAN, how)
	})
	section(&b, "sysctls", s.Sysctls, func(x kernel.Sysctl) string { return x.Name + " = " + x.Value })
	section(&b, "nft table inet "+kernel.GuardTable, s.Guards, func(g kernel.Guard) string {
		return fmt.Sprintf("iifname %s oifname %s ct state new drop", g.In, g.Out)
	})
	return b.String()
}

// section prints a title and the sorted, de-duplicated lines of xs.
func section[T any](b *strings.Builder, title string, xs []T, line func(T) string) {
	if len(xs) == 0 {
		return
	}
	lines := make([]string, len(xs))
	for i, x := range xs {
		lines[i] = line(x)
	}
	if title != "routes" { // routes keep their table order
		slices.Sort(lines)
	}
	fmt.Fprintf(b, "%s:\n", title)
	for _, l := range slices.Compact(lines) {
		fmt.Fprintf(b, "    %s\n", l)
	}
}

func routeLine(r kernel.Route) string {
	if r.Dev == "" {
		return fmt.Sprintf("table %d unreachable %s metric %d proto %d", r.Table, r.Dst, r.Metric, kernel.RouteProtocol)
	}
	return fmt.Sprintf("table %d %s dev %s scope link proto %d", r.Table, r.Dst, r.Dev, kernel.RouteProtocol)
}

func dumpLink(b *strings.Builder, l kernel.Link) {
	state := "DOWN"
	if l.Up {
		state = "UP"
	}
	fmt.Fprintf(b, "%s: state %s", l.Name, state)
	if l.MTU != 0 {
		fmt.Fprintf(b, " mtu %d", l.MTU)
	}
	if l.Master != "" {
		fmt.Fprintf(b, " master %s", l.Master)
	}
	if l.MAC != "" {
		fmt.Fprintf(b, " address %s", l.MAC)
	}
	b.WriteString("\n    " + kindLine(l) + "\n")
	if port := portLine(l); port != "" {
		b.WriteString("    " + port + "\n")
	}
	for _, a := range l.Addrs {
		fam := "inet"
		if a.Addr().Is6() {
			fam = "inet6"
		}
		fmt.Fprintf(b, "    %s %s\n", fam, a)
	}
	if l.Kind != kernel.KindPort {
		fmt.Fprintf(b, "    alias %s\n", kernel.OwnerAlias)
	}
}

func kindLine(l kernel.Link) string {
	switch l.Kind {
	case kernel.KindBridge:
		s := "bridge vlan_filtering 1 vlan_default_pvid 0"
		if len(l.VLANs) > 0 {
			s += " vlans " + joinVLANs(l.VLANs)
		}
		return s
	case kernel.KindVRF:
		return fmt.Sprintf("vrf table %d", l.Table)
	case kernel.KindVXLAN:
		if l.VNIFilter {
			return fmt.Sprintf("vxlan external vnifilter local %s dstport %d nolearning", l.Local, kernel.VXLANPort)
		}
		s := fmt.Sprintf("vxlan id %d local %s", l.VNI, l.Local)
		if l.Group.IsValid() {
			s += fmt.Sprintf(" group %s dev %s ttl %d", l.Group, l.Dev, l.TTL)
		}
		return s + fmt.Sprintf(" dstport %d nolearning", kernel.VXLANPort)
	case kernel.KindVLAN:
		return fmt.Sprintf("vlan link %s id %d", l.Parent, l.VLANID)
	}
	return string(l.Kind)
}

// portLine describes a bridge port's settings, "" for other links.
func portLine(l kernel.Link) string {
	if l.Kind == kernel.KindBridge || (l.PVID == 0 && len(l.VLANs) == 0 && l.Kind != kernel.KindVXLAN) {
		return ""
	}
	s := "bridge_slave"
	if l.PVID != 0 {
		s += fmt.Sprintf(" pvid %d untagged", l.PVID)
	}
	if len(l.VLANs) > 0 {
		s += " vlans " + joinVLANs(l.VLANs)
	}
	if l.Kind == kernel.KindVXLAN {
		s += " learning " + onOff(l.Learning) + " neigh_suppress " + onOff(l.NeighSuppress)
	}
	if l.VNIFilter {
		s += " vlan_tunnel " + onOff(l.VLANTunnel)
		for _, t := range l.Tunnels {
			s += fmt.Sprintf("\n    tunnel_info vid %d id %d", t.VLAN, t.VNI)
		}
		for _, v := range l.VNIs {
			s += fmt.Sprintf("\n    vni %d", v)
		}
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

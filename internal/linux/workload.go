package linux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Workload is what the container side of an attachment carries on its
// interface (internal/cni decides it, ConfigureWorkload sets it).
type Workload struct {
	Addrs  []netip.Prefix // IPv6 ones are added without DAD
	Routes []WorkloadRoute
}

// WorkloadRoute is a route of a workload's interface (its default route
// per family) via Via. With a MAC, a permanent neighbor entry resolves Via
// to it first (routed attachments: the host end of the veth); Onlink
// makes the kernel take Via as on the link without a subnet for it.
type WorkloadRoute struct {
	Dst    netip.Prefix
	Via    netip.Addr
	MAC    net.HardwareAddr
	Onlink bool
}

// ConfigureWorkload runs in the workload's network namespace (the calling
// thread's): lo and the interface up, then w's addresses, neighbors and
// routes on the interface.
func ConfigureWorkload(ifName string, w Workload) error {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	l, err := netlink.LinkByName(ifName)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return err
	}
	for _, p := range w.Addrs {
		na := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			na.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(l, na); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("address %s: %w", p, err)
		}
	}
	for _, r := range w.Routes {
		if r.MAC != nil {
			fam := netlink.FAMILY_V6
			if r.Via.Is4() {
				fam = netlink.FAMILY_V4
			}
			nb := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: r.Via.AsSlice(), HardwareAddr: r.MAC}
			if err := netlink.NeighSet(nb); err != nil {
				return fmt.Errorf("neighbor %s: %w", r.Via, err)
			}
		}
		nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(r.Dst), Gw: r.Via.AsSlice()}
		if r.Onlink {
			nr.Flags = int(netlink.FLAG_ONLINK)
		}
		if err := netlink.RouteReplace(nr); err != nil {
			return fmt.Errorf("default route via %s: %w", r.Via, err)
		}
	}
	return nil
}

// WorkloadInterface reads the MAC and addresses of a workload's interface
// in the calling thread's network namespace.
func WorkloadInterface(ifName string) (net.HardwareAddr, []netip.Addr, error) {
	l, err := netlink.LinkByName(ifName)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %s: %w", ifName, err)
	}
	have, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, nil, err
	}
	var addrs []netip.Addr
	for _, a := range have {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			addrs = append(addrs, ip.Unmap())
		}
	}
	return l.Attrs().HardwareAddr, addrs, nil
}

package linux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// CreateVeth creates a veth pair in this namespace: host (left down; the
// attachment fast path enslaves it and brings it up) and peer with
// peerMAC, both with mtu (0: the kernel's). The Docker plugin hands peer
// to Docker, which moves it into the container.
func (n *Netlink) CreateVeth(host, peer string, peerMAC net.HardwareAddr, mtu int) error {
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MTU: mtu}, PeerName: peer, PeerHardwareAddr: peerMAC}
	if mtu > 0 {
		v.PeerMTU = uint32(mtu)
	}
	n.Writes++
	if err := n.h.LinkAdd(v); err != nil {
		return fmt.Errorf("veth %s/%s: %w", host, peer, err)
	}
	return nil
}

// LinkMAC is the MAC of a link of this namespace.
func (n *Netlink) LinkMAC(name string) (net.HardwareAddr, error) {
	l, err := n.h.LinkByName(name)
	if err != nil {
		return nil, err
	}
	return l.Attrs().HardwareAddr, nil
}

// IsVeth reports whether name is a veth of this namespace (false when
// there is no such link).
func (n *Netlink) IsVeth(name string) (bool, error) {
	l, err := n.h.LinkByName(name)
	if err != nil {
		return false, ignoreNotFound(err)
	}
	return l.Type() == "veth", nil
}

// SetNeighborsAt installs permanent neighbor entries ips -> mac in the
// network namespace at nsPath (a container's, e.g. Docker's SandboxKey),
// on its interface whose MAC is ifMAC, once that is up (an error until
// then: taking an interface down flushes its neighbors). It does not switch the calling
// thread's namespace: the netlink handle is opened in it.
func SetNeighborsAt(nsPath string, ifMAC net.HardwareAddr, ips []netip.Addr, mac net.HardwareAddr) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return err
	}
	var l netlink.Link
	for _, x := range links {
		if x.Attrs().HardwareAddr.String() == ifMAC.String() {
			l = x
		}
	}
	if l == nil {
		return fmt.Errorf("no interface with MAC %s in %s", ifMAC, nsPath)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("interface %s in %s is not up yet", l.Attrs().Name, nsPath)
	}
	for _, ip := range ips {
		fam := netlink.FAMILY_V6
		if ip.Is4() {
			fam = netlink.FAMILY_V4
		}
		nb := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: mac}
		if err := h.NeighSet(nb); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("neighbor %s on %s: %w", ip, l.Attrs().Name, err)
		}
	}
	return nil
}

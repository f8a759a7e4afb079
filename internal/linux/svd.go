package linux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"

	mnl "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// The single VXLAN device (vxlanDevice: single) needs what
// vishvananda/netlink v1.3.1 lacks: the vnifilter attribute when creating
// and reading a VXLAN device, the VNI filter (RTM_NEWTUNNEL, `bridge vni`)
// and the VLAN-to-VNI maps of one port (its BridgeVlanTunnelShow drops
// the port's index). Those messages go through mdlayher/netlink, which
// sizes its receive buffer to the message: a port's maps exceed the
// 64 KiB vishvananda reads at once beyond about 2000 VNIs.

// Constants of linux/if_bridge.h and linux/if_link.h that x/sys/unix
// does not define.
const (
	iflaBridgeFlags            = 0
	iflaBridgeVLANInfo         = 2
	iflaBridgeVLANTunnelInfo   = 3
	iflaBridgeVLANTunnelID     = 1
	iflaBridgeVLANTunnelVID    = 2
	iflaBridgeVLANTunnelFlags  = 3
	bridgeFlagsMaster          = 1
	bridgeVLANInfoMaster       = 1 << 0
	bridgeVLANInfoRangeBegin   = 1 << 3
	bridgeVLANInfoRangeEnd     = 1 << 4
	rtextFilterBRVLANCompresed = 1 << 2
	vxlanVNIFilterEntry        = 1
	vxlanVNIFilterEntryStart   = 1
	vxlanVNIFilterEntryEnd     = 2
	// batch bounds the entries (VNI ranges, maps) of one request.
	batch = 512
)

// rtnl is the raw rtnetlink connection in n's namespace, dialled once.
func (n *Netlink) rtnl() (*mnl.Conn, error) {
	if n.raw != nil {
		return n.raw, nil
	}
	c, err := mnl.Dial(unix.NETLINK_ROUTE, &mnl.Config{NetNS: int(n.ns), Strict: false})
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	n.raw = c
	return c, nil
}

// request sends one message that changes the kernel and waits for its
// acknowledgement.
func (n *Netlink) request(typ uint16, flags mnl.HeaderFlags, data []byte) error {
	c, err := n.rtnl()
	if err != nil {
		return err
	}
	n.Writes++
	_, err = c.Execute(mnl.Message{Header: mnl.Header{Type: mnl.HeaderType(typ), Flags: mnl.Request | mnl.Acknowledge | flags}, Data: data})
	return unwrapOp(err)
}

// dump runs a dump request; an interrupted one returns
// netlink.ErrDumpInterrupted, which retry repeats.
func (n *Netlink) dump(typ uint16, data []byte) ([]mnl.Message, error) {
	c, err := n.rtnl()
	if err != nil {
		return nil, err
	}
	msgs, err := c.Execute(mnl.Message{Header: mnl.Header{Type: mnl.HeaderType(typ), Flags: mnl.Request | mnl.Dump}, Data: data})
	if err != nil {
		return nil, unwrapOp(err)
	}
	for _, m := range msgs {
		if m.Header.Flags&mnl.DumpInterrupted != 0 {
			return nil, netlink.ErrDumpInterrupted
		}
	}
	return msgs, nil
}

// unwrapOp turns mdlayher's *OpError into its errno, as vishvananda
// returns them (callers compare with errors.Is and print it).
func unwrapOp(err error) error {
	var op *mnl.OpError
	if errors.As(err, &op) && op.Err != nil {
		if op.Message != "" {
			return fmt.Errorf("%w (%s)", op.Err, op.Message)
		}
		return op.Err
	}
	return err
}

// ifinfomsg is struct ifinfomsg.
func ifinfomsg(family uint8, index int) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = family
	binary.NativeEndian.PutUint32(b[4:8], uint32(int32(index)))
	return b
}

// tunnelmsg is struct tunnel_msg (family, flags, reserved, ifindex).
func tunnelmsg(index int) []byte {
	b := make([]byte, 8)
	b[0] = unix.AF_BRIDGE
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	return b
}

// createSingle creates the single VXLAN device down: ip link add NAME
// [address MAC] [mtu M] type vxlan external vnifilter local VTEP dstport
// 4789 nolearning.
func (n *Netlink) createSingle(d kernel.Link) error {
	ae := mnl.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, d.Name)
	if d.MTU != 0 {
		ae.Uint32(unix.IFLA_MTU, uint32(d.MTU))
	}
	if d.MAC != "" {
		mac, err := net.ParseMAC(d.MAC)
		if err != nil {
			return fmt.Errorf("address %s: %w", d.MAC, err)
		}
		ae.Bytes(unix.IFLA_ADDRESS, mac)
	}
	ae.Nested(unix.IFLA_LINKINFO, func(li *mnl.AttributeEncoder) error {
		li.String(unix.IFLA_INFO_KIND, "vxlan")
		li.Nested(unix.IFLA_INFO_DATA, func(vx *mnl.AttributeEncoder) error {
			if d.Local.IsValid() {
				vx.Bytes(unix.IFLA_VXLAN_LOCAL, d.Local.AsSlice())
			}
			vx.Uint8(unix.IFLA_VXLAN_LEARNING, 0)
			port := make([]byte, 2)
			binary.BigEndian.PutUint16(port, kernel.VXLANPort)
			vx.Bytes(unix.IFLA_VXLAN_PORT, port)
			vx.Uint8(unix.IFLA_VXLAN_COLLECT_METADATA, 1)
			vx.Uint8(unix.IFLA_VXLAN_VNIFILTER, 1)
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	return n.request(unix.RTM_NEWLINK, mnl.Create|mnl.Excl, append(ifinfomsg(unix.AF_UNSPEC, 0), attrs...))
}

// vniFiltered reports whether the VXLAN device with index idx has
// vnifilter on (vishvananda parses no IFLA_VXLAN_VNIFILTER).
func (n *Netlink) vniFiltered(idx int) (bool, error) {
	c, err := n.rtnl()
	if err != nil {
		return false, err
	}
	msgs, err := c.Execute(mnl.Message{Header: mnl.Header{Type: unix.RTM_GETLINK, Flags: mnl.Request}, Data: ifinfomsg(unix.AF_UNSPEC, idx)})
	if err != nil {
		return false, unwrapOp(err)
	}
	on := false
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		ad, err := mnl.NewAttributeDecoder(m.Data[unix.SizeofIfInfomsg:])
		if err != nil {
			return false, err
		}
		for ad.Next() {
			if ad.Type() != unix.IFLA_LINKINFO {
				continue
			}
			ad.Nested(func(li *mnl.AttributeDecoder) error {
				for li.Next() {
					if li.Type() != unix.IFLA_INFO_DATA {
						continue
					}
					li.Nested(func(vx *mnl.AttributeDecoder) error {
						for vx.Next() {
							if vx.Type() == unix.IFLA_VXLAN_VNIFILTER {
								on = vx.Uint8() != 0
							}
						}
						return nil
					})
				}
				return nil
			})
		}
		if err := ad.Err(); err != nil {
			return false, err
		}
	}
	return on, nil
}

// vniFilter reads the VNI filter entries of the device with index idx
// (bridge vni show dev D), sorted.
func (n *Netlink) vniFilter(idx int) ([]uint32, error) {
	msgs, err := n.dump(unix.RTM_GETTUNNEL, tunnelmsg(idx))
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, m := range msgs {
		if len(m.Data) < 8 || binary.NativeEndian.Uint32(m.Data[4:8]) != uint32(idx) {
			continue
		}
		ad, err := mnl.NewAttributeDecoder(m.Data[8:])
		if err != nil {
			return nil, err
		}
		for ad.Next() {
			if ad.Type() != vxlanVNIFilterEntry {
				continue
			}
			var start, end uint32
			ad.Nested(func(e *mnl.AttributeDecoder) error {
				for e.Next() {
					switch e.Type() {
					case vxlanVNIFilterEntryStart:
						start = e.Uint32()
					case vxlanVNIFilterEntryEnd:
						end = e.Uint32()
					}
				}
				return nil
			})
			if end < start {
				end = start
			}
			for v := start; v <= end && v != 0; v++ {
				out = append(out, v)
			}
		}
		if err := ad.Err(); err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// setVNIFilter adds (RTM_NEWTUNNEL) or deletes (RTM_DELTUNNEL) VNIs of
// the filter of the device with index idx, contiguous ones as one range
// entry, batch entries per request (bridge vni add dev D vni A-B).
func (n *Netlink) setVNIFilter(idx int, vnis []uint32, add bool) error {
	typ := uint16(unix.RTM_NEWTUNNEL)
	if !add {
		typ = unix.RTM_DELTUNNEL
	}
	ranges := vniRanges(vnis)
	for len(ranges) > 0 {
		k := min(batch, len(ranges))
		ae := mnl.NewAttributeEncoder()
		for _, r := range ranges[:k] {
			ae.Nested(vxlanVNIFilterEntry, func(e *mnl.AttributeEncoder) error {
				e.Uint32(vxlanVNIFilterEntryStart, r[0])
				if r[1] != r[0] {
					e.Uint32(vxlanVNIFilterEntryEnd, r[1])
				}
				return nil
			})
		}
		attrs, err := ae.Encode()
		if err != nil {
			return err
		}
		if err := n.request(typ, 0, append(tunnelmsg(idx), attrs...)); err != nil && (add || !errors.Is(err, unix.ENOENT)) {
			return err
		}
		ranges = ranges[k:]
	}
	return nil
}

// vniRanges groups sorted VNIs into contiguous [first, last] ranges.
func vniRanges(v []uint32) [][2]uint32 {
	var out [][2]uint32
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		out = append(out, [2]uint32{v[i], v[j]})
		i = j + 1
	}
	return out
}

// bridgeVLANs dumps the VLANs of every bridge and bridge port (bridge
// vlan show) and the VLAN-to-VNI maps of the ports with vlan_tunnel on
// (bridge vlan tunnelshow), keyed by link index, VLANs sorted with their
// flags (nl.BRIDGE_VLAN_INFO_PVID, _UNTAGGED), maps sorted by VLAN. The
// dump is compressed (ranges), and its messages may exceed the 64 KiB
// vishvananda's BridgeVlanList reads: a port with 4000 maps that form no
// ranges takes about 150 KiB.
func (n *Netlink) bridgeVLANs() (map[int][]vlanInfo, map[int][]kernel.Tunnel, error) {
	ae := mnl.NewAttributeEncoder()
	ae.Uint32(unix.IFLA_EXT_MASK, rtextFilterBRVLANCompresed)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, nil, err
	}
	msgs, err := n.dump(unix.RTM_GETLINK, append(ifinfomsg(unix.AF_BRIDGE, 0), attrs...))
	if err != nil {
		return nil, nil, err
	}
	vlans, tunnels := map[int][]vlanInfo{}, map[int][]kernel.Tunnel{}
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		idx := int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
		spec := afSpec(m.Data[unix.SizeofIfInfomsg:])
		if spec == nil {
			continue
		}
		af, err := mnl.NewAttributeDecoder(spec)
		if err != nil {
			return nil, nil, err
		}
		{
			err := func(af *mnl.AttributeDecoder) error {
				var begin *kernel.Tunnel
				var vbegin uint16
				for af.Next() {
					switch af.Type() {
					case iflaBridgeVLANInfo:
						b := af.Bytes()
						if len(b) < 4 {
							continue
						}
						flags, vid := binary.NativeEndian.Uint16(b[0:2]), binary.NativeEndian.Uint16(b[2:4])
						switch {
						case flags&bridgeVLANInfoRangeBegin != 0:
							vbegin = vid
						case flags&bridgeVLANInfoRangeEnd != 0 && vbegin != 0:
							for v := vbegin; v <= vid && v != 0; v++ {
								vlans[idx] = append(vlans[idx], vlanInfo{v, flags &^ bridgeVLANInfoRangeEnd})
							}
							vbegin = 0
						default:
							vlans[idx] = append(vlans[idx], vlanInfo{vid, flags})
						}
					case iflaBridgeVLANTunnelInfo:
						var t kernel.Tunnel
						var flags uint16
						af.Nested(func(ti *mnl.AttributeDecoder) error {
							for ti.Next() {
								switch ti.Type() {
								case iflaBridgeVLANTunnelID:
									t.VNI = ti.Uint32()
								case iflaBridgeVLANTunnelVID:
									t.VLAN = ti.Uint16()
								case iflaBridgeVLANTunnelFlags:
									flags = ti.Uint16()
								}
							}
							return nil
						})
						switch {
						case flags&bridgeVLANInfoRangeBegin != 0:
							b := t
							begin = &b
						case flags&bridgeVLANInfoRangeEnd != 0 && begin != nil:
							for v, id := begin.VLAN, begin.VNI; v <= t.VLAN && v != 0; v, id = v+1, id+1 {
								tunnels[idx] = append(tunnels[idx], kernel.Tunnel{VLAN: v, VNI: id})
							}
							begin = nil
						default:
							tunnels[idx] = append(tunnels[idx], t)
						}
					}
				}
				return af.Err()
			}(af)
			if err != nil {
				return nil, nil, err
			}
		}
	}
	for i := range vlans {
		slices.SortFunc(vlans[i], func(a, b vlanInfo) int { return int(a.vid) - int(b.vid) })
	}
	for i := range tunnels {
		slices.SortFunc(tunnels[i], func(a, b kernel.Tunnel) int { return int(a.VLAN) - int(b.VLAN) })
	}
	return vlans, tunnels, nil
}

// afSpec is the payload of IFLA_AF_SPEC among the attributes b of a
// bridge link message, nil without one. The kernel writes it last, and
// its 16-bit length wraps when it holds more than 64 KiB (a port with
// 4000 VLAN-to-VNI maps that form no ranges): the payload is taken to
// the end of the message instead.
func afSpec(b []byte) []byte {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if binary.NativeEndian.Uint16(b[2:4])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER) == unix.IFLA_AF_SPEC {
			return b[4:]
		}
		al := (l + 3) &^ 3
		if l < 4 || al > len(b) {
			return nil
		}
		b = b[al:]
	}
	return nil
}

// vlanInfo is one VLAN of a bridge or port (struct bridge_vlan_info).
type vlanInfo struct {
	vid   uint16
	flags uint16
}

// setTunnels adds (RTM_SETLINK) or deletes (RTM_DELLINK) VLAN-to-VNI
// maps of the bridge port with index idx, runs where VLAN and VNI both go
// up by one as one range, batch entries per request (bridge vlan add dev
// D vid V tunnel_info id VNI). The port needs vlan_tunnel on and the
// VLANs.
func (n *Netlink) setTunnels(idx int, ts []kernel.Tunnel, add bool) error {
	typ := uint16(unix.RTM_SETLINK)
	if !add {
		typ = unix.RTM_DELLINK
	}
	ranges := kernel.TunnelRanges(ts)
	for len(ranges) > 0 {
		k := min(batch, len(ranges))
		ae := mnl.NewAttributeEncoder()
		ae.Nested(unix.IFLA_AF_SPEC, func(af *mnl.AttributeEncoder) error {
			af.Uint16(iflaBridgeFlags, bridgeFlagsMaster)
			entry := func(t kernel.Tunnel, flags uint16) {
				af.Nested(iflaBridgeVLANTunnelInfo, func(ti *mnl.AttributeEncoder) error {
					ti.Uint32(iflaBridgeVLANTunnelID, t.VNI)
					ti.Uint16(iflaBridgeVLANTunnelVID, t.VLAN)
					if flags != 0 {
						ti.Uint16(iflaBridgeVLANTunnelFlags, flags)
					}
					return nil
				})
			}
			for _, r := range ranges[:k] {
				if r.First == r.Last {
					entry(r.First, 0)
					continue
				}
				entry(r.First, bridgeVLANInfoRangeBegin)
				entry(r.Last, bridgeVLANInfoRangeEnd)
			}
			return nil
		})
		attrs, err := ae.Encode()
		if err != nil {
			return err
		}
		if err := n.request(typ, 0, append(ifinfomsg(unix.AF_BRIDGE, idx), attrs...)); err != nil && (add || !errors.Is(err, unix.ENOENT)) {
			return err
		}
		ranges = ranges[k:]
	}
	return nil
}

// setSingle applies the single device's own attributes (vlan_tunnel, VNI
// filter, maps) from o to d.
func (n *Netlink) setSingle(l netlink.Link, c kernel.LinkAttr, d, o kernel.Link) error {
	idx := l.Attrs().Index
	switch c {
	case kernel.AttrVLANTunnel:
		n.Writes++
		return n.h.LinkSetVlanTunnel(l, d.VLANTunnel) // bridge link set dev D vlan_tunnel on
	case kernel.AttrVNIs:
		if del := minus(o.VNIs, d.VNIs); len(del) > 0 {
			if err := n.setVNIFilter(idx, del, false); err != nil {
				return err
			}
		}
		if add := minus(d.VNIs, o.VNIs); len(add) > 0 {
			return n.setVNIFilter(idx, add, true)
		}
	case kernel.AttrTunnels:
		// Maps of VLANs the port no longer has went with them; those
		// whose VNI changes are deleted before the new one is added.
		var del []kernel.Tunnel
		for _, t := range minus(o.Tunnels, d.Tunnels) {
			if slices.Contains(d.VLANs, t.VLAN) {
				del = append(del, t)
			}
		}
		if len(del) > 0 {
			if err := n.setTunnels(idx, del, false); err != nil {
				return err
			}
		}
		if add := minus(d.Tunnels, o.Tunnels); len(add) > 0 {
			return n.setTunnels(idx, add, true)
		}
	}
	return nil
}

// minus is the elements of a (sorted) not in b, in a's order.
func minus[T comparable](a, b []T) []T {
	in := setOfSlice(b)
	var out []T
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

func setOfSlice[T comparable](xs []T) map[T]bool {
	m := make(map[T]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// VNIFilter reports whether the kernel has VXLAN VNI filtering (the
// single VXLAN device) and how that was found: the vxlan module answers
// RTM_GETTUNNEL once loaded; before that (it loads with the first VXLAN
// device) the kernel release tells (vnifilter came in Linux 5.18).
func (n *Netlink) VNIFilter() (bool, string) {
	_, err := n.dump(unix.RTM_GETTUNNEL, tunnelmsg(0))
	if err == nil {
		return true, "the kernel answers RTM_GETTUNNEL"
	}
	var u unix.Utsname
	if uerr := unix.Uname(&u); uerr != nil {
		return false, fmt.Sprintf("RTM_GETTUNNEL: %v; uname: %v", err, uerr)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	if _, serr := fmt.Sscanf(rel, "%d.%d", &major, &minor); serr != nil {
		return false, fmt.Sprintf("RTM_GETTUNNEL: %v; kernel release %q unreadable", err, rel)
	}
	if major > 5 || (major == 5 && minor >= 18) {
		return true, fmt.Sprintf("kernel %s >= 5.18 (vxlan module not loaded yet)", rel)
	}
	return false, fmt.Sprintf("kernel %s < 5.18", rel)
}

// linkList is netlink.LinkList read through mdlayher/netlink: the kernel
// sizes the buffers of a link dump by its largest link (a bridge port's
// VLAN-to-VNI maps count, even when not dumped), and beyond about 2000
// maps of the single VXLAN device that form no ranges they exceed the
// 64 KiB vishvananda reads at once: its LinkList then fails with EINVAL
// (the truncated message). The messages are decoded by vishvananda.
func (n *Netlink) linkList() ([]netlink.Link, error) {
	ae := mnl.NewAttributeEncoder()
	ae.Uint32(unix.IFLA_EXT_MASK, 1) // RTEXT_FILTER_VF, as LinkList asks
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	msgs, err := n.dump(unix.RTM_GETLINK, append(ifinfomsg(unix.AF_UNSPEC, 0), attrs...))
	if err != nil {
		return nil, err
	}
	out := make([]netlink.Link, 0, len(msgs))
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK {
			continue
		}
		hdr := unix.NlMsghdr{Len: m.Header.Length, Type: uint16(m.Header.Type), Flags: uint16(m.Header.Flags), Seq: m.Header.Sequence, Pid: m.Header.PID}
		l, err := netlink.LinkDeserialize(&hdr, m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

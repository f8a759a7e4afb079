package attach

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// CheckInterface refuses an interface that evpnhost owns or that the intent
// uses (plan.ReservedInterface: the bridge, the VRFs, VXLAN devices and
// SVIs, lo, ipmr-lo, the uplinks, the intent's workloads' interfaces).
// `evpnhost attach` and the CNI plugin call it before recording an
// attachment; the plan skips recorded ones that fail it.
func CheckInterface(in *api.Intent, iface string) error {
	if why := plan.ReservedInterface(in, iface); why != "" {
		return errors.New(why)
	}
	return nil
}

// CheckAddrs checks the addresses of attachment a before it is recorded
// (`evpnhost attach --ip`, the CNI plugin's IPAM result): an address is
// advertised fabric-wide (type-2 or type-5), so one that is another's
// attracts its traffic. Refused are:
//
//   - unusable addresses: unspecified, loopback, multicast, link-local,
//     IPv4 broadcast, a subnet's network or broadcast address;
//   - bridged: an address outside the network's subnets;
//   - routed: an address inside a subnet of any network of the tenant (a
//     workload on that segment would look for it there);
//   - a gateway address of the tenant's networks;
//   - an address of an intent workload of the tenant, or of another
//     recorded attachment (atts, a's own record aside) of the tenant.
//
// Other tenants are other VRFs: they may use the same addresses.
func CheckAddrs(in *api.Intent, atts []Attachment, a Attachment) error {
	tenant, _, _ := api.SplitNetworkRef(a.Network)
	var nets []api.Network
	var self *api.Network
	for _, t := range in.Tenants {
		if t.Name != tenant {
			continue
		}
		nets = t.Networks
		for i, n := range t.Networks {
			if t.Name+"/"+n.Name == a.Network {
				self = &t.Networks[i]
			}
		}
	}
	if self == nil {
		return fmt.Errorf("unknown network %q", a.Network)
	}
	seen := map[netip.Addr]bool{}
	for _, s := range a.IPs {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("%q is not an address", s)
		}
		ip = ip.Unmap()
		if ip.Zone() != "" {
			return fmt.Errorf("%s: an address with a zone is link-local", ip)
		}
		if seen[ip] {
			return fmt.Errorf("%s is given twice", ip)
		}
		seen[ip] = true
		if why := unusable(ip); why != "" {
			return fmt.Errorf("%s is %s", ip, why)
		}
		for _, n := range nets {
			ref := tenant + "/" + n.Name
			for _, g := range n.GatewayPrefixes() {
				if g.Addr().Unmap() == ip {
					return fmt.Errorf("%s is %s's gateway", ip, ref)
				}
			}
		}
		if a.Mode == ModeRouted {
			for _, n := range nets {
				for _, s := range n.Subnets() {
					if s.Contains(ip) {
						return fmt.Errorf("%s is inside %s's subnet %s: a routed address must lie outside the subnets of the tenant's networks", ip, tenant+"/"+n.Name, s)
					}
				}
			}
		} else {
			var sub netip.Prefix
			for _, s := range self.Subnets() {
				if s.Contains(ip) {
					sub = s
				}
			}
			if !sub.IsValid() {
				return fmt.Errorf("%s is outside the subnets of %s (%s)", ip, a.Network, subnetList(self.Subnets()))
			}
			if why := edge(sub, ip); why != "" {
				return fmt.Errorf("%s is the %s of %s's subnet %s", ip, why, a.Network, sub)
			}
		}
		for _, w := range in.Workloads {
			if wt, _, _ := api.SplitNetworkRef(w.Network); wt != tenant {
				continue
			}
			for _, wa := range w.Addrs() {
				if wa.Unmap() == ip {
					return fmt.Errorf("%s is the address of workload %s (%s)", ip, w.Name, w.Network)
				}
			}
		}
		for _, o := range atts {
			if o.ID == a.ID {
				continue
			}
			if ot, _, _ := api.SplitNetworkRef(o.Network); ot != tenant {
				continue
			}
			for _, oa := range o.Addrs() {
				if oa == ip {
					return fmt.Errorf("%s is the address of attachment %s (%s on %s)", ip, o.ID, o.Interface, o.Network)
				}
			}
		}
	}
	return nil
}

// unusable says why ip cannot be a workload's address, "" when it can.
func unusable(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	case ip.Is4() && ip.As4()[0] >= 240:
		return "a reserved (class E) address"
	}
	return ""
}

// edge says whether ip is the network address (IPv6: the subnet-router
// anycast address) or the IPv4 broadcast address of s; point-to-point
// lengths (/31, /32, /127, /128) have neither.
func edge(s netip.Prefix, ip netip.Addr) string {
	if s.Bits() >= ip.BitLen()-1 {
		return ""
	}
	if ip == s.Masked().Addr() {
		return "network address"
	}
	if ip.Is4() {
		b := s.Masked().Addr().As4()
		host := ^uint32(0) >> s.Bits()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
		if ip == netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}) {
			return "broadcast address"
		}
	}
	return ""
}

func subnetList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "no subnets"
	}
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p.String()
	}
	return s
}

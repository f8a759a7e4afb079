package api

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FieldError is one problem of an intent, at a path such as
// "tenants[1].networks[0].vni".
type FieldError struct {
	Path string
	Msg  string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// ValidationError lists every problem of an intent, in intent order.
type ValidationError struct {
	Problems []FieldError
}

// Error is one problem per line, "path: msg".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Limits of the intent.
const (
	MaxVNI       = 1<<24 - 1
	MaxVLAN      = 4094
	MinMTU       = 1280
	MaxMTU       = 9216
	MaxIfNameLen = 15 // IFNAMSIZ - 1
	MaxNameLen   = 63
)

// Safe-name patterns. Everything that reaches FRR's configuration or names
// a kernel device matches one of these (with its length limit).
var (
	// InterfaceNameRe matches uplink and workload interface names (1-15 chars).
	InterfaceNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	// TenantNameRe matches tenant (VRF) names (1-15 chars). It must not
	// admit '_': FRR's import prefix-lists are named <importer>_<source>.
	TenantNameRe = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	// NameRe matches host, network and workload names (1-63 chars).
	NameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

// ValidInterfaceName reports whether s is a safe interface name.
func ValidInterfaceName(s string) bool {
	return len(s) <= MaxIfNameLen && s != "." && s != ".." && InterfaceNameRe.MatchString(s)
}

// ValidTenantName reports whether s is a safe tenant (VRF) name. It does not
// check the reserved names.
func ValidTenantName(s string) bool {
	return len(s) <= MaxIfNameLen && TenantNameRe.MatchString(s)
}

// ValidName reports whether s is a safe host, network or workload name.
func ValidName(s string) bool { return len(s) <= MaxNameLen && NameRe.MatchString(s) }

var (
	vxNameRe   = regexp.MustCompile(`^vx[0-9]+$`)
	vlanNameRe = regexp.MustCompile(`^vlan[0-9]+$`)
)

// reservedName explains why name cannot be used as a tenant or interface
// name, or returns "".
func reservedName(name string) string {
	switch {
	case name == "default":
		return "it is the kernel's default VRF"
	case name == "mgmt":
		return "it is the management VRF"
	case name == "lo":
		return "it is the loopback device"
	case name == "all":
		return "it is a reserved kernel name"
	case strings.HasPrefix(name, "evpn"):
		return "names starting with evpn are evpnhost's own (the bridge is evpnbr)"
	case vxNameRe.MatchString(name):
		return "evpnhost names its VXLAN devices vx<VNI>"
	case vlanNameRe.MatchString(name):
		return "evpnhost names its SVIs vlan<VID>"
	case name == "ipmr-lo":
		return "it is the kernel's multicast routing device, which pimd uses"
	case name == "fabric":
		return "it is the name of the uplinks' BGP peer-group in FRR"
	case strings.HasPrefix(name, "evc"):
		return "names starting with evc are the host ends of evpnhost-cni's veths"
	case looksLikeIP(name):
		return "it parses as an IP address, and FRR would read it as one"
	}
	return ""
}

// ReservedName explains why name cannot be an interface (or tenant) name
// evpnhost creates or attaches, or returns "": the names of evpnhost's and
// FRR's own devices and words, and names that parse as IP addresses.
func ReservedName(name string) string { return reservedName(name) }

// looksLikeIP reports whether s parses as an IP address or prefix by
// Go's parsers, or is dotted digits, which C's inet_aton reads as an
// address ("10.1", "010.0.0.2").
func looksLikeIP(s string) bool {
	if strings.Contains(s, ".") && strings.Trim(s, "0123456789.") == "" {
		return true
	}
	if net.ParseIP(s) != nil {
		return true
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if _, _, err := net.ParseCIDR(s); err == nil {
		return true
	}
	return false
}

// reservedTables are the kernel's own routing tables.
var reservedTables = map[uint32]string{
	253: "the kernel's default table",
	254: "the kernel's main table",
	255: "the kernel's local table",
}

// Validate checks the intent and returns nil or a *ValidationError listing
// every problem, in intent order.
func (in *Intent) Validate() error {
	if in == nil {
		return &ValidationError{Problems: []FieldError{{Path: "intent", Msg: "is empty"}}}
	}
	if problems := in.checkLimits(); len(problems) > 0 {
		// Beyond the limits validation stops: the rest would only cost
		// time and memory on an intent that cannot be applied anyway.
		return &ValidationError{Problems: problems}
	}
	v := &validator{
		ifnames: map[string]string{},
		vnis:    map[uint32]string{},
		vlans:   map[uint16]string{},
		tables:  map[uint32]string{},
	}
	v.host(&in.Host)
	v.tenants(in)
	v.imports(in)
	v.workloads(in)
	v.vxlanDevice(in)
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

// MaxBridgePorts is the Linux bridge's port limit (BR_MAX_PORTS - 1).
// Every workload is a port of the one bridge evpnbr, and so is every VNI's
// VXLAN device with host.vxlanDevice per-vni (the single VXLAN device is
// one port for all VNIs).
const MaxBridgePorts = 1023

type validator struct {
	problems []FieldError
	underlay int // underlay MTU, 0 when host.mtu is invalid

	// Shared name spaces, value = path of the first user.
	ifnames map[string]string // kernel interface names: uplinks, VRFs, workloads
	vnis    map[uint32]string
	vlans   map[uint16]string
	tables  map[uint32]string

	mcast multicastInfo // host.multicast, for networks' replication

	ix *intentIndex // built on first use
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// quote quotes s for a message, shortening very long input.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// name checks a host, network or workload name.
func (v *validator) name(path, s string) bool {
	switch {
	case s == "":
		v.add(path, "is required")
	case !ValidName(s):
		v.add(path, "%s is not a valid name: use a-z, 0-9, '-' and '_', start with a letter or digit, at most %d characters", quote(s), MaxNameLen)
	default:
		return true
	}
	return false
}

// ifname checks an interface name and claims it in the interface namespace.
func (v *validator) ifname(path, owner, s string) bool {
	switch {
	case s == "":
		v.add(path, "is required")
	case !ValidInterfaceName(s):
		v.add(path, "%s is not a valid interface name: use A-Z, a-z, 0-9, '-', '_' and '.', start with a letter or digit, at most %d characters", quote(s), MaxIfNameLen)
	case reservedName(s) != "":
		v.add(path, "%s is reserved: %s", quote(s), reservedName(s))
	default:
		return v.claimIfname(path, owner, s)
	}
	return false
}

func (v *validator) claimIfname(path, owner, s string) bool {
	if prev, ok := v.ifnames[s]; ok {
		v.add(path, "%s is already used by %s", quote(s), prev)
		return false
	}
	v.ifnames[s] = owner
	return true
}

func (v *validator) host(h *Host) {
	v.name("host.name", h.Name)

	switch {
	case h.ASN == 0:
		v.add("host.asn", "is required")
	case h.ASN == 23456:
		v.add("host.asn", "23456 is reserved (AS_TRANS)")
	case h.ASN == 4294967295:
		v.add("host.asn", "4294967295 is reserved")
	}

	if h.VTEP == "" {
		v.add("host.vtep", "is required")
	} else if a, err := netip.ParseAddr(h.VTEP); err != nil || !a.Is4() {
		v.add("host.vtep", "%s is not an IPv4 address", quote(h.VTEP))
	} else if what := unusable(a); what != "" {
		v.add("host.vtep", "%s is %s", a, what)
	}

	if h.RouterID != "" {
		if a, err := netip.ParseAddr(h.RouterID); err != nil || !a.Is4() {
			v.add("host.routerID", "%s is not an IPv4 address", quote(h.RouterID))
		} else if a.IsUnspecified() {
			v.add("host.routerID", "0.0.0.0 is not a valid router ID")
		}
	}

	if len(h.Uplinks) == 0 {
		v.add("host.uplinks", "at least one uplink is required")
	}
	for i, u := range h.Uplinks {
		p := idx("host.uplinks", i)
		v.ifname(p, p, u)
	}

	v.underlay = 0
	switch {
	case h.MTU == 0:
		v.underlay = DefaultUnderlayMTU
	case h.MTU < MinMTU || h.MTU > MaxMTU:
		v.add("host.mtu", "%d is out of range %d..%d", h.MTU, MinMTU, MaxMTU)
	default:
		v.underlay = h.MTU
	}
	v.hostMulticast(h.Multicast)
}

func (v *validator) vni(path, owner string, vni uint32) {
	switch {
	case vni == 0:
		v.add(path, "is required")
	case vni > MaxVNI:
		v.add(path, "%d is out of range 1..%d", vni, MaxVNI)
	default:
		if prev, ok := v.vnis[vni]; ok {
			v.add(path, "%d is already used by %s", vni, prev)
			return
		}
		v.vnis[vni] = owner
	}
}

func (v *validator) vlan(path, owner string, vlan uint16) {
	switch {
	case vlan == 0:
		v.add(path, "is required")
	case vlan > MaxVLAN:
		v.add(path, "%d is out of range 1..%d", vlan, MaxVLAN)
	default:
		if prev, ok := v.vlans[vlan]; ok {
			v.add(path, "%d is already used by %s", vlan, prev)
			return
		}
		v.vlans[vlan] = owner
	}
}

func (v *validator) tenants(in *Intent) {
	auto := in.L3VLAN()
	seen := map[string]bool{}
	autoUsed := map[uint16]bool{}
	for _, t := range in.Tenants {
		if t.VLAN != 0 {
			autoUsed[t.VLAN] = true
		}
		for _, n := range t.Networks {
			autoUsed[n.VLAN] = true
		}
	}
	for i := range in.Tenants {
		t := &in.Tenants[i]
		tp := idx("tenants", i)

		switch {
		case t.Name == "":
			v.add(tp+".name", "is required")
		case !ValidTenantName(t.Name):
			v.add(tp+".name", "%s is not a valid name: use a-z, 0-9 and '-', start with a letter, at most %d characters", quote(t.Name), MaxIfNameLen)
		case reservedName(t.Name) != "":
			v.add(tp+".name", "%s is reserved: %s", quote(t.Name), reservedName(t.Name))
		default:
			v.claimIfname(tp+".name", tp, t.Name)
		}

		vniCount := len(v.problems)
		v.vni(tp+".l3vni", tp+".l3vni", t.L3VNI)
		l3vniOK := len(v.problems) == vniCount

		if t.VRFTable != 0 {
			if why, ok := reservedTables[t.VRFTable]; ok {
				v.add(tp+".vrfTable", "%d is reserved: it is %s", t.VRFTable, why)
			} else if prev, ok := v.tables[t.VRFTable]; ok {
				v.add(tp+".vrfTable", "table %d is already used by %s", t.VRFTable, prev)
			} else {
				v.tables[t.VRFTable] = tp
			}
		} else if l3vniOK {
			if why, ok := reservedTables[t.L3VNI]; ok {
				v.add(tp+".vrfTable", "the table defaults to the l3vni %d, which is %s: set vrfTable", t.L3VNI, why)
			} else if prev, ok := v.tables[t.L3VNI]; ok {
				v.add(tp+".vrfTable", "the table defaults to the l3vni %d, which is already used by %s: set vrfTable", t.L3VNI, prev)
			} else {
				v.tables[t.L3VNI] = tp
			}
		}

		dupName := seen[t.Name] // L3VLAN is keyed by name: only the first counts
		seen[t.Name] = true
		switch a := auto[t.Name]; {
		case t.VLAN != 0:
			v.vlan(tp+".vlan", tp+".vlan", t.VLAN)
		case dupName:
		case autoUsed[a]:
			v.add(tp+".vlan", "no free VLAN left in %d..%d for the l3vni: set vlan", L3VNIVLANBase, MaxVLAN)
		default:
			autoUsed[a] = true
		}

		if t.RD != "" {
			if msg := checkRD(t.RD, false); msg != "" {
				v.add(tp+".rd", "%s is not a valid route distinguisher: %s", quote(t.RD), msg)
			}
		}
		if t.RouteTargets != nil {
			v.routeTargets(tp+".routeTargets.import", t.RouteTargets.Import, true)
			v.routeTargets(tp+".routeTargets.export", t.RouteTargets.Export, false)
		}

		v.networks(tp, t)
		v.policy(in, tp, i)
	}
}

func (v *validator) routeTargets(path string, rts []string, wildcard bool) {
	seen := map[string]int{}
	for i, rt := range rts {
		p := idx(path, i)
		if msg := checkRD(rt, wildcard); msg != "" {
			v.add(p, "%s is not a valid route target: %s", quote(rt), msg)
			continue
		}
		if j, ok := seen[rt]; ok {
			v.add(p, "%s is already listed at %s", rt, idx(path, j))
			continue
		}
		seen[rt] = i
	}
}

// checkRD checks ASN:NN or IPv4:NN (and *:NN when wildcard) and returns what
// is wrong, or "".
func checkRD(s string, wildcard bool) string {
	forms := "use ASN:NN or IPv4:NN"
	if wildcard {
		forms = "use ASN:NN, IPv4:NN or *:NN"
	}
	admin, num, ok := strings.Cut(s, ":")
	if !ok || admin == "" || num == "" || strings.Contains(num, ":") {
		return forms
	}
	nn, ok := decimal(num)
	if !ok {
		if strings.TrimLeft(num, "0123456789") == "" {
			return "the number must be at most 4294967295"
		}
		return forms
	}
	switch {
	case admin == "*" && wildcard:
		return ""
	case strings.Contains(admin, "."):
		a, err := netip.ParseAddr(admin)
		if err != nil || !a.Is4() {
			return forms
		}
		if nn > 65535 {
			return "with an IPv4 address the number must be at most 65535"
		}
	default:
		asn, ok := decimal(admin)
		if !ok {
			if strings.TrimLeft(admin, "0123456789") == "" {
				return "the ASN must be at most 4294967295"
			}
			return forms
		}
		if asn > 65535 && nn > 65535 {
			return "with a 4-byte ASN the number must be at most 65535"
		}
	}
	return ""
}

// decimal parses a plain unsigned 32-bit decimal number.
func decimal(s string) (uint64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return n, err == nil
}

type subnet struct {
	prefix           netip.Prefix
	network, gateway string // paths of the network and gateway that have it
}

func (v *validator) networks(tp string, t *Tenant) {
	names := map[string]string{}
	var subnets []subnet
	for j := range t.Networks {
		n := &t.Networks[j]
		np := idx(tp+".networks", j)

		if v.name(np+".name", n.Name) {
			if prev, ok := names[n.Name]; ok {
				v.add(np+".name", "%s is already used by %s", quote(n.Name), prev)
			} else {
				names[n.Name] = np
			}
		}
		v.vni(np+".vni", np, n.VNI)
		v.vlan(np+".vlan", np, n.VLAN)

		gws := map[netip.Addr]string{}
		for k, g := range n.Gateways {
			gp := idx(np+".gateways", k)
			p, ok := v.gateway(gp, g)
			if !ok {
				continue
			}
			if prev, ok := gws[p.Addr()]; ok {
				v.add(gp, "%s is already used by %s", p.Addr(), prev)
				continue
			}
			gws[p.Addr()] = gp
			m := p.Masked()
			for _, s := range subnets {
				if s.prefix.Overlaps(m) {
					owner := s.network
					if owner == np {
						owner = s.gateway
					}
					v.add(gp, "%s overlaps %s (%s)", m, owner, s.prefix)
					break
				}
			}
			subnets = append(subnets, subnet{m, np, gp})
		}

		if n.AnycastMAC != "" {
			v.mac(np+".anycastMAC", n.AnycastMAC)
		}
		v.replication(np, n)

		if n.MTU != 0 {
			switch {
			case n.MTU < MinMTU || n.MTU > MaxMTU:
				v.add(np+".mtu", "%d is out of range %d..%d", n.MTU, MinMTU, MaxMTU)
			case v.underlay != 0 && n.MTU > v.underlay-VXLANOverhead:
				v.add(np+".mtu", "%d exceeds the underlay MTU %d minus %d bytes of VXLAN overhead (at most %d)",
					n.MTU, v.underlay, VXLANOverhead, v.underlay-VXLANOverhead)
			}
		}
	}
}

// gateway checks one gateway in CIDR form.
func (v *validator) gateway(path, g string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(g)
	if err != nil {
		if _, aerr := netip.ParseAddr(g); aerr == nil && !strings.Contains(g, "/") {
			v.add(path, "%s has no prefix length: write the gateway with its subnet, like 10.1.10.1/24", quote(g))
		} else {
			v.add(path, "%s is not an address in CIDR form, like 10.1.10.1/24", quote(g))
		}
		return p, false
	}
	a := p.Addr()
	if a.Is4In6() {
		v.add(path, "%s is an IPv4-mapped IPv6 address: write it as IPv4", quote(g))
		return p, false
	}
	lo, hi, like := 8, 30, 24
	if a.Is6() {
		lo, hi, like = 64, 126, 64
	}
	if p.Bits() == a.BitLen() {
		v.add(path, "%s is a host route: a gateway needs a subnet, like %s/%d", g, a, like)
		return p, false
	}
	if p.Bits() < lo || p.Bits() > hi {
		v.add(path, "prefix length /%d is out of range /%d../%d", p.Bits(), lo, hi)
		return p, false
	}
	if what := unusable(a); what != "" {
		v.add(path, "%s is %s", a, what)
		return p, false
	}
	m := p.Masked()
	if a == m.Addr() {
		v.add(path, "%s is the network address of %s: the gateway needs a host address in its subnet", a, m)
		return p, false
	}
	if a.Is4() && a == broadcast(m) {
		v.add(path, "%s is the broadcast address of %s: the gateway needs a host address in its subnet", a, m)
		return p, false
	}
	return p, true
}

// unusable says why a is not a unicast address a host can own, or "".
func unusable(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsMulticast():
		return "a multicast address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case !a.IsGlobalUnicast():
		return "not a unicast address"
	}
	return ""
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// parseMAC parses a unicast, non-zero 6-byte MAC or says what is wrong.
func parseMAC(s string) (net.HardwareAddr, string) {
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return nil, fmt.Sprintf("%s is not a MAC address, like 02:00:00:00:00:01", quote(s))
	}
	if m[0]&1 != 0 {
		return nil, fmt.Sprintf("%s is a multicast MAC address", s)
	}
	if slices.Equal(m, net.HardwareAddr{0, 0, 0, 0, 0, 0}) {
		return nil, fmt.Sprintf("%s is the all-zero MAC address", s)
	}
	return m, ""
}

func (v *validator) mac(path, s string) bool {
	if _, msg := parseMAC(s); msg != "" {
		v.add(path, "%s", msg)
		return false
	}
	return true
}

func (v *validator) workloads(in *Intent) {
	names := map[string]string{}
	macs := map[string]string{}
	ips := map[string]map[netip.Addr]string{} // tenant -> address -> path
	for i := range in.Workloads {
		w := &in.Workloads[i]
		wp := idx("workloads", i)

		if v.name(wp+".name", w.Name) {
			if prev, ok := names[w.Name]; ok {
				v.add(wp+".name", "%s is already used by %s", quote(w.Name), prev)
			} else {
				names[w.Name] = wp
			}
		}

		var nw *Network
		var tenant string
		if w.Network == "" {
			v.add(wp+".network", "is required")
		} else if tn, nn, ok := SplitNetworkRef(w.Network); !ok {
			v.add(wp+".network", "%s must be tenant/network", quote(w.Network))
		} else {
			nw, tenant = v.resolve(wp+".network", in, w.Network, tn, nn)
		}

		if w.Interface == "" {
			v.add(wp+".interface", "is required")
		} else {
			v.ifname(wp+".interface", wp, w.Interface)
		}

		if w.MAC != "" {
			if m, msg := parseMAC(w.MAC); msg != "" {
				v.add(wp+".mac", "%s", msg)
			} else if prev, ok := macs[m.String()]; ok {
				v.add(wp+".mac", "%s is already used by %s", w.MAC, prev)
			} else if nw != nil && slices.Equal(m, nw.GatewayMAC()) {
				v.add(wp+".mac", "%s is the anycast gateway MAC of %s", w.MAC, w.Network)
			} else {
				macs[m.String()] = wp
			}
		}

		for k, s := range w.IPs {
			ip := idx(wp+".ips", k)
			a, err := netip.ParseAddr(s)
			if err != nil {
				if _, perr := netip.ParsePrefix(s); perr == nil {
					v.add(ip, "%s is a CIDR: give the address only", quote(s))
				} else {
					v.add(ip, "%s is not an IP address", quote(s))
				}
				continue
			}
			if a.Zone() != "" || a.Is4In6() {
				v.add(ip, "%s is not a plain IP address", quote(s))
				continue
			}
			if nw == nil {
				continue // the network is wrong or missing, already reported
			}
			if !v.workloadIP(ip, a, w.Network, nw) {
				continue
			}
			if ips[tenant] == nil {
				ips[tenant] = map[netip.Addr]string{}
			}
			if prev, ok := ips[tenant][a]; ok {
				v.add(ip, "%s is already used by %s", a, prev)
				continue
			}
			ips[tenant][a] = ip
		}
	}
}

// workloadIP checks that a lies in a subnet of the network and is usable.
func (v *validator) workloadIP(path string, a netip.Addr, ref string, n *Network) bool {
	subnets := n.Subnets()
	if len(subnets) == 0 {
		v.add(path, "%s has no gateways, so %s is in no subnet of it", ref, a)
		return false
	}
	for _, g := range n.GatewayPrefixes() {
		if !g.Contains(a) {
			continue
		}
		m := g.Masked()
		switch {
		case a == g.Addr():
			v.add(path, "%s is the gateway address of %s", a, ref)
		case a == m.Addr():
			v.add(path, "%s is the network address of %s", a, m)
		case a.Is4() && a == broadcast(m):
			v.add(path, "%s is the broadcast address of %s", a, m)
		default:
			return true
		}
		return false
	}
	strs := make([]string, len(subnets))
	for i, s := range subnets {
		strs[i] = s.String()
	}
	v.add(path, "%s is not inside a subnet of %s (%s)", a, ref, strings.Join(strs, ", "))
	return false
}

// resolve finds the network "tenant/network" or reports why it cannot.
func (v *validator) resolve(path string, in *Intent, ref, tn, nn string) (*Network, string) {
	ix := v.index(in)
	ti, ok := ix.tenant[tn]
	if !ok {
		if len(ix.tenantNames) == 0 {
			v.add(path, "unknown tenant %s: the intent has no tenants", quote(tn))
		} else {
			v.add(path, "unknown tenant %s: tenants are %s", quote(tn), some(ix.tenantNames))
		}
		return nil, ""
	}
	t := &in.Tenants[ti]
	if j, ok := ix.network[ti][nn]; ok {
		return &t.Networks[j], tn
	}
	if len(t.Networks) == 0 {
		v.add(path, "unknown network %s: tenant %s has no networks", quote(ref), quote(tn))
	} else {
		v.add(path, "unknown network %s: tenant %s has networks %s", quote(ref), quote(tn), someNetworks(t.Networks))
	}
	return nil, ""
}

// intentIndex maps the intent's names to their positions, so that every
// reference resolves in constant time (validation stays linear).
type intentIndex struct {
	tenant      map[string]int             // tenant name -> first index
	tenantNames []string                   // distinct, in intent order
	network     []map[string]int           // per tenant: network name -> first index
	workloads   map[string][]string        // "tenant/network" -> workload names, in intent order
	workload    map[string]map[string]bool // "tenant/network" -> workload names
}

func (v *validator) index(in *Intent) *intentIndex {
	if v.ix != nil {
		return v.ix
	}
	ix := &intentIndex{
		tenant:    map[string]int{},
		network:   make([]map[string]int, len(in.Tenants)),
		workloads: map[string][]string{},
		workload:  map[string]map[string]bool{},
	}
	for i := range in.Tenants {
		t := &in.Tenants[i]
		if _, dup := ix.tenant[t.Name]; !dup {
			ix.tenant[t.Name] = i
			ix.tenantNames = append(ix.tenantNames, t.Name)
		}
		ix.network[i] = map[string]int{}
		for j := range t.Networks {
			if _, dup := ix.network[i][t.Networks[j].Name]; !dup {
				ix.network[i][t.Networks[j].Name] = j
			}
		}
	}
	for _, w := range in.Workloads {
		ix.workloads[w.Network] = append(ix.workloads[w.Network], w.Name)
		if ix.workload[w.Network] == nil {
			ix.workload[w.Network] = map[string]bool{}
		}
		ix.workload[w.Network][w.Name] = true
	}
	v.ix = ix
	return ix
}

// MaxAlternatives is how many known names a message about an unknown one
// lists; the rest are counted.
const MaxAlternatives = 5

// some lists at most MaxAlternatives names (quoted when not plain) and
// counts the rest: "a, b, c, d, e and 2995 more".
func some(names []string) string {
	if len(names) <= MaxAlternatives {
		return strings.Join(quoteAll(names), ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(quoteAll(names[:MaxAlternatives]), ", "), len(names)-MaxAlternatives)
}

func someNetworks(nets []Network) string {
	names := make([]string, 0, min(len(nets), MaxAlternatives))
	for j := 0; j < len(nets) && j < MaxAlternatives; j++ {
		names = append(names, nets[j].Name)
	}
	s := strings.Join(quoteAll(names), ", ")
	if len(nets) > MaxAlternatives {
		s += fmt.Sprintf(" and %d more", len(nets)-MaxAlternatives)
	}
	return s
}

// quoteAll quotes names only when they are not plain safe names, so that
// the common case reads "web, app".
func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		if ValidName(n) {
			out[i] = n
		} else {
			out[i] = quote(n)
		}
	}
	return out
}

package api

import "net/netip"

// Normalize rewrites addresses, prefixes and MACs that parse into their
// canonical text form (lower-case, colon-separated MACs; compressed IPv6).
// Values that do not parse are left alone for Validate to report. It does
// not fill defaults: the accessors (RouterIDAddr, Table, GatewayMAC, ...)
// do that.
func (in *Intent) Normalize() {
	if in == nil {
		return
	}
	in.Host.VTEP = canonAddr(in.Host.VTEP)
	in.Host.RouterID = canonAddr(in.Host.RouterID)
	for i := range in.Tenants {
		t := &in.Tenants[i]
		for j := range t.Networks {
			n := &t.Networks[j]
			for k, g := range n.Gateways {
				if p, err := netip.ParsePrefix(g); err == nil {
					n.Gateways[k] = p.String()
				}
			}
			n.AnycastMAC = canonMAC(n.AnycastMAC)
		}
	}
	for i := range in.Workloads {
		w := &in.Workloads[i]
		w.MAC = canonMAC(w.MAC)
		for k, s := range w.IPs {
			w.IPs[k] = canonAddr(s)
		}
	}
}

func canonAddr(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

func canonMAC(s string) string {
	if s == "" {
		return s
	}
	if m, msg := parseMAC(s); msg == "" {
		return m.String()
	}
	return s
}

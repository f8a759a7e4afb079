// Package frr renders evpnhost's FRR configuration from a model (pure,
// through embedded templates pinned by golden files), merges it with the
// stanzas of the running configuration that evpnhost does not own, reads
// frr-reload.py's answer (Delta, ParseDelta) and orders a configuration
// definitions first. It runs nothing: internal/frrctl runs FRR's tools.
package frr

import (
	"bytes"
	"embed"
	"net/netip"
	"slices"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templates embed.FS

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"le":       LePrefix,
	"seq":      func(i int) int { return 10 * (i + 1) },
	"seq2":     func(k, fam int) int { return 10*(k+1) + fam },
	"sessions": SessionLines,
}).ParseFS(templates, "templates/*.tmpl"))

// Config is the FRR configuration evpnhost owns on a host.
type Config struct {
	Hostname string
	ASN      uint32
	RouterID netip.Addr
	VTEP     netip.Prefix
	Uplinks  []string
	BFD      bool
	// Neighbors renders the uplink sessions. A first bring-up renders
	// without them until zebra knows every L3VNI (see docs/architecture.md).
	Neighbors bool
	VRFs      []VRF
	// Multicast is the PIM-SM underlay of multicast BUM replication; nil
	// when no network uses it.
	Multicast *Multicast
	// Version is the FRR the configuration is for (frrctl.Instance.Version,
	// passed by reconcile); the zero Version renders for FRR 8.4.
	Version Version
}

// RouterPIM reports whether PIM's global configuration goes under
// `router pim` (FRR >= 10.2) rather than in `ip pim rp` lines.
func (c Config) RouterPIM() bool { return c.Version.RouterPIM() }

// Multicast is the host's PIM-SM configuration: PIM on lo and the
// uplinks, and the rendezvous point. The uplinks carry the VTEP /32
// with or without it (PIM needs an IPv4 source on the BGP-unnumbered
// uplinks; removing the last address from an uplink makes the kernel
// flush the routes through it behind zebra's back: docs/architecture.md).
type Multicast struct {
	RP     netip.Addr
	Groups []netip.Prefix
}

// Import leaks routes of the VRF From into a VRF, filtered by prefixes.
// Return imports are the exporter's side of a one-way import: only the
// importer's own subnets, for replies (docs/route-leaking.md).
type Import struct {
	From        string
	Prefixes    []netip.Prefix
	Readvertise bool // advertise leaked routes as own type-5 routes
	Return      bool
}

// VRF is a tenant: its VNI, its BGP instance and its EVPN settings.
type VRF struct {
	Name     string
	L3VNI    uint32
	RouterID netip.Addr
	RD       string
	RTImport []string
	RTExport []string
	IPv4     bool // the tenant has IPv4 subnets: type-5 for IPv4
	IPv6     bool
	Imports  []Import
}

// ImportsV4 are the source VRFs with IPv4 prefixes to leak.
func (v VRF) ImportsV4() []Import { return v.imports(true) }

// ImportsV6 are the source VRFs with IPv6 prefixes to leak.
func (v VRF) ImportsV6() []Import { return v.imports(false) }

func (v VRF) imports(four bool) []Import {
	var out []Import
	for _, im := range v.Imports {
		if len(im.family(four)) > 0 {
			out = append(out, im)
		}
	}
	return out
}

func (im Import) family(four bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range im.Prefixes {
		if p.Addr().Is4() == four {
			out = append(out, p)
		}
	}
	return out
}

// V4 and V6 are the import's prefixes of one family.
func (im Import) V4() []netip.Prefix { return im.family(true) }
func (im Import) V6() []netip.Prefix { return im.family(false) }

// Hidden are the leaked prefixes of one family that must not be
// advertised as this VRF's type-5 routes.
func (v VRF) Hidden(four bool) []netip.Prefix {
	var out []netip.Prefix
	for _, im := range v.Imports {
		if !im.Readvertise {
			out = append(out, im.family(four)...)
		}
	}
	return out
}

// HiddenV4 and HiddenV6: see Hidden.
func (v VRF) HiddenV4() []netip.Prefix { return v.Hidden(true) }
func (v VRF) HiddenV6() []netip.Prefix { return v.Hidden(false) }

// AdvertiseMap reports whether type-5 advertisement needs the
// EVPNHOST-ADVERTISE-<vrf> route-map.
func (v VRF) AdvertiseMap() bool { return len(v.HiddenV4())+len(v.HiddenV6()) > 0 }

// LePrefix renders a prefix-list entry matching p and every longer prefix.
func LePrefix(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.String()
	}
	return p.String() + " le " + itoa(p.Addr().BitLen())
}

func itoa(n int) string {
	if n == 32 {
		return "32"
	}
	return "128"
}

// SessionLines are the lines of c's "router bgp" stanza that Neighbors
// adds: each uplink's session, and its BFD with c.BFD (BFD is on each
// uplink's neighbor, not on the peer group, so that the agent's BFD
// repair can take it off one uplink alone). The template renders them
// with Neighbors; a staged bring-up adds them once zebra knows the
// L3VNIs.
func SessionLines(c Config) []string {
	var l []string
	for _, u := range c.Uplinks {
		l = append(l, "neighbor "+u+" interface peer-group fabric")
		if c.BFD {
			l = append(l, "neighbor "+u+" bfd")
		}
	}
	return l
}

// Render returns the configuration text. The output is deterministic: the
// same Config always renders byte-identical text.
func Render(c Config) string {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "frr.conf.tmpl", c); err != nil {
		panic("frr template: " + err.Error()) // the template is static; a failure is a bug
	}
	return b.String()
}

// Ownership tells which top-level stanzas of a running configuration
// belong to evpnhost.
type Ownership struct {
	// Tenants are the VRF names evpnhost manages now or managed before.
	Tenants []string
	// Uplinks are the host's uplinks: their interface stanzas are evpnhost's.
	Uplinks []string
}

// Owns reports whether the stanza that starts with line is evpnhost's.
func (o Ownership) Owns(line string) bool {
	f := strings.Fields(line)
	if len(f) == 0 {
		return false
	}
	switch {
	case strings.HasPrefix(line, "frr defaults "), strings.HasPrefix(line, "hostname "),
		line == "service integrated-vtysh-config", strings.HasPrefix(line, "ip pim rp "),
		line == "no zebra nexthop kernel enable", line == "zebra nexthop kernel enable":
		return true

	case f[0] == "router" && len(f) >= 3 && f[1] == "bgp":
		if len(f) == 3 {
			return true // the default-VRF BGP instance: there is only one
		}
		return len(f) == 5 && f[3] == "vrf" && o.tenant(f[4])
	case f[0] == "vrf" && len(f) == 2:
		return o.tenant(f[1])
	case (f[0] == "route-map" || f[0] == "ip" || f[0] == "ipv6") && len(f) >= 2:
		name := f[1]
		if f[0] != "route-map" && len(f) >= 3 {
			name = f[2] // ip prefix-list NAME ...
		}
		return strings.HasPrefix(name, "EVPNHOST-")
	}
	return false
}

// ownedInterface reports the interface stanzas (lo, uplinks) in which
// evpnhost owns some lines (ownedInterfaceLine): the rest of such a
// stanza is the operator's.
func (o Ownership) ownedInterface(first string) bool {
	f := strings.Fields(first)
	return len(f) == 2 && f[0] == "interface" && (f[1] == "lo" || slices.Contains(o.Uplinks, f[1]))
}

// ownedInterfaceLine: the PIM lines of multicast replication (`ip pim`,
// `ip igmp`) and, on an uplink, the VTEP /32 (rendered with or without
// multicast).
func ownedInterfaceLine(line string, uplink bool) bool {
	l := strings.TrimSpace(line)
	return l == "ip pim" || strings.HasPrefix(l, "ip pim ") || l == "ip igmp" || strings.HasPrefix(l, "ip igmp ") ||
		(uplink && strings.HasPrefix(l, "ip address ") && strings.HasSuffix(l, "/32"))
}

func (o Ownership) tenant(name string) bool {
	for _, t := range o.Tenants {
		if t == name {
			return true
		}
	}
	return false
}

// Stanzas splits a configuration into top-level stanzas: a block (a line
// followed by indented lines, up to its `exit`/`exit-vrf`) or a single line.
// Comment lines (`!`) separate stanzas and are dropped.
func Stanzas(conf string) [][]string {
	var out [][]string
	var cur []string
	inBlock := false
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, inBlock = nil, false
	}
	for _, line := range strings.Split(conf, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "!") ||
			trimmed == "Building configuration..." || trimmed == "Current configuration:" {
			continue // vtysh chatter around show running-config
		}
		indented := line != strings.TrimLeft(line, " \t")
		switch {
		case indented && len(cur) > 0:
			cur = append(cur, line)
			inBlock = true
		case inBlock && (trimmed == "exit" || trimmed == "exit-vrf" || trimmed == "end"):
			cur = append(cur, line)
			flush()
		case isBlockStart(trimmed):
			flush()
			cur = []string{line}
			inBlock = true
		default:
			flush()
			if trimmed != "end" {
				out = append(out, []string{line})
			}
		}
	}
	flush()
	return out
}

// isBlockStart reports top-level commands that open a configuration node.
func isBlockStart(line string) bool {
	for _, p := range []string{"router ", "interface ", "vrf ", "route-map ", "line ", "bfd", "segment-routing", "mpls ", "key chain ", "nexthop-group ", "pbr-map ", "debug route-map"} {
		if strings.HasPrefix(line, p) {
			return !strings.HasPrefix(line, "debug ")
		}
	}
	return false
}

// Merge returns the configuration to load: the running stanzas evpnhost
// does not own, in their order, followed by the rendered ones. Loading it
// with frr-reload.py changes only evpnhost's stanzas.
//
// In `router pim` (FRR >= 10.2) evpnhost owns the `rp` lines, as it owns
// the `ip pim rp` lines of FRR 8.4: the rest of the stanza is the
// operator's, and goes into the rendered `router pim` when there is one
// (one stanza, as FRR shows it), else stays a stanza of its own.
func Merge(running, rendered string, own Ownership) string {
	var b strings.Builder
	var pimRest []string // the operator's lines of router pim
	for _, st := range Stanzas(running) {
		first := strings.TrimSpace(st[0])
		if own.Owns(first) || strings.HasPrefix(first, "frr version ") || first == "end" {
			continue
		}
		if first == "router pim" {
			pimRest = slices.DeleteFunc(slices.Clone(st[1:]), func(l string) bool {
				t := strings.TrimSpace(l)
				return t == "exit" || strings.HasPrefix(t, "rp ")
			})
			if len(pimRest) == 0 || strings.Contains("\n"+rendered, "\nrouter pim\n") {
				continue
			}
			st = slices.Concat([]string{st[0]}, pimRest, []string{"exit"})
			pimRest = nil
		}
		if own.ownedInterface(first) {
			uplink := first != "interface lo"
			// An interface left with nothing but its header stays, empty:
			// frr-reload.py then removes the PIM lines from it. Without the
			// stanza it runs `no interface lo`, which FRR 10.3 refuses
			// ("only inactive interfaces can be deleted") and the reload
			// fails when multicast replication goes.
			st = slices.DeleteFunc(slices.Clone(st), func(l string) bool { return ownedInterfaceLine(l, uplink) })
		}
		for _, l := range st {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		b.WriteString("!\n")
	}
	if len(pimRest) > 0 {
		rest := strings.Join(pimRest, "\n") + "\n"
		if strings.HasPrefix(rendered, "router pim\n") {
			rendered = "router pim\n" + rest + strings.TrimPrefix(rendered, "router pim\n")
		} else {
			rendered = strings.Replace(rendered, "\nrouter pim\n", "\nrouter pim\n"+rest, 1)
		}
	}
	b.WriteString(rendered)
	return b.String()
}

// VRFStanzas returns the first lines of conf's stanzas that configure the
// VRF name: `vrf NAME` and `router bgp ASN vrf NAME`, the stanzas
// Ownership gives a tenant of that name. An empty `vrf NAME` stanza
// configures nothing and is left out: FRR 10.3 keeps one after the last
// line in it is removed (EmptyVRFs).
func VRFStanzas(conf, name string) []string {
	var out []string
	for _, st := range Stanzas(conf) {
		first := strings.TrimSpace(st[0])
		f := strings.Fields(first)
		if len(f) == 2 && f[0] == "vrf" && f[1] == name && emptyStanza(st) {
			continue
		}
		if (len(f) == 2 && f[0] == "vrf" && f[1] == name) ||
			(len(f) == 5 && f[0] == "router" && f[1] == "bgp" && f[3] == "vrf" && f[4] == name) {
			out = append(out, first)
		}
	}
	return out
}

// EmptyVRFs returns those of names whose `vrf NAME` stanza in conf holds
// nothing. frr-reload.py removes a tenant's `vrf NAME` stanza by deleting
// the lines in it: FRR 8.4 then drops the stanza, FRR 10.3 keeps it, empty
// (the VRF stays "configured"), and it must be removed with `no vrf NAME`.
func EmptyVRFs(conf string, names []string) []string {
	var out []string
	for _, st := range Stanzas(conf) {
		f := strings.Fields(st[0])
		if len(f) == 2 && f[0] == "vrf" && slices.Contains(names, f[1]) && emptyStanza(st) {
			out = append(out, f[1])
		}
	}
	return out
}

// emptyStanza: a header and at most its exit.
func emptyStanza(st []string) bool {
	for _, l := range st[1:] {
		if t := strings.TrimSpace(l); t != "exit" && t != "exit-vrf" && !strings.HasPrefix(t, "!") {
			return false
		}
	}
	return true
}

// Package frr renders evpnhost's FRR configuration from a model (pure,
// through embedded templates pinned by golden files), merges it with the
// stanzas of the running configuration that evpnhost does not own, and
// (Instance) drives one FRR instance: frr-reload.py --test before
// --reload, JSON state from vtysh. It is the only package that runs FRR
// tools.
package frr

import (
	"bytes"
	"embed"
	"net/netip"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templates embed.FS

var tmpl = template.Must(template.ParseFS(templates, "templates/*.tmpl"))

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
}

// Owns reports whether the stanza that starts with line is evpnhost's.
func (o Ownership) Owns(line string) bool {
	f := strings.Fields(line)
	if len(f) == 0 {
		return false
	}
	switch {
	case strings.HasPrefix(line, "frr defaults "), strings.HasPrefix(line, "hostname "),
		line == "service integrated-vtysh-config":
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
func Merge(running, rendered string, own Ownership) string {
	var b strings.Builder
	for _, st := range Stanzas(running) {
		first := strings.TrimSpace(st[0])
		if own.Owns(first) || strings.HasPrefix(first, "frr version ") || first == "end" {
			continue
		}
		for _, l := range st {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		b.WriteString("!\n")
	}
	b.WriteString(rendered)
	return b.String()
}

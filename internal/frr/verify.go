package frr

import (
	"strings"
)

// Missing returns the lines of the rendered configuration that the running
// configuration lacks, each with the stanza (and address family) it
// belongs to: "vrf red / vni 4001". After a reload that returned success
// it must be empty: FRR >= 9 without mgmtd drops `vrf X / vni N` and `ip
// route` lines without a word (docs/architecture.md).
//
// Lines are compared as FRR prints them, in their context, whatever their
// order and indentation. Not compared: comments and exits, `hostname`
// (vtysh shows its own besides the daemons'), `frr defaults` (each daemon
// shows its own) and `service integrated-vtysh-config` (vtysh's, shown only
// when vtysh.conf has it).
func Missing(rendered, running string) []string {
	have := map[string]bool{}
	for _, k := range contextLines(running) {
		have[k] = true
	}
	var out []string
	for _, k := range contextLines(rendered) {
		if !have[k] {
			out = append(out, k)
		}
	}
	return out
}

// contextLines lists the configuration lines of conf, each prefixed with
// the nodes it is in ("router bgp 65101 / address-family l2vpn evpn /
// advertise-all-vni"); a stanza's first line stands for itself.
func contextLines(conf string) []string {
	var out []string
	for _, st := range Stanzas(conf) {
		head := strings.Join(strings.Fields(st[0]), " ")
		if unverified(head) {
			continue
		}
		out = append(out, head)
		sub := ""
		for _, l := range st[1:] {
			t := strings.Join(strings.Fields(l), " ")
			switch {
			case t == "" || strings.HasPrefix(t, "!") || t == "exit" || t == "exit-vrf" || t == "end":
				continue
			case t == "exit-address-family" || t == "exit-vni":
				sub = ""
				continue
			case strings.HasPrefix(t, "address-family "):
				sub = t
				out = append(out, head+" / "+t)
				continue
			}
			if sub != "" {
				out = append(out, head+" / "+sub+" / "+t)
			} else {
				out = append(out, head+" / "+t)
			}
		}
	}
	return out
}

func unverified(line string) bool {
	return strings.HasPrefix(line, "hostname ") || strings.HasPrefix(line, "frr defaults ") ||
		strings.HasPrefix(line, "frr version ") || line == "service integrated-vtysh-config" || line == "end"
}

// Package policy compiles the tenants' micro-segmentation policies of an
// intent into a rule table per workload port (PURE: Compile, Classify),
// and defines what an enforcement backend does with it (Backend). The
// backends are in the subpackages ebpf (tc clsact programs) and nft
// (nftables); docs/policy.md describes the model.
//
// Vocabulary: a port is the host side of a workload's interface (a bridge
// port or a VRF port). Direction In is traffic to the workload (it leaves
// the host through the port), Out is traffic from the workload. The local
// address of a packet is the workload's (destination for In, source for
// Out), the remote address is the other end.
package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// Dir is a direction at a workload port.
type Dir uint8

// Directions.
const (
	In  Dir = 0 // to the workload
	Out Dir = 1 // from the workload
)

func (d Dir) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// Port is a workload port the policy of its tenant is enforced at.
type Port struct {
	Tenant    string
	Network   string // "tenant/network"
	Workload  string // the intent workload's name, or a run-time attachment's (a Docker container's); may be empty
	Interface string // host side
	Addrs     []netip.Addr
	Routed    bool // a port of the tenant VRF (routed attachment), not of the bridge
}

// Entry is one compiled rule at one port: packets of a new flow in
// direction Dir whose remote address is in Remote, local address in Local
// (any when Local is not valid), protocol Proto (api.ProtoAny: any;
// api.ProtoICMP: ICMP or ICMPv6) and destination port in [Lo, Hi] get
// Action.
type Entry struct {
	Dir    Dir
	Remote netip.Prefix
	Local  netip.Prefix
	Proto  uint8
	Lo, Hi uint16
	Allow  bool
	Rule   int // index in the tenant's rules
}

// PortTable is the ordered rule list of one port: for a new flow the first
// matching entry of its direction decides, else Default.
type PortTable struct {
	Port
	DefaultAllow bool
	Entries      []Entry
}

// RuleKey names a counter: a rule of a tenant's policy (Rule -1: the
// default). Text is the rule as written, so that a counter restarts from
// zero when the rule at an index changes.
type RuleKey struct {
	Tenant string
	Rule   int
	Text   string
}

// RuleCounter is what a backend counted for one rule, summed over the
// ports: Allowed is the flows (first packets) the rule admitted, Denied
// the packets it dropped.
type RuleCounter struct {
	Tenant  string `json:"tenant"`
	Rule    int    `json:"rule"` // index in tenants[].policy.rules; -1 is the default
	Allowed uint64 `json:"allowed"`
	Denied  uint64 `json:"denied"`
}

// Table is the compiled policy of a host.
type Table struct {
	Ports []PortTable // sorted by interface
	// Rules are the counter keys of every policy, in intent order.
	Rules []RuleKey

	keys map[[2]string]RuleKey // index of Rules, built on first use
}

// Key is the counter key of a tenant's rule (-1: the default).
func (t *Table) Key(tenant string, rule int) RuleKey {
	if t.keys == nil {
		t.keys = make(map[[2]string]RuleKey, len(t.Rules))
		for _, k := range t.Rules {
			t.keys[[2]string{k.Tenant, strconv.Itoa(k.Rule)}] = k
		}
	}
	return t.keys[[2]string{tenant, strconv.Itoa(rule)}]
}

// Backend enforces a Table. Apply replaces what was enforced before
// atomically: a port's new rules apply from one packet on, established
// flows are kept (their replies and further packets pass). Ports not in
// the table lose enforcement.
type Backend interface {
	Name() string
	Apply(t Table) error
	Counters() ([]RuleCounter, error)
	Close() error
}

// Ports lists the workload ports of tenants with a policy: the intent's
// workloads and the run-time attachments, in that order.
func Ports(in *api.Intent, atts []plan.Attachment) []Port {
	with := map[string]bool{}
	for _, t := range in.Tenants {
		if t.Policy != nil {
			with[t.Name] = true
		}
	}
	var out []Port
	seen := map[string]bool{}
	add := func(p Port) {
		if with[p.Tenant] && !seen[p.Interface] {
			seen[p.Interface] = true
			out = append(out, p)
		}
	}
	for _, w := range in.Workloads {
		tn, _, _ := api.SplitNetworkRef(w.Network)
		add(Port{Tenant: tn, Network: w.Network, Workload: w.Name, Interface: w.Interface, Addrs: w.Addrs()})
	}
	for _, a := range atts {
		tn, _, _ := api.SplitNetworkRef(a.Network)
		add(Port{Tenant: tn, Network: a.Network, Workload: a.Name, Interface: a.Interface, Addrs: a.IPs, Routed: a.Routed})
	}
	return out
}

// Compile turns the policies of a validated intent into the rule tables of
// ports (from Ports).
func Compile(in *api.Intent, ports []Port) Table {
	var t Table
	for _, tn := range in.Tenants {
		if tn.Policy == nil {
			continue
		}
		t.Rules = append(t.Rules, RuleKey{Tenant: tn.Name, Rule: -1, Text: "default " + tn.Policy.DefaultAction()})
		for i, r := range tn.Policy.Rules {
			t.Rules = append(t.Rules, RuleKey{Tenant: tn.Name, Rule: i, Text: RuleText(r)})
		}
	}
	for _, p := range ports {
		var tn *api.Tenant
		for i := range in.Tenants {
			if in.Tenants[i].Name == p.Tenant && in.Tenants[i].Policy != nil {
				tn = &in.Tenants[i]
				break
			}
		}
		if tn == nil {
			continue
		}
		pt := PortTable{Port: p, DefaultAllow: tn.Policy.DefaultAction() == api.ActionAllow}
		for i, r := range tn.Policy.Rules {
			from, _ := api.ParseSelector(r.From)
			to, _ := api.ParseSelector(r.To)
			allow := r.Action == api.ActionAllow
			ranges := portRanges(r.Ports)
			if ok, local := matchLocal(from, p); ok {
				pt.Entries = append(pt.Entries, entries(Out, remotes(in, to, ports), local, ranges, allow, i)...)
			}
			if ok, local := matchLocal(to, p); ok {
				pt.Entries = append(pt.Entries, entries(In, remotes(in, from, ports), local, ranges, allow, i)...)
			}
		}
		t.Ports = append(t.Ports, pt)
	}
	slices.SortStableFunc(t.Ports, func(a, b PortTable) int { return cmp.Compare(a.Interface, b.Interface) })
	return t
}

// RuleText is a rule in one line, as written.
func RuleText(r api.Rule) string {
	return fmt.Sprintf("from %s to %s ports [%s] %s", r.From, r.To, strings.Join(r.Ports, ","), r.Action)
}

func portRanges(ports []string) []api.PortRange {
	if len(ports) == 0 {
		return []api.PortRange{{Proto: api.ProtoAny}}
	}
	var out []api.PortRange
	for _, s := range ports {
		if pr, err := api.ParsePort(s); err == nil {
			out = append(out, pr)
		}
	}
	return out
}

// matchLocal reports whether the selector covers port p, and the local
// address constraint (valid only for a CIDR selector). A CIDR covers the
// ports with an address in it, and the ports whose addresses evpnhost does
// not know (then packets are checked against it).
func matchLocal(s api.Selector, p Port) (bool, netip.Prefix) {
	switch {
	case s.IsCIDR():
		if len(p.Addrs) == 0 {
			return true, s.Prefix
		}
		for _, a := range p.Addrs {
			if s.Prefix.Contains(a) {
				return true, s.Prefix
			}
		}
		return false, netip.Prefix{}
	case s.Workload != "":
		return p.Workload == s.Workload && p.Network == s.NetworkRef(), netip.Prefix{}
	default:
		return p.Network == s.NetworkRef(), netip.Prefix{}
	}
}

// remotes are the prefixes a selector stands for as the remote end: a
// CIDR itself; a network's subnets and the addresses of its ports (routed
// attachments have addresses outside the subnets); a workload's addresses.
func remotes(in *api.Intent, s api.Selector, ports []Port) []netip.Prefix {
	if s.IsCIDR() {
		return []netip.Prefix{s.Prefix}
	}
	var out []netip.Prefix
	add := func(p netip.Prefix) {
		for _, q := range out {
			if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
				return // already covered
			}
		}
		out = append(out, p)
	}
	if s.Workload == "" {
		for _, t := range in.Tenants {
			for _, n := range t.Networks {
				if t.Name == s.Tenant && n.Name == s.Network {
					for _, sn := range n.Subnets() {
						add(sn)
					}
				}
			}
		}
	}
	for _, p := range ports {
		if p.Network != s.NetworkRef() || (s.Workload != "" && p.Workload != s.Workload) {
			continue
		}
		for _, a := range p.Addrs {
			add(netip.PrefixFrom(a, a.BitLen()))
		}
	}
	if s.Workload != "" {
		for _, w := range in.Workloads {
			if w.Name == s.Workload && w.Network == s.NetworkRef() {
				for _, a := range w.Addrs() {
					add(netip.PrefixFrom(a, a.BitLen()))
				}
			}
		}
	}
	return out
}

func entries(d Dir, remote []netip.Prefix, local netip.Prefix, ranges []api.PortRange, allow bool, rule int) []Entry {
	var out []Entry
	for _, rp := range remote {
		if local.IsValid() && local.Addr().Is4() != rp.Addr().Is4() {
			continue // an IPv4 packet has no IPv6 end
		}
		for _, pr := range ranges {
			out = append(out, Entry{Dir: d, Remote: rp, Local: local, Proto: pr.Proto, Lo: pr.Lo, Hi: pr.Hi, Allow: allow, Rule: rule})
		}
	}
	return out
}

// Unconditional reports whether e matches every packet whose remote
// address is in e.Remote (any protocol, any local address).
func (e Entry) Unconditional() bool { return e.Proto == api.ProtoAny && !e.Local.IsValid() }

// Matches reports whether a new flow's first packet matches e.
func (e Entry) Matches(d Dir, remote, local netip.Addr, proto uint8, dport uint16) bool {
	if e.Dir != d || !e.Remote.Contains(remote) || (e.Local.IsValid() && !e.Local.Contains(local)) {
		return false
	}
	switch e.Proto {
	case api.ProtoAny:
		return true
	case api.ProtoICMP:
		return proto == 1 || proto == 58
	}
	return e.Proto == proto && dport >= e.Lo && dport <= e.Hi
}

// Decide is the reference semantics: the first matching entry's action
// (and its rule), else the default (rule -1).
func (pt PortTable) Decide(d Dir, remote, local netip.Addr, proto uint8, dport uint16) (allow bool, rule int) {
	for _, e := range pt.Entries {
		if e.Matches(d, remote, local, proto, dport) {
			return e.Allow, e.Rule
		}
	}
	return pt.DefaultAllow, -1
}

// SortCounters sorts counters by tenant, then rule (the default first).
func SortCounters(cs []RuleCounter) {
	slices.SortFunc(cs, func(a, b RuleCounter) int {
		if c := cmp.Compare(a.Tenant, b.Tenant); c != 0 {
			return c
		}
		return cmp.Compare(a.Rule, b.Rule)
	})
}

// String renders the table, one line per port and entry (goldens, logs).
func (t Table) String() string {
	var b strings.Builder
	for _, pt := range t.Ports {
		def := "deny"
		if pt.DefaultAllow {
			def = "allow"
		}
		fmt.Fprintf(&b, "port %s (%s, workload %q, tenant %s) default %s\n", pt.Interface, pt.Network, pt.Workload, pt.Tenant, def)
		for _, e := range pt.Entries {
			local := "any"
			if e.Local.IsValid() {
				local = e.Local.String()
			}
			act := "deny"
			if e.Allow {
				act = "allow"
			}
			fmt.Fprintf(&b, "  %-3s remote %-18s local %-14s %-14s %-5s rule %d\n", e.Dir, e.Remote, local,
				api.PortRange{Proto: e.Proto, Lo: e.Lo, Hi: e.Hi}, act, e.Rule)
		}
	}
	return b.String()
}

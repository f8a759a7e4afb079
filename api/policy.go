package api

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Policy is a tenant's micro-segmentation policy, enforced at the ports of
// the tenant's workloads (see docs/policy.md). Rules are evaluated in order
// for the first packet of a flow; the first rule that matches decides, and
// Default decides when none does. Replies of an admitted flow always pass.
type Policy struct {
	// Default is "allow" (the default) or "deny".
	Default string `yaml:"default,omitempty" json:"default,omitempty"`
	Rules   []Rule `yaml:"rules,omitempty" json:"rules,omitempty"`
}

// Rule admits or refuses the flows from From to To on Ports.
type Rule struct {
	// From and To are selectors: "tenant/network" (the network's subnets
	// and ports), "tenant/network/workload" (an intent workload: its port
	// and addresses), or a CIDR / address ("0.0.0.0/0", "10.9.0.0/16",
	// "2001:db8::/32", "192.0.2.1").
	From string `yaml:"from" json:"from"`
	To   string `yaml:"to" json:"to"`
	// Ports are the flow's destination protocol and ports: "tcp/443",
	// "udp/53", "tcp/8000-8080", "tcp", "udp", "icmp". Empty: any.
	Ports []string `yaml:"ports,omitempty" json:"ports,omitempty"`
	// Action is "allow" or "deny".
	Action string `yaml:"action" json:"action"`
}

// Policy actions.
const (
	ActionAllow = "allow"
	ActionDeny  = "deny"
)

// MaxPolicyRules bounds the rules of one tenant's policy.
const MaxPolicyRules = 65536

// DefaultAction is the policy's default, "allow" when unset.
func (p *Policy) DefaultAction() string {
	if p == nil || p.Default == "" {
		return ActionAllow
	}
	return p.Default
}

// Selector is a parsed rule selector: either Prefix is valid (a CIDR),
// or Tenant and Network (and Workload, for a workload) are set.
type Selector struct {
	Prefix   netip.Prefix
	Tenant   string
	Network  string
	Workload string
}

// IsCIDR reports whether the selector is an address prefix.
func (s Selector) IsCIDR() bool { return s.Prefix.IsValid() }

// NetworkRef is "tenant/network".
func (s Selector) NetworkRef() string { return s.Tenant + "/" + s.Network }

// DockerPrefix marks a selector's workload as a Docker container's name
// (tenant/network/docker:NAME): a run-time workload of evpnhost's Docker
// plugin, which the intent does not list.
const DockerPrefix = "docker:"

var dockerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$`)

// IsDocker reports whether the selector names a Docker container
// (tenant/network/docker:NAME).
func (s Selector) IsDocker() bool { return strings.HasPrefix(s.Workload, DockerPrefix) }

// ParseSelector parses a rule selector (see Rule). It checks the syntax
// only; Validate checks that the names exist.
func ParseSelector(s string) (Selector, error) {
	if s == "" {
		return Selector{}, fmt.Errorf("is required")
	}
	// tenant/network/docker:NAME before the CIDR forms: a container name
	// may hold dots, and no CIDR has three parts.
	if parts := strings.Split(s, "/"); len(parts) == 3 && strings.HasPrefix(parts[2], DockerPrefix) {
		if slicesContainsEmpty(parts[:2]) || !dockerNameRE.MatchString(strings.TrimPrefix(parts[2], DockerPrefix)) {
			return Selector{}, fmt.Errorf("%s: a Docker container is selected as tenant/network/docker:NAME, NAME as Docker allows it ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", quote(s))
		}
		return Selector{Tenant: parts[0], Network: parts[1], Workload: parts[2]}, nil
	}
	if strings.ContainsAny(s, ".:") {
		if a, err := netip.ParseAddr(s); err == nil {
			if a.Zone() != "" || a.Is4In6() {
				return Selector{}, fmt.Errorf("%s is not a plain IP address", quote(s))
			}
			return Selector{Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Selector{}, fmt.Errorf("%s is neither a CIDR (like 10.1.0.0/16) nor tenant/network[/workload]", quote(s))
		}
		if p.Addr().Is4In6() {
			return Selector{}, fmt.Errorf("%s is an IPv4-mapped IPv6 prefix: write it as IPv4", quote(s))
		}
		if p.Masked() != p {
			return Selector{}, fmt.Errorf("%s has host bits set: write %s", quote(s), p.Masked())
		}
		return Selector{Prefix: p}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slicesContainsEmpty(parts) {
		return Selector{}, fmt.Errorf("%s is neither a CIDR (like 10.1.0.0/16) nor tenant/network[/workload]", quote(s))
	}
	sel := Selector{Tenant: parts[0], Network: parts[1]}
	if len(parts) == 3 {
		sel.Workload = parts[2]
	}
	return sel, nil
}

func slicesContainsEmpty(ss []string) bool {
	for _, s := range ss {
		if s == "" {
			return true
		}
	}
	return false
}

// IP protocol numbers used by policies. ProtoICMP stands for ICMP with
// IPv4 and ICMPv6 with IPv6.
const (
	ProtoAny  uint8 = 0
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// PortRange is a parsed rule port: a protocol and a destination port
// range (Lo=0, Hi=65535 for all ports; both 0 for icmp).
type PortRange struct {
	Proto  uint8
	Lo, Hi uint16
}

func (p PortRange) String() string {
	switch {
	case p.Proto == ProtoICMP:
		return "icmp"
	case p.Proto == ProtoAny:
		return "any"
	}
	name := "tcp"
	if p.Proto == ProtoUDP {
		name = "udp"
	}
	switch {
	case p.Lo == 0 && p.Hi == 65535:
		return name
	case p.Lo == p.Hi:
		return fmt.Sprintf("%s/%d", name, p.Lo)
	}
	return fmt.Sprintf("%s/%d-%d", name, p.Lo, p.Hi)
}

// ParsePort parses "tcp/443", "udp/53", "tcp/8000-8080", "tcp", "udp" or
// "icmp".
func ParsePort(s string) (PortRange, error) {
	proto, ports, hasPorts := strings.Cut(s, "/")
	var pr PortRange
	switch proto {
	case "tcp":
		pr.Proto = ProtoTCP
	case "udp":
		pr.Proto = ProtoUDP
	case "icmp":
		if hasPorts {
			return pr, fmt.Errorf("%s: icmp has no ports", quote(s))
		}
		return PortRange{Proto: ProtoICMP}, nil
	default:
		return pr, fmt.Errorf("%s is not a port: use tcp/PORT, udp/PORT, tcp/LOW-HIGH, tcp, udp or icmp", quote(s))
	}
	if !hasPorts {
		pr.Hi = 65535
		return pr, nil
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	l, err := portNumber(lo)
	if err != nil {
		return pr, fmt.Errorf("%s: %v", quote(s), err)
	}
	h := l
	if isRange {
		if h, err = portNumber(hi); err != nil {
			return pr, fmt.Errorf("%s: %v", quote(s), err)
		}
		if h < l {
			return pr, fmt.Errorf("%s: the range %d-%d is empty", quote(s), l, h)
		}
	}
	pr.Lo, pr.Hi = l, h
	return pr, nil
}

func portNumber(s string) (uint16, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s is out of range 1..65535", s)
	}
	return uint16(n), nil
}

// policy validates a tenant's policy; tp is the tenant's path.
func (v *validator) policy(in *Intent, tp string, ti int) {
	t := &in.Tenants[ti]
	p := t.Policy
	if p == nil {
		return
	}
	pp := tp + ".policy"
	switch p.Default {
	case "", ActionAllow, ActionDeny:
	default:
		v.add(pp+".default", "%s is not a policy default: use allow or deny", quote(p.Default))
	}
	if len(p.Rules) > MaxPolicyRules {
		v.add(pp+".rules", "%d rules: a policy holds at most %d", len(p.Rules), MaxPolicyRules)
		return
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		rp := idx(pp+".rules", i)
		v.selector(in, rp+".from", ti, r.From)
		v.selector(in, rp+".to", ti, r.To)
		for k, s := range r.Ports {
			if _, err := ParsePort(s); err != nil {
				v.add(idx(rp+".ports", k), "%v", err)
			}
		}
		switch r.Action {
		case "":
			v.add(rp+".action", "is required")
		case ActionAllow, ActionDeny:
		default:
			v.add(rp+".action", "%s is not an action: use allow or deny", quote(r.Action))
		}
	}
}

// selector checks one rule selector of tenant t's policy.
func (v *validator) selector(in *Intent, path string, ti int, s string) {
	t := &in.Tenants[ti]
	sel, err := ParseSelector(s)
	if err != nil {
		v.add(path, "%v", err)
		return
	}
	if sel.IsCIDR() {
		return
	}
	if sel.Tenant != t.Name {
		v.add(path, "%s is not in tenant %s: a policy selects its own tenant's networks and workloads (use a CIDR for other addresses)", quote(s), quote(t.Name))
		return
	}
	ix := v.index(in)
	if _, ok := ix.network[ti][sel.Network]; !ok {
		if len(t.Networks) == 0 {
			v.add(path, "unknown network %s: tenant %s has no networks", quote(sel.NetworkRef()), quote(t.Name))
		} else {
			v.add(path, "unknown network %s: tenant %s has networks %s", quote(sel.NetworkRef()), quote(t.Name), someNetworks(t.Networks))
		}
		return
	}
	if sel.Workload == "" || sel.IsDocker() || ix.workload[sel.NetworkRef()][sel.Workload] {
		return
	}
	if wls := ix.workloads[sel.NetworkRef()]; len(wls) == 0 {
		v.add(path, "unknown workload %s: network %s has no workloads in the intent", quote(sel.Workload), sel.NetworkRef())
	} else {
		v.add(path, "unknown workload %s: network %s has workloads %s", quote(sel.Workload), sel.NetworkRef(), some(wls))
	}
}

package api

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// Import leaks routes of another tenant of the host into the importing
// tenant (docs/route-leaking.md).
type Import struct {
	// From is the exporting tenant.
	From string `yaml:"from" json:"from"`
	// Prefixes filter what is leaked: routes inside one of them (any
	// longer prefix length) are leaked, nothing else.
	Prefixes []string `yaml:"prefixes" json:"prefixes"`
	// Readvertise also advertises the leaked routes as this tenant's own
	// type-5 routes. Default false: leaked routes stay on this host.
	Readvertise bool `yaml:"readvertise,omitempty" json:"readvertise,omitempty"`
}

// PrefixList is the parsed Prefixes.
func (im Import) PrefixList() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range im.Prefixes {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// HostMulticast is the host's PIM-SM underlay for multicast replication.
type HostMulticast struct {
	// RP is the rendezvous point's address (IPv4).
	RP string `yaml:"rp" json:"rp"`
	// Groups are the group ranges the RP serves; default 224.0.0.0/4.
	Groups []string `yaml:"groups,omitempty" json:"groups,omitempty"`
}

// DefaultMulticastGroups is the group range of an RP without groups.
const DefaultMulticastGroups = "224.0.0.0/4"

// RPAddr is the parsed RP address.
func (m *HostMulticast) RPAddr() netip.Addr {
	if m == nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(m.RP)
	return a
}

// GroupPrefixes are the parsed group ranges, defaulting to 224.0.0.0/4.
func (m *HostMulticast) GroupPrefixes() []netip.Prefix {
	if m == nil {
		return nil
	}
	if len(m.Groups) == 0 {
		return []netip.Prefix{netip.MustParsePrefix(DefaultMulticastGroups)}
	}
	var out []netip.Prefix
	for _, s := range m.Groups {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// Replication is a network's BUM replication: ingress (head-end
// replication to every remote VTEP, learnt from type-3 routes) when
// Multicast is empty, else the VXLAN multicast group Multicast.
//
// In YAML it is either the string "ingress" or {multicast: GROUP}.
type Replication struct {
	Multicast string
}

// ReplicationIngress is the YAML/JSON spelling of ingress replication.
const ReplicationIngress = "ingress"

// Group is the multicast group of a network, invalid for ingress
// replication.
func (n Network) Group() netip.Addr {
	if n.Replication == nil || n.Replication.Multicast == "" {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(n.Replication.Multicast)
	return a
}

// UnmarshalYAML accepts "ingress" or a mapping {multicast: GROUP}.
func (r *Replication) UnmarshalYAML(n *yaml.Node) error {
	bad := fmt.Errorf(`line %d: replication must be "ingress" or {multicast: GROUP}`, n.Line)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != ReplicationIngress {
			return bad
		}
		*r = Replication{}
		return nil
	case yaml.MappingNode:
		*r = Replication{}
		seen := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value != "multicast" {
				return fmt.Errorf("line %d: unknown field %s in replication (known: multicast)", k.Line, quote(k.Value))
			}
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" || v.Value == "" {
				return fmt.Errorf("line %d: replication.multicast must be a group address, like 239.1.1.10", v.Line)
			}
			r.Multicast, seen = v.Value, true
		}
		if !seen {
			return bad
		}
		return nil
	}
	return bad
}

// MarshalYAML writes "ingress" or {multicast: GROUP}.
func (r Replication) MarshalYAML() (any, error) {
	if r.Multicast == "" {
		return ReplicationIngress, nil
	}
	return map[string]string{"multicast": r.Multicast}, nil
}

// MarshalJSON writes "ingress" or {"multicast": GROUP}.
func (r Replication) MarshalJSON() ([]byte, error) {
	v, _ := r.MarshalYAML()
	return json.Marshal(v)
}

// UnmarshalJSON accepts what MarshalJSON writes.
func (r *Replication) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != ReplicationIngress {
			return fmt.Errorf(`replication must be "ingress" or {"multicast": GROUP}`)
		}
		*r = Replication{}
		return nil
	}
	var m struct {
		Multicast string `json:"multicast"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m.Multicast == "" {
		return fmt.Errorf(`replication must be "ingress" or {"multicast": GROUP}`)
	}
	r.Multicast = m.Multicast
	return nil
}

// ---------------------------------------------------------------- validation

// multicastInfo is what network validation needs from host.multicast.
type multicastInfo struct {
	set    bool
	groups []netip.Prefix // valid ranges
}

var (
	mcastAll       = netip.MustParsePrefix("224.0.0.0/4")
	mcastLinkLocal = netip.MustParsePrefix("224.0.0.0/24")
)

// hostMulticast checks host.multicast.
func (v *validator) hostMulticast(m *HostMulticast) {
	v.mcast = multicastInfo{}
	if m == nil {
		return
	}
	v.mcast.set = true
	switch a, err := netip.ParseAddr(m.RP); {
	case m.RP == "":
		v.add("host.multicast.rp", "is required")
	case err != nil || !a.Is4():
		v.add("host.multicast.rp", "%s is not an IPv4 address", quote(m.RP))
	case unusable(a) != "":
		v.add("host.multicast.rp", "%s is %s", a, unusable(a))
	}
	if len(m.Groups) == 0 {
		v.mcast.groups = []netip.Prefix{mcastAll}
	}
	for i, s := range m.Groups {
		p := idx("host.multicast.groups", i)
		g, err := netip.ParsePrefix(s)
		switch {
		case err != nil || !g.Addr().Is4():
			v.add(p, "%s is not an IPv4 prefix, like 239.1.1.0/24", quote(s))
		case g != g.Masked():
			v.add(p, "%s is not a prefix: write %s", s, g.Masked())
		case g.Bits() < 4 || !mcastAll.Contains(g.Addr()):
			v.add(p, "%s is not inside the multicast range 224.0.0.0/4", g)
		default:
			for _, o := range v.mcast.groups {
				if o.Overlaps(g) {
					v.add(p, "%s overlaps %s", g, o)
					g = netip.Prefix{}
					break
				}
			}
			if g.IsValid() {
				v.mcast.groups = append(v.mcast.groups, g)
			}
		}
	}
}

// replication checks a network's replication.
func (v *validator) replication(np string, n *Network) {
	if n.Replication == nil || n.Replication.Multicast == "" {
		return
	}
	p := np + ".replication.multicast"
	s := n.Replication.Multicast
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil || !a.Is4():
		v.add(p, "%s is not an IPv4 address", quote(s))
	case !a.IsMulticast():
		v.add(p, "%s is not a multicast group (224.0.0.0/4)", a)
	case mcastLinkLocal.Contains(a):
		v.add(p, "%s is a link-local group (224.0.0.0/24), which routers do not forward", a)
	case !v.mcast.set:
		v.add(p, "multicast replication needs a PIM-SM underlay: set host.multicast.rp")
	default:
		for _, g := range v.mcast.groups {
			if g.Contains(a) {
				return
			}
		}
		if len(v.mcast.groups) > 0 {
			strs := make([]string, len(v.mcast.groups))
			for i, g := range v.mcast.groups {
				strs[i] = g.String()
			}
			v.add(p, "%s is outside host.multicast.groups (%s): no rendezvous point serves it", a, strings.Join(strs, ", "))
		}
	}
}

// leakPrefix is a prefix some tenant takes routes for, with its path.
type leakPrefix struct {
	prefix netip.Prefix
	path   string
}

// imports checks every tenant's imports, after the tenants themselves.
func (v *validator) imports(in *Intent) {
	byName := map[string]int{}
	var names []string
	for i, t := range in.Tenants {
		if _, dup := byName[t.Name]; !dup && t.Name != "" {
			byName[t.Name] = i
			names = append(names, t.Name)
		}
	}
	subnets := func(ti int) []leakPrefix {
		var out []leakPrefix
		for j, n := range in.Tenants[ti].Networks {
			for _, s := range n.Subnets() {
				out = append(out, leakPrefix{s, idx(idx("tenants", ti)+".networks", j)})
			}
		}
		return out
	}
	// returnOf[exporter] are the subnets of the tenants that import from
	// it: the exporter gets return routes for them, which must not be
	// ambiguous.
	returnOf := map[int][]leakPrefix{}
	for i := range in.Tenants {
		t := &in.Tenants[i]
		tp := idx("tenants", i)
		from := map[string]string{}
		var taken []leakPrefix
		own := subnets(i)
		for j := range t.Imports {
			im := &t.Imports[j]
			ip := idx(tp+".imports", j)
			src := -1
			switch k, ok := byName[im.From]; {
			case im.From == "":
				v.add(ip+".from", "is required")
			case im.From == t.Name:
				v.add(ip+".from", "%s is the importing tenant itself", quote(im.From))
			case !ok:
				v.add(ip+".from", "unknown tenant %s: tenants are %s", quote(im.From), some(names))
			case from[im.From] != "":
				v.add(ip+".from", "%s is already imported by %s", quote(im.From), from[im.From])
			default:
				from[im.From] = ip
				src = k
			}
			if len(im.Prefixes) == 0 {
				v.add(ip+".prefixes", "at least one prefix is required: only routes inside them are leaked")
			}
			for k, s := range im.Prefixes {
				pp := idx(ip+".prefixes", k)
				p, err := netip.ParsePrefix(s)
				if err != nil {
					v.add(pp, "%s is not a prefix in CIDR form, like 10.99.0.0/16", quote(s))
					continue
				}
				if p.Addr().Zone() != "" || p.Addr().Is4In6() {
					v.add(pp, "%s is not a plain prefix", quote(s))
					continue
				}
				if p != p.Masked() {
					v.add(pp, "%s is not a prefix: write %s", s, p.Masked())
					continue
				}
				bad := false
				for _, o := range own {
					if o.prefix.Overlaps(p) {
						v.add(pp, "%s overlaps %s (%s) of the importing tenant: routing would be ambiguous", p, o.path, o.prefix)
						bad = true
						break
					}
				}
				for _, o := range taken {
					if !bad && o.prefix.Overlaps(p) {
						v.add(pp, "%s overlaps %s (%s): routing would be ambiguous", p, o.path, o.prefix)
						bad = true
					}
				}
				if !bad {
					taken = append(taken, leakPrefix{p, pp})
				}
			}
			if src < 0 {
				continue
			}
			// The exporter's own subnets and the importer's must not
			// overlap: return routes would collide with them.
			exp := subnets(src)
			clash := false
			for _, o := range own {
				for _, e := range exp {
					if !clash && o.prefix.Overlaps(e.prefix) {
						v.add(ip+".from", "%s (%s) overlaps %s (%s) of %s: replies from %s would not find their way back",
							o.path, o.prefix, e.path, e.prefix, quote(im.From), quote(im.From))
						clash = true
					}
				}
			}
			if clash || importsBack(in, src, t.Name) {
				continue
			}
			for _, o := range own {
				for _, r := range returnOf[src] {
					if !clash && r.prefix.Overlaps(o.prefix) {
						v.add(ip+".from", "%s (%s) overlaps %s (%s), which also imports from %s: %s's return routes would be ambiguous",
							o.path, o.prefix, r.path, r.prefix, quote(im.From), quote(im.From))
						clash = true
					}
				}
			}
			if !clash {
				returnOf[src] = append(returnOf[src], own...)
			}
		}
	}
}

// importsBack reports whether tenant i imports from name itself.
func importsBack(in *Intent, i int, name string) bool {
	for _, im := range in.Tenants[i].Imports {
		if im.From == name {
			return true
		}
	}
	return false
}

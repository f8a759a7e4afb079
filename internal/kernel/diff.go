package kernel

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Action is what an operation does to its object.
type Action string

// Actions, in the words plan prints.
const (
	ActAdd     Action = "add"
	ActSet     Action = "set"
	ActReplace Action = "replace" // delete and create again: drops traffic and FDB state
	ActDelete  Action = "delete"
	ActUp      Action = "up"
)

// Op is one kernel operation. Exactly one payload field is set.
type Op struct {
	Action Action
	Object string // the object's key, e.g. "link vx10"
	Detail string // what changes, for humans

	Sysctl  *Sysctl
	LoAddr  *netip.Prefix
	Link    *Link       // desired (add, set, replace, up) or observed (delete)
	Old     *Link       // observed, for set and replace
	Changes LinkChanges // set: the attributes that change
	Route   *Route
	Neigh   *Neigh
	FDB     *FDB
	Guards  *[]Guard // the whole desired set of leak guards
}

func (o Op) String() string {
	if o.Detail == "" {
		return fmt.Sprintf("%-7s %s", o.Action, o.Object)
	}
	return fmt.Sprintf("%-7s %s: %s", o.Action, o.Object, o.Detail)
}

// OpError is one operation that failed.
type OpError struct {
	Op  Op
	Err error
}

func (e OpError) Error() string { return fmt.Sprintf("%s %s: %v", e.Op.Action, e.Op.Object, e.Err) }

// Object names what failed, e.g. "link vx10".
func (e OpError) Object() string { return e.Op.Object }

func (e OpError) Unwrap() error { return e.Err }

// ApplyError lists the operations of an apply that failed or were skipped
// because a link they need could not be created.
type ApplyError struct{ Failed []OpError }

func (e *ApplyError) Error() string {
	msgs := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		msgs[i] = f.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap gives the individual failures (errors.Is/As look into them).
func (e *ApplyError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f
	}
	return out
}

// Skip drops from ops those that touch a link whose add or replace failed
// in e (a later phase must not bring up or enslave it either) and returns
// them as skipped failures.
func (e *ApplyError) Skip(ops []Op) (kept []Op, skipped []OpError) {
	for _, op := range ops {
		if dep := e.Blocks(op); dep != "" {
			skipped = append(skipped, OpError{Op: op, Err: fmt.Errorf("skipped: link %s could not be created", dep)})
			continue
		}
		kept = append(kept, op)
	}
	return kept, skipped
}

// Blocks names the link whose add or replace failed in e and that op
// touches or needs, or "" (op may run).
func (e *ApplyError) Blocks(op Op) string {
	if e == nil {
		return ""
	}
	for _, f := range e.Failed {
		l := f.Op.Link
		if l == nil || (f.Op.Action != ActAdd && f.Op.Action != ActReplace) {
			continue
		}
		for _, name := range op.links() {
			if name == l.Name {
				return name
			}
		}
	}
	return ""
}

// links are the names of the links op touches or needs.
func (o Op) links() []string {
	var out []string
	if o.Link != nil && o.Action != ActDelete {
		out = append(out, o.Link.Name, o.Link.Master, o.Link.Parent)
	}
	if o.Route != nil {
		out = append(out, o.Route.Dev)
	}
	if o.Neigh != nil {
		out = append(out, o.Neigh.Dev)
	}
	if o.FDB != nil {
		out = append(out, o.FDB.Dev)
	}
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

// Plan is the ordered list of operations from one state to another. Main
// runs first; Up brings links up and runs after FRR has learnt the VRFs
// and VNIs (FRR 8.4 needs that order, see docs/architecture.md).
type Plan struct {
	Main []Op
	Up   []Op
	// Outage is set when the plan moves the host between the per-VNI
	// VXLAN devices and the single VXLAN device (vxlanDevice): what is
	// replaced and which traffic stops meanwhile, for plan to print.
	Outage string
}

// Len is the number of operations.
func (p Plan) Len() int { return len(p.Main) + len(p.Up) }

// Ops returns all operations in execution order.
func (p Plan) Ops() []Op { return append(slices.Clone(p.Main), p.Up...) }

// Diff computes the operations that take observed to desired. It is pure:
// the same inputs always give the same plan, and equal states give none.
// Objects in observed that desired lacks are deleted; observed must hold
// only owned objects (see the package comment).
func Diff(desired, observed State) Plan {
	var p Plan
	var pre, dels, adds, post []Op

	for _, s := range desired.Sysctls {
		cur, ok := findBy(observed.Sysctls, s.Name, func(x Sysctl) string { return x.Name })
		if !ok || cur.Value != s.Value {
			s := s
			from := "unset"
			if ok {
				from = cur.Value
			}
			pre = append(pre, Op{Action: ActSet, Object: s.Key(), Detail: from + " -> " + s.Value, Sysctl: &s})
		}
	}
	for _, a := range desired.LoAddrs {
		if !slices.Contains(observed.LoAddrs, a) {
			a := a
			pre = append(pre, Op{Action: ActAdd, Object: "addr " + a.String() + " dev lo", LoAddr: &a})
		}
	}

	// Links replaced take their dependents with them: SVIs on a
	// bridge disappear, ports lose their master, neighbors and FDB entries
	// on the device vanish. Model that before comparing the rest.
	// Deleted links get explicit, leaf-first deletes below instead.
	// Lookups go through maps (names, set membership): with thousands of
	// VNIs, linear searches made Diff quadratic. Iteration still follows
	// the slices, so the plan's order is unchanged.
	desLinks := linkIndex(desired.Links)
	gone := map[string]bool{}
	for _, o := range observed.Links {
		if d, ok := desLinks[o.Name]; ok && needsReplace(d, o) {
			gone[o.Name] = true
		}
	}
	obs := observed
	obs.Links = nil
	flushed := maps.Clone(gone) // devices whose neighbor and FDB entries vanish
	for _, o := range observed.Links {
		if gone[o.Parent] {
			flushed[o.Name] = true
			continue
		}
		if gone[o.Master] {
			o.Master = ""
			flushed[o.Name] = true
		}
		obs.Links = append(obs.Links, o)
	}
	obs.Neighs = slices.DeleteFunc(slices.Clone(observed.Neighs), func(n Neigh) bool { return flushed[n.Dev] })
	obs.FDB = slices.DeleteFunc(slices.Clone(observed.FDB), func(f FDB) bool { return flushed[f.Dev] })

	// Removals first, leaves before roots: entries, then SVIs, VXLANs and
	// ports, then VRFs and the bridge.
	desNeighs, desFDB, desRoutes := setOf(desired.Neighs), setOf(desired.FDB), setOf(desired.Routes)
	for _, n := range obs.Neighs {
		if !desNeighs[n] {
			n := n
			dels = append(dels, Op{Action: ActDelete, Object: n.Key(), Neigh: &n})
		}
	}
	for _, f := range obs.FDB {
		if !desFDB[f] {
			f := f
			dels = append(dels, Op{Action: ActDelete, Object: f.Key(), FDB: &f})
		}
	}
	for _, r := range observed.Routes {
		if !desRoutes[r] {
			r := r
			dels = append(dels, Op{Action: ActDelete, Object: r.Key(), Route: &r})
		}
	}
	sw := modeSwitch(desired.Links, obs.Links, desLinks)
	p.Outage = sw.outage()
	for _, kind := range []Kind{KindVLAN, KindVXLAN, KindPort, KindVRF, KindBridge, KindDummy} {
		for _, o := range obs.Links {
			if o.Kind != kind {
				continue
			}
			if _, ok := desLinks[o.Name]; ok {
				continue
			}
			o := o
			if o.Kind == KindPort {
				if o.Master != "" {
					dels = append(dels, Op{Action: ActSet, Object: o.Key(), Detail: "nomaster (detached from " + o.Master + ")", Link: &Link{Name: o.Name, Kind: KindPort}, Old: &o, Changes: LinkChanges{{Attr: AttrMaster, From: o.Master}}})
				}
				continue
			}
			dels = append(dels, Op{Action: ActDelete, Object: o.Key(), Detail: sw.deleted[o.Name], Link: &o})
		}
	}

	obsLinks := linkIndex(obs.Links)
	// Addresses of links created now are added last, once the links are up
	// and FRR has loaded its configuration: zebra 8.4 lost the gateway
	// addresses of SVIs that got them right after moving into their VRF,
	// so it never announced their subnets and preferred other hosts'
	// type-5 routes for them (a routing loop).
	var addrs []Op
	later := func(d Link) Link {
		if len(d.Addrs) == 0 {
			return d
		}
		bare := d
		bare.Addrs = nil
		full := d
		ch := LinkChanges{change(AttrAddrs, full, bare)}
		addrs = append(addrs, Op{Action: ActSet, Object: d.Key(), Detail: ch.String(), Link: &full, Old: &bare, Changes: ch})
		return bare
	}
	for _, d := range desired.Links {
		d := d
		o, ok := obsLinks[d.Name]
		switch {
		case ok && needsReplace(d, o):
			o := o
			bare := later(d)
			adds = append(adds, Op{Action: ActReplace, Object: d.Key(), Detail: replaceReason(d, o), Link: &bare, Old: &o})
		case !ok && d.Kind == KindPort:
			// A foreign interface we only enslave: treat as a port without master.
			o := Link{Name: d.Name, Kind: KindPort}
			if ch := linkChanges(d, o); len(ch) > 0 {
				adds = append(adds, Op{Action: ActSet, Object: d.Key(), Detail: ch.String(), Link: &d, Old: &o, Changes: ch})
			}
		case !ok && sw.created[d.Name] != "":
			// A device of the other vxlanDevice mode took its VNIs:
			// shown as a replace (Apply creates it like an add).
			bare := later(d)
			adds = append(adds, Op{Action: ActReplace, Object: d.Key(), Detail: sw.created[d.Name], Link: &bare})
		case !ok:
			bare := later(d)
			adds = append(adds, Op{Action: ActAdd, Object: d.Key(), Detail: bare.String(), Link: &bare})
		default:
			if ch := linkChanges(d, o); len(ch) > 0 {
				adds = append(adds, Op{Action: ActSet, Object: d.Key(), Detail: ch.String(), Link: &d, Old: &o, Changes: ch})
			}
		}
		if d.Up && (!ok || !o.Up || needsReplace(d, o)) {
			up := Op{Action: ActUp, Object: d.Key(), Link: &d}
			if d.Kind == KindPort {
				// A routed workload's port: up before its routes (the
				// kernel refuses a route through a down device). Ports
				// carry no VNI, so FRR's ordering does not concern them.
				adds = append(adds, up)
			} else {
				p.Up = append(p.Up, up)
			}
		}
	}
	obsRoutes, obsFDB, obsNeighs := setOf(observed.Routes), setOf(obs.FDB), setOf(obs.Neighs)
	for _, r := range desired.Routes {
		if !obsRoutes[r] {
			r := r
			post = append(post, Op{Action: ActAdd, Object: r.Key(), Detail: routeDetail(r), Route: &r})
		}
	}
	for _, f := range desired.FDB {
		if !obsFDB[f] {
			f := f
			post = append(post, Op{Action: ActAdd, Object: f.Key(), Detail: fdbDetail(f), FDB: &f})
		}
	}
	for _, n := range desired.Neighs {
		if !obsNeighs[n] {
			n := n
			post = append(post, Op{Action: ActAdd, Object: n.Key(), Detail: "lladdr " + n.MAC + " nud permanent", Neigh: &n})
		}
	}
	if op := guardsOp(desired.Guards, observed.Guards); op != nil {
		post = append(post, *op)
	}
	// The VTEP address goes last when removed, so tunnels lose it last.
	var loDels []Op
	for _, a := range observed.LoAddrs {
		if !slices.Contains(desired.LoAddrs, a) {
			a := a
			loDels = append(loDels, Op{Action: ActDelete, Object: "addr " + a.String() + " dev lo", LoAddr: &a})
		}
	}
	p.Main = slices.Concat(pre, dels, adds, post, loDels)
	p.Up = append(p.Up, addrs...)
	return p
}

// vxlanSwitch is a move between the two vxlanDevice modes: the devices of
// one mode deleted, those of the other created in their place.
type vxlanSwitch struct {
	from, to string
	old, new []string          // device names, in plan order
	vnis     int               // VNIs carried by the new devices
	deleted  map[string]string // old device -> detail of its delete
	created  map[string]string // new device -> detail of its replace
}

func vxlanMode(l Link) string {
	if l.VNIFilter {
		return "single"
	}
	return "per-vni"
}

// modeSwitch finds the VXLAN devices to delete whose mode differs from
// that of a VXLAN device to create. Without one of each there is no
// switch (adding or removing VNIs in one mode is not one).
func modeSwitch(desired, observed []Link, desLinks map[string]Link) vxlanSwitch {
	sw := vxlanSwitch{deleted: map[string]string{}, created: map[string]string{}}
	obsNames := map[string]bool{}
	for _, o := range observed {
		obsNames[o.Name] = true
	}
	newModes := map[string]bool{}
	for _, d := range desired {
		if d.Kind == KindVXLAN && !obsNames[d.Name] {
			newModes[vxlanMode(d)] = true
		}
	}
	for _, o := range observed {
		if _, kept := desLinks[o.Name]; o.Kind != KindVXLAN || kept {
			continue
		}
		if m := vxlanMode(o); !newModes[m] && len(newModes) == 1 {
			sw.from, sw.old = m, append(sw.old, o.Name)
		}
	}
	if len(sw.old) == 0 {
		return vxlanSwitch{}
	}
	for _, d := range desired {
		if d.Kind != KindVXLAN || obsNames[d.Name] {
			continue
		}
		sw.to, sw.new = vxlanMode(d), append(sw.new, d.Name)
		if d.VNIFilter {
			sw.vnis += len(d.VNIs)
		} else {
			sw.vnis++
		}
	}
	for _, o := range sw.old {
		sw.deleted[o] = fmt.Sprintf("vxlanDevice %s -> %s: replaced by %s", sw.from, sw.to, names(sw.new))
	}
	for _, d := range sw.new {
		sw.created[d] = fmt.Sprintf("vxlanDevice %s -> %s: replaces %s", sw.from, sw.to, names(sw.old))
	}
	return sw
}

// outage is what plan says about the switch, "" without one.
func (sw vxlanSwitch) outage() string {
	if len(sw.old) == 0 {
		return ""
	}
	return fmt.Sprintf("vxlanDevice %s -> %s replaces %s by %s: bridged and routed traffic of all %d VNIs "+
		"stops from the deletion until the new device is up and zebra has learnt its VNIs again "+
		"(remote MACs and routes are learnt again from BGP)", sw.from, sw.to, names(sw.old), names(sw.new), sw.vnis)
}

// names lists devices, at most 4 of them by name.
func names(ns []string) string {
	if len(ns) <= 4 {
		return strings.Join(ns, ", ")
	}
	return fmt.Sprintf("%s and %d more (%d devices)", strings.Join(ns[:3], ", "), len(ns)-3, len(ns))
}

func routeDetail(r Route) string {
	if r.Dev != "" {
		return fmt.Sprintf("dev %s scope link", r.Dev)
	}
	return fmt.Sprintf("unreachable metric %d", r.Metric)
}

func fdbDetail(f FDB) string {
	if f.Self {
		return "self local"
	}
	return "master static"
}

// linkIndex maps names to links; the first link of a name wins, like
// State.Link.
func linkIndex(links []Link) map[string]Link {
	m := make(map[string]Link, len(links))
	for _, l := range links {
		if _, dup := m[l.Name]; !dup {
			m[l.Name] = l
		}
	}
	return m
}

// setOf is xs as a set: membership is ==, as with slices.Contains.
func setOf[T comparable](xs []T) map[T]bool {
	m := make(map[T]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func findBy[T any](xs []T, key string, k func(T) string) (T, bool) {
	for _, x := range xs {
		if k(x) == key {
			return x, true
		}
	}
	var zero T
	return zero, false
}

// needsReplace reports attributes that the kernel cannot change in place.
func needsReplace(d, o Link) bool { return replaceReason(d, o) != "" }

func replaceReason(d, o Link) string {
	var r []string
	if d.Kind != o.Kind {
		r = append(r, fmt.Sprintf("type %s -> %s", o.Kind, d.Kind))
		return strings.Join(r, ", ")
	}
	switch d.Kind {
	case KindVRF:
		if d.Table != o.Table {
			r = append(r, fmt.Sprintf("table %d -> %d", o.Table, d.Table))
		}
	case KindVXLAN:
		if d.VNIFilter != o.VNIFilter {
			r = append(r, fmt.Sprintf("vnifilter %s -> %s", onOff(o.VNIFilter), onOff(d.VNIFilter)))
		}
		if d.VNI != o.VNI {
			r = append(r, fmt.Sprintf("id %d -> %d", o.VNI, d.VNI))
		}
		if d.Local != o.Local {
			r = append(r, fmt.Sprintf("local %s -> %s", o.Local, d.Local))
		}
		if d.Group != o.Group || (d.Group.IsValid() && (d.Dev != o.Dev || d.TTL != o.TTL)) {
			r = append(r, fmt.Sprintf("replication %s -> %s", replication(o), replication(d)))
		}
	case KindVLAN:
		if d.Parent != o.Parent || d.VLANID != o.VLANID {
			r = append(r, fmt.Sprintf("link %s id %d -> link %s id %d", o.Parent, o.VLANID, d.Parent, d.VLANID))
		}
	}
	return strings.Join(r, ", ")
}

// replication describes how a vxlan replicates BUM traffic.
func replication(l Link) string {
	if !l.Group.IsValid() {
		return "ingress"
	}
	return fmt.Sprintf("multicast group %s dev %s ttl %d", l.Group, l.Dev, l.TTL)
}

// LinkAttr is a link attribute the kernel changes in place, named as in
// plan's output.
type LinkAttr string

// The mutable link attributes, in the order Diff lists them.
const (
	AttrMTU           LinkAttr = "mtu"
	AttrAddress       LinkAttr = "address" // the MAC
	AttrMaster        LinkAttr = "master"
	AttrVLANs         LinkAttr = "vlans"
	AttrPVID          LinkAttr = "pvid"
	AttrNeighSuppress LinkAttr = "neigh_suppress"
	AttrLearning      LinkAttr = "learning"
	AttrVLANTunnel    LinkAttr = "vlan_tunnel"
	AttrVNIs          LinkAttr = "vnis"    // VNI filter entries of the single device
	AttrTunnels       LinkAttr = "tunnels" // its VLAN-to-VNI maps
	AttrAddrs         LinkAttr = "addrs"
)

// LinkChange is one attribute of a link that changes in place, with the
// observed (From) and desired (To) values as plan prints them.
type LinkChange struct {
	Attr     LinkAttr
	From, To string
}

func (c LinkChange) String() string {
	switch c.Attr {
	case AttrMaster:
		return fmt.Sprintf("%s %q -> %q", c.Attr, c.From, c.To)
	case AttrVLANs:
		return fmt.Sprintf("%s [%s] -> [%s]", c.Attr, c.From, c.To)
	case AttrNeighSuppress, AttrLearning, AttrVLANTunnel:
		return fmt.Sprintf("%s %s", c.Attr, c.To)
	case AttrVNIs, AttrTunnels:
		return fmt.Sprintf("%s [%s] -> [%s]", c.Attr, c.From, c.To)
	}
	return fmt.Sprintf("%s %s -> %s", c.Attr, c.From, c.To)
}

// LinkChanges are the attributes of one link that change, in order.
type LinkChanges []LinkChange

// String is the changes as an operation's detail: "mtu 1450 -> 1500,
// learning off".
func (cs LinkChanges) String() string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, ", ")
}

// Has reports whether a is among the changes.
func (cs LinkChanges) Has(a LinkAttr) bool {
	return slices.ContainsFunc(cs, func(c LinkChange) bool { return c.Attr == a })
}

// change is attribute a going from o's value to d's.
func change(a LinkAttr, d, o Link) LinkChange {
	c := LinkChange{Attr: a}
	switch a {
	case AttrMTU:
		c.From, c.To = strconv.Itoa(o.MTU), strconv.Itoa(d.MTU)
	case AttrAddress:
		c.From, c.To = o.MAC, d.MAC
	case AttrMaster:
		c.From, c.To = o.Master, d.Master
	case AttrVLANs:
		c.From, c.To = joinVLANs(o.VLANs), joinVLANs(d.VLANs)
	case AttrPVID:
		c.From, c.To = strconv.Itoa(int(o.PVID)), strconv.Itoa(int(d.PVID))
	case AttrNeighSuppress:
		c.From, c.To = onOff(o.NeighSuppress), onOff(d.NeighSuppress)
	case AttrLearning:
		c.From, c.To = onOff(o.Learning), onOff(d.Learning)
	case AttrVLANTunnel:
		c.From, c.To = onOff(o.VLANTunnel), onOff(d.VLANTunnel)
	case AttrVNIs:
		c.From, c.To = joinVNIs(o.VNIs), joinVNIs(d.VNIs)
	case AttrTunnels:
		c.From, c.To = joinTunnels(o.Tunnels), joinTunnels(d.Tunnels)
	case AttrAddrs:
		c.From, c.To = fmt.Sprint(o.Addrs), fmt.Sprint(d.Addrs)
	}
	return c
}

// linkChanges lists the mutable attributes that differ.
func linkChanges(d, o Link) LinkChanges {
	var ch LinkChanges
	add := func(a LinkAttr) { ch = append(ch, change(a, d, o)) }
	if d.MTU != 0 && d.MTU != o.MTU {
		add(AttrMTU)
	}
	if d.MAC != "" && d.MAC != o.MAC {
		add(AttrAddress)
	}
	if d.Master != o.Master {
		add(AttrMaster)
	}
	if !slices.Equal(d.VLANs, o.VLANs) {
		add(AttrVLANs)
	}
	if d.PVID != o.PVID {
		add(AttrPVID)
	}
	if d.Kind == KindVXLAN && d.NeighSuppress != o.NeighSuppress {
		add(AttrNeighSuppress)
	}
	if d.Kind == KindVXLAN && d.Learning != o.Learning {
		add(AttrLearning)
	}
	// The single device's maps need its VLANs (added above) and the
	// vlan_tunnel flag; they follow in that order.
	if d.Kind == KindVXLAN && d.VNIFilter && d.VLANTunnel != o.VLANTunnel {
		add(AttrVLANTunnel)
	}
	if d.Kind == KindVXLAN && d.VNIFilter && !slices.Equal(d.VNIs, o.VNIs) {
		add(AttrVNIs)
	}
	if d.Kind == KindVXLAN && d.VNIFilter && !slices.Equal(d.Tunnels, o.Tunnels) {
		add(AttrTunnels)
	}
	if !slices.Equal(d.Addrs, o.Addrs) {
		add(AttrAddrs)
	}
	return ch
}

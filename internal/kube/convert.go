// Package kube is the Kubernetes source of the fabric intent: the
// evpnhost.io/v1alpha1 custom resources (apis/v1alpha1), converted to and
// from the api package's intent types (this file, pure), and the agent's
// source that watches them with client-go informers and writes each
// node's status back (source.go).
//
// A node's intent is composed exactly as from etcd (internal/fabric): its
// HostUnderlay, every Tenant in name order, each with its Networks in
// name order, and the HostUnderlay's static workloads. Problems are
// reported per object ("Network/red.web: spec.vni: ..."), also those the
// api validation finds in the composed intent.
package kube

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/evpnhost/evpnhost/api"
	v1 "github.com/evpnhost/evpnhost/internal/kube/apis/v1alpha1"
)

// Kinds, as they name objects in errors and AppliedGenerations.
const (
	KindTenant       = "Tenant"
	KindNetwork      = "Network"
	KindHostUnderlay = "HostUnderlay"
)

// Objects are the custom resources one node's intent is made of (a
// snapshot of the informers' caches).
type Objects struct {
	Host     *v1.HostUnderlay
	Tenants  []v1.Tenant
	Networks []v1.Network
}

// ObjectName is "Kind/name", how errors and status name an object.
func ObjectName(kind, name string) string { return kind + "/" + name }

// NetworkObjectName is the Network object's name of tenant/network.
func NetworkObjectName(tenant, network string) string { return tenant + "." + network }

// Composed is a node's intent and where each part came from.
type Composed struct {
	Intent *api.Intent
	// Generations of the objects in the intent, by ObjectName.
	Generations map[string]int64
}

// Compose builds host's intent from objs and validates it. The error is a
// *api.ValidationError whose paths name objects (ObjectName, then the
// field inside the object: "Network/red.web: spec.vni"); the intent is
// nil then. Objects being deleted (deletionTimestamp set) count as gone.
func Compose(host string, objs Objects) (Composed, error) {
	c := Composed{Generations: map[string]int64{}}
	var problems []api.FieldError
	hostObj := ObjectName(KindHostUnderlay, host)
	if objs.Host == nil || objs.Host.DeletionTimestamp != nil {
		return c, &api.ValidationError{Problems: []api.FieldError{{Path: hostObj, Msg: "no such object: node " + quote(host) + " has no HostUnderlay"}}}
	}
	if objs.Host.Name != host {
		return c, &api.ValidationError{Problems: []api.FieldError{{Path: hostObj, Msg: "is named " + quote(objs.Host.Name)}}}
	}
	in := &api.Intent{Host: HostFromSpec(host, objs.Host.Spec)}
	c.Generations[hostObj] = objs.Host.Generation
	for _, w := range objs.Host.Spec.Workloads {
		in.Workloads = append(in.Workloads, api.Workload{Name: w.Name, Network: w.Network, Interface: w.Interface, MAC: w.MAC, IPs: slices.Clone(w.IPs)})
	}
	// paths maps the composed intent's paths back to objects, longest
	// first when rewriting.
	paths := map[string]string{"host": hostObj + ": spec", "workloads": hostObj + ": spec.workloads"}

	tenants := live(objs.Tenants, func(t v1.Tenant) metav1.Object { return &t })
	slices.SortFunc(tenants, func(a, b v1.Tenant) int { return cmp.Compare(a.Name, b.Name) })
	byTenant := map[string][]v1.Network{}
	for _, n := range live(objs.Networks, func(n v1.Network) metav1.Object { return &n }) {
		obj := ObjectName(KindNetwork, n.Name)
		_, name, ok := strings.Cut(n.Name, ".")
		if !ok || !strings.HasPrefix(n.Name, n.Spec.Tenant+".") {
			problems = append(problems, api.FieldError{Path: obj, Msg: fmt.Sprintf("the name must be TENANT.NETWORK with TENANT = spec.tenant (%s)", quote(n.Spec.Tenant))})
			continue
		}
		_ = name
		byTenant[n.Spec.Tenant] = append(byTenant[n.Spec.Tenant], n)
	}
	known := map[string]bool{}
	for i, t := range tenants {
		known[t.Name] = true
		obj := ObjectName(KindTenant, t.Name)
		c.Generations[obj] = t.Generation
		tp := fmt.Sprintf("tenants[%d]", i)
		paths[tp] = obj + ": spec"
		paths[tp+".name"] = obj + ": metadata.name"
		at := TenantFromSpec(t.Name, t.Spec)
		nets := byTenant[t.Name]
		slices.SortFunc(nets, func(a, b v1.Network) int { return cmp.Compare(a.Name, b.Name) })
		for j, n := range nets {
			nobj := ObjectName(KindNetwork, n.Name)
			c.Generations[nobj] = n.Generation
			np := fmt.Sprintf("%s.networks[%d]", tp, j)
			paths[np] = nobj + ": spec"
			paths[np+".name"] = nobj + ": metadata.name"
			_, name, _ := strings.Cut(n.Name, ".")
			at.Networks = append(at.Networks, NetworkFromSpec(name, n.Spec))
		}
		in.Tenants = append(in.Tenants, at)
	}
	for tenant, nets := range byTenant {
		if known[tenant] {
			continue
		}
		for _, n := range nets {
			problems = append(problems, api.FieldError{Path: ObjectName(KindNetwork, n.Name) + ": spec.tenant", Msg: "no Tenant " + quote(tenant)})
		}
	}
	if len(problems) == 0 {
		if err := in.Validate(); err != nil {
			problems = rewrite(err, paths)
		}
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Path < problems[j].Path })
		return c, &api.ValidationError{Problems: problems}
	}
	c.Intent = in
	return c, nil
}

// live drops the objects being deleted.
func live[T any](objs []T, meta func(T) metav1.Object) []T {
	var out []T
	for _, o := range objs {
		if meta(o).GetDeletionTimestamp() == nil {
			out = append(out, o)
		}
	}
	return out
}

// rewrite turns the intent's paths (tenants[1].networks[0].vni) into the
// objects' (Network/red.web: spec.vni), in the paths and in the messages
// (which name the other user of a VNI, VLAN or name).
func rewrite(err error, paths map[string]string) []api.FieldError {
	ve, ok := err.(*api.ValidationError)
	if !ok {
		return []api.FieldError{{Path: "intent", Msg: err.Error()}}
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	// Longest first, so tenants[1].networks[0] wins over tenants[1].
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	conv := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); {
			matched := false
			if i == 0 || !isPathChar(s[i-1]) {
				for _, k := range keys {
					if strings.HasPrefix(s[i:], k) && (i+len(k) == len(s) || !isIndexChar(s[i+len(k)])) {
						rest := s[i+len(k):]
						repl := paths[k]
						if strings.HasPrefix(rest, ".") && strings.HasSuffix(repl, ": metadata.name") {
							repl = strings.TrimSuffix(repl, ".name")
						}
						b.WriteString(repl)
						i += len(k)
						matched = true
						break
					}
				}
			}
			if !matched {
				b.WriteByte(s[i])
				i++
			}
		}
		return b.String()
	}
	out := make([]api.FieldError, 0, len(ve.Problems))
	for _, p := range ve.Problems {
		out = append(out, api.FieldError{Path: conv(p.Path), Msg: conv(p.Msg)})
	}
	return out
}

func isPathChar(c byte) bool {
	return c == '.' || c == ']' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isIndexChar: a path that continues with a letter or digit is another
// path (tenants[1] is not a prefix of tenants[10], host of hosts).
func isIndexChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// HostFromSpec is the api.Host of a HostUnderlay named name.
func HostFromSpec(name string, s v1.HostUnderlaySpec) api.Host {
	h := api.Host{Name: name, ASN: uint32(s.ASN), RouterID: s.RouterID, VTEP: s.VTEP, Uplinks: slices.Clone(s.Uplinks),
		BFD: s.BFD, MTU: int(s.MTU), VXLANDevice: s.VXLANDevice}
	if m := s.Multicast; m != nil {
		h.Multicast = &api.HostMulticast{RP: m.RP, Groups: slices.Clone(m.Groups)}
	}
	return h
}

// TenantFromSpec is the api.Tenant (without networks) of a Tenant named name.
func TenantFromSpec(name string, s v1.TenantSpec) api.Tenant {
	t := api.Tenant{Name: name, L3VNI: uint32(s.L3VNI), VRFTable: uint32(s.VRFTable), VLAN: uint16(s.VLAN), RD: s.RD}
	if rt := s.RouteTargets; rt != nil {
		t.RouteTargets = &api.RouteTargets{Import: slices.Clone(rt.Import), Export: slices.Clone(rt.Export)}
	}
	for _, im := range s.Imports {
		t.Imports = append(t.Imports, api.Import{From: im.From, Prefixes: slices.Clone(im.Prefixes), Readvertise: im.Readvertise})
	}
	if p := s.Policy; p != nil {
		t.Policy = &api.Policy{Default: p.Default}
		for _, r := range p.Rules {
			t.Policy.Rules = append(t.Policy.Rules, api.Rule{From: r.From, To: r.To, Ports: slices.Clone(r.Ports), Action: r.Action})
		}
	}
	return t
}

// NetworkFromSpec is the api.Network called name (the part of the
// object's name after the dot).
func NetworkFromSpec(name string, s v1.NetworkSpec) api.Network {
	n := api.Network{Name: name, VNI: uint32(s.VNI), VLAN: uint16(s.VLAN), Gateways: slices.Clone(s.Gateways),
		AnycastMAC: s.AnycastMAC, MTU: int(s.MTU)}
	if s.ARPSuppression != nil {
		b := *s.ARPSuppression
		n.ARPSuppression = &b
	}
	if r := s.Replication; r != nil {
		n.Replication = &api.Replication{Multicast: r.Group}
	}
	return n
}

// FromIntent converts an intent into the objects that compose it again:
// its HostUnderlay, Tenants and Networks (evpnhost kube export).
func FromIntent(in *api.Intent) Objects {
	h := in.Host
	hs := v1.HostUnderlaySpec{ASN: int64(h.ASN), VTEP: h.VTEP, RouterID: h.RouterID, Uplinks: slices.Clone(h.Uplinks),
		BFD: h.BFD, MTU: int32(h.MTU), VXLANDevice: h.VXLANDevice}
	if m := h.Multicast; m != nil {
		hs.Multicast = &v1.HostMulticast{RP: m.RP, Groups: slices.Clone(m.Groups)}
	}
	for _, w := range in.Workloads {
		hs.Workloads = append(hs.Workloads, v1.Workload{Name: w.Name, Network: w.Network, Interface: w.Interface, MAC: w.MAC, IPs: slices.Clone(w.IPs)})
	}
	objs := Objects{Host: &v1.HostUnderlay{TypeMeta: typeMeta(KindHostUnderlay), ObjectMeta: metav1.ObjectMeta{Name: h.Name}, Spec: hs}}
	for _, t := range in.Tenants {
		ts := v1.TenantSpec{L3VNI: int32(t.L3VNI), VRFTable: int64(t.VRFTable), VLAN: int32(t.VLAN), RD: t.RD}
		if rt := t.RouteTargets; rt != nil {
			ts.RouteTargets = &v1.RouteTargets{Import: slices.Clone(rt.Import), Export: slices.Clone(rt.Export)}
		}
		for _, im := range t.Imports {
			ts.Imports = append(ts.Imports, v1.Import{From: im.From, Prefixes: slices.Clone(im.Prefixes), Readvertise: im.Readvertise})
		}
		if p := t.Policy; p != nil {
			ts.Policy = &v1.Policy{Default: p.Default}
			for _, r := range p.Rules {
				ts.Policy.Rules = append(ts.Policy.Rules, v1.Rule{From: r.From, To: r.To, Ports: slices.Clone(r.Ports), Action: r.Action})
			}
		}
		objs.Tenants = append(objs.Tenants, v1.Tenant{TypeMeta: typeMeta(KindTenant), ObjectMeta: metav1.ObjectMeta{Name: t.Name}, Spec: ts})
		for _, n := range t.Networks {
			ns := v1.NetworkSpec{Tenant: t.Name, VNI: int32(n.VNI), VLAN: int32(n.VLAN), Gateways: slices.Clone(n.Gateways),
				AnycastMAC: n.AnycastMAC, MTU: int32(n.MTU)}
			if n.ARPSuppression != nil {
				b := *n.ARPSuppression
				ns.ARPSuppression = &b
			}
			if r := n.Replication; r != nil {
				ns.Replication = &v1.Replication{Mode: "ingress"}
				if r.Multicast != "" {
					ns.Replication = &v1.Replication{Mode: "multicast", Group: r.Multicast}
				}
			}
			objs.Networks = append(objs.Networks, v1.Network{TypeMeta: typeMeta(KindNetwork), ObjectMeta: metav1.ObjectMeta{Name: NetworkObjectName(t.Name, n.Name)}, Spec: ns})
		}
	}
	return objs
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: kind}
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

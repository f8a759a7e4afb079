package attach

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// Kernel is the part of linux.Netlink the fast path needs.
type Kernel interface {
	Observe(sysctls, ports []string) (kernel.State, error)
	Apply(ops []kernel.Op) (int, error)
}

// Converge is the fast path of one attachment: it computes the kernel
// objects of a (bridged: bridge port on the network's VLAN, static FDB
// entry, permanent neighbors on the SVI; routed: port of the tenant VRF,
// host routes), compares them with the kernel and applies only those
// operations. present=false removes them (the port leaves the bridge or
// VRF, the neighbors and routes go). FRR is not involved: zebra advertises
// the neighbor entries (type-2) and the routes (type-5) on its own, so an
// attachment takes milliseconds, not a reload.
//
// The network infrastructure (bridge, SVIs, VRFs) must exist: it is
// `evpnhost apply`'s job. in is the applied intent (LoadIntent).
func Converge(k Kernel, in *api.Intent, a Attachment, present bool) (kernel.Plan, error) {
	p, err := Pending(k, in, a, present)
	if err != nil {
		return p, err
	}
	if _, err := k.Apply(p.Main); err != nil {
		return p, fmt.Errorf("kernel: %w", err)
	}
	if _, err := k.Apply(p.Up); err != nil {
		return p, fmt.Errorf("kernel: %w", err)
	}
	return p, nil
}

// Pending is what Converge would do, changing nothing: an empty plan means
// the attachment is in place (present) or gone (!present). CNI CHECK uses
// it to report drift.
func Pending(k Kernel, in *api.Intent, a Attachment, present bool) (kernel.Plan, error) {
	var atts []plan.Attachment
	if present {
		atts = []plan.Attachment{a.Plan()}
		if why, ok := plan.Skipped(in, atts)[a.Interface]; ok {
			return kernel.Plan{}, fmt.Errorf("attachment %s: %s", a.ID, why)
		}
	}
	net, err := Resolve(in, a.Network)
	if err != nil {
		return kernel.Plan{}, err
	}
	des := plan.BuildWith(in, atts).Kernel
	obs, err := k.Observe(nil, []string{a.Interface})
	if err != nil {
		return kernel.Plan{}, fmt.Errorf("observe kernel: %w", err)
	}
	if _, ok := obs.Link(a.Interface); !ok && present {
		return kernel.Plan{}, fmt.Errorf("interface %s not found", a.Interface)
	}
	ips := a.Addrs()
	svi := plan.SVIName(net.VLAN)
	sd := scope(des, a.Interface, svi, ips, "")
	mac := ""
	if !present {
		mac = a.MAC // remove only this workload's entries
	}
	so := scope(obs, a.Interface, svi, ips, mac)
	return kernel.Diff(sd, so), nil
}

// scope keeps the objects that belong to one workload: its interface,
// FDB entries and routes on it, and the neighbors of its addresses on its
// network's SVI (with mac set, only those pointing to mac).
func scope(s kernel.State, iface, svi string, ips []netip.Addr, mac string) kernel.State {
	var out kernel.State
	if l, ok := s.Link(iface); ok {
		out.Links = []kernel.Link{l}
	}
	for _, f := range s.FDB {
		if f.Dev == iface {
			out.FDB = append(out.FDB, f)
		}
	}
	for _, r := range s.Routes {
		if r.Dev == iface {
			out.Routes = append(out.Routes, r)
		}
	}
	for _, n := range s.Neighs {
		if n.Dev == svi && slices.Contains(ips, n.IP) && (mac == "" || n.MAC == mac) {
			out.Neighs = append(out.Neighs, n)
		}
	}
	return out
}

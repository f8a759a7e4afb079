package kernel_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// FuzzDiff: for any desired state plan.Build makes of a valid intent (the
// fuzz input parsed as an intent file; invalid ones are skipped):
// Diff(x, x) is empty; Diff(x, empty) is deterministic, and applied to an
// empty kernel model gives a state whose diff against x is empty; removing
// everything again (Diff(empty, model)) leaves no owned object.
func FuzzDiff(f *testing.F) {
	for _, glob := range []string{"../../api/testdata/valid/*.yaml", "../linux/testdata/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := api.Parse(data)
		if err != nil || in.Validate() != nil {
			t.Skip("not a valid intent")
		}
		des := plan.Build(in).Kernel
		if p := kernel.Diff(des, des); p.Len() != 0 {
			t.Fatalf("Diff(x, x) not empty:\n%s", ops(p))
		}
		cold := kernel.Diff(des, kernel.State{})
		if again := kernel.Diff(des, kernel.State{}); ops(again) != ops(cold) {
			t.Fatalf("Diff is not deterministic:\n%s\nthen\n%s", ops(cold), ops(again))
		}
		m := model(t, kernel.State{}, cold.Ops())
		if p := kernel.Diff(des, m); p.Len() != 0 {
			t.Fatalf("applying Diff(x, empty) does not converge; left:\n%s\nafter:\n%s", ops(p), ops(cold))
		}
		gone := model(t, m, kernel.Diff(kernel.State{}, m).Ops())
		if !gone.Empty() {
			t.Fatalf("objects left after removing everything: %+v", gone)
		}
	})
}

// model applies operations to a state the way the kernel would, as far as
// Observe can tell, and returns what Observe would then report: owned
// objects, and ports only while enslaved.
func model(t *testing.T, s kernel.State, ops []kernel.Op) kernel.State {
	t.Helper()
	s = clone(s)
	linkAt := func(name string) int {
		return slices.IndexFunc(s.Links, func(l kernel.Link) bool { return l.Name == name })
	}
	dropEntries := func(dev string) {
		s.Neighs = slices.DeleteFunc(s.Neighs, func(n kernel.Neigh) bool { return n.Dev == dev })
		s.FDB = slices.DeleteFunc(s.FDB, func(f kernel.FDB) bool { return f.Dev == dev })
		s.Routes = slices.DeleteFunc(s.Routes, func(r kernel.Route) bool { return r.Dev == dev && dev != "" })
	}
	for _, op := range ops {
		switch {
		case op.Guards != nil:
			s.Guards = slices.Clone(*op.Guards)
		case op.Sysctl != nil:
			s.Sysctls = slices.DeleteFunc(s.Sysctls, func(x kernel.Sysctl) bool { return x.Name == op.Sysctl.Name })
			s.Sysctls = append(s.Sysctls, *op.Sysctl)
		case op.LoAddr != nil:
			s.LoAddrs = slices.DeleteFunc(s.LoAddrs, func(a netip.Prefix) bool { return a == *op.LoAddr })
			if op.Action == kernel.ActAdd {
				s.LoAddrs = append(s.LoAddrs, *op.LoAddr)
			}
		case op.Route != nil:
			s.Routes = slices.DeleteFunc(s.Routes, func(r kernel.Route) bool { return r == *op.Route })
			if op.Action == kernel.ActAdd {
				s.Routes = append(s.Routes, *op.Route)
			}
		case op.FDB != nil:
			s.FDB = slices.DeleteFunc(s.FDB, func(f kernel.FDB) bool { return f == *op.FDB })
			if op.Action == kernel.ActAdd {
				s.FDB = append(s.FDB, *op.FDB)
			}
		case op.Neigh != nil:
			s.Neighs = slices.DeleteFunc(s.Neighs, func(n kernel.Neigh) bool { return n == *op.Neigh })
			if op.Action == kernel.ActAdd {
				s.Neighs = append(s.Neighs, *op.Neigh)
			}
		case op.Link != nil:
			d := *op.Link
			i := linkAt(d.Name)
			switch op.Action {
			case kernel.ActAdd:
				if i >= 0 {
					t.Fatalf("%s: exists", op)
				}
				d.Up = false // created down
				d.VLANs, d.Addrs = slices.Clone(d.VLANs), slices.Clone(d.Addrs)
				s.Links = append(s.Links, d)
			case kernel.ActUp:
				if i < 0 {
					t.Fatalf("%s: no such link", op)
				}
				s.Links[i].Up = true
			case kernel.ActDelete:
				if i < 0 {
					t.Fatalf("%s: no such link", op)
				}
				s.Links = slices.Delete(s.Links, i, i+1)
				dropEntries(d.Name)
			case kernel.ActSet:
				if i < 0 {
					if d.Kind != kernel.KindPort {
						t.Fatalf("%s: no such link", op)
					}
					s.Links = append(s.Links, kernel.Link{Name: d.Name, Kind: kernel.KindPort})
					i = len(s.Links) - 1
				}
				l := &s.Links[i]
				for _, c := range op.Changes {
					switch c.Attr {
					case kernel.AttrMTU:
						l.MTU = d.MTU
					case kernel.AttrAddress:
						l.MAC = d.MAC
					case kernel.AttrMaster:
						l.Master = d.Master
					case kernel.AttrVLANs:
						l.VLANs = slices.Clone(d.VLANs)
					case kernel.AttrPVID:
						l.PVID = d.PVID
					case kernel.AttrNeighSuppress:
						l.NeighSuppress = d.NeighSuppress
					case kernel.AttrLearning:
						l.Learning = d.Learning
					case kernel.AttrAddrs:
						l.Addrs = slices.Clone(d.Addrs)
					default:
						t.Fatalf("%s: unknown change %q", op, c.Attr)
					}
				}
				if l.Kind == kernel.KindPort && l.Master == "" {
					// A released port is foreign again: Observe no longer sees it.
					dropEntries(l.Name)
					s.Links = slices.Delete(s.Links, i, i+1)
				}
			default:
				t.Fatalf("%s: not expected from an empty or converged state", op)
			}
		default:
			t.Fatalf("empty operation %s", op)
		}
	}
	return s
}

func clone(s kernel.State) kernel.State {
	c := kernel.State{Sysctls: slices.Clone(s.Sysctls), LoAddrs: slices.Clone(s.LoAddrs), Routes: slices.Clone(s.Routes),
		Neighs: slices.Clone(s.Neighs), FDB: slices.Clone(s.FDB), Guards: slices.Clone(s.Guards)}
	for _, l := range s.Links {
		l.VLANs, l.Addrs = slices.Clone(l.VLANs), slices.Clone(l.Addrs)
		c.Links = append(c.Links, l)
	}
	return c
}

func ops(p kernel.Plan) string {
	var b strings.Builder
	for _, o := range p.Ops() {
		b.WriteString(o.String() + "\n")
	}
	return b.String()
}

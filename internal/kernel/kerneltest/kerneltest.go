// Package kerneltest is a fake kernel for tests: it applies kernel.Plan
// operations to an in-memory kernel.State and prints that state as text
// (Dump), so tests compare what a host ends up with, not which calls were
// made. It implements the Observe/Apply interfaces of internal/reconcile
// and internal/attach, and DeleteLink, and fails the operations a test
// chooses (FailOn, FailIf) with the error types kernel.Netlink returns
// (*kernel.ApplyError of kernel.OpError).
//
// It models what evpnhost relies on, not the whole kernel: links need
// their master, parent and device to exist; deleting a link takes its
// VLAN devices, neighbour and FDB entries and routes with it and frees its
// ports; leaving a master flushes a port's FDB entries and routes. Links
// of kind port are foreign (no alias); every other link is owned; lo
// always exists (it is not in the state, its VTEP addresses are).
package kerneltest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// ErrInjected is the cause of the failures FailOn and FailIf inject.
var ErrInjected = errors.New("injected failure")

// DefaultMTU is the MTU of a link created without one.
const DefaultMTU = 1500

// Kernel is the fake. The zero value is an empty kernel; use New to start
// from a state. It is safe for concurrent use.
type Kernel struct {
	mu    sync.Mutex
	st    kernel.State
	fails []func(kernel.Op) bool
	// Applied lists every operation applied successfully, in order;
	// Applies counts Apply calls, Observes Observe calls. Read them while
	// no Apply or Observe runs.
	Applied           []kernel.Op
	Applies, Observes int
}

// New returns a fake kernel holding s (copied).
func New(s kernel.State) *Kernel { return &Kernel{st: clone(s)} }

// FailOn makes every operation on object (its key, e.g. "link vx10" or
// "route table 1000 0.0.0.0/0") fail with ErrInjected.
func (k *Kernel) FailOn(object string) {
	k.FailIf(func(op kernel.Op) bool { return op.Object == object })
}

// FailIf makes the operations for which pred holds fail with ErrInjected.
func (k *Kernel) FailIf(pred func(kernel.Op) bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fails = append(k.fails, pred)
}

// Heal removes every injected failure.
func (k *Kernel) Heal() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fails = nil
}

// State returns a copy of the whole in-memory state (foreign links too).
func (k *Kernel) State() kernel.State {
	k.mu.Lock()
	defer k.mu.Unlock()
	return clone(k.st)
}

// Observe returns what kernel.Netlink.Observe would: the sysctls named in
// sysctls that are set, the owned objects, and the foreign ports that are
// enslaved to the bridge or named in ports.
func (k *Kernel) Observe(sysctls, ports []string) (kernel.State, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.Observes++
	s := clone(k.st)
	s.Sysctls = slices.DeleteFunc(s.Sysctls, func(x kernel.Sysctl) bool { return !slices.Contains(sysctls, x.Name) })
	s.Links = slices.DeleteFunc(s.Links, func(l kernel.Link) bool {
		return l.Kind == kernel.KindPort && l.Master != kernel.BridgeName && !slices.Contains(ports, l.Name)
	})
	if _, ok := k.st.Link(kernel.BridgeName); !ok {
		s.FDB = nil
	}
	return s, nil
}

// Apply runs ops in order like kernel.Netlink.Apply: a failed operation
// does not stop the others, operations that need a link whose add or
// replace failed are skipped, and the error is an *kernel.ApplyError
// listing every failure. The count is of operations applied.
func (k *Kernel) Apply(ops []kernel.Op) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.Applies++
	var ae kernel.ApplyError
	done := 0
	for _, op := range ops {
		if _, skipped := ae.Skip([]kernel.Op{op}); len(skipped) > 0 {
			ae.Failed = append(ae.Failed, skipped...)
			continue
		}
		if err := k.apply(op); err != nil {
			ae.Failed = append(ae.Failed, kernel.OpError{Op: op, Err: err})
			continue
		}
		k.Applied = append(k.Applied, op)
		done++
	}
	if len(ae.Failed) > 0 {
		return done, &ae
	}
	return done, nil
}

// DeleteLink deletes a link, owned or not, like kernel.Netlink.DeleteLink.
func (k *Kernel) DeleteLink(name string) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.st.Link(name); !ok {
		return false, nil
	}
	k.deleteLink(name)
	return true, nil
}

func (k *Kernel) injected(op kernel.Op) bool {
	return slices.ContainsFunc(k.fails, func(f func(kernel.Op) bool) bool { return f(op) })
}

func (k *Kernel) apply(op kernel.Op) error {
	if k.injected(op) {
		return ErrInjected
	}
	switch {
	case op.Guards != nil:
		k.st.Guards = slices.Clone(*op.Guards)
	case op.Sysctl != nil:
		k.setSysctl(*op.Sysctl)
	case op.LoAddr != nil:
		k.st.LoAddrs = slices.DeleteFunc(k.st.LoAddrs, func(p netip.Prefix) bool { return p == *op.LoAddr })
		if op.Action != kernel.ActDelete {
			k.st.LoAddrs = append(k.st.LoAddrs, *op.LoAddr)
		}
	case op.Route != nil:
		return k.applyRoute(op)
	case op.Neigh != nil:
		return k.applyNeigh(op)
	case op.FDB != nil:
		return k.applyFDB(op)
	case op.Link != nil:
		return k.applyLink(op)
	default:
		return fmt.Errorf("empty operation")
	}
	return nil
}

func (k *Kernel) setSysctl(s kernel.Sysctl) {
	i := slices.IndexFunc(k.st.Sysctls, func(x kernel.Sysctl) bool { return x.Name == s.Name })
	if i < 0 {
		k.st.Sysctls = append(k.st.Sysctls, s)
		return
	}
	k.st.Sysctls[i] = s
}

// needLink fails unless the link exists; lo always does.
func (k *Kernel) needLink(name string) error {
	if _, ok := k.st.Link(name); !ok && name != "lo" {
		return fmt.Errorf("link %s: %w", name, syscall.ENODEV)
	}
	return nil
}

func (k *Kernel) applyRoute(op kernel.Op) error {
	r := *op.Route
	k.st.Routes = slices.DeleteFunc(k.st.Routes, func(x kernel.Route) bool { return x == r })
	if op.Action == kernel.ActDelete {
		return nil
	}
	if r.Dev != "" {
		if err := k.needLink(r.Dev); err != nil {
			return err
		}
		if l, _ := k.st.Link(r.Dev); !l.Up {
			return fmt.Errorf("route through %s: %w", r.Dev, syscall.ENETDOWN)
		}
	}
	k.st.Routes = append(k.st.Routes, r)
	return nil
}

func (k *Kernel) applyNeigh(op kernel.Op) error {
	n := *op.Neigh
	if err := k.needLink(n.Dev); err != nil {
		return err
	}
	k.st.Neighs = slices.DeleteFunc(k.st.Neighs, func(x kernel.Neigh) bool { return x.Dev == n.Dev && x.IP == n.IP })
	if op.Action != kernel.ActDelete {
		k.st.Neighs = append(k.st.Neighs, n)
	}
	return nil
}

func (k *Kernel) applyFDB(op kernel.Op) error {
	f := *op.FDB
	if err := k.needLink(f.Dev); err != nil {
		return err
	}
	k.st.FDB = slices.DeleteFunc(k.st.FDB, func(x kernel.FDB) bool { return x.Dev == f.Dev && x.MAC == f.MAC && x.VLAN == f.VLAN })
	if op.Action != kernel.ActDelete {
		k.st.FDB = append(k.st.FDB, f)
	}
	return nil
}

func (k *Kernel) applyLink(op kernel.Op) error {
	d := *op.Link
	switch op.Action {
	case kernel.ActDelete:
		k.deleteLink(d.Name)
		return nil
	case kernel.ActUp:
		i, err := k.index(d.Name)
		if err == nil {
			k.st.Links[i].Up = true
		}
		return err
	case kernel.ActReplace:
		k.deleteLink(d.Name)
		return k.create(d)
	case kernel.ActAdd:
		return k.create(d)
	case kernel.ActSet:
		return k.set(d, op.Changes)
	}
	return fmt.Errorf("unknown action %q", op.Action)
}

func (k *Kernel) index(name string) (int, error) {
	i := slices.IndexFunc(k.st.Links, func(l kernel.Link) bool { return l.Name == name })
	if i < 0 {
		return i, fmt.Errorf("link %s: %w", name, syscall.ENODEV)
	}
	return i, nil
}

// create adds d down, then sets its attributes, like kernel.Netlink.
func (k *Kernel) create(d kernel.Link) error {
	if _, ok := k.st.Link(d.Name); ok {
		return syscall.EEXIST
	}
	switch d.Kind {
	case kernel.KindVLAN:
		if err := k.needLink(d.Parent); err != nil {
			return fmt.Errorf("parent %s: %w", d.Parent, err)
		}
	case kernel.KindVXLAN:
		if d.Group.IsValid() {
			if err := k.needLink(d.Dev); err != nil {
				return fmt.Errorf("vxlan device %s: %w", d.Dev, err)
			}
		}
	case kernel.KindPort:
		return fmt.Errorf("cannot create a %s", d.Kind)
	}
	if d.Master != "" {
		if err := k.needLink(d.Master); err != nil {
			return fmt.Errorf("master: %w", err)
		}
	}
	l := d
	l.Up = false
	if l.MTU == 0 {
		l.MTU = DefaultMTU
	}
	l.VLANs, l.Addrs = slices.Clone(d.VLANs), slices.Clone(d.Addrs)
	slices.Sort(l.VLANs)
	// The single device's settings come with the set calls, as in
	// kernel.Netlink; the kind (vnifilter) is fixed at creation.
	l.VLANTunnel, l.VNIs, l.Tunnels = false, nil, nil
	k.st.Links = append(k.st.Links, l)
	if d.VNIFilter {
		ch := kernel.LinkChanges{{Attr: kernel.AttrVLANTunnel}, {Attr: kernel.AttrVNIs}, {Attr: kernel.AttrTunnels}}
		return k.set(d, ch)
	}
	return nil
}

// set changes the named attributes of a link to d's.
func (k *Kernel) set(d kernel.Link, changes kernel.LinkChanges) error {
	i, err := k.index(d.Name)
	if err != nil {
		return err
	}
	l := &k.st.Links[i]
	for _, c := range changes {
		switch c.Attr {
		case kernel.AttrMTU:
			l.MTU = d.MTU
		case kernel.AttrAddress:
			l.MAC = d.MAC
		case kernel.AttrMaster:
			if d.Master != "" {
				if err := k.needLink(d.Master); err != nil {
					return fmt.Errorf("master: %w", err)
				}
			}
			if l.Master != d.Master {
				k.leave(i)
				l = &k.st.Links[i]
			}
			l.Master = d.Master
		case kernel.AttrVLANs:
			l.VLANs = slices.Sorted(slices.Values(d.VLANs))
			// A VLAN leaving a port takes its tunnel map with it.
			l.Tunnels = slices.DeleteFunc(l.Tunnels, func(t kernel.Tunnel) bool { return !slices.Contains(l.VLANs, t.VLAN) })
		case kernel.AttrVLANTunnel:
			if !l.VNIFilter {
				return fmt.Errorf("vlan_tunnel on %s: not the single VXLAN device: %w", l.Name, syscall.EINVAL)
			}
			l.VLANTunnel = d.VLANTunnel
		case kernel.AttrVNIs:
			if !l.VNIFilter {
				return fmt.Errorf("vni filter on %s: no vnifilter: %w", l.Name, syscall.EOPNOTSUPP)
			}
			l.VNIs = slices.Sorted(slices.Values(d.VNIs))
		case kernel.AttrTunnels:
			for _, t := range d.Tunnels {
				if !l.VLANTunnel || !slices.Contains(l.VLANs, t.VLAN) {
					return fmt.Errorf("tunnel_info vid %d on %s (vlan_tunnel %v, vlans %v): %w", t.VLAN, l.Name, l.VLANTunnel, l.VLANs, syscall.EINVAL)
				}
			}
			l.Tunnels = slices.Clone(d.Tunnels)
		case kernel.AttrPVID:
			l.PVID = d.PVID
		case kernel.AttrLearning:
			l.Learning = d.Learning
		case kernel.AttrNeighSuppress:
			l.NeighSuppress = d.NeighSuppress
		case kernel.AttrAddrs:
			l.Addrs = slices.Clone(d.Addrs)
		default:
			return fmt.Errorf("unknown attribute %q", c.Attr)
		}
	}
	return nil
}

// leave takes link i out of its master: its FDB entries and routes go,
// and a bridge port loses its VLANs.
func (k *Kernel) leave(i int) {
	l := &k.st.Links[i]
	if l.Master == kernel.BridgeName {
		l.PVID, l.VLANs = 0, nil
	}
	l.Master = ""
	k.st.FDB = slices.DeleteFunc(k.st.FDB, func(f kernel.FDB) bool { return f.Dev == l.Name })
	k.st.Routes = slices.DeleteFunc(k.st.Routes, func(r kernel.Route) bool { return r.Dev == l.Name })
}

// deleteLink removes a link and what goes with it: its VLAN devices,
// its entries and routes; its ports lose their master.
func (k *Kernel) deleteLink(name string) {
	if _, ok := k.st.Link(name); !ok {
		return
	}
	gone := map[string]bool{name: true}
	for changed := true; changed; {
		changed = false
		for _, l := range k.st.Links {
			if !gone[l.Name] && gone[l.Parent] {
				gone[l.Name], changed = true, true
			}
		}
	}
	k.st.Links = slices.DeleteFunc(k.st.Links, func(l kernel.Link) bool { return gone[l.Name] })
	for i := range k.st.Links {
		if gone[k.st.Links[i].Master] {
			k.leave(i)
		}
	}
	k.st.Neighs = slices.DeleteFunc(k.st.Neighs, func(n kernel.Neigh) bool { return gone[n.Dev] })
	k.st.FDB = slices.DeleteFunc(k.st.FDB, func(f kernel.FDB) bool { return gone[f.Dev] })
	k.st.Routes = slices.DeleteFunc(k.st.Routes, func(r kernel.Route) bool { return gone[r.Dev] })
}

func clone(s kernel.State) kernel.State {
	c := kernel.State{
		Sysctls: slices.Clone(s.Sysctls), LoAddrs: slices.Clone(s.LoAddrs), Links: slices.Clone(s.Links),
		Routes: slices.Clone(s.Routes), Neighs: slices.Clone(s.Neighs), FDB: slices.Clone(s.FDB), Guards: slices.Clone(s.Guards),
	}
	for i := range c.Links {
		c.Links[i].VLANs, c.Links[i].Addrs = slices.Clone(c.Links[i].VLANs), slices.Clone(c.Links[i].Addrs)
		c.Links[i].VNIs, c.Links[i].Tunnels = slices.Clone(c.Links[i].VNIs), slices.Clone(c.Links[i].Tunnels)
	}
	return c
}

// String is Dump of the whole state.
func (k *Kernel) String() string { return Dump(k.State()) }

// Golden compares got with the file path, or rewrites the file when
// update is set (each test package's -update flag).
func Golden(t testing.TB, path, got string, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// joinVLANs prints VLAN IDs like kernel.Link.String does.
func joinVLANs(v []uint16) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

package kerneltest

import (
	"errors"
	"flag"
	"net/netip"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the goldens")

// twoTenants is the kernel part of api/testdata/valid/two-tenants.yaml,
// with its workload interfaces present (foreign, down).
func twoTenants(t *testing.T) (desired kernel.State, k *Kernel) {
	t.Helper()
	in, err := api.Load("../../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k = New(kernel.State{Links: []kernel.Link{
		{Name: "tap-red-web1", Kind: kernel.KindPort}, {Name: "tap-red-app1", Kind: kernel.KindPort}, {Name: "tap-blue-web1", Kind: kernel.KindPort},
		{Name: "eth0", Kind: kernel.KindPort, MTU: 9100, Up: true},
	}})
	return plan.Build(in).Kernel, k
}

// converge plans against what k observes and applies both phases.
func converge(t *testing.T, k *Kernel, des kernel.State) (kernel.Plan, error) {
	t.Helper()
	obs, err := k.Observe(sysctlNames(des), portNames(des))
	if err != nil {
		t.Fatal(err)
	}
	p := kernel.Diff(des, obs)
	_, err1 := k.Apply(p.Main)
	_, err2 := k.Apply(p.Up)
	return p, errors.Join(err1, err2)
}

func sysctlNames(s kernel.State) (out []string) {
	for _, x := range s.Sysctls {
		out = append(out, x.Name)
	}
	return out
}

func portNames(s kernel.State) (out []string) {
	for _, l := range s.Links {
		if l.Kind == kernel.KindPort {
			out = append(out, l.Name)
		}
	}
	return out
}

// TestConvergeTwoTenants: applying a plan gives the golden host, and the
// host then observes as desired (a second plan is empty): the fake models
// what Diff expects of the kernel.
func TestConvergeTwoTenants(t *testing.T) {
	des, k := twoTenants(t)
	if _, err := converge(t, k, des); err != nil {
		t.Fatal(err)
	}
	Golden(t, "testdata/two-tenants.txt", k.String(), *update)
	obs, _ := k.Observe(sysctlNames(des), portNames(des))
	if p := kernel.Diff(des, obs); p.Len() != 0 {
		t.Fatalf("second plan not empty:\n%v", p.Ops())
	}
	// Tearing down leaves the foreign links, detached (and up: joining
	// the bridge brought them up; leaving it does not take them down).
	if _, err := converge(t, k, kernel.State{Sysctls: des.Sysctls}); err != nil {
		t.Fatal(err)
	}
	obs, _ = k.Observe(nil, nil)
	if !obs.Empty() {
		t.Fatalf("torn down host still holds:\n%s", Dump(obs))
	}
	want := "eth0: state UP mtu 9100\n    port\n" +
		"tap-blue-web1: state UP\n    port\n" +
		"tap-red-app1: state UP\n    port\n" +
		"tap-red-web1: state UP\n    port\n"
	if got := Dump(kernel.State{Links: k.State().Links}); got != want {
		t.Fatalf("after teardown:\n%s\nwant:\n%s", got, want)
	}
}

// TestConvergeLeakMulticast: leak guards, the multicast termination
// device and a VXLAN on a group, then their removal.
func TestConvergeLeakMulticast(t *testing.T) {
	in, err := api.Load("../../../api/testdata/valid/leak-multicast.yaml")
	if err != nil {
		t.Fatal(err)
	}
	des := plan.Build(in).Kernel
	k := New(kernel.State{})
	for _, name := range portNames(des) {
		k.st.Links = append(k.st.Links, kernel.Link{Name: name, Kind: kernel.KindPort, Up: true})
	}
	if _, err := converge(t, k, des); err != nil {
		t.Fatal(err)
	}
	Golden(t, "testdata/leak-multicast.txt", k.String(), *update)
	obs, _ := k.Observe(sysctlNames(des), portNames(des))
	if p := kernel.Diff(des, obs); p.Len() != 0 {
		t.Fatalf("second plan not empty:\n%v", p.Ops())
	}
	if _, err := converge(t, k, kernel.State{}); err != nil {
		t.Fatal(err)
	}
	if obs, _ := k.Observe(nil, nil); !obs.Empty() {
		t.Fatalf("torn down host still holds:\n%s", Dump(obs))
	}
}

// TestFailOn: a chosen object fails with the error types of the real
// adapter, what needs it is skipped, the rest is applied; healed, the next
// apply completes the host.
func TestFailOn(t *testing.T) {
	des, k := twoTenants(t)
	k.FailOn("link vx110")
	_, err := converge(t, k, des)
	var ae *kernel.ApplyError
	if !errors.As(err, &ae) || !errors.Is(err, ErrInjected) {
		t.Fatalf("err = %v, want an ApplyError of ErrInjected", err)
	}
	var objs []string
	for _, f := range ae.Failed {
		objs = append(objs, f.Object())
	}
	if got := strings.Join(objs, ", "); got != "link vx110" {
		t.Fatalf("failed %s", got)
	}
	if !strings.Contains(err.Error(), "add link vx110: injected failure") {
		t.Fatalf("err = %v", err)
	}
	s := k.State()
	if _, ok := s.Link("vx110"); ok {
		t.Fatal("vx110 created")
	}
	if l, _ := s.Link("vx10"); !l.Up || l.Master != kernel.BridgeName {
		t.Fatalf("the other tenant's vx10: %+v", l)
	}
	k.Heal()
	if _, err := converge(t, k, des); err != nil {
		t.Fatal(err)
	}
	Golden(t, "testdata/two-tenants.txt", k.String(), false)
}

// TestSkipsDependents: when a link cannot be created, the operations that
// need it (its port memberships, being brought up) are skipped, named as
// such, and nothing touches it.
func TestSkipsDependents(t *testing.T) {
	des, k := twoTenants(t)
	k.FailIf(func(op kernel.Op) bool { return op.Object == "link blue" && op.Action == kernel.ActAdd })
	_, err := converge(t, k, des)
	if err == nil || !strings.Contains(err.Error(), "add link vlan110: skipped: link blue could not be created") {
		t.Fatalf("err = %v", err)
	}
	s := k.State()
	if l, ok := s.Link("vlan110"); ok {
		t.Fatalf("vlan110 created without its VRF: %+v", l)
	}
}

// TestDeleteTakesDependents: deleting a link takes its VLAN devices,
// entries and routes, and frees its ports; DeleteLink reports whether
// there was a link.
func TestDeleteTakesDependents(t *testing.T) {
	br := kernel.Link{Name: "evpnbr", Kind: kernel.KindBridge, Up: true, VLANs: []uint16{10}}
	k := New(kernel.State{
		Links: []kernel.Link{br, {Name: "vlan10", Kind: kernel.KindVLAN, Parent: "evpnbr", VLANID: 10, Master: "red"},
			{Name: "red", Kind: kernel.KindVRF, Table: 1000}, {Name: "tap1", Kind: kernel.KindPort, Master: "evpnbr", PVID: 10}},
		Neighs: []kernel.Neigh{{Dev: "vlan10", IP: netip.MustParseAddr("10.1.10.5"), MAC: "02:00:00:00:00:05"}},
		FDB:    []kernel.FDB{{Dev: "tap1", MAC: "02:00:00:00:00:05", VLAN: 10}},
		Routes: []kernel.Route{{Table: 1000, Dst: netip.MustParsePrefix("0.0.0.0/0"), Metric: kernel.UnreachableMetric}},
	})
	if _, err := k.Apply([]kernel.Op{{Action: kernel.ActDelete, Object: br.Key(), Link: &br}}); err != nil {
		t.Fatal(err)
	}
	want := `red: state DOWN
    vrf table 1000
    alias evpnhost
tap1: state DOWN
    port
routes:
    table 1000 unreachable 0.0.0.0/0 metric 4278198272 proto 208
`
	if got := k.String(); got != want {
		t.Fatalf("after deleting the bridge:\n%s\nwant:\n%s", got, want)
	}
	if ok, err := k.DeleteLink("tap1"); !ok || err != nil {
		t.Fatalf("DeleteLink(tap1) = %v, %v", ok, err)
	}
	if ok, err := k.DeleteLink("tap1"); ok || err != nil {
		t.Fatalf("second DeleteLink(tap1) = %v, %v", ok, err)
	}
}

// TestObserveLikeNetlink: Observe reports only the asked sysctls, and
// foreign links only when enslaved to the bridge or asked for.
func TestObserveLikeNetlink(t *testing.T) {
	k := New(kernel.State{
		Sysctls: []kernel.Sysctl{{Name: "net/ipv4/ip_forward", Value: "1"}, {Name: "net/ipv6/conf/all/forwarding", Value: "1"}},
		Links: []kernel.Link{{Name: "evpnbr", Kind: kernel.KindBridge}, {Name: "tap1", Kind: kernel.KindPort, Master: "evpnbr"},
			{Name: "tap2", Kind: kernel.KindPort}, {Name: "eth0", Kind: kernel.KindPort}},
	})
	obs, _ := k.Observe([]string{"net/ipv4/ip_forward", "net/ipv4/conf/eth9/rp_filter"}, []string{"tap2"})
	want := `evpnbr: state DOWN
    bridge vlan_filtering 1 vlan_default_pvid 0
    alias evpnhost
tap1: state DOWN master evpnbr
    port
tap2: state DOWN
    port
sysctls:
    net/ipv4/ip_forward = 1
`
	if got := Dump(obs); got != want {
		t.Fatalf("observed:\n%s\nwant:\n%s", got, want)
	}
}

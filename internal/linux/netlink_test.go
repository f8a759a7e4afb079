package linux_test

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// inNetns runs f on a locked OS thread inside a fresh network namespace
// (linux.InNetns, shared with the package's internal tests).
func inNetns(t *testing.T, f func()) { linux.InNetns(t, f) }

// requireOverlayKernel skips when the kernel lacks VRF or 802.1Q, unless
// EVPNHOST_REQUIRE_KERNEL is set (the VM runner sets it: there a skip
// would hide a failure).
func requireOverlayKernel(t *testing.T, h *netlink.Handle) {
	t.Helper()
	err := h.LinkAdd(&netlink.Vrf{LinkAttrs: netlink.LinkAttrs{Name: "probe"}, Table: 99})
	if err == nil {
		l, _ := h.LinkByName("probe")
		_ = h.LinkDel(l)
		on := true
		err = h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probebr"}, VlanFiltering: &on})
		if l, lerr := h.LinkByName("probebr"); lerr == nil {
			_ = h.LinkDel(l)
		}
	}
	if err != nil {
		if os.Getenv("EVPNHOST_REQUIRE_KERNEL") != "" {
			t.Fatalf("kernel lacks VRF or VLAN filtering: %v", err)
		}
		t.Skipf("kernel lacks VRF or VLAN filtering (%v): run through the VM runner", err)
	}
}

func converge(t *testing.T, nl *linux.Netlink, des kernel.State) kernel.Plan {
	t.Helper()
	obs := observe(t, nl, des)
	p := kernel.Diff(des, obs)
	if _, err := nl.Apply(p.Ops()); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return p
}

func observe(t *testing.T, nl *linux.Netlink, des kernel.State) kernel.State {
	t.Helper()
	var keys, ports []string
	for _, s := range des.Sysctls {
		keys = append(keys, s.Name)
	}
	for _, l := range des.Links {
		if l.Kind == kernel.KindPort {
			ports = append(ports, l.Name)
		}
	}
	obs, err := nl.Observe(keys, ports)
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	return obs
}

func ops(p kernel.Plan) string {
	var b strings.Builder
	for _, o := range p.Ops() {
		b.WriteString(o.String() + "\n")
	}
	return b.String()
}

func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// waitCarrier polls until dev reports LOWER_UP (the carrier is on), for up
// to 5 s. sysfs would show the test process's mount namespace, not the
// thread's network namespace, so it asks ip.
func waitCarrier(t *testing.T, dev string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := ipOut(t, "link", "show", dev)
		if strings.Contains(out, "LOWER_UP") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no carrier after 5s:\n%s", dev, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inOverlayNetns runs f in a fresh network namespace (skipping when the
// kernel lacks VRF or 802.1Q) with a Netlink and a handle open in it, the
// uplink and workload veths testdata/overlay.yaml names (up1, wl1), and
// that intent loaded.
func inOverlayNetns(t *testing.T, f func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent)) {
	t.Helper()
	inNetns(t, func() {
		nl, err := linux.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		h, err := netlink.NewHandle()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		requireOverlayKernel(t, h)
		ipOut(t, "link", "add", "up1", "type", "veth", "peer", "name", "p1")
		ipOut(t, "link", "add", "wl1", "type", "veth", "peer", "name", "wl1p")
		in, err := api.Load("testdata/overlay.yaml")
		if err != nil {
			t.Fatal(err)
		}
		f(nl, h, in)
	})
}

// TestPrivilegedUnderlayRoundTrip: the VTEP address and sysctls are set,
// read back equal (a second diff is empty, zero writes), and removed;
// a foreign address on lo survives.
func TestPrivilegedUnderlayRoundTrip(t *testing.T) {
	inNetns(t, func() {
		ipOut(t, "link", "add", "up1", "type", "veth", "peer", "name", "p1")
		ipOut(t, "addr", "add", "192.0.2.1/32", "dev", "lo") // not ours
		in, err := api.Parse([]byte("host: {name: t1, asn: 65101, vtep: 10.0.0.1, uplinks: [up1]}\n"))
		if err != nil {
			t.Fatal(err)
		}
		des := plan.Build(in).Kernel
		nl, err := linux.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		converge(t, nl, des)
		nl.Writes = 0
		if p := kernel.Diff(des, observe(t, nl, des)); p.Len() != 0 || nl.Writes != 0 {
			t.Fatalf("second diff not empty (%d writes):\n%s", nl.Writes, ops(p))
		}
		if out := ipOut(t, "-4", "addr", "show", "dev", "lo"); !strings.Contains(out, "10.0.0.1/32") || !strings.Contains(out, "lo:evpnhost") {
			t.Fatalf("VTEP not on lo:\n%s", out)
		}
		converge(t, nl, kernel.State{})
		out := ipOut(t, "-4", "addr", "show", "dev", "lo")
		if strings.Contains(out, "10.0.0.1") || !strings.Contains(out, "192.0.2.1/32") {
			t.Fatalf("after removal:\n%s", out)
		}
	})
}

// TestPrivilegedOverlayRoundTrip builds two tenants, reads every attribute
// back (second diff empty), changes one attribute in place, then removes
// everything and checks that only foreign objects remain.
func TestPrivilegedOverlayRoundTrip(t *testing.T) {
	inOverlayNetns(t, func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent) {
		ipOut(t, "link", "add", "mine", "type", "bridge") // foreign: must survive
		des := plan.Build(in).Kernel
		p := converge(t, nl, des)
		if p.Len() == 0 {
			t.Fatal("nothing applied")
		}
		nl.Writes = 0
		if p := kernel.Diff(des, observe(t, nl, des)); p.Len() != 0 {
			t.Fatalf("second diff not empty:\n%s", ops(p))
		}
		d := ipOut(t, "-d", "link", "show", "vx10")
		for _, w := range []string{"vxlan id 10", "local 10.0.0.1", "dstport 4789", "nolearning", "master evpnbr", "neigh_suppress on", "learning off"} {
			if !strings.Contains(d, w) {
				t.Errorf("vx10 lacks %q:\n%s", w, d)
			}
		}
		if d := ipOut(t, "-d", "link", "show", "vx20"); !strings.Contains(d, "neigh_suppress off") {
			t.Errorf("vx20 should not suppress:\n%s", d)
		}
		if a := ipOut(t, "addr", "show", "vlan10"); !strings.Contains(a, "10.1.10.1/24") || !strings.Contains(a, "fd00:10::1/64") || !strings.Contains(a, "nodad") {
			t.Errorf("vlan10 addresses:\n%s", a)
		}
		if r := ipOut(t, "route", "show", "table", "4001"); !strings.Contains(r, "unreachable default") || !strings.Contains(r, "metric 4278198272") {
			t.Errorf("table 4001:\n%s", r)
		}
		if n := ipOut(t, "neigh", "show", "dev", "vlan10"); !strings.Contains(n, "10.1.10.11 lladdr 02:00:00:00:00:11 PERMANENT") {
			t.Errorf("neighbors:\n%s", n)
		}
		fdb, _ := exec.Command("bridge", "fdb", "show", "dev", "evpnbr").CombinedOutput()
		if !strings.Contains(string(fdb), "00:00:5e:00:01:01 vlan 10") {
			t.Errorf("gateway fdb:\n%s", fdb)
		}

		// Change in place: MTU of one network.
		des2 := des
		des2.Links = append([]kernel.Link(nil), des.Links...)
		for i := range des2.Links {
			if des2.Links[i].Name == "vx20" {
				des2.Links[i].MTU = 1400
			}
		}
		p = converge(t, nl, des2)
		if got := ops(p); !strings.HasPrefix(got, "set     link vx20: mtu 1450 -> 1400") || strings.Count(got, "\n") != 1 {
			t.Fatalf("in-place change:\n%s", got)
		}

		converge(t, nl, kernel.State{})
		after := observe(t, nl, kernel.State{})
		if !after.Empty() {
			t.Fatalf("objects left: %+v", after)
		}
		for _, foreign := range []string{"mine", "wl1", "up1"} {
			if _, err := h.LinkByName(foreign); err != nil {
				t.Errorf("foreign link %s gone: %v", foreign, err)
			}
		}
	})
}

// TestPrivilegedRoutedAttachmentRoundTrip: a routed attachment (port of
// the tenant VRF, /32 and /128 host routes through it, protocol 208) is
// read back exactly (second diff empty, the unreachable defaults keep no
// device), and removing it removes its routes and releases the port.
func TestPrivilegedRoutedAttachmentRoundTrip(t *testing.T) {
	inOverlayNetns(t, func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent) {
		ipOut(t, "link", "add", "evc1", "type", "veth", "peer", "name", "evc1p")
		att := []plan.Attachment{{Network: "red/web", Interface: "evc1", Routed: true,
			IPs: []netip.Addr{netip.MustParseAddr("10.1.99.5"), netip.MustParseAddr("fd00:99::5")}}}
		des := plan.BuildWith(in, att).Kernel
		converge(t, nl, des)
		if p := kernel.Diff(des, observe(t, nl, des)); p.Len() != 0 {
			t.Fatalf("second diff not empty:\n%s", ops(p))
		}
		if r := ipOut(t, "route", "show", "table", "4001"); !strings.Contains(r, "10.1.99.5 dev evc1 proto 208 scope link") {
			t.Errorf("table 4001:\n%s", r)
		}
		if r := ipOut(t, "-6", "route", "show", "table", "4001"); !strings.Contains(r, "fd00:99::5 dev evc1 proto 208") {
			t.Errorf("table 4001 (IPv6):\n%s", r)
		}
		if l := ipOut(t, "link", "show", "evc1"); !strings.Contains(l, "master red") || !strings.Contains(l, ",UP") {
			t.Errorf("evc1:\n%s", l)
		}
		// Removal as a detach does it: the port is observed by name (a
		// reconcile does not release foreign ports of a VRF it does not
		// know about; DEL deletes the veth anyway).
		base := plan.Build(in).Kernel
		obs, err := nl.Observe(nil, []string{"wl1", "evc1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nl.Apply(kernel.Diff(base, obs).Ops()); err != nil {
			t.Fatal(err)
		}
		if r := ipOut(t, "route", "show", "table", "4001"); strings.Contains(r, "10.1.99.5") {
			t.Errorf("host route left:\n%s", r)
		}
		if l := ipOut(t, "link", "show", "evc1"); strings.Contains(l, "master") {
			t.Errorf("evc1 still enslaved:\n%s", l)
		}
		if p := kernel.Diff(base, observe(t, nl, base)); p.Len() != 0 {
			t.Fatalf("diff after removal not empty:\n%s", ops(p))
		}
	})
}

// TestPrivilegedRefreshNeighbors: a learnt neighbor that went stale on an
// owned SVI is re-probed (DELAY/PROBE); permanent and foreign ones are
// left alone.
func TestPrivilegedRefreshNeighbors(t *testing.T) {
	inOverlayNetns(t, func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent) {
		converge(t, nl, plan.Build(in).Kernel)
		ipOut(t, "neigh", "add", "10.1.10.50", "lladdr", "02:00:00:00:00:50", "dev", "vlan10", "nud", "stale")
		ipOut(t, "link", "add", "other", "type", "veth", "peer", "name", "otherp")
		ipOut(t, "addr", "add", "192.0.2.1/24", "dev", "other")
		// Both ends up, and the carrier seen on: a veth whose peer is down
		// has no carrier, and the kernel flushes a device's neighbors when
		// the (asynchronous, linkwatch) carrier-down event arrives, which
		// would remove the foreign entry behind the test's back.
		ipOut(t, "link", "set", "otherp", "up")
		ipOut(t, "link", "set", "other", "up")
		waitCarrier(t, "other")
		ipOut(t, "neigh", "add", "192.0.2.50", "lladdr", "02:00:00:00:00:51", "dev", "other", "nud", "stale")
		n, err := nl.RefreshNeighbors()
		if err != nil || n != 1 {
			t.Fatalf("refreshed %d, err %v", n, err)
		}
		if out := ipOut(t, "neigh", "show", "10.1.10.50", "dev", "vlan10"); !strings.Contains(out, "DELAY") && !strings.Contains(out, "PROBE") && !strings.Contains(out, "FAILED") && !strings.Contains(out, "INCOMPLETE") {
			t.Fatalf("stale entry not re-probed: %q", out)
		}
		if out := ipOut(t, "neigh", "show", "192.0.2.50", "dev", "other"); !strings.Contains(out, "STALE") {
			t.Fatalf("foreign entry touched: %q", out)
		}
		if out := ipOut(t, "neigh", "show", "10.1.10.11", "dev", "vlan10"); !strings.Contains(out, "PERMANENT") {
			t.Fatalf("permanent entry changed: %q", out)
		}
	})
}

// TestPrivilegedFailureIsolation: a foreign device that carries an owned
// name (vx20, made by someone else) makes its own operations fail, but
// the rest of the intent (the other tenant's network, the bridge, the
// VRFs) is applied, the foreign device is left exactly as it was (no
// master, still down), and the error names the failed object.
func TestPrivilegedFailureIsolation(t *testing.T) {
	inOverlayNetns(t, func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent) {
		ipOut(t, "link", "add", "vx20", "type", "vxlan", "id", "999", "dstport", "4789", "local", "192.0.2.1")
		des := plan.Build(in).Kernel
		p := kernel.Diff(des, observe(t, nl, des))
		_, err := nl.Apply(p.Ops())
		var ae *kernel.ApplyError
		if !errors.As(err, &ae) {
			t.Fatalf("apply: want an ApplyError, got %v", err)
		}
		objects := map[string]bool{}
		for _, f := range ae.Failed {
			objects[f.Object()] = true
			if !strings.Contains(f.Object(), "vx20") {
				t.Errorf("unrelated failure: %v", f)
			}
		}
		if !objects["link vx20"] {
			t.Errorf("failures do not name link vx20: %v", err)
		}
		if d := ipOut(t, "-d", "link", "show", "vx10"); !strings.Contains(d, "master evpnbr") || !strings.Contains(d, "vxlan id 10 ") {
			t.Errorf("vx10 not applied despite vx20's failure:\n%s", d)
		}
		if d := ipOut(t, "-d", "link", "show", "vx20"); strings.Contains(d, "master") || strings.Contains(d, ",UP") || !strings.Contains(d, "vxlan id 999") {
			t.Errorf("foreign vx20 was touched:\n%s", d)
		}
		if a := ipOut(t, "addr", "show", "vlan10"); !strings.Contains(a, "10.1.10.1/24") {
			t.Errorf("vlan10 not applied:\n%s", a)
		}
		// The rest converged: what is left to do concerns vx20 only.
		for _, op := range kernel.Diff(des, observe(t, nl, des)).Ops() {
			if !strings.Contains(op.Object, "vx20") {
				t.Errorf("left undone: %s", op)
			}
		}
	})
}

// TestPrivilegedMulticastTermDevice: a multicast network's group is joined
// on ipmr-lo without the local route the kernel adds with the address (it
// would send multicast routing's copies out of lo too, so the VXLAN socket
// got every BUM frame twice; docs/bum-replication.md). The state reads back
// equal (zero writes); when the kernel adds the route again (the device
// going down and up), the next diff sees it and the apply removes it.
func TestPrivilegedMulticastTermDevice(t *testing.T) {
	inNetns(t, func() {
		h, err := netlink.NewHandle()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		requireOverlayKernel(t, h)
		ipOut(t, "link", "add", "up1", "type", "veth", "peer", "name", "p1")
		in, err := api.Parse([]byte(`
host: {name: t1, asn: 65101, vtep: 10.0.0.1, uplinks: [up1], multicast: {rp: 10.255.0.1, groups: [239.1.1.0/24]}}
tenants:
  - name: shared
    l3vni: 4003
    networks:
      - {name: mcast, vni: 40, vlan: 40, gateways: [10.98.40.1/24], replication: {multicast: 239.1.1.40}}
`))
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Validate(); err != nil {
			t.Fatal(err)
		}
		des := plan.Build(in).Kernel
		nl, err := linux.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		converge(t, nl, des)
		check := func(when string) {
			t.Helper()
			if out := ipOut(t, "route", "show", "table", "local", "dev", "ipmr-lo"); strings.Contains(out, "239.1.1.40") {
				t.Fatalf("%s: local route for the group still there:\n%s", when, out)
			}
			if out := ipOut(t, "maddr", "show", "dev", "ipmr-lo"); !strings.Contains(out, "inet  239.1.1.40") {
				t.Fatalf("%s: group not joined on ipmr-lo:\n%s", when, out)
			}
			nl.Writes = 0
			if p := kernel.Diff(des, observe(t, nl, des)); p.Len() != 0 || nl.Writes != 0 {
				t.Fatalf("%s: second diff not empty (%d writes):\n%s", when, nl.Writes, ops(p))
			}
		}
		check("after apply")
		ipOut(t, "link", "set", "ipmr-lo", "down")
		ipOut(t, "link", "set", "ipmr-lo", "up")
		if out := ipOut(t, "route", "show", "table", "local", "dev", "ipmr-lo"); !strings.Contains(out, "239.1.1.40") {
			t.Logf("the kernel did not add the local route back on link up (nothing to repair):\n%s", out)
		} else if p := kernel.Diff(des, observe(t, nl, des)); !strings.Contains(ops(p), "ipmr-lo") {
			t.Fatalf("the diff does not see the local route that came back:\n%s", ops(p))
		}
		converge(t, nl, des)
		check("after repair")
		converge(t, nl, kernel.State{})
		if out := ipOut(t, "link", "show"); strings.Contains(out, "ipmr-lo") {
			t.Fatalf("ipmr-lo left after removal:\n%s", out)
		}
	})
}

// TestPrivilegedL3Holes: a route of a tenant's table through its L3VNI
// SVI is a hole until the SVI has a neighbor entry with the router MAC and
// the L3VNI's VXLAN device an FDB entry from that MAC to the VTEP, for an
// IPv6 route's IPv4-mapped next hop as for IPv4; BounceLink takes an owned
// SVI down and up and refuses a foreign link.
func TestPrivilegedL3Holes(t *testing.T) {
	inOverlayNetns(t, func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent) {
		converge(t, nl, plan.Build(in).Kernel)
		l3 := plan.L3VNIs(in)
		red := l3[0]
		table := strconv.Itoa(int(red.Table))
		holes := func() string {
			t.Helper()
			hs, err := nl.L3NextHops(l3)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, h := range hs {
				if h.Problem != "" {
					s = append(s, h.String())
				}
			}
			return strings.Join(s, "\n")
		}
		if got := holes(); got != "" {
			t.Fatalf("holes without routes: %s", got)
		}
		ipOut(t, "route", "add", "10.1.20.99/32", "via", "10.0.0.9", "dev", red.SVI, "onlink", "table", table)
		ipOut(t, "-6", "route", "add", "fd00:20::99/128", "via", "::ffff:10.0.0.9", "dev", red.SVI, "onlink", "table", table)
		if got := holes(); !strings.Contains(got, "via 10.0.0.9 on "+red.SVI+": no neighbor entry") ||
			!strings.Contains(got, "via ::ffff:10.0.0.9 on "+red.SVI+": no neighbor entry") {
			t.Fatalf("holes:\n%s", got)
		}
		const rmac = "02:ee:0a:00:00:09"
		ipOut(t, "neigh", "add", "10.0.0.9", "lladdr", rmac, "dev", red.SVI, "nud", "noarp")
		ipOut(t, "-6", "neigh", "add", "::ffff:10.0.0.9", "lladdr", rmac, "dev", red.SVI, "nud", "noarp")
		if got := holes(); strings.Count(got, "has no FDB entry to 10.0.0.9 on "+red.VXLAN) != 2 {
			t.Fatalf("holes with neighbors, without FDB:\n%s", got)
		}
		if out, err := exec.Command("bridge", "fdb", "add", rmac, "dev", red.VXLAN, "dst", "10.0.0.9", "self", "permanent").CombinedOutput(); err != nil {
			t.Fatalf("bridge fdb add: %v %s", err, out)
		}
		if got := holes(); got != "" {
			t.Fatalf("holes with neighbors and FDB:\n%s", got)
		}
		// A route leaked into blue's table through red's SVI needs red's
		// entries: the hole is red's.
		ipOut(t, "route", "add", "10.99.0.99/32", "via", "10.0.0.8", "dev", red.SVI, "onlink", "table", strconv.Itoa(int(l3[1].Table)))
		if got := holes(); got != "red: 1 routes via 10.0.0.8 on "+red.SVI+": no neighbor entry (router MAC lost)" {
			t.Fatalf("hole of a leaked route:\n%s", got)
		}
		ipOut(t, "route", "del", "10.99.0.99/32", "table", strconv.Itoa(int(l3[1].Table)))
		// What zebra lost, installed again by evpnhost; removed again once
		// no route needs it, the FDB entries with the last neighbor that
		// uses the router MAC.
		ipOut(t, "neigh", "del", "10.0.0.9", "dev", red.SVI)
		ipOut(t, "-6", "neigh", "del", "::ffff:10.0.0.9", "dev", red.SVI)
		if out, err := exec.Command("bridge", "fdb", "del", rmac, "dev", red.VXLAN, "dst", "10.0.0.9", "self").CombinedOutput(); err != nil {
			t.Fatalf("bridge fdb del: %v %s", err, out)
		}
		if got := holes(); strings.Count(got, "no neighbor entry") != 2 {
			t.Fatalf("holes after deleting the entries:\n%s", got)
		}
		for _, gw := range []string{"10.0.0.9", "::ffff:10.0.0.9"} {
			if err := nl.InstallL3Entry(kernel.L3Hole{L3VNI: red, Gateway: netip.MustParseAddr(gw), MAC: rmac}); err != nil {
				t.Fatal(err)
			}
		}
		if got := holes(); got != "" {
			t.Fatalf("holes after InstallL3Entry:\n%s", got)
		}
		fdbOut, _ := exec.Command("bridge", "fdb", "show", "dev", red.VXLAN).CombinedOutput()
		if !strings.Contains(string(fdbOut), rmac+" vlan "+strconv.Itoa(int(red.VLAN))+" master evpnbr static") ||
			!strings.Contains(string(fdbOut), rmac+" dst 10.0.0.9 self permanent") {
			t.Errorf("FDB of %s after InstallL3Entry:\n%s", red.VXLAN, fdbOut)
		}
		if removed, err := nl.RemoveL3Entry(kernel.L3Hole{L3VNI: red, Gateway: netip.MustParseAddr("10.0.0.9"), MAC: rmac}); err != nil || !removed {
			t.Fatalf("RemoveL3Entry 10.0.0.9: %v %v", removed, err)
		}
		if fdbOut, _ := exec.Command("bridge", "fdb", "show", "dev", red.VXLAN).CombinedOutput(); !strings.Contains(string(fdbOut), rmac) {
			t.Errorf("FDB entries removed while ::ffff:10.0.0.9 still uses the MAC:\n%s", fdbOut)
		}
		if removed, err := nl.RemoveL3Entry(kernel.L3Hole{L3VNI: red, Gateway: netip.MustParseAddr("::ffff:10.0.0.9"), MAC: rmac}); err != nil || !removed {
			t.Fatalf("RemoveL3Entry ::ffff:10.0.0.9: %v %v", removed, err)
		}
		if fdbOut, _ := exec.Command("bridge", "fdb", "show", "dev", red.VXLAN).CombinedOutput(); strings.Contains(string(fdbOut), rmac) {
			t.Errorf("FDB entries left after the last neighbor went:\n%s", fdbOut)
		}
		if out := ipOut(t, "neigh", "show", "dev", red.SVI); strings.Contains(out, "10.0.0.9") {
			t.Errorf("neighbor left:\n%s", out)
		}
		if err := nl.BounceLink(red.SVI); err != nil {
			t.Fatal(err)
		}
		if l := ipOut(t, "link", "show", red.SVI); !strings.Contains(l, ",UP") {
			t.Errorf("%s not up after the bounce:\n%s", red.SVI, l)
		}
		ipOut(t, "link", "add", "other", "type", "veth", "peer", "name", "otherp")
		if err := nl.BounceLink("other"); err == nil || !strings.Contains(err.Error(), "not owned") {
			t.Errorf("bounce of a foreign link: %v", err)
		}
	})
}

// TestPrivilegedPortComesUp: a workload port the operator left down is
// brought up when it joins the bridge (as ifupdown2's bridge-ports and the
// CNI bridge plugin do), and Observe reports its carrier, which needs the
// veth's peer up too (issue: ports left down passed nothing and nothing
// said why).
func TestPrivilegedPortComesUp(t *testing.T) {
	inOverlayNetns(t, func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent) {
		des := plan.Build(in).Kernel
		converge(t, nl, des)
		if out := ipOut(t, "link", "show", "wl1"); !strings.Contains(out, ",UP") || !strings.Contains(out, "master evpnbr") {
			t.Fatalf("wl1 not up in the bridge:\n%s", out)
		}
		obs := observe(t, nl, des)
		l, ok := obs.Link("wl1")
		if !ok || !l.Up || l.Carrier {
			t.Fatalf("wl1 observed %+v (ok %v): want up, no carrier (its peer is down)", l, ok)
		}
		ipOut(t, "link", "set", "wl1p", "up")
		waitCarrier(t, "wl1")
		obs = observe(t, nl, des)
		if l, _ := obs.Link("wl1"); !l.Carrier {
			t.Fatalf("wl1 observed %+v: want carrier with its peer up", l)
		}
		if p := kernel.Diff(des, observe(t, nl, des)); p.Len() != 0 {
			t.Fatalf("second diff not empty:\n%s", ops(p))
		}
	})
}

// TestPrivilegedForeignLinks: a VRF (and a dummy) someone else made are
// reported with their kind, though Observe leaves them out; evpnhost's own
// VRF and a name that does not exist are not.
func TestPrivilegedForeignLinks(t *testing.T) {
	inNetns(t, func() {
		h, err := netlink.NewHandle()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		requireOverlayKernel(t, h)
		nl, err := linux.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		ipOut(t, "link", "add", "blue", "type", "vrf", "table", "1002") // the operator's
		ipOut(t, "link", "add", "other", "type", "dummy")
		des := kernel.State{Links: []kernel.Link{{Name: "red", Kind: kernel.KindVRF, Table: 1001, Up: true}}}
		converge(t, nl, des)
		if obs := observe(t, nl, des); slices.ContainsFunc(obs.Links, func(l kernel.Link) bool { return l.Name == "blue" }) {
			t.Fatal("Observe reports the foreign VRF blue")
		}
		nl.Writes = 0
		got, err := nl.ForeignLinks([]string{"red", "blue", "other", "gone"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got["blue"] != "vrf" || got["other"] != "dummy" || nl.Writes != 0 {
			t.Fatalf("foreign links %v (%d writes), want blue (vrf) and other (dummy)", got, nl.Writes)
		}
	})
}

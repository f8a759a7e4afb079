package reconcile

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// before reports whether, in events, the first line containing a comes
// before the first containing b (both present).
func before(events, a, b string) bool {
	ia, ib := -1, -1
	for i, l := range strings.Split(events, "\n") {
		if ia < 0 && strings.Contains(l, a) {
			ia = i
		}
		if ib < 0 && strings.Contains(l, b) {
			ib = i
		}
	}
	return ia >= 0 && ib >= 0 && ia < ib
}

// TestRemoveTenantReleasesL3VNI: on FRR 10.3, removing a tenant
// unconfigures its L3VNI (`vrf blue` / `no vni 4002`) before the kernel
// deletes its VXLAN device, which zebra 10.3 does not survive otherwise
// (FRRouting/frr#20494); the empty `vrf blue` stanza goes after the
// kernel VRF (`no vrf blue` last); red is untouched; a second apply
// changes nothing.
func TestRemoveTenantReleasesL3VNI(t *testing.T) {
	h := newSim(taps()...)
	h.version = frr.Version{Major: 10, Minor: 3}
	h.keepEmptyVRF, h.zebraExits = true, true
	r := h.reconciler(t, new(bytes.Buffer))
	ctx := context.Background()
	if _, err := r.Apply(ctx, parse(t, twoTenants)); err != nil {
		t.Fatal(err)
	}
	redOnly, _, _ := strings.Cut(twoTenants, "  - name: blue")
	redOnly += "workloads:\n  - {name: vm1, network: red/web, interface: tap1, mac: \"02:00:00:00:00:01\", ips: [10.1.10.11]}\n"
	h.Events()
	res, err := r.Apply(ctx, parse(t, redOnly))
	if err != nil {
		t.Fatal(err)
	}
	ev := h.Events()
	if h.zebraGone {
		t.Fatalf("zebra exited:\n%s", ev)
	}
	if !before(ev, "frr configure vrf blue; no vni 4002; exit-vrf", "kernel ") ||
		!before(ev, "kernel ", "frr reload") || !before(ev, "frr reload", "frr configure no vrf blue") {
		t.Fatalf("order: want no vni 4002, kernel, reload, no vrf blue:\n%s", ev)
	}
	if strings.Contains(ev, "no vni 4001") || !strings.Contains(h.running, "vrf red\n vni 4001\n") {
		t.Fatalf("red's L3VNI touched:\n%s\n%s", ev, h.running)
	}
	if !slices.Contains(res.FRR.Delete, "vrf blue / vni 4002") || strings.Contains(h.running, "blue") {
		t.Fatalf("delta %q, running:\n%s", res.FRR.Delete, h.running)
	}
	if res, err := r.Apply(ctx, parse(t, redOnly)); err != nil || res.Changed() {
		t.Fatalf("second apply: %v, changed %v (%s)", err, res.Changed(), h.Events())
	}
}

// TestModeSwitchReleasesL3VNI: moving between vxlanDevice modes on FRR
// 10.3 replaces the device of L3VNI 4001: the VNI is unconfigured first,
// configured again by the reload after the kernel step (zebra then finds
// it on the new device), both ways; a second apply changes nothing.
func TestModeSwitchReleasesL3VNI(t *testing.T) {
	h := newSim()
	h.version = frr.Version{Major: 10, Minor: 3}
	h.zebraExits = true
	r := h.reconciler(t, new(bytes.Buffer))
	r.Facts = factsOf("10.3", 10)
	ctx := context.Background()
	in := parse(t, intent)
	for i, mode := range []string{api.VXLANPerVNI, api.VXLANSingle, api.VXLANPerVNI} {
		in.Host.VXLANDevice = mode
		res, err := r.Apply(ctx, in)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		ev := h.Events()
		if h.zebraGone {
			t.Fatalf("%s: zebra exited:\n%s", mode, ev)
		}
		if res.VXLANDevice.Mode != mode || !strings.Contains(h.running, "vrf red\n vni 4001\n") {
			t.Fatalf("%s: mode %s, running:\n%s", mode, res.VXLANDevice, h.running)
		}
		if i > 0 {
			if !before(ev, "frr configure vrf red; no vni 4001; exit-vrf", "kernel ") || !before(ev, "kernel ", "frr reload") {
				t.Fatalf("%s: order: want no vni 4001, kernel, reload:\n%s", mode, ev)
			}
		}
		if res, err := r.Apply(ctx, in); err != nil || res.Changed() {
			t.Fatalf("%s: second apply: %v, changed %v (%s)", mode, err, res.Changed(), h.Events())
		}
	}
}

// TestFRR84KeepsOrder: FRR 8.4 survives the device going first and was
// tested that way: removing a tenant there runs no `no vni`.
func TestFRR84KeepsOrder(t *testing.T) {
	h := newSim(taps()...)
	r := h.reconciler(t, new(bytes.Buffer))
	ctx := context.Background()
	if _, err := r.Apply(ctx, parse(t, twoTenants)); err != nil {
		t.Fatal(err)
	}
	redOnly, _, _ := strings.Cut(twoTenants, "  - name: blue")
	h.Events()
	if _, err := r.Apply(ctx, parse(t, redOnly)); err != nil {
		t.Fatal(err)
	}
	if ev := h.Events(); strings.Contains(ev, "no vni") {
		t.Fatalf("FRR 8.4 got a `no vni`:\n%s", ev)
	}
}

// TestLeavingVNIs: the VNIs whose device goes (deleted, replaced, or
// dropped from the single device's filter); other ops carry none.
func TestLeavingVNIs(t *testing.T) {
	single := kernel.Link{Name: "evpnvx", Kind: kernel.KindVXLAN, VNIFilter: true, VNIs: []uint32{10, 20, 4001, 4002}}
	fewer := single
	fewer.VNIs = []uint32{10, 4001}
	ops := []kernel.Op{
		{Action: kernel.ActDelete, Link: &kernel.Link{Name: "vx4002", Kind: kernel.KindVXLAN, VNI: 4002}},
		{Action: kernel.ActDelete, Link: &kernel.Link{Name: "br4002", Kind: kernel.KindBridge}},
		{Action: kernel.ActReplace, Link: &single, Old: &kernel.Link{Name: "vx4001", Kind: kernel.KindVXLAN, VNI: 4001}},
		{Action: kernel.ActSet, Link: &fewer, Old: &single},
		{Action: kernel.ActAdd, Link: &kernel.Link{Name: "vx30", Kind: kernel.KindVXLAN, VNI: 30}},
		{Action: kernel.ActDelete, Link: &single},
	}
	got := leavingVNIs(ops)
	if want := []uint32{4002, 4001, 20, 4002, 10, 20, 4001, 4002}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	running := "vrf red\n vni 4001\nexit-vrf\n!\nvrf blue\n vni 4002 prefix-routes-only\nexit-vrf\n!\nvrf green\nexit-vrf\n"
	if got := configuredL3VNIs(running); !slices.Equal(got, []l3vni{{"red", 4001}, {"blue", 4002}}) {
		t.Fatalf("configured %v", got)
	}
}

// TestWarnPIMVRFDelete: removing a tenant deletes its VRF; on an FRR whose
// pimd crashes after that (FRRouting/frr#18672) and with pimd in use, the
// apply says so, naming the VRF; not on a fixed FRR, not without pimd.
func TestWarnPIMVRFDelete(t *testing.T) {
	mcast := strings.Replace(twoTenants, "uplinks: [up1, up2]}", "uplinks: [up1, up2], multicast: {rp: 10.255.0.1}}", 1)
	mcast = strings.Replace(mcast, "vlan: 10, gateways: [10.1.10.1/24]}", "vlan: 10, gateways: [10.1.10.1/24], replication: {multicast: 239.1.1.10}}", 1)
	if mcast == twoTenants || !strings.Contains(mcast, "239.1.1.10") {
		t.Fatal("could not add multicast replication to the intent")
	}
	for _, c := range []struct {
		intent  string
		version frr.Version
		want    bool
	}{
		{mcast, frr.Version{Major: 10, Minor: 3}, true},
		{mcast, frr.Version{Major: 10, Minor: 3, Patch: 1}, false},
		{mcast, frr.V84, false},
		{twoTenants, frr.Version{Major: 10, Minor: 3}, false},
	} {
		h := newSim(taps()...)
		h.version = c.version
		log := new(bytes.Buffer)
		r := h.reconciler(t, log)
		ctx := context.Background()
		if _, err := r.Apply(ctx, parse(t, c.intent)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(log.String(), "op=frr-defect") {
			t.Fatalf("FRR %s: warning without a VRF deleted:\n%s", c.version, log)
		}
		withoutBlue, _, _ := strings.Cut(c.intent, "  - name: blue")
		withoutBlue += "workloads:\n  - {name: vm1, network: red/web, interface: tap1, mac: \"02:00:00:00:00:01\", ips: [10.1.10.11]}\n"
		if _, err := r.Apply(ctx, parse(t, withoutBlue)); err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(log.String(), "op=frr-defect vrfs=[blue]")
		if got != c.want {
			t.Errorf("FRR %s, multicast %v: warned %v, want %v:\n%s", c.version, c.intent == mcast, got, c.want, log)
		}
	}
}

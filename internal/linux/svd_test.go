package linux_test

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// singleIntent is testdata/overlay.yaml on the single VXLAN device
// (which carries no network without ARP suppression).
func singleIntent(t *testing.T, in *api.Intent, mode string) *api.Intent {
	t.Helper()
	in.Host.VXLANDevice = mode
	for i := range in.Tenants {
		for j := range in.Tenants[i].Networks {
			in.Tenants[i].Networks[j].ARPSuppression = nil
		}
	}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	return in
}

func out(t *testing.T, name string, args ...string) string {
	t.Helper()
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, b)
	}
	return string(b)
}

func wantAll(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// fields is s with its words separated by single spaces, and one before
// and after.
func fields(s string) string { return " " + strings.Join(strings.Fields(s), " ") + " " }

// singleLink is the desired single VXLAN device of des.
func singleLink(t *testing.T, des kernel.State) kernel.Link {
	t.Helper()
	l, ok := des.Link(plan.SingleVXLAN)
	if !ok || !l.VNIFilter {
		t.Fatalf("no single VXLAN device in %v", des.Links)
	}
	return l
}

// TestPrivilegedSingleVXLANRoundTrip: the single VXLAN device (external
// vnifilter, vlan_tunnel, VNI filter entries, VLAN-to-VNI maps, the
// router MAC) is created, read back attribute by attribute (by Observe
// and by iproute2), applied again with zero writes, changed in place (a
// VNI removed, one added, one VLAN's VNI changed), and deleted.
func TestPrivilegedSingleVXLANRoundTrip(t *testing.T) {
	inOverlayNetns(t, func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent) {
		in = singleIntent(t, in, api.VXLANSingle)
		des := plan.Build(in).Kernel
		if p := converge(t, nl, des); p.Len() == 0 {
			t.Fatal("nothing applied")
		}
		want := singleLink(t, des)
		obs := observe(t, nl, des)
		got, ok := obs.Link(plan.SingleVXLAN)
		if !ok {
			t.Fatalf("observe: no %s", plan.SingleVXLAN)
		}
		got.Carrier = false
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Errorf("read back:\n got %+v\nwant %+v", got, want)
		}
		if slices.ContainsFunc(obs.Links, func(l kernel.Link) bool { return l.Kind == kernel.KindVXLAN && !l.VNIFilter }) {
			t.Errorf("per-VNI devices in single mode: %v", obs.Links)
		}
		nl.Writes = 0
		if p := kernel.Diff(des, observe(t, nl, des)); p.Len() != 0 || nl.Writes != 0 {
			t.Fatalf("second apply: %d writes, plan:\n%s", nl.Writes, ops(p))
		}

		mac := plan.RouterMAC(in.Host.VTEPAddr())
		wantAll(t, "ip -d link show evpnvx", out(t, "ip", "-d", "link", "show", "evpnvx"),
			"vxlan ", " external ", "vnifilter", // iproute2 6.1 prints "vxlan external id 0", 6.15 "vxlan id 0 ... external"
			"local 10.0.0.1", "dstport 4789", "nolearning", "master evpnbr",
			"link/ether "+mac, "vlan_tunnel on", "neigh_suppress on", "learning off", "mtu 1450")
		vnis := fields(out(t, "bridge", "vni", "show", "dev", "evpnvx"))
		wantAll(t, "bridge vni show", vnis, " 10 ", " 20 ", " 30 ", " 4001-4002 ")
		// iproute2 prints runs as ranges: 3000-3001 4001-4002.
		tun := fields(out(t, "bridge", "vlan", "tunnelshow", "dev", "evpnvx"))
		wantAll(t, "bridge vlan tunnelshow", tun, " 10 10 ", " 20 20 ", " 30 30 ", " 3000-3001 4001-4002 ")
		vl := fields(out(t, "bridge", "vlan", "show", "dev", "evpnvx"))
		wantAll(t, "bridge vlan show dev evpnvx", vl, " 10 ", " 20 ", " 30 ", " 3000 ", " 3001 ")
		if strings.Contains(vl, "PVID") {
			t.Errorf("the single device has no PVID:\n%s", vl)
		}
		wantAll(t, "ip link show vlan3000", out(t, "ip", "-d", "link", "show", "vlan3000"), "link/ether "+mac, "master red")
		wantAll(t, "ip -d link show evpnbr", out(t, "ip", "-d", "link", "show", "evpnbr"), "vlan_filtering 1", "vlan_default_pvid 0", "link/ether "+mac)

		// In place: VNI 30 (VLAN 30) leaves, VNI 40 on VLAN 40 comes,
		// and VLAN 20 now carries VNI 21.
		in.Tenants[1].Networks[0] = api.Network{Name: "db", VNI: 40, VLAN: 40, Gateways: []string{"10.1.40.1/24"}}
		in.Tenants[0].Networks[1].VNI = 21
		des2 := plan.Build(in).Kernel
		p := converge(t, nl, des2)
		var single []string
		for _, op := range p.Ops() {
			if op.Object == "link evpnvx" {
				single = append(single, op.String())
			}
		}
		if len(single) != 1 || !strings.HasPrefix(single[0], "set     link evpnvx: vlans [10,20,30,3000,3001] -> [10,20,40,3000,3001], vnis [10,20,30,4001-4002] -> [10,21,40,4001-4002], tunnels") {
			t.Errorf("in-place change of evpnvx:\n%s", ops(p))
		}
		nl.Writes = 0
		if p := kernel.Diff(des2, observe(t, nl, des2)); p.Len() != 0 || nl.Writes != 0 {
			t.Fatalf("after the change: %d writes, plan:\n%s", nl.Writes, ops(p))
		}
		tun = fields(out(t, "bridge", "vlan", "tunnelshow", "dev", "evpnvx"))
		wantAll(t, "tunnelshow after the change", tun, " 20 21 ", " 40 40 ")
		if strings.Contains(tun, " 30 30 ") {
			t.Errorf("VLAN 30's map survived:\n%s", tun)
		}

		converge(t, nl, kernel.State{})
		if after := observe(t, nl, kernel.State{}); !after.Empty() {
			t.Fatalf("objects left: %+v", after)
		}
		if _, err := h.LinkByName("evpnvx"); err == nil {
			t.Fatal("evpnvx still exists")
		}
	})
}

// TestPrivilegedSingleVXLANModeSwitch: per-vni -> single -> per-vni on a
// real kernel, each a planned replace (the plan states the outage) after
// which a second apply is zero writes.
func TestPrivilegedSingleVXLANModeSwitch(t *testing.T) {
	inOverlayNetns(t, func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent) {
		per := plan.Build(singleIntent(t, in, api.VXLANPerVNI)).Kernel
		single := plan.Build(singleIntent(t, in, api.VXLANSingle)).Kernel
		converge(t, nl, per)
		for _, step := range []struct {
			name string
			des  kernel.State
			want string
		}{
			{"per-vni -> single", single, "vxlanDevice per-vni -> single replaces vx4001, vx10, vx20 and 2 more (5 devices) by evpnvx"},
			{"single -> per-vni", per, "vxlanDevice single -> per-vni replaces evpnvx by vx4001, vx10, vx20 and 2 more (5 devices)"},
		} {
			p := converge(t, nl, step.des)
			if !strings.HasPrefix(p.Outage, step.want) {
				t.Errorf("%s: outage %q, want %q...\n%s", step.name, p.Outage, step.want, ops(p))
			}
			nl.Writes = 0
			if p := kernel.Diff(step.des, observe(t, nl, step.des)); p.Len() != 0 || nl.Writes != 0 {
				t.Fatalf("%s: second apply %d writes:\n%s", step.name, nl.Writes, ops(p))
			}
		}
		converge(t, nl, kernel.State{})
	})
}

// TestPrivilegedSingleVXLANScale: 4000 L2VNIs and 10 tenants on one
// device (beyond the 1023 ports of per-VNI devices): cold apply, zero
// writes on the second apply; it logs the times and writes.
func TestPrivilegedSingleVXLANScale(t *testing.T) {
	inOverlayNetns(t, func(nl *linux.Netlink, h *netlink.Handle, in *api.Intent) {
		in.Workloads = nil
		in.Tenants = nil
		for i := range 10 {
			in.Tenants = append(in.Tenants, api.Tenant{Name: fmt.Sprintf("t%d", i), L3VNI: uint32(100000 + i), VLAN: uint16(4001 + i), VRFTable: uint32(1001 + i)})
		}
		for i := 1; i <= 4000; i++ {
			tn := &in.Tenants[i%10]
			// Every other VNI skips one, so neither VNIs nor maps form long
			// ranges: the worst case for messages.
			tn.Networks = append(tn.Networks, api.Network{Name: fmt.Sprintf("n%d", i), VNI: uint32(10000 + 2*i), VLAN: uint16(i),
				Gateways: []string{fmt.Sprintf("10.%d.%d.1/24", i/256, i%256)}})
		}
		in = singleIntent(t, in, api.VXLANSingle)
		des := plan.Build(in).Kernel
		start := time.Now()
		p := converge(t, nl, des)
		cold, coldWrites := time.Since(start), nl.Writes
		nl.Writes = 0
		start = time.Now()
		obs := observe(t, nl, des)
		p2 := kernel.Diff(des, obs)
		noop := time.Since(start)
		if p2.Len() != 0 || nl.Writes != 0 {
			t.Fatalf("second apply: %d writes:\n%.2000s", nl.Writes, ops(p2))
		}
		got, _ := obs.Link(plan.SingleVXLAN)
		if len(got.VNIs) != 4010 || len(got.Tunnels) != 4010 || len(got.VLANs) != 4010 {
			t.Fatalf("read back %d VNIs, %d maps, %d VLANs; want 4010 each", len(got.VNIs), len(got.Tunnels), len(got.VLANs))
		}
		t.Logf("4000 L2VNIs + 10 tenants, single VXLAN device: %d ops, cold apply %v with %d netlink writes; no-op observe+diff %v, 0 writes",
			p.Len(), cold.Round(time.Millisecond), coldWrites, noop.Round(time.Millisecond))
		converge(t, nl, kernel.State{})
	})
}

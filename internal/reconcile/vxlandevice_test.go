package reconcile

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

func factsOf(version string, major int) func(context.Context) api.Facts {
	return func(context.Context) api.Facts {
		return api.Facts{FRRVersion: version, FRRMajor: major, VNIFilter: true, VNIFilterWhy: "the kernel answers RTM_GETTUNNEL"}
	}
}

// TestSingleRefusedOnFRR84: host.vxlanDevice single with FRR 8.4 is
// refused in one line naming the version, before anything changes.
func TestSingleRefusedOnFRR84(t *testing.T) {
	in := parse(t, strings.Replace(intent, "uplinks: [up1, up2]}", "uplinks: [up1, up2], vxlanDevice: single}", 1))
	h := newSim()
	r := h.reconciler(t, &bytes.Buffer{})
	r.Facts = factsOf("8.4.4", 8)
	_, err := r.Apply(context.Background(), in)
	want := "host.vxlanDevice: single needs FRR >= 9 (single VXLAN device support); this host runs FRR 8.4.4"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if ev := h.Events(); ev != "" {
		t.Fatalf("changed something:\n%s", ev)
	}
}

// TestVXLANDeviceDefault: unset, the mode follows the facts (single on
// FRR 10 with vnifilter, per-vni on FRR 8.4), plan says which and why,
// and a host already on per-VNI devices stays there when FRR is
// upgraded until the intent asks for single, which is a planned replace.
func TestVXLANDeviceDefault(t *testing.T) {
	ctx := context.Background()
	in := parse(t, intent)

	h := newSim()
	r := h.reconciler(t, &bytes.Buffer{})
	r.Facts = factsOf("10.3", 10)
	res, err := r.Plan(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.VXLANDevice.String(); got != "single (default: FRR 10.3 >= 9 and the kernel has vnifilter)" {
		t.Errorf("FRR 10: %s", got)
	}
	if !hasOp(res.Kernel, "add     link evpnvx") {
		t.Errorf("FRR 10 plan has no single device:\n%v", res.Kernel.Ops())
	}

	r.Facts = factsOf("8.4.4", 8)
	if _, err := r.Apply(ctx, in); err != nil {
		t.Fatal(err)
	}
	obs, _ := h.k.Observe(nil, nil)
	if _, ok := obs.Link(plan.VXLANName(10)); !ok {
		t.Fatalf("FRR 8.4: no per-VNI device vx10:\n%v", obs.Links)
	}

	// FRR upgraded: the host keeps its per-VNI devices.
	r.Facts = factsOf("10.3", 10)
	res, err = r.Plan(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.VXLANDevice.Mode != api.VXLANPerVNI || !strings.Contains(res.VXLANDevice.Why, "the host runs per-VNI VXLAN devices") || res.Kernel.Len() != 0 {
		t.Fatalf("after the upgrade: %s, %d ops", res.VXLANDevice, res.Kernel.Len())
	}
	in.Host.VXLANDevice = api.VXLANSingle
	res, err = r.Plan(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Kernel.Outage, "vxlanDevice per-vni -> single replaces vx4001, vx10 by evpnvx") {
		t.Errorf("switch outage %q", res.Kernel.Outage)
	}
	if !hasOp(res.Kernel, "replace link evpnvx: vxlanDevice per-vni -> single: replaces vx4001, vx10") {
		t.Errorf("switch plan:\n%v", res.Kernel.Ops())
	}
}

func hasOp(p kernel.Plan, prefix string) bool {
	for _, op := range p.Ops() {
		if strings.HasPrefix(op.String(), prefix) {
			return true
		}
	}
	return false
}

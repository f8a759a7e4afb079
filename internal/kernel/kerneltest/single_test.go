package kerneltest

import (
	"slices"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// twoTenantsMode is twoTenants with host.vxlanDevice set to mode, every
// network with ARP suppression (single carries no network without).
func twoTenantsMode(t *testing.T, mode string) kernel.State {
	t.Helper()
	in, err := api.Load("../../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in.Host.VXLANDevice = mode
	for i := range in.Tenants {
		for j := range in.Tenants[i].Networks {
			in.Tenants[i].Networks[j].ARPSuppression = nil
		}
	}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	return plan.Build(in).Kernel
}

func planText(p kernel.Plan) string {
	var b strings.Builder
	if p.Outage != "" {
		b.WriteString("outage: " + p.Outage + "\n")
	}
	for _, op := range p.Ops() {
		b.WriteString(op.String() + "\n")
	}
	return b.String()
}

// TestConvergeTwoTenantsSingle: the seed intent on the single VXLAN
// device converges to the golden host (one vnifilter device carrying
// every VNI's VLAN, filter entry and map) and a second plan is empty.
func TestConvergeTwoTenantsSingle(t *testing.T) {
	_, k := twoTenants(t)
	des := twoTenantsMode(t, api.VXLANSingle)
	p, err := converge(t, k, des)
	if err != nil {
		t.Fatal(err)
	}
	if p.Outage != "" {
		t.Errorf("a first apply is no mode switch: %s", p.Outage)
	}
	Golden(t, "testdata/two-tenants-single.txt", k.String(), *update)
	Golden(t, "testdata/two-tenants-single.plan", planText(p), *update)
	obs, _ := k.Observe(sysctlNames(des), portNames(des))
	if p := kernel.Diff(des, obs); p.Len() != 0 {
		t.Fatalf("second plan not empty:\n%v", p.Ops())
	}
	if _, err := converge(t, k, kernel.State{Sysctls: des.Sysctls}); err != nil {
		t.Fatal(err)
	}
	if obs, _ := k.Observe(nil, nil); !obs.Empty() {
		t.Fatalf("torn down host still holds:\n%s", Dump(obs))
	}
}

// TestModeSwitchIsPlanned: per-vni -> single and back is a replace whose
// outage the plan states, with every old device's delete and the new
// devices shown as replacing them; the host ends as a fresh apply of the
// new mode leaves it.
func TestModeSwitchIsPlanned(t *testing.T) {
	_, k := twoTenants(t)
	perVNI := twoTenantsMode(t, api.VXLANPerVNI)
	if _, err := converge(t, k, perVNI); err != nil {
		t.Fatal(err)
	}
	single := twoTenantsMode(t, api.VXLANSingle)
	p, err := converge(t, k, single)
	if err != nil {
		t.Fatal(err)
	}
	Golden(t, "testdata/switch-per-vni-single.plan", planText(p), *update)
	want := "vxlanDevice per-vni -> single replaces vx1000, vx10, vx20 and 2 more (5 devices) by evpnvx: bridged and routed traffic of all 5 VNIs stops"
	if !strings.HasPrefix(p.Outage, want) {
		t.Errorf("outage %q, want %q...", p.Outage, want)
	}
	text := planText(p)
	for _, line := range []string{
		"replace link evpnvx: vxlanDevice per-vni -> single: replaces vx1000, vx10, vx20 and 2 more (5 devices)",
		"delete  link vx10: vxlanDevice per-vni -> single: replaced by evpnvx",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("plan lacks %q:\n%s", line, text)
		}
	}
	Golden(t, "testdata/two-tenants-single.txt", k.String(), *update)

	p, err = converge(t, k, perVNI)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Outage, "vxlanDevice single -> per-vni replaces evpnvx by vx1000, vx10, vx20 and 2 more (5 devices)") {
		t.Errorf("back: outage %q", p.Outage)
	}
	if p := kernel.Diff(perVNI, mustObserve(t, k, perVNI)); p.Len() != 0 {
		t.Fatalf("back to per-vni: second plan not empty:\n%v", p.Ops())
	}
	// Adding a VNI in one mode is no switch.
	obs := mustObserve(t, k, perVNI)
	less := perVNI
	less.Links = slices.DeleteFunc(slices.Clone(perVNI.Links), func(l kernel.Link) bool { return l.Name == "vx20" })
	if p := kernel.Diff(less, obs); p.Outage != "" {
		t.Errorf("removing vx20 is no switch: %s", p.Outage)
	}
}

func mustObserve(t *testing.T, k *Kernel, des kernel.State) kernel.State {
	t.Helper()
	obs, err := k.Observe(sysctlNames(des), portNames(des))
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

package plan

import (
	"slices"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// TestBuildLeaks: red imports from shared: red gets the import, shared a
// return import of red's subnets and guards from shared's devices to
// red's; blue, which imports nothing, gets neither. When shared imports
// red too, there is no return import and no guard.
func TestBuildLeaks(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/leak-multicast.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := Build(in)
	vrfs := map[string]int{}
	for i, v := range d.FRR.VRFs {
		vrfs[v.Name] = i
	}
	red, blue, shared := d.FRR.VRFs[vrfs["red"]], d.FRR.VRFs[vrfs["blue"]], d.FRR.VRFs[vrfs["shared"]]
	if len(red.Imports) != 1 || red.Imports[0].From != "shared" || red.Imports[0].Return || red.Imports[0].Prefixes[0].String() != "10.99.0.0/16" {
		t.Errorf("red imports %+v", red.Imports)
	}
	if len(blue.Imports) != 0 {
		t.Errorf("blue imports %+v", blue.Imports)
	}
	if len(shared.Imports) != 1 || !shared.Imports[0].Return || shared.Imports[0].From != "red" || shared.Imports[0].Prefixes[0].String() != "10.1.10.0/24" {
		t.Errorf("shared's return import %+v", shared.Imports)
	}
	if !slices.Contains(d.Kernel.Guards, kernel.Guard{In: "shared", Out: "vlan10"}) ||
		!slices.Contains(d.Kernel.Guards, kernel.Guard{In: "vlan99", Out: "vlan3000"}) ||
		!slices.Contains(d.Kernel.Guards, kernel.Guard{In: "vlan99", Out: "red"}) { // FRR 10: leaked routes via the VRF device
		t.Errorf("guards %v", d.Kernel.Guards)
	}
	for _, g := range d.Kernel.Guards {
		if g.Out == "vlan30" || g.In == "blue" {
			t.Errorf("guard involves blue: %v", g)
		}
	}

	in.Tenants[2].Imports = []api.Import{{From: "red", Prefixes: []string{"10.1.10.0/24"}}}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	d = Build(in)
	if len(d.Kernel.Guards) != 0 {
		t.Errorf("two-way leaking has guards: %v", d.Kernel.Guards)
	}
	if im := d.FRR.VRFs[vrfs["shared"]].Imports; len(im) != 1 || im[0].Return {
		t.Errorf("shared's explicit import %+v", im)
	}
}

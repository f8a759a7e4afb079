package plan

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestBuildGolden pins, for each valid intent of api/testdata, the kernel
// operations that build it from nothing and the FRR configuration.
func TestBuildGolden(t *testing.T) {
	files, _ := filepath.Glob("../../api/testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no intents")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			in, err := api.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			d := Build(in)
			d.FRR.Neighbors = true
			var b strings.Builder
			b.WriteString("# kernel operations from an empty host\n")
			for _, op := range kernel.Diff(d.Kernel, kernel.State{}).Ops() {
				b.WriteString(op.String() + "\n")
			}
			b.WriteString("# frr\n")
			b.WriteString(frr.Render(d.FRR))
			got := b.String()
			if again := Build(in); len(again.Kernel.Links) != len(d.Kernel.Links) {
				t.Fatal("not deterministic")
			}
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("differs from %s (-update to accept):\n%s", path, got)
			}
		})
	}
}

func TestRouterMACStable(t *testing.T) {
	in := &api.Intent{Host: api.Host{VTEP: "10.0.0.2"}}
	if got := RouterMAC(in.Host.VTEPAddr()); got != "02:ee:0a:00:00:02" {
		t.Fatal(got)
	}
}

// TestL3VNIsMatchBuild: for every valid intent, each L3VNI names the SVI
// and VXLAN device Build creates for the tenant (the SVI in the tenant's
// VRF, the VXLAN device with the L3VNI) and the VRF's table.
func TestL3VNIsMatchBuild(t *testing.T) {
	files, _ := filepath.Glob("../../api/testdata/valid/*.yaml")
	for _, f := range files {
		in, err := api.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		k := Build(in).Kernel
		l3 := L3VNIs(in)
		if len(l3) != len(in.Tenants) {
			t.Fatalf("%s: %d L3VNIs for %d tenants", f, len(l3), len(in.Tenants))
		}
		for i, l := range l3 {
			tn := in.Tenants[i]
			svi, ok1 := k.Link(l.SVI)
			vx, ok2 := k.Link(l.VXLAN)
			vrf, ok3 := k.Link(tn.Name)
			if !ok1 || !ok2 || !ok3 || svi.Master != tn.Name || vx.VNI != tn.L3VNI || vrf.Table != l.Table || l.Tenant != tn.Name {
				t.Errorf("%s: %+v does not match the built devices (svi %+v, vxlan %+v, vrf %+v)", f, l, svi, vx, vrf)
			}
		}
	}
}

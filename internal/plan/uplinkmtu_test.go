package plan

import (
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

func mtuIntent(hostMTU int, netMTUs ...int) *api.Intent {
	in := &api.Intent{Host: api.Host{Name: "h1", Uplinks: []string{"up1", "up2"}, MTU: hostMTU}}
	if len(netMTUs) == 0 {
		return in
	}
	t := api.Tenant{Name: "red", L3VNI: 4001}
	for i, m := range netMTUs {
		t.Networks = append(t.Networks, api.Network{Name: "n" + string(rune('a'+i)), VNI: uint32(10 + i), MTU: m})
	}
	in.Tenants = []api.Tenant{t}
	return in
}

func TestUplinkMTUNeed(t *testing.T) {
	for _, c := range []struct {
		name string
		in   *api.Intent
		want int
	}{
		{"nil intent", nil, 0},
		{"no network: no VXLAN", mtuIntent(0), 0},
		{"defaults: 1450 + 50", mtuIntent(0, 0), 1500},
		{"jumbo underlay", mtuIntent(9100, 0, 0), 9100},
		{"largest explicit network", mtuIntent(9100, 1400, 8000), 8050},
		{"explicit below the default one", mtuIntent(0, 1300, 0), 1500},
	} {
		if got := UplinkMTUNeed(c.in); got != c.want {
			t.Errorf("%s: UplinkMTUNeed = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestCheckUplinks(t *testing.T) {
	obs := kernel.State{Links: []kernel.Link{
		{Name: "up1", Kind: kernel.KindPort, MTU: 1400},
		{Name: "up2", Kind: kernel.KindPort, MTU: 1500},
	}}
	got := CheckUplinks(mtuIntent(0, 0), obs)
	if len(got) != 1 || got[0].Uplink != "up1" || got[0].MTU != 1400 || got[0].Need != 1500 {
		t.Fatalf("CheckUplinks = %+v, want up1 1400 < 1500 only", got)
	}
	for _, w := range []string{"MTU 1400", "1500", "1450", "larger than 1350 bytes"} {
		if !strings.Contains(got[0].Problem, w) {
			t.Errorf("problem %q does not say %q", got[0].Problem, w)
		}
	}
	// Networks with a smaller MTU fit through up1.
	if got := CheckUplinks(mtuIntent(0, 1300), obs); len(got) != 0 {
		t.Errorf("networks of MTU 1300 through 1400: %+v, want none", got)
	}
	// A missing uplink, an unknown MTU and no networks: nothing.
	if got := CheckUplinks(mtuIntent(0, 0), kernel.State{Links: []kernel.Link{{Name: "up2", MTU: 0}}}); len(got) != 0 {
		t.Errorf("missing up1, unknown up2 MTU: %+v, want none", got)
	}
	if got := CheckUplinks(mtuIntent(0), obs); len(got) != 0 {
		t.Errorf("no networks: %+v, want none", got)
	}
	// Both below, sorted.
	obs.Links[1].MTU = 1300
	got = CheckUplinks(mtuIntent(0, 0), obs)
	if len(got) != 2 || got[0].Uplink != "up1" || got[1].Uplink != "up2" {
		t.Errorf("both below: %+v", got)
	}
}

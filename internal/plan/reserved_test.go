package plan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// TestReservedInterface: every device the plan builds, the loopback, the
// multicast termination device, the uplinks and the intent's workloads'
// interfaces are refused with the reason; other names are free.
func TestReservedInterface(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ iface, want string }{
		{"evpnbr", "interface evpnbr is evpnhost's bridge"},
		{"vx10", "interface vx10 is evpnhost's VXLAN device of VNI 10"},
		{"vx1000", "VXLAN device of VNI 1000"},
		{"vlan10", "interface vlan10 is evpnhost's SVI of VLAN 10"},
		{"vlan3999", "SVI of VLAN 3999"},
		{"red", "interface red is the VRF of tenant red"},
		{"blue", "the VRF of tenant blue"},
		{"eth0", "interface eth0 is a host uplink"},
		{"eth1", "is a host uplink"},
		{"lo", "loopback"},
		{"ipmr-lo", "multicast termination device"},
		{"tap-red-web1", "interface tap-red-web1 is the interface of the intent's workload red-web-1"},
		{"evc00000001", ""},
		{"vnet7", ""},
		{"vx11", ""},
	} {
		got := ReservedInterface(in, tc.iface)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.iface, got, tc.want)
		}
	}
}

// TestBuildSkipsReserved: an attachment already recorded with a reserved
// interface is left out of the plan (with the reason), so it cannot turn
// the bridge into a port or enslave an uplink.
func TestBuildSkipsReserved(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := Build(in)
	for _, name := range []string{"evpnbr", "vx10", "vlan10", "red", "blue", "eth0", "lo", "ipmr-lo", "tap-red-web1", "vlan3999"} {
		for _, routed := range []bool{false, true} {
			atts := []Attachment{{Network: "red/web", Interface: name, MAC: "02:00:00:00:aa:01",
				IPs: []netip.Addr{netip.MustParseAddr("10.1.99.50")}, Routed: routed}}
			if p := kernel.Diff(BuildWith(in, atts).Kernel, base.Kernel); p.Len() != 0 {
				t.Errorf("%s (routed %v) planned: %v", name, routed, p.Ops())
			}
			if why := Skipped(in, atts)[name]; !strings.Contains(why, "interface "+name+" is ") {
				t.Errorf("%s (routed %v): skipped reason %q", name, routed, why)
			}
		}
	}
}

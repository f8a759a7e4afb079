package attach

import (
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
)

func checkIntent(t *testing.T) *api.Intent {
	t.Helper()
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestCheckInterface: the names evpnhost owns or the intent uses are
// refused with the reason (the full list is plan's TestReservedInterface).
func TestCheckInterface(t *testing.T) {
	in := checkIntent(t)
	for iface, want := range map[string]string{
		"evpnbr":       "interface evpnbr is evpnhost's bridge",
		"eth0":         "interface eth0 is a host uplink",
		"vx10":         "VXLAN device of VNI 10",
		"vlan20":       "SVI of VLAN 20",
		"red":          "VRF of tenant red",
		"ipmr-lo":      "multicast termination device",
		"lo":           "loopback",
		"tap-red-app1": "workload red-app-1",
		"vnet7":        "",
	} {
		err := CheckInterface(in, iface)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", iface, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", iface, err, want)
		}
	}
}

// TestCheckAddrs: the one address check of `evpnhost attach` and the CNI
// plugin.
func TestCheckAddrs(t *testing.T) {
	in := checkIntent(t)
	recorded := []Attachment{
		{ID: "attach-vnet3", Network: "red/web", Mode: ModeBridged, Interface: "vnet3", IPs: []string{"10.1.10.50"}},
		{ID: "cni-0123456789abcdef", Network: "red/app", Mode: ModeRouted, Interface: "evc01234567", IPs: []string{"10.1.99.7"}},
		{ID: "attach-vnet4", Network: "blue/web", Mode: ModeBridged, Interface: "vnet4", IPs: []string{"10.1.10.60"}},
	}
	br := func(ips ...string) Attachment {
		return Attachment{ID: "attach-vnet9", Network: "red/web", Mode: ModeBridged, Interface: "vnet9", IPs: ips}
	}
	rt := func(ips ...string) Attachment {
		return Attachment{ID: "attach-vnet9", Network: "red/web", Mode: ModeRouted, Interface: "vnet9", IPs: ips}
	}
	for _, tc := range []struct {
		name string
		a    Attachment
		want string // "" = accepted
	}{
		{"bridged ok", br("10.1.10.5"), ""},
		{"no address", br(), ""},
		{"another tenant's address", br("10.1.10.60"), ""},
		{"re-attach keeps own address", Attachment{ID: "attach-vnet3", Network: "red/web", Mode: ModeBridged, IPs: []string{"10.1.10.50"}}, ""},
		{"routed ok", rt("10.1.99.5", "fd99::5"), ""},
		{"gateway", br("10.1.10.1"), "10.1.10.1 is red/web's gateway"},
		{"other network's gateway, routed", rt("10.1.20.1"), "10.1.20.1 is red/app's gateway"},
		{"outside", br("10.1.11.5"), "10.1.11.5 is outside the subnets of red/web (10.1.10.0/24)"},
		{"other network's subnet", br("10.1.20.5"), "outside the subnets of red/web"},
		{"routed in own subnet", rt("10.1.10.5"), "10.1.10.5 is inside red/web's subnet 10.1.10.0/24"},
		{"routed in another network", rt("10.1.20.5"), "10.1.20.5 is inside red/app's subnet 10.1.20.0/24"},
		{"intent workload", br("10.1.10.11"), "10.1.10.11 is the address of workload red-web-1 (red/web)"},
		{"recorded attachment", br("10.1.10.50"), "10.1.10.50 is the address of attachment attach-vnet3 (vnet3 on red/web)"},
		{"recorded routed attachment", rt("10.1.99.7"), "10.1.99.7 is the address of attachment cni-0123456789abcdef"},
		{"unspecified", rt("0.0.0.0"), "0.0.0.0 is the unspecified address"},
		{"unspecified6", rt("::"), ":: is the unspecified address"},
		{"loopback", rt("127.0.0.1"), "loopback"},
		{"loopback6", rt("::1"), "loopback"},
		{"multicast", rt("239.1.1.1"), "multicast"},
		{"multicast6", rt("ff02::1"), "multicast"},
		{"link-local", rt("169.254.1.1"), "link-local"},
		{"link-local6", rt("fe80::1"), "link-local"},
		{"broadcast", rt("255.255.255.255"), "the broadcast address"},
		{"class E", rt("240.0.0.1"), "reserved"},
		{"network address", br("10.1.10.0"), "10.1.10.0 is the network address of red/web's subnet 10.1.10.0/24"},
		{"subnet broadcast", br("10.1.10.255"), "10.1.10.255 is the broadcast address of red/web's subnet 10.1.10.0/24"},
		{"twice", br("10.1.10.5", "10.1.10.5"), "given twice"},
		{"mapped", br("::ffff:10.1.10.1"), "10.1.10.1 is red/web's gateway"},
		{"garbage", br("x"), "not an address"},
		{"unknown network", Attachment{Network: "green/web", IPs: []string{"10.1.10.5"}}, "unknown network"},
	} {
		err := CheckAddrs(in, recorded, tc.a)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

package api

import (
	"fmt"
	"strings"
	"testing"
)

func TestResolveVXLANDevice(t *testing.T) {
	frr10 := Facts{FRRVersion: "10.3", FRRMajor: 10, VNIFilter: true, VNIFilterWhy: "RTM_GETTUNNEL answered"}
	frr8 := Facts{FRRVersion: "8.4.4", FRRMajor: 8, VNIFilter: true, VNIFilterWhy: "RTM_GETTUNNEL answered"}
	noVF := frr10
	noVF.VNIFilter, noVF.VNIFilterWhy = false, "kernel 5.10 < 5.18"
	perVNINow := frr10
	perVNINow.Current = VXLANPerVNI
	off := false
	noSuppress := base()
	noSuppress.Tenants[0].Networks[0].ARPSuppression = &off
	for _, tt := range []struct {
		name  string
		in    *Intent
		field string
		f     Facts
		mode  string
		why   string
	}{
		{"frr10", base(), "", frr10, VXLANSingle, "default: FRR 10.3 >= 9 and the kernel has vnifilter"},
		{"frr8", base(), "", frr8, VXLANPerVNI, "default: FRR 8.4.4 has no single VXLAN device support (FRR >= 9 has)"},
		{"unknown frr", base(), "", Facts{VNIFilter: true}, VXLANPerVNI, "default: FRR of unknown version has no single"},
		{"no vnifilter", base(), "", noVF, VXLANPerVNI, "default: the kernel has no VXLAN vnifilter (kernel 5.10 < 5.18)"},
		{"keeps per-vni", base(), "", perVNINow, VXLANPerVNI, "default: the host runs per-VNI VXLAN devices; set host.vxlanDevice: single"},
		{"no suppression", noSuppress, "", frr10, VXLANPerVNI, "default: network red/web has arpSuppression: false, which only per-VNI devices carry"},
		{"explicit single", base(), VXLANSingle, frr8, VXLANSingle, "host.vxlanDevice"},
		{"explicit per-vni", base(), VXLANPerVNI, frr10, VXLANPerVNI, "host.vxlanDevice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Host.VXLANDevice = tt.field
			r := ResolveVXLANDevice(tt.in, tt.f)
			if r.Mode != tt.mode || !strings.HasPrefix(r.Why, tt.why) {
				t.Errorf("got %s, want %s (%s...)", r, tt.mode, tt.why)
			}
		})
	}
}

func TestCheckVXLANDeviceFRR8(t *testing.T) {
	in := base()
	err := CheckVXLANDevice(in, VXLANSingle, Facts{FRRVersion: "8.4.4", FRRMajor: 8, VNIFilter: true})
	want := "host.vxlanDevice: single needs FRR >= 9 (single VXLAN device support); this host runs FRR 8.4.4"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if err := CheckVXLANDevice(in, VXLANSingle, Facts{FRRVersion: "10.3", FRRMajor: 10, VNIFilter: false, VNIFilterWhy: "kernel 5.10 < 5.18"}); err == nil ||
		err.Error() != "host.vxlanDevice: single needs a kernel with VXLAN vnifilter (Linux >= 5.18): kernel 5.10 < 5.18" {
		t.Fatalf("no vnifilter: %v", err)
	}
	if err := CheckVXLANDevice(in, VXLANSingle, Facts{FRRVersion: "10.3", FRRMajor: 10, VNIFilter: true}); err != nil {
		t.Fatal(err)
	}
}

func TestValidateVXLANDevice(t *testing.T) {
	in := base()
	in.Host.VXLANDevice = "one"
	if err := in.Validate(); err == nil || !strings.Contains(err.Error(), `host.vxlanDevice: "one" is not a VXLAN device mode: single`) {
		t.Fatalf("got %v", err)
	}
	off := false
	in = base()
	in.Host.VXLANDevice = VXLANSingle
	in.Tenants[0].Networks[0].ARPSuppression = &off
	if err := in.Validate(); err == nil || !strings.Contains(err.Error(), "tenants[0].networks[0].arpSuppression: false needs host.vxlanDevice: per-vni") {
		t.Fatalf("got %v", err)
	}
}

// TestVXLANDeviceLimits: single carries 4000 L2VNIs and 10 L3VNIs (the
// per-vni mode refuses them: bridge ports), and stops at 4094 VLANs,
// L3VNIs included.
func TestVXLANDeviceLimits(t *testing.T) {
	in := &Intent{Host: Host{Name: "h1", ASN: 65101, VTEP: "10.0.0.1", Uplinks: []string{"up1"}, VXLANDevice: VXLANSingle}}
	for i := range 10 {
		in.Tenants = append(in.Tenants, Tenant{Name: fmt.Sprintf("t%d", i), L3VNI: uint32(200000 + i), VLAN: uint16(4001 + i)})
	}
	for i := 1; i <= 4000; i++ {
		t := &in.Tenants[i%10]
		t.Networks = append(t.Networks, Network{Name: fmt.Sprintf("n%d", i), VNI: uint32(10000 + i), VLAN: uint16(i)})
	}
	if err := in.Validate(); err != nil {
		t.Fatalf("4000 L2VNIs + 10 L3VNIs must fit one device: %v", err)
	}
	in.Host.VXLANDevice = VXLANPerVNI
	if err := in.Validate(); err == nil || !strings.Contains(err.Error(), "tenants: 4010 VNIs and workloads need 4010 ports on the bridge; a Linux bridge holds at most 1023 (host.vxlanDevice per-vni") {
		t.Fatalf("per-vni: %v", err)
	}
	// 4085 networks + 10 L3VNIs = 4095 VLANs.
	in.Host.VXLANDevice = VXLANSingle
	for i := 4011; i <= 4095; i++ {
		t := &in.Tenants[0]
		t.Networks = append(t.Networks, Network{Name: fmt.Sprintf("n%d", i), VNI: uint32(10000 + i), VLAN: uint16(i - 4011 + 4011)})
	}
	err := in.Validate()
	if err == nil || !strings.Contains(err.Error(), "tenants: 4095 VNIs (networks and L3VNIs) need 4095 bridge VLANs; a bridge has 4094 (VLANs 1-4094)") {
		t.Fatalf("4095 VLANs: %v", err)
	}
}

package bench

import (
	"slices"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/plan"
)

// TestMatrixValid: every generated intent passes validation, and the
// baselines describe the same objects as the desired state.
func TestMatrixValid(t *testing.T) {
	for _, c := range append(slices.Clone(Matrix), SingleMatrix...) {
		if !c.Single && c.VNIs+c.Tenants > MaxBridgePorts {
			t.Fatalf("%v needs more bridge ports than the kernel allows", c)
		}
	}
	for _, c := range append(Matrix, MicroMatrix...) {
		in := Intent(c)
		err := in.Validate()
		switch {
		case !c.Single && c.VNIs+c.Tenants > MaxBridgePorts:
			// Pure micro-benchmarks only: the validator refuses what the
			// kernel bridge cannot hold, and nothing else.
			if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), "ports on the bridge") {
				t.Fatalf("%v: want only the bridge port limit, got %v", c, err)
			}
		case err != nil:
			t.Fatalf("%v: %v", c, err)
		}
		k := plan.Build(in).Kernel
		links, _, routes, fdb := Objects(k)
		ip, br, up := Batch(k)
		want := 1 + 3*c.Tenants + 2*c.VNIs // bridge, VRF + VXLAN + SVI per tenant, VXLAN + SVI per network
		if c.Single {
			want = 1 + 2*c.Tenants + 1 + c.VNIs // one VXLAN device
			if n := strings.Count(br, " tunnel_info id "); n == 0 || strings.Count(br, "vni add dev evpnvx") == 0 {
				t.Fatalf("%v: batch has no VNI filter or maps:\n%.500s", c, br)
			}
		}
		if links != want {
			t.Fatalf("%v: %d links, want %d", c, links, want)
		}
		if n := strings.Count(ip, "link add "); n != links || strings.Count(ip, " alias ") != links {
			t.Fatalf("%v: batch adds %d links, want %d", c, n, links)
		}
		if n := strings.Count(ip, "route add "); n != routes {
			t.Fatalf("%v: batch adds %d routes, want %d", c, n, routes)
		}
		if n := strings.Count(br, "fdb add "); n != fdb {
			t.Fatalf("%v: batch adds %d fdb entries, want %d", c, n, fdb)
		}
		if n := strings.Count(up, " up\n"); n != links {
			t.Fatalf("%v: batch brings %d links up, want %d", c, n, links)
		}
		ifs := Interfaces(k)
		if n := strings.Count(ifs, "\nauto "); n != links {
			t.Fatalf("%v: interfaces has %d stanzas, want %d", c, n, links)
		}
		if c.Single && !strings.Contains(ifs, "    bridge-vlan-vni-map 1-") {
			t.Fatalf("%v: interfaces has no bridge-vlan-vni-map:\n%.800s", c, ifs)
		}
	}
}

// TestInterfacesSingle: the single device's stanza is ifupdown2's
// single-VXLAN-device syntax, the VLAN-to-VNI map in ranges (L2VNIs, then
// the L3VNIs on the VLANs after them).
func TestInterfacesSingle(t *testing.T) {
	ifs := Interfaces(plan.Build(Intent(Case{VNIs: 100, Tenants: 10, Single: true})).Kernel)
	for _, w := range []string{
		"\nauto evpnvx\niface evpnvx\n",
		"    vxlan-local-tunnelip 10.0.0.1\n    vxlan-port 4789\n    bridge-vlan-vni-map 1-100=10001-10100\n    bridge-vlan-vni-map 101-110=100001-100010\n",
		"    bridge-learning off\n    bridge-arp-nd-suppress on\n",
		"    bridge-ports evpnvx\n",
	} {
		if !strings.Contains(ifs, w) {
			t.Errorf("no %q in:\n%.1500s", w, ifs)
		}
	}
	if strings.Contains(ifs, "vxlan-id") {
		t.Errorf("the single device has a vxlan-id:\n%.1500s", ifs)
	}
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/internal/frr"
)

// singleIntent is host's lab intent on the single VXLAN device: the
// networks that need per-VNI devices (multicast replication, ARP
// suppression off) fall back to ingress replication and suppression.
func singleIntent(t *testing.T, host string) string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(readIntent(t, host), "\n") {
		if strings.Contains(l, "replication:") || strings.Contains(l, "arpSuppression: false") {
			continue
		}
		out = append(out, l)
		if strings.HasPrefix(l, "  vtep: ") {
			out = append(out, "  vxlanDevice: single")
		}
	}
	f := filepath.Join(t.TempDir(), host+".yaml")
	if err := os.WriteFile(f, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSingleVXLANDevice: h1 and h2 move to the single VXLAN device (a
// planned replace whose outage plan states), h3 stays on per-VNI devices;
// zebra maps every VNI to the one device, bridged and routed traffic
// flows between the single-device hosts and to h3, tenants with
// overlapping addresses stay apart; then both move back.
func TestSingleVXLANDevice(t *testing.T) {
	out, err := run("vtysh", "-N", "h1", "-c", "show version")
	v, perr := frr.ParseVersion(out)
	if err != nil || perr != nil {
		t.Fatalf("FRR version on h1: %v %v\n%s", err, perr, out)
	}
	if !v.AtLeast(9, 0) {
		t.Skipf("FRR %s has no single VXLAN device support (FRR >= 9, FRRouting/frr#12364)", v)
	}
	t.Cleanup(func() {
		for _, h := range []string{"h1", "h2"} {
			if out, code := evpnhost(h, "apply", "-f", intentPath(h)); code != 0 {
				t.Errorf("%s: back to per-vni: exit %d\n%s", h, code, out)
			}
		}
	})
	for _, h := range []string{"h1", "h2"} {
		f := singleIntent(t, h)
		out, code := evpnhost(h, "plan", "-f", f)
		if code != 0 || !strings.Contains(out, "VXLAN device: single (host.vxlanDevice)") ||
			!strings.Contains(out, "Outage: vxlanDevice per-vni -> single replaces ") || !strings.Contains(out, "replace link evpnvx: vxlanDevice per-vni -> single") {
			t.Fatalf("%s: plan (exit %d) does not state the replace:\n%s", h, code, out)
		}
		if out, code := evpnhost(h, "apply", "-f", f); code != 0 {
			t.Fatalf("%s: apply single: exit %d\n%s", h, code, out)
		}
		if out, code := evpnhost(h, "apply", "-f", f); code != 0 || !strings.Contains(out, "No changes: 0 netlink writes, 0 FRR reloads") {
			t.Fatalf("%s: second apply (exit %d):\n%s", h, code, out)
		}
		d := inNS(t, h, "ip", "-d", "link", "show", "evpnvx")
		for _, w := range []string{"vnifilter", "vlan_tunnel on", "neigh_suppress on", "learning off"} {
			if !strings.Contains(d, w) {
				t.Errorf("%s: evpnvx lacks %q:\n%s", h, w, d)
			}
		}
		if _, err := run("ip", "netns", "exec", h, "ip", "link", "show", "vx10"); err == nil {
			t.Errorf("%s: vx10 survived the switch", h)
		}
	}
	// zebra maps the VNIs to the one device.
	eventually(t, 60*time.Second, "zebra on h1 lists VNIs 10 and 4001 on evpnvx", func() error {
		var vnis map[string]struct {
			VxlanIf string `json:"vxlanIf"`
		}
		out, err := run("vtysh", "-N", "h1", "-c", "show evpn vni json")
		if err != nil {
			return err
		}
		if err := jsonDecode(out, &vnis); err != nil {
			return err
		}
		for _, vni := range []string{"10", "4001"} {
			if vnis[vni].VxlanIf != "evpnvx" {
				return fmt.Errorf("VNI %s on %q:\n%s", vni, vnis[vni].VxlanIf, out)
			}
		}
		return nil
	})
	t.Run("bridged", TestOverlaySameNetworkAcrossHosts)
	t.Run("isolated", TestOverlayTenantsIsolated)
	t.Run("routed", func(t *testing.T) {
		mustPing(t, "rweb1", "10.1.20.12") // h1 -> h2, both single
		mustPing(t, "rweb1", "10.1.20.13") // h1 -> h3 on per-VNI devices
		mustPing(t, "rweb1", "-6", "fd00:20::13")
	})
}

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

// vxlanMode is the vxlanDevice mode host runs, as `evpnhost status`
// states it and the kernel shows it: per-vni is vx10 with no evpnvx,
// single is evpnvx with vnifilter and no vx10. A disagreement fails t.
func vxlanMode(t *testing.T, host string) string {
	t.Helper()
	out, code := evpnhost(host, "status", "--json")
	var st struct {
		VXLAN string `json:"vxlanDevice"`
	}
	if err := jsonDecode(out, &st); code != 0 || err != nil {
		t.Fatalf("%s: status --json (exit %d, %v):\n%s", host, code, err, out)
	}
	mode, _, _ := strings.Cut(st.VXLAN, " ")
	links := inNS(t, host, "ip", "-d", "-o", "link", "show", "type", "vxlan")
	single := strings.Contains(links, ": evpnvx: ") && strings.Contains(links, "vnifilter")
	perVNI := strings.Contains(links, ": vx10: ")
	switch {
	case mode == "single" && single && !perVNI, mode == "per-vni" && perVNI && !single:
		return mode
	}
	t.Fatalf("%s: status says %q, the kernel's VXLAN devices disagree:\n%s", host, st.VXLAN, links)
	return ""
}

// TestVXLANDeviceInUse: the lab's hosts run per-VNI devices on every
// platform (lab/intents leave host.vxlanDevice unset): on FRR 8.4 because
// it has no single device, on FRR >= 9 because the network shared/mcast
// uses multicast replication, which only per-VNI devices carry. The seed
// scenarios (TestOverlay*, TestLeak*) so run on per-VNI devices
// everywhere; TestSingleVXLANDevice runs them again on the single device
// where FRR has it.
func TestVXLANDeviceInUse(t *testing.T) {
	v := hostFRR(t)
	why := "default: network shared/mcast uses multicast replication"
	if !v.AtLeast(9, 0) {
		why = "has no single VXLAN device support"
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if m := vxlanMode(t, h); m != "per-vni" {
			t.Fatalf("%s runs %s", h, m)
		}
		out, code := evpnhost(h, "plan", "-f", intentPath(h))
		if code != 0 || !strings.Contains(out, "VXLAN device: per-vni (") || !strings.Contains(out, why) {
			t.Errorf("%s: plan (exit %d) does not say per-vni because %q:\n%s", h, code, why, out)
		}
	}
}

// hostFRR is the FRR version of the lab's hosts.
func hostFRR(t *testing.T) frr.Version {
	t.Helper()
	out, err := run("vtysh", "-N", "h1", "-c", "show version")
	v, perr := frr.ParseVersion(out)
	if err != nil || perr != nil {
		t.Fatalf("FRR version on h1: %v %v\n%s", err, perr, out)
	}
	return v
}

// toSingle moves host to the single VXLAN device: plan states the
// replace and its outage, the apply does it (zebra survives: the L3VNIs
// are unconfigured before their devices go), a second apply changes
// nothing.
func toSingle(t *testing.T, h string) {
	t.Helper()
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
		t.Logf("%s: the bridge's FDB after the second apply:\n%s", h, inNS(t, h, "bridge", "fdb", "show", "br", "evpnbr"))
		t.Fatalf("%s: second apply (exit %d):\n%s", h, code, out)
	}
	d := inNS(t, h, "ip", "-d", "link", "show", "evpnvx")
	for _, w := range []string{"vnifilter", "vlan_tunnel on", "neigh_suppress on", "learning off"} {
		if !strings.Contains(d, w) {
			t.Errorf("%s: evpnvx lacks %q:\n%s", h, w, d)
		}
	}
	if m := vxlanMode(t, h); m != "single" {
		t.Fatalf("%s runs %s after the switch", h, m)
	}
	zebraOnEvpnvx(t, h)
}

// zebraOnEvpnvx waits for zebra on h to map VNI 10 and L3VNI 4001 to the
// one device.
func zebraOnEvpnvx(t *testing.T, h string) {
	t.Helper()
	eventually(t, 60*time.Second, "zebra on "+h+" lists VNIs 10 and 4001 on evpnvx", func() error {
		var vnis map[string]struct {
			VxlanIf string `json:"vxlanIf"`
			Type    string `json:"type"`
		}
		out, err := run("vtysh", "-N", h, "-c", "show evpn vni json")
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
		if vnis["4001"].Type != "L3" {
			return fmt.Errorf("VNI 4001 is %q, not L3:\n%s", vnis["4001"].Type, out)
		}
		return nil
	})
}

// TestSingleVXLANDevice: h1 and h2 move to the single VXLAN device (a
// planned replace whose outage plan states), h3 stays on per-VNI devices;
// zebra maps every VNI to the one device, bridged and routed traffic
// flows between the single-device hosts and to h3, tenants with
// overlapping addresses stay apart. Then h3 moves too and the seed
// scenario runs with every host on the single device: bridged, routed,
// isolated tenants, the bare-metal server on tor1's VNI, the border's
// default route and the leaked services. Then all move back to per-VNI
// devices (the single -> per-vni replace).
func TestSingleVXLANDevice(t *testing.T) {
	if v := hostFRR(t); !v.AtLeast(9, 0) {
		t.Skipf("FRR %s has no single VXLAN device support (FRR >= 9, FRRouting/frr#12364)", v)
	}
	t.Cleanup(func() {
		for _, h := range []string{"h1", "h2", "h3"} {
			if out, code := evpnhost(h, "apply", "-f", intentPath(h)); code != 0 {
				t.Errorf("%s: back to per-vni: exit %d\n%s", h, code, out)
				deadDaemons(t, h)
				continue
			}
			if m := vxlanMode(t, h); m != "per-vni" {
				t.Errorf("%s runs %s after moving back", h, m)
			}
		}
		// zebra survived the moves back (L3VNI 4001 on vx4001 again).
		eventually(t, 60*time.Second, "zebra on h1 has L3VNI 4001 on vx4001", func() error {
			out, err := run("vtysh", "-N", "h1", "-c", "show evpn vni 4001 json")
			if err != nil || !strings.Contains(out, "vx4001") {
				return fmt.Errorf("%v:\n%s", err, out)
			}
			return nil
		})
		mustPing(t, "rweb1", "10.1.10.12")
		mustPing(t, "rweb1", "10.1.20.13")
	})
	for _, h := range []string{"h1", "h2"} {
		toSingle(t, h)
	}
	if m := vxlanMode(t, "h3"); m != "per-vni" {
		t.Fatalf("h3 runs %s", m)
	}
	t.Run("mixed/bridged", TestOverlaySameNetworkAcrossHosts)
	t.Run("mixed/isolated", TestOverlayTenantsIsolated)
	t.Run("mixed/routed", func(t *testing.T) {
		mustPing(t, "rweb1", "10.1.20.12") // h1 -> h2, both single
		mustPing(t, "rweb1", "10.1.20.13") // h1 -> h3 on per-VNI devices
		mustPing(t, "rweb1", "-6", "fd00:20::13")
	})
	toSingle(t, "h3")
	t.Run("all/bridged", TestOverlaySameNetworkAcrossHosts)
	t.Run("all/isolated", TestOverlayTenantsIsolated)
	t.Run("all/routed", func(t *testing.T) {
		mustPing(t, "rweb1", "10.1.20.12")
		mustPing(t, "rweb1", "10.1.20.13")
		mustPing(t, "rweb1", "-6", "fd00:20::13")
		if r := inNS(t, "h1", "ip", "route", "get", "10.1.20.13", "vrf", "red"); !strings.Contains(r, "dev vlan3001") {
			t.Fatalf("h1 does not route to 10.1.20.13 over the L3VNI SVI:\n%s", r)
		}
	})
	t.Run("all/bare-metal", TestOverlayBareMetalOnSwitchVNI)
	t.Run("all/border", TestOverlayBorderDefaultRoute)
	t.Run("all/leak-same-host", TestLeakSameHost)
	t.Run("all/leak-other-host", TestLeakOtherHost)
	t.Run("all/leak-blue-sees-nothing", TestLeakBlueSeesNothing)
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/internal/frr"
)

// Scale of TestScaleSingleVXLAN (issue 14): 4000 L2VNIs and 10 tenants,
// 4010 bridge VLANs on one VXLAN device.
const (
	scaleVNIs    = 4000
	scaleTenants = 10
)

// scaleGateway is network i's anycast gateway prefix base: 10.(100+i/256).(i%256).
func scaleNet(i int) string { return fmt.Sprintf("10.%d.%d", 100+i/256, i%256) }

// scaleIntent writes host's intent at scale: the lab host's underlay
// (name, ASN, VTEP, uplinks), the single VXLAN device, tenants t1..t10
// (L3VNI 100000+t on VLAN 4000+t), networks n1..n4000 (VNI 10000+i on
// VLAN i, tenant (i-1)%10, an IPv4 gateway each), and two workloads of
// its own: on the first network and on the last. idx is the host's
// number (its workloads' addresses end in .1idx).
func scaleIntent(t *testing.T, dir, host string, idx int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# written by e2e/scale_test.go\nhost:\n")
	for _, l := range strings.Split(readIntent(t, host), "\n") {
		for _, k := range []string{"  name: ", "  asn: ", "  vtep: ", "  uplinks: "} {
			if strings.HasPrefix(l, k) {
				b.WriteString(l + "\n")
			}
		}
	}
	b.WriteString("  vxlanDevice: single\ntenants:\n")
	for tn := 1; tn <= scaleTenants; tn++ {
		fmt.Fprintf(&b, "  - name: t%d\n    l3vni: %d\n    vlan: %d\n    networks:\n", tn, 100000+tn, scaleVNIs+tn)
		for i := tn; i <= scaleVNIs; i += scaleTenants {
			fmt.Fprintf(&b, "      - {name: n%d, vni: %d, vlan: %d, gateways: [%s.1/24]}\n", i, 10000+i, i, scaleNet(i))
		}
	}
	b.WriteString("workloads:\n")
	for _, i := range []int{1, scaleVNIs} {
		name := scaleWorkload(idx, i)
		fmt.Fprintf(&b, "  - {name: %s, network: t%d/n%d, interface: %s, mac: \"02:00:00:%02x:%02x:%02x\", ips: [%s.1%d]}\n",
			name, (i-1)%scaleTenants+1, i, name, idx, i>>8, i&0xff, scaleNet(i), idx)
	}
	if err := os.WriteFile(filepath.Join(dir, host+".yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scaleWorkload names host idx's workload on network i (also its
// namespace and host-side interface).
func scaleWorkload(idx, i int) string { return fmt.Sprintf("sc%dn%d", idx, i) }

var (
	zebraL2 = regexp.MustCompile(`(?m)^L2 VNIs: (\d+)`)
	zebraL3 = regexp.MustCompile(`(?m)^L3 VNIs: (\d+)`)
)

// TestScaleSingleVXLAN (issue 14, "Done when"): h1 and h2 booted again
// with the single VXLAN device, 4000 L2VNIs and 10 tenants (4010 bridge
// VLANs on evpnvx); the apply works, a re-apply makes 0 writes, zebra
// shows every VNI, and traffic passes between the two hosts on the first
// and on the last VNI. Not in make test (minutes under emulation); run it
// alone on the Debian 13 platform (docs/testing.md):
//
//	e2e/vm/run.sh --platform trixie --timeout 2400 -- sh -c 'cd e2e && EVPNHOST_E2E=1 ../bin/tests/e2e.test -test.v -test.timeout 35m -test.run "^TestScaleSingleVXLAN$"'
//
// The hosts are rebooted (lab.sh host-down / host-up) onto the scale
// intents, not switched: a host's first apply is on the single device.
// At the end both are rebooted onto the lab's intents again.
func TestScaleSingleVXLAN(t *testing.T) {
	out, err := run("vtysh", "-N", "h1", "-c", "show version")
	v, perr := frr.ParseVersion(out)
	if err != nil || perr != nil {
		t.Fatalf("FRR version on h1: %v %v\n%s", err, perr, out)
	}
	if !v.AtLeast(9, 0) {
		t.Skipf("FRR %s has no single VXLAN device support (FRR >= 9, FRRouting/frr#12364): 4000 VNIs need it", v)
	}
	dir := t.TempDir()
	for i, h := range []string{"h1", "h2"} {
		scaleIntent(t, dir, h, i+1)
	}
	b, err := os.ReadFile(intentPath("h3"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "h3.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// lab.sh with intents (the scale ones, or "" for the lab's), and a
	// convergence deadline for bgpd busy with 8000 VNIs' routes, or the
	// kernel still destroying a scale host's namespace, under emulation.
	withEnv := func(intents string, args ...string) (string, error) {
		env := map[string]string{"LAB_TIMEOUT": "300"}
		if intents != "" {
			env["LAB_INTENTS"] = intents
		}
		for k, v := range env {
			old, had := os.LookupEnv(k)
			os.Setenv(k, v)
			defer func() {
				if had {
					os.Setenv(k, old)
				} else {
					os.Unsetenv(k)
				}
			}()
		}
		return labCmd(args...)
	}
	withIntents := func(args ...string) (string, error) { return withEnv(dir, args...) }
	scaled := map[string]bool{}
	t.Cleanup(func() {
		for _, h := range []string{"h1", "h2"} {
			if scaled[h] {
				if out, err := withIntents("host-down", h); err != nil {
					t.Errorf("%s: host-down (scale intent): %v\n%s", h, err, out)
				}
			} else if out, err := labCmd("host-down", h); err != nil {
				t.Errorf("%s: host-down: %v\n%s", h, err, out)
			}
			if out, err := withEnv("", "host-up", h); err != nil {
				t.Errorf("%s: host-up with the lab's intent: %v\n%s", h, err, out)
			}
		}
	})
	for _, h := range []string{"h1", "h2"} {
		if out, err := labCmd("host-down", h); err != nil {
			t.Fatalf("%s: host-down: %v\n%s", h, err, out)
		}
		scaled[h] = true
		t0 := time.Now()
		out, err := withIntents("host-up", h)
		if err != nil {
			t.Fatalf("%s: host-up with 4000 L2VNIs (FRR, workloads, evpnhost apply, convergence): %v\n%s", h, err, out)
		}
		t.Logf("%s: host-up with %d L2VNIs and %d tenants (FRR start, workloads, first apply, lab convergence): %.1f s", h, scaleVNIs, scaleTenants, time.Since(t0).Seconds())
	}
	for _, h := range []string{"h1", "h2"} {
		f := filepath.Join(dir, h+".yaml")
		t0 := time.Now()
		out, code := evpnhost(h, "apply", "-f", f)
		d := time.Since(t0)
		if code != 0 || !strings.Contains(out, "No changes: 0 netlink writes, 0 FRR reloads") {
			t.Fatalf("%s: re-apply at %d L2VNIs (exit %d, %.1f s) is not a no-op:\n%s", h, scaleVNIs, code, d.Seconds(), out)
		}
		t.Logf("%s: re-apply: 0 netlink writes, 0 FRR reloads in %.1f s", h, d.Seconds())
		tun := inNS(t, h, "bridge", "vlan", "tunnelshow", "dev", "evpnvx")
		for _, w := range []string{"10001", "14000", "100001", "100010"} {
			if !strings.Contains(tun, w) {
				t.Errorf("%s: no VLAN-to-VNI map for VNI %s on evpnvx", h, w)
			}
		}
		took := eventually(t, 5*time.Minute, h+": zebra shows every L2VNI and L3VNI", func() error {
			out, err := run("vtysh", "-N", h, "-c", "show evpn")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			l2, l3 := zebraL2.FindStringSubmatch(out), zebraL3.FindStringSubmatch(out)
			if l2 == nil || l3 == nil {
				return fmt.Errorf("no VNI counts in:\n%s", out)
			}
			if n, _ := strconv.Atoi(l2[1]); n != scaleVNIs {
				return fmt.Errorf("%d L2 VNIs", n)
			}
			if n, _ := strconv.Atoi(l3[1]); n != scaleTenants {
				return fmt.Errorf("%d L3 VNIs", n)
			}
			return nil
		})
		t.Logf("%s: zebra shows %d L2 and %d L3 VNIs (%.1f s after the re-apply)", h, scaleVNIs, scaleTenants, took.Seconds())
	}
	// Traffic between the hosts on the first and the last VNI, both ways.
	for _, i := range []int{1, scaleVNIs} {
		for _, p := range [][2]int{{1, 2}, {2, 1}} {
			src, dst := scaleWorkload(p[0], i), fmt.Sprintf("%s.1%d", scaleNet(i), p[1])
			took := eventually(t, 3*time.Minute, fmt.Sprintf("%s (h%d) reaches %s (h%d) on VNI %d", src, p[0], dst, p[1], 10000+i), func() error {
				out, err := run("ip", "netns", "exec", src, "ping", "-c", "1", "-W", "2", dst)
				if err != nil {
					return fmt.Errorf("%v: %s", err, out)
				}
				return nil
			})
			t.Logf("VNI %d: %s -> %s after %.1f s", 10000+i, src, dst, took.Seconds())
		}
	}
}

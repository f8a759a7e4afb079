package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDebianFRR: the lab's h1 intent (without multicast, see
// testdata/debian-h1.yaml) applied to FRR started exactly as
// Debian's frr.service starts it (/usr/lib/frr/frrinit.sh start: watchfrr,
// the daemons /etc/frr/daemons enables), the system instance, an empty
// vtysh.conf, on a machine whose hostname was never set (uname "(none)").
// It runs in its own network, mount and UTS namespaces (e2e/debian-frr.sh):
// the lab's pathspaces and the machine's own FRR are not seen.
//
//   - hostname "(none)": frr-reload.py cannot read the daemons' running
//     configuration; apply fails with one line saying so and how to fix
//     it, not a Python traceback;
//   - hostname set and FRR restarted: apply succeeds;
//   - apply again: no changes.
func TestDebianFRR(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is needed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--uts", "--propagation", "private",
		"bash", filepath.Join(repo, "e2e", "debian-frr.sh"), evpnhostBin(), filepath.Join(repo, "e2e", "testdata", "debian-h1.yaml"), "h1")
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("debian-frr.sh: %v\n%s", err, out)
	}
	steps := strings.Split(out, "\n== ")
	if len(steps) < 5 {
		t.Fatalf("script output has %d steps:\n%s", len(steps), out)
	}
	none, set, again, vtysh := steps[1], steps[2], steps[3], steps[4]
	if !strings.Contains(none, "exit=1") || !strings.Contains(none, `FRR's daemons run with hostname "(none)"`) ||
		!strings.Contains(none, "hostnamectl set-hostname NAME), then systemctl restart frr") {
		t.Errorf("apply with hostname (none): want exit 1 and the hostname diagnosis:\n%s", none)
	}
	if strings.Contains(none, "Traceback") || strings.Contains(none, "VtyshException") {
		t.Errorf("apply with hostname (none) printed Python's error, not ours:\n%s", none)
	}
	if !strings.Contains(set, "exit=0") || !regexp.MustCompile(`Applied: \d+ kernel operations`).MatchString(set) {
		t.Errorf("apply with hostname set: want exit 0:\n%s", set)
	}
	if !strings.Contains(again, "No changes: 0 netlink writes, 0 FRR reloads.") || !strings.Contains(again, "exit=0") {
		t.Errorf("second apply was not a no-op:\n%s", again)
	}
	for _, w := range []string{"router bgp 65101", "neighbor up1 interface peer-group fabric", "advertise-all-vni", "router bgp 65101 vrf red", "vrf red\n vni 4001"} {
		if !strings.Contains(vtysh, w) {
			t.Errorf("FRR lacks %q:\n%s", w, vtysh)
		}
	}
	// zebra knows the L2VNIs (show evpn vni: VNI, type L2, its device).
	if !regexp.MustCompile(`(?m)^10\s+L2\s+vx10\b`).MatchString(vtysh) {
		t.Errorf("zebra lacks L2VNI 10:\n%s", vtysh)
	}
}

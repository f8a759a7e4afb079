package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentRepairsDrift: with the agent running on h2, a VXLAN device
// deleted by hand and a gateway address removed are repaired (traffic
// flows again) on kernel events alone (no resync), and an uplink session
// removed from FRR by hand comes back through the periodic resync (1 s
// here); the times are printed. (A bgpd restarted alone is a known FRR 8.4 limitation, see
// docs/architecture.md.)
func TestAgentRepairsDrift(t *testing.T) {
	const ns = "h2"
	logf := filepath.Join(t.TempDir(), "agent.log")
	// startAgent runs the agent on h2 and returns a function stopping it.
	startAgent := func(resync string) func() {
		pid := strings.TrimSpace(inNS(t, ns, "sh", "-c", fmt.Sprintf("%s agent -f %s --frr-instance %s --resync %s >> %s 2>&1 & echo $!",
			evpnhostBin(), intentPath(ns), ns, resync, logf)))
		return func() { _, _ = run("kill", pid) }
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf)
			t.Logf("agent log:\n%s", b)
		}
	})
	// Kernel drift is repaired on kernel events alone: no resync here.
	stop := startAgent("1h")
	t.Cleanup(func() { stop() })
	mustPing(t, "rweb1", "10.1.10.12")

	// A VXLAN device deleted by hand.
	inNS(t, ns, "ip", "link", "del", "vx10")
	took := eventually(t, 60*time.Second, "vx10 repaired", func() error {
		out, err := run("ip", "-n", ns, "-d", "link", "show", "vx10")
		if err != nil || !strings.Contains(out, "master evpnbr") || !strings.Contains(out, ",UP") {
			return fmt.Errorf("vx10: %v %s", err, out)
		}
		return nil
	})
	t.Logf("deleted VXLAN device repaired in %s", took.Round(time.Millisecond))
	mustPing(t, "rweb1", "10.1.10.12")

	// A gateway address removed by hand.
	inNS(t, ns, "ip", "addr", "del", "10.1.20.1/24", "dev", "vlan20")
	took = eventually(t, 60*time.Second, "gateway address repaired", func() error {
		if out := inNS(t, ns, "ip", "addr", "show", "dev", "vlan20"); !strings.Contains(out, "10.1.20.1/24") {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	t.Logf("removed SVI address repaired in %s", took.Round(time.Millisecond))
	mustPing(t, "rapp2", "10.1.20.1")

	// FRR configuration drift is found by the periodic resync.
	stop()
	stop = startAgent("1s")

	// FRR configuration drift: someone removes an uplink session by hand.
	if out, err := run("vtysh", "-N", ns, "-c", "configure terminal", "-c", "router bgp 65102", "-c", "no neighbor up2 interface peer-group fabric"); err != nil {
		t.Fatalf("vtysh: %v\n%s", err, out)
	}
	start := time.Now()
	eventually(t, 120*time.Second, "uplink session restored", func() error {
		var sum struct {
			IPv4 struct {
				Peers map[string]struct {
					State string `json:"state"`
				} `json:"peers"`
			} `json:"ipv4Unicast"`
		}
		out, err := run("vtysh", "-N", ns, "-c", "show bgp summary json")
		if err != nil || jsonDecode(out, &sum) != nil {
			return fmt.Errorf("%v %s", err, out)
		}
		for _, up := range []string{"up1", "up2"} {
			if sum.IPv4.Peers[up].State != "Established" {
				return fmt.Errorf("%s: %q", up, sum.IPv4.Peers[up].State)
			}
		}
		return nil
	})
	t.Logf("FRR drift (session removed by hand): configuration restored and session Established after %s", time.Since(start).Round(time.Millisecond))
}

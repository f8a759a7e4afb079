package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Multicast BUM replication (docs/bum-replication.md). In the lab intents
// shared/mcast (VNI 40, 10.98.40.0/24) replicates through group
// 239.1.1.40 (RP tor1, PIM-SM on hosts and TORs), with mc1, mc2, mc3 on
// h1, h2, h3; red/web (VNI 10) uses ingress replication to h2, h3 and tor1.

var mcastWorkloads = []struct{ ns, host, ip string }{
	{"mc1", "h1", "10.98.40.11"}, {"mc2", "h2", "10.98.40.12"}, {"mc3", "h3", "10.98.40.13"},
}

// TestMulticastNoFloodEntries: zebra installs no per-VTEP flood entries
// for VNI 40 (only the kernel's group default), while VNI 10 has one per
// remote VTEP.
func TestMulticastNoFloodEntries(t *testing.T) {
	for _, h := range hosts {
		d := inNS(t, h.name, "ip", "-d", "link", "show", "vx40")
		if !strings.Contains(d, "group 239.1.1.40") {
			t.Errorf("%s: vx40 has no multicast group:\n%s", h.name, d)
		}
		var flood40, her10 []string
		for _, l := range strings.Split(inNS(t, h.name, "bridge", "fdb", "show", "dev", "vx40"), "\n") {
			if strings.HasPrefix(l, "00:00:00:00:00:00 ") {
				flood40 = append(flood40, l)
			}
		}
		for _, l := range strings.Split(inNS(t, h.name, "bridge", "fdb", "show", "dev", "vx10"), "\n") {
			if strings.HasPrefix(l, "00:00:00:00:00:00 ") {
				her10 = append(her10, l)
			}
		}
		t.Logf("%s: vx40 flood entries %q; vx10 %d ingress-replication entries", h.name, flood40, len(her10))
		if len(flood40) != 1 || !strings.Contains(flood40[0], "dst 239.1.1.40") {
			t.Errorf("%s: vx40 must flood to its group only, has %q", h.name, flood40)
		}
		if len(her10) < 3 {
			t.Errorf("%s: vx10 (ingress) has %d flood entries, want one per remote VTEP (3)", h.name, len(her10))
		}
		out, err := run("vtysh", "-N", h.name, "-c", "show evpn vni 40")
		if err != nil || !strings.Contains(out, "Mcast group: 239.1.1.40") || strings.Contains(out, "flood: HER") {
			t.Errorf("%s: zebra's view of VNI 40 (want group 239.1.1.40, no HER): %v\n%s", h.name, err, out)
		}
	}
}

// waitMcastTree polls until every host's pimd has joined the group's
// shared tree towards the RP.
func waitMcastTree(t *testing.T) {
	t.Helper()
	eventually(t, 90*time.Second, "PIM (*,239.1.1.40) joined on every host", func() error {
		for _, h := range hosts {
			out, err := run("vtysh", "-N", h.name, "-c", "show ip pim upstream")
			if err != nil {
				return err
			}
			ok := false
			for _, l := range strings.Split(out, "\n") {
				f := strings.Fields(l)
				if len(f) >= 4 && f[1] == "*" && f[2] == "239.1.1.40" && f[3] == "J" && f[0] != "Unknown" {
					ok = true
				}
			}
			if !ok {
				return fmt.Errorf("%s: (*,G) not joined:\n%s", h.name, out)
			}
		}
		return nil
	})
}

// bcastCount pings the broadcast address of a workload's subnet n times
// (after a warm-up one that lets PIM switch to the shortest-path trees)
// and returns how many echo requests each other workload received.
func bcastCount(t *testing.T, from, bcast string, n int, others []string) map[string]int {
	t.Helper()
	caps := map[string]*capture{}
	for _, o := range others {
		caps[o] = startCapture(t, o, "eth0", "'icmp[icmptype] = icmp-echo and dst "+bcast+"'")
	}
	_, _ = run("ip", "netns", "exec", from, "ping", "-n", "-b", "-c", fmt.Sprint(n), "-i", "0.3", "-W", "1", bcast)
	time.Sleep(2 * time.Second)
	got := map[string]int{}
	for o, c := range caps {
		got[o] = countPackets(c.stop(t))
	}
	return got
}

// TestMulticastBUMReachesEveryHost: broadcast and unknown-unicast frames
// from mc1 reach the workloads on h2 and h3, each exactly once (a copy
// looping through lo on the receiving host used to deliver every frame
// twice, docs/bum-replication.md).
func TestMulticastBUMReachesEveryHost(t *testing.T) {
	for _, w := range mcastWorkloads {
		inNS(t, w.ns, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=0")
	}
	waitMcastTree(t)
	_, _ = run("ip", "netns", "exec", "mc1", "ping", "-n", "-b", "-c", "2", "-W", "1", "10.98.40.255") // warm-up
	const n = 5
	// From every host: each one's receive path is checked twice.
	for _, from := range mcastWorkloads {
		var others []string
		for _, o := range mcastWorkloads {
			if o.ns != from.ns {
				others = append(others, o.ns)
			}
		}
		got := bcastCount(t, from.ns, "10.98.40.255", n, others)
		t.Logf("broadcast: %d echo requests from %s (%s); received: %s %d, %s %d", n, from.ns, from.host, others[0], got[others[0]], others[1], got[others[1]])
		for _, o := range others {
			if got[o] != n {
				t.Errorf("%s received %d copies of %d broadcast frames from %s, want exactly one each", o, got[o], n, from.ns)
			}
		}
	}

	// Unknown unicast: a MAC no FDB knows is flooded like a broadcast.
	const unknown = "02:00:00:03:40:99"
	inNS(t, "mc1", "ip", "neigh", "replace", "10.98.40.99", "lladdr", unknown, "dev", "eth0", "nud", "permanent")
	t.Cleanup(func() { _, _ = run("ip", "-n", "mc1", "neigh", "del", "10.98.40.99", "dev", "eth0") })
	caps := map[string]*capture{}
	for _, o := range []string{"mc2", "mc3"} {
		caps[o] = startCapture(t, o, "eth0", "'ether dst "+unknown+"'")
	}
	_, _ = run("ip", "netns", "exec", "mc1", "ping", "-n", "-c", fmt.Sprint(n), "-i", "0.3", "-W", "1", "10.98.40.99")
	time.Sleep(2 * time.Second)
	for o, c := range caps {
		k := countPackets(c.stop(t))
		t.Logf("unknown unicast: %d frames to %s from mc1; %s received %d", n, unknown, o, k)
		if k != n {
			t.Errorf("%s received %d copies of %d unknown-unicast frames, want exactly one each", o, k, n)
		}
	}
}

// TestMulticastOneCopyPerFrame counts h1's outgoing VXLAN copies of
// broadcast frames on its two uplinks: for the multicast network one
// copy per PIM branch (at most one per uplink), for the ingress network
// red/web one per remote VTEP (h2, h3, tor1), spread over the uplinks by
// ECMP. Both are printed.
func TestMulticastOneCopyPerFrame(t *testing.T) {
	for _, w := range mcastWorkloads {
		inNS(t, w.ns, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=0")
	}
	waitMcastTree(t)
	const n = 10
	// Outer: from h1's VTEP; inner: ICMP to the subnet's broadcast
	// address (inner destination at udp[46], see vxlanBetween).
	count := func(from, bcast string) (int, int) {
		filter := fmt.Sprintf("'udp dst port 4789 and src host 10.0.0.1 and udp[46:4] = %s'", hexIPv4(bcast))
		c1 := startCaptureOut(t, "h1", "up1", filter)
		c2 := startCaptureOut(t, "h1", "up2", filter)
		_, _ = run("ip", "netns", "exec", from, "ping", "-n", "-b", "-c", fmt.Sprint(n), "-i", "0.3", "-W", "1", bcast)
		time.Sleep(2 * time.Second)
		return countPackets(c1.stop(t)), countPackets(c2.stop(t))
	}
	_, _ = run("ip", "netns", "exec", "mc1", "ping", "-n", "-b", "-c", "2", "-W", "1", "10.98.40.255") // warm-up
	m1, m2 := count("mc1", "10.98.40.255")
	i1, i2 := count("rweb1", "10.1.10.255")
	t.Logf("h1 uplink copies of %d broadcast frames: multicast (VNI 40, group 239.1.1.40): up1 %d + up2 %d = %d (%.1f per frame); "+
		"ingress (VNI 10, 3 remote VTEPs): up1 %d + up2 %d = %d (%.1f per frame)",
		n, m1, m2, m1+m2, float64(m1+m2)/n, i1, i2, i1+i2, float64(i1+i2)/n)
	fmt.Printf("MULTICAST-COUNT frames=%d multicast up1=%d up2=%d ingress up1=%d up2=%d\n", n, m1, m2, i1, i2)
	if m1 > n || m2 > n {
		t.Errorf("multicast: more than one copy per frame on an uplink (up1 %d, up2 %d for %d frames)", m1, m2, n)
	}
	if m1+m2 < n {
		t.Errorf("multicast: %d copies for %d frames: frames did not leave h1", m1+m2, n)
	}
	if i1+i2 != 3*n {
		t.Errorf("ingress: %d copies for %d frames, want %d (one per remote VTEP)", i1+i2, n, 3*n)
	}
}

// startCaptureOut is startCapture for outgoing packets only (-Q out): a
// multicast frame can come back to its source along the shared tree.
func startCaptureOut(t *testing.T, ns, dev, filter string) *capture {
	return startCapture(t, ns, dev+" -Q out", filter)
}

// TestMulticastModeSwitchIsPlanned: switching a network between
// multicast and ingress replication is a replace of its VXLAN device,
// shown by plan (nothing is applied here).
func TestMulticastModeSwitchIsPlanned(t *testing.T) {
	text := readIntent(t, "h1")
	const from = "replication: {multicast: 239.1.1.40}"
	if !strings.Contains(text, from) {
		t.Fatalf("lab intent h1 has no %q", from)
	}
	f := filepath.Join(t.TempDir(), "h1.yaml")
	if err := os.WriteFile(f, []byte(strings.Replace(text, from, "replication: ingress", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := evpnhost("h1", "plan", "-f", f)
	t.Logf("plan multicast -> ingress (exit %d):\n%s", code, out)
	if !strings.Contains(out, "replace link vx40: replication multicast group 239.1.1.40 dev lo ttl 64 -> ingress") {
		t.Errorf("plan does not show the replacement of vx40:\n%s", out)
	}
	if strings.Contains(out, "link vx10") {
		t.Errorf("plan touches other VNIs:\n%s", out)
	}
	if out, code := evpnhost("h1", "plan", "-f", intentPath("h1")); code != 0 || strings.Contains(out, "vx40") {
		t.Errorf("plan of the unchanged intent mentions vx40 (exit %d):\n%s", code, out)
	}
}

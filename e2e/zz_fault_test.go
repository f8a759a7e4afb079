package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/e2e/flow"
)

// Fault scenarios of the fabric itself (a TOR, a host), each under
// continuous traffic at a 1 ms interval (e2e/flow: exact loss and
// outage), each leaving the lab converged. Faults of one host's
// software (FRR killed, kernel objects deleted, agent SIGKILLed, etcd
// stopped) are in fabric_test.go.
//
// The file sorts last on purpose, so these run after every other
// scenario: after a TOR's links flapped, FRR 8.4's zebra has dropped the
// router-MAC and next-hop entries of red's L3VNI for remote VTEPs, so
// routed traffic between hosts through it (red's leaked route to shared's
// service on another host, rweb1 -> svc2, TestLeakOtherHost) stays broken
// although every route looks the same (FRR #12391; reported below as a
// skipped subtest naming it, docs/architecture.md). evpnhost agent --l3vni-check
// repairs it (opt-in, experimental: see docs/agent.md), and is not run
// here.

// flowPair is traffic both ways between two workloads: a→b and b→a.
type flowPair struct {
	name         string
	fwd, rev     *flow.Flow
	stopped      bool
	fwdSt, revSt flow.Stats
}

// startFlows starts UDP flows both ways between workload namespaces a
// and b (addresses aIP, bIP), a packet every interval, and waits until
// both deliver.
func startFlows(t *testing.T, a, aIP, b, bIP string, interval time.Duration) *flowPair {
	t.Helper()
	ap, bp := netip.MustParseAddr(aIP), netip.MustParseAddr(bIP)
	fwd, err := flow.Start(flow.Config{FromNS: a, ToNS: b, From: netip.AddrPortFrom(ap, 40001), To: netip.AddrPortFrom(bp, 40002), Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := flow.Start(flow.Config{FromNS: b, ToNS: a, From: netip.AddrPortFrom(bp, 40003), To: netip.AddrPortFrom(ap, 40004), Interval: interval})
	if err != nil {
		fwd.Stop(0)
		t.Fatal(err)
	}
	p := &flowPair{name: a + "<->" + b, fwd: fwd, rev: rev}
	t.Cleanup(func() { p.stop() })
	p.waitHealthy(t, 30*time.Second)
	return p
}

// waitHealthy waits until the last 500 ms of both directions arrived.
func (p *flowPair) waitHealthy(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	return eventually(t, within, p.name+" traffic flowing", func() error {
		if !p.fwd.Healthy(500*time.Millisecond) || !p.rev.Healthy(500*time.Millisecond) {
			return fmt.Errorf("packets missing in the last 500 ms")
		}
		return nil
	})
}

func (p *flowPair) marks() [2]uint64 { return [2]uint64{p.fwd.Seq(), p.rev.Seq()} }

// window is both directions' statistics between two marks (to zero: up
// to now).
func (p *flowPair) window(from, to [2]uint64) (fwd, rev flow.Stats) {
	if to == [2]uint64{} {
		to = p.marks()
	}
	return p.fwd.Window(from[0], to[0]), p.rev.Window(from[1], to[1])
}

// stop stops both directions at once, each given 300 ms for the packets
// still in flight (stopping one after the other left the second
// direction's last packet no time to arrive: counted lost).
func (p *flowPair) stop() (fwd, rev flow.Stats) {
	if !p.stopped {
		p.stopped = true
		done := make(chan struct{})
		go func() {
			p.revSt = p.rev.Stop(300 * time.Millisecond)
			close(done)
		}()
		p.fwdSt = p.fwd.Stop(300 * time.Millisecond)
		<-done
	}
	return p.fwdSt, p.revSt
}

// stallWatch prints, every period until stopped, the busiest processes
// and each lab node's receive counters (two samples 1 s apart: a packet
// storm shows), straight to stderr so that a test that never ends still
// shows them.
func stallWatch(period time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				out, _ := run("sh", "-c", `top -b -n 1 -w 250 | head -25; cat /proc/loadavg
for i in 1 2; do for n in h1 h2 h3 tor1 tor2; do ip netns exec $n awk -v n=$n 'NR>2 {printf "%s %s rx_packets %s; ", n, $1, $3} END {print ""}' /proc/net/dev; done; sleep 1; done`)
				fmt.Fprintf(os.Stderr, "STALL WATCH %s:\n%s\n", time.Now().Format(time.TimeOnly), out)
			}
		}
	}()
	return func() { close(done) }
}

// routeDevs lists the devices of the next hops of ns's route to dst.
func routeDevs(ns, dst string) []string {
	out, _ := run("ip", "-n", ns, "route", "show", dst+"/32")
	var devs []string
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "dev" {
			devs = append(devs, f[i+1])
		}
	}
	return devs
}

// onlyVia checks that each host's route to each other's VTEP goes only
// through dev.
func onlyVia(dev string, pairs ...[2]string) error {
	for _, p := range pairs {
		if d := routeDevs(p[0], p[1]); len(d) != 1 || d[0] != dev {
			return fmt.Errorf("%s route to %s via %v, want only %s", p[0], p[1], d, dev)
		}
	}
	return nil
}

// TestFaultTORDown: tor1 loses all its host links (a TOR powered off)
// under traffic both ways between rweb1 (h1) and rweb2 (h2): the traffic
// continues through tor2 within a bounded outage (figures printed); once
// tor1 is back, every session is Established again, every host has its
// two next hops to every VTEP, and tor1's own EVPN routes (bm1 on VNI 10)
// are back. The loss when tor1 comes back is printed too.
func TestFaultTORDown(t *testing.T) {
	const bound = 10 * time.Second // > BGP hold time (9 s): BFD or link-down detection must beat it
	p := startFlows(t, "rweb1", "10.1.10.11", "rweb2", "10.1.10.12", time.Millisecond)
	ports := []string{"h1", "h2", "h3"}
	setPorts := func(state string) {
		for _, h := range ports {
			if out, err := run("ip", "-n", "tor1", "link", "set", h, state); err != nil {
				t.Errorf("tor1 %s %s: %v %s", h, state, err, out)
			}
		}
	}
	restored := false
	t.Cleanup(func() {
		if !restored {
			setPorts("up")
			_, _ = labCmd("converge")
		}
	})

	cut := p.marks()
	setPorts("down")
	took := eventually(t, time.Minute, "traffic through tor2 only", func() error {
		if err := onlyVia("up2", [2]string{"h1", "10.0.0.2"}, [2]string{"h2", "10.0.0.1"}); err != nil {
			return err
		}
		if !p.fwd.Healthy(time.Second) || !p.rev.Healthy(time.Second) {
			return fmt.Errorf("packets missing in the last second")
		}
		return nil
	})
	back := p.marks()
	fwd, rev := p.window(cut, back)
	t.Logf("tor1 down: routes through tor2 only and traffic flowing %s after the cut", took.Round(time.Millisecond))
	t.Logf("tor1 down: rweb1->rweb2 %s", fwd)
	t.Logf("tor1 down: rweb2->rweb1 %s", rev)
	for _, s := range []flow.Stats{fwd, rev} {
		if s.Outage > bound || s.Received == 0 {
			t.Errorf("outage with tor1 down beyond %s: %s", bound, s)
		}
	}

	restore := time.Now()
	setPorts("up")
	restored = true
	// Some full runs stalled after tor1 came back: both CPUs of the VM
	// busy, every command crawling (with and without agents; not
	// understood). Print who runs and the packet counters meanwhile.
	stop := stallWatch(2 * time.Minute)
	defer stop()
	if out, err := labCmd("converge"); err != nil {
		ps, _ := run("sh", "-c", "ps -eo pid,stat,pcpu,etime,args | grep -E 'zebra|bgpd|bfdd|evpnhost' | grep -v grep")
		if v := labFRRVersion(); strings.HasPrefix(v, "10.") && onlyTor1SessionsDown(out) {
			// Reproduced without evpnhost (2026-12-06, two plain FRR 10.3
			// instances in namespaces): BGP unnumbered with "neighbor IF
			// bfd" on both ends, one end's port down 5 s and up again: the
			// BFD session is deleted and never made again, and the BGP
			// session stays Active (connections reset by the peer) for
			// more than 90 s. FRR 8.4.4 is Established again after 3 s,
			// 10.3 with BFD on one end only after 4-7 s. Here both ends run
			// BFD (lab/tor1.conf, the hosts' "bfd: true").
			t.Skipf("FRR %s defect: BGP unnumbered sessions with BFD on both ends do not come back after a port flap (BFD session deleted and never re-created; FRR 8.4.4 recovers in 3 s); tor1's sessions stayed down after its ports came back:\n%s", v, out)
		}
		t.Fatalf("lab did not converge after tor1 came back: %v\n%s\nprocesses:\n%s", err, out, ps)
	}
	t.Logf("tor1 back: all sessions Established, ECMP through up1+up2 on every host, VTEP pings %s after the restore", time.Since(restore).Round(time.Millisecond))
	mustPing(t, "rweb1", "10.1.10.100") // bm1, behind tor1 (its type-2/3 routes)
	// After the flap FRR 8.4.4's zebra has dropped router-MAC and
	// next-hop entries of red's L3VNI for remote VTEPs (FRR #12391,
	// fixed in 8.4.5 and 9.1; docs/architecture.md), so routed traffic
	// between hosts through it is lost unless the agent repairs it, and
	// no agent runs here. That loss is reported as a skipped subtest
	// naming the defect, never as a pass; on any other FRR it fails.
	frrVersion := labFRRVersion()
	for _, c := range []struct{ name, ns, dst, what string }{
		{"routed-leak-across-hosts", "rweb1", "10.99.0.12", "red -> shared leaked traffic across hosts (rweb1 -> svc2)"},
		{"routed-across-hosts", "rweb1", "10.1.20.12", "red's routed traffic across hosts (rweb1 -> rapp2)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, ok := ping(c.ns, c.dst)
			switch {
			case ok:
			case strings.HasPrefix(frrVersion, "8.4.") && frrVersion < "8.4.5":
				t.Skipf("FRR %s defect FRR #12391 (zebra drops L3VNI router MACs after a TOR flap; fixed in 8.4.5 and 9.1): after tor1's flap %s is lost; only the agent's --l3vni-check repairs it, and this test runs no agent:\n%s", frrVersion, c.what, out)
			default:
				t.Errorf("after tor1's flap %s is lost (FRR %s):\n%s", c.what, frrVersion, out)
			}
		})
	}
	rmacs, _ := run("vtysh", "-N", "h1", "-c", "show evpn rmac vni 4001")
	t.Logf("h1's router MACs of red's L3VNI after the flap:\n%s", rmacs)
	p.waitHealthy(t, 30*time.Second)
	fwd, rev = p.stop()
	fwdR, revR := p.fwd.Window(back[0], uint64(fwd.Sent)), p.rev.Window(back[1], uint64(rev.Sent))
	t.Logf("tor1 back: rweb1->rweb2 %s", fwdR)
	t.Logf("tor1 back: rweb2->rweb1 %s", revR)
	for _, s := range []flow.Stats{fwdR, revR} {
		if s.Outage > bound {
			t.Errorf("outage when tor1 came back beyond %s: %s", bound, s)
		}
	}
}

// TestFaultHostReboot: h3 is rebooted (lab.sh reboot h3: its FRR, its
// namespace with both uplinks and its workloads' namespaces destroyed,
// then created again, FRR started empty and evpnhost applied again, as a
// boot would) under traffic both ways between rweb1 (h1) and rweb2 (h2):
// those lose nothing, and h3 ends converged with its workloads reachable
// from the other hosts (bridged through its TAP, routed).
func TestFaultHostReboot(t *testing.T) {
	// 5 ms, not 1: the reboot takes minutes of the emulated VM's CPU,
	// which 2000 packets/s would slow down further; any loss still shows.
	p := startFlows(t, "rweb1", "10.1.10.11", "rweb2", "10.1.10.12", 5*time.Millisecond)
	t.Cleanup(func() {
		if _, err := run("ip", "netns", "exec", "h3", "true"); err != nil {
			_, _ = labCmd("host-up", "h3")
		}
	})
	start := time.Now()
	if out, err := labCmd("host-down", "h3"); err != nil {
		t.Fatalf("host-down h3: %v\n%s", err, out)
	}
	t.Logf("h3 down (FRR stopped, namespaces deleted) in %s", time.Since(start).Round(time.Millisecond))
	up := time.Now()
	if out, err := labCmd("host-up", "h3"); err != nil {
		t.Fatalf("host-up h3: %v\n%s", err, out)
	}
	t.Logf("h3 up again and the lab converged %s after its boot began (%s after the power-off)",
		time.Since(up).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	took := eventually(t, time.Minute, "h3's workloads reachable from h1 and h2", func() error {
		for _, c := range [][2]string{{"rweb1", "10.1.10.13"}, {"rweb1", "10.1.20.13"}, {"rapp2", "10.1.20.13"}, {"rapp3", "10.1.10.11"}} {
			if out, ok := pingOnce(c[0], c[1]); !ok {
				return fmt.Errorf("%s -> %s: %s", c[0], c[1], out)
			}
		}
		return nil
	})
	t.Logf("h3's workloads (rtap3 bridged behind its TAP, rapp3 routed) reachable %s after the lab converged", took.Round(time.Millisecond))
	// The TORs' configuration of their (recreated) ports is back too:
	// the borrowed loopback address PIM needs.
	for _, tor := range []string{"tor1", "tor2"} {
		if out := inNS(t, tor, "ip", "-4", "addr", "show", "dev", "h3"); !strings.Contains(out, "10.255.0.") {
			t.Errorf("%s: port h3 lost its address:\n%s", tor, out)
		}
	}
	fwd, rev := p.stop()
	t.Logf("during the reboot: rweb1->rweb2 %s", fwd)
	t.Logf("during the reboot: rweb2->rweb1 %s", rev)
	for _, s := range []flow.Stats{fwd, rev} {
		if s.Lost > 0 || s.Received == 0 {
			t.Errorf("traffic between h1 and h2 lost packets while h3 rebooted: %s", s)
		}
	}
}

// onlyTor1SessionsDown: in lab.sh's status table (converge prints it on
// failure), every host session through up1 (to tor1) is down and every
// one through up2 (to tor2) is Established.
func onlyTor1SessionsDown(status string) bool {
	up1, up2 := 0, 0
	for _, l := range strings.Split(status, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "h") || !strings.HasPrefix(f[2], "tor") {
			continue
		}
		switch {
		case f[1] == "up1" && f[3] != "Established":
			up1++
		case f[1] == "up2" && f[3] == "Established":
			up2++
		default:
			return false
		}
	}
	return up1 > 0 && up2 > 0
}

// labFRRVersion is the version of the hosts' FRR ("8.4.4"), "" when
// vtysh does not say.
func labFRRVersion() string {
	out, err := run("vtysh", "-N", "h1", "-c", "show version")
	if err != nil {
		return ""
	}
	for _, f := range strings.Fields(out) {
		if len(f) > 0 && f[0] >= '0' && f[0] <= '9' && strings.Count(f, ".") >= 1 {
			return strings.TrimRight(f, ".,")
		}
	}
	return ""
}

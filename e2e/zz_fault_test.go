package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/evpnhost/evpnhost/e2e/flow"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/frrctl"
)

// Fault scenarios of the fabric itself (a TOR, a host), each under
// continuous traffic at a 1 ms interval (e2e/flow: exact loss and
// outage), each run as production runs: every host's agent on the
// fabric intent in etcd (startFabric), with its defaults; each leaves
// the lab converged. Faults of one host's software (FRR killed, kernel
// objects deleted, agent SIGKILLed, etcd stopped) are in fabric_test.go.
//
// The file sorts last on purpose, so these run after every other
// scenario. After a TOR's links flapped, FRR 8.4.4's zebra drops the
// router-MAC and next-hop entries of the L3VNIs for remote VTEPs (FRR
// #12391, fixed in 8.4.5 and 9.1; docs/architecture.md), so routed
// traffic between hosts stays broken although every route looks the
// same, unless the agent repairs it, which it does by default on such an
// FRR. E2E_L3VNI_CHECK=0 runs the agents without the repair (to measure
// what it saves): the routed subtests are then skipped naming the FRR
// version and FRR #12391 on an FRR that has it, and fail on any other.

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
	return startFlowsPort(t, a, aIP, b, bIP, interval, 40001)
}

// startFlowsPort is startFlows on UDP ports port..port+3 (two pairs from
// one namespace need different ports).
func startFlowsPort(t *testing.T, a, aIP, b, bIP string, interval time.Duration, port uint16) *flowPair {
	t.Helper()
	ap, bp := netip.MustParseAddr(aIP), netip.MustParseAddr(bIP)
	fwd, err := flow.Start(flow.Config{FromNS: a, ToNS: b, From: netip.AddrPortFrom(ap, port), To: netip.AddrPortFrom(bp, port+1), Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := flow.Start(flow.Config{FromNS: b, ToNS: a, From: netip.AddrPortFrom(bp, port+2), To: netip.AddrPortFrom(ap, port+3), Interval: interval})
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

// healthyWithin waits up to within until the last 500 ms of both
// directions arrived, and says how long that took (ok false: not within).
func (p *flowPair) healthyWithin(within time.Duration) (time.Duration, bool) {
	start := time.Now()
	for {
		if p.fwd.Healthy(500*time.Millisecond) && p.rev.Healthy(500*time.Millisecond) {
			return time.Since(start), true
		}
		if time.Since(start) >= within {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
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

// stallWatch prints, every period until stopped, the busiest processes,
// the lab interfaces that moved the most packets in one second (rx+tx
// per second, of every node: a storm or loop shows which links carry
// it) and each node's multicast routes (a PIM loop would show there),
// straight to stderr so that a test that never ends still shows them.
func stallWatch(first, period time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTimer(first)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				out, _ := run("sh", "-c", `top -b -n 1 -w 250 | head -20; cat /proc/loadavg
for n in h1 h2 h3 tor1 tor2 bm1 ext; do ip netns exec $n sh -c 'cat /proc/net/dev; sleep 1; cat /proc/net/dev' |
	sed 's/:/ /' | awk -v n=$n '$2 ~ /^[0-9]+$/ { k = n "/" $1; if (k in a) print $3 + $11 - a[k], k; else a[k] = $3 + $11 }' & done > /tmp/stall.rates; wait
echo "packets/s (rx+tx), busiest interfaces:"; sort -rn /tmp/stall.rates | head -8
for n in h1 h2 h3 tor1 tor2; do echo "$n mroutes: $(ip -n $n mroute show 2>/dev/null | wc -l)"; done`)
				fmt.Fprintf(os.Stderr, "STALL WATCH %s:\n%s\n", time.Now().Format(time.TimeOnly), out)
				t.Reset(period)
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
// under traffic both ways between rweb1 (h1) and rweb2 (h2), bridged,
// and between rweb1 and rapp2 (h2), routed through red's L3VNI, with the
// agents running: the traffic continues through tor2 within a bounded
// outage (figures printed); once tor1 is back, every session is
// Established again, every host has its two next hops to every VTEP,
// tor1's own EVPN routes (bm1 on VNI 10) are back, and bridged and
// routed traffic between hosts (also red's route leaked from shared)
// flows within the bounds below. The loss when tor1 comes back is
// printed and bounded too.
func TestFaultTORDown(t *testing.T) {
	// Bridged: > BGP hold time (9 s): BFD or link-down detection must
	// beat it. Measured in the VM: 0.2-0.6 s (406 / 624 ms on 2026-12-06).
	const bound = 10 * time.Second
	// Routed, through the L3VNI: on FRR 8.4.4 the agent's repair must
	// first see the lost router MACs at two checks 2 s apart and
	// install them; measured in the VM: routed traffic back 0.7-3.1 s
	// after the cut in earlier runs, 3.5 s (outage 3.2 / 3.1 s) on
	// 2026-12-06 (docs/benchmarks.md); 15 s leaves room for a slow
	// emulated VM.
	const routedBound = 15 * time.Second
	f := startFabric(t)
	v := labFRR(t)
	repairOff := os.Getenv("E2E_L3VNI_CHECK") == "0"
	// knownLoss skips a routed subtest whose traffic is lost on an FRR
	// with FRR #12391 when the agents run without their repair.
	knownLoss := func(t *testing.T, what string) {
		t.Helper()
		if holes := l3vniHoles(t, "h1"); len(holes) == 0 {
			t.Errorf("evpnhost status on h1 flags no lost router MAC")
		} else {
			t.Logf("evpnhost status on h1 flags: %v", holes)
		}
		if frr.HasRMACLoss(v) && repairOff {
			t.Skipf("FRR %s defect %s: %s; the agents run with --l3vni-check 0 (E2E_L3VNI_CHECK=0), so nothing repairs it", v, frr.RMACLossIssue, what)
		}
		t.Errorf("FRR %s: %s (agent repair %s)", v, what, map[bool]string{true: "off", false: "on"}[repairOff])
	}
	p := startFlows(t, "rweb1", "10.1.10.11", "rweb2", "10.1.10.12", time.Millisecond)
	r := startFlowsPort(t, "rweb1", "10.1.10.11", "rapp2", "10.1.20.12", 5*time.Millisecond, 40011)
	r.name = "routed " + r.name
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

	cut, rcut := p.marks(), r.marks()
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
	rtook, rok := r.healthyWithin(routedBound - min(routedBound, took))
	rback := r.marks()
	rfwd, rrev := r.window(rcut, rback)
	t.Logf("tor1 down: routed rweb1<->rapp2 flowing: %v, %s after the cut; rweb1->rapp2 %s; rapp2->rweb1 %s",
		rok, (took + rtook).Round(time.Millisecond), rfwd, rrev)
	t.Run("routed-across-hosts-tor1-down", func(t *testing.T) {
		switch {
		case !rok:
			knownLoss(t, fmt.Sprintf("with tor1 down red's routed traffic across hosts (rweb1 <-> rapp2) is not back within %s of the cut: %s; %s", routedBound, rfwd, rrev))
		default:
			for _, s := range []flow.Stats{rfwd, rrev} {
				if s.Outage > routedBound {
					t.Errorf("routed outage with tor1 down beyond %s: %s", routedBound, s)
				}
			}
		}
	})

	restore := time.Now()
	setPorts("up")
	restored = true
	// Some full runs stalled after tor1 came back: both CPUs of the VM
	// busy, every command crawling. Print who runs and the packet
	// counters meanwhile.
	stop := stallWatch(45*time.Second, time.Minute)
	defer stop()
	if out, err := labCmd("converge"); err != nil {
		ps, _ := run("sh", "-c", "ps -eo pid,stat,pcpu,etime,args | grep -E 'zebra|bgpd|bfdd|evpnhost' | grep -v grep")
		if frr.HasBFDStall(v) && os.Getenv("E2E_BFD_REPAIR") == "0" && onlyTor1SessionsDown(out) {
			// Reproduced without evpnhost (2026-12-06, two plain FRR 10.3
			// instances in namespaces): BGP unnumbered with "neighbor IF
			// bfd" on both ends, one end's port down 5 s and up again: the
			// BFD session is deleted and never made again, and the BGP
			// session stays Active (connections reset by the peer) for
			// more than 90 s. FRR 8.4.4 is Established again after 3 s,
			// 10.3 with BFD on one end only after 4-7 s. Here both ends run
			// BFD (lab/tor1.conf, the hosts' "bfd: true").
			// The agents take BFD off a neighbor whose session stays
			// down while its link is up, until it is Established
			// (--bfd-repair, on by default on FRR 10); E2E_BFD_REPAIR=0
			// runs them without it.
			t.Skipf("FRR %s defect: %s; FRR 8.4.4 recovers in 3 s; the agents run with --bfd-repair 0 (E2E_BFD_REPAIR=0), so nothing repairs it; tor1's sessions stayed down after its ports came back:\n%s", v, frr.BFDStallIssue, out)
		}
		t.Fatalf("lab did not converge after tor1 came back: %v\n%s\nprocesses:\n%s\nagents' BFD repairs: %s", err, out, ps, strings.Join(f.bfdRepairs(), "; "))
	}
	conv := time.Since(restore)
	t.Logf("tor1 back: all sessions Established, ECMP through up1+up2 on every host, VTEP pings %s after the restore", conv.Round(time.Millisecond))
	mustPing(t, "rweb1", "10.1.10.100") // bm1, behind tor1 (its type-2/3 routes)
	rtook, rok = r.healthyWithin(max(0, routedBound-time.Since(restore)))
	t.Logf("tor1 back: routed rweb1<->rapp2 flowing: %v, %s after the restore", rok, time.Since(restore).Round(time.Millisecond))
	t.Run("routed-across-hosts", func(t *testing.T) {
		if !rok {
			knownLoss(t, fmt.Sprintf("after tor1's flap red's routed traffic across hosts (rweb1 <-> rapp2) is not back within %s of the restore", routedBound))
		}
	})
	t.Run("routed-leak-across-hosts", func(t *testing.T) {
		var out string
		ok := false
		for start := time.Now(); !ok && time.Since(start) < routedBound; {
			out, ok = ping("rweb1", "10.99.0.12")
		}
		if !ok {
			knownLoss(t, "after tor1's flap red -> shared leaked traffic across hosts (rweb1 -> svc2) is lost:\n"+out)
		}
	})
	rmacs, _ := run("vtysh", "-N", "h1", "-c", "show evpn rmac vni 4001")
	t.Logf("h1's router MACs of red's L3VNI after the flap:\n%s", rmacs)
	t.Logf("agents' L3VNI repairs: %s", strings.Join(f.repairs(), "; "))
	t.Logf("agents' BFD repairs: %s", strings.Join(f.bfdRepairs(), "; "))
	if rok {
		// Repaired: status agrees (it checks the kernel, not FRR).
		eventually(t, routedBound, "evpnhost status on h1 and h2 flags no lost router MAC", func() error {
			for _, h := range []string{"h1", "h2"} {
				if holes := l3vniHoles(t, h); len(holes) > 0 {
					return fmt.Errorf("%s: %v", h, holes)
				}
			}
			return nil
		})
	}
	p.waitHealthy(t, 30*time.Second)
	fwd, rev = p.stop()
	rfwd, rrev = r.stop()
	fwdR, revR := p.fwd.Window(back[0], uint64(fwd.Sent)), p.rev.Window(back[1], uint64(rev.Sent))
	t.Logf("tor1 back: rweb1->rweb2 %s", fwdR)
	t.Logf("tor1 back: rweb2->rweb1 %s", revR)
	for _, s := range []flow.Stats{fwdR, revR} {
		if s.Outage > bound {
			t.Errorf("outage when tor1 came back beyond %s: %s", bound, s)
		}
	}
	if rok {
		rfwdR, rrevR := r.fwd.Window(rback[0], uint64(rfwd.Sent)), r.rev.Window(rback[1], uint64(rrev.Sent))
		t.Logf("tor1 back: routed rweb1->rapp2 %s", rfwdR)
		t.Logf("tor1 back: routed rapp2->rweb1 %s", rrevR)
		for _, s := range []flow.Stats{rfwdR, rrevR} {
			if s.Outage > routedBound {
				t.Errorf("routed outage when tor1 came back beyond %s: %s", routedBound, s)
			}
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
	f := startFabric(t)
	p := startFlows(t, "rweb1", "10.1.10.11", "rweb2", "10.1.10.12", 5*time.Millisecond)
	t.Cleanup(func() {
		if _, err := run("ip", "netns", "exec", "h3", "true"); err != nil {
			_, _ = labCmd("host-up", "h3")
		}
	})
	start := time.Now()
	// The power-off ends h3's agent with the rest of h3 (an agent left
	// running would hold the destroyed namespace); the boot starts it
	// again after lab.sh's apply, as systemd would after the network,
	// and only then does the lab wait for convergence: on FRR 10 the
	// agent's BFD repair is what brings h3's sessions up (the TORs' bfdd
	// fails to make a session on a port whose link-local address is not
	// ready yet and never retries; seen on 10.3: h3's sessions Active
	// for minutes without an agent).
	f.stopAgent("h3")
	if out, err := labCmd("host-down", "h3"); err != nil {
		t.Fatalf("host-down h3: %v\n%s", err, out)
	}
	t.Logf("h3 down (FRR stopped, namespaces deleted) in %s", time.Since(start).Round(time.Millisecond))
	up := time.Now()
	if out, err := labCmd("host-up", "h3", "--no-converge"); err != nil {
		t.Fatalf("host-up h3: %v\n%s", err, out)
	}
	f.startAgent("h3")
	if out, err := labCmd("converge"); err != nil {
		t.Fatalf("lab did not converge after h3's boot: %v\n%s", err, out)
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
	conv := f.converged(3 * time.Minute)
	t.Logf("h3's agent converged on the fabric intent %s later", conv.Round(time.Millisecond))
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

// l3vniHoles are the next hops evpnhost status --json on host says lost
// their router MAC.
func l3vniHoles(t *testing.T, host string) []string {
	t.Helper()
	out, code := evpnhost(host, "status", "--json")
	var st struct {
		Holes []struct {
			Tenant, VTEP, Problem string
		} `json:"l3vniHoles"`
	}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&st); err != nil {
		t.Fatalf("%s: evpnhost status --json: exit %d: %v\n%s", host, code, err, out)
	}
	var hs []string
	for _, h := range st.Holes {
		hs = append(hs, h.Tenant+" via "+h.VTEP+": "+h.Problem)
	}
	return hs
}

// labFRR is the version of the hosts' FRR (8.4.4 on Debian 12).
func labFRR(t *testing.T) frr.Version {
	t.Helper()
	out, err := run("vtysh", "-N", "h1", "-c", "show version")
	if err != nil {
		t.Fatalf("h1's FRR version: %v: %s", err, out)
	}
	v, err := frr.ParseVersion(out)
	if err != nil {
		t.Fatalf("h1's FRR version: %v", err)
	}
	return v
}

// frrPIDs fingerprints host's FRR daemons (their pids).
func frrPIDs(host string) string {
	out, _ := run("sh", "-c", "cat /run/frr/"+host+"/*.pid 2>/dev/null | sort -n | tr '\\n' ' '")
	return strings.TrimSpace(out)
}

// logSince is host's agent log from offset on, and its current size.
func (f *fabricLab) logSince(host string, off int64) (string, int64) {
	return fileSince(filepath.Join(f.logDir, host+".log"), off)
}

// fileSince is file path from offset on (all of it if it is shorter than
// off: rewritten), and its current size; "", 0 if it cannot be read.
func fileSince(path string, off int64) (string, int64) {
	b, _ := os.ReadFile(path)
	if off > int64(len(b)) {
		off = 0
	}
	return string(b[off:]), int64(len(b))
}

// recovered waits up to wait (from now: the lab has converged) until
// bridged (p) and routed (r) traffic flow again, and checks each
// direction's outage from the marks on (a window ending now) against
// bound. A routed loss on an FRR with FRR #12391 while the agents run
// without their repair (E2E_L3VNI_CHECK=0) is a skipped subtest naming
// it.
func recovered(t *testing.T, what string, p, r *flowPair, pm, rm [2]uint64, wait, bound time.Duration) {
	t.Helper()
	since := time.Now()
	_, pok := p.healthyWithin(wait)
	pAt := time.Since(since)
	_, rok := r.healthyWithin(max(0, wait-time.Since(since)))
	rAt := time.Since(since)
	fwd, rev := p.window(pm, [2]uint64{})
	rfwd, rrev := r.window(rm, [2]uint64{})
	t.Logf("%s: bridged flowing %v (%s after the lab converged), rweb1->rweb2 %s; rweb2->rweb1 %s", what, pok, pAt.Round(time.Millisecond), fwd, rev)
	t.Logf("%s: routed flowing %v (%s after the lab converged), rweb1->rapp2 %s; rapp2->rweb1 %s", what, rok, rAt.Round(time.Millisecond), rfwd, rrev)
	if !pok {
		t.Errorf("%s: bridged traffic rweb1<->rweb2 not back within %s of the lab's convergence", what, wait)
	}
	for _, s := range []flow.Stats{fwd, rev} {
		if s.Outage > bound {
			t.Errorf("%s: bridged outage beyond %s: %s", what, bound, s)
		}
	}
	t.Run("routed-across-hosts", func(t *testing.T) {
		if !rok {
			v := labFRR(t)
			if frr.HasRMACLoss(v) && os.Getenv("E2E_L3VNI_CHECK") == "0" {
				t.Skipf("FRR %s defect %s: %s: routed traffic lost; the agents run with --l3vni-check 0 (E2E_L3VNI_CHECK=0)", v, frr.RMACLossIssue, what)
			}
			t.Fatalf("%s: routed traffic rweb1<->rapp2 not back within %s of the lab's convergence (FRR %s)", what, wait, v)
		}
		for _, s := range []flow.Stats{rfwd, rrev} {
			if s.Outage > bound {
				t.Errorf("%s: routed outage beyond %s: %s", what, bound, s)
			}
		}
	})
}

// TestFaultUplinkFlaps: both uplinks of h1 lose their carrier and get
// it back five times within a few seconds (the TOR ends of both links set
// down and up, 300 ms apart: a failing optic, a TOR rebooting its ports)
// under bridged and routed traffic from rweb1 (h1) to h2, with the agents
// running. Then: the lab converges, bridged and routed traffic flows again
// within the bound, h1's FRR daemons are the processes they were (no
// restart), and h1's agent did not turn the burst of link events into a
// storm: it still runs, restored or restarted nothing, and applied at
// most a handful of times (its debounce coalesces the events).
func TestFaultUplinkFlaps(t *testing.T) {
	// The longest outage per direction, the burst included. Measured in
	// the VM (2026-12-06, FRR 8.4.4) when the five flaps still took 17 s
	// (ip processes): 18.4 s bridged, 17.7 s routed, the lab converged
	// 29 s after the last flap; 60 s leaves room for a slow emulated VM.
	const bound = 60 * time.Second
	const maxApplies = 10
	f := startFabric(t)
	p := startFlows(t, "rweb1", "10.1.10.11", "rweb2", "10.1.10.12", time.Millisecond)
	r := startFlowsPort(t, "rweb1", "10.1.10.11", "rapp2", "10.1.20.12", 5*time.Millisecond, 40011)
	r.name = "routed " + r.name
	// Netlink handles in the TORs' namespaces: a flap is two netlink
	// requests, not two processes (each takes a good part of a second
	// under the VM's emulation, which would stretch the burst).
	type port struct {
		tor  string
		h    *netlink.Handle
		link netlink.Link
	}
	var ports []port
	for _, tor := range []string{"tor1", "tor2"} {
		ns, err := netns.GetFromName(tor)
		if err != nil {
			t.Fatalf("%s: %v", tor, err)
		}
		h, err := netlink.NewHandleAt(ns)
		ns.Close()
		if err != nil {
			t.Fatalf("%s: %v", tor, err)
		}
		t.Cleanup(h.Close)
		l, err := h.LinkByName("h1")
		if err != nil {
			t.Fatalf("%s port h1: %v", tor, err)
		}
		ports = append(ports, port{tor, h, l})
	}
	set := func(state string) {
		for _, p := range ports {
			f := p.h.LinkSetDown
			if state == "up" {
				f = p.h.LinkSetUp
			}
			if err := f(p.link); err != nil {
				t.Errorf("%s port h1 %s: %v", p.tor, state, err)
			}
		}
	}
	t.Cleanup(func() { set("up") })
	pids, agent := frrPIDs("h1"), f.agents["h1"]
	_, off := f.logSince("h1", 0)
	pm, rm := p.marks(), r.marks()
	start := time.Now()
	for i := 0; i < 5; i++ {
		set("down")
		time.Sleep(300 * time.Millisecond) // the fault's own rhythm, not a wait
		set("up")
		time.Sleep(300 * time.Millisecond)
	}
	last := time.Now()
	t.Logf("5 flaps of both of h1's uplinks in %s", last.Sub(start).Round(time.Millisecond))
	if out, err := labCmd("converge"); err != nil {
		t.Fatalf("lab did not converge after the flaps: %v\n%s", err, out)
	}
	t.Logf("lab converged %s after the last flap", time.Since(last).Round(time.Millisecond))
	recovered(t, "after the flaps", p, r, pm, rm, 15*time.Second, bound)
	if got := frrPIDs("h1"); got != pids {
		t.Errorf("h1's FRR daemons restarted during the flaps: pids %s, were %s", got, pids)
	}
	if syscall.Kill(agent, 0) != nil {
		t.Errorf("h1's agent (pid %d) no longer runs", agent)
	}
	f.converged(time.Minute)
	log, _ := f.logSince("h1", off)
	applies := strings.Count(log, "op=apply")
	t.Logf("h1's agent during and after the flaps: %d applies, %d L3VNI repairs", applies, strings.Count(log, "op=l3vni-repair"))
	if applies > maxApplies {
		t.Errorf("h1's agent applied %d times for 5 flaps (more than %d: no dampening):\n%s", applies, maxApplies, lastLinesOf(log, 40))
	}
	for _, bad := range []string{"op=frr-restore", "op=frr-restart"} {
		if strings.Contains(log, bad) {
			t.Errorf("h1's agent logged %s during link flaps:\n%s", bad, lastLinesOf(log, 40))
		}
	}
}

// TestFaultTORFRRRestart: tor1's FRR restarts (lab.sh frr-restart tor1:
// every daemon stopped and started, lab/tor1.conf loaded again; its links
// stay up, its BGP sessions reset) under bridged and routed traffic
// between h1 and h2, with the agents running: traffic moves to tor2 and
// back, the lab converges, bm1 behind tor1 is reachable again (tor1's
// EVPN routes are back) and both flows are back within the bound.
func TestFaultTORFRRRestart(t *testing.T) {
	// The longest outage per direction (sessions reset, routes through
	// tor1 withdrawn and learnt again, router MACs FRR #12391 dropped
	// installed again by the agents). Measured in the VM (2026-12-06,
	// FRR 8.4.4): 187 / 185 ms bridged, 194 ms / 3.1 s routed; 15 s as for
	// routed traffic in TestFaultTORDown.
	const bound = 15 * time.Second
	f := startFabric(t)
	p := startFlows(t, "rweb1", "10.1.10.11", "rweb2", "10.1.10.12", time.Millisecond)
	r := startFlowsPort(t, "rweb1", "10.1.10.11", "rapp2", "10.1.20.12", 5*time.Millisecond, 40011)
	r.name = "routed " + r.name
	pm, rm := p.marks(), r.marks()
	start := time.Now()
	if out, err := labCmd("frr-restart", "tor1"); err != nil {
		t.Fatalf("frr-restart tor1: %v\n%s", err, out)
	}
	t.Logf("tor1's FRR restarted in %s", time.Since(start).Round(time.Millisecond))
	if out, err := labCmd("converge"); err != nil {
		t.Fatalf("lab did not converge after tor1's FRR restarted: %v\n%s", err, out)
	}
	t.Logf("lab converged %s after the restart began", time.Since(start).Round(time.Millisecond))
	mustPing(t, "rweb1", "10.1.10.100") // bm1, behind tor1 (its type-2/3 routes)
	recovered(t, "tor1's FRR restarted", p, r, pm, rm, 15*time.Second, bound)
	t.Logf("agents' L3VNI repairs: %s", strings.Join(f.repairs(), "; "))
}

// TestFaultUplinkMTU: h1's up1 gets an MTU of 1400 (one path of the
// underlay lowered below the 1500 that VXLAN needs for the networks'
// 1450-byte frames, e.g. a link reconfigured by hand), with the agents
// running. Small packets still pass and BGP stays up, so nothing else
// shows it; large frames through that path are fragmented or dropped.
// evpnhost must say so: `evpnhost status` on h1 flags up1 (and only
// up1; the other hosts nothing), h1's agent logs op=uplink-mtu for it;
// once the MTU is back, the status is clean and the agent logs that too.
func TestFaultUplinkMTU(t *testing.T) {
	const within = time.Minute // the agent checks after each reconcile: events, 30 s resync
	f := startFabric(t)
	_, off := f.logSince("h1", 0)
	restore := func() {
		if out, err := run("ip", "-n", "h1", "link", "set", "up1", "mtu", "1500"); err != nil {
			t.Errorf("h1 up1 mtu 1500: %v %s", err, out)
		}
	}
	t.Cleanup(restore)
	if out, err := run("ip", "-n", "h1", "link", "set", "up1", "mtu", "1400"); err != nil {
		t.Fatalf("h1 up1 mtu 1400: %v %s", err, out)
	}
	uplinkIssues := func(host string) []string {
		out, code := evpnhost(host, "status", "--json")
		var st struct {
			Uplinks []struct {
				Uplink    string
				MTU, Need int
			} `json:"uplinkMTU"`
		}
		if err := json.NewDecoder(strings.NewReader(out)).Decode(&st); err != nil {
			t.Fatalf("%s: evpnhost status --json: exit %d: %v\n%s", host, code, err, out)
		}
		var us []string
		for _, u := range st.Uplinks {
			us = append(us, fmt.Sprintf("%s %d<%d", u.Uplink, u.MTU, u.Need))
		}
		return us
	}
	if got := uplinkIssues("h1"); len(got) != 1 || got[0] != "up1 1400<1500" {
		t.Errorf("h1 status --json uplinkMTU = %v, want [up1 1400<1500]", got)
	}
	for _, h := range []string{"h2", "h3"} {
		if got := uplinkIssues(h); len(got) != 0 {
			t.Errorf("%s status --json uplinkMTU = %v, want none", h, got)
		}
	}
	out, _ := evpnhost("h1", "status")
	if !strings.Contains(out, "warning: uplink up1: MTU 1400 is below the 1500 VXLAN needs") {
		t.Errorf("h1 status does not warn about up1:\n%s", out)
	}
	took := eventually(t, within, "h1's agent logs op=uplink-mtu for up1", func() error {
		if log, _ := f.logSince("h1", off); !strings.Contains(log, "op=uplink-mtu uplink=up1 mtu=1400 need=1500") {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
	t.Logf("h1's agent logged up1's MTU %s after it was lowered", took.Round(time.Millisecond))
	// What it means: small packets pass, full-size ones (1450 bytes, DF)
	// may not, depending on the path ECMP hashes them to (printed only).
	mustPing(t, "rweb1", "10.1.10.12")
	big, _ := run("ip", "netns", "exec", "rweb1", "ping", "-n", "-c", "10", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1422", "10.1.10.12")
	t.Logf("rweb1 -> rweb2, 1450-byte packets with up1 at 1400:\n%s", lastLinesOf(big, 2))

	_, off = f.logSince("h1", 0)
	restore()
	if got := uplinkIssues("h1"); len(got) != 0 {
		t.Errorf("h1 status --json uplinkMTU = %v after the MTU is back, want none", got)
	}
	eventually(t, within, "h1's agent logs up1's MTU is large enough again", func() error {
		if log, _ := f.logSince("h1", off); !strings.Contains(log, "op=uplink-mtu uplink=up1 was=1400 need=1500") {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
	if out, err := labCmd("converge"); err != nil {
		t.Fatalf("lab did not converge after up1's MTU was restored: %v\n%s", err, out)
	}
	// The VXLAN device answered the large packets with "fragmentation
	// needed" (ping's errors above): rweb1 keeps that path MTU for 10
	// min unless flushed.
	if out, err := run("ip", "-n", "rweb1", "route", "flush", "cache"); err != nil {
		t.Logf("rweb1: ip route flush cache: %v %s", err, out)
	}
	mustPing(t, "rweb1", "10.1.10.12", "-M", "do", "-s", "1422")
}

// TestFaultDaemonKilledAlone: on FRR >= 9, mgmtd and then zebra of h2 are
// killed (SIGKILL, as a crash) and started again alone, as watchfrr does
// (without its `vtysh -b`), with the agents running. The agent must see
// the new daemon under the old ones, load the saved configuration into
// it (op=frr-restore, not a restart of FRR), every line evpnhost owns
// must be in the running configuration again (the L3VNIs' `vni` lines
// among them), and bridged and routed traffic through h2 must work.
func TestFaultDaemonKilledAlone(t *testing.T) {
	if v := labFRR(t); !v.AtLeast(9, 0) {
		t.Skipf("FRR %s: mgmtd exists from FRR 9; bgpd killed alone is TestFabricAgents/DriftRepaired", v)
	}
	// Measured in the VM (FRR 10.3, 2026-12-07): see the log lines below.
	const bound = 2 * time.Minute
	f := startFabric(t)
	const ns = "h2"
	for _, d := range []string{"mgmtd", "zebra"} {
		t.Run(d, func(t *testing.T) {
			f.t = t
			f.quiet(ns, 4*time.Second)
			_, off := f.logSince(ns, 0)
			bgpdBefore := frrctl.NewInstance(ns).PIDs("bgpd")
			killDaemon(t, ns, d)
			startDaemonAlone(t, ns, d)
			start := time.Now()
			var restored time.Duration
			took := eventually(t, bound, d+" killed alone repaired (owned lines back, traffic through h2)", func() error {
				// The agent's restore first: on 10.3 the owned lines can
				// still show (from the daemons that kept them) and traffic
				// still pass before it (seen once: 2.5 s after the start,
				// the restore not yet logged).
				if restored == 0 {
					if l, _ := f.logSince(ns, off); strings.Contains(l, "op=frr-restore") {
						restored = time.Since(start)
					} else {
						return fmt.Errorf("h2's agent has not logged op=frr-restore yet")
					}
				}
				running, err := run("vtysh", "-N", ns, "-c", "show running-config")
				if err != nil {
					return fmt.Errorf("show running-config: %v", err)
				}
				for _, want := range []string{"vrf red\n vni 4001", "vrf blue\n vni 4002", "no zebra nexthop kernel enable"} {
					if !strings.Contains(running, want) {
						return fmt.Errorf("running config lacks %q", want)
					}
				}
				if out, ok := pingOnce("rweb1", "10.1.10.12"); !ok {
					return fmt.Errorf("bridged rweb1 -> rweb2: %s", out)
				}
				if out, ok := pingOnce("rapp2", "10.1.10.11"); !ok {
					return fmt.Errorf("routed rapp2 -> rweb1: %s", out)
				}
				return nil
			})
			l, _ := f.logSince(ns, off)
			t.Logf("%s killed and started alone: owned lines back and traffic through h2 %s after the start (agent's restore logged after %s)",
				d, took.Round(time.Millisecond), restored.Round(time.Millisecond))
			if !strings.Contains(l, "op=frr-restore") || strings.Contains(l, "op=frr-restart") {
				t.Errorf("h2's agent did not restore %s alone (want op=frr-restore, no op=frr-restart):\n%s", d, lastLinesOf(l, 30))
			}
			if now := frrctl.NewInstance(ns).PIDs("bgpd"); now != bgpdBefore {
				t.Errorf("bgpd was restarted or died (%s -> %s): %s alone should have been repaired", bgpdBefore, now, d)
			}
		})
	}
}

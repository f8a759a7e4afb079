package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/e2e/bench"
)

// Convergence benchmark (issue #8, `make bench`; docs/benchmarks.md):
// TestBenchConvergence runs only when EVPNHOST_BENCH_CONVERGENCE names the
// JSON file to write; `make test` skips it. EVPNHOST_BENCH_REPS sets the
// repetitions (default 5). Scenarios, each repeated:
//
//   - calibration: one vtysh command and one start of the evpnhost binary,
//     what a process start costs on this machine (under TCG emulation it
//     dominates everything else).
//   - attach: a VM-like workload (veth, MAC and IP given) is attached to
//     red/web on h1 with `evpnhost attach`; rweb2 on h2 pings it every
//     10 ms the whole time. Measured from the start of the attach: the
//     first echo reply, and h2's EVPN type-2 route for the workload's MAC.
//   - move: the workload moves to h3 with the same MAC and IP (detached and
//     its interface deleted on h1, a new one attached on h3): the outage
//     seen by the pinger (last reply before to first reply after), the
//     time from the start of the attach on h3 to the first reply, and to
//     h2's type-2 route pointing at h3.
//   - network added: with the three hosts' agents on one etcd, network
//     blue/db with a workload on h1 and one on h3 is put into the fabric
//     intent; time until the workloads reach each other; then removed,
//     time until no host has a trace of it (fabricNetworkCycle).
//
// The pinger has a static neighbor entry for the workload, so ARP retries
// do not blur the figures; until h2 has learnt the MAC, its frames are
// flooded (ingress replication) and reach the workload as soon as h1's
// bridge port exists, which is what "reachable" means for the attach. The
// move is decided by EVPN: h2 keeps sending to h1 until the type-2 route
// from h3 (MAC mobility) replaces h1's.

const (
	convNS   = "conv1"
	convMAC  = "02:00:00:01:10:77"
	convIP   = "10.1.10.77"
	convFrom = "rweb2" // on h2
)

func TestBenchConvergence(t *testing.T) {
	out := os.Getenv("EVPNHOST_BENCH_CONVERGENCE")
	if out == "" {
		t.Skip("benchmark: set EVPNHOST_BENCH_CONVERGENCE=results.json (make bench does)")
	}
	reps := 5
	if v, err := strconv.Atoi(os.Getenv("EVPNHOST_BENCH_REPS")); err == nil && v > 0 {
		reps = v
	}
	res := bench.ConvResults{Host: os.Getenv("EVPNHOST_BENCH_HOST"), Started: time.Now().UTC(), Reps: reps}
	record := func(scenario, metric string, d time.Duration) {
		res.Samples = append(res.Samples, bench.ConvSample{Scenario: scenario, Metric: metric, Seconds: d.Seconds()})
		t.Logf("%s: %s %s", scenario, metric, d.Round(time.Millisecond))
	}

	// Calibration: what starting a process costs here. Under emulation it
	// dominates the figures below (every apply runs vtysh; attach is a
	// process of its own).
	for i := 0; i < reps; i++ {
		start := time.Now()
		if out, err := run("vtysh", "-N", "h1", "-c", "show version"); err != nil {
			t.Fatalf("vtysh: %v\n%s", err, out)
		}
		record("calibration", "one vtysh command (show version)", time.Since(start))
		start = time.Now()
		if out, err := run(evpnhostBin(), "--help"); err != nil {
			t.Fatalf("evpnhost --help: %v\n%s", err, out)
		}
		record("calibration", "evpnhost --help (process start)", time.Since(start))
	}

	// The pinger knows the workload's MAC (no ARP), and pings it every
	// 10 ms for the whole benchmark.
	inNS(t, convFrom, "ip", "neigh", "replace", convIP, "lladdr", convMAC, "dev", "eth0", "nud", "permanent")
	t.Cleanup(func() { _, _ = run("ip", "-n", convFrom, "neigh", "del", convIP, "dev", "eth0") })
	if _, err := run("ip", "netns", "add", convNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = run("ip", "netns", "del", convNS) })
	inNS(t, convNS, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	inNS(t, convNS, "ip", "link", "set", "lo", "up")

	for i := 0; i < reps; i++ {
		t.Run(fmt.Sprintf("attach-move-%d", i+1), func(t *testing.T) {
			p := startPinger(t, convFrom, convIP)
			defer p.stop()
			t.Cleanup(func() { // after a failure too: the next repetition starts clean
				for _, h := range []string{"h1", "h3"} {
					_, _ = evpnhost(h, "detach", "--interface", convNS)
					_, _ = run("ip", "-n", h, "link", "del", convNS)
				}
			})
			// Attach on h1.
			plugWorkload(t, "h1")
			start := time.Now()
			if out, code := evpnhost("h1", "attach", "--network", "red/web", "--interface", convNS, "--mac", convMAC, "--ip", convIP); code != 0 {
				t.Fatalf("attach on h1: exit %d\n%s", code, out)
			}
			record("attach", "attach command", time.Since(start))
			first := p.firstReplyAfter(t, start, 30*time.Second)
			record("attach", "first reply from h2", first.Sub(start))
			record("attach", "type-2 route at h2", waitType2(t, "10.0.0.1", start))

			// Move to h3.
			start = time.Now()
			if out, code := evpnhost("h1", "detach", "--interface", convNS); code != 0 {
				t.Fatalf("detach on h1: exit %d\n%s", code, out)
			}
			inNS(t, "h1", "ip", "link", "del", convNS)
			plugWorkload(t, "h3")
			attach := time.Now()
			if out, code := evpnhost("h3", "attach", "--network", "red/web", "--interface", convNS, "--mac", convMAC, "--ip", convIP); code != 0 {
				t.Fatalf("attach on h3: exit %d\n%s", code, out)
			}
			back := p.firstReplyAfter(t, attach, 30*time.Second)
			record("move", "first reply after the attach on h3", back.Sub(attach))
			record("move", "type-2 route at h2 points to h3", waitType2(t, "10.0.0.3", attach))
			gap := p.longestGap(start, back)
			record("move", "outage at the pinger (longest gap between replies)", gap)

			// Back to nothing: detach from h3.
			if out, code := evpnhost("h3", "detach", "--interface", convNS); code != 0 {
				t.Fatalf("detach on h3: exit %d\n%s", code, out)
			}
			inNS(t, "h3", "ip", "link", "del", convNS)
			eventually(t, 30*time.Second, "h2 forgets the workload", func() error {
				if out, _ := run("vtysh", "-N", "h2", "-c", "show evpn mac vni 10 mac "+convMAC); strings.Contains(out, "Remote VTEP") {
					return fmt.Errorf("h2 still has it: %s", out)
				}
				return nil
			})
		})
	}

	f := startFabric(t)
	for i := 0; i < reps; i++ {
		t.Run(fmt.Sprintf("network-%d", i+1), func(t *testing.T) {
			f.t = t
			added, written, removed := fabricNetworkCycle(f)
			record("network (agents + etcd)", "added: workloads on it reach each other across hosts, from the first put", added)
			record("network (agents + etcd)", "added: the same, from the intent complete in etcd (end of the last put)", written)
			record("network (agents + etcd)", "removed: gone from every host", removed)
		})
	}
	f.t = t

	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// plugWorkload gives the workload namespace a new eth0 whose peer is the
// interface convNS in host ns (a VM started on that host).
func plugWorkload(t *testing.T, host string) {
	t.Helper()
	inNS(t, host, "ip", "link", "add", convNS, "mtu", "1450", "type", "veth", "peer", "name", "eth0", "netns", convNS)
	inNS(t, convNS, "ip", "link", "set", "eth0", "address", convMAC)
	inNS(t, convNS, "ip", "addr", "add", convIP+"/24", "dev", "eth0")
	inNS(t, convNS, "ip", "link", "set", "eth0", "up")
	inNS(t, convNS, "ip", "route", "replace", "default", "via", "10.1.10.1")
	inNS(t, host, "ip", "link", "set", convNS, "up")
}

// waitType2 polls h2's EVPN MAC table until the workload's MAC is remote
// behind vtep, and returns the time since start.
func waitType2(t *testing.T, vtep string, start time.Time) time.Duration {
	t.Helper()
	var took time.Duration
	eventually(t, 30*time.Second, "h2's type-2 route for the workload via "+vtep, func() error {
		out, _ := run("vtysh", "-N", "h2", "-c", "show evpn mac vni 10 mac "+convMAC)
		if !strings.Contains(out, "Remote VTEP: "+vtep) {
			return fmt.Errorf("%s", out)
		}
		took = time.Since(start)
		return nil
	})
	return took
}

// pinger is `ping -D -i 0.01` from a namespace; it keeps the time of
// every echo reply.
type pinger struct {
	cmd *exec.Cmd

	replies chan time.Time
	seen    []time.Time
}

var pingReply = regexp.MustCompile(`^\[(\d+)\.(\d+)\] \d+ bytes from`)

func startPinger(t *testing.T, ns, ip string) *pinger {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "ping", "-D", "-n", "-i", "0.01", ip)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pinger{cmd: cmd, replies: make(chan time.Time, 1<<16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			m := pingReply.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			sec, _ := strconv.ParseInt(m[1], 10, 64)
			usec, _ := strconv.ParseInt((m[2] + "000000")[:6], 10, 64)
			p.replies <- time.Unix(sec, usec*1000)
		}
		close(p.replies)
	}()
	return p
}

func (p *pinger) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	_ = p.cmd.Wait()
}

// firstReplyAfter returns the time of the first reply after start.
func (p *pinger) firstReplyAfter(t *testing.T, start time.Time, within time.Duration) time.Time {
	t.Helper()
	for _, r := range p.seen {
		if r.After(start) {
			return r
		}
	}
	deadline := time.After(within)
	for {
		select {
		case r, ok := <-p.replies:
			if !ok {
				t.Fatal("ping ended")
			}
			p.seen = append(p.seen, r)
			if r.After(start) {
				return r
			}
		case <-deadline:
			t.Fatalf("no echo reply within %s", within)
		}
	}
}

// longestGap is the longest time between consecutive replies in [from,
// to], counting from the last reply before from.
func (p *pinger) longestGap(from, to time.Time) time.Duration {
	for {
		select {
		case r, ok := <-p.replies:
			if ok {
				p.seen = append(p.seen, r)
				continue
			}
		default:
		}
		break
	}
	seen := slices.Clone(p.seen)
	slices.SortFunc(seen, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	prev := time.Time{}
	for _, r := range seen {
		if r.After(to) {
			break
		}
		if !prev.IsZero() && r.After(from) && r.Sub(prev) > gap {
			gap = r.Sub(prev)
		}
		prev = r
	}
	return gap
}

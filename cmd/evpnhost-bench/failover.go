package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/e2e/flow"
)

// FailoverResults is what `failover` measured on the lab.
type FailoverResults struct {
	Started  string        `json:"started"`
	Machine  Machine       `json:"machine"`
	Duration int64         `json:"duration_s"`
	Reps     int           `json:"reps"`
	Interval time.Duration `json:"interval_ns"`
	// SilentAtOnce: the silent failure's two ends were cut at once (from
	// one process); earlier runs cut h1's end first, with tc.
	SilentAtOnce bool           `json:"silent_at_once"`
	Cases        []FailoverCase `json:"cases"`
}

// FailoverCase is one kind of failure, with or without BFD.
type FailoverCase struct {
	Failure string        `json:"failure"` // link-down, silent
	BFD     bool          `json:"bfd"`
	Reps    []FailoverRep `json:"reps"`
}

// FailoverRep is one cut and restore of h1's uplink that its traffic to
// h2 leaves through. Index 0 of each pair is rweb1→rweb2, 1 rweb2→rweb1.
type FailoverRep struct {
	Link     string        `json:"link"`    // the uplink cut, e.g. up2
	RevIn    string        `json:"rev_in"`  // the uplink h2→h1 traffic came in through before the cut
	Cut      [2]flow.Stats `json:"cut"`     // from the cut until routes avoid it and traffic flows
	Restore  [2]flow.Stats `json:"restore"` // from the restore until both next hops are back
	CutConv  time.Duration `json:"cut_ns"`  // until the routes avoided the link (as polled)
	BackConv time.Duration `json:"back_ns"` // until the routes used it again
	Error    string        `json:"error,omitempty"`
}

const (
	failoverBegin = "<!-- failover-bench:begin (make bench, evpnhost-bench failover) -->"
	failoverEnd   = "<!-- failover-bench:end -->"
)

// failoverCmd runs on a lab built by lab/lab.sh up (scripts/bench.sh
// does that in the VM): traffic both ways between rweb1 (h1) and rweb2
// (h2) at a fixed interval, h1's uplink that carries rweb1→rweb2 cut and
// restored, with BFD on the hosts and TORs and without.
func failoverCmd(args []string) error {
	fs := flag.NewFlagSet("failover", flag.ExitOnError)
	out := fs.String("out", "bin/bench/failover.json", "results file")
	md := fs.String("md", "docs/benchmarks.md", "report: its failover section is replaced (appended when missing)")
	reps := fs.Int("reps", 5, "repetitions per case; figures are medians")
	interval := fs.Duration("interval", time.Millisecond, "between packets")
	failures := fs.String("failures", "link-down,silent", "kinds of failure")
	from := fs.String("from", "", "only render the report from this results file (no measurement)")
	_ = fs.Parse(args)
	if *from != "" {
		var res FailoverResults
		if err := readResults(*from, &res); err != nil {
			return err
		}
		return writeFailoverReport(*md, res)
	}
	if os.Geteuid() != 0 {
		return errors.New("failover: needs root")
	}
	if _, err := os.Stat("/run/netns/rweb1"); err != nil {
		return errors.New("failover: no lab (run lab/lab.sh up first)")
	}
	t0 := time.Now()
	res := FailoverResults{Started: t0.UTC().Format(time.RFC3339), Machine: machine(), Reps: *reps, Interval: *interval, SilentAtOnce: true}
	defer func() {
		// the lab's own state: BFD on everywhere
		if err := setBFD(true); err != nil {
			fmt.Fprintln(os.Stderr, "failover: restoring BFD:", err)
		}
	}()
	for _, bfd := range []bool{true, false} {
		fmt.Printf("== failover: BFD %v on hosts and TORs\n", bfd)
		if err := setBFD(bfd); err != nil {
			return err
		}
		for _, kind := range strings.Split(*failures, ",") {
			c := FailoverCase{Failure: kind, BFD: bfd}
			for i := 0; i < *reps; i++ {
				fmt.Printf("== failover: %s, BFD %v, repetition %d/%d\n", kind, bfd, i+1, *reps)
				r := failoverRep(kind, bfd, *interval)
				if r.Error != "" {
					fmt.Printf("   error: %s\n", r.Error)
				} else {
					fmt.Printf("   cut %s (h2→h1 came in through %s): detected after %s; →: %s; ←: %s\n", r.Link, r.RevIn, r.CutConv.Round(time.Millisecond), r.Cut[0], r.Cut[1])
					fmt.Printf("   restored: next hop back after %s; →: %s; ←: %s\n", r.BackConv.Round(time.Millisecond), r.Restore[0], r.Restore[1])
				}
				c.Reps = append(c.Reps, r)
			}
			res.Cases = append(res.Cases, c)
		}
	}
	res.Duration = int64(time.Since(t0) / time.Second)
	data, _ := json.MarshalIndent(res, "", "  ")
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	return writeFailoverReport(*md, res)
}

func cmdOut(name string, args ...string) (string, error) {
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// setBFD turns BFD on or off on the three hosts (evpnhost apply of the
// lab intent with host.bfd changed) and on both TORs (their peer group),
// then waits for the lab to converge and, with BFD, for h1's two BFD
// sessions to be up.
func setBFD(on bool) error {
	dir, err := os.MkdirTemp("", "evpnhost-bench-failover")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, h := range []string{"h1", "h2", "h3"} {
		b, err := os.ReadFile(filepath.Join("lab", "intents", h+".yaml"))
		if err != nil {
			return err
		}
		text := strings.Replace(string(b), "bfd: true", fmt.Sprintf("bfd: %v", on), 1)
		p := filepath.Join(dir, h+".yaml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = cmdOut("ip", "netns", "exec", h, "bin/evpnhost", "apply", "-f", p, "--frr-instance", h)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	no := "no "
	if on {
		no = ""
	}
	for _, tor := range []string{"tor1", "tor2"} {
		if _, err := cmdOut("vtysh", "-N", tor, "-c", "configure terminal", "-c", "router bgp 65000", "-c", no+"neighbor hosts bfd"); err != nil {
			return err
		}
	}
	if _, err := cmdOut("lab/lab.sh", "converge"); err != nil {
		return err
	}
	if on {
		return poll(2*time.Minute, "h1's BFD sessions up", bfdUp)
	}
	return nil
}

// bfdUp: h1 has two BFD peers, both up.
func bfdUp() error {
	out, err := cmdOut("vtysh", "-N", "h1", "-c", "show bfd peers json")
	if err != nil {
		return err
	}
	var peers []struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return err
	}
	up := 0
	for _, p := range peers {
		if p.Status == "up" {
			up++
		}
	}
	if up != 2 {
		return fmt.Errorf("%d of %d BFD peers up", up, len(peers))
	}
	return nil
}

func poll(within time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s: %w", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nextHops lists the devices of ns's route to dst.
func nextHops(ns, dst string) []string {
	out, _ := exec.Command("ip", "-n", ns, "route", "show", dst+"/32").Output()
	var devs []string
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "dev" {
			devs = append(devs, f[i+1])
		}
	}
	slices.Sort(devs)
	return devs
}

// packets is the tx (or rx) packet counter of a device.
func packets(ns, dev string, tx bool) uint64 {
	out, err := exec.Command("ip", "-n", ns, "-j", "-s", "link", "show", "dev", dev).Output()
	if err != nil {
		return 0
	}
	var l []struct {
		Stats struct {
			RX struct{ Packets uint64 } `json:"rx"`
			TX struct{ Packets uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	if json.Unmarshal(out, &l) != nil || len(l) == 0 {
		return 0
	}
	if tx {
		return l[0].Stats.TX.Packets
	}
	return l[0].Stats.RX.Packets
}

// established: every BGP session of ns is Established.
func established(ns string) error {
	out, err := cmdOut("vtysh", "-N", ns, "-c", "show bgp summary json")
	if err != nil {
		return err
	}
	var s struct {
		IPv4 struct {
			Peers map[string]struct {
				State string `json:"state"`
			} `json:"peers"`
		} `json:"ipv4Unicast"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return err
	}
	if len(s.IPv4.Peers) != 2 {
		return fmt.Errorf("%s: %d sessions", ns, len(s.IPv4.Peers))
	}
	for p, v := range s.IPv4.Peers {
		if v.State != "Established" {
			return fmt.Errorf("%s: %s %s", ns, p, v.State)
		}
	}
	return nil
}

var torOf = map[string]string{"up1": "tor1", "up2": "tor2"}

// fault is one way of making h1's uplink fail.
type fault interface {
	cut() error
	restore() error
	close()
}

// newFault prepares kind on h1's uplink up: link-down sets it down on h1
// (the TOR port loses its carrier: both ends see it at once); silent drops
// every frame at both ends, carrier up (a grey failure: only BGP's hold
// timer or BFD notice it).
func newFault(kind, up string) (fault, error) {
	switch kind {
	case "link-down":
		return linkDown(up), nil
	case "silent":
		return newSilent([2]string{"h1", up}, [2]string{torOf[up], "h1"})
	}
	return nil, fmt.Errorf("unknown failure %q", kind)
}

type linkDown string

func (l linkDown) cut() error {
	_, err := cmdOut("ip", "-n", "h1", "link", "set", string(l), "down")
	return err
}

func (l linkDown) restore() error {
	_, err := cmdOut("ip", "-n", "h1", "link", "set", string(l), "up")
	return err
}

func (linkDown) close() {}

// silent drops what enters both ends of a wire with a tc ingress
// matchall filter at each. The qdiscs are set up beforehand, and a pass
// filter is added and removed once (the kernel loads the modules then);
// cut adds both drop filters from this one process, microseconds apart:
// one end first would start the other side's detection early and hide
// part of the outage. (A matchall filter cannot be changed in place.)
type silent struct {
	ends []silentEnd
}

type silentEnd struct {
	h    *netlink.Handle
	link netlink.Link
}

func matchAll(link netlink.Link, action netlink.TcAct) *netlink.MatchAll {
	return &netlink.MatchAll{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS, Handle: 1, Priority: 1, Protocol: unix.ETH_P_ALL},
		Actions:     []netlink.Action{&netlink.GenericAction{ActionAttrs: netlink.ActionAttrs{Action: action}}},
	}
}

func newSilent(ends ...[2]string) (*silent, error) {
	s := &silent{}
	for _, e := range ends {
		nsh, err := netns.GetFromName(e[0])
		if err != nil {
			s.close()
			return nil, err
		}
		h, err := netlink.NewHandleAt(nsh)
		nsh.Close()
		if err != nil {
			s.close()
			return nil, err
		}
		link, err := h.LinkByName(e[1])
		if err != nil {
			h.Close()
			s.close()
			return nil, fmt.Errorf("%s %s: %w", e[0], e[1], err)
		}
		s.ends = append(s.ends, silentEnd{h, link})
		q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_INGRESS, Handle: netlink.MakeHandle(0xffff, 0)}}
		if err := h.QdiscAdd(q); err != nil {
			s.close()
			return nil, fmt.Errorf("%s %s: ingress qdisc: %w", e[0], e[1], err)
		}
		if err := h.FilterAdd(matchAll(link, netlink.TC_ACT_OK)); err != nil {
			s.close()
			return nil, fmt.Errorf("%s %s: matchall filter: %w", e[0], e[1], err)
		}
		if err := h.FilterDel(matchAll(link, netlink.TC_ACT_OK)); err != nil {
			s.close()
			return nil, fmt.Errorf("%s %s: matchall filter: %w", e[0], e[1], err)
		}
	}
	return s, nil
}

func (s *silent) cut() error {
	var errs []error
	for _, e := range s.ends {
		if err := e.h.FilterAdd(matchAll(e.link, netlink.TC_ACT_SHOT)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *silent) restore() error {
	var errs []error
	for _, e := range s.ends {
		if err := e.h.FilterDel(matchAll(e.link, netlink.TC_ACT_SHOT)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// close removes the qdiscs (and their filters).
func (s *silent) close() {
	for _, e := range s.ends {
		_ = e.h.QdiscDel(&netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: e.link.Attrs().Index, Parent: netlink.HANDLE_INGRESS, Handle: netlink.MakeHandle(0xffff, 0)}})
		e.h.Close()
	}
	s.ends = nil
}

func failoverRep(kind string, bfd bool, interval time.Duration) (r FailoverRep) {
	fail := func(err error) FailoverRep { r.Error = err.Error(); return r }
	// Both next hops and sessions there (and BFD up) before each cut.
	if err := poll(2*time.Minute, "h1 converged", func() error {
		if err := established("h1"); err != nil {
			return err
		}
		for _, p := range [][2]string{{"h1", "10.0.0.2"}, {"h2", "10.0.0.1"}} {
			if d := nextHops(p[0], p[1]); len(d) != 2 {
				return fmt.Errorf("%s route to %s via %v", p[0], p[1], d)
			}
		}
		if bfd {
			return bfdUp()
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	a, b := netip.MustParseAddr("10.1.10.11"), netip.MustParseAddr("10.1.10.12")
	tx1, tx2, rx1, rx2 := packets("h1", "up1", true), packets("h1", "up2", true), packets("h1", "up1", false), packets("h1", "up2", false)
	fwd, err := flow.Start(flow.Config{FromNS: "rweb1", ToNS: "rweb2", From: netip.AddrPortFrom(a, 41001), To: netip.AddrPortFrom(b, 41002), Interval: interval})
	if err != nil {
		return fail(err)
	}
	defer fwd.Stop(0)
	rev, err := flow.Start(flow.Config{FromNS: "rweb2", ToNS: "rweb1", From: netip.AddrPortFrom(b, 41003), To: netip.AddrPortFrom(a, 41004), Interval: interval})
	if err != nil {
		return fail(err)
	}
	defer rev.Stop(0)
	healthy := func(d time.Duration) error {
		if !fwd.Healthy(d) || !rev.Healthy(d) {
			return fmt.Errorf("packets missing in the last %s", d)
		}
		return nil
	}
	if err := poll(30*time.Second, "traffic flowing", func() error { return healthy(time.Second) }); err != nil {
		return fail(err)
	}
	// The path: h1 hashes its VXLAN traffic to h2 onto one uplink (the
	// outer header is the same for every packet); that one is cut.
	d1, d2 := packets("h1", "up1", true)-tx1, packets("h1", "up2", true)-tx2
	r.Link = "up1"
	if d2 > d1 {
		r.Link = "up2"
	}
	r.RevIn = "up1"
	if packets("h1", "up2", false)-rx2 > packets("h1", "up1", false)-rx1 {
		r.RevIn = "up2"
	}
	other := map[string]string{"up1": "up2", "up2": "up1"}[r.Link]

	flt, err := newFault(kind, r.Link)
	if err != nil {
		return fail(err)
	}
	defer flt.close()
	m0 := [2]uint64{fwd.Seq(), rev.Seq()}
	t := time.Now()
	if err := flt.cut(); err != nil {
		_ = flt.restore()
		return fail(err)
	}
	err = poll(time.Minute, "routes avoid the cut link", func() error {
		for _, p := range [][2]string{{"h1", "10.0.0.2"}, {"h2", "10.0.0.1"}} {
			if d := nextHops(p[0], p[1]); len(d) != 1 || d[0] != other {
				return fmt.Errorf("%s route to %s via %v", p[0], p[1], d)
			}
		}
		return nil
	})
	r.CutConv = time.Since(t)
	if err == nil {
		err = poll(time.Minute, "traffic flowing after the cut", func() error { return healthy(time.Second) })
	}
	m1 := [2]uint64{fwd.Seq(), rev.Seq()}
	if rerr := flt.restore(); err != nil || rerr != nil {
		return fail(errors.Join(err, rerr))
	}
	t = time.Now()
	err = poll(2*time.Minute, "both next hops back", func() error {
		for _, p := range [][2]string{{"h1", "10.0.0.2"}, {"h2", "10.0.0.1"}} {
			if d := nextHops(p[0], p[1]); len(d) != 2 {
				return fmt.Errorf("%s route to %s via %v", p[0], p[1], d)
			}
		}
		return established("h1")
	})
	r.BackConv = time.Since(t)
	if err != nil {
		return fail(err)
	}
	// Traffic moves back onto the link once the next hop is back: give it
	// two seconds there.
	back := time.Now()
	if err := poll(time.Minute, "traffic flowing after the restore", func() error {
		if time.Since(back) < 2*time.Second {
			return errors.New("settling")
		}
		return healthy(2 * time.Second)
	}); err != nil {
		return fail(err)
	}
	m2 := [2]uint64{fwd.Seq(), rev.Seq()}
	st := [2]*flow.Flow{fwd, rev}
	fwd.Stop(300 * time.Millisecond)
	rev.Stop(0)
	for i, f := range st {
		r.Cut[i] = f.Window(m0[i], m1[i])
		r.Restore[i] = f.Window(m1[i], m2[i])
	}
	return r
}

func writeFailoverReport(md string, res FailoverResults) error {
	section := failoverMarkdown(res)
	fmt.Print(section)
	if md == "" {
		return nil
	}
	old, _ := os.ReadFile(md)
	return os.WriteFile(md, []byte(replaceMarked(string(old), failoverBegin, failoverEnd, section)), 0o644)
}

func durText(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d)/1e6)
}

func failoverMarkdown(r FailoverResults) string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	w("## Failover: an uplink cut under traffic\n\n")
	where := "natively"
	if r.Machine.VM {
		where = "inside the QEMU VM of `e2e/vm/run.sh` (TCG emulation: every process and every packet runs 5–20x slower than natively, so detection and convergence times are inflated, and the BFD timers, unchanged, run on an emulated clock that the daemons do not always keep up with)"
	}
	w("Run started %s, %s, kernel %s, %d cores", r.Started, where, r.Machine.Kernel, r.Machine.Cores)
	if r.Machine.Host != "" {
		w(" (host machine: %s)", r.Machine.Host)
	}
	w("; took %d s. `evpnhost-bench failover` (part of `make bench`, `BENCH_FAILOVER=0` skips it) on the lab of `lab/lab.sh up`.\n\n", r.Duration)
	w("UDP traffic both ways between `rweb1` (h1) and `rweb2` (h2), one packet every %s each way with a sequence number (`e2e/flow`): ", r.Interval)
	w("*lost* counts the missing sequence numbers, *outage* is the longest run of them (from the send time of its first packet to that of the next one received). ")
	w("h1's uplink that its VXLAN traffic to h2 leaves through (one of the two: the outer header is the same for every packet, so h1's ECMP hash puts it all on one) is cut, then restored:\n\n")
	w("- **link-down**: `ip link set upN down` on h1; the TOR's end of the veth loses its carrier, so both ends notice at once;\n")
	if r.SilentAtOnce {
		w("- **silent**: every frame dropped at both ends (tc ingress `matchall` drop filters added by one process, microseconds apart), carrier up: a grey failure that only BGP's hold timer (9 s, FRR's datacenter defaults: keepalive 3 s) or BFD (300 ms × 3) detects.\n\n")
	} else {
		w("- **silent**: every frame dropped at both ends (tc ingress `matchall action drop`), carrier up: a grey failure that only BGP's hold timer (9 s, FRR's datacenter defaults: keepalive 3 s) or BFD (300 ms × 3) detects. **Caveat of this run:** one `tc` command per end, h1's first and the TOR's some 100 ms later (process starts under emulation): h1's detection started before the h1→h2 traffic was lost, so the *silent, BFD on* outages are understated (the BFD detection, column *detection*, is the better figure there). Later versions cut both ends at once.\n\n")
	}
	w("BFD on: `host.bfd: true` in the intents (evpnhost renders `neighbor UPLINK bfd` on each uplink) and `neighbor hosts bfd` on the TORs, as the lab ships; off: `host.bfd: false` and `no neighbor hosts bfd`. ")
	w("*Cut* counts from the cut until both h1's route to h2's VTEP and h2's route to h1's avoid the link and traffic has flowed for a second; *restore* from the restore until both routes have their two next hops again, h1's sessions are Established and traffic has flowed two more seconds. ")
	w("Each figure is the median of %d repetitions (→ = rweb1→rweb2, ← = rweb2→rweb1; the ← traffic only crosses the cut link when h2's hash sent it through that TOR, column *← via cut link*). Detection: when the polled routes avoided the link (polling adds up to ~0.1 s, more under emulation).\n\n", r.Reps)
	w("| failure | BFD | event | lost → | lost ← | outage → | outage ← | outage per repetition (max of → and ←) | detection / next hop back | ← via cut link |\n|---|---|---|---:|---:|---:|---:|---|---:|---|\n")
	for _, c := range r.Cases {
		var ok []FailoverRep
		var errs []string
		for _, rep := range c.Reps {
			if rep.Error != "" {
				errs = append(errs, rep.Error)
				continue
			}
			ok = append(ok, rep)
		}
		bfd := "off"
		if c.BFD {
			bfd = "on"
		}
		if len(ok) == 0 {
			w("| %s | %s | – | error: %s | | | | | | |\n", c.Failure, bfd, oneLine(strings.Join(errs, "; ")))
			continue
		}
		for _, ev := range []string{"cut", "restore"} {
			get := func(rep FailoverRep) [2]flow.Stats {
				if ev == "cut" {
					return rep.Cut
				}
				return rep.Restore
			}
			var lf, lr, of, or, conv []float64
			var each []string
			revCut := 0
			for _, rep := range ok {
				s := get(rep)
				lf, lr = append(lf, float64(s[0].Lost)), append(lr, float64(s[1].Lost))
				of, or = append(of, float64(s[0].Outage)), append(or, float64(s[1].Outage))
				each = append(each, durText(max(s[0].Outage, s[1].Outage)))
				if ev == "cut" {
					conv = append(conv, float64(rep.CutConv))
				} else {
					conv = append(conv, float64(rep.BackConv))
				}
				if rep.RevIn == rep.Link {
					revCut++
				}
			}
			w("| %s | %s | %s | %.0f | %.0f | %s | %s | %s | %s | %d of %d |\n", c.Failure, bfd, ev,
				medianOf(lf), medianOf(lr), durText(time.Duration(medianOf(of))), durText(time.Duration(medianOf(or))),
				strings.Join(each, ", "), durText(time.Duration(medianOf(conv))), revCut, len(ok))
		}
		if len(errs) > 0 {
			w("| %s | %s | errors | %d of %d repetitions failed: %s | | | | | | |\n", c.Failure, bfd, len(errs), len(c.Reps), oneLine(strings.Join(errs, "; ")))
		}
	}
	var rates []float64
	for _, c := range r.Cases {
		for _, rep := range c.Reps {
			if rep.Error == "" {
				rates = append(rates, rep.Cut[0].Rate)
			}
		}
	}
	if len(rates) > 0 {
		w("\nThe sender kept a median of %.0f packets/s (target %.0f; below it, the emulated machine could not keep the pace: outages are measured in time, so they stay comparable).\n", medianOf(rates), float64(time.Second)/float64(r.Interval))
	}
	w("\n")
	return b.String()
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/policy"
	policyebpf "github.com/evpnhost/evpnhost/internal/policy/ebpf"
	"github.com/evpnhost/evpnhost/internal/policy/nft"
	"github.com/evpnhost/evpnhost/internal/policy/policytest"
)

// PolicyResults is what `policy` measured.
type PolicyResults struct {
	Started  string         `json:"started"`
	Machine  Machine        `json:"machine"`
	Duration int64          `json:"duration_s"`
	Seconds  int            `json:"iperf_seconds"`
	Rounds   int            `json:"rounds"`
	Connects int            `json:"connects"`
	Cases    []PolicyResult `json:"cases"`
}

// PolicyResult is one backend at one rule count (backend "none": no policy).
type PolicyResult struct {
	Backend    string  `json:"backend"`
	Rules      int     `json:"rules"`
	Gbps       float64 `json:"gbps"`       // iperf3, one TCP stream, received
	PingUs     float64 `json:"ping_us"`    // mean RTT of an established ICMP flow
	ConnectUs  float64 `json:"connect_us"` // mean TCP connect time, a new flow each
	ApplyMs    float64 `json:"apply_ms"`   // Backend.Apply of the rule set
	AllowedCnt uint64  `json:"allowed"`    // counter of the allowing rule after the case
	ProgNs     float64 `json:"prog_ns"`    // eBPF: mean run time of the two programs per packet during iperf3
	Error      string  `json:"error,omitempty"`
}

// policyIntent has n rules, default deny: n-1 rules that the benchmark's
// traffic never matches (a /32 source each, to the server, one TCP port
// each), then the one that admits it, last: the worst case for a linear
// rule list.
func policyIntent(n int) string {
	var b strings.Builder
	b.WriteString(`host: {name: bench, asn: 4200000001, vtep: 10.0.0.1, uplinks: [eth0]}
tenants:
  - name: red
    l3vni: 1000
    networks:
      - {name: cli, vni: 10, vlan: 10, gateways: [10.1.10.1/24]}
      - {name: srv, vni: 20, vlan: 20, gateways: [10.1.20.1/24]}
`)
	if n > 0 {
		b.WriteString("    policy:\n      default: deny\n      rules:\n")
		for i := 0; i < n-1; i++ {
			fmt.Fprintf(&b, "        - {from: 10.%d.%d.%d, to: red/srv, ports: [tcp/%d], action: allow}\n",
				200+i/65536, i/256%256, i%256, 1024+i%50000)
		}
		b.WriteString("        - {from: red/cli, to: red/srv, ports: [tcp/5201, tcp/5300, icmp], action: allow}\n")
	}
	b.WriteString(`workloads:
  - {name: cli, network: red/cli, interface: pcli, ips: [10.1.10.11]}
  - {name: srv, network: red/srv, interface: psrv, ips: [10.1.20.11]}
`)
	return b.String()
}

func policyCmd(args []string) error {
	fs := flag.NewFlagSet("policy", flag.ExitOnError)
	out := fs.String("out", "bin/bench/policy.json", "results file")
	md := fs.String("md", "docs/benchmarks.md", "report: its policy section is replaced (appended when missing)")
	counts := fs.String("rules", "10,100,1000,10000", "rule counts")
	secs := fs.Int("t", 8, "iperf3 seconds per case")
	connects := fs.Int("connects", 200, "TCP connects per case")
	rounds := fs.Int("rounds", 3, "rounds over all cases; figures are medians")
	from := fs.String("from", "", "only render the report from this results file (no measurement)")
	_ = fs.Parse(args)
	if *from != "" {
		data, err := os.ReadFile(*from)
		if err != nil {
			return err
		}
		var res PolicyResults
		if err := json.Unmarshal(data, &res); err != nil {
			return err
		}
		return writePolicyReport(*md, res)
	}
	if os.Geteuid() != 0 {
		return errors.New("policy: needs root")
	}
	t0 := time.Now()
	res := PolicyResults{Started: t0.UTC().Format(time.RFC3339), Machine: machine(), Seconds: *secs, Rounds: *rounds, Connects: *connects}

	lab, err := policytest.New()
	if err != nil {
		return err
	}
	defer lab.Close()
	cli, err := lab.Add("cli", "pcli", "10.1.10.11", "")
	if err != nil {
		return err
	}
	srv, err := lab.Add("srv", "psrv", "10.1.20.11", "")
	if err != nil {
		return err
	}
	ln, err := srv.Listen("10.1.20.11", 5300)
	if err != nil {
		return err
	}
	defer ln.Close()
	iperf := exec.Command("ip", "netns", "exec", srv.Name, "iperf3", "-s", "-B", "10.1.20.11", "-A", fmt.Sprint(runtime.NumCPU()-1))
	if err := iperf.Start(); err != nil {
		return fmt.Errorf("iperf3 server: %w", err)
	}
	defer func() { _ = iperf.Process.Kill(); _ = iperf.Wait() }()
	time.Sleep(500 * time.Millisecond)

	hns, err := lab.HostNS()
	if err != nil {
		return err
	}
	defer hns.Close()
	scratch, err := os.MkdirTemp("", "evpnhost-bench-policy")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	bpffs := filepath.Join(scratch, "bpffs")
	_ = os.MkdirAll(bpffs, 0o700)
	if err := unix.Mount("bpf", bpffs, "bpf", 0, ""); err != nil {
		return fmt.Errorf("mount bpffs: %w", err)
	}
	defer unix.Unmount(bpffs, unix.MNT_DETACH)

	// BPF run-time statistics: the eBPF programs' own cost per packet.
	if st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		defer st.Close()
	}
	var progStats func() (uint64, time.Duration, error)
	measure := func(pr *PolicyResult) {
		var runs0 uint64
		var ns0 time.Duration
		if progStats != nil {
			runs0, ns0, _ = progStats()
		}
		gbps, err := iperf3(cli.Name, *secs)
		if progStats != nil {
			if runs, ns, err := progStats(); err == nil && runs > runs0 {
				pr.ProgNs = float64(ns-ns0) / float64(runs-runs0)
			}
		}
		if err != nil {
			pr.Error = err.Error()
			return
		}
		pr.Gbps = gbps
		pr.PingUs, err = pingRTT(cli.Name)
		if err != nil {
			pr.Error = err.Error()
			return
		}
		var total time.Duration
		for i := 0; i < *connects; i++ {
			s := time.Now()
			c, err := cli.Dial("10.1.20.11", 5300, 2*time.Second)
			if err != nil {
				pr.Error = fmt.Sprintf("connect %d: %v", i, err)
				return
			}
			total += time.Since(s)
			c.Close()
		}
		pr.ConnectUs = float64(total.Microseconds()) / float64(*connects)
	}

	var ns []int
	for _, s := range strings.Split(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-rules: %q", s)
		}
		ns = append(ns, n)
	}
	cases := []PolicyResult{{Backend: "none"}}
	for _, backend := range []string{"ebpf", "nftables"} {
		for _, n := range ns {
			cases = append(cases, PolicyResult{Backend: backend, Rules: n})
		}
	}
	tables := map[int]policy.Table{}
	for _, n := range ns {
		in, err := api.Parse([]byte(policyIntent(n)))
		if err == nil {
			err = in.Validate()
		}
		if err != nil {
			return err
		}
		tables[n] = policy.Compile(in, policy.Ports(in, nil))
	}
	// Rounds interleave the cases, so that a change of the machine's load
	// hits all of them alike; each figure is the median of its rounds.
	samples := make([][]PolicyResult, len(cases))
	for round := 1; round <= *rounds; round++ {
		for i, c := range cases {
			fmt.Printf("== policy benchmark, round %d/%d: %s, %d rules\n", round, *rounds, c.Backend, c.Rules)
			pr := c
			var be policy.Backend
			var err error
			switch c.Backend {
			case "ebpf":
				dir := filepath.Join(bpffs, fmt.Sprint(c.Rules))
				var eb *policyebpf.Backend
				eb, err = policyebpf.Open(dir, filepath.Join(scratch, fmt.Sprintf("ebpf-%d.json", c.Rules)), int(hns))
				if err == nil {
					be, progStats = eb, eb.ProgramStats
				}
			case "nftables":
				be, err = nft.Open(int(hns))
			}
			if be != nil {
				s := time.Now()
				err = be.Apply(tables[c.Rules])
				pr.ApplyMs = float64(time.Since(s).Microseconds()) / 1000
			}
			if err == nil {
				measure(&pr)
				if be != nil {
					if cs, cerr := be.Counters(); cerr == nil {
						for _, k := range cs {
							if k.Rule == c.Rules-1 {
								pr.AllowedCnt = k.Allowed
							}
						}
					}
				}
			}
			progStats = nil
			if be != nil {
				// Remove the enforcement before the next case.
				if cerr := be.Apply(policy.Table{}); cerr != nil && err == nil {
					err = cerr
				}
				be.Close()
			}
			if err != nil {
				pr.Error = err.Error()
			}
			report(pr)
			samples[i] = append(samples[i], pr)
		}
	}
	for i := range cases {
		res.Cases = append(res.Cases, medianCase(samples[i]))
	}
	res.Duration = int64(time.Since(t0) / time.Second)
	data, _ := json.MarshalIndent(res, "", "  ")
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	return writePolicyReport(*md, res)
}

// writePolicyReport prints the report's section and puts it into md.
func writePolicyReport(md string, res PolicyResults) error {
	section := policyMarkdown(res)
	fmt.Print(section)
	if md == "" {
		return nil
	}
	old, _ := os.ReadFile(md)
	return os.WriteFile(md, []byte(replaceSection(string(old), section)), 0o644)
}

// medianCase is the per-field median of a case's rounds (an error in any
// round makes the case an error).
func medianCase(rs []PolicyResult) PolicyResult {
	out := rs[0]
	for _, r := range rs {
		if r.Error != "" {
			out.Error = r.Error
			return out
		}
	}
	med := func(f func(PolicyResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	out.Gbps = med(func(r PolicyResult) float64 { return r.Gbps })
	out.PingUs = med(func(r PolicyResult) float64 { return r.PingUs })
	out.ConnectUs = med(func(r PolicyResult) float64 { return r.ConnectUs })
	out.ApplyMs = med(func(r PolicyResult) float64 { return r.ApplyMs })
	out.ProgNs = med(func(r PolicyResult) float64 { return r.ProgNs })
	out.AllowedCnt = rs[len(rs)-1].AllowedCnt
	return out
}

func report(pr PolicyResult) {
	if pr.Error != "" {
		fmt.Printf("   error: %s\n", pr.Error)
		return
	}
	fmt.Printf("   %.2f Gbit/s, ping %.0f µs, connect %.0f µs, apply %.0f ms", pr.Gbps, pr.PingUs, pr.ConnectUs, pr.ApplyMs)
	if pr.ProgNs > 0 {
		fmt.Printf(", eBPF %.0f ns/packet", pr.ProgNs)
	}
	fmt.Println()
}

// iperf3 runs the client in namespace ns for secs seconds and returns
// the received throughput in Gbit/s.
func iperf3(ns string, secs int) (float64, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "iperf3", "-c", "10.1.20.11", "-t", fmt.Sprint(secs), "-A", "0", "-J").Output()
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		return 0, fmt.Errorf("iperf3: %v %v", err, jerr)
	}
	if r.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", r.Error)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9, nil
}

// pingRTT is the mean RTT of 50 pings of one ICMP flow (the first one,
// which sets the flow up, left out).
func pingRTT(ns string) (float64, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-c", "51", "-i", "0.02", "-W", "1", "10.1.20.11").Output()
	if err != nil {
		return 0, fmt.Errorf("ping: %v: %s", err, out)
	}
	var rtts []float64
	for _, l := range strings.Split(string(out), "\n") {
		_, v, ok := strings.Cut(l, "time=")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, " ")
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			rtts = append(rtts, f*1000)
		}
	}
	if len(rtts) < 2 {
		return 0, fmt.Errorf("ping: no replies")
	}
	rtts = rtts[1:]
	sum := 0.0
	for _, r := range rtts {
		sum += r
	}
	return sum / float64(len(rtts)), nil
}

const (
	policyBegin = "<!-- policy-bench:begin (make bench, evpnhost-bench policy) -->"
	policyEnd   = "<!-- policy-bench:end -->"
)

// replaceSection puts section between the policy markers of doc, or
// appends it.
func replaceSection(doc, section string) string {
	block := policyBegin + "\n" + section + policyEnd + "\n"
	i := strings.Index(doc, policyBegin)
	j := strings.Index(doc, policyEnd)
	if i < 0 || j < i {
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + block
	}
	return doc[:i] + block + doc[j+len(policyEnd)+1:]
}

// keepPolicySection carries the policy section of the report at path
// over into a newly generated report (the kernel benchmark's report
// rewrites the file).
func keepPolicySection(path, doc string) string {
	old, err := os.ReadFile(path)
	if err != nil {
		return doc
	}
	i := strings.Index(string(old), policyBegin)
	j := strings.Index(string(old), policyEnd)
	if i < 0 || j < i {
		return doc
	}
	return replaceSection(doc, string(old)[i+len(policyBegin)+1:j])
}

func policyMarkdown(r PolicyResults) string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	w("## Micro-segmentation policy: eBPF vs nftables\n\n")
	where := "natively"
	if r.Machine.VM {
		where = "inside the QEMU VM of `e2e/vm/run.sh` (TCG emulation: absolute figures are far below native ones; compare the ratios)"
	}
	w("Run started %s, %s, kernel %s, %d cores; took %d s. `evpnhost-bench policy` (part of `make bench`).\n\n",
		r.Started, where, r.Machine.Kernel, r.Machine.Cores, r.Duration)
	w("Two workload namespaces (`cli` 10.1.10.11, `srv` 10.1.20.11) on a plain bridge in a host namespace; the policy is enforced at both host-side veth ports. ")
	w("Tenant policy with N rules, default deny: N−1 rules the traffic never matches (a /32 source each, to `red/srv`, one TCP port each), then the rule that admits cli → srv (tcp/5201, tcp/5300, icmp), **last**: the worst case for a linear rule list. ")
	w("Each figure is the median of %d rounds that interleave all cases (the machine's load changes). Throughput: `iperf3 -c` for %d s, one TCP stream (received; client and server pinned to the first and last CPU). Ping: mean RTT of 50 echo requests of one established ICMP flow. Connect: mean time of %d sequential TCP connects, each a new flow that the rules decide at both ports. Apply: `Backend.Apply` of the whole rule set. eBPF per packet: the mean run time of the two tc programs per invocation during the iperf3 run (kernel BPF statistics), the cost the policy adds to each packet. Ratios are against no policy.\n\n", r.Rounds, r.Seconds, r.Connects)
	var none *PolicyResult
	for i := range r.Cases {
		if r.Cases[i].Backend == "none" {
			none = &r.Cases[i]
		}
	}
	ratio := func(v, base float64) string {
		if base == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f%%", 100*v/base)
	}
	w("| backend | rules | throughput | vs none | ping RTT | vs none | connect | vs none | apply | eBPF per packet |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Cases {
		if c.Error != "" {
			w("| %s | %d | error: %s | | | | | | | |\n", c.Backend, c.Rules, oneLine(c.Error))
			continue
		}
		rules := fmt.Sprint(c.Rules)
		if c.Backend == "none" {
			rules = "–"
		}
		var tr, pr, cr string
		if none != nil {
			tr, pr, cr = ratio(c.Gbps, none.Gbps), ratio(c.PingUs, none.PingUs), ratio(c.ConnectUs, none.ConnectUs)
		}
		prog := "–"
		if c.ProgNs > 0 {
			prog = fmt.Sprintf("%.0f ns", c.ProgNs)
		}
		w("| %s | %s | %.2f Gbit/s | %s | %.0f µs | %s | %.0f µs | %s | %.0f ms | %s |\n", c.Backend, rules, c.Gbps, tr, c.PingUs, pr, c.ConnectUs, cr, c.ApplyMs, prog)
	}
	w("\neBPF against nftables at the same rule count (throughput ratio eBPF/nftables; connect time nftables/eBPF):\n\n| rules | throughput eBPF/nft | connect nft/eBPF |\n|---:|---:|---:|\n")
	var counts []int
	for _, c := range r.Cases {
		if c.Backend == "ebpf" && !slices.Contains(counts, c.Rules) {
			counts = append(counts, c.Rules)
		}
	}
	for _, n := range counts {
		var e, f *PolicyResult
		for i := range r.Cases {
			c := &r.Cases[i]
			if c.Rules == n && c.Error == "" && c.Backend == "ebpf" {
				e = c
			}
			if c.Rules == n && c.Error == "" && c.Backend == "nftables" {
				f = c
			}
		}
		if e == nil || f == nil {
			w("| %d | – | – |\n", n)
			continue
		}
		w("| %d | %.2f | %.2f |\n", n, e.Gbps/f.Gbps, f.ConnectUs/e.ConnectUs)
	}
	// The target, stated on the largest rule count measured.
	if none != nil && len(counts) > 0 {
		n := slices.Max(counts)
		var e, f *PolicyResult
		for i := range r.Cases {
			c := &r.Cases[i]
			if c.Rules == n && c.Error == "" {
				if c.Backend == "ebpf" {
					e = c
				} else if c.Backend == "nftables" {
					f = c
				}
			}
		}
		if e != nil && none.Gbps > 0 {
			met := "met"
			if e.Gbps < 0.9*none.Gbps {
				met = "not met"
			}
			w("\n**Target** (eBPF at %d rules keeps ≥ 90%% of the no-policy throughput and beats nftables): eBPF kept %.0f%% of the no-policy throughput (%s)", n, 100*e.Gbps/none.Gbps, met)
			if f != nil && f.Gbps > 0 && e.ConnectUs > 0 {
				w("; against nftables: throughput ×%.2f, new-connection setup %.2f× faster", e.Gbps/f.Gbps, f.ConnectUs/e.ConnectUs)
			}
			w(". An established flow costs either backend a per-packet lookup that does not depend on the rule count, so their throughputs differ by less than the noise of this machine; the rule count shows in the setup of new flows (nftables walks its rules linearly, eBPF does a trie lookup).\n")
		}
	}
	w("\n")
	return b.String()
}

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/evpnhost/evpnhost/e2e/bench"
)

// convergence: the report of the lab convergence benchmark
// (e2e/bench_convergence_test.go, run by scripts/bench.sh in the VM): it
// reads the samples the test wrote and replaces the convergence section of
// the report.

const (
	convergenceBegin = "<!-- convergence-bench:begin (make bench, evpnhost-bench convergence) -->"
	convergenceEnd   = "<!-- convergence-bench:end -->"
)

func convergenceCmd(args []string) error {
	fs := flag.NewFlagSet("convergence", flag.ExitOnError)
	in := fs.String("in", "bin/bench/convergence.json", "samples written by TestBenchConvergence")
	md := fs.String("md", "docs/benchmarks.md", "report: its convergence section is replaced (appended when missing)")
	took := fs.String("duration", "", "how long the run took, for the text")
	_ = fs.Parse(args)
	var r bench.ConvResults
	if err := readResults(*in, &r); err != nil {
		return err
	}
	if len(r.Samples) == 0 {
		return fmt.Errorf("%s: no samples", *in)
	}
	old, err := os.ReadFile(*md)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(*md, []byte(replaceMarked(string(old), convergenceBegin, convergenceEnd, convergenceMarkdown(r, *took))), 0o644)
}

// readResults decodes a results file a benchmark run wrote.
func readResults(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// convStats are the median, minimum and maximum of xs (sorted in place).
func convStats(xs []float64) (med, lo, hi float64) {
	slices.Sort(xs)
	n := len(xs)
	med = xs[n/2]
	if n%2 == 0 {
		med = (xs[n/2-1] + xs[n/2]) / 2
	}
	return med, xs[0], xs[n-1]
}

func convergenceMarkdown(r bench.ConvResults, took string) string {
	var b strings.Builder
	b.WriteString("## Convergence in the lab (agent, EVPN, workloads)\n\n")
	fmt.Fprintf(&b, "Run started %s, inside the QEMU VM of `e2e/vm/run.sh` (TCG emulation: every step runs 5–20x slower than on hardware, process start-up far more, see *calibration*)", r.Started.Format(time.RFC3339))
	if r.Host != "" {
		fmt.Fprintf(&b, " on %s", r.Host)
	}
	if took != "" {
		fmt.Fprintf(&b, "; took %s", took)
	}
	fmt.Fprintf(&b, ". `TestBenchConvergence` (`e2e/bench_convergence_test.go`) on the lab fabric (2 TORs, 3 hosts), %d repetitions each.\n\n", r.Reps)
	b.WriteString("- **calibration**: one `vtysh` command and one start of the `evpnhost` binary: under TCG emulation starting a process costs about a second (natively `evpnhost --help` takes about 13 ms), and every apply runs vtysh, every attach is a process.\n")
	b.WriteString("- **attach**: a VM-like workload (veth, MAC and IP given) is attached to red/web on h1 with `evpnhost attach` while rweb2 on h2 pings it every 10 ms (`ping -D -i 0.01`, static neighbor entry, so no ARP retries blur the figures). Until h2 has learnt the MAC its frames are flooded (ingress replication), so the first reply comes as soon as h1's bridge port exists; the type-2 route is the EVPN side.\n")
	b.WriteString("- **move**: the workload moves to h3 with the same MAC and IP (detached and its interface deleted on h1, a new one attached on h3). h2 keeps sending to h1 until h3's type-2 route (MAC mobility) replaces h1's: the outage is the longest gap between echo replies.\n")
	b.WriteString("- **network (agents + etcd)**: the three hosts' agents on one etcd; network blue/db with a workload on h1 and one on h3 put into the fabric intent with `evpnhost fabric put` (two puts: the tenant with h1's part, then h3's part), timed until the workloads reach each other, from the first put and from the end of the last one (each put is a CLI process, see *calibration*); then removed, until no host has a trace of it (no VXLAN device, no SVI, no VNI in FRR).\n\n")
	b.WriteString("| scenario | measured | median | min | max | n |\n|---|---|---:|---:|---:|---:|\n")
	type key struct{ s, m string }
	var order []key
	vals := map[key][]float64{}
	for _, s := range r.Samples {
		k := key{s.Scenario, s.Metric}
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = append(vals[k], s.Seconds)
	}
	for _, k := range order {
		med, lo, hi := convStats(vals[k])
		fmt.Fprintf(&b, "| %s | %s | %.2f s | %.2f s | %.2f s | %d |\n", k.s, k.m, med, lo, hi, len(vals[k]))
	}
	b.WriteString("\nTarget from issue #5: a network added reachable across hosts within 5 s. Under emulation compare the figures with each other (and with the ratios of the scale benchmark), not with hardware.\n\n")
	return b.String()
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/evpnhost/evpnhost/e2e/bench"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// Results is what `run` writes and `report` reads.
type Results struct {
	Started string       `json:"started"`
	Machine Machine      `json:"machine"`
	Notes   []string     `json:"notes,omitempty"`
	Cases   []CaseResult `json:"cases"`
}

// CaseResult holds the three contenders of one case.
type CaseResult struct {
	Case      bench.Case    `json:"case"`
	Kernel    *KernelResult `json:"kernel,omitempty"`
	KernelErr string        `json:"kernel_error,omitempty"`
	Batch     *ToolResult   `json:"batch,omitempty"`
	Ifupdown2 *ToolResult   `json:"ifupdown2,omitempty"`
	// FRR: the cold apply again, in a fresh namespace with FRR's zebra
	// and bgpd running, until FRR shows every VNI (run -frr).
	FRR *FRRResult `json:"frr,omitempty"`
}

// ToolResult is a baseline's timing and how far its result is from the
// desired state (evpnhost's Diff against what the tool built, sysctls aside).
type ToolResult struct {
	Commands  int     `json:"commands,omitempty"`
	ColdMs    float64 `json:"cold_ms"`
	NoopMs    float64 `json:"noop_ms,omitempty"`
	Residual  int     `json:"residual_ops"`
	Sample    string  `json:"residual_sample,omitempty"`
	Error     string  `json:"error,omitempty"`
	NoopError string  `json:"noop_error,omitempty"`
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	out := fs.String("out", "bench-results.json", "results file")
	cases := fs.String("cases", "", "comma-separated VNISxTENANTS, with a trailing s for the single VXLAN device (4000x10s; default: the full matrix)")
	ifu := fs.String("ifupdown2", "", "directory of the unpacked ifupdown2 (with ifreload and interfaces in it); empty: skip")
	ifuMax := fs.Int("ifupdown2-max", 1000, "largest VNI count ifupdown2 is measured at")
	batchMax := fs.Int("batch-max", 4000, "largest VNI count the ip/bridge -batch baseline runs at")
	withFRR := fs.String("frr", "", "directory of FRR's daemons (/usr/lib/frr): also time until FRR shows every VNI; empty: skip")
	ifuTenants := fs.Int("ifupdown2-tenants", 10, "tenant count of the cases ifupdown2 is measured in")
	ifuTimeout := fs.Duration("ifupdown2-timeout", 20*time.Minute, "give up on one ifreload -a after this (reported as an error with the time)")
	_ = fs.Parse(args)

	matrix := bench.Matrix
	if *cases != "" {
		matrix = nil
		for _, s := range strings.Split(*cases, ",") {
			a, b, _ := strings.Cut(s, "x")
			b, single := strings.CutSuffix(b, "s")
			v, err1 := strconv.Atoi(a)
			t, err2 := strconv.Atoi(b)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("bad case %q (want VNISxTENANTS or VNISxTENANTSs)", s)
			}
			matrix = append(matrix, bench.Case{VNIs: v, Tenants: t, Single: single})
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "evpnhost-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	res := Results{Started: time.Now().UTC().Format(time.RFC3339), Machine: machine()}
	if *ifu != "" {
		res.Notes = append(res.Notes, fmt.Sprintf("ifupdown2 was measured in the 10-tenant cases up to %d L2VNIs (it takes minutes per case)", *ifuMax))
	}
	save := func() {
		b, _ := json.MarshalIndent(res, "", " ")
		_ = os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	for _, c := range matrix {
		logf("== %v", c)
		cr := CaseResult{Case: c}
		des := plan.Build(bench.Intent(c)).Kernel
		if c.VNIs <= *batchMax {
			cr.Batch = runBatch(self, work, c, des)
			logf("   batch: %.0f ms (%d commands, residual %d) %s", cr.Batch.ColdMs, cr.Batch.Commands, cr.Batch.Residual, cr.Batch.Error)
			settle()
		}
		kr, err := runKernel(self, c)
		if err != nil {
			cr.KernelErr = err.Error()
			logf("   evpnhost: %v", err)
		} else {
			cr.Kernel = kr
			logf("   evpnhost: cold %.0f ms (%d ops, %d writes), no-op %v ms (%d writes), VmHWM %d KiB",
				kr.ColdMs, kr.Ops, kr.Writes, kr.NoopMs, kr.NoopWrites, kr.VmHWMKiB)
		}
		settle()
		if *withFRR != "" {
			cr.FRR = runFRR(self, *withFRR, c)
			logf("   frr %s: apply %.0f ms, zebra shows every VNI at %.0f ms, bgpd at %.0f ms (%d polls of %.0f ms) %s",
				cr.FRR.Version, cr.FRR.ApplyMs, cr.FRR.ZebraMs, cr.FRR.BGPMs, cr.FRR.Polls, cr.FRR.PollMs, cr.FRR.Error)
			settle()
		}
		// The L2VNI series only (it takes minutes per case).
		if *ifu != "" && c.VNIs <= *ifuMax && c.Tenants == *ifuTenants {
			cr.Ifupdown2 = runIfupdown2(self, *ifu, c, des, *ifuTimeout)
			logf("   ifupdown2: cold %.0f ms, no-op %.0f ms (residual %d) %s %s", cr.Ifupdown2.ColdMs, cr.Ifupdown2.NoopMs,
				cr.Ifupdown2.Residual, cr.Ifupdown2.Error, cr.Ifupdown2.NoopError)
			settle()
		}
		res.Cases = append(res.Cases, cr)
		save()
	}
	save()
	return nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// settle lets the kernel finish tearing down the last namespace (netns
// cleanup runs asynchronously) before the next measurement.
func settle() { time.Sleep(3 * time.Second) }

func runKernel(self string, c bench.Case) (*KernelResult, error) {
	cmd := exec.Command("unshare", "-n", self, "kernel", "-vnis", strconv.Itoa(c.VNIs), "-tenants", strconv.Itoa(c.Tenants), "-single="+strconv.FormatBool(c.Single))
	if p := os.Getenv("EVPNHOST_BENCH_CPUPROFILE"); p != "" {
		cmd.Args = append(cmd.Args, "-cpuprofile", fmt.Sprintf("%s.%d-%d", p, c.VNIs, c.Tenants))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, tail(stderr.String()))
	}
	if stderr.Len() > 0 {
		fmt.Fprint(os.Stderr, stderr.String())
	}
	var r KernelResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("%v: %q", err, out)
	}
	return &r, nil
}

// runFRR runs `frr` for c in a fresh network namespace.
func runFRR(self, daemons string, c bench.Case) *FRRResult {
	cmd := exec.Command("unshare", "-n", self, "frr", "-daemons", daemons, "-vnis", strconv.Itoa(c.VNIs), "-tenants", strconv.Itoa(c.Tenants), "-single="+strconv.FormatBool(c.Single))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r FRRResult
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		r.Error = fmt.Sprintf("%v %v: %s", err, jerr, tail(stderr.String()))
	}
	return &r
}

func runBatch(self, work string, c bench.Case, des kernel.State) *ToolResult {
	r := &ToolResult{Residual: -1}
	ns := "bench-batch"
	_ = exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		r.Error = fmt.Sprintf("netns add: %v %s", err, out)
		return r
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	ip, br, up := bench.Batch(des)
	steps := [][]string{{"ip", ip}, {"bridge", br}, {"ip", up}}
	var files []string
	for i, s := range steps {
		f := filepath.Join(work, fmt.Sprintf("batch%d", i))
		if err := os.WriteFile(f, []byte(s[1]), 0o644); err != nil {
			r.Error = err.Error()
			return r
		}
		files = append(files, f)
		r.Commands += strings.Count(s[1], "\n")
	}
	t0 := time.Now()
	for i, s := range steps {
		if out, err := exec.Command(s[0], "-n", ns, "-batch", files[i]).CombinedOutput(); err != nil {
			r.Error = fmt.Sprintf("%s -batch: %v %s", s[0], err, tail(string(out)))
			return r
		}
	}
	r.ColdMs = ms(time.Since(t0))
	r.Residual, r.Sample = verify(self, ns, c)
	return r
}

// runIfupdown2 runs `ifreload -a` twice (cold, then no-op) in a fresh
// namespace, the interfaces file being dir/interfaces (scripts/bench.sh
// points the unpacked ifupdown2's own configuration at it).
func runIfupdown2(self, dir string, c bench.Case, des kernel.State, timeout time.Duration) *ToolResult {
	r := &ToolResult{Residual: -1}
	ns := "bench-ifupdown2"
	_ = exec.Command("ip", "netns", "del", ns).Run()
	// ifupdown2's state and lock (tmpfs in the VM): start from nothing.
	for _, d := range []string{"/run/network", "/var/tmp/network"} {
		_ = os.RemoveAll(d)
	}
	_ = os.MkdirAll("/run/network", 0o755) // where its lock file goes
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		r.Error = fmt.Sprintf("netns add: %v %s", err, out)
		return r
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	if err := os.WriteFile(filepath.Join(dir, "interfaces"), []byte(bench.Interfaces(des)), 0o644); err != nil {
		r.Error = err.Error()
		return r
	}
	reload := func(what string) (float64, string) {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "/usr/bin/python3", filepath.Join(dir, "ifreload"), "-a").CombinedOutput()
		d := ms(time.Since(t0))
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("log.%d-%d.%s", c.VNIs, c.Tenants, what)), out, 0o644)
		if ctx.Err() != nil {
			return d, fmt.Sprintf("ifreload -a: not done after %v (stopped)", timeout)
		}
		if err != nil {
			return d, fmt.Sprintf("ifreload -a: %v: %s", err, tail(string(out)))
		}
		return d, ""
	}
	r.ColdMs, r.Error = reload("cold")
	r.Residual, r.Sample = verify(self, ns, c)
	r.NoopMs, r.NoopError = reload("noop")
	return r
}

// verify runs `kernel -verify` in ns: evpnhost's Observe and Diff against
// what a baseline built; the number of operations evpnhost would still do
// (sysctls aside) tells whether the baseline built the same objects.
func verify(self, ns string, c bench.Case) (int, string) {
	out, err := exec.Command("ip", "netns", "exec", ns, self, "kernel", "-verify",
		"-vnis", strconv.Itoa(c.VNIs), "-tenants", strconv.Itoa(c.Tenants), "-single="+strconv.FormatBool(c.Single)).Output()
	if err != nil {
		return -1, err.Error()
	}
	var v struct {
		Residual int    `json:"residual"`
		Sample   string `json:"sample"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return -1, err.Error()
	}
	return v.Residual, v.Sample
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 800 {
		s = "..." + s[len(s)-800:]
	}
	return s
}

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/e2e/bench"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// KernelResult is one case of the kernel part.
type KernelResult struct {
	Case       bench.Case `json:"case"`
	Links      int        `json:"links"`
	Addrs      int        `json:"addrs"`
	Routes     int        `json:"routes"`
	FDB        int        `json:"fdb"`
	BuildMs    float64    `json:"build_ms"`      // plan.Build
	ColdMs     float64    `json:"cold_ms"`       // Observe (empty) + Diff + Apply
	ColdApply  float64    `json:"cold_apply_ms"` // Apply alone
	Ops        int        `json:"ops"`           // operations of the cold plan
	Writes     int        `json:"writes"`        // netlink (and sysctl) writes of the cold apply
	NoopMs     []float64  `json:"noop_ms"`       // Observe + Diff, each run
	NoopOps    int        `json:"noop_ops"`      // must be 0
	NoopWrites int        `json:"noop_writes"`   // must be 0
	ObserveMs  float64    `json:"observe_ms"`    // Observe alone, median run
	DiffMs     float64    `json:"diff_ms"`       // Diff alone, median run
	VmHWMKiB   int        `json:"vmhwm_kib"`     // peak resident memory of this process
	HeapMiB    float64    `json:"heap_alloc_mib"`
	SettleMs   float64    `json:"settle_ms"` // until the first Observe after the cold apply succeeded
	// DumpMs is a plain iproute2 JSON dump of the same state, each run
	// (ip -d -j link show, ip -j addr show, bridge -j vlan show,
	// bridge -j fdb show, one after the other): what reading the state
	// costs without evpnhost, the yardstick of the no-op re-apply.
	DumpMs    []float64 `json:"dump_ms,omitempty"`
	DumpBytes int       `json:"dump_bytes,omitempty"`
	DumpError string    `json:"dump_error,omitempty"`
}

// dumpCmds is the plain iproute2 JSON dump the no-op re-apply is
// compared with.
var dumpCmds = [][]string{
	{"ip", "-d", "-j", "link", "show"},
	{"ip", "-j", "addr", "show"},
	{"bridge", "-j", "vlan", "show"},
	{"bridge", "-j", "fdb", "show"},
}

// dump runs dumpCmds once, in this process's namespace, and returns the
// time they took together and the bytes they printed.
func dump() (float64, int, error) {
	t0 := time.Now()
	n := 0
	for _, c := range dumpCmds {
		out, err := exec.Command(c[0], c[1:]...).Output()
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", strings.Join(c, " "), err)
		}
		n += len(out)
	}
	return ms(time.Since(t0)), n, nil
}

func kernelCmd(args []string) error {
	fs := flag.NewFlagSet("kernel", flag.ExitOnError)
	vnis := fs.Int("vnis", 100, "L2VNIs")
	tenants := fs.Int("tenants", 10, "tenant VRFs")
	runs := fs.Int("noop-runs", 5, "no-op re-applies")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of cold apply and no-op runs")
	verify := fs.Bool("verify", false, "only report what evpnhost would still change here (sysctls aside)")
	single := fs.Bool("single", false, "one VXLAN device for every VNI (host.vxlanDevice: single)")
	_ = fs.Parse(args)
	c := bench.Case{VNIs: *vnis, Tenants: *tenants, Single: *single}
	in := bench.Intent(c)
	if *verify {
		return verifyCmd(in)
	}

	// The uplink whose sysctls the plan sets (not timed).
	if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "up1"}}); err != nil {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "up1"}, PeerName: "up1p"}); err != nil {
			return fmt.Errorf("create up1: %w", err)
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	t0 := time.Now()
	des := plan.Build(in).Kernel
	r := KernelResult{Case: c, BuildMs: ms(time.Since(t0))}
	r.Links, r.Addrs, r.Routes, r.FDB = bench.Objects(des)
	var keys, ports []string
	for _, s := range des.Sysctls {
		keys = append(keys, s.Name)
	}
	nl, err := linux.Open()
	if err != nil {
		return err
	}
	defer nl.Close()

	t0 = time.Now()
	obs, err := nl.Observe(keys, ports)
	if err != nil {
		return err
	}
	p := kernel.Diff(des, obs)
	t1 := time.Now()
	if n, err := nl.Apply(p.Ops()); err != nil {
		return fmt.Errorf("cold apply (after %d ops): %w", n, err)
	}
	r.ColdMs, r.ColdApply = ms(time.Since(t0)), ms(time.Since(t1))
	r.Ops, r.Writes = p.Len(), nl.Writes

	// A re-apply comes later, not while the kernel still runs DAD on the
	// thousands of IPv6 addresses that just appeared (address dumps are
	// then interrupted): wait until an Observe succeeds (not timed).
	t0 = time.Now()
	for {
		if _, err := nl.Observe(keys, ports); err == nil {
			break
		} else if time.Since(t0) > 2*time.Minute {
			return fmt.Errorf("observe after cold apply: %w", err)
		}
		time.Sleep(time.Second)
	}
	r.SettleMs = ms(time.Since(t0))
	var obsT, diffT []float64
	for range *runs {
		nl.Writes = 0
		t0 := time.Now()
		obs, err := nl.Observe(keys, ports)
		if err != nil {
			return err
		}
		t1 := time.Now()
		p := kernel.Diff(des, obs)
		t2 := time.Now()
		r.NoopMs = append(r.NoopMs, ms(t2.Sub(t0)))
		obsT, diffT = append(obsT, ms(t1.Sub(t0))), append(diffT, ms(t2.Sub(t1)))
		r.NoopOps = max(r.NoopOps, p.Len())
		r.NoopWrites = max(r.NoopWrites, nl.Writes)
		if p.Len() != 0 {
			var b strings.Builder
			for i, o := range p.Ops() {
				if i == 10 {
					break
				}
				b.WriteString(o.String() + "\n")
			}
			fmt.Fprintf(os.Stderr, "no-op re-apply is not empty (%d ops), first ones:\n%s", p.Len(), b.String())
		}
		// The iproute2 dump right after each no-op run (the same state,
		// the same moment's load on the machine).
		if r.DumpError == "" {
			if d, n, err := dump(); err != nil {
				r.DumpError = err.Error()
			} else {
				r.DumpMs, r.DumpBytes = append(r.DumpMs, d), n
			}
		}
	}
	r.ObserveMs, r.DiffMs = median(obsT), median(diffT)
	r.VmHWMKiB = vmHWM()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	r.HeapMiB = float64(m.HeapAlloc) / (1 << 20)
	return json.NewEncoder(os.Stdout).Encode(r)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

// vmHWM is the peak resident set size of this process in KiB.
func vmHWM() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// verifyCmd reports the operations evpnhost would still do in this
// namespace, sysctls aside: 0 when a baseline built the same objects.
func verifyCmd(in *api.Intent) error {
	des := plan.Build(in).Kernel
	des.Sysctls = nil
	nl, err := linux.Open()
	if err != nil {
		return err
	}
	defer nl.Close()
	obs, err := nl.Observe(nil, nil)
	if err != nil {
		return err
	}
	p := kernel.Diff(des, obs)
	var b strings.Builder
	for i, o := range p.Ops() {
		if i == 5 {
			break
		}
		b.WriteString(o.String() + "; ")
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"residual": p.Len(), "sample": b.String()})
}

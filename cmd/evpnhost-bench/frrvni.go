package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/evpnhost/evpnhost/e2e/bench"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// FRRResult is the "FRR shows every VNI" measurement of one case: FRR's
// zebra and bgpd run in the case's namespace with evpnhost's rendered
// configuration loaded, then evpnhost's cold kernel apply; times count
// from the start of that apply.
type FRRResult struct {
	Version  string  `json:"version"`
	ApplyMs  float64 `json:"apply_ms"` // the cold kernel apply, FRR watching
	ZebraMs  float64 `json:"zebra_ms"` // until zebra's `show evpn` counts every L2 and L3 VNI
	BGPMs    float64 `json:"bgp_ms"`   // until bgpd's `show bgp l2vpn evpn vni` does
	Polls    int     `json:"polls"`    // vtysh polls it took
	PollMs   float64 `json:"poll_ms"`  // the median time of one poll (the figures' resolution)
	ZebraL2  int     `json:"zebra_l2"` // last counts seen
	ZebraL3  int     `json:"zebra_l3"` //
	BGPL2    int     `json:"bgp_l2"`   //
	BGPL3    int     `json:"bgp_l3"`   //
	Error    string  `json:"error,omitempty"`
	LoadedMs float64 `json:"config_ms"` // loading the FRR configuration (frr-reload.py), before the apply, not in the figures
}

var (
	zebraL2RE = regexp.MustCompile(`(?m)^L2 VNIs: (\d+)`)
	zebraL3RE = regexp.MustCompile(`(?m)^L3 VNIs: (\d+)`)
	bgpL2RE   = regexp.MustCompile(`(?m)^Number of L2 VNIs: (\d+)`)
	bgpL3RE   = regexp.MustCompile(`(?m)^Number of L3 VNIs: (\d+)`)
)

func atoiMatch(re *regexp.Regexp, s string) int {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// frrCmd measures one case with FRR (run under unshare -n: the daemons
// it starts inherit the namespace). It prints an FRRResult.
func frrCmd(args []string) error {
	fs := flag.NewFlagSet("frr", flag.ExitOnError)
	vnis := fs.Int("vnis", 100, "L2VNIs")
	tenants := fs.Int("tenants", 10, "tenant VRFs")
	single := fs.Bool("single", false, "one VXLAN device for every VNI (host.vxlanDevice: single)")
	daemonDir := fs.String("daemons", "/usr/lib/frr", "directory of FRR's daemons")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up waiting for FRR after this")
	_ = fs.Parse(args)
	c := bench.Case{VNIs: *vnis, Tenants: *tenants, Single: *single}
	r, err := measureFRR(c, *daemonDir, *timeout)
	if err != nil {
		r.Error = err.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func measureFRR(c bench.Case, daemonDir string, timeout time.Duration) (r FRRResult, err error) {
	if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "up1"}}); err != nil {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "up1"}, PeerName: "up1p"}); err != nil {
			return r, fmt.Errorf("create up1: %w", err)
		}
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return r, fmt.Errorf("no frr user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	name := fmt.Sprintf("bench%d", os.Getpid()%100000)
	i := frrctl.NewInstance(name)
	i.DaemonDir = daemonDir
	i.Reload = filepath.Join(daemonDir, "frr-reload.py")
	varLib := filepath.Join("/var/lib/frr", name)
	for _, d := range []string{i.RunDir, i.ConfDir, varLib} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return r, err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return r, err
		}
	}
	var started []string
	defer func() {
		for _, d := range started {
			if b, err := os.ReadFile(filepath.Join(i.RunDir, d+".pid")); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_ = os.RemoveAll(i.RunDir)
		_ = os.RemoveAll(i.ConfDir)
		_ = os.RemoveAll(varLib)
	}()
	if err := os.WriteFile(filepath.Join(i.ConfDir, "vtysh.conf"), []byte("service integrated-vtysh-config\n"), 0o644); err != nil {
		return r, err
	}
	ctx := context.Background()
	// mgmtd first (FRR >= 9 routes zebra's configuration through it),
	// then zebra (with Debian's large netlink buffer), then bgpd.
	daemons := []string{"zebra", "bgpd"}
	if _, err := os.Stat(filepath.Join(daemonDir, "mgmtd")); err == nil {
		daemons = append([]string{"mgmtd"}, daemons...)
	}
	for _, d := range daemons {
		a := []string{"-d", "-N", name, "-F", "datacenter", "-P", "0", "--log", "file:" + filepath.Join(i.RunDir, d+".log")}
		if d == "zebra" {
			a = append(a, "-s", "90000000")
		}
		// Its output goes to a file, stdin from /dev/null: FRR 10's
		// daemons keep the descriptors they were started with after -d,
		// and a pipe would never reach its end.
		logf, err := os.CreateTemp("", "evpnhost-bench-"+d+"-*.log")
		if err != nil {
			return r, err
		}
		cmd := exec.Command(filepath.Join(daemonDir, d), a...)
		cmd.Stdout, cmd.Stderr = logf, logf
		err = cmd.Run()
		logf.Close()
		out, _ := os.ReadFile(logf.Name())
		os.Remove(logf.Name())
		if err != nil {
			return r, fmt.Errorf("start %s: %v: %s", d, err, tail(string(out)))
		}
		started = append(started, d)
		sock := filepath.Join(i.RunDir, d+".vty")
		t0 := time.Now()
		for {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			if time.Since(t0) > time.Minute {
				return r, fmt.Errorf("%s: no %s after a minute", d, sock)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ver, err := i.Version(ctx)
	if err != nil {
		return r, fmt.Errorf("FRR version: %w", err)
	}
	r.Version = ver.String()

	in := bench.Intent(c)
	des := plan.Build(in)
	des.FRR.Version = ver
	t0 := time.Now()
	if err := i.Apply(ctx, frr.Render(des.FRR), func(running string) error {
		if m := frr.Missing(frr.Render(des.FRR), running); len(m) > 0 {
			return fmt.Errorf("FRR dropped %d lines, first: %q", len(m), m[0])
		}
		return nil
	}); err != nil {
		return r, fmt.Errorf("load the FRR configuration: %w", err)
	}
	r.LoadedMs = ms(time.Since(t0))

	var keys []string
	for _, s := range des.Kernel.Sysctls {
		keys = append(keys, s.Name)
	}
	nl, err := linux.Open()
	if err != nil {
		return r, err
	}
	defer nl.Close()
	t0 = time.Now()
	obs, err := nl.Observe(keys, nil)
	if err != nil {
		return r, err
	}
	p := kernel.Diff(des.Kernel, obs)
	if n, err := nl.Apply(p.Ops()); err != nil {
		return r, fmt.Errorf("cold apply (after %d ops): %w", n, err)
	}
	r.ApplyMs = ms(time.Since(t0))

	var polls []float64
	for {
		t1 := time.Now()
		out, err := exec.Command(i.Vtysh, "-N", name, "-c", "show evpn", "-c", "show bgp l2vpn evpn vni").CombinedOutput()
		polls = append(polls, ms(time.Since(t1)))
		r.Polls++
		if err == nil {
			s := string(out)
			r.ZebraL2, r.ZebraL3 = atoiMatch(zebraL2RE, s), atoiMatch(zebraL3RE, s)
			r.BGPL2, r.BGPL3 = atoiMatch(bgpL2RE, s), atoiMatch(bgpL3RE, s)
			now := ms(time.Since(t0))
			if r.ZebraMs == 0 && r.ZebraL2 == c.VNIs && r.ZebraL3 == c.Tenants {
				r.ZebraMs = now
			}
			if r.BGPMs == 0 && r.BGPL2 == c.VNIs && r.BGPL3 == c.Tenants {
				r.BGPMs = now
			}
			if r.ZebraMs > 0 && r.BGPMs > 0 {
				break
			}
		}
		if time.Since(t0) > timeout {
			r.PollMs = median(polls)
			return r, fmt.Errorf("after %v: zebra shows %d L2 / %d L3 VNIs, bgpd %d / %d (want %d / %d)",
				timeout, r.ZebraL2, r.ZebraL3, r.BGPL2, r.BGPL3, c.VNIs, c.Tenants)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.PollMs = median(polls)
	return r, nil
}

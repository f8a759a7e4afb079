package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/evpnhost/evpnhost/e2e/bench"
)

const (
	singleBegin = "<!-- single-bench:begin (make bench, evpnhost-bench single) -->"
	singleEnd   = "<!-- single-bench:end -->"
)

// sonicMsPerVNI is SONiC's published figure the single-device target
// compares with: 500 L2VNIs in 50 s.
const sonicMsPerVNI = 50000.0 / 500

// singleCmd writes the single VXLAN device section of the report (and
// its plot) from the results of `run` on the Debian 13 VM.
func singleCmd(args []string) error {
	fs := flag.NewFlagSet("single", flag.ExitOnError)
	in := fs.String("results", "bin/bench/single.json", "results of run with the single-device cases (comma-separated files are merged)")
	md := fs.String("md", "docs/benchmarks.md", "report whose section to replace")
	svg := fs.String("svg", "docs/benchmarks-single.svg", "plot to write")
	duration := fs.String("duration", "", "how long the run took")
	_ = fs.Parse(args)
	// Several results files (comma-separated) are merged: the machine and
	// start time of the first, the cases of all.
	var r Results
	for i, file := range strings.Split(*in, ",") {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var part Results
		if err := json.Unmarshal(b, &part); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if i == 0 {
			r = part
			continue
		}
		r.Cases = append(r.Cases, part.Cases...)
	}
	slices.SortStableFunc(r.Cases, func(a, b CaseResult) int {
		if a.Case.Tenants != b.Case.Tenants {
			return a.Case.Tenants - b.Case.Tenants
		}
		return a.Case.VNIs - b.Case.VNIs
	})
	if err := os.WriteFile(*svg, []byte(singlePlot(r)), 0o644); err != nil {
		return err
	}
	rel, _ := filepath.Rel(filepath.Dir(*md), *svg)
	doc, _ := os.ReadFile(*md)
	return os.WriteFile(*md, []byte(replaceMarked(string(doc), singleBegin, singleEnd, singleMarkdown(r, rel, *duration))), 0o644)
}

func ratioCell(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func singleMarkdown(r Results, svg, duration string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Machine
	frrVer := ""
	for _, c := range r.Cases {
		if c.FRR != nil && c.FRR.Version != "" {
			frrVer = c.FRR.Version
		}
	}
	w("## Single VXLAN device (Debian 13: kernel, FRR, ifupdown2)\n\n")
	w("Run started %s", r.Started)
	if m.VM {
		w(", inside the QEMU VM of `e2e/vm/run.sh --platform trixie` (TCG emulation: absolute figures are 5–20x below native ones; compare the ratios, measured in the same run)")
	}
	w(", kernel %s, %d cores, %s, FRR %s", m.Kernel, m.Cores, m.IPRoute2, orDefault(frrVer, "?"))
	if duration != "" {
		w("; took %s", duration)
	}
	w(". `evpnhost-bench run` with the cases of `bench.SingleMatrix` (part of `make bench`, `BENCH_SINGLE=0` skips it).\n\n")
	w("`host.vxlanDevice: single`: one VXLAN device `evpnvx` (`external vnifilter`) carries every L2VNI and L3VNI through VLAN-to-VNI maps on its bridge port, ")
	w("so the bridge has one VXLAN port whatever the VNI count: the 1023-port limit of the per-VNI cases above does not apply, only the bridge's 4094 VLANs (L2VNIs + tenants ≤ 4094). ")
	w("Each case builds 1 bridge + 1 VXLAN device + 2 links per tenant (VRF, SVI) + 1 SVI per L2VNI, the VLANs, VNI filter entries and VLAN-to-VNI maps, ")
	w("two unreachable defaults per VRF and one local FDB entry per VLAN, each contender in a fresh network namespace:\n\n")
	w("- **evpnhost**, **batch**: as above (the batch: `ip link add ... type vxlan external vnifilter`, `bridge vlan add`, `bridge vni add`, `bridge vlan add ... tunnel_info id`, in ranges where VLANs and VNIs are contiguous).\n")
	w("- **ifupdown2**: `ifreload -a` of Debian 13's ifupdown2 (copied from the platform's root, never installed) with its single-VXLAN-device syntax: ")
	w("`bridge-vlan-vni-map` on the VXLAN stanza (ranges), `vxlan-local-tunnelip`, `bridge-learning off`, `bridge-arp-nd-suppress on`. ")
	w("ifupdown2 3.0.0 creates that device `external` without `vnifilter` and adds no VNI filter entries (`addons/vxlan.py`, `lib/iproute2.py`), ")
	w("so what it builds is not what FRR's single-device support expects: its *residual* counts that.\n")
	w("- **iproute2 dump**: `ip -d -j link show`, `ip -j addr show`, `bridge -j vlan show`, `bridge -j fdb show`, one after the other, in the namespace evpnhost built, ")
	w("right after each of its no-op re-applies: what merely reading that state costs, the yardstick of the no-op target.\n")
	w("- **FRR**: a second namespace per case, with FRR's mgmtd, zebra (`-s 90000000`) and bgpd running (`-N` pathspace, `-F datacenter`) and evpnhost's rendered configuration loaded ")
	w("(`frr-reload.py`, before the clock starts: `advertise-all-vni`, `vrf tN / vni N`); then evpnhost's cold apply; the time counts from the start of the apply until ")
	w("zebra's `show evpn` counts every L2VNI and L3VNI (*zebra*), and until bgpd's `show bgp l2vpn evpn vni` does (*bgpd*). One `vtysh` poll (both commands) is the resolution (*poll*).\n\n")

	w("| L2VNIs | tenants | links | ops | writes | evpnhost cold | batch cold | evpnhost / batch | ifupdown2 cold | ifupdown2 / evpnhost | cold per L2VNI (evpnhost / batch) | no-op (median) | no-op writes | iproute2 dump (median) | no-op / dump | ifupdown2 no-op | peak RSS | residual batch / ifupdown2 |\n")
	w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, c := range r.Cases {
		k := c.Kernel
		if k == nil {
			w("| %d | %d | evpnhost failed: %s |\n", c.Case.VNIs, c.Case.Tenants, oneLine(c.KernelErr))
			continue
		}
		bc, br, bper := "not run", "–", "–"
		if c.Batch != nil && c.Batch.Error == "" {
			bc, br, bper = sec(c.Batch.ColdMs), ratioCell(k.ColdMs, c.Batch.ColdMs), fmt.Sprintf("%.2f ms", c.Batch.ColdMs/float64(c.Case.VNIs))
		} else if c.Batch != nil {
			bc = "error"
		}
		ic, ir, in := "not run", "–", "–"
		if t := c.Ifupdown2; t != nil {
			ic, in = "error", "error"
			if t.Error == "" {
				ic, ir = sec(t.ColdMs), fmt.Sprintf("%.0fx", t.ColdMs/k.ColdMs)
			}
			if t.NoopError == "" {
				in = sec(t.NoopMs)
			}
		}
		dm, dr := "–", "–"
		if len(k.DumpMs) > 0 {
			dm, dr = sec(median(k.DumpMs)), ratioCell(median(k.NoopMs), median(k.DumpMs))
		} else if k.DumpError != "" {
			dm = "error"
		}
		resid := func(t *ToolResult) string {
			if t == nil {
				return "–"
			}
			return fmt.Sprint(t.Residual)
		}
		w("| %d | %d | %d | %d | %d | %s | %s | %s | %s | %s | %.2f ms / %s | %s | %d | %s | %s | %s | %.0f MiB | %s / %s |\n",
			c.Case.VNIs, c.Case.Tenants, k.Links, k.Ops, k.Writes, sec(k.ColdMs), bc, br, ic, ir, k.ColdMs/float64(c.Case.VNIs), bper,
			sec(median(k.NoopMs)), k.NoopWrites, dm, dr, in, float64(k.VmHWMKiB)/1024, resid(c.Batch), resid(c.Ifupdown2))
	}

	w("\nFRR shows every VNI (times from the start of evpnhost's cold apply):\n\n")
	w("| L2VNIs | tenants | FRR | cold apply (FRR running) | zebra: every VNI | bgpd: every VNI | bgpd per VNI (L2 + L3) | polls (median poll) | error |\n")
	w("|---:|---:|---|---:|---:|---:|---:|---|---|\n")
	for _, c := range r.Cases {
		f := c.FRR
		if f == nil {
			continue
		}
		z, g, per := "–", "–", "–"
		if f.ZebraMs > 0 {
			z = sec(f.ZebraMs)
		}
		if f.BGPMs > 0 {
			g = sec(f.BGPMs)
			per = fmt.Sprintf("%.2f ms", f.BGPMs/float64(c.Case.VNIs+c.Case.Tenants))
		}
		w("| %d | %d | %s | %s | %s | %s | %s | %d (%s) | %s |\n", c.Case.VNIs, c.Case.Tenants, f.Version, sec(f.ApplyMs), z, g, per, f.Polls, sec(f.PollMs), oneLine(f.Error))
	}
	var errs []string
	for _, c := range r.Cases {
		for _, x := range []struct {
			name string
			t    *ToolResult
		}{{"batch", c.Batch}, {"ifupdown2", c.Ifupdown2}} {
			if x.t == nil {
				continue
			}
			if x.t.Error != "" {
				errs = append(errs, fmt.Sprintf("- %v %s: %s", c.Case, x.name, oneLine(x.t.Error)))
			}
			if x.t.NoopError != "" {
				errs = append(errs, fmt.Sprintf("- %v %s no-op: %s", c.Case, x.name, oneLine(x.t.NoopError)))
			}
			if x.t.Residual != 0 && x.t.Sample != "" {
				errs = append(errs, fmt.Sprintf("- %v %s residual %d (first ones): `%s`", c.Case, x.name, x.t.Residual, oneLine(x.t.Sample)))
			}
		}
		if c.Kernel != nil && c.Kernel.DumpError != "" {
			errs = append(errs, fmt.Sprintf("- %v iproute2 dump: %s", c.Case, oneLine(c.Kernel.DumpError)))
		}
	}
	if len(errs) > 0 {
		w("\nBaseline errors and residuals:\n\n%s\n", strings.Join(errs, "\n"))
	}
	w("\n![cold apply time per L2VNI against L2VNIs, single VXLAN device](%s)\n\n", svg)
	w("Cold apply time per L2VNI (10 tenants), log-log: a flat line is linear cost. Dotted: FRR (bgpd) until every VNI, per VNI.\n\n")

	// Targets.
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	w("### Targets (single VXLAN device)\n\n| target | measured | met |\n|---|---|---|\n")
	var cells []string
	worst, all := 0.0, len(r.Cases) > 0
	for _, c := range r.Cases {
		if c.Kernel == nil || c.Batch == nil || c.Batch.Error != "" {
			all = false
			continue
		}
		x := c.Kernel.ColdMs / c.Batch.ColdMs
		worst = math.Max(worst, x)
		cells = append(cells, fmt.Sprintf("%d×%d: %.2fx", c.Case.VNIs, c.Case.Tenants, x))
	}
	w("| cold apply ≤ 1.5x the batch at every size | %s | %s |\n", strings.Join(cells, ", "), yes(all && worst <= 1.5))
	cells, all = nil, len(r.Cases) > 0
	okT, okW := true, true
	for _, c := range r.Cases {
		k := c.Kernel
		if k == nil || len(k.DumpMs) == 0 {
			all = false
			continue
		}
		x := median(k.NoopMs) / median(k.DumpMs)
		okT = okT && x <= 2
		okW = okW && k.NoopWrites == 0 && k.NoopOps == 0
		cells = append(cells, fmt.Sprintf("%d×%d: %s vs %s = %.2fx, %d writes", c.Case.VNIs, c.Case.Tenants, sec(median(k.NoopMs)), sec(median(k.DumpMs)), x, k.NoopWrites))
	}
	w("| no-op re-apply: 0 writes, time ≤ 2x the iproute2 JSON dump | %s | writes: %s, time: %s |\n", strings.Join(cells, "; "), yes(all && okW), yes(all && okT))
	if c := find(r, bench.Case{VNIs: 4000, Tenants: 10, Single: true}); c != nil && c.FRR != nil && c.FRR.BGPMs > 0 {
		per := c.FRR.BGPMs / 4010
		w("| FRR shows all 4000 VNIs; per VNI faster than SONiC's published 500 L2VNIs in 50 s (%.0f ms per VNI) | zebra %s, bgpd %s after the apply started (%.2f ms per VNI, %.0fx faster; emulated machine) | %s |\n",
			sonicMsPerVNI, sec(c.FRR.ZebraMs), sec(c.FRR.BGPMs), per, sonicMsPerVNI/per, yes(per < sonicMsPerVNI))
	} else if c != nil && c.FRR != nil {
		w("| FRR shows all 4000 VNIs | not reached: %s | **no** |\n", oneLine(c.FRR.Error))
	} else {
		w("| FRR shows all 4000 VNIs | not measured | – |\n")
	}
	var per []string
	lo, hi := math.Inf(1), 0.0
	for _, c := range r.Cases {
		if c.Kernel == nil || c.Case.Tenants != 10 {
			continue
		}
		x := c.Kernel.ColdMs / float64(c.Case.VNIs)
		lo, hi = math.Min(lo, x), math.Max(hi, x)
		per = append(per, fmt.Sprintf("%d: %.2f ms", c.Case.VNIs, x))
	}
	if len(per) > 0 {
		w("| per-VNI cold cost flat from 100 to 4000 L2VNIs (≤ 1.5x apart, 10 tenants) | %s (%.2fx apart) | %s |\n", strings.Join(per, ", "), hi/lo, yes(hi <= 1.5*lo && len(per) >= 3))
	}
	w("\n")
	return b.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// singlePlot draws the cold apply time per L2VNI against L2VNIs (log x,
// linear y) for the 10-tenant single-device cases: evpnhost, batch,
// ifupdown2, and FRR's time until every VNI per VNI.
func singlePlot(r Results) string {
	type pt struct{ x, y float64 }
	type series struct {
		name, color, dash string
		pts               []pt
	}
	ss := []*series{
		{name: "evpnhost cold", color: "#1f77b4"},
		{name: "batch cold", color: "#2ca02c"},
		{name: "ifupdown2 cold", color: "#d62728"},
		{name: "FRR (bgpd) all VNIs", color: "#9467bd", dash: "2,3"},
	}
	for _, c := range r.Cases {
		if c.Case.Tenants != 10 {
			continue
		}
		x, n := float64(c.Case.VNIs), float64(c.Case.VNIs)
		if k := c.Kernel; k != nil {
			ss[0].pts = append(ss[0].pts, pt{x, k.ColdMs / n})
		}
		if t := c.Batch; t != nil && t.Error == "" {
			ss[1].pts = append(ss[1].pts, pt{x, t.ColdMs / n})
		}
		if t := c.Ifupdown2; t != nil && t.Error == "" {
			ss[2].pts = append(ss[2].pts, pt{x, t.ColdMs / n})
		}
		if f := c.FRR; f != nil && f.BGPMs > 0 {
			ss[3].pts = append(ss[3].pts, pt{x, f.BGPMs / float64(c.Case.VNIs+c.Case.Tenants)})
		}
	}
	ymin, ymax := 1.0, 10.0 // ms per VNI, decades
	for _, s := range ss {
		slices.SortFunc(s.pts, func(a, b pt) int { return int(a.x - b.x) })
		for _, p := range s.pts {
			for p.y > 0 && p.y < ymin {
				ymin /= 10
			}
			for p.y > ymax {
				ymax *= 10
			}
		}
	}
	const W, H, L, R, T, B = 720.0, 440.0, 70.0, 200.0, 30.0, 50.0
	xmin, xmax := 50.0, 8000.0
	X := func(x float64) float64 {
		return L + (math.Log10(x)-math.Log10(xmin))/(math.Log10(xmax)-math.Log10(xmin))*(W-L-R)
	}
	Y := func(y float64) float64 {
		return H - B - (math.Log10(y)-math.Log10(ymin))/(math.Log10(ymax)-math.Log10(ymin))*(H-T-B)
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", W, H)
	w(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	w(`<text x="%.0f" y="18" font-size="14">Single VXLAN device: cold apply per L2VNI (10 tenants), log-log</text>`+"\n", L)
	for y := ymin; y <= ymax*1.001; y *= 10 {
		w(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", L, Y(y), W-R, Y(y))
		w(`<text x="%.1f" y="%.1f" text-anchor="end">%.3g ms</text>`+"\n", L-6, Y(y)+4, y)
	}
	for _, x := range []float64{100, 1000, 4000} {
		w(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", X(x), T, X(x), H-B)
		w(`<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`+"\n", X(x), H-B+16, x)
	}
	w(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", L, T, W-L-R, H-T-B)
	w(`<text x="%.1f" y="%.1f" text-anchor="middle">L2VNIs (log)</text>`+"\n", L+(W-L-R)/2, H-12)
	for i, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		dash := ""
		if s.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
		}
		var pts []string
		for _, p := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", X(p.x), Y(p.y)))
		}
		w(`<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", s.color, dash, strings.Join(pts, " "))
		for _, p := range s.pts {
			w(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %.0f L2VNIs, %.2f ms per VNI</title></circle>`+"\n", X(p.x), Y(p.y), s.color, s.name, p.x, p.y)
		}
		ly := T + 10 + float64(i)*20
		w(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", W-R+12, ly, W-R+40, ly, s.color, dash)
		w(`<text x="%.1f" y="%.1f">%s</text>`+"\n", W-R+46, ly+4, s.name)
	}
	w("</svg>\n")
	return b.String()
}

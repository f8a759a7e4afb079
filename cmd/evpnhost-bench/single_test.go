package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/e2e/bench"
)

// TestSingleSection: the single-device section replaces its markers'
// content only, states each target with its figure and says no where a
// target is missed.
func TestSingleSection(t *testing.T) {
	r := Results{Started: "now", Cases: []CaseResult{
		{Case: bench.Case{VNIs: 100, Tenants: 10, Single: true},
			Kernel: &KernelResult{ColdMs: 1000, NoopMs: []float64{100, 110, 90}, DumpMs: []float64{80, 80, 80}, Links: 122},
			Batch:  &ToolResult{ColdMs: 800},
			FRR:    &FRRResult{Version: "10.3", ApplyMs: 1200, ZebraMs: 2000, BGPMs: 3000}},
		{Case: bench.Case{VNIs: 4000, Tenants: 10, Single: true},
			Kernel: &KernelResult{ColdMs: 80000, NoopMs: []float64{1300}, DumpMs: []float64{500}, NoopWrites: 0},
			Batch:  &ToolResult{ColdMs: 20000},
			FRR:    &FRRResult{Version: "10.3", ApplyMs: 42000, ZebraMs: 50000, BGPMs: 60000}},
	}}
	md := singleMarkdown(r, "x.svg", "")
	for _, w := range []string{
		"| cold apply ≤ 1.5x the batch at every size | 100×10: 1.25x, 4000×10: 4.00x | **no** |",
		"time: **no**", "writes: yes",
		"zebra 50 s, bgpd 60 s after the apply started (14.96 ms per VNI, 7x faster; emulated machine) | yes |",
		"(2.00x apart) | **no** |",
	} {
		if !strings.Contains(md, w) {
			t.Errorf("no %q in:\n%s", w, md)
		}
	}
	p := filepath.Join(t.TempDir(), "b.md")
	if err := os.WriteFile(p, []byte("# top\n\n"+singleBegin+"\nold\n"+singleEnd+"\n\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := keepSections(p, "# new\n")
	if !strings.Contains(got, singleBegin+"\nold\n"+singleEnd) {
		t.Errorf("report does not keep the single section:\n%s", got)
	}
}

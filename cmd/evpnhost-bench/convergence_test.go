package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplaceMarked(t *testing.T) {
	block := "<!-- convergence-bench:begin (make bench, evpnhost-bench convergence) -->\nNEW\n<!-- convergence-bench:end -->\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "", "\n" + block},
		{"appended", "# Report\n\ntext", "# Report\n\ntext\n\n" + block},
		{"replaced", "a\n<!-- convergence-bench:begin (x) -->\nOLD\n<!-- convergence-bench:end -->\nb\n", "a\n" + block + "b\n"},
		{"other sections kept", "<!-- policy-bench:begin -->\nP\n<!-- policy-bench:end -->\n", "<!-- policy-bench:begin -->\nP\n<!-- policy-bench:end -->\n\n" + block},
	} {
		if got := replaceMarked(tc.doc, "convergence", "NEW\n"); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	// Idempotent: replacing twice gives the same document.
	once := replaceMarked("a\n", "convergence", "NEW\n")
	if twice := replaceMarked(once, "convergence", "NEW\n"); twice != once {
		t.Errorf("not idempotent:\n%q\n%q", once, twice)
	}
}

func TestKeepMarked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.md")
	old := replaceMarked("# old report\n", "convergence", "KEEP ME\n")
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	got := keepMarked(path, "# new report\n", "convergence")
	if !strings.HasPrefix(got, "# new report\n") || !strings.Contains(got, "\nKEEP ME\n<!-- convergence-bench:end -->") || strings.Contains(got, "old report") {
		t.Fatalf("%q", got)
	}
	if got := keepMarked(filepath.Join(t.TempDir(), "missing.md"), "# new\n", "convergence"); got != "# new\n" {
		t.Fatalf("missing file: %q", got)
	}
}

func TestConvStats(t *testing.T) {
	for _, tc := range []struct {
		in          []float64
		med, lo, hi float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 1, 5},
		{[]float64{4, 1, 2, 3}, 2.5, 1, 4},
	} {
		med, lo, hi := convStats(tc.in)
		if med != tc.med || lo != tc.lo || hi != tc.hi {
			t.Errorf("%v: %v %v %v", tc.in, med, lo, hi)
		}
	}
}

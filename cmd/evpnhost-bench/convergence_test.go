package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConvergenceSection(t *testing.T) {
	block := convergenceBegin + "\nNEW\n" + convergenceEnd + "\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "", "\n" + block},
		{"appended", "# Report\n\ntext", "# Report\n\ntext\n\n" + block},
		{"replaced", "a\n" + convergenceBegin + "\nOLD\n" + convergenceEnd + "\nb\n", "a\n" + block + "b\n"},
	} {
		if got := replaceMarked(tc.doc, convergenceBegin, convergenceEnd, "NEW\n"); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	// The kernel report, which rewrites the file, keeps the section.
	path := filepath.Join(t.TempDir(), "b.md")
	old := replaceMarked("# old report\n", convergenceBegin, convergenceEnd, "KEEP ME\n")
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	got := keepSections(path, "# new report\n")
	if !strings.HasPrefix(got, "# new report\n") || !strings.Contains(got, "\nKEEP ME\n"+convergenceEnd) || strings.Contains(got, "old report") {
		t.Fatalf("%q", got)
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

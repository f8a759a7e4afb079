package agent

import "testing"

// TestFRRPIDs: a print parses into daemons and pids and prints back the
// same; prints are equal when no daemon restarted, started or went.
func TestFRRPIDs(t *testing.T) {
	for _, s := range []string{"zebra=12 bgpd=- staticd=345", "zebra=-", ""} {
		if got := parseFRRPIDs(s).String(); got != s {
			t.Errorf("%q printed back as %q", s, got)
		}
	}
	p := parseFRRPIDs("zebra=12 bgpd=- staticd=345")
	if pid, ok := p.pid("zebra"); pid != 12 || !ok {
		t.Errorf("zebra: %d %v", pid, ok)
	}
	if pid, ok := p.pid("bgpd"); pid != 0 || !ok {
		t.Errorf("bgpd (not running): %d %v", pid, ok)
	}
	if _, ok := p.pid("pimd"); ok {
		t.Error("pimd is not in the print")
	}
	if got := parseFRRPIDs("zebra=12 junk bgpd=x =3 bfdd=-").String(); got != "zebra=12 bfdd=-" {
		t.Errorf("malformed fields kept: %q", got)
	}
	for _, tc := range []struct {
		a, b string
		eq   bool
	}{
		{"zebra=12 bgpd=34", "zebra=12  bgpd=34", true},
		{"zebra=12 bgpd=34", "zebra=12 bgpd=35", false}, // restarted
		{"zebra=12 bgpd=-", "zebra=12 bgpd=35", false},  // started
		{"zebra=12 bgpd=34", "zebra=12 bgpd=-", false},  // gone
		{"zebra=12 bgpd=34", "zebra=12", false},
		{"", "", true},
	} {
		if got := parseFRRPIDs(tc.a).Equal(parseFRRPIDs(tc.b)); got != tc.eq {
			t.Errorf("%q == %q: %v, want %v", tc.a, tc.b, got, tc.eq)
		}
	}
}

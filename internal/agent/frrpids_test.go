package agent

import (
	"strings"
	"testing"
)

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

// TestRestartedAloneMgmtd: with zebra as the anchor (FRR 8.4, no mgmtd) a
// daemon restarted under the same zebra is restored, FRR restarted as a
// whole is not; with mgmtd (FRR >= 9) zebra restarted under the same
// mgmtd and mgmtd restarted under the same zebra are restored too, and
// only both restarting is FRR restarted as a whole.
func TestRestartedAloneMgmtd(t *testing.T) {
	for _, tc := range []struct{ before, now, want string }{
		// FRR 8.4
		{"zebra=1 bgpd=2 staticd=3 mgmtd=-", "zebra=1 bgpd=4 staticd=3 mgmtd=-", "bgpd"},
		{"zebra=1 bgpd=2 bfdd=- mgmtd=-", "zebra=1 bgpd=2 bfdd=5 mgmtd=-", "bfdd"},
		{"zebra=1 bgpd=2 mgmtd=-", "zebra=6 bgpd=7 mgmtd=-", ""},
		{"zebra=1 bgpd=2 mgmtd=-", "zebra=6 bgpd=2 mgmtd=-", ""}, // zebra alone on 8.4: the reconcile's reload
		{"zebra=1 bgpd=2", "zebra=- bgpd=4", ""},
		// FRR >= 9
		{"zebra=1 bgpd=2 mgmtd=9", "zebra=1 bgpd=4 mgmtd=9", "bgpd"},
		{"zebra=1 bgpd=2 mgmtd=9", "zebra=6 bgpd=2 mgmtd=9", "zebra"},
		{"zebra=1 bgpd=2 mgmtd=9", "zebra=1 bgpd=2 mgmtd=10", "mgmtd"},
		{"zebra=1 bgpd=2 staticd=3 mgmtd=9", "zebra=1 bgpd=2 staticd=8 mgmtd=10", "staticd,mgmtd"},
		{"zebra=1 bgpd=2 mgmtd=9", "zebra=6 bgpd=7 mgmtd=10", ""},
		{"zebra=1 bgpd=2 mgmtd=9", "zebra=1 bgpd=2 mgmtd=-", ""}, // gone: waited for, not restored
	} {
		got := strings.Join(restartedAlone(parseFRRPIDs(tc.before), parseFRRPIDs(tc.now)), ",")
		if got != tc.want {
			t.Errorf("%q -> %q: restored %q, want %q", tc.before, tc.now, got, tc.want)
		}
	}
}

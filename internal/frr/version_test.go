package frr

import "testing"

func TestParseVersion(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"FRRouting 8.4.4 (h1) on Linux(6.1.0-28-amd64).\nCopyright 1996-2005 Kunihiro Ishiguro, et al.", "8.4.4", true},
		{"FRRouting 10.3.1 (tor1) on Linux(6.12.12-amd64).", "10.3.1", true},
		{"FRRouting 9.1-dev (x) on Linux", "9.1", true},
		{"8.4.4", "8.4.4", true},
		{"10.3", "10.3", true},
		{"8.4.4~deb12u1", "8.4.4", true},
		{"", "", false},
		{"vtysh: command not found", "", false},
		{"FRRouting (h1) on Linux 1.2.3", "", false},
	} {
		v, ok := ParseVersion(c.in)
		if ok != c.ok || (ok && v.String() != c.want) {
			t.Errorf("ParseVersion(%q) = %v, %v; want %s, %v", c.in, v, ok, c.want, c.ok)
		}
	}
}

func TestHasRMACLoss(t *testing.T) {
	for v, want := range map[string]bool{
		"7.5.1": true, "8.1": true, "8.4": true, "8.4.0": true, "8.4.4": true,
		"8.4.5": false, "8.4.7": false, "8.5.4": true, "9.0": true, "9.0.2": true,
		"9.1": false, "9.1.0": false, "10.0": false, "10.3.1": false,
	} {
		pv, ok := ParseVersion(v)
		if !ok {
			t.Fatalf("%s: not parsed", v)
		}
		if got := HasRMACLoss(pv); got != want {
			t.Errorf("HasRMACLoss(%s) = %v, want %v", v, got, want)
		}
	}
}

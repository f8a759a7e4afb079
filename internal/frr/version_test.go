package frr

import "testing"

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{
		"8.4.4":              {8, 4, 4},
		"10.3":               {10, 3, 0},
		"10.4-dev":           {10, 4, 0},
		"9.1.2_git":          {9, 1, 2},
		"10.3-dev.1":         {10, 3, 0},
		"frr version 8.4.4":  {8, 4, 4},
		"zebra version 10.3": {10, 3, 0},
		"FRRouting 10.3 (h1) on Linux(6.12.0-1-amd64).": {10, 3, 0},
		"FRRouting 8.4.4 (7edge) on Linux(6.18.44).":    {8, 4, 4},
	} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "frr version", "FRRouting x.y", "0.9", "version 10"} {
		if v, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", in, v)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v            Version
		major, minor int
		want         bool
	}{
		{V84, 8, 4, true}, {V84, 8, 5, false}, {V84, 9, 0, false},
		{Version{9, 0, 0}, 9, 0, true}, {Version{10, 3, 0}, 9, 0, true},
		{Version{10, 1, 9}, 10, 2, false}, {Version{10, 2, 0}, 10, 2, true},
		{Version{11, 0, 0}, 10, 2, true}, {Version{}, 8, 0, false},
	} {
		if got := tc.v.AtLeast(tc.major, tc.minor); got != tc.want {
			t.Errorf("%v.AtLeast(%d, %d) = %v", tc.v, tc.major, tc.minor, got)
		}
	}
	if V84.MgmtdRequired() || !(Version{10, 3, 0}).MgmtdRequired() || !(Version{9, 0, 0}).MgmtdRequired() {
		t.Error("MgmtdRequired: 9.0 and later only")
	}
	if (Version{10, 1, 0}).RouterPIM() || !(Version{10, 2, 0}).RouterPIM() {
		t.Error("RouterPIM: 10.2 and later only")
	}
	for v, s := range map[Version]string{V84: "8.4.4", {10, 3, 0}: "10.3", {}: "unknown"} {
		if v.String() != s {
			t.Errorf("%#v prints %q, want %q", v, v.String(), s)
		}
	}
	if (Version{7, 5, 1}).Supported() == nil || V84.Supported() != nil || (Version{}).Supported() != nil {
		t.Error("Supported: 8.4 and later, unknown not refused")
	}
}

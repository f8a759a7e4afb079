package frr

import "testing"

func TestHasBFDStall(t *testing.T) {
	for _, c := range []struct {
		v    Version
		want bool
	}{
		{Version{}, true},
		{Version{Major: 8, Minor: 4, Patch: 4}, false},
		{Version{Major: 9, Minor: 1}, false},
		{Version{Major: 10, Minor: 3}, true},
		{Version{Major: 10, Minor: 4, Patch: 1}, true},
	} {
		if got := HasBFDStall(c.v); got != c.want {
			t.Errorf("HasBFDStall(%v) = %v, want %v", c.v, got, c.want)
		}
	}
}

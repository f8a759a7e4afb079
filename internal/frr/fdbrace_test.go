package frr

import "testing"

func TestHasFDBRace(t *testing.T) {
	for v, want := range map[string]bool{
		"8.4.4": false, "9.1.2": false, "10.0": false, "10.2.3": false,
		"10.3": true, "10.3.1": true, "10.4.0": true, "10.4.4": true,
		"10.5.0": false, "10.6": false, "11.0": false,
	} {
		pv, err := ParseVersion(v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got := HasFDBRace(pv); got != want {
			t.Errorf("HasFDBRace(%s) = %v, want %v", v, got, want)
		}
	}
	if !HasFDBRace(Version{}) {
		t.Error("an unknown version must count as having the defect (the check is cheap, a miss is not)")
	}
}

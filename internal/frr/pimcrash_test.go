package frr

import "testing"

func TestHasPIMVRFDeleteCrash(t *testing.T) {
	for v, want := range map[string]bool{
		"8.4.4": false, "9.0": false, "9.1.2": false,
		"10.0": true, "10.0.3": true, "10.1.1": true, "10.2": true, "10.2.2": true,
		"10.2.3": false, "10.3": true, "10.3.0": true, "10.3.1": false, "10.4": false, "10.5.1": false,
	} {
		pv, err := ParseVersion(v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got := HasPIMVRFDeleteCrash(pv); got != want {
			t.Errorf("HasPIMVRFDeleteCrash(%s) = %v, want %v", v, got, want)
		}
	}
	if HasPIMVRFDeleteCrash(Version{}) {
		t.Error("an unknown version only decides a warning: not counted as having the defect")
	}
}

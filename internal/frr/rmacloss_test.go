package frr

import "testing"

func TestHasRMACLoss(t *testing.T) {
	for v, want := range map[string]bool{
		"7.5.1": true, "8.1": true, "8.4": true, "8.4.0": true, "8.4.4": true,
		"8.4.5": false, "8.4.7": false, "8.5.4": true, "9.0": true, "9.0.2": true,
		"9.1": false, "9.1.0": false, "9.1-dev": false, "10.0": false, "10.3": false, "10.3.1": false,
	} {
		pv, err := ParseVersion(v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got := HasRMACLoss(pv); got != want {
			t.Errorf("HasRMACLoss(%s) = %v, want %v", v, got, want)
		}
	}
	if !HasRMACLoss(Version{}) {
		t.Error("an unknown version must count as having the defect")
	}
}

package status

import (
	"os"
	"testing"
)

// TestParseVNIDetail: the detail JSON as FRR 8.4.4 and FRR 10.3 print it
// (captured from both, same VNI, bridge and VXLAN device) reads the same.
func TestParseVNIDetail(t *testing.T) {
	want := VNIDetail{VNI: 10, Type: "L2", Tenant: "default", VXLAN: "vx10", VXLANIfindex: 3, SVI: "br10", VTEP: "10.0.0.1"}
	for _, f := range []string{"testdata/vni-detail-frr8.4.4.json", "testdata/vni-detail-frr10.3.json"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseVNIDetail(raw)
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s: %+v, %v; want %+v", f, got, err, want)
		}
	}
	if _, err := ParseVNIDetail([]byte("{")); err == nil {
		t.Error("bad JSON: no error")
	}
}

package status

import (
	"encoding/json"
	"fmt"
)

// VNIDetail is one VNI of `show evpn vni detail json`. FRR 10 renamed two
// of its keys (`vrf` to `tenantVrf`, `ifindex` to `vxlanIfindex`); both
// spellings are read. (`show evpn vni json`, which Collect reads, is the
// same on FRR 8.4 and 10.3.)
type VNIDetail struct {
	VNI          uint32 `json:"vni"`
	Type         string `json:"type"`
	Tenant       string `json:"tenant"`
	VXLAN        string `json:"vxlanInterface"`
	VXLANIfindex int    `json:"vxlanIfindex"`
	SVI          string `json:"sviInterface"`
	VTEP         string `json:"vtepIp"`
}

// ParseVNIDetail reads `show evpn vni detail json` of FRR 8.4 or >= 10.
func ParseVNIDetail(raw []byte) ([]VNIDetail, error) {
	var in []struct {
		VNI          uint32 `json:"vni"`
		Type         string `json:"type"`
		VRF          string `json:"vrf"`       // FRR 8.4
		TenantVRF    string `json:"tenantVrf"` // FRR 10
		VXLAN        string `json:"vxlanInterface"`
		Ifindex      *int   `json:"ifindex"`      // FRR 8.4
		VXLANIfindex *int   `json:"vxlanIfindex"` // FRR 10
		SVI          string `json:"sviInterface"`
		VTEP         string `json:"vtepIp"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("show evpn vni detail json: %w", err)
	}
	out := make([]VNIDetail, 0, len(in))
	for _, v := range in {
		d := VNIDetail{VNI: v.VNI, Type: v.Type, Tenant: v.TenantVRF, VXLAN: v.VXLAN, SVI: v.SVI, VTEP: v.VTEP}
		if d.Tenant == "" {
			d.Tenant = v.VRF
		}
		switch {
		case v.VXLANIfindex != nil:
			d.VXLANIfindex = *v.VXLANIfindex
		case v.Ifindex != nil:
			d.VXLANIfindex = *v.Ifindex
		}
		out = append(out, d)
	}
	return out, nil
}

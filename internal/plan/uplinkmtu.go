package plan

import (
	"fmt"
	"slices"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// UplinkMTUNeed is the smallest uplink MTU that carries the largest
// frame of every network of in through VXLAN: the largest network MTU
// (host.mtu - 50 by default) plus the VXLAN overhead (api.VXLANOverhead:
// outer Ethernet, IPv4, UDP and VXLAN headers). 0 when in has no network
// (no VXLAN traffic, nothing needed).
func UplinkMTUNeed(in *api.Intent) int {
	if in == nil {
		return 0
	}
	underlay, largest := in.Host.UnderlayMTU(), 0
	for _, t := range in.Tenants {
		for _, n := range t.Networks {
			largest = max(largest, n.MTUOr(underlay))
		}
	}
	if largest == 0 {
		return 0
	}
	return largest + api.VXLANOverhead
}

// UplinkIssue is an uplink that cannot carry the networks' VXLAN frames.
// evpnhost does not own the uplinks (their MTU is the system's, set like
// the TORs' ports): it reports, never changes them.
type UplinkIssue struct {
	Uplink string `json:"uplink"`
	MTU    int    `json:"mtu"`  // the uplink's, in the kernel
	Need   int    `json:"need"` // UplinkMTUNeed
	// Problem says what is lost, for humans.
	Problem string `json:"problem"`
}

func (u UplinkIssue) String() string { return u.Uplink + ": " + u.Problem }

// CheckUplinks compares the MTU of each of in's uplinks found in obs (an
// Observe that was given the uplinks as ports) with UplinkMTUNeed. A
// missing uplink is not reported here (BGP reports its session down).
func CheckUplinks(in *api.Intent, obs kernel.State) []UplinkIssue {
	need := UplinkMTUNeed(in)
	if need == 0 {
		return nil
	}
	var out []UplinkIssue
	for _, u := range in.Host.Uplinks {
		l, ok := obs.Link(u)
		if !ok || l.MTU == 0 || l.MTU >= need {
			continue
		}
		out = append(out, UplinkIssue{Uplink: u, MTU: l.MTU, Need: need,
			Problem: fmt.Sprintf("MTU %d is below the %d VXLAN needs (largest network MTU %d + %d bytes of VXLAN headers): "+
				"workload frames larger than %d bytes are fragmented or dropped on this path",
				l.MTU, need, need-api.VXLANOverhead, api.VXLANOverhead, l.MTU-api.VXLANOverhead)})
	}
	slices.SortFunc(out, func(a, b UplinkIssue) int {
		if a.Uplink < b.Uplink {
			return -1
		}
		if a.Uplink > b.Uplink {
			return 1
		}
		return 0
	})
	return out
}

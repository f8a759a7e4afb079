package frr

// RMACLossIssue names the zebra defect that drops the router MACs, next
// hops and neighbor entries of remote VTEPs from an L3VNI when it
// replaces the routes through them (one of two TORs fails): FRR #12391,
// fixed in 8.4.5 and 9.1 (docs/architecture.md).
const RMACLossIssue = "FRR #12391 (zebra drops L3VNI router MACs of remote VTEPs when it replaces their routes; fixed in 8.4.5 and 9.1)"

// HasRMACLoss reports whether FRR v may have RMACLossIssue: every
// release before 9.1 except 8.4.5 and later 8.4 releases (the backport),
// and an unknown version. Releases before 8.4 and 8.5 are counted as
// having it: no fix is known there, and the repair it calls for is
// harmless where nothing is lost.
func HasRMACLoss(v Version) bool {
	if !v.Known() {
		return true
	}
	if v.Major == 8 && v.Minor == 4 {
		return v.Patch < 5
	}
	return !v.AtLeast(9, 1)
}

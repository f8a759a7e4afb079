package frr

// FDBRaceIssue names the zebra defect that loses a new workload's MAC
// (and, by the same order, a routed workload's host route): from
// 10.3, zebra reads link changes (RTM_NEWLINK) in its dataplane thread and
// hands them to its main thread later, while it still reads FDB changes
// (RTM_NEWNEIGH, AF_BRIDGE) in the main thread at once. A static FDB entry
// added right after its port joined the bridge can so be read before
// zebra knows the port is a bridge port, and is dropped
// (netlink_macfdb_change: not a bridge slave). zebra then never holds the
// MAC, keeps the workload's neighbor "local inactive" and advertises no
// type-2 route for it: remote hosts cannot route to it. Route changes are
// read in the main thread too, so a host route through a port zebra does
// not know yet can be taken with a nexthop it cannot resolve, and is not
// redistributed (no type-5). Found here on
// Debian 13's 10.3 (1 attach in about 10 under emulation); FRR 10.5 reads
// neighbor changes in the dataplane thread too (commit ab823e8, "zebra:
// Use zebra dplane for RTM neighbor message"), in order with link changes.
const FDBRaceIssue = "zebra 10.3 and 10.4 can miss a static FDB entry or a host route written right after its port joined the bridge or the VRF (link changes read in the dataplane thread, FDB and route changes in the main thread)"

// HasFDBRace reports whether FRR v has FDBRaceIssue: 10.3 and 10.4. An
// unknown version counts as having it: the check it decides costs a
// vtysh run, a missed MAC an unreachable workload.
func HasFDBRace(v Version) bool {
	if !v.Known() {
		return true
	}
	return v.Major == 10 && (v.Minor == 3 || v.Minor == 4)
}

package frr

// BFDStallIssue names the FRR 10 defect the agent's BFD repair works
// around: with BGP unnumbered and BFD on both ends (the host's
// "neighbor UPLINK bfd" and the TOR's), a port that goes down for a few
// seconds and comes back leaves the session down for good: bgpd deletes
// the BFD session and never creates it again, and BGP stays Active,
// its connections reset by the peer, for minutes (reproduced without
// evpnhost on FRR 10.3, two plain instances in namespaces; FRR 8.4.4 is
// back after 3 s, 10.3 with BFD on one end only after 4-7 s). No fixed
// release is known; the closest upstream report is FRR #18742 (BFD from
// BGP peers not started on 10.2/10.3.0).
const BFDStallIssue = "BGP unnumbered with BFD on both ends stays down after a port flap on FRR 10 (BFD session deleted and never re-created; closest upstream report FRR #18742)"

// HasBFDStall reports whether FRR v may have BFDStallIssue: 10.0 and
// later (no fix is known), and an unknown version. The repair it calls
// for only acts on a session that stays down while its link is up.
func HasBFDStall(v Version) bool {
	return !v.Known() || v.Major >= 10
}

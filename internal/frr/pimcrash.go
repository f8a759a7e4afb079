package frr

// PIMVRFDeleteIssue names the pimd defect that deleting any VRF triggers:
// pimd frees the VXLAN work list that all VRFs share and crashes (SIGSEGV
// in pim_vxlan_work_timer_cb) at its next periodic null-register round,
// within about 60 s. FRRouting/frr#18672, fixed in 10.2.3 and 10.3.1;
// Debian 13's 10.3 has it.
const PIMVRFDeleteIssue = "FRRouting/frr#18672 (pimd crashes within about 60 s after a VRF is deleted; fixed in 10.2.3 and 10.3.1)"

// HasPIMVRFDeleteCrash reports whether FRR v has PIMVRFDeleteIssue: 10.0
// up to 10.2.2, and 10.3.0 (the defect came with 10.0). An unknown version
// counts as not having it: this only decides a warning.
func HasPIMVRFDeleteCrash(v Version) bool {
	switch {
	case !v.AtLeast(10, 0):
		return false
	case v.Major == 10 && v.Minor <= 1:
		return true
	case v.Major == 10 && v.Minor == 2:
		return v.Patch < 3
	case v.Major == 10 && v.Minor == 3:
		return v.Patch < 1
	}
	return false
}

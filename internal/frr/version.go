package frr

import (
	"strconv"
	"strings"
)

// Version is an FRR release as `show version` prints it: "8.4.4",
// "10.3.1", "9.1-dev" (Patch -1 when absent).
type Version struct {
	Major, Minor, Patch int
}

// ParseVersion reads the version out of `show version` ("FRRouting 8.4.4
// (h1) on Linux(6.1.0-28-amd64).") or a bare version ("8.4.4",
// "10.3"; a suffix such as "-dev" or "~deb12u1" is ignored). ok is false
// when no version is found.
func ParseVersion(s string) (v Version, ok bool) {
	f := strings.Fields(s)
	for i, w := range f {
		if i == 0 && len(f) > 1 && w == "FRRouting" {
			continue
		}
		if v, ok := parseDotted(strings.TrimRight(w, ".,")); ok {
			return v, true
		}
		if i > 1 { // the version is the first or second word
			break
		}
	}
	return Version{}, false
}

func parseDotted(w string) (Version, bool) {
	if i := strings.IndexAny(w, "-~+ "); i >= 0 {
		w = w[:i]
	}
	parts := strings.Split(w, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, false
	}
	n := [3]int{0, 0, -1}
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return Version{}, false
		}
		n[i] = x
	}
	return Version{n[0], n[1], n[2]}, true
}

func (v Version) String() string {
	if v.Patch < 0 {
		return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor)
	}
	return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Patch)
}

func (v Version) less(major, minor, patch int) bool {
	if v.Major != major {
		return v.Major < major
	}
	if v.Minor != minor {
		return v.Minor < minor
	}
	return max(v.Patch, 0) < patch
}

// RMACLossIssue names the zebra defect that drops the router MACs, next
// hops and neighbor entries of remote VTEPs from an L3VNI when it
// replaces the routes through them (one of two TORs fails): FRR #12391,
// fixed in 8.4.5 and 9.1 (docs/architecture.md).
const RMACLossIssue = "FRR #12391 (zebra drops L3VNI router MACs of remote VTEPs when it replaces their routes; fixed in 8.4.5 and 9.1)"

// HasRMACLoss reports whether FRR v may have RMACLossIssue: every
// release before 9.1 except 8.4.5 and later 8.4 releases (the backport).
// Releases before 8.4 and 8.5 are counted as having it: no fix is known
// there, and the repair it calls for is harmless where nothing is lost.
func HasRMACLoss(v Version) bool {
	if v.Major == 8 && v.Minor == 4 {
		return v.less(8, 4, 5)
	}
	return v.less(9, 1, 0)
}

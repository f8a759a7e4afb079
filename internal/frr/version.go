package frr

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is an FRR release, as FRR prints it: 8.4.4, 10.3 (10.3.0). The
// renderer, the plan and reconcile take it as data (frrctl.Instance.Version
// detects it); the zero Version is unknown.
//
// What differs between the generations evpnhost supports (FRR 8.4 and
// FRR >= 9, tested on 10.3), docs/architecture.md:
//   - >= 9: zebra's and staticd's configuration go through mgmtd, a
//     required daemon (MgmtdRequired);
//   - >= 10.0: `bgp enforce-first-as` is on by default;
//   - >= 10.2: PIM's global configuration lives under `router pim`
//     (RouterPIM).
type Version struct {
	Major, Minor, Patch int
}

// V84 is the FRR of Debian 12 (8.4.4), the generation evpnhost was built
// on: what the goldens without a version suffix render for.
var V84 = Version{8, 4, 4}

// ParseVersion reads a version as FRR prints it: "8.4.4", "10.3",
// "10.4-dev", "9.1.2_git", "FRRouting 10.3 (h1) on Linux(6.12.0)", "frr
// version 8.4.4", "zebra version 8.4.4". It takes the first word that
// starts with a digit and has a dot.
func ParseVersion(s string) (Version, error) {
	for _, w := range strings.Fields(s) {
		if w[0] < '0' || w[0] > '9' || !strings.Contains(w, ".") {
			continue
		}
		var v Version
		parts := strings.SplitN(w, ".", 3)
		for k, dst := range []*int{&v.Major, &v.Minor, &v.Patch} {
			if k >= len(parts) {
				break
			}
			n, err := strconv.Atoi(leadingDigits(parts[k]))
			if err != nil {
				if k == 0 {
					return Version{}, fmt.Errorf("FRR version %q: not a number", w)
				}
				break // "10.3-dev": minor 3, patch 0
			}
			*dst = n
			if leadingDigits(parts[k]) != parts[k] {
				break // "10.3-dev.1": nothing after a suffix
			}
		}
		if v.Major == 0 {
			return Version{}, fmt.Errorf("FRR version %q: major version 0", w)
		}
		return v, nil
	}
	return Version{}, fmt.Errorf("no FRR version in %q", firstLine(s))
}

func leadingDigits(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return s[:i]
		}
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(l) > 80 {
		l = l[:80] + "..."
	}
	return l
}

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	if v.Major != major {
		return v.Major > major
	}
	return v.Minor >= minor
}

// Known reports whether v was detected (not the zero Version).
func (v Version) Known() bool { return v.Major > 0 }

// String prints v as FRR does for x.y.0 too: "8.4.4", "10.3".
func (v Version) String() string {
	if !v.Known() {
		return "unknown"
	}
	if v.Patch == 0 {
		return fmt.Sprintf("%d.%d", v.Major, v.Minor)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// MgmtdRequired: from FRR 9 on, zebra and staticd take their configuration
// through mgmtd; without it, vtysh and frr-reload.py skip `vrf X / vni N`
// and `ip route` lines without a word and return 0.
func (v Version) MgmtdRequired() bool { return v.AtLeast(9, 0) }

// RouterPIM: from FRR 10.2 on, PIM's global configuration (`rp`) is in a
// `router pim` node instead of `ip pim rp` lines.
func (v Version) RouterPIM() bool { return v.AtLeast(10, 2) }

// Supported tells whether evpnhost knows the generation: 8.4 and later.
func (v Version) Supported() error {
	if v.Known() && !v.AtLeast(8, 4) {
		return fmt.Errorf("FRR %s is not supported: evpnhost needs FRR 8.4 or later (8.4 and 10.3 are tested)", v)
	}
	return nil
}

package linux

import (
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// TestNUDConstants: internal/kernel's neighbor states, which it keeps to
// stay free of netlink, are the kernel's.
func TestNUDConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		own, real int
	}{
		{"NONE", kernel.NUDNone, netlink.NUD_NONE}, {"INCOMPLETE", kernel.NUDIncomplete, netlink.NUD_INCOMPLETE},
		{"REACHABLE", kernel.NUDReachable, netlink.NUD_REACHABLE}, {"STALE", kernel.NUDStale, netlink.NUD_STALE},
		{"DELAY", kernel.NUDDelay, netlink.NUD_DELAY}, {"PROBE", kernel.NUDProbe, netlink.NUD_PROBE},
		{"FAILED", kernel.NUDFailed, netlink.NUD_FAILED}, {"NOARP", kernel.NUDNoARP, netlink.NUD_NOARP},
		{"PERMANENT", kernel.NUDPermanent, netlink.NUD_PERMANENT},
	} {
		if c.own != c.real {
			t.Errorf("NUD_%s: kernel has %#x, netlink %#x", c.name, c.own, c.real)
		}
	}
}

package kernel

import (
	"net/netip"
	"strings"
	"testing"
)

// TestDiffReplicationModeIsReplace: a VXLAN device's multicast group
// cannot change in place: switching between ingress and multicast
// replication is a visible replace of that device only.
func TestDiffReplicationModeIsReplace(t *testing.T) {
	ingress := sample()
	mcast := sample()
	for i, l := range mcast.Links {
		if l.Name == "vx10" {
			l.Group, l.Dev, l.TTL = netip.MustParseAddr("239.1.1.10"), "lo", 64
			mcast.Links[i] = l
		}
	}
	for _, c := range []struct {
		name     string
		des, obs State
		want     string
	}{
		{"to multicast", mcast, ingress, "replace link vx10: replication ingress -> multicast group 239.1.1.10 dev lo ttl 64"},
		{"to ingress", ingress, mcast, "replace link vx10: replication multicast group 239.1.1.10 dev lo ttl 64 -> ingress"},
	} {
		got := render(Diff(c.des, c.obs))
		if !strings.Contains(got, c.want+"\n") {
			t.Errorf("%s: plan lacks %q:\n%s", c.name, c.want, got)
		}
		for _, l := range strings.Split(got, "\n") {
			if strings.HasPrefix(l, "replace") && !strings.Contains(l, "vx10") {
				t.Errorf("%s: replaces more than vx10: %s", c.name, l)
			}
		}
	}
	if p := Diff(mcast, mcast); p.Len() != 0 {
		t.Errorf("equal multicast states differ:\n%s", render(p))
	}
	// A changed group is a replace too.
	other := sample()
	for i, l := range other.Links {
		if l.Name == "vx10" {
			l.Group, l.Dev, l.TTL = netip.MustParseAddr("239.1.1.11"), "lo", 64
			other.Links[i] = l
		}
	}
	if got := render(Diff(other, mcast)); !strings.Contains(got, "239.1.1.10 dev lo ttl 64 -> multicast group 239.1.1.11") {
		t.Errorf("group change not a replace:\n%s", got)
	}
}

package cni

import (
	"slices"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/attach"
)

// TestHostIfNameCollision: when another container's record holds the
// 8-digit veth name (a hash collision), ADD takes the 12-digit name and
// DEL without a record leaves the other container's veth alone.
func TestHostIfNameCollision(t *testing.T) {
	id := attach.CNIID("c1", "eth0")
	short, long := attach.HostIfName("c1", "eth0"), attach.HostIfNameLong("c1", "eth0")
	if len(long) != 15 || !strings.HasPrefix(long, short) {
		t.Fatalf("names %s %s", short, long)
	}
	other := attach.Attachment{ID: "cni-other", Owner: attach.OwnerCNI, Interface: short, ContainerID: "c2", IfName: "eth0"}

	for _, tc := range []struct {
		name string
		recs []attach.Attachment
		want string
	}{
		{"free", nil, short},
		{"repeated ADD", []attach.Attachment{{ID: id, Interface: short}}, short},
		{"repeated ADD keeps the long name", []attach.Attachment{other, {ID: id, Interface: long}}, long},
		{"collision", []attach.Attachment{other}, long},
	} {
		got, err := pickHostIfName(tc.recs, id, "c1", "eth0")
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	both := []attach.Attachment{other, {ID: "cni-third", Interface: long}}
	if got, err := pickHostIfName(both, id, "c1", "eth0"); err == nil || !strings.Contains(err.Error(), "cni-other") {
		t.Errorf("both names held: got %q, %v", got, err)
	}

	if got := orphanNames([]attach.Attachment{other}, "c1", "eth0"); !slices.Equal(got, []string{long}) {
		t.Errorf("DEL without a record would delete %v, want only %s", got, long)
	}
	if got := orphanNames(nil, "c1", "eth0"); !slices.Equal(got, []string{short, long}) {
		t.Errorf("orphans %v", got)
	}
}

package ebpf

import (
	"testing"

	"github.com/vishvananda/netlink"
)

// TestPick: evpnhost's filter is the eBPF filter at its priority with its
// name; another filter at that priority is foreign, never taken for ours
// (it used to be matched by priority alone, and deleted or replaced).
func TestPick(t *testing.T) {
	at := func(prio uint16) netlink.FilterAttrs { return netlink.FilterAttrs{Priority: prio} }
	mine := &netlink.BpfFilter{FilterAttrs: at(FilterPriority), Name: FilterName}
	otherName := &netlink.BpfFilter{FilterAttrs: at(FilterPriority), Name: "cilium-policy"}
	otherPrio := &netlink.BpfFilter{FilterAttrs: at(FilterPriority + 1), Name: FilterName}
	u32 := &netlink.U32{FilterAttrs: at(FilterPriority)}
	for _, c := range []struct {
		name          string
		fs            []netlink.Filter
		ours, foreign netlink.Filter
	}{
		{"none", nil, nil, nil},
		{"ours", []netlink.Filter{otherPrio, mine}, mine, nil},
		{"same priority, other name", []netlink.Filter{otherName}, nil, otherName},
		{"same priority, not eBPF", []netlink.Filter{u32}, nil, u32},
		{"ours beside a foreign one", []netlink.Filter{otherName, mine}, mine, otherName},
		{"other priority", []netlink.Filter{otherPrio}, nil, nil},
	} {
		ours, foreign := pick(c.fs)
		var gotOurs netlink.Filter
		if ours != nil {
			gotOurs = ours
		}
		if gotOurs != c.ours || foreign != c.foreign {
			t.Errorf("%s: ours %v foreign %v, want %v %v", c.name, ours, foreign, c.ours, c.foreign)
		}
	}
}

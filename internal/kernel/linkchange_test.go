package kernel

import (
	"net/netip"
	"testing"
)

// TestLinkChanges: every mutable attribute that differs is a typed change,
// in Diff's order, and the changes print as plan always printed them.
func TestLinkChanges(t *testing.T) {
	o := Link{Name: "vx10", Kind: KindVXLAN, MTU: 1450, MAC: "02:ee:00:00:00:01", VLANs: []uint16{10},
		Learning: true}
	d := Link{Name: "vx10", Kind: KindVXLAN, MTU: 1500, MAC: "02:ee:00:00:00:02", Master: "evpnbr",
		VLANs: []uint16{10, 20}, PVID: 10, NeighSuppress: true,
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.10.1/24"), netip.MustParsePrefix("fd00::1/64")}}
	ch := linkChanges(d, o)
	var attrs []LinkAttr
	for _, c := range ch {
		attrs = append(attrs, c.Attr)
	}
	want := []LinkAttr{AttrMTU, AttrAddress, AttrMaster, AttrVLANs, AttrPVID, AttrNeighSuppress, AttrLearning, AttrAddrs}
	if len(attrs) != len(want) {
		t.Fatalf("attributes %v, want %v", attrs, want)
	}
	for i := range want {
		if attrs[i] != want[i] {
			t.Fatalf("attributes %v, want %v", attrs, want)
		}
		if !ch.Has(want[i]) {
			t.Errorf("Has(%s) false", want[i])
		}
	}
	if c := ch[0]; c.From != "1450" || c.To != "1500" {
		t.Errorf("mtu change %+v", c)
	}
	const text = `mtu 1450 -> 1500, address 02:ee:00:00:00:01 -> 02:ee:00:00:00:02, master "" -> "evpnbr", ` +
		`vlans [10] -> [10,20], pvid 0 -> 10, neigh_suppress on, learning off, addrs [] -> [10.1.10.1/24 fd00::1/64]`
	if got := ch.String(); got != text {
		t.Errorf("String:\n%s\nwant:\n%s", got, text)
	}
	if ch := linkChanges(d, d); len(ch) != 0 || ch.String() != "" || ch.Has(AttrMTU) {
		t.Errorf("no change: %v", ch)
	}
	// A VXLAN-only attribute of another kind is no change.
	if ch := linkChanges(Link{Kind: KindVLAN, Learning: true}, Link{Kind: KindVLAN}); len(ch) != 0 {
		t.Errorf("learning of a vlan: %v", ch)
	}
}

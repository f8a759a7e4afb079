package kernel

import (
	"net/netip"
	"strings"
	"testing"
)

// TestL3Holes: a next hop is whole with a usable neighbor entry carrying a
// MAC and that MAC's FDB entry pointing at the VTEP (an IPv6 route's
// IPv4-mapped next hop needs the FDB entry of the IPv4 VTEP); every other
// case is a hole naming what is missing, listed in address order.
func TestL3Holes(t *testing.T) {
	l3Holes := func(l L3VNI, v L3View) []L3Hole {
		var holes []L3Hole
		for _, h := range L3NextHops(l, v) {
			if h.Problem != "" {
				holes = append(holes, h)
			}
		}
		return holes
	}
	l := L3VNI{Tenant: "red", Table: 4001, SVI: "vlan3001", VXLAN: "vx4001"}
	a := netip.MustParseAddr
	const mac2, mac3 = "02:ee:0a:00:00:02", "02:ee:0a:00:00:03"
	whole := L3View{
		Gateways: map[netip.Addr]int{a("10.0.0.2"): 2, a("::ffff:10.0.0.2"): 2, a("10.0.0.3"): 1},
		Neigh: map[netip.Addr]L3Neigh{
			a("10.0.0.2"):        {MAC: mac2, State: NUDNoARP},
			a("::ffff:10.0.0.2"): {MAC: mac2, State: NUDNoARP},
			a("10.0.0.3"):        {MAC: mac3, State: NUDNoARP},
			a("10.9.9.9"):        {}, // not a next hop: ignored
		},
		FDB: map[string][]netip.Addr{mac2: {a("10.0.0.2")}, mac3: {a("10.0.0.3")}},
	}
	if h := l3Holes(l, whole); len(h) != 0 {
		t.Fatalf("whole view has holes: %v", h)
	}
	for _, tc := range []struct {
		name string
		edit func(v *L3View)
		want []string
	}{
		{"neighbor gone (zebra dropped it)", func(v *L3View) { delete(v.Neigh, a("10.0.0.3")) },
			[]string{"red: 1 routes via 10.0.0.3 on vlan3001: no neighbor entry (router MAC lost)"}},
		{"neighbor FAILED (the kernel tried ARP)", func(v *L3View) {
			v.Neigh[a("10.0.0.2")] = L3Neigh{State: NUDFailed}
		}, []string{"red: 2 routes via 10.0.0.2 on vlan3001: neighbor entry FAILED, no router MAC"}},
		{"router MAC's FDB entry gone: both families", func(v *L3View) { delete(v.FDB, mac2) }, []string{
			"red: 2 routes via 10.0.0.2 on vlan3001: router MAC 02:ee:0a:00:00:02 has no FDB entry to 10.0.0.2 on vx4001",
			"red: 2 routes via ::ffff:10.0.0.2 on vlan3001: router MAC 02:ee:0a:00:00:02 has no FDB entry to 10.0.0.2 on vx4001",
		}},
		{"FDB entry to another VTEP", func(v *L3View) { v.FDB[mac3] = []netip.Addr{a("10.0.0.9")} },
			[]string{"red: 1 routes via 10.0.0.3 on vlan3001: router MAC 02:ee:0a:00:00:03 has no FDB entry to 10.0.0.3 on vx4001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := L3View{Gateways: whole.Gateways, Neigh: map[netip.Addr]L3Neigh{}, FDB: map[string][]netip.Addr{}}
			for k, e := range whole.Neigh {
				v.Neigh[k] = e
			}
			for k, e := range whole.FDB {
				v.FDB[k] = e
			}
			tc.edit(&v)
			var got []string
			for _, h := range l3Holes(l, v) {
				got = append(got, h.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("holes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

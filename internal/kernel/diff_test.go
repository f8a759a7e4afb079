package kernel

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func vx(vni uint32, vlan uint16) Link {
	return Link{Name: "vx" + strconv.Itoa(int(vni)), Kind: KindVXLAN, VNI: vni, Local: netip.MustParseAddr("10.0.0.1"),
		Master: BridgeName, PVID: vlan, MTU: 1450, NeighSuppress: true, Up: true}
}

func sample() State {
	return State{
		Sysctls: []Sysctl{{Name: "net/ipv4/ip_forward", Value: "1"}},
		LoAddrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
		Links: []Link{
			{Name: BridgeName, Kind: KindBridge, MAC: "02:ee:0a:00:00:01", VLANs: []uint16{10, 3000}, Up: true},
			{Name: "red", Kind: KindVRF, Table: 4001, Up: true},
			vx(4001, 3000), vx(10, 10),
			{Name: "vlan3000", Kind: KindVLAN, Parent: BridgeName, VLANID: 3000, Master: "red", MTU: 1450, Up: true},
			{Name: "vlan10", Kind: KindVLAN, Parent: BridgeName, VLANID: 10, Master: "red", MTU: 1450, MAC: "00:00:5e:00:01:01",
				Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.10.1/24")}, Up: true},
			{Name: "vm1", Kind: KindPort, Master: BridgeName, PVID: 10},
		},
		Routes: []Route{{Table: 4001, Dst: netip.MustParsePrefix("0.0.0.0/0"), Metric: UnreachableMetric}},
		Neighs: []Neigh{{Dev: "vlan10", IP: netip.MustParseAddr("10.1.10.11"), MAC: "02:00:00:00:00:11"}},
		FDB: []FDB{{Dev: BridgeName, MAC: "00:00:5e:00:01:01", VLAN: 10, Self: true},
			{Dev: "vm1", MAC: "02:00:00:00:00:11", VLAN: 10}},
	}
}

func render(p Plan) string {
	var b strings.Builder
	for _, op := range p.Ops() {
		b.WriteString(op.String() + "\n")
	}
	return b.String()
}

func TestDiffEqualIsEmpty(t *testing.T) {
	if p := Diff(sample(), sample()); p.Len() != 0 {
		t.Fatalf("equal states gave operations:\n%s", render(p))
	}
}

func TestDiffFromNothing(t *testing.T) {
	p := Diff(sample(), State{})
	got := render(p)
	want := `set     sysctl net/ipv4/ip_forward: unset -> 1
add     addr 10.0.0.1/32 dev lo
add     link evpnbr: evpnbr type bridge address 02:ee:0a:00:00:01 vlans 10,3000
add     link red: red type vrf table 4001
add     link vx4001: vx4001 type vxlan id 4001 local 10.0.0.1 dstport 4789 nolearning master evpnbr mtu 1450 pvid 3000 neigh_suppress on
add     link vx10: vx10 type vxlan id 10 local 10.0.0.1 dstport 4789 nolearning master evpnbr mtu 1450 pvid 10 neigh_suppress on
add     link vlan3000: vlan3000 type vlan link evpnbr id 3000 master red mtu 1450
add     link vlan10: vlan10 type vlan link evpnbr id 10 master red mtu 1450 address 00:00:5e:00:01:01
set     link vm1: master "" -> "evpnbr", pvid 0 -> 10
add     route table 4001 0.0.0.0/0: unreachable metric 4278198272
add     fdb 00:00:5e:00:01:01 dev evpnbr vlan 10: self local
add     fdb 02:00:00:00:00:11 dev vm1 vlan 10: master static
add     neigh 10.1.10.11 dev vlan10: lladdr 02:00:00:00:00:11 nud permanent
up      link evpnbr
up      link red
up      link vx4001
up      link vx10
up      link vlan3000
up      link vlan10
set     link vlan10: addrs [] -> [10.1.10.1/24]
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDiffRemoveEverything(t *testing.T) {
	des := State{Sysctls: sample().Sysctls}
	got := render(Diff(des, sample()))
	want := `delete  neigh 10.1.10.11 dev vlan10
delete  fdb 00:00:5e:00:01:01 dev evpnbr vlan 10
delete  fdb 02:00:00:00:00:11 dev vm1 vlan 10
delete  route table 4001 0.0.0.0/0
delete  link vlan3000
delete  link vlan10
delete  link vx4001
delete  link vx10
set     link vm1: nomaster (detached from evpnbr)
delete  link red
delete  link evpnbr
delete  addr 10.0.0.1/32 dev lo
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDiffMutableAndReplace(t *testing.T) {
	obs := sample()
	des := sample()
	des.Links[3].MTU = 1400 // vx10: set in place
	des.Links[3].NeighSuppress = false
	des.Links[1].Table = 1001 // red: table cannot change in place
	got := render(Diff(des, obs))
	want := `replace link red: table 4001 -> 1001
set     link vx10: mtu 1450 -> 1400, neigh_suppress off
set     link vlan3000: master "" -> "red"
set     link vlan10: master "" -> "red"
add     neigh 10.1.10.11 dev vlan10: lladdr 02:00:00:00:00:11 nud permanent
up      link red
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDiffReplacedBridgeRecreatesSVIs(t *testing.T) {
	obs := sample()
	obs.Links[0].Kind = KindVRF // something else squats on the bridge name
	got := render(Diff(sample(), obs))
	for _, w := range []string{"replace link evpnbr", "add     link vlan10", "add     link vlan3000", "add     neigh 10.1.10.11", "add     fdb 00:00:5e:00:01:01 dev evpnbr"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}

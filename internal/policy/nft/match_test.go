package nft

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/evpnhost/evpnhost/internal/policy"
)

// TestMatch checks the expressions of compiled entries: which header
// field each direction compares, prefix masks, protocols and port ranges.
func TestMatch(t *testing.T) {
	e := policy.Entry{Dir: policy.In, Remote: netip.MustParsePrefix("10.9.0.0/16"), Proto: 6, Lo: 8000, Hi: 8080}
	got := match(nftables.TableFamilyBridge, e)
	want := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x08, 0x00}},
		// to the workload: the remote is the source address
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 0, 0}, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 9, 0, 0}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{0x1f, 0x40}, ToData: []byte{0x1f, 0x90}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("in, v4 /16, tcp range:\n got %#v\nwant %#v", got, want)
	}

	e = policy.Entry{Dir: policy.Out, Remote: netip.MustParsePrefix("2001:db8::1/128"), Local: netip.MustParsePrefix("fd00::/8"), Proto: 1}
	got = match(nftables.TableFamilyINet, e)
	if len(got) != 9 {
		t.Fatalf("out, v6: %d expressions: %#v", len(got), got)
	}
	if m := got[1].(*expr.Cmp); m.Data[0] != 10 { // NFPROTO_IPV6
		t.Errorf("nfproto %v, want 10", m.Data)
	}
	// from the workload: the remote is the destination (offset 24), the
	// local prefix the source (offset 8, masked to /8)
	if p := got[2].(*expr.Payload); p.Offset != 24 || p.Len != 16 {
		t.Errorf("remote payload %+v, want daddr", p)
	}
	if p := got[4].(*expr.Payload); p.Offset != 8 || p.Len != 16 {
		t.Errorf("local payload %+v, want saddr", p)
	}
	if b := got[5].(*expr.Bitwise); b.Mask[0] != 0xff || b.Mask[1] != 0 {
		t.Errorf("local mask %v, want /8", b.Mask)
	}
	if c := got[8].(*expr.Cmp); c.Data[0] != 58 { // icmp means ICMPv6 for IPv6
		t.Errorf("l4proto %v, want 58", c.Data)
	}

	// 0.0.0.0/0 compares nothing but the family
	e = policy.Entry{Dir: policy.In, Remote: netip.MustParsePrefix("0.0.0.0/0")}
	if got := match(nftables.TableFamilyBridge, e); len(got) != 2 {
		t.Errorf("0.0.0.0/0 any: %#v", got)
	}
}

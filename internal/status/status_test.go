package status

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// canned answers vtysh commands from captured FRR 8.4 output.
type canned map[string]string

func (c canned) JSON(_ context.Context, cmd string, v any) error {
	s, ok := c[cmd]
	if !ok {
		return fmt.Errorf("no answer for %q", cmd)
	}
	return json.Unmarshal([]byte(s), v)
}

// TestCollectRoutes: EVPN paths are counted by route type, locally
// originated ones (peerId "(unspec)") as advertised, the others as
// received; numPrefix/numPaths are not routes. The route table is the
// shape FRR 8.4.4 prints (captured).
func TestCollectRoutes(t *testing.T) {
	src := canned{
		"show bgp l2vpn evpn route json": `{
 "10.0.0.1:2":{"rd":"10.0.0.1:2",
  "[3]:[0]:[32]:[10.0.0.1]":{"prefix":"[3]:[0]:[32]:[10.0.0.1]","prefixLen":352,"paths":[[{"valid":true,"routeType":3,"peerId":"(unspec)"}]]},
  "[2]:[0]:[48]:[02:00:00:00:00:11]":{"paths":[[{"routeType":2,"peerId":"(unspec)"}]]}},
 "10.0.0.2:2":{"rd":"10.0.0.2:2",
  "[3]:[0]:[32]:[10.0.0.2]":{"paths":[[{"routeType":3,"peerId":"fe80::1"}],[{"routeType":3,"peerId":"fe80::2"}]]},
  "[5]:[0]:[24]:[10.1.10.0]":{"paths":[[{"routeType":5,"peerId":"fe80::1"}]]}},
 "numPrefix":4,"numPaths":5}`,
	}
	r, err := collectRoutes(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	want := Routes{Advertised: map[string]int{"2": 1, "3": 1, "5": 0}, Received: map[string]int{"2": 0, "3": 2, "5": 1}}
	for _, typ := range []string{"2", "3", "5"} {
		if r.Advertised[typ] != want.Advertised[typ] || r.Received[typ] != want.Received[typ] {
			t.Errorf("type %s: advertised %d received %d, want %d %d", typ, r.Advertised[typ], r.Received[typ], want.Advertised[typ], want.Received[typ])
		}
	}
	if _, err := collectRoutes(context.Background(), canned{}); err == nil {
		t.Error("a failing vtysh must be an error")
	}
}

// batched is canned with JSONAll: it counts batch and single calls; fail
// makes the batch fail as a vtysh whose output does not split would.
type batched struct {
	canned
	fail            bool
	batches, single int
}

func (b *batched) JSON(ctx context.Context, cmd string, v any) error {
	b.single++
	return b.canned.JSON(ctx, cmd, v)
}

func (b *batched) JSONAll(ctx context.Context, cmds []string, vs []any) error {
	b.batches++
	if b.fail {
		// what a half-decoded batch leaves behind, which must not survive
		_ = json.Unmarshal([]byte(`{"99":{"vni":99,"type":"L2"}}`), vs[1])
		return fmt.Errorf("2 JSON values printed, want %d", len(cmds))
	}
	for i, c := range cmds {
		if err := b.canned.JSON(ctx, c, vs[i]); err != nil {
			return err
		}
	}
	return nil
}

// TestCollectBatches: a source that can run several commands at once
// gets one batch; when the batch fails, Collect asks command by command
// and keeps nothing the failed batch decoded.
func TestCollectBatches(t *testing.T) {
	answers := canned{
		"show bgp summary json": `{"ipv4Unicast":{"routerId":"10.0.0.1","as":65101,"peers":{"up1":{"hostname":"tor1","remoteAs":65001,"state":"Established","pfxRcd":4}}},
 "l2VpnEvpn":{"routerId":"10.0.0.1","as":65101,"peers":{"up1":{"hostname":"tor1","remoteAs":65001,"state":"Established","pfxRcd":9}}}}`,
		"show evpn vni json":         `{"10":{"vni":10,"type":"L2","vxlanIf":"vx10","tenantVrf":"red","remoteVteps":["10.0.0.2"]}}`,
		"show evpn mac vni all json": `{"10":{"macs":{"02:00:00:00:00:11":{"type":"local"}}}}`,
		routesCmd:                    `{"numPrefix":0}`,
	}
	for _, fail := range []bool{false, true} {
		src := &batched{canned: answers, fail: fail}
		st, err := Collect(context.Background(), src, "h1", "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		wantSingle := 0
		if fail {
			wantSingle = 4
		}
		if src.batches != 1 || src.single != wantSingle {
			t.Errorf("fail=%v: %d batches, %d single commands; want 1, %d", fail, src.batches, src.single, wantSingle)
		}
		if len(st.VNIs) != 1 || st.VNIs[0].VNI != 10 || st.VNIs[0].LocalMACs != 1 || len(st.Sessions) != 1 || st.Sessions[0].EVPNPrefixes != 9 {
			t.Errorf("fail=%v: status %+v", fail, st)
		}
	}
}

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

package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
)

// TestAttachRefuses: `evpnhost attach` refuses (exit 2, nothing recorded,
// the kernel untouched) an interface evpnhost owns or the intent uses and
// an address that collides with a gateway, a workload or another
// attachment, or is unusable.
func TestAttachRefuses(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sd := t.TempDir()
	if err := attach.SaveIntent(sd, in); err != nil {
		t.Fatal(err)
	}
	store := attach.Open(sd)
	if err := store.Put(attach.Attachment{ID: "attach-vnet3", Owner: attach.OwnerAttach, Network: "red/web", Mode: attach.ModeBridged,
		Interface: "vnet3", MAC: "52:54:00:00:00:03", IPs: []string{"10.1.10.50"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--network", "red/web", "--interface", "evpnbr"}, `"evpnbr" is reserved`},
		{[]string{"--network", "red/web", "--interface", "eth0"}, "interface eth0 is a host uplink"},
		{[]string{"--network", "red/web", "--interface", "vx10"}, `"vx10" is reserved: evpnhost names its VXLAN devices vx<VNI>`},
		{[]string{"--network", "red/web", "--interface", "vlan10"}, `"vlan10" is reserved: evpnhost names its SVIs vlan<VID>`},
		{[]string{"--network", "red/web", "--interface", "blue"}, "VRF of tenant blue"},
		{[]string{"--network", "red/web", "--interface", "tap-red-web1"}, "workload red-web-1"},
		{[]string{"--network", "red/web", "--interface", "vnet9", "--mac", "52:54:00:00:00:09", "--ip", "10.1.10.1"}, "--ip 10.1.10.1 is red/web's gateway"},
		{[]string{"--network", "red/web", "--interface", "vnet9", "--mac", "52:54:00:00:00:09", "--ip", "10.1.10.50"}, "attachment attach-vnet3"},
		{[]string{"--network", "red/web", "--interface", "vnet9", "--mac", "52:54:00:00:00:09", "--ip", "10.1.10.11"}, "workload red-web-1"},
		{[]string{"--network", "red/web", "--interface", "vnet9", "--mode", "routed", "--ip", "0.0.0.0"}, "unspecified"},
		{[]string{"--network", "red/web", "--interface", "vnet9", "--mode", "routed", "--ip", "10.1.20.9"}, "inside red/app's subnet"},
	} {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"--state-dir", sd, "attach"}, tc.args...))
		err := root.ExecuteContext(context.Background())
		var ee exitError
		if !errors.As(err, &ee) || ee.code != exitInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want exit %d with %q", tc.args, err, exitInvalid, tc.want)
		}
		list, err := store.List()
		if err != nil || len(list) != 1 {
			t.Errorf("%v: recorded %v (%v)", tc.args, list, err)
		}
	}
}

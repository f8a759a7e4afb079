package cni

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
)

// TestCheckAttachment: ADD checks its addresses with attach.CheckAddrs
// (the same rules as `evpnhost attach`) against the intent and the
// recorded attachments, and fails with code 7 naming "ipam".
func TestCheckAttachment(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store := attach.Open(t.TempDir())
	if err := store.Put(attach.Attachment{ID: "attach-vnet3", Owner: attach.OwnerAttach, Network: "red/web", Mode: attach.ModeBridged,
		Interface: "vnet3", IPs: []string{"10.1.10.50"}}); err != nil {
		t.Fatal(err)
	}
	args := &skel.CmdArgs{ContainerID: "c1", IfName: "eth0"}
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		mode  string
		addrs []netip.Prefix
		want  string // "" = accepted
	}{
		{attach.ModeBridged, []netip.Prefix{p("10.1.10.5/24")}, ""},
		{attach.ModeRouted, []netip.Prefix{p("10.1.99.5/24"), p("fd99::5/64")}, ""},
		{attach.ModeBridged, nil, "no address"},
		{attach.ModeBridged, []netip.Prefix{p("10.1.11.5/24")}, "outside the subnets of red/web"},
		{attach.ModeBridged, []netip.Prefix{p("10.1.10.1/24")}, "10.1.10.1 is red/web's gateway"},
		{attach.ModeRouted, []netip.Prefix{p("10.1.10.1/32")}, "10.1.10.1 is red/web's gateway"},
		{attach.ModeRouted, []netip.Prefix{p("10.1.10.5/24")}, "inside red/web's subnet"},
		{attach.ModeRouted, []netip.Prefix{p("10.1.20.5/32")}, "inside red/app's subnet"},
		{attach.ModeRouted, []netip.Prefix{p("0.0.0.0/0")}, "unspecified"},
		{attach.ModeBridged, []netip.Prefix{p("10.1.10.11/24")}, "workload red-web-1"},
		{attach.ModeBridged, []netip.Prefix{p("10.1.10.50/24")}, "attachment attach-vnet3"},
	} {
		conf := &NetConf{Network: "red/web", Mode: tc.mode}
		err := checkAttachment(in, store, candidate(conf, args, tc.addrs))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %v: %v", tc.mode, tc.addrs, err)
			}
			continue
		}
		var te *types.Error
		if !errors.As(err, &te) || te.Code != types.ErrInvalidNetworkConfig || !strings.Contains(te.Msg, `"ipam"`) || !strings.Contains(te.Msg, tc.want) {
			t.Errorf("%s %v: got %v, want code 7 naming \"ipam\" and %q", tc.mode, tc.addrs, err, tc.want)
		}
	}
}

// TestCheckAttachmentInterface: a host end named like an interface the
// intent uses is refused before the veth is made.
func TestCheckAttachmentInterface(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	args := &skel.CmdArgs{ContainerID: "c1", IfName: "eth0"}
	in.Workloads[0].Interface = attach.HostIfName(args.ContainerID, args.IfName)
	a := candidate(&NetConf{Network: "red/web", Mode: attach.ModeBridged}, args, []netip.Prefix{netip.MustParsePrefix("10.1.10.5/24")})
	err = checkAttachment(in, attach.Open(t.TempDir()), a)
	if err == nil || !strings.Contains(err.Error(), "workload red-web-1") {
		t.Fatalf("got %v", err)
	}
}

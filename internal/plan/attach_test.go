package plan

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// TestBuildWithAttachments: a bridged attachment is a workload (port on
// the network's VLAN, static FDB entry, permanent neighbors); a routed one
// is a port of the tenant VRF with one host route per address; unknown
// networks and taken interfaces are left out.
func TestBuildWithAttachments(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ten, netw := in.Tenants[0], in.Tenants[0].Networks[0]
	ref := ten.Name + "/" + netw.Name
	atts := []Attachment{
		{Network: ref, Interface: "evc00000001", MAC: "02:00:00:00:aa:01", IPs: []netip.Addr{netip.MustParseAddr("10.1.10.50")}},
		{Network: ref, Interface: "evc00000002", IPs: []netip.Addr{netip.MustParseAddr("10.99.0.5"), netip.MustParseAddr("fd99::5")}, Routed: true},
		{Network: "nope/web", Interface: "evc00000003"},
	}
	if len(in.Workloads) > 0 {
		atts = append(atts, Attachment{Network: ref, Interface: in.Workloads[0].Interface})
	}
	d := BuildWith(in, atts)
	base := Build(in)
	got := kernel.Diff(d.Kernel, base.Kernel).Ops()
	var b strings.Builder
	for _, op := range got {
		b.WriteString(op.String() + "\n")
	}
	want := []string{
		"set     link evc00000001: master \"\" -> \"evpnbr\", pvid 0 -> " + itoa(netw.VLAN),
		"set     link evc00000002: master \"\" -> \"" + ten.Name + "\"",
		"add     route table " + itoa32(ten.Table()) + " 10.99.0.5/32: dev evc00000002 scope link",
		"add     route table " + itoa32(ten.Table()) + " fd99::5/128: dev evc00000002 scope link",
		"add     fdb 02:00:00:00:aa:01 dev evc00000001 vlan " + itoa(netw.VLAN) + ": master static",
		"add     neigh 10.1.10.50 dev vlan" + itoa(netw.VLAN) + ": lladdr 02:00:00:00:aa:01 nud permanent",
		"up      link evc00000002",
	}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("missing %q in:\n%s", w, b.String())
		}
	}
	if strings.Contains(b.String(), "evc00000003") {
		t.Errorf("attachment to an unknown network planned:\n%s", b.String())
	}
	sk := Skipped(in, atts)
	if !strings.Contains(sk["evc00000003"], "unknown network") {
		t.Errorf("skipped: %v", sk)
	}
	// No attachments: BuildWith is Build.
	if p := kernel.Diff(BuildWith(in, nil).Kernel, base.Kernel); p.Len() != 0 {
		t.Errorf("BuildWith(nil) differs from Build: %v", p.Ops())
	}
}

func itoa(v uint16) string   { return strconv.Itoa(int(v)) }
func itoa32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

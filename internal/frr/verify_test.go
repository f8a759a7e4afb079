package frr

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMissing: every line of a rendered configuration is found in a
// running configuration that holds it in another order, with FRR's
// chatter around; a running configuration that lost lines (FRR 10
// without mgmtd drops `vni`) names each, with its stanza and address
// family.
func TestMissing(t *testing.T) {
	rendered, err := os.ReadFile(filepath.Join("testdata", "tenants.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// As FRR shows it: frr version first, vtysh's hostname besides the
	// daemons', stanzas reordered.
	sts := Stanzas(string(rendered))
	slices.Reverse(sts)
	var b strings.Builder
	b.WriteString("Building configuration...\n\nCurrent configuration:\n!\nfrr version 10.3\nfrr defaults traditional\nhostname vm\n")
	for _, st := range sts {
		b.WriteString(strings.Join(st, "\n") + "\n!\n")
	}
	b.WriteString("end\n")
	running := b.String()
	if m := Missing(string(rendered), running); len(m) != 0 {
		t.Fatalf("missing %q from\n%s", m, running)
	}
	dropped := strings.NewReplacer(" vni 4001\n", "", "  advertise-all-vni\n", "", "  route-target export 65000:4001\n", "").Replace(running)
	got := Missing(string(rendered), dropped)
	want := []string{"vrf red / vni 4001",
		"router bgp 65101 / address-family l2vpn evpn / advertise-all-vni",
		"router bgp 65101 vrf red / address-family l2vpn evpn / route-target export 65000:4001"}
	if !slices.Equal(got, want) {
		t.Fatalf("Missing = %q, want %q", got, want)
	}
	// The same line in another stanza does not count.
	moved := strings.Replace(running, "vrf blue\n vni 4002\n", "vrf blue\n", 1)
	moved = strings.Replace(moved, "vrf red\n vni 4001\n", "vrf red\n vni 4002\n", 1)
	if got := Missing(string(rendered), moved); !slices.Equal(got, []string{"vrf blue / vni 4002", "vrf red / vni 4001"}) {
		t.Fatalf("moved vni: Missing = %q", got)
	}
}

// TestMergeRouterPIM: on FRR >= 10.2 evpnhost owns the rp lines of
// router pim; the operator's other PIM lines stay, inside the rendered
// router pim when there is one, else in a stanza of their own; a router
// pim of nothing but evpnhost's rp lines goes.
func TestMergeRouterPIM(t *testing.T) {
	running := "frr version 10.3\n!\nrouter pim\n rp 10.255.0.9 239.9.0.0/16\n join-prune-interval 30\nexit\n!\nrouter pim vrf red\n rp 10.9.9.9\nexit\n!\n"
	rendered := "hostname h1\n!\nrouter pim\n rp 10.255.0.1 239.1.1.0/24\nexit\n!\n"
	want := "router pim vrf red\n rp 10.9.9.9\nexit\n!\nhostname h1\n!\nrouter pim\n join-prune-interval 30\n rp 10.255.0.1 239.1.1.0/24\nexit\n!\n"
	if got := Merge(running, rendered, Ownership{}); got != want {
		t.Fatalf("merge:\n%s\nwant:\n%s", got, want)
	}
	want = "router pim\n join-prune-interval 30\nexit\n!\nrouter pim vrf red\n rp 10.9.9.9\nexit\n!\nhostname h1\n"
	if got := Merge(running, "hostname h1\n", Ownership{}); got != want {
		t.Fatalf("merge without multicast:\n%s\nwant:\n%s", got, want)
	}
	if got := Merge("router pim\n rp 10.255.0.9 239.9.0.0/16\nexit\n", "hostname h1\n", Ownership{}); got != "hostname h1\n" {
		t.Fatalf("router pim of evpnhost's rp lines only kept:\n%s", got)
	}
}

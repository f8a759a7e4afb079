package policy_test

import (
	"flag"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/plan"
	"github.com/evpnhost/evpnhost/internal/policy"
	"github.com/evpnhost/evpnhost/internal/policy/policytest"
)

var update = flag.Bool("update", false, "rewrite the goldens")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/policy -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s mismatch\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestCompileGolden(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	atts := []plan.Attachment{
		{Network: "red/db", Interface: "evc1", IPs: []netip.Addr{netip.MustParseAddr("10.1.20.5")}},
		{Network: "red/web", Interface: "evc2", IPs: []netip.Addr{netip.MustParseAddr("10.1.99.7")}, Routed: true},
		{Network: "blue/x", Interface: "evc3"},
	}
	tbl := policy.Compile(in, policy.Ports(in, atts))
	golden(t, "compile-policy.txt", tbl.String())
	scen := policytest.Load(t, policytest.Intent)
	golden(t, "compile-scenario.txt", policytest.Compile(scen).String())
}

var (
	web  = netip.MustParseAddr("10.1.10.11")
	db   = netip.MustParseAddr("10.1.20.11")
	ext  = netip.MustParseAddr("10.1.30.11")
	web6 = netip.MustParseAddr("fd00:10::11")
	db6  = netip.MustParseAddr("fd00:20::11")
)

func TestDecide(t *testing.T) {
	tbl := policytest.Compile(policytest.Load(t, policytest.Intent))
	ports := map[string]policy.PortTable{}
	for _, p := range tbl.Ports {
		ports[p.Interface] = p
	}
	for _, c := range []struct {
		port          string
		dir           policy.Dir
		remote, local netip.Addr
		proto         uint8
		dport         uint16
		allow         bool
		rule          int
	}{
		{"pweb1", policy.Out, db, web, 6, 5432, true, 0},
		{"pdb1", policy.In, web, db, 6, 5432, true, 0},
		{"pdb1", policy.In, web6, db6, 6, 5432, true, 0},
		{"pdb1", policy.In, web, db, 6, 5433, false, -1},
		{"pdb1", policy.In, web, db, 17, 5432, false, -1},
		{"pdb1", policy.Out, web, db, 6, 5432, false, -1},
		{"pweb1", policy.In, ext, web, 6, 443, true, 1},
		{"pweb1", policy.In, ext, web, 6, 444, false, -1},
		{"pdb1", policy.In, ext, db, 6, 5432, false, -1},
		{"pweb1", policy.In, db, web, 1, 0, true, 2},
		{"pweb1", policy.In, db6, web6, 58, 0, true, 2},
		{"pdb1", policy.Out, web, db, 1, 0, true, 2},
		{"pweb1", policy.Out, db, web, 1, 0, false, -1},
	} {
		pt := ports[c.port]
		allow, rule := pt.Decide(c.dir, c.remote, c.local, c.proto, c.dport)
		if allow != c.allow || rule != c.rule {
			t.Errorf("%s %s %s->%s %d/%d: got %v rule %d, want %v rule %d", c.port, c.dir, c.remote, c.local, c.proto, c.dport, allow, rule, c.allow, c.rule)
		}
		cs, err := pt.Classes()
		if err != nil {
			t.Fatal(err)
		}
		if a, r := policy.DecideClasses(cs, pt.DefaultAllow, c.dir, c.remote, c.local, c.proto, c.dport); a != allow || r != rule {
			t.Errorf("classes disagree for %+v: %v %d", c, a, r)
		}
	}
}

// TestClassesAgree checks the eBPF lookup scheme (longest prefix, then a
// scan of one class) against the ordered rule list on random rule sets
// and packets.
func TestClassesAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	addr := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(3)), byte(r.IntN(4)), byte(r.IntN(8))})
	}
	for iter := 0; iter < 200; iter++ {
		var pt policy.PortTable
		pt.DefaultAllow = r.IntN(2) == 0
		for i := 0; i < 1+r.IntN(40); i++ {
			e := policy.Entry{Dir: policy.Dir(r.IntN(2)), Remote: netip.PrefixFrom(addr(), []int{0, 8, 16, 24, 29, 32}[r.IntN(6)]).Masked(),
				Allow: r.IntN(2) == 0, Rule: i}
			switch r.IntN(4) {
			case 0:
				e.Proto = api.ProtoAny
			case 1:
				e.Proto = api.ProtoICMP
			default:
				e.Proto = []uint8{6, 17}[r.IntN(2)]
				e.Lo = uint16(1 + r.IntN(10))
				e.Hi = e.Lo + uint16(r.IntN(3))
			}
			if r.IntN(4) == 0 {
				e.Local = netip.PrefixFrom(addr(), 24).Masked()
			}
			pt.Entries = append(pt.Entries, e)
		}
		cs, err := pt.Classes()
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 300; k++ {
			d := policy.Dir(r.IntN(2))
			rem, loc := addr(), addr()
			proto := []uint8{1, 6, 17, 58}[r.IntN(4)]
			dport := uint16(r.IntN(14))
			a1, r1 := pt.Decide(d, rem, loc, proto, dport)
			a2, r2 := policy.DecideClasses(cs, pt.DefaultAllow, d, rem, loc, proto, dport)
			if a1 != a2 || r1 != r2 {
				t.Fatalf("iteration %d: %s %s %s %d/%d: list %v/%d, classes %v/%d", iter, d, rem, loc, proto, dport, a1, r1, a2, r2)
			}
		}
	}
}

func TestNoPolicyNoPorts(t *testing.T) {
	in := policytest.Load(t, "host: {name: h1, asn: 1, vtep: 10.0.0.1, uplinks: [eth0]}\ntenants: [{name: red, l3vni: 5}]\n")
	if tbl := policytest.Compile(in); len(tbl.Ports) != 0 || len(tbl.Rules) != 0 {
		t.Errorf("got %v", tbl)
	}
}

func TestClassTooLarge(t *testing.T) {
	var pt policy.PortTable
	pt.Interface = "p1"
	for i := 0; i <= policy.MaxClassEntries; i++ {
		pt.Entries = append(pt.Entries, policy.Entry{Remote: netip.MustParsePrefix("0.0.0.0/0"), Proto: 6, Lo: uint16(i + 1), Hi: uint16(i + 1), Rule: i})
	}
	if _, err := pt.Classes(); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("got %v", err)
	}
}

// TestDockerNames: a rule selecting tenant/network/docker:NAME applies at
// the port of the Docker container of that name, and stands for its
// addresses as the remote end.
func TestDockerNames(t *testing.T) {
	in := policytest.Load(t, `host: {name: h1, asn: 1, vtep: 10.0.0.1, uplinks: [eth0]}
tenants:
  - name: red
    l3vni: 5
    networks: [{name: web, vni: 10, vlan: 10, gateways: [10.1.10.1/24]}]
    policy:
      rules: [{from: red/web/docker:client, to: red/web/docker:server, action: deny}]
`)
	c, s := netip.MustParseAddr("10.1.10.5"), netip.MustParseAddr("10.1.10.6")
	atts := []plan.Attachment{
		{Network: "red/web", Interface: "evc1", IPs: []netip.Addr{c}, Name: "docker:client"},
		{Network: "red/web", Interface: "evc2", IPs: []netip.Addr{s}, Name: "docker:server"},
		{Network: "red/web", Interface: "evc3", IPs: []netip.Addr{netip.MustParseAddr("10.1.10.7")}, Name: "docker:other"},
	}
	tbl := policy.Compile(in, policy.Ports(in, atts))
	if len(tbl.Ports) != 3 {
		t.Fatalf("ports: %v", tbl)
	}
	for _, pt := range tbl.Ports {
		var allow bool
		switch pt.Interface {
		case "evc1":
			allow, _ = pt.Decide(policy.Out, s, c, 6, 80)
		case "evc2":
			allow, _ = pt.Decide(policy.In, c, s, 6, 80)
		case "evc3":
			allow, _ = pt.Decide(policy.Out, s, netip.MustParseAddr("10.1.10.7"), 6, 80)
			if !allow {
				t.Errorf("evc3 is not selected by the rule: %v", pt)
			}
			continue
		}
		if allow {
			t.Errorf("%s lets client->server pass: %v", pt.Interface, pt)
		}
	}
}

package policytest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/policy"
)

// Intent is the scenario's intent: tenant red with networks web and db,
// a workload on each, and a default-deny policy; 10.1.30.11 is outside
// the tenant.
const Intent = `
host: {name: h1, asn: 4200000001, vtep: 10.0.0.1, uplinks: [eth0]}
tenants:
  - name: red
    l3vni: 1000
    networks:
      - {name: web, vni: 10, vlan: 10, gateways: [10.1.10.1/24, "fd00:10::1/64"]}
      - {name: db, vni: 20, vlan: 20, gateways: [10.1.20.1/24, "fd00:20::1/64"]}
    policy:
      default: deny
      rules:
        - {from: red/web, to: red/db, ports: ["tcp/5432"], action: allow}
        - {from: 10.1.30.0/24, to: red/web/web1, ports: ["tcp/443"], action: allow}
        - {from: red/db, to: red/web, ports: [icmp], action: allow}
workloads:
  - {name: web1, network: red/web, interface: pweb1, ips: [10.1.10.11, "fd00:10::11"]}
  - {name: db1, network: red/db, interface: pdb1, ips: [10.1.20.11, "fd00:20::11"]}
`

// Unsupported, when set, tells errors of Apply that mean the kernel lacks a
// feature the backend needs: the scenario then skips (fails when
// EVPNHOST_REQUIRE_KERNEL is set).
var Unsupported func(error) bool

// Opener opens a backend acting on the namespace netnsFD; dir is a
// scratch directory.
type Opener func(t *testing.T, netnsFD int, dir string) policy.Backend

// Load parses and validates an intent, failing the test otherwise.
func Load(t testing.TB, yaml string) *api.Intent {
	t.Helper()
	in, err := api.Parse([]byte(yaml))
	if err == nil {
		err = in.Validate()
	}
	if err != nil {
		t.Fatalf("intent: %v", err)
	}
	return in
}

// Compile is policy.Compile over the intent's own workloads.
func Compile(in *api.Intent) policy.Table { return policy.Compile(in, policy.Ports(in, nil)) }

// RequireRoot skips the test unless it runs as root (fails instead when
// EVPNHOST_REQUIRE_KERNEL is set, as in make test).
func RequireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("EVPNHOST_REQUIRE_KERNEL") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
}

// Scenario runs the policy scenario against a backend: allowed flows pass,
// denied ones fail, replies pass, counters count, and a policy change keeps
// an established allowed TCP connection.
func Scenario(t *testing.T, open Opener) {
	RequireRoot(t)
	lab, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	web, err := lab.Add("web1", "pweb1", "10.1.10.11", "fd00:10::11")
	if err != nil {
		t.Fatal(err)
	}
	db, err := lab.Add("db1", "pdb1", "10.1.20.11", "fd00:20::11")
	if err != nil {
		t.Fatal(err)
	}
	ext, err := lab.Add("ext", "pext", "10.1.30.11", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		w    *Workload
		addr string
		port int
	}{{db, "10.1.20.11", 5432}, {db, "10.1.20.11", 5433}, {db, "fd00:20::11", 5432}, {web, "10.1.10.11", 443}, {web, "10.1.10.11", 5432}} {
		ln, err := l.w.Listen(l.addr, l.port)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}
	// Without a policy everything passes.
	if c, err := db.Dial("10.1.10.11", 5432, 2*time.Second); err != nil {
		t.Fatalf("no policy yet, db1 -> web1:5432: %v", err)
	} else {
		c.Close()
	}

	hns, err := lab.HostNS()
	if err != nil {
		t.Fatal(err)
	}
	defer hns.Close()
	be := open(t, int(hns), t.TempDir())
	defer be.Close()
	in := Load(t, Intent)
	if err := be.Apply(Compile(in)); err != nil {
		if Unsupported != nil && Unsupported(err) && os.Getenv("EVPNHOST_REQUIRE_KERNEL") == "" {
			t.Skipf("%s: kernel lacks a feature: %v", be.Name(), err)
		}
		t.Fatalf("%s: apply: %v", be.Name(), err)
	}
	const short = 700 * time.Millisecond
	connect := func(from *Workload, addr string, port int, want bool) {
		t.Helper()
		c, err := from.Dial(addr, port, short)
		if err == nil {
			err = Echo(c, 2*time.Second)
			c.Close()
		}
		if want && err != nil {
			t.Errorf("%s -> %s:%d: want allowed, got %v", from.Name, addr, port, err)
		}
		if !want && err == nil {
			t.Errorf("%s -> %s:%d: want denied, it passed", from.Name, addr, port)
		}
	}
	connect(web, "10.1.20.11", 5432, true)  // rule 0, and its replies
	connect(web, "fd00:20::11", 5432, true) // rule 0 over IPv6
	connect(web, "10.1.20.11", 5433, false) // no rule: default deny
	connect(db, "10.1.10.11", 5432, false)  // the denied direction
	connect(ext, "10.1.10.11", 443, true)   // rule 1 (CIDR to workload)
	connect(ext, "10.1.20.11", 5432, false) // db accepts from red/web only
	if !db.Ping("10.1.10.11") {
		t.Errorf("ping db1 -> web1: want allowed (rule 2)")
	}
	if web.Ping("10.1.20.11") {
		t.Errorf("ping web1 -> db1: want denied")
	}

	counters := func() map[int]policy.RuleCounter {
		t.Helper()
		cs, err := be.Counters()
		if err != nil {
			t.Fatalf("counters: %v", err)
		}
		m := map[int]policy.RuleCounter{}
		for _, c := range cs {
			if c.Tenant == "red" {
				m[c.Rule] = c
			}
		}
		return m
	}
	cs := counters()
	t.Logf("%s counters: %+v", be.Name(), cs)
	// rule 0: two connections, each admitted at web1's port and db1's.
	if c := cs[0]; c.Allowed < 4 || c.Denied != 0 {
		t.Errorf("rule 0 counter %+v: want >= 4 allowed, 0 denied", c)
	}
	if c := cs[1]; c.Allowed < 1 {
		t.Errorf("rule 1 counter %+v: want >= 1 allowed", c)
	}
	if c := cs[2]; c.Allowed < 1 {
		t.Errorf("rule 2 counter %+v: want >= 1 allowed", c)
	}
	if c := cs[-1]; c.Denied < 4 {
		t.Errorf("default counter %+v: want >= 4 denied", c)
	}

	// An established allowed connection survives policy changes: a rule
	// inserted before it (its index moves), then its removal.
	est, err := web.Dial("10.1.20.11", 5432, 2*time.Second)
	if err != nil {
		t.Fatalf("established connection: %v", err)
	}
	defer est.Close()
	if err := Echo(est, 2*time.Second); err != nil {
		t.Fatalf("established connection: %v", err)
	}
	in2 := Load(t, strings.Replace(Intent, "      rules:\n", "      rules:\n        - {from: red/web, to: red/db, ports: [\"tcp/5433\"], action: allow}\n", 1))
	if err := be.Apply(Compile(in2)); err != nil {
		t.Fatalf("apply 2: %v", err)
	}
	if err := Echo(est, 2*time.Second); err != nil {
		t.Errorf("established connection after a rule was added: %v", err)
	}
	connect(web, "10.1.20.11", 5433, true) // the new rule
	connect(web, "10.1.20.11", 5432, true) // the old rule, moved
	in3 := Load(t, strings.Replace(Intent, "        - {from: red/web, to: red/db, ports: [\"tcp/5432\"], action: allow}\n", "", 1))
	if err := be.Apply(Compile(in3)); err != nil {
		t.Fatalf("apply 3: %v", err)
	}
	if err := Echo(est, 2*time.Second); err != nil {
		t.Errorf("established connection after its rule was removed: %v", err)
	}
	connect(web, "10.1.20.11", 5432, false) // new connections: denied now
	connect(web, "10.1.20.11", 5433, false)

	// No policy at all: enforcement goes away.
	in4 := Load(t, noPolicy())
	if err := be.Apply(Compile(in4)); err != nil {
		t.Fatalf("apply 4: %v", err)
	}
	connect(db, "10.1.10.11", 5432, true)
}

// noPolicy is Intent without the policy.
func noPolicy() string {
	before, _, _ := strings.Cut(Intent, "    policy:\n")
	_, after, _ := strings.Cut(Intent, "workloads:\n")
	return before + "workloads:\n" + after
}

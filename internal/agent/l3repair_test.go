package agent

import (
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// TestL3RepairsDue: a hole seen once is left alone (it may be a VTEP on
// its way out); seen at two checks in a row it is repaired; holes seen
// again are repaired again after a holdoff that doubles with each repair
// (5 s, 10 s, 20 s, capped); a minute without holes starts over.
func TestL3RepairsDue(t *testing.T) {
	hole := func(svi string) kernel.L3Hole {
		return kernel.L3Hole{L3VNI: kernel.L3VNI{Tenant: "t-" + svi, SVI: svi}, Gateway: netip.MustParseAddr("10.0.0.2"), Routes: 1, Problem: "no neighbor entry"}
	}
	r := &l3Repairs{minHoldoff: 5 * time.Second, maxHoldoff: 20 * time.Second, resetAfter: time.Minute}
	t0 := time.Unix(1000, 0)
	h1, h2 := []kernel.L3Hole{hole("vlan3001")}, []kernel.L3Hole{hole("vlan3001"), hole("vlan3002")}
	steps := []struct {
		at    time.Duration
		holes []kernel.L3Hole
		want  string
	}{
		{0, h1, ""},
		{2 * time.Second, h2, "vlan3001"},  // seen twice: repaired
		{4 * time.Second, h2, "vlan3002"},  // 3001 within its 5 s holdoff
		{6 * time.Second, h1, ""},          // still within
		{8 * time.Second, h1, "vlan3001"},  // 6 s after the repair: again; holdoff now 10 s
		{12 * time.Second, h1, ""},         // within 10 s
		{18 * time.Second, h1, "vlan3001"}, // 10 s: again; holdoff now 20 s
		{30 * time.Second, h1, ""},
		{38 * time.Second, h1, "vlan3001"}, // 20 s; holdoff stays at the 20 s cap
		{40 * time.Second, nil, ""},        // healthy from here
		{80 * time.Second, nil, ""},
		{101 * time.Second, nil, ""}, // a minute healthy: starts over
		{102 * time.Second, h1, ""},  // seen once
		{104 * time.Second, h1, "vlan3001"},
		{110 * time.Second, h1, "vlan3001"}, // 5 s holdoff again, not 20 s
	}
	for i, s := range steps {
		got := strings.Join(slices.Sorted(maps.Keys(r.due(s.holes, t0.Add(s.at)))), ",")
		if got != s.want {
			t.Errorf("step %d (+%s): repair %q, want %q", i, s.at, got, s.want)
		}
	}
}

// l3Metrics counts repairs like metrics.Metrics does.
type l3Metrics struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *l3Metrics) Reconciled(time.Duration, string, fabric.Status) {}
func (m *l3Metrics) L3VNIRepaired(tenant string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n[tenant]++
}

// TestAgentRepairsL3: the agent's loop checks the L3VNIs on its own
// ticker, bounces the SVI of the one whose hole persists, tells the
// observer, and leaves a hole that went away by itself alone.
func TestAgentRepairsL3(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		checks := 0
		var bounced []string
		gone := false // vlan3002's hole goes away after the first check
		check := func() ([]kernel.L3Hole, error) {
			mu.Lock()
			defer mu.Unlock()
			checks++
			hs := []kernel.L3Hole{{L3VNI: kernel.L3VNI{Tenant: "red", SVI: "vlan3001"}, Gateway: netip.MustParseAddr("10.0.0.2"), Problem: "no neighbor entry"}}
			if !gone {
				hs = append(hs, kernel.L3Hole{L3VNI: kernel.L3VNI{Tenant: "blue", SVI: "vlan3002"}, Gateway: netip.MustParseAddr("10.0.0.3"), Problem: "no neighbor entry"})
				gone = true
			}
			return hs, nil
		}
		repair := func(svi string) error {
			mu.Lock()
			defer mu.Unlock()
			bounced = append(bounced, svi)
			return nil
		}
		obs := &l3Metrics{n: map[string]int{}}
		src := &scripted{steps: []step{{in: intent("h1"), rev: 1}}, ch: make(chan struct{})}
		run(t, &Agent{Source: src, Applier: &recorder{}, StateDir: t.TempDir(), Resync: time.Hour, Observer: obs,
			L3Check: check, L3Repair: repair, L3Interval: 5 * time.Millisecond, L3Holdoff: time.Hour})
		waitFor(t, "a repair and more checks", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(bounced) == 1 && checks >= 5
		})
		mu.Lock()
		defer mu.Unlock()
		obs.mu.Lock()
		defer obs.mu.Unlock()
		if strings.Join(bounced, ",") != "vlan3001" || obs.n["red"] != 1 || obs.n["blue"] != 0 {
			t.Errorf("bounced %v, observed %v; want vlan3001 once (holdoff), red once", bounced, obs.n)
		}
	})
}

// TestL3LoopInstalls: the router MAC seen while a next hop was whole is
// installed again when the next hop lost it (at the second check, for the
// IPv4-mapped next hop of the same VTEP too), nothing is bounced, and what
// was installed is removed once no route uses the next hop.
func TestL3LoopInstalls(t *testing.T) {
	red := kernel.L3VNI{Tenant: "red", SVI: "vlan3001", VXLAN: "vx4001", VLAN: 3001}
	v4, v6 := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("::ffff:10.0.0.2")
	const mac = "02:ee:0a:00:00:02"
	var installed, removed, bounced []string
	var next []kernel.L3Hole
	a := &Agent{
		L3Check:   func() ([]kernel.L3Hole, error) { return next, nil },
		L3Install: func(h kernel.L3Hole) error { installed = append(installed, h.Gateway.String()+"="+h.MAC); return nil },
		L3Remove:  func(h kernel.L3Hole) (bool, error) { removed = append(removed, h.Gateway.String()); return true, nil },
		L3Repair:  func(svi string) error { bounced = append(bounced, svi); return nil },
	}
	l := &l3Loop{a: a, log: slog.New(slog.DiscardHandler), bounces: &l3Repairs{minHoldoff: time.Second, maxHoldoff: time.Minute, resetAfter: time.Minute},
		known: map[hopKey]string{}, installed: map[hopKey]kernel.L3Hole{}, prev: map[hopKey]bool{}}
	now := time.Unix(1000, 0)
	step := func(hops ...kernel.L3Hole) {
		next = hops
		now = now.Add(2 * time.Second)
		l.check(now)
	}
	step(kernel.L3Hole{L3VNI: red, Gateway: v4, Routes: 2, MAC: mac}) // whole: MAC learnt
	lost := []kernel.L3Hole{
		{L3VNI: red, Gateway: v4, Routes: 2, Problem: "no neighbor entry (router MAC lost)"},
		{L3VNI: red, Gateway: v6, Routes: 2, Problem: "no neighbor entry (router MAC lost)"},
	}
	step(lost...)
	if len(installed) != 0 {
		t.Fatalf("installed at the first sight: %v", installed)
	}
	step(lost...)
	if got := strings.Join(installed, ","); got != "10.0.0.2="+mac+",::ffff:10.0.0.2="+mac {
		t.Errorf("installed %q", got)
	}
	step(kernel.L3Hole{L3VNI: red, Gateway: v4, Routes: 2, MAC: mac}) // v6 routes gone
	step()                                                            // all routes gone
	if got := strings.Join(removed, ","); got != "::ffff:10.0.0.2,10.0.0.2" && got != "10.0.0.2,::ffff:10.0.0.2" || len(removed) != 2 {
		t.Errorf("removed %v", removed)
	}
	if len(bounced) != 0 {
		t.Errorf("bounced %v although the router MAC was known", bounced)
	}
}

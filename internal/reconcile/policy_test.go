package reconcile

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/policy"
)

const policyIntent = `host: {name: h1, asn: 65101, vtep: 10.0.0.1, uplinks: [up1, up2]}
tenants:
  - name: red
    l3vni: 4001
    networks: [{name: web, vni: 10, vlan: 10, gateways: [10.1.10.1/24]}]
    policy:
      default: deny
      rules: [{from: 0.0.0.0/0, to: red/web, ports: [tcp/443], action: allow}]
workloads:
  - {name: vm1, network: red/web, interface: tap1, ips: [10.1.10.11]}
  - {name: vm2, network: red/web, interface: tap2, ips: [10.1.10.12]}
`

// TestApplyEnforcesPolicy: the policy is enforced before the kernel step
// (a port is filtered before it joins the bridge), for the workload ports
// that exist.
func TestApplyEnforcesPolicy(t *testing.T) {
	in := parse(t, policyIntent)
	h := newSim(kernel.Link{Name: "tap1", Kind: kernel.KindPort})
	p := h.policy
	r := h.reconciler(t, &bytes.Buffer{})
	_, err := r.Apply(context.Background(), in)
	var missing *MissingError
	if !errors.As(err, &missing) || len(missing.Interfaces) != 1 || missing.Interfaces[0] != "tap2" {
		t.Fatalf("apply: %v, want tap2 missing", err)
	}
	got := h.Events()
	want := `policy [tap1]
kernel 20 ops, 20 applied
frr reload without sessions
kernel 7 ops, 7 applied
frr configure router bgp 65101; neighbor up1 interface peer-group fabric; neighbor up2 interface peer-group fabric`
	if got != want {
		t.Fatalf("order:\n%s\nwant:\n%s", got, want)
	}
	if len(p.tables) != 1 || len(p.tables[0].Ports) != 1 || p.tables[0].Ports[0].Interface != "tap1" {
		t.Fatalf("policy table: %+v, want tap1 only", p.tables)
	}
	// 0.0.0.0/0 covers tap1 too: it may also reach the web subnet on 443.
	if e := p.tables[0].Ports[0].Entries; len(e) != 2 || e[0].Dir != policy.Out || e[1].Dir != policy.In || e[1].Lo != 443 {
		t.Errorf("entries %+v", e)
	}

	// A failing policy backend fails the apply, naming the step.
	p.err = errors.New("boom")
	if _, err := r.Apply(context.Background(), in); err == nil || !strings.Contains(err.Error(), "policy: boom") {
		t.Errorf("apply with a failing policy: %v", err)
	}
}

// TestPolicyDoesNotDependOnFRR: an apply that adds a workload port to a
// default-deny tenant while FRR's reload fails: the port is filtered
// before it joins the bridge, so it never passes traffic unfiltered, and
// the failure is FRR's (issue 15 item 2: the policy step used to come after
// the reload, and never ran).
func TestPolicyDoesNotDependOnFRR(t *testing.T) {
	in := parse(t, policyIntent)
	h := newSim(kernel.Link{Name: "tap1", Kind: kernel.KindPort, Up: true}, kernel.Link{Name: "tap2", Kind: kernel.KindPort, Up: true})
	h.reloadErr = errors.New("frr-reload.py: exit status 1")
	r := h.reconciler(t, &bytes.Buffer{})
	if _, err := r.Apply(context.Background(), in); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("apply: %v, want FRR's failure", err)
	}
	ev := strings.Split(h.Events(), "\n")
	if len(ev) < 2 || ev[0] != "policy [tap1 tap2]" || !strings.HasPrefix(ev[1], "kernel ") {
		t.Fatalf("side effects:\n%s\nwant the policy of tap1 and tap2 before the kernel step", strings.Join(ev, "\n"))
	}
	s := h.k.State()
	if l, _ := s.Link("tap2"); l.Master != kernel.BridgeName {
		t.Fatalf("tap2 not in the bridge: %+v", l)
	}
	// A policy that cannot be enforced stops the apply before any port
	// joins the bridge.
	h2 := newSim(kernel.Link{Name: "tap1", Kind: kernel.KindPort, Up: true})
	h2.policy.err = errors.New("no backend")
	r2 := h2.reconciler(t, &bytes.Buffer{})
	if _, err := r2.Apply(context.Background(), in); err == nil || !strings.Contains(err.Error(), "policy: no backend") {
		t.Fatalf("apply with a failing policy: %v", err)
	}
	if h2.k.Applies != 0 {
		t.Fatalf("the kernel changed although the policy failed:\n%s", h2.k.String())
	}
}

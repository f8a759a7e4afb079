package reconcile

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
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

// TestApplyEnforcesPolicy: the policy is enforced after the kernel step,
// before the staged sessions, for the workload ports that exist.
func TestApplyEnforcesPolicy(t *testing.T) {
	in, err := api.Parse([]byte(policyIntent))
	if err == nil {
		err = in.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	h := newSim(kernel.Link{Name: "tap1", Kind: kernel.KindPort})
	p := h.policy
	r := h.reconciler(t, &bytes.Buffer{})
	_, err = r.Apply(context.Background(), in)
	var missing *MissingError
	if !errors.As(err, &missing) || len(missing.Interfaces) != 1 || missing.Interfaces[0] != "tap2" {
		t.Fatalf("apply: %v, want tap2 missing", err)
	}
	got := h.Events()
	want := `kernel 20 ops, 20 applied
frr reload without sessions
kernel 7 ops, 7 applied
policy [tap1]
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

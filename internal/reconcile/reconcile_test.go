package reconcile

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

const intent = `host: {name: h1, asn: 65101, vtep: 10.0.0.1, uplinks: [up1, up2]}
tenants:
  - name: red
    l3vni: 4001
    networks: [{name: web, vni: 10, vlan: 10, gateways: [10.1.10.1/24]}]
`

// TestApplyNoReloadIntoRestartedDaemon: a daemon that restarted between
// the start of an apply and its reload (its fingerprint changed) gets no
// reload: the apply fails saying so, and the next one, with the daemons
// steady, reloads.
func TestApplyNoReloadIntoRestartedDaemon(t *testing.T) {
	in := parse(t, intent)
	h := newSim()
	prints := []string{"zebra=1 bgpd=2", "zebra=1 bgpd=3"}
	r := h.reconciler(t, &bytes.Buffer{})
	r.FRRPrint = func() string {
		p := prints[0]
		if len(prints) > 1 {
			prints = prints[1:]
		}
		return p
	}
	_, err := r.Apply(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "daemons restarted during the apply (zebra=1 bgpd=2 -> zebra=1 bgpd=3)") || !IsFRRError(err) {
		t.Fatalf("err = %v", err)
	}
	if ev := h.Events(); strings.Contains(ev, "frr reload") {
		t.Fatalf("reloaded into the restarted daemon:\n%s", ev)
	}
	if res, err := r.Apply(context.Background(), in); err != nil || res.FRRReloads != 1 {
		t.Fatalf("next apply: reloads %d, err %v", res.FRRReloads, err)
	}
}

func TestApplyRefusesWithoutDaemons(t *testing.T) {
	in := parse(t, intent)
	h := newSim()
	h.daemons = frrctl.ErrDaemonMissing
	r := h.reconciler(t, &bytes.Buffer{})
	if _, err := r.Apply(context.Background(), in); !errors.Is(err, frrctl.ErrDaemonMissing) {
		t.Fatalf("err = %v", err)
	}
	if ev := h.Events(); ev != "" || h.k.Observes != 0 {
		t.Fatalf("looked or changed something: %d observes, %s", h.k.Observes, ev)
	}
}

func TestSkipMissingPorts(t *testing.T) {
	des := kernel.State{
		Links:  []kernel.Link{{Name: "evpnbr", Kind: kernel.KindBridge}, {Name: "vm1", Kind: kernel.KindPort}},
		FDB:    []kernel.FDB{{Dev: "vm1", MAC: "02:00:00:00:00:01", VLAN: 10}, {Dev: "evpnbr", MAC: "00:00:5e:00:01:01", VLAN: 10, Self: true}},
		Neighs: []kernel.Neigh{{Dev: "vlan10", MAC: "02:00:00:00:00:01"}},
	}
	missing := skipMissingPorts(&des, kernel.State{})
	if len(missing) != 1 || missing[0] != "vm1" || len(des.Links) != 1 || len(des.FDB) != 1 || len(des.Neighs) != 0 {
		t.Fatalf("missing=%v des=%+v", missing, des)
	}
}

package reconcile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
)

const redBlue = `host: {name: h1, asn: 65101, vtep: 10.0.0.1, uplinks: [up1, up2]}
tenants:
  - name: red
    l3vni: 4001
    networks: [{name: web, vni: 10, vlan: 10, gateways: [10.1.10.1/24]}]
  - name: blue
    l3vni: 4002
`

// The operator's own FRR configuration for their VRF blue.
const operatorBlue = "frr version 8.4\nvrf blue\n vni 5000\nexit-vrf\n!\n" +
	"router bgp 65101 vrf blue\n address-family ipv4 unicast\n  network 192.0.2.0/24\n exit-address-family\nexit\n!\n"

// refusedUntouched applies in and checks the refusal: a ForeignError
// naming blue only, with each of wants, from plan and apply alike, and
// nothing changed (no kernel operation, no FRR reload, owned.json as it
// was, no intent.json).
func refusedUntouched(t *testing.T, h *simHost, dir string, in *api.Intent, wants ...string) {
	t.Helper()
	owned := filepath.Join(dir, "owned.json")
	before, beforeErr := os.ReadFile(owned)
	r := h.reconciler(t, &bytes.Buffer{})
	r.StateDir = dir
	_, perr := r.Plan(context.Background(), in)
	_, err := r.Apply(context.Background(), in)
	for what, err := range map[string]error{"plan": perr, "apply": err} {
		var fe *ForeignError
		if !errors.As(err, &fe) || len(fe.Tenants) != 1 || fe.Tenants[0].Name != "blue" {
			t.Fatalf("%s: err %v, want blue refused as foreign", what, err)
		}
		for _, w := range append([]string{"tenant blue: "}, wants...) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", what, err, w)
			}
		}
		if strings.Contains(err.Error(), "tenant red") {
			t.Errorf("%s: red refused too: %v", what, err)
		}
	}
	if ev := h.Events(); ev != "" || h.k.Applies != 0 {
		t.Errorf("changed something:\n%s", ev)
	}
	after, afterErr := os.ReadFile(owned)
	if string(after) != string(before) || (beforeErr == nil) != (afterErr == nil) {
		t.Errorf("owned.json changed:\n%s\nwas:\n%s", after, before)
	}
	if _, err := os.Stat(filepath.Join(dir, "intent.json")); err == nil {
		t.Errorf("intent.json written")
	}
}

// TestForeignKernelVRFRefused: the operator's kernel VRF blue, with their
// `vrf blue` and `router bgp 65101 vrf blue` stanzas, meets an intent that
// adds tenant blue (issue 15 item 4). It is refused before anything
// changes: blue is not recorded as owned (else its FRR stanzas would be
// replaced now, and deleted once blue leaves the intent), and red, owned,
// is not applied either.
func TestForeignKernelVRFRefused(t *testing.T) {
	in, err := api.Parse([]byte(redBlue))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "owned.json"), []byte(`{"version": 1, "tenants": ["red"]}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newSim()
	h.foreign, h.running = map[string]string{"blue": "vrf"}, operatorBlue
	refusedUntouched(t, h, dir, in,
		"kernel VRF blue exists and is not evpnhost's (no alias evpnhost)",
		"FRR already has `vrf blue` / `router bgp 65101 vrf blue` that evpnhost does not own")
}

// TestForeignFRRVRFRefused: FRR has the operator's `vrf blue` stanza but
// the kernel no VRF blue: refused likewise, saying why.
func TestForeignFRRVRFRefused(t *testing.T) {
	in := parse(t, redBlue)
	h := newSim()
	h.running = "frr version 8.4\nvrf blue\n vni 5000\nexit-vrf\n!\n"
	refusedUntouched(t, h, t.TempDir(), in, "FRR already has `vrf blue` that evpnhost does not own")
	var fe *ForeignError
	if _, err := h.reconciler(t, &bytes.Buffer{}).Apply(context.Background(), in); !errors.As(err, &fe) || fe.Tenants[0].Link != "" || strings.Contains(err.Error(), "kernel") {
		t.Errorf("err %v: blames the kernel", err)
	}
}

// TestForeignLinkNotVRFRefused: a foreign link of another kind holding the
// tenant's name is refused too, naming its kind.
func TestForeignLinkNotVRFRefused(t *testing.T) {
	in := parse(t, redBlue)
	h := newSim()
	h.foreign = map[string]string{"blue": "dummy"}
	refusedUntouched(t, h, t.TempDir(), in, "kernel link blue (dummy) exists and is not evpnhost's (no alias evpnhost)")
}

// TestOwnedTenantNotForeign: evpnhost's own tenant blue is applied
// normally: on its first apply, after a restart (its kernel VRF exists,
// with alias evpnhost, and FRR has the stanzas evpnhost loaded), after a
// reboot lost the kernel VRF (owned.json says blue is evpnhost's), and
// with owned.json gone while the kernel VRF is evpnhost's.
func TestOwnedTenantNotForeign(t *testing.T) {
	in, err := api.Parse([]byte(strings.ReplaceAll(intent, "name: red", "name: blue")))
	if err != nil {
		t.Fatal(err)
	}
	h := newSim()
	r := h.reconciler(t, &bytes.Buffer{})
	if _, err := r.Apply(context.Background(), in); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if ev := h.Events(); ev == "" || !strings.Contains(h.running, "vrf blue\n") {
		t.Fatalf("first apply did nothing: %v\n%s", ev, h.running)
	}
	owned := filepath.Join(r.StateDir, "owned.json")
	if b, _ := os.ReadFile(owned); !strings.Contains(string(b), `"blue"`) {
		t.Fatalf("owned.json:\n%s", b)
	}
	again := func(what string, r *Reconciler, h *simHost, unchanged bool) {
		t.Helper()
		if _, err := r.Apply(context.Background(), in); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		// The policy is enforced on every apply (idempotent); the kernel
		// and FRR must not change.
		ev := slices.DeleteFunc(strings.Split(h.Events(), "\n"), func(e string) bool { return e == "" || strings.HasPrefix(e, "policy ") })
		if unchanged && len(ev) != 0 {
			t.Errorf("%s: changed\n%s", what, strings.Join(ev, "\n"))
		}
	}
	// Restart: the kernel VRF exists with the alias, FRR has the stanzas
	// evpnhost loaded.
	again("restart", r, h, true)
	// Reboot: the kernel VRF is gone, FRR's configuration came back from
	// frr.conf, owned.json says blue is evpnhost's.
	rebooted := newSim()
	rebooted.running = h.running
	r2 := rebooted.reconciler(t, &bytes.Buffer{})
	r2.StateDir = r.StateDir
	again("reboot", r2, rebooted, false)
	// owned.json lost while the kernel VRF is evpnhost's.
	if err := os.Remove(owned); err != nil {
		t.Fatal(err)
	}
	again("owned.json gone", r, h, true)
}

package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// fakeHost records the order of side effects. The kernel converges to
// whatever is applied; FRR's "running config" is the last applied text.
type fakeHost struct {
	state    kernel.State
	running  string
	events   []string
	daemons  error
	vnisSeen bool
	sessions bool // the sessions were added by Configure
	// foreign are the links not evpnhost's (ForeignLinks): name -> kind.
	foreign map[string]string
}

func (f *fakeHost) Observe(_, _ []string) (kernel.State, error) { return f.state, nil }
func (f *fakeHost) ForeignLinks(names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		if k, ok := f.foreign[n]; ok {
			out[n] = k
		}
	}
	return out, nil
}
func (f *fakeHost) Apply(ops []kernel.Op) (int, error) {
	for _, op := range ops {
		f.events = append(f.events, "kernel "+string(op.Action))
		if op.Action == kernel.ActUp {
			f.vnisSeen = true
		}
	}
	return len(ops), nil
}
func (f *fakeHost) CheckDaemons(...string) error { return f.daemons }
func (f *fakeHost) RunningConfig(context.Context) (string, error) {
	if f.sessions {
		return f.running + " neighbor up1 interface peer-group fabric\n", nil
	}
	return f.running, nil
}
func (f *fakeHost) Test(_ context.Context, c string) (frr.Delta, error) {
	// Once the sessions were added on top of the loaded config, FRR runs
	// exactly the full configuration.
	if c == f.running || (f.sessions && strings.Contains(c, "neighbor up1 interface peer-group fabric\n neighbor up2")) {
		return frr.Delta{}, nil
	}
	return frr.Delta{Add: []string{"x"}}, nil
}
func (f *fakeHost) JSON(_ context.Context, cmd string, v any) error {
	if !f.vnisSeen {
		return json.Unmarshal([]byte(`{}`), v)
	}
	return json.Unmarshal([]byte(`{"4001":{"type":"L3"}}`), v)
}

type fakeFRR struct{ *fakeHost }

func (f fakeFRR) Configure(_ context.Context, lines ...string) error {
	f.sessions = true
	f.events = append(f.events, "frr configure "+strings.Join(lines[1:], ","))
	return nil
}

func (f fakeFRR) Apply(_ context.Context, c string) error {
	f.running = c
	nb := "without neighbors"
	if strings.Contains(c, "interface peer-group fabric") {
		nb = "with neighbors"
	}
	f.events = append(f.events, "frr reload "+nb)
	return nil
}

const intent = `host: {name: h1, asn: 65101, vtep: 10.0.0.1, uplinks: [up1, up2]}
tenants:
  - name: red
    l3vni: 4001
    networks: [{name: web, vni: 10, vlan: 10, gateways: [10.1.10.1/24]}]
`

func TestApplyStagesFirstBringUp(t *testing.T) {
	in, err := api.Parse([]byte(intent))
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{}
	r := &Reconciler{Kernel: h, FRR: fakeFRR{h}, StateDir: t.TempDir()}
	res, err := r.Apply(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Staged || res.FRRReloads != 1 {
		t.Fatalf("staged=%v reloads=%d", res.Staged, res.FRRReloads)
	}
	got := strings.Join(compact(h.events), "\n")
	want := "kernel add/set\nfrr reload without neighbors\nkernel up\nkernel add/set\nfrr configure neighbor up1 interface peer-group fabric,neighbor up2 interface peer-group fabric"
	if got != want {
		t.Fatalf("order:\n%s\nwant:\n%s", got, want)
	}
	// (The second add/set is the gateway addresses, added once the SVIs
	// are up.) Once the sessions exist, a new tenant goes in one step.
	h.events = nil
	res, err = r.Apply(context.Background(), in)
	if err != nil || res.Staged || res.FRRReloads != 0 {
		t.Fatalf("second apply: staged=%v reloads=%d err=%v", res.Staged, res.FRRReloads, err)
	}
}

// TestApplyNoReloadIntoRestartedDaemon: a daemon that restarted between
// the start of an apply and its reload (its fingerprint changed) gets no
// reload: the apply fails saying so, and the next one, with the daemons
// steady, reloads.
func TestApplyNoReloadIntoRestartedDaemon(t *testing.T) {
	in, _ := api.Parse([]byte(intent))
	h := &fakeHost{}
	prints := []string{"zebra=1 bgpd=2", "zebra=1 bgpd=3"}
	r := &Reconciler{Kernel: h, FRR: fakeFRR{h}, StateDir: t.TempDir(), FRRPrint: func() string {
		p := prints[0]
		if len(prints) > 1 {
			prints = prints[1:]
		}
		return p
	}}
	_, err := r.Apply(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "daemons restarted during the apply (zebra=1 bgpd=2 -> zebra=1 bgpd=3)") || !IsFRRError(err) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(strings.Join(h.events, "\n"), "frr reload") {
		t.Fatalf("reloaded into the restarted daemon: %v", h.events)
	}
	if res, err := r.Apply(context.Background(), in); err != nil || res.FRRReloads != 1 {
		t.Fatalf("next apply: reloads %d, err %v", res.FRRReloads, err)
	}
}

func TestApplyRefusesWithoutDaemons(t *testing.T) {
	in, _ := api.Parse([]byte(intent))
	h := &fakeHost{daemons: frrctl.ErrDaemonMissing}
	r := &Reconciler{Kernel: h, FRR: fakeFRR{h}, StateDir: t.TempDir()}
	if _, err := r.Apply(context.Background(), in); !errors.Is(err, frrctl.ErrDaemonMissing) {
		t.Fatalf("err = %v", err)
	}
	if len(h.events) != 0 {
		t.Fatalf("changed something: %v", h.events)
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

// compact merges runs of kernel main operations into one event.
func compact(ev []string) []string {
	var out []string
	for _, e := range ev {
		if e == "kernel add" || e == "kernel set" {
			e = "kernel add/set"
		}
		if len(out) > 0 && out[len(out)-1] == e {
			continue
		}
		out = append(out, e)
	}
	return out
}

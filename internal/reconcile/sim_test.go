package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/kernel/kerneltest"
	"github.com/evpnhost/evpnhost/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the goldens")

// simHost is a host of fakes: the kernel is kerneltest's; FRR's running
// configuration is the last one loaded plus the lines configured since;
// zebra knows an L3VNI when the configuration has `vni N` and the VXLAN
// device vxN is up, as on a real host. Events records the order of the
// side effects.
type simHost struct {
	mu      sync.Mutex
	k       *kerneltest.Kernel
	running string
	events  []string
	daemons error
	// reloadErr and configureErr fail FRR's reload and Configure.
	reloadErr, configureErr error
	// vniPolls counts `show evpn vni json` runs; zebra ignores the first
	// vniDelay of them (it is still learning).
	vniPolls, vniDelay int
	policy             *simPolicy
	// foreign are links that exist without evpnhost's alias
	// (ForeignLinks): name -> kind.
	foreign map[string]string
	// version is FRR's (zero: 8.4.4); checked, the daemons last checked.
	version    frr.Version
	versionErr error
	checked    []string
	// dropVNI: reloads lose the vrf stanzas' vni lines and succeed, as
	// FRR 10 does without mgmtd.
	dropVNI bool
	// keepEmptyVRF: a vrf stanza the reload removes stays, empty, until
	// `no vrf X`, as on FRR 10.3.
	keepEmptyVRF bool
	// zebraExits: zebra exits when the VXLAN device of an L3VNI still
	// configured (`vrf T` / `vni N`) goes away, as zebra 10.3 does
	// (FRRouting/frr#20494); zebraGone records that it did.
	zebraExits, zebraGone bool
}

func newSim(links ...kernel.Link) *simHost {
	h := &simHost{k: kerneltest.New(kernel.State{Links: links})}
	h.policy = &simPolicy{h: h}
	return h
}

func (h *simHost) event(format string, a ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, fmt.Sprintf(format, a...))
}

// Events returns the side effects so far and forgets them.
func (h *simHost) Events() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := strings.Join(h.events, "\n")
	h.events = nil
	return ev
}

// reconciler is a Reconciler of h, logging into log.
func (h *simHost) reconciler(t *testing.T, log *bytes.Buffer) *Reconciler {
	return &Reconciler{Kernel: simKernel{h}, FRR: simFRR{h}, Policy: h.policy, StateDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

type simKernel struct{ h *simHost }

func (k simKernel) Observe(sysctls, ports []string) (kernel.State, error) {
	return k.h.k.Observe(sysctls, ports)
}

func (k simKernel) Apply(ops []kernel.Op) (int, error) {
	if k.h.zebraExits {
		k.h.mu.Lock()
		for _, l := range configuredL3VNIs(k.h.running) {
			if slices.Contains(leavingVNIs(ops), l.vni) {
				k.h.zebraGone = true
				k.h.events = append(k.h.events, fmt.Sprintf("zebra exits: the VXLAN device of vrf %s / vni %d went", l.vrf, l.vni))
			}
		}
		k.h.mu.Unlock()
	}
	n, err := k.h.k.Apply(ops)
	if len(ops) > 0 {
		k.h.event("kernel %d ops, %d applied", len(ops), n)
	}
	return n, err
}

func (k simKernel) ForeignLinks(names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		if kind, ok := k.h.foreign[n]; ok {
			out[n] = kind
		}
	}
	return out, nil
}

type simFRR struct{ h *simHost }

func (f simFRR) CheckDaemons(names ...string) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	f.h.checked = names
	return f.h.daemons
}

func (f simFRR) Version(context.Context) (frr.Version, error) {
	if f.h.versionErr != nil {
		return frr.Version{}, f.h.versionErr
	}
	if !f.h.version.Known() {
		return frr.V84, nil
	}
	return f.h.version, nil
}

func (f simFRR) RunningConfig(context.Context) (string, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	return f.h.running, nil
}

// Test compares line sets, as frr-reload.py compares contexts.
func (f simFRR) Test(_ context.Context, conf string) (frr.Delta, error) {
	running, _ := f.RunningConfig(context.Background())
	have, want := lineSet(running), lineSet(conf)
	var d frr.Delta
	for _, l := range want {
		if !slices.Contains(have, l) {
			d.Add = append(d.Add, l)
		}
	}
	for _, l := range have {
		if !slices.Contains(want, l) {
			d.Delete = append(d.Delete, l)
		}
	}
	return d, nil
}

func lineSet(conf string) []string {
	var out []string
	for _, l := range strings.Split(conf, "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "!" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func (f simFRR) Apply(_ context.Context, conf string, check func(string) error) error {
	sessions := "without sessions"
	if strings.Contains(conf, "interface peer-group fabric") {
		sessions = "with sessions"
	}
	f.h.event("frr reload %s", sessions)
	if f.h.reloadErr != nil {
		return f.h.reloadErr
	}
	f.h.mu.Lock()
	if f.h.dropVNI {
		conf = regexp.MustCompile(`(?m)^ vni \d+\n`).ReplaceAllString(conf, "")
	}
	if f.h.keepEmptyVRF {
		for _, st := range frr.Stanzas(f.h.running) {
			if h := strings.Fields(st[0]); len(h) == 2 && h[0] == "vrf" && !strings.Contains(conf, "\nvrf "+h[1]+"\n") {
				conf += "vrf " + h[1] + "\nexit-vrf\n"
			}
		}
	}
	f.h.running = conf
	f.h.mu.Unlock()
	if check != nil {
		return check(conf)
	}
	return nil
}

func (f simFRR) Configure(_ context.Context, lines ...string) error {
	f.h.event("frr configure %s", strings.Join(lines, "; "))
	if f.h.configureErr != nil {
		return f.h.configureErr
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if len(lines) >= 2 && strings.HasPrefix(lines[0], "vrf ") && strings.HasPrefix(lines[1], "no vni ") {
		for i := 0; i+1 < len(lines); i += 3 {
			f.h.running = strings.Replace(f.h.running, lines[i]+"\n "+strings.TrimPrefix(lines[i+1], "no ")+"\n", lines[i]+"\n", 1)
		}
		return nil
	}
	if len(lines) > 0 && strings.HasPrefix(lines[0], "no vrf ") {
		for _, l := range lines {
			f.h.running = strings.Replace(f.h.running, "\n"+strings.TrimPrefix(l, "no ")+"\nexit-vrf\n", "\n", 1)
		}
		return nil
	}
	f.h.running += strings.Join(lines, "\n") + "\n"
	return nil
}

func (f simFRR) JSON(_ context.Context, cmd string, v any) error {
	if cmd != "show evpn vni json" {
		return fmt.Errorf("unexpected command %q", cmd)
	}
	f.h.mu.Lock()
	f.h.vniPolls++
	learning := f.h.vniPolls <= f.h.vniDelay
	running := lineSet(f.h.running)
	f.h.mu.Unlock()
	vnis := map[string]map[string]string{}
	s := f.h.k.State()
	for _, l := range s.Links {
		if l.Kind != kernel.KindVXLAN || !l.Up || learning {
			continue
		}
		typ := "L2"
		if slices.Contains(running, fmt.Sprintf("vni %d", l.VNI)) {
			typ = "L3"
		}
		vnis[fmt.Sprint(l.VNI)] = map[string]string{"type": typ}
	}
	b, _ := json.Marshal(vnis)
	return json.Unmarshal(b, v)
}

// simPolicy records the tables it enforces.
type simPolicy struct {
	h      *simHost
	tables []policy.Table
	err    error
}

func (p *simPolicy) Apply(t policy.Table) error {
	var ports []string
	for _, pt := range t.Ports {
		ports = append(ports, pt.Interface)
	}
	p.h.event("policy [%s]", strings.Join(ports, " "))
	p.tables = append(p.tables, t)
	return p.err
}

// twoTenants: red and blue, each with a network and a workload (tap1,
// tap2), and a policy on red.
const twoTenants = `host: {name: h1, asn: 65101, vtep: 10.0.0.1, uplinks: [up1, up2]}
tenants:
  - name: red
    l3vni: 4001
    networks: [{name: web, vni: 10, vlan: 10, gateways: [10.1.10.1/24]}]
    policy:
      default: deny
      rules: [{from: 0.0.0.0/0, to: red/web, ports: [tcp/443], action: allow}]
  - name: blue
    l3vni: 4002
    networks: [{name: db, vni: 20, vlan: 20, gateways: [10.2.20.1/24]}]
workloads:
  - {name: vm1, network: red/web, interface: tap1, mac: "02:00:00:00:00:01", ips: [10.1.10.11]}
  - {name: vm2, network: blue/db, interface: tap2, mac: "02:00:00:00:00:02", ips: [10.2.20.12]}
`

func parse(t *testing.T, text string) *api.Intent {
	t.Helper()
	in, err := api.Parse([]byte(text))
	if err == nil {
		err = in.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// taps are the workload interfaces of twoTenants, as the hypervisor made
// them: foreign, up.
func taps() []kernel.Link {
	return []kernel.Link{{Name: "tap1", Kind: kernel.KindPort, Up: true}, {Name: "tap2", Kind: kernel.KindPort, Up: true}}
}

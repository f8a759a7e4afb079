// Package frrctl drives one FRR instance by running FRR's tools:
// frr-reload.py --test before --reload, vtysh for JSON state, `write
// memory` and the restore of a restarted daemon, and the daemons' pid
// files. It is the only package that runs FRR tools; internal/frr renders
// the configuration it loads.
package frrctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/evpnhost/evpnhost/internal/frr"
)

// Runner runs a command and returns its standard output. Errors carry
// the command's standard error.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ExecRunner runs real commands.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, summarize(msg))
	}
	return out.Bytes(), nil
}

func lastLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// Instance is one FRR instance: the system one (Name "") or a pathspace
// started with `-N NAME`.
type Instance struct {
	Name   string
	Run    Runner
	RunDir string // default /run/frr[/NAME]
	// ConfDir holds the startup configuration, frr.conf, that `write
	// memory` saves after every apply (default /etc/frr[/NAME]).
	ConfDir string
	Reload  string // path of frr-reload.py
	Vtysh   string
	// DaemonDir holds FRR's daemons (default /usr/lib/frr): their
	// --version tells FRR's release when zebra does not run.
	DaemonDir string

	// The detected version (Version), valid while zebra keeps verKey's pid.
	verMu  sync.Mutex
	ver    frr.Version
	verKey string
}

// NewInstance returns the instance with the standard Debian paths.
func NewInstance(name string) *Instance {
	rd, cd := "/run/frr", "/etc/frr"
	if name != "" {
		rd, cd = filepath.Join(rd, name), filepath.Join(cd, name)
	}
	return &Instance{Name: name, Run: ExecRunner{}, RunDir: rd, ConfDir: cd, Reload: "/usr/lib/frr/frr-reload.py", Vtysh: "vtysh", DaemonDir: "/usr/lib/frr"}
}

func (i *Instance) vtyshArgs(args ...string) []string {
	if i.Name != "" {
		return append([]string{"-N", i.Name}, args...)
	}
	return args
}

func (i *Instance) reloadArgs(args ...string) []string {
	if i.Name != "" {
		return append([]string{"--pathspace", i.Name}, args...)
	}
	return args
}

// ErrDaemonMissing is returned when an FRR daemon evpnhost needs is not running.
var ErrDaemonMissing = errors.New("frr daemon not running")

// CheckDaemons verifies that each named daemon of the instance runs.
func (i *Instance) CheckDaemons(names ...string) error {
	var errs []error
	for _, d := range names {
		pidfile := filepath.Join(i.RunDir, d+".pid")
		b, err := os.ReadFile(pidfile)
		if err == nil {
			pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
			if perr == nil && syscall.Kill(pid, 0) == nil {
				continue
			}
		}
		if d == "mgmtd" {
			errs = append(errs, i.mgmtdMissing(pidfile))
			continue
		}
		hint := "start it"
		if i.Name != "" {
			hint = fmt.Sprintf("start it with `/usr/lib/frr/%s -d -N %s -F datacenter` in this network namespace", d, i.Name)
		} else {
			hint = fmt.Sprintf("enable %s in /etc/frr/daemons and restart frr", d)
		}
		errs = append(errs, fmt.Errorf("%w: %s (no live pid in %s); %s", ErrDaemonMissing, d, pidfile, hint))
	}
	return errors.Join(errs...)
}

// mgmtdMissing says, in one line, that FRR >= 9 needs mgmtd and why.
func (i *Instance) mgmtdMissing(pidfile string) error {
	ver := "FRR >= 9"
	i.verMu.Lock()
	if i.ver.Known() {
		ver = "FRR " + i.ver.String()
	}
	i.verMu.Unlock()
	// FRR's init script starts mgmtd always, like zebra and staticd
	// (frrcommon.sh): a missing one crashed or was killed.
	inst, start := "the system FRR", "restart frr (systemctl restart frr; its init script always starts mgmtd) and see its log for why mgmtd stopped"
	if i.Name != "" {
		inst = "instance " + i.Name
		start = fmt.Sprintf("start it with `/usr/lib/frr/mgmtd -d -N %s -F datacenter` in this network namespace", i.Name)
	}
	return fmt.Errorf("%w: %s needs mgmtd for %s: not running (no live pid in %s); zebra's and staticd's configuration goes through it, and without it FRR drops vrf/vni and ip route lines while reporting success; %s",
		ErrDaemonMissing, ver, inst, pidfile, start)
}

// PIDs fingerprints the named daemons: "zebra=12 bgpd=34", with "-" for
// a daemon that does not run. A restarted daemon changes it.
func (i *Instance) PIDs(names ...string) string {
	var b strings.Builder
	for n, d := range names {
		if n > 0 {
			b.WriteByte(' ')
		}
		pid := "-"
		if p := i.livePID(d); p > 0 {
			pid = strconv.Itoa(p)
		}
		b.WriteString(d + "=" + pid)
	}
	return b.String()
}

// livePID is daemon d's pid from its pid file, 0 when it names no live
// process.
func (i *Instance) livePID(d string) int {
	raw, err := os.ReadFile(filepath.Join(i.RunDir, d+".pid"))
	if err != nil {
		return 0
	}
	if p, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && p > 0 && syscall.Kill(p, 0) == nil {
		return p
	}
	return 0
}

// RunningConfig returns `show running-config`.
func (i *Instance) RunningConfig(ctx context.Context) (string, error) {
	out, err := i.Run.Run(ctx, i.Vtysh, i.vtyshArgs("-c", "show running-config")...)
	return string(out), err
}

// LocalMAC reports whether zebra holds mac as a local MAC of vni
// (`show evpn mac vni VNI mac MAC json` prints {"MAC": {"type": "local",
// ...}} (zebra_evpn_print_mac); an unknown MAC or VNI prints {}).
func (i *Instance) LocalMAC(ctx context.Context, vni uint32, mac string) (bool, error) {
	var v map[string]struct {
		Type string `json:"type"`
	}
	if err := i.JSON(ctx, fmt.Sprintf("show evpn mac vni %d mac %s json", vni, mac), &v); err != nil {
		return false, err
	}
	for m, e := range v {
		if strings.EqualFold(m, mac) && e.Type == "local" {
			return true, nil
		}
	}
	return false, nil
}

// RouteSelected reports whether zebra's RIB of vrf has dst selected
// (`show ip[v6] route vrf VRF DST json`: an entry of DST with "selected").
func (i *Instance) RouteSelected(ctx context.Context, vrf string, dst netip.Prefix) (bool, error) {
	fam := "ip"
	if dst.Addr().Is6() {
		fam = "ipv6"
	}
	var v map[string][]struct {
		Selected bool `json:"selected"`
	}
	if err := i.JSON(ctx, fmt.Sprintf("show %s route vrf %s %s json", fam, vrf, dst), &v); err != nil {
		return false, err
	}
	for _, r := range v[dst.String()] {
		if r.Selected {
			return true, nil
		}
	}
	return false, nil
}

// JSON runs a vtysh show command that prints JSON and decodes it into v.
func (i *Instance) JSON(ctx context.Context, cmd string, v any) error {
	out, err := i.Run.Run(ctx, i.Vtysh, i.vtyshArgs("-c", cmd)...)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%s: decode: %w", cmd, err)
	}
	return nil
}

// JSONAll runs several vtysh show commands that print JSON in one vtysh
// process (a vtysh start costs about a second under emulation, more than
// most show commands) and decodes the i-th value printed into vs[i].
// Output that is not exactly one JSON value per command (a command that
// printed nothing or an error text) is an error and decodes nothing, so
// the caller can fall back to JSON per command.
func (i *Instance) JSONAll(ctx context.Context, cmds []string, vs []any) error {
	if len(cmds) != len(vs) {
		return fmt.Errorf("JSONAll: %d commands, %d values", len(cmds), len(vs))
	}
	args := make([]string, 0, 2*len(cmds))
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := i.Run.Run(ctx, i.Vtysh, i.vtyshArgs(args...)...)
	if err != nil {
		return err
	}
	raws, err := splitJSON(out)
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(cmds, "; "), err)
	}
	if len(raws) != len(cmds) {
		return fmt.Errorf("%s: %d JSON values printed, want %d", strings.Join(cmds, "; "), len(raws), len(cmds))
	}
	for k, raw := range raws {
		if err := json.Unmarshal(raw, vs[k]); err != nil {
			return fmt.Errorf("%s: decode: %w", cmds[k], err)
		}
	}
	return nil
}

// splitJSON splits concatenated JSON values.
func splitJSON(out []byte) ([]json.RawMessage, error) {
	var raws []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return raws, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode value %d: %w", len(raws)+1, err)
		}
		raws = append(raws, raw)
	}
}

// Test asks frr-reload.py what loading conf would change; FRR's parser
// validates conf on the way (a bad line is an error).
func (i *Instance) Test(ctx context.Context, conf string) (frr.Delta, error) {
	f, err := writeTemp(conf)
	if err != nil {
		return frr.Delta{}, err
	}
	defer os.Remove(f)
	out, err := i.Run.Run(ctx, i.Reload, i.reloadArgs("--test", "--stdout", f)...)
	if err != nil {
		if d := i.Diagnose(ctx); d != nil {
			return frr.Delta{}, d
		}
		return frr.Delta{}, fmt.Errorf("frr-reload --test: %w", err)
	}
	return vtyshOwn(frr.ParseDelta(string(out))), nil
}

// vtyshOwn drops from d what frr-reload.py always adds and no daemon
// keeps: `service integrated-vtysh-config` is vtysh's own setting, shown in
// the running configuration only when vtysh.conf has it. With an empty
// vtysh.conf (as users set FRR up) every apply would otherwise reload FRR
// to add it again.
func vtyshOwn(d frr.Delta) frr.Delta {
	d.Add = slices.DeleteFunc(d.Add, func(l string) bool { return strings.TrimSpace(l) == "service integrated-vtysh-config" })
	return d
}

// Apply loads conf with frr-reload.py (after --test has accepted it),
// hands the running configuration then to check (when not nil), whose
// error is Apply's, and saves the result as the instance's startup
// configuration. frr-reload.py's success does not mean FRR holds what it
// was given: FRR >= 9 without mgmtd drops `vrf X / vni N` and `ip route`
// lines and returns 0. (frr-reload.py itself saves what FRR then runs,
// `vtysh write`, in 8.4 and 10.3 alike; the `write memory` here is for a
// check that passed.)
func (i *Instance) Apply(ctx context.Context, conf string, check func(running string) error) error {
	f, err := writeTemp(conf)
	if err != nil {
		return err
	}
	defer os.Remove(f)
	if _, err := i.Run.Run(ctx, i.Reload, i.reloadArgs("--reload", "--stdout", f)...); err != nil {
		if d := i.Diagnose(ctx); d != nil {
			return d
		}
		return fmt.Errorf("frr-reload --reload: %w", err)
	}
	if check != nil {
		running, err := i.RunningConfig(ctx)
		if err != nil {
			return fmt.Errorf("read the running configuration after the reload: %w", err)
		}
		if err := check(running); err != nil {
			return err
		}
	}
	if _, err := i.Run.Run(ctx, i.Vtysh, i.vtyshArgs("-c", "write memory")...); err != nil {
		return fmt.Errorf("write memory: %w", err)
	}
	return nil
}

// Configure runs configuration commands in one vtysh session (from
// `configure terminal`) and saves the result.
func (i *Instance) Configure(ctx context.Context, lines ...string) error {
	args := []string{"-c", "configure terminal"}
	for _, l := range lines {
		args = append(args, "-c", l)
	}
	if _, err := i.Run.Run(ctx, i.Vtysh, i.vtyshArgs(args...)...); err != nil {
		return err
	}
	if _, err := i.Run.Run(ctx, i.Vtysh, i.vtyshArgs("-c", "write memory")...); err != nil {
		return fmt.Errorf("write memory: %w", err)
	}
	return nil
}

// ConfigureRunning runs configuration commands in one vtysh session
// (from `configure terminal`) without saving them: a temporary change the
// next reconcile may undo (the agent's BFD repair).
func (i *Instance) ConfigureRunning(ctx context.Context, lines ...string) error {
	args := []string{"-c", "configure terminal"}
	for _, l := range lines {
		args = append(args, "-c", l)
	}
	_, err := i.Run.Run(ctx, i.Vtysh, i.vtyshArgs(args...)...)
	return err
}

// Restore loads the saved startup configuration (ConfDir/frr.conf) into
// each named daemon, as FRR's init script does (`vtysh -b -d DAEMON`) for a
// daemon it starts alone. A daemon restarted while zebra keeps running
// comes back empty, and frr-reload.py cannot see that: the running
// configuration vtysh shows merges every daemon's, so the route-maps and
// prefix-lists that zebra still holds hide their loss in bgpd, whose
// sessions then deny every route (FRR 8.4). The definitions (prefix-lists,
// route-maps, ...) go first so that nothing refers to one not yet defined.
func (i *Instance) Restore(ctx context.Context, daemons ...string) error {
	b, err := os.ReadFile(filepath.Join(i.ConfDir, "frr.conf"))
	if err != nil {
		return fmt.Errorf("restore FRR configuration: %w", err)
	}
	f, err := writeTemp(frr.DefinitionsFirst(string(b)))
	if err != nil {
		return err
	}
	defer os.Remove(f)
	var errs []error
	for _, d := range daemons {
		// A daemon writes its pid file before it listens on its vty
		// socket; vtysh -d fails until it does.
		if err := waitSocket(ctx, filepath.Join(i.RunDir, d+".vty"), 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", d, err))
			continue
		}
		if d == "mgmtd" {
			// Loaded before zebra and staticd are connected again, mgmtd
			// keeps none of their lines, or the load does not return
			// (seen in the Debian 13 VM, 2026-12-07).
			if err := i.waitMgmtdBackends(ctx, 30*time.Second); err != nil {
				errs = append(errs, fmt.Errorf("restore mgmtd: %w", err))
				continue
			}
		}
		if _, err := i.runBounded(ctx, restoreBound, "-d", d, "-f", f); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", d, err))
			continue
		}
		if d == "mgmtd" {
			i.reloadMgmtdUntilBack(ctx, string(b), f)
		}
	}
	return errors.Join(errs...)
}

// restoreBound bounds each vtysh run of Restore: a load that hangs must
// fail (and let the agent restart FRR as a whole, if it may), never block
// the agent.
const restoreBound = 60 * time.Second

// runBounded runs vtysh with args, given at most within.
func (i *Instance) runBounded(ctx context.Context, within time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	out, err := i.Run.Run(ctx, i.Vtysh, i.vtyshArgs(args...)...)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return out, fmt.Errorf("no answer within %s: %w", within, err)
	}
	return out, err
}

// mgmtdBackends are the daemons evpnhost runs that take their
// configuration through mgmtd (FRR >= 9).
var mgmtdBackends = []string{"zebra", "staticd"}

// waitMgmtdBackends waits, up to within, until every mgmtd backend daemon
// that runs (zebra, staticd) is connected to mgmtd again (`show mgmt
// backend-adapter all`). A restarted mgmtd has none at first: they
// reconnect on a timer of their own.
func (i *Instance) waitMgmtdBackends(ctx context.Context, within time.Duration) error {
	var want []string
	for _, d := range mgmtdBackends {
		if i.livePID(d) > 0 {
			want = append(want, d)
		}
	}
	deadline := time.Now().Add(within)
	for {
		out, err := i.runBounded(ctx, 10*time.Second, "-d", "mgmtd", "-c", "show mgmt backend-adapter all")
		var missing []string
		if err == nil {
			missing = absent(want, mgmtdClients(string(out)))
			if len(missing) == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("mgmtd's backends after %s: %w", within, err)
			}
			return fmt.Errorf("%s not connected to mgmtd again after %s", strings.Join(missing, ", "), within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// mgmtdClients lists the backend clients in `show mgmt backend-adapter
// all` ("  Client: <tab>zebra").
func mgmtdClients(out string) []string {
	var cs []string
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && k == "Client" {
			if v = strings.TrimSpace(v); v != "" {
				cs = append(cs, v)
			}
		}
	}
	return cs
}

// absent lists the elements of want not in have.
func absent(want, have []string) []string {
	var m []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			m = append(m, w)
		}
	}
	return m
}

// reloadMgmtdUntilBack loads f into mgmtd again while lines of the saved
// configuration are missing from the running one, up to 5 times a second
// apart. Restore waits for zebra and staticd to be connected to mgmtd
// first (waitMgmtdBackends); before that wait, a load taken too early
// showed none of their lines (`vrf T / vni N`, `ip route`; seen in the
// Debian 13 VM, TestAgentRestoresRealFRR, 2026-12-07). This stays as a
// second chance for a backend that reconnects and is not yet synced.
// Best effort: the agent's next reconcile verifies the configuration
// anyway.
func (i *Instance) reloadMgmtdUntilBack(ctx context.Context, saved, f string) {
	for try := 0; try < 5; try++ {
		running, err := i.RunningConfig(ctx)
		if err == nil && len(frr.Missing(saved, running)) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		_, _ = i.runBounded(ctx, restoreBound, "-d", "mgmtd", "-f", f)
	}
}

// waitSocket waits until path is a unix socket, polling every 50 ms.
func waitSocket(ctx context.Context, path string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no vty socket %s after %s", path, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func writeTemp(conf string) (string, error) {
	f, err := os.CreateTemp("", "evpnhost-frr-*.conf")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteString(conf); err != nil {
		return "", err
	}
	return f.Name(), nil
}

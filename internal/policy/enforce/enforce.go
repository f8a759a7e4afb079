// Package enforce picks and drives a policy backend for the reconciler and
// the commands: eBPF, nftables, or auto (eBPF when its programs load,
// otherwise nftables). A backend is only opened when a policy is to be
// enforced or was enforced before (a marker in the state directory says
// which backend holds it), so hosts without policies load nothing.
package enforce

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/plan"
	"github.com/evpnhost/evpnhost/internal/policy"
	"github.com/evpnhost/evpnhost/internal/policy/ebpf"
	"github.com/evpnhost/evpnhost/internal/policy/nft"
	"github.com/evpnhost/evpnhost/internal/state"
)

// Backend names (the --policy-backend flag).
const (
	EBPF     = "ebpf"
	Nftables = "nftables"
	Auto     = "auto"
)

// BPFFS is where the eBPF backend pins its maps, under
// evpnhost/<instance>.
var BPFFS = "/sys/fs/bpf"

// Enforcer applies policy tables with the selected backend.
type Enforcer struct {
	Backend  string // EBPF, Nftables or Auto
	StateDir string // evpnhost's state directory (marker, eBPF counter slots)
	Instance string // FRR instance name, separates the eBPF pins of lab hosts
	Log      *slog.Logger

	cur policy.Backend
}

// Valid reports whether name is a backend name.
func Valid(name string) bool { return name == EBPF || name == Nftables || name == Auto }

func (e *Enforcer) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

func (e *Enforcer) marker() string { return filepath.Join(e.StateDir, state.PolicyBackend) }

// Recorded is the backend that enforces the last applied policy, "" when
// none does (no marker). A marker that cannot be read or names no backend
// is an error naming the file.
func Recorded(stateDir string) (string, error) {
	p := filepath.Join(stateDir, state.PolicyBackend)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", &state.FileError{Path: p, Err: err}
	}
	name := strings.TrimSpace(string(b))
	if name != EBPF && name != Nftables {
		return "", &state.FileError{Path: p, Corrupt: true,
			Err: fmt.Errorf("%q is not a policy backend (write ebpf or nftables, whichever enforces the policy)", name)}
	}
	return name, nil
}

// Open opens the named backend (not auto).
func Open(name, stateDir, instance string) (policy.Backend, error) {
	switch name {
	case EBPF:
		root, err := pinRoot()
		if err != nil {
			return nil, err
		}
		inst := instance
		if inst == "" {
			inst = "default"
		}
		return ebpf.Open(filepath.Join(root, "evpnhost", inst), filepath.Join(stateDir, state.PolicyEBPFFile), 0)
	case Nftables:
		return nft.Open(0)
	}
	return nil, fmt.Errorf("unknown policy backend %q: use ebpf, nftables or auto", name)
}

// pinRoot is the bpffs the eBPF maps are pinned in: BPFFS when it is one.
// Under `ip netns exec` (how the lab runs evpnhost on each host) /sys is a
// fresh sysfs in a private mount namespace, and a bpffs mounted there would
// vanish with the command, taking the pins (counters, connection table)
// along; the initial mount namespace's BPFFS, reached through
// /proc/1/root, outlives it. Only when neither is a bpffs, one is mounted
// on BPFFS (systemd mounts it on most hosts).
func pinRoot() (string, error) {
	for _, dir := range []string{BPFFS, filepath.Join("/proc/1/root", BPFFS)} {
		if isBPFFS(dir) {
			return dir, nil
		}
	}
	if err := unix.Mount("bpf", BPFFS, "bpf", 0, "mode=0700"); err != nil {
		return "", fmt.Errorf("ebpf policy: mount bpffs on %s: %w", BPFFS, err)
	}
	return BPFFS, nil
}

func isBPFFS(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// Apply enforces t. With auto, eBPF is tried first. When the backend
// changes, the previous one is emptied first. An empty table with nothing
// enforced before opens nothing.
func (e *Enforcer) Apply(t policy.Table) error {
	// One apply at a time per state directory: a reconcile and a CNI ADD
	// each write a whole generation. (Both hold the state directory's
	// lock already; this one also covers callers that do not, like
	// `evpnhost policy`, and is taken inside it, never around it.)
	if err := os.MkdirAll(e.StateDir, 0o700); err != nil {
		return err
	}
	unlock, err := state.LockPath(context.Background(), filepath.Join(e.StateDir, state.PolicyLockFile), nil)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	defer unlock()
	prev, err := Recorded(e.StateDir)
	if err != nil {
		return err
	}
	if len(t.Ports) == 0 && prev == "" {
		return nil
	}
	if e.cur == nil {
		b, err := e.open(prev)
		if err != nil {
			return err
		}
		e.cur = b
	}
	if prev != "" && prev != e.cur.Name() {
		old, err := Open(prev, e.StateDir, e.Instance)
		if err == nil {
			err = old.Apply(policy.Table{})
			old.Close()
		}
		if err != nil {
			return fmt.Errorf("policy: remove the %s enforcement: %w", prev, err)
		}
		e.log().Info("policy backend changed", "op", "policy", "from", prev, "to", e.cur.Name())
	}
	if err := e.cur.Apply(t); err != nil {
		return fmt.Errorf("policy (%s): %w", e.cur.Name(), err)
	}
	if len(t.Ports) == 0 {
		return state.Remove(e.marker())
	}
	if prev != e.cur.Name() {
		// Atomic: a torn marker would name no backend, and the policy
		// it enforces could then never be removed.
		return state.WriteFile(e.marker(), []byte(e.cur.Name()+"\n"))
	}
	return nil
}

func (e *Enforcer) open(prev string) (policy.Backend, error) {
	name := e.Backend
	if name == "" {
		name = Auto
	}
	if name != Auto {
		return Open(name, e.StateDir, e.Instance)
	}
	if prev == Nftables {
		// auto keeps what works: it fell back before.
		if b, err := Open(Nftables, e.StateDir, e.Instance); err == nil {
			return b, nil
		}
	}
	b, err := Open(EBPF, e.StateDir, e.Instance)
	if err == nil {
		return b, nil
	}
	e.log().Warn("eBPF policy backend unavailable, using nftables", "op", "policy", "cause", err)
	return Open(Nftables, e.StateDir, e.Instance)
}

// Counters reads the rule counters of the backend that enforces the
// policy; nil when none does. For a metrics endpoint (internal/metrics):
// call it per scrape with the state directory and FRR instance of the
// host; it opens the backend, reads, and closes it again.
func Counters(stateDir, instance string) ([]policy.RuleCounter, error) {
	name, err := Recorded(stateDir)
	if name == "" || err != nil {
		return nil, err
	}
	b, err := Open(name, stateDir, instance)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.Counters()
}

// Attached enforces the applied intent's policies again after a run-time
// attachment (CNI ADD, evpnhost attach), so that a new workload port is
// enforced at once, with the backend that enforces the rest (auto when
// none does yet). The caller holds the attachment store's lock.
func Attached(stateDir, instance string, in *api.Intent) error {
	has := false
	for _, t := range in.Tenants {
		has = has || t.Policy != nil
	}
	backend, err := Recorded(stateDir)
	if err != nil {
		return err
	}
	if !has && backend == "" {
		return nil
	}
	list, err := attach.Open(stateDir).List()
	if err != nil {
		return err
	}
	atts := attach.PlanAll(list)
	skipped := plan.Skipped(in, atts)
	atts = slices.DeleteFunc(atts, func(a plan.Attachment) bool { _, skip := skipped[a.Interface]; return skip })
	if backend == "" {
		backend = Auto
	}
	e := &Enforcer{Backend: backend, StateDir: stateDir, Instance: instance}
	defer e.Close()
	return e.Apply(policy.Compile(in, policy.Ports(in, atts)))
}

// Close releases the backend's handles (what is enforced stays).
func (e *Enforcer) Close() {
	if e.cur != nil {
		e.cur.Close()
		e.cur = nil
	}
}

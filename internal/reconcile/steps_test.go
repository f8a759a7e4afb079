package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/kernel/kerneltest"
	"github.com/evpnhost/evpnhost/internal/state"
	"golang.org/x/sys/unix"
)

// The tests below drive Apply's steps one by one on a simHost, each from
// the state the previous steps leave.

func newRun(t *testing.T, h *simHost) (*run, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	a := &run{r: h.reconciler(t, &log), in: parse(t, twoTenants)}
	t.Cleanup(a.release)
	return a, &log
}

// steps runs a's steps up to, not including, the named one.
func steps(t *testing.T, a *run, until string) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []struct {
		name string
		f    func() error
	}{
		{"prepare", func() error { return a.prepare(ctx) }}, {"record", a.record}, {"policy", a.enforcePolicy},
		{"save-intent", a.saveIntent}, {"frr-release", func() error { return a.releaseL3VNIs(ctx) }}, {"kernel", a.kernelMain},
		{"frr-reload", func() error { return a.reloadFRR(ctx) }}, {"kernel-up", a.kernelUp},
		{"frr-configure", func() error { return a.addSessions(ctx) }},
	} {
		if s.name == until {
			return
		}
		if err := s.f(); err != nil {
			t.Fatalf("step %s: %v", s.name, err)
		}
	}
}

// locked reports whether the state directory dir is locked.
func locked(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, state.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

func TestStepPrepare(t *testing.T) {
	h := newSim(kernel.Link{Name: "tap1", Kind: kernel.KindPort}) // tap2 missing
	a, log := newRun(t, h)
	if err := attach.Open(a.r.StateDir).Put(attach.Attachment{ID: "cni-1", Owner: attach.OwnerCNI, Network: "red/web", Mode: attach.ModeBridged, Interface: "evcgone"}); err != nil {
		t.Fatal(err)
	}
	a.r.FRRPrint = func() string { return "zebra=1" }
	if err := a.prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.print != "zebra=1" || a.res.Kernel.Len() == 0 || !locked(t, a.r.StateDir) {
		t.Fatalf("print %q, %d ops, locked %v", a.print, a.res.Kernel.Len(), locked(t, a.r.StateDir))
	}
	if strings.Join(a.res.Missing, ",") != "tap2" || strings.Join(a.res.MissingAttachments, ",") != "evcgone" {
		t.Fatalf("missing %v, attachments %v", a.res.Missing, a.res.MissingAttachments)
	}
	for _, want := range []string{"attachment interface not found, left out\" interface=evcgone", "op=prepare"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if h.k.Applies != 0 {
		t.Fatal("prepare changed the kernel")
	}
	a.release()
	if locked(t, a.r.StateDir) {
		t.Fatal("store still locked after release")
	}
}

func TestStepPrepareWithoutDaemons(t *testing.T) {
	h := newSim(taps()...)
	h.daemons = frrctl.ErrDaemonMissing
	a, _ := newRun(t, h)
	if err := a.prepare(context.Background()); !errors.Is(err, frrctl.ErrDaemonMissing) || !IsFRRError(err) {
		t.Fatalf("err = %v", err)
	}
	if h.k.Observes != 0 || a.unlock != nil {
		t.Fatalf("observed %d times, locked %v", h.k.Observes, a.unlock != nil)
	}
}

func TestStepRecord(t *testing.T) {
	a, _ := newRun(t, newSim(taps()...))
	if err := a.r.save(record{Tenants: []string{"green"}}); err != nil {
		t.Fatal(err)
	}
	steps(t, a, "record")
	if err := a.record(); err != nil {
		t.Fatal(err)
	}
	rec, err := a.r.load()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.Tenants, ","); got != "blue,green,red" {
		t.Fatalf("owned %s: the old tenants stay owned until an apply succeeds", got)
	}
}

func TestStepKernel(t *testing.T) {
	h := newSim(taps()...)
	a, log := newRun(t, h)
	steps(t, a, "kernel")
	if err := a.kernelMain(); err != nil || a.kernelErr != nil {
		t.Fatalf("err %v, kernel failures %v", err, a.kernelErr)
	}
	if a.unlock == nil || !locked(t, a.r.StateDir) {
		t.Fatal("the state directory was unlocked by the kernel step: it stays locked until Apply returns")
	}
	if !strings.Contains(log.String(), "op=kernel ops=32") {
		t.Errorf("log:\n%s", log)
	}
	kerneltest.Golden(t, "testdata/step-kernel.txt", h.k.String(), *update)
}

// TestStepKernelFailure: failed objects are kept for the end, the apply
// goes on; the state directory stays locked either way.
func TestStepKernelFailure(t *testing.T) {
	h := newSim(taps()...)
	h.k.FailOn("link vx20")
	a, log := newRun(t, h)
	steps(t, a, "kernel")
	if err := a.kernelMain(); err != nil {
		t.Fatal(err)
	}
	if a.kernelErr == nil || a.kernelErr.Error() != "add link vx20: injected failure" || a.unlock == nil {
		t.Fatalf("kernel failures %v, locked %v", a.kernelErr, a.unlock != nil)
	}
	if !strings.Contains(log.String(), `level=ERROR msg="kernel operations failed, continuing with the rest" op=kernel cause="add link vx20: injected failure"`) {
		t.Errorf("log:\n%s", log)
	}
	s := h.k.State()
	if l, ok := s.Link("vx10"); !ok || l.Master != kernel.BridgeName {
		t.Fatalf("the other tenant's vx10: %+v", l)
	}
}

// brokenKernel fails every Apply as a whole (not per object).
type brokenKernel struct{ simKernel }

func (brokenKernel) Apply([]kernel.Op) (int, error) { return 0, errors.New("netlink socket closed") }

func TestStepKernelBroken(t *testing.T) {
	h := newSim(taps()...)
	a, _ := newRun(t, h)
	a.r.Kernel = brokenKernel{simKernel{h}}
	steps(t, a, "kernel")
	if err := a.kernelMain(); err == nil || err.Error() != "kernel: netlink socket closed" || a.kernelErr != nil {
		t.Fatalf("err = %v", err)
	}
	if a.unlock == nil {
		t.Fatal("unlocked before Apply returned")
	}
}

func TestStepReloadFRR(t *testing.T) {
	h := newSim(taps()...)
	a, _ := newRun(t, h)
	steps(t, a, "frr-reload")
	h.Events()
	if err := a.reloadFRR(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !a.res.Staged || a.des.FRR.Neighbors || a.res.FRRReloads != 1 || h.Events() != "frr reload without sessions" {
		t.Fatalf("staged %v, reloads %d", a.res.Staged, a.res.FRRReloads)
	}
	if !strings.Contains(h.running, "vni 4001") || len(a.res.FRR.Add) == 0 {
		t.Fatalf("running:\n%s", h.running)
	}

	// Once the sessions exist, the configuration goes in one step.
	h.running += "router bgp 65101\n neighbor up1 interface peer-group fabric\n"
	b, _ := newRun(t, h)
	steps(t, b, "frr-reload")
	if err := b.reloadFRR(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.res.Staged || !b.des.FRR.Neighbors || !strings.Contains(h.Events(), "frr reload with sessions") {
		t.Fatalf("staged %v", b.res.Staged)
	}
}

func TestStepReloadFRRFailures(t *testing.T) {
	h := newSim(taps()...)
	h.reloadErr = errors.New("frr-reload.py: exit 1")
	a, _ := newRun(t, h)
	steps(t, a, "frr-reload")
	if err := a.reloadFRR(context.Background()); !IsFRRError(err) || err.Error() != "frr: frr-reload.py: exit 1" {
		t.Fatalf("err = %v", err)
	}

	h.reloadErr = nil
	prints := []string{"zebra=1", "zebra=2"}
	b, _ := newRun(t, h)
	b.r.FRRPrint = func() string { p := prints[0]; prints = prints[1:]; return p }
	steps(t, b, "frr-reload")
	h.Events()
	if err := b.reloadFRR(context.Background()); !IsFRRError(err) || !strings.Contains(err.Error(), "daemons restarted during the apply (zebra=1 -> zebra=2)") {
		t.Fatalf("err = %v", err)
	}
	if ev := h.Events(); ev != "" {
		t.Fatalf("reloaded into restarted daemons: %s", ev)
	}
}

func TestStepKernelUp(t *testing.T) {
	h := newSim(taps()...)
	a, log := newRun(t, h)
	steps(t, a, "kernel-up")
	if err := a.kernelUp(); err != nil || a.kernelErr != nil {
		t.Fatalf("err %v, failures %v", err, a.kernelErr)
	}
	if !strings.Contains(log.String(), "op=kernel-up ops=13") {
		t.Errorf("log:\n%s", log)
	}
	kerneltest.Golden(t, "testdata/two-tenants.txt", h.k.String(), false)
}

// TestStepKernelUpFailure: links whose creation failed are not brought
// up (skipped, named); failures of this phase join those of the first.
func TestStepKernelUpFailure(t *testing.T) {
	h := newSim(taps()...)
	h.k.FailOn("link vx20")
	h.k.FailIf(func(op kernel.Op) bool { return op.Action == kernel.ActUp && op.Object == "link blue" })
	a, _ := newRun(t, h)
	steps(t, a, "kernel-up")
	if err := a.kernelUp(); err != nil {
		t.Fatal(err)
	}
	want := "add link vx20: injected failure; up link vx20: skipped: link vx20 could not be created; up link blue: injected failure"
	if a.kernelErr == nil || a.kernelErr.Error() != want {
		t.Fatalf("failures:\n%v\nwant:\n%s", a.kernelErr, want)
	}
	s := h.k.State()
	if l, _ := s.Link("red"); !l.Up {
		t.Fatal("red not up")
	}
	if l, _ := s.Link("blue"); l.Up {
		t.Fatal("blue up")
	}
}

// TestStepPolicy: the policy is enforced before the kernel step, for the
// ports that exist; its failure is the apply's error, and nothing else
// has changed then (a new port never joins the bridge unfiltered).
func TestStepPolicy(t *testing.T) {
	h := newSim(taps()...)
	a, _ := newRun(t, h)
	steps(t, a, "policy")
	h.policy.err = errors.New("boom")
	if err := a.enforcePolicy(); err == nil || err.Error() != "policy: boom" {
		t.Fatalf("err = %v", err)
	}
	if h.k.Applies != 0 {
		t.Fatal("the kernel changed before the policy was enforced")
	}
	h.policy.err = nil
	if err := a.enforcePolicy(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.policy.tables); n != 2 || h.policy.tables[1].Ports[0].Interface != "tap1" {
		t.Fatalf("policy applied %d times: %+v", n, h.policy.tables)
	}
}

// TestStepSaveIntent: the intent is saved right after its policy is
// enforced, before the kernel step: CNI ADD and attach compile their
// policy from it, and an older one would undo new deny rules.
func TestStepSaveIntent(t *testing.T) {
	h := newSim(taps()...)
	a, _ := newRun(t, h)
	steps(t, a, "save-intent")
	if err := a.saveIntent(); err != nil {
		t.Fatal(err)
	}
	if in, err := attach.LoadIntent(a.r.StateDir); err != nil || len(in.Tenants) != 2 {
		t.Fatalf("intent.json: %v", err)
	}
	if h.k.Applies != 0 {
		t.Fatal("kernel changed before the intent was saved")
	}
}

// TestStepAddSessions: on a staged bring-up the sessions are added once
// zebra knows every L3VNI; polled on synctest's clock.
func TestStepAddSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newSim(taps()...)
		h.vniDelay = 3
		a, _ := newRun(t, h)
		a.r.Poll = time.Second
		steps(t, a, "frr-configure")
		h.Events()
		start := time.Now()
		if err := a.addSessions(context.Background()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 3*time.Second || h.vniPolls != 4 {
			t.Fatalf("took %s, %d polls", took, h.vniPolls)
		}
		want := "frr configure router bgp 65101; neighbor up1 interface peer-group fabric; neighbor up2 interface peer-group fabric"
		if got := h.Events(); got != want {
			t.Fatalf("%s\nwant %s", got, want)
		}
		if n := len(a.res.FRR.Add); n < 3 || a.res.FRR.Add[n-1] != "neighbor up2 interface peer-group fabric" {
			t.Fatalf("result lacks the sessions: %v", a.res.FRR.Add)
		}
	})
}

// TestStepAddSessionsBFD: with host.bfd the staged sessions get their
// BFD too (it is on each uplink's neighbor, not on the peer group).
func TestStepAddSessionsBFD(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newSim(taps()...)
		a, _ := newRun(t, h)
		a.in.Host.BFD = true
		steps(t, a, "frr-configure")
		h.Events()
		if err := a.addSessions(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := "frr configure router bgp 65101; neighbor up1 interface peer-group fabric; neighbor up1 bfd; neighbor up2 interface peer-group fabric; neighbor up2 bfd"
		if got := h.Events(); got != want {
			t.Fatalf("%s\nwant %s", got, want)
		}
	})
}

func TestStepAddSessionsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newSim(taps()...)
		h.vniDelay = 1 << 30
		a, _ := newRun(t, h)
		a.r.VNIWait, a.r.Poll = 10*time.Second, time.Second
		steps(t, a, "frr-configure")
		h.Events()
		start := time.Now()
		err := a.addSessions(context.Background())
		if err == nil || !strings.Contains(err.Error(), "zebra did not learn the L3VNIs red/4001, blue/4002 within 10s") {
			t.Fatalf("err = %v", err)
		}
		if took := time.Since(start); took != 11*time.Second {
			t.Fatalf("gave up after %s", took)
		}
		if ev := h.Events(); ev != "" {
			t.Fatalf("configured without the L3VNIs: %s", ev)
		}
	})
}

func TestStepAddSessionsNotStaged(t *testing.T) {
	h := newSim(taps()...)
	a, _ := newRun(t, h)
	if err := a.addSessions(context.Background()); err != nil || h.vniPolls != 0 || h.Events() != "" {
		t.Fatalf("err %v, polls %d", err, h.vniPolls)
	}
	a.res.Staged = true
	h.configureErr = errors.New("vtysh: exit 1")
	h.vniDelay = 0
	steps(t, a, "frr-configure")
	if err := a.addSessions(context.Background()); !IsFRRError(err) || err.Error() != "frr: add uplink sessions: vtysh: exit 1" {
		t.Fatalf("err = %v", err)
	}
}

func TestStepSave(t *testing.T) {
	a, _ := newRun(t, newSim(taps()...))
	if err := a.r.save(record{Tenants: []string{"blue", "green", "red"}}); err != nil {
		t.Fatal(err)
	}
	a.res.Missing = []string{"tap9"}
	err := a.save()
	var me *MissingError
	if !errors.As(err, &me) || strings.Join(me.Interfaces, ",") != "tap9" {
		t.Fatalf("err = %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(a.r.StateDir, "owned.json"))
	var rec record
	if json.Unmarshal(b, &rec) != nil || strings.Join(rec.Tenants, ",") != "red,blue" {
		t.Fatalf("owned.json: %s", b)
	}
}

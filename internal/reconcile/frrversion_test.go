package reconcile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/state"
)

// TestStepPrepareFRRVersion: the daemons checked follow FRR's version
// (mgmtd from FRR 9 on), and the configuration is rendered for it; an FRR
// older than 8.4 is refused before anything is read.
func TestStepPrepareFRRVersion(t *testing.T) {
	for _, tc := range []struct {
		v    frr.Version
		want []string
	}{
		{frr.V84, []string{"zebra", "bgpd"}},
		{frr.Version{Major: 10, Minor: 3}, []string{"mgmtd", "zebra", "bgpd"}},
		{frr.Version{Major: 9, Minor: 1, Patch: 2}, []string{"mgmtd", "zebra", "bgpd"}},
	} {
		h := newSim(taps()...)
		h.version = tc.v
		a, _ := newRun(t, h)
		if err := a.prepare(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(h.checked, tc.want) || a.des.FRR.Version != tc.v || a.res.FRRVersion != tc.v {
			t.Errorf("FRR %s: checked %q, rendering for %s", tc.v, h.checked, a.des.FRR.Version)
		}
		a.release()
	}
	h := newSim(taps()...)
	h.version = frr.Version{Major: 7, Minor: 5, Patch: 1}
	a, _ := newRun(t, h)
	if err := a.prepare(context.Background()); !IsFRRError(err) || !strings.Contains(err.Error(), "FRR 7.5.1 is not supported") || h.k.Observes != 0 {
		t.Fatalf("FRR 7.5.1: %v (observed %d)", err, h.k.Observes)
	}
}

// TestStepPrepareVersionUnknown: when FRR's version cannot be told, a
// missing daemon is the error (FRR most likely does not run), else the
// version's.
func TestStepPrepareVersionUnknown(t *testing.T) {
	h := newSim(taps()...)
	h.versionErr = errors.New("cannot tell FRR's version: no zebra")
	h.daemons = frrctl.ErrDaemonMissing
	a, _ := newRun(t, h)
	if err := a.prepare(context.Background()); !errors.Is(err, frrctl.ErrDaemonMissing) || !slices.Equal(h.checked, []string{"zebra", "bgpd"}) {
		t.Fatalf("err = %v (checked %q)", err, h.checked)
	}
	h.daemons = nil
	b, _ := newRun(t, h)
	if err := b.prepare(context.Background()); !IsFRRError(err) || !strings.Contains(err.Error(), "cannot tell FRR's version") || h.k.Observes != 0 {
		t.Fatalf("err = %v", err)
	}
}

// TestStepPrepareWithoutMgmtd: on FRR 10.3 a missing mgmtd fails the
// apply before anything changes, in one line that names it (the message
// is frrctl's, from the pid file of a real instance directory).
func TestStepPrepareWithoutMgmtd(t *testing.T) {
	inst := frrctl.NewInstance("h1")
	inst.RunDir = t.TempDir()
	for _, d := range []string{"zebra", "bgpd"} { // running: this process
		if err := os.WriteFile(filepath.Join(inst.RunDir, d+".pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := newSim(taps()...)
	h.version = frr.Version{Major: 10, Minor: 3}
	h.daemons = inst.CheckDaemons("mgmtd", "zebra", "bgpd")
	a, _ := newRun(t, h)
	err := a.prepare(context.Background())
	if !errors.Is(err, frrctl.ErrDaemonMissing) || !IsFRRError(err) || h.k.Observes != 0 {
		t.Fatalf("err = %v, observed %d", err, h.k.Observes)
	}
	msg := err.Error()
	for _, w := range []string{"needs mgmtd for instance h1: not running", filepath.Join(inst.RunDir, "mgmtd.pid"), "mgmtd -d -N h1"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q: %s", w, msg)
		}
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "zebra") && !strings.Contains(msg, "zebra's") {
		t.Errorf("not one line about mgmtd alone: %s", msg)
	}
}

// TestReloadDroppedLines: a reload that FRR reports as a success but
// whose running configuration lacks the vni lines (FRR 10 without mgmtd)
// fails the apply naming them; nothing is recorded as converged, so the
// next apply tests and reloads again, and succeeds once FRR keeps them.
func TestReloadDroppedLines(t *testing.T) {
	h := newSim(taps()...)
	h.version = frr.Version{Major: 10, Minor: 3}
	h.dropVNI = true
	r := h.reconciler(t, new(bytes.Buffer))
	in := parse(t, twoTenants)
	_, err := r.Apply(context.Background(), in)
	var de *DroppedError
	if !errors.As(err, &de) || !IsFRRError(err) {
		t.Fatalf("err = %v", err)
	}
	if want := []string{"vrf red / vni 4001", "vrf blue / vni 4002"}; !slices.Equal(de.Lines, want) {
		t.Fatalf("dropped %q, want %q", de.Lines, want)
	}
	for _, w := range []string{"FRR 10.3 reported the reload a success", "vrf red / vni 4001", "mgmtd"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if _, err := os.Stat(filepath.Join(r.StateDir, state.ConvergedFile)); err == nil {
		t.Error("a reload that lost lines was recorded as converged")
	}
	h.dropVNI = false
	h.Events()
	res, err := r.Apply(context.Background(), in)
	if err != nil || res.FRRReloads == 0 {
		t.Fatalf("second apply: %v, %d reloads (%s)", err, res.FRRReloads, h.Events())
	}
}

// TestRemovedTenantEmptyVRF: FRR 10.3 keeps a removed tenant's `vrf blue`
// stanza, empty, after the reload; the apply removes it (`no vrf blue`),
// so the running configuration has no trace of blue, and blue can come
// back (it is not refused as the operator's).
func TestRemovedTenantEmptyVRF(t *testing.T) {
	h := newSim(taps()...)
	h.version = frr.Version{Major: 10, Minor: 3}
	h.keepEmptyVRF = true
	r := h.reconciler(t, new(bytes.Buffer))
	ctx := context.Background()
	if _, err := r.Apply(ctx, parse(t, twoTenants)); err != nil {
		t.Fatal(err)
	}
	redOnly, _, _ := strings.Cut(twoTenants, "  - name: blue")
	redOnly += "workloads:\n  - {name: vm1, network: red/web, interface: tap1, mac: \"02:00:00:00:00:01\", ips: [10.1.10.11]}\n"
	h.Events()
	res, err := r.Apply(ctx, parse(t, redOnly))
	if err != nil {
		t.Fatal(err)
	}
	if ev := h.Events(); !strings.Contains(ev, "frr configure no vrf blue") {
		t.Fatalf("no `no vrf blue`: %s", ev)
	}
	if strings.Contains(h.running, "vrf blue") || !slices.Contains(res.FRR.Delete, "vrf blue") {
		t.Fatalf("vrf blue left (delta %+v):\n%s", res.FRR.Delete, h.running)
	}
	if res, err := r.Apply(ctx, parse(t, redOnly)); err != nil || res.Changed() {
		t.Fatalf("second apply: %v, changed %v", err, res.Changed())
	}
	if _, err := r.Apply(ctx, parse(t, twoTenants)); err != nil {
		t.Fatalf("blue back: %v", err)
	}
}

package reconcile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/kernel/kerneltest"
)

// TestApplyHost: a first apply brings the host up in FRR's order and
// gives the golden kernel; the next one changes nothing.
func TestApplyHost(t *testing.T) {
	in := parse(t, twoTenants)
	h := newSim(taps()...)
	var log bytes.Buffer
	r := h.reconciler(t, &log)
	res, err := r.Apply(context.Background(), in)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, log.String())
	}
	kerneltest.Golden(t, "testdata/two-tenants.txt", h.k.String(), *update)
	want := `policy [tap1]
kernel 32 ops, 32 applied
frr reload without sessions
kernel 13 ops, 13 applied
frr configure router bgp 65101; neighbor up1 interface peer-group fabric; neighbor up2 interface peer-group fabric`
	if got := h.Events(); got != want {
		t.Fatalf("side effects:\n%s\nwant:\n%s", got, want)
	}
	if !res.Staged || res.FRRReloads != 1 {
		t.Fatalf("staged %v, reloads %d", res.Staged, res.FRRReloads)
	}
	for _, op := range []string{"prepare", "record", "kernel", "frr-reload", "kernel-up", "policy", "frr-configure", "save"} {
		if !strings.Contains(log.String(), "op="+op+" ") {
			t.Errorf("no op=%s in the log:\n%s", op, log.String())
		}
	}
	res, err = r.Apply(context.Background(), in)
	if err != nil || res.Changed() || res.FRRReloads != 0 {
		t.Fatalf("second apply: %v, changed %v (%v), reloads %d", err, res.Changed(), res.Kernel.Ops(), res.FRRReloads)
	}
	if got := h.Events(); got != "policy [tap1]" {
		t.Fatalf("second apply did: %s", got)
	}
	kerneltest.Golden(t, "testdata/two-tenants.txt", h.k.String(), false)
}

// TestApplyKernelFailure: one tenant's device cannot be created. The
// apply fails naming it and what it held back; everything else is in
// place (the other tenant, FRR, the policy of the ports that exist); the
// staged sessions, the final ownership record and the CNI's intent wait
// for an apply without failures, and the next one, the fault gone,
// completes the host.
func TestApplyKernelFailure(t *testing.T) {
	in := parse(t, twoTenants)
	h := newSim(taps()...)
	h.k.FailOn("link vx20")
	var log bytes.Buffer
	r := h.reconciler(t, &log)
	res, err := r.Apply(context.Background(), in)
	var ae *kernel.ApplyError
	if !errors.As(err, &ae) || !errors.Is(err, kerneltest.ErrInjected) || IsFRRError(err) {
		t.Fatalf("err = %v, want the kernel's ApplyError", err)
	}
	want := "kernel: add link vx20: injected failure; up link vx20: skipped: link vx20 could not be created"
	if err.Error() != want {
		t.Fatalf("err:\n%s\nwant:\n%s", err, want)
	}
	kerneltest.Golden(t, "testdata/two-tenants-vx20-failed.txt", h.k.String(), *update)
	wantEv := `policy [tap1]
kernel 32 ops, 31 applied
frr reload without sessions
kernel 12 ops, 12 applied`
	if got := h.Events(); got != wantEv {
		t.Fatalf("side effects:\n%s\nwant:\n%s", got, wantEv)
	}
	if !res.Staged || res.FRRReloads != 1 {
		t.Fatalf("staged %v, reloads %d", res.Staged, res.FRRReloads)
	}
	if !strings.Contains(log.String(), `level=ERROR msg="kernel operations failed, continuing with the rest" op=kernel`) {
		t.Errorf("failure not logged:\n%s", log.String())
	}
	// The intent whose policy is enforced is saved even so: CNI ADD and
	// attach compile theirs from it, and the previous one would undo the
	// new policy (issue 15 item 3).
	if saved, err := attach.LoadIntent(r.StateDir); err != nil || len(saved.Tenants) != 2 {
		t.Errorf("intent.json after a partial failure: %v", err)
	}
	if rec, err := r.load(); err != nil || strings.Join(rec.Tenants, ",") != "blue,red" {
		t.Errorf("owned tenants %v, want both recorded before the kernel step", rec.Tenants)
	}

	h.k.Heal()
	res, err = r.Apply(context.Background(), in)
	if err != nil {
		t.Fatalf("apply after the fault: %v", err)
	}
	kerneltest.Golden(t, "testdata/two-tenants.txt", h.k.String(), false)
	if got := h.Events(); !strings.HasSuffix(got, "frr configure router bgp 65101; neighbor up1 interface peer-group fabric; neighbor up2 interface peer-group fabric") {
		t.Fatalf("sessions not added after the fault:\n%s", got)
	}
	if _, err := attach.LoadIntent(r.StateDir); err != nil {
		t.Errorf("intent.json: %v", err)
	}
}

// TestApplyRemovesTenant: a tenant left out of the intent is torn down
// and disowned; the other one stays as it was.
func TestApplyRemovesTenant(t *testing.T) {
	h := newSim(taps()...)
	r := h.reconciler(t, &bytes.Buffer{})
	if _, err := r.Apply(context.Background(), parse(t, twoTenants)); err != nil {
		t.Fatal(err)
	}
	redOnly, _, _ := strings.Cut(twoTenants, "  - name: blue")
	redOnly += "workloads:\n  - {name: vm1, network: red/web, interface: tap1, mac: \"02:00:00:00:00:01\", ips: [10.1.10.11]}\n"
	if _, err := r.Apply(context.Background(), parse(t, redOnly)); err != nil {
		t.Fatal(err)
	}
	kerneltest.Golden(t, "testdata/red-only.txt", h.k.String(), *update)
	b, err := os.ReadFile(filepath.Join(r.StateDir, "owned.json"))
	if err != nil || strings.Contains(string(b), "blue") {
		t.Fatalf("owned.json: %s %v", b, err)
	}
}

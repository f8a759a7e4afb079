// Package reconcile converges a host to an intent: it plans (desired state,
// kernel diff, FRR delta) and applies in the order FRR needs. Its kernel
// and FRR side effects are injected, so the sequencing is testable.
package reconcile

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
	"github.com/evpnhost/evpnhost/internal/state"
)

// Kernel is the kernel side (linux.Netlink).
type Kernel interface {
	Observe(sysctls, ports []string) (kernel.State, error)
	Apply(ops []kernel.Op) (int, error)
	// ForeignLinks returns, of the links named, those that exist and are
	// not evpnhost's, with their kind (Observe leaves them out).
	ForeignLinks(names []string) (map[string]string, error)
}

// FRR is the routing side (frrctl.Instance).
type FRR interface {
	// Version is the FRR release running (or installed): the renderer,
	// the required daemons and the checks follow it.
	Version(ctx context.Context) (frr.Version, error)
	CheckDaemons(names ...string) error
	RunningConfig(ctx context.Context) (string, error)
	Test(ctx context.Context, conf string) (frr.Delta, error)
	// Apply reloads FRR with conf and hands the running configuration
	// then to check, whose error is Apply's.
	Apply(ctx context.Context, conf string, check func(running string) error) error
	JSON(ctx context.Context, cmd string, v any) error
	Configure(ctx context.Context, lines ...string) error
}

// Reconciler converges one host.
type Reconciler struct {
	Kernel   Kernel
	FRR      FRR
	StateDir string // where the ownership record lives
	Log      *slog.Logger
	// VNIWait bounds the wait for zebra to learn new L3VNIs.
	VNIWait time.Duration
	// Poll is the interval between readiness checks.
	Poll time.Duration
	// Policy enforces the tenants' policies after the kernel step; nil:
	// policies are not enforced.
	Policy Policy
	// Facts gathers what the default of host.vxlanDevice depends on
	// (FRR's version, the kernel's vnifilter); Current is filled from the
	// kernel here. nil: nothing is known, an unset field resolves to
	// per-vni and single is refused.
	Facts func(ctx context.Context) api.Facts
	// FRRPrint fingerprints FRR's daemons (frrctl.Instance.PIDs). When it
	// changed between the start of an apply and its reload, a daemon
	// restarted meanwhile and came back empty: the apply fails rather
	// than reload into it (what it lost is restored from the saved
	// configuration first; see agent.Agent.RestoreFRR). nil: not checked.
	FRRPrint func() string
}

// Result is what a plan or an apply found and did.
type Result struct {
	// FRRVersion is the FRR the configuration was rendered for.
	FRRVersion frr.Version
	Kernel     kernel.Plan
	FRR        frr.Delta
	FRRReloads int
	Staged     bool     // first bring-up of L3VNIs: neighbors configured last
	Missing    []string // workload interfaces that do not exist
	// VXLANDevice is the vxlanDevice mode in use and why.
	VXLANDevice api.Resolution
	// MissingAttachments are run-time attachments (CNI, evpnhost attach)
	// whose interface does not exist: left out, not an error (their
	// container or VM is gone; its DEL or detach removes the record).
	MissingAttachments []string
}

// Changed reports whether anything is (or was) to be done.
func (r Result) Changed() bool { return r.Kernel.Len() > 0 || !r.FRR.Empty() }

// record is the ownership record kept in StateDir.
type record struct {
	Tenants []string `json:"tenants"`
}

// prepare resolves host.vxlanDevice, builds the desired state (the
// intent plus the recorded attachments) and the kernel plan against what
// the kernel holds now. The intent it returns has vxlanDevice set to the
// mode in use.
func (r *Reconciler) prepare(ctx context.Context, in *api.Intent) (*api.Intent, plan.Desired, Result, error) {
	var res Result
	atts, err := r.attachments(in)
	if err != nil {
		return in, plan.Desired{}, res, err
	}
	var facts api.Facts
	if r.Facts != nil {
		facts = r.Facts(ctx)
	}
	// The sysctls and ports to observe do not depend on the mode.
	obs, err := r.observe(plan.BuildWith(in, atts))
	if err != nil {
		return in, plan.Desired{}, res, err
	}
	facts.Current = currentMode(obs)
	res.VXLANDevice = api.ResolveVXLANDevice(in, facts)
	if err := api.CheckVXLANDevice(in, res.VXLANDevice.Mode, facts); err != nil {
		return in, plan.Desired{}, res, err
	}
	resolved := *in
	resolved.Host.VXLANDevice = res.VXLANDevice.Mode
	des := plan.BuildWith(&resolved, atts)
	missing := skipMissingPorts(&des.Kernel, obs)
	res.Kernel = kernel.Diff(des.Kernel, obs)
	res.Missing, res.MissingAttachments = splitMissing(missing, atts)
	return &resolved, des, res, nil
}

// VXLANDevice is the vxlanDevice mode of in on a host whose kernel holds
// obs, and why (status prints it).
func VXLANDevice(in *api.Intent, f api.Facts, obs kernel.State) api.Resolution {
	f.Current = currentMode(obs)
	return api.ResolveVXLANDevice(in, f)
}

// CurrentMode is the vxlanDevice mode of the VXLAN devices evpnhost has
// in obs, "" without any.
func CurrentMode(obs kernel.State) string { return currentMode(obs) }

// currentMode is the vxlanDevice mode of the VXLAN devices evpnhost has
// in obs, "" without any.
func currentMode(obs kernel.State) string {
	for _, l := range obs.Links {
		if l.Kind == kernel.KindVXLAN {
			if l.VNIFilter {
				return api.VXLANSingle
			}
			return api.VXLANPerVNI
		}
	}
	return ""
}

// Plan computes what Apply would do, changing nothing.
func (r *Reconciler) Plan(ctx context.Context, in *api.Intent) (Result, error) {
	var res Result
	ver, err := r.checkFRR(ctx, in)
	if err != nil {
		return res, err
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return res, err
	}
	defer unlock()
	in, des, res, err := r.prepare(ctx, in)
	res.FRRVersion = ver
	if err != nil {
		return res, err
	}
	if err := r.refuseForeign(ctx, in, res.Kernel); err != nil {
		return res, err
	}
	des.FRR.Neighbors, des.FRR.Version = true, ver
	running, err := r.FRR.RunningConfig(ctx)
	if err != nil {
		return res, frrError{fmt.Errorf("read frr running config: %w", err)}
	}
	_, delta, err := r.frrDelta(ctx, des.FRR, in, running)
	res.FRR = delta
	return res, err
}

// Apply converges the host to in. On failure the error names the step;
// the host keeps working with what was applied so far, and the next
// apply resumes.
//
// The steps, in order (each a method of run, logged with its op):
// prepare, record, policy, save-intent, frr-release (FRR >= 9: the
// L3VNIs whose VXLAN device goes), kernel, frr-reload, kernel-up,
// frr-configure, save. Kernel failures are per object: the steps after the kernel's run
// anyway, and the apply then fails before frr-configure and save.
func (r *Reconciler) Apply(ctx context.Context, in *api.Intent) (Result, error) {
	a := &run{r: r, in: in}
	defer a.release()
	err := a.prepare(ctx)
	if err == nil {
		err = a.record()
	}
	// Policy next: a workload port is filtered before it joins the bridge
	// (or the VRF), so neither a kernel nor an FRR failure later in the
	// apply can leave it passing traffic unfiltered.
	if err == nil {
		err = a.enforcePolicy()
	}
	// The intent whose policy is now enforced is the one CNI ADD and
	// `evpnhost attach` compile theirs from: saved before anything can
	// fail, so that they never re-enforce an older, looser policy.
	if err == nil {
		err = a.saveIntent()
	}
	if err == nil {
		err = a.releaseL3VNIs(ctx)
	}
	if err == nil {
		err = a.kernelMain()
	}
	if err == nil {
		err = a.reloadFRR(ctx)
	}
	if err == nil {
		err = a.kernelUp()
	}
	if err == nil && a.kernelErr != nil {
		// Staged sessions and ownership wait for an apply without
		// failures.
		err = fmt.Errorf("kernel: %w", a.kernelErr)
	}
	if err == nil {
		err = a.addSessions(ctx)
	}
	if err == nil {
		err = a.save()
	}
	return a.res, err
}

// run is one Apply as it goes through its steps.
type run struct {
	r  *Reconciler
	in *api.Intent // host.vxlanDevice resolved (prepare)
	// orig is the intent as given, saved for CNI, attach and status
	// (which resolves host.vxlanDevice again to say why).
	orig *api.Intent
	des  plan.Desired
	res  Result
	// print is FRR's daemons' fingerprint at the start (FRRPrint).
	print string
	// unlock releases the state directory's lock; nil once released.
	unlock func()
	// kernelErr collects the kernel operations that failed so far.
	kernelErr *kernel.ApplyError
}

// release unlocks the state directory.
func (a *run) release() {
	if a.unlock != nil {
		a.unlock()
		a.unlock = nil
	}
}

// prepare checks FRR's daemons, locks the state directory (until Apply
// returns) and plans the
// kernel (the desired state, the diff against what the kernel holds).
func (a *run) prepare(ctx context.Context) error {
	r := a.r
	ver, err := r.checkFRR(ctx, a.in)
	if err != nil {
		return err
	}
	if r.FRRPrint != nil {
		a.print = r.FRRPrint()
	}
	// The state directory stays locked for the whole apply: a workload
	// attached meanwhile (CNI ADD) would otherwise be detached as an
	// unknown bridge port, and a second apply would read the kernel and
	// the ownership record in the middle of this one's changes.
	unlock, err := r.lock(ctx)
	if err != nil {
		return err
	}
	a.unlock = unlock
	a.orig = a.in
	a.in, a.des, a.res, err = r.prepare(ctx, a.in)
	a.des.FRR.Version, a.res.FRRVersion = ver, ver
	if err != nil {
		return err
	}
	if err := r.refuseForeign(ctx, a.in, a.res.Kernel); err != nil {
		return err
	}
	for _, m := range a.res.MissingAttachments {
		r.log().Warn("attachment interface not found, left out", "interface", m)
	}
	r.log().Debug("planned", "op", "prepare", "kernel_ops", a.res.Kernel.Len(), "missing", len(a.res.Missing))
	return nil
}

// record notes ownership of the new tenants before touching anything, so
// a failed apply can still clean them up later.
func (a *run) record() error {
	rec, err := a.r.load()
	if err != nil {
		return err
	}
	tenants := union(rec.Tenants, tenantNames(a.in))
	a.r.log().Debug("recording ownership", "op", "record", "tenants", len(tenants))
	return a.r.save(record{Tenants: tenants})
}

// kernelMain applies the kernel plan's main phase. Failed objects are kept for the end (kernelErr); any
// other error stops the apply.
func (a *run) kernelMain() error {
	a.r.log().Debug("applying kernel operations", "op", "kernel", "ops", len(a.res.Kernel.Main))
	if _, err := a.r.Kernel.Apply(a.res.Kernel.Main); err != nil {
		if !errors.As(err, &a.kernelErr) {
			return fmt.Errorf("kernel: %w", err)
		}
		a.r.log().Error("kernel operations failed, continuing with the rest", "op", "kernel", "cause", err)
	}
	a.warnPIMVRFDelete()
	return nil
}

// warnPIMVRFDelete says, when this apply deleted a VRF on an FRR whose
// pimd crashes after that (frr.PIMVRFDeleteIssue) and the host runs pimd,
// what happens next: evpnhost cannot prevent the crash, only a supervisor
// (watchfrr, as Debian runs FRR) restarts pimd with its configuration.
func (a *run) warnPIMVRFDelete() {
	if !frr.HasPIMVRFDeleteCrash(a.res.FRRVersion) || a.des.FRR.Multicast == nil {
		return
	}
	var vrfs []string
	for _, op := range a.res.Kernel.Main {
		if op.Action == kernel.ActDelete && op.Link != nil && op.Link.Kind == kernel.KindVRF {
			vrfs = append(vrfs, op.Link.Name)
		}
	}
	if len(vrfs) == 0 {
		return
	}
	a.r.log().Warn("FRR "+a.res.FRRVersion.String()+" has "+frr.PIMVRFDeleteIssue+
		": watchfrr restarts pimd and loads its configuration; without a supervisor, multicast BUM replication stops until pimd is started again",
		"op", "frr-defect", "vrfs", vrfs)
}

// reloadFRR decides on staging and reloads FRR with the new
// configuration (without the uplink sessions on a first bring-up).
func (a *run) reloadFRR(ctx context.Context) error {
	r := a.r
	// One read of the running configuration serves both the staging
	// decision and the FRR delta: each vtysh run costs about a second
	// under emulation, and a no-op apply otherwise took two.
	running, err := r.FRR.RunningConfig(ctx)
	if err != nil {
		return frrError{fmt.Errorf("read frr running config: %w", err)}
	}
	// FRR 8.4 must know a VRF's VNI before its devices come up and before
	// EVPN routes arrive, or the L3VNI gets the wrong router MAC
	// (docs/field-notes.md §3, §4). On a first bring-up, configure the sessions last.
	a.des.FRR.Neighbors = hasNeighbors(running, a.in.Host.Uplinks) || len(a.in.Tenants) == 0
	a.res.Staged = !a.des.FRR.Neighbors
	r.log().Debug("frr configuration", "op", "frr-reload", "staged", a.res.Staged)
	return r.applyFRR(ctx, a.des.FRR, a.in, running, a.print, &a.res)
}

// kernelUp brings the links up (and adds the addresses of new ones) once
// FRR knows the VRFs and VNIs, skipping the links that could not be
// created.
func (a *run) kernelUp() error {
	up := a.res.Kernel.Up
	if a.kernelErr != nil {
		var skipped []kernel.OpError
		up, skipped = a.kernelErr.Skip(up)
		a.kernelErr.Failed = append(a.kernelErr.Failed, skipped...)
	}
	a.r.log().Debug("bringing links up", "op", "kernel-up", "ops", len(up))
	if _, err := a.r.Kernel.Apply(up); err != nil {
		var ae *kernel.ApplyError
		if !errors.As(err, &ae) {
			return fmt.Errorf("kernel: %w", err)
		}
		if a.kernelErr == nil {
			a.kernelErr = ae
		} else {
			a.kernelErr.Failed = append(a.kernelErr.Failed, ae.Failed...)
		}
	}
	return nil
}

// enforcePolicy enforces the policies of the ports that exist, before the
// kernel step (issue: a port already in the bridge passed traffic
// unfiltered when the FRR reload failed and the policy step never ran).
func (a *run) enforcePolicy() error {
	if a.r.Policy != nil {
		a.r.log().Debug("enforcing policies", "op", "policy")
	}
	// A failure stops the apply before the kernel changes: a new port
	// does not join the bridge unfiltered (policy never fails open).
	return a.r.applyPolicy(a.in, &a.res)
}

// saveIntent records the intent for CNI ADD and `evpnhost attach`, which
// resolve networks and compile the policy from it.
func (a *run) saveIntent() error {
	a.r.log().Debug("saving the intent", "op", "save-intent")
	return attach.SaveIntent(a.r.StateDir, a.orig)
}

// addSessions, on a staged bring-up, waits for zebra to learn the L3VNIs
// and then adds the uplink sessions.
func (a *run) addSessions(ctx context.Context) error {
	if !a.res.Staged {
		return nil
	}
	r, in := a.r, a.in
	if err := r.waitVNIs(ctx, in); err != nil {
		return err
	}
	// The rest of the configuration is loaded and tested already: add
	// the sessions directly rather than with a second frr-reload.py
	// run (seconds of Python, a minute under emulation).
	sessions := frr.SessionLines(a.des.FRR)
	lines := append([]string{fmt.Sprintf("router bgp %d", in.Host.ASN)}, sessions...)
	r.log().Info("adding uplink sessions", "op", "frr-configure", "uplinks", in.Host.Uplinks)
	if err := r.FRR.Configure(ctx, lines...); err != nil {
		return frrError{fmt.Errorf("frr: add uplink sessions: %w", err)}
	}
	a.res.FRR.Add = append(a.res.FRR.Add, lines...)
	return nil
}

// save records what the host now holds: the owned tenants (those of in
// only). Missing workloads are reported last.
func (a *run) save() error {
	a.r.log().Debug("saving state", "op", "save", "tenants", len(a.in.Tenants))
	if err := a.r.save(record{Tenants: tenantNames(a.in)}); err != nil {
		return err
	}
	if missing := a.res.Missing; len(missing) > 0 {
		return &MissingError{Interfaces: missing}
	}
	return nil
}

// attachments are the run-time workloads (CNI, evpnhost attach) recorded
// in the state directory; those the intent cannot take (network gone,
// interface taken) are logged and left out.
func (r *Reconciler) attachments(in *api.Intent) ([]plan.Attachment, error) {
	if r.StateDir == "" {
		return nil, nil
	}
	list, err := attach.Open(r.StateDir).List()
	if err != nil {
		return nil, err
	}
	atts := attach.PlanAll(list)
	for iface, why := range plan.Skipped(in, atts) {
		r.log().Warn("attachment left out", "interface", iface, "reason", why)
	}
	return atts, nil
}

func (r *Reconciler) applyFRR(ctx context.Context, c frr.Config, in *api.Intent, running, print string, res *Result) error {
	conf, delta, err := r.frrDelta(ctx, c, in, running)
	if err != nil {
		return err
	}
	res.FRR.Delete = append(res.FRR.Delete, delta.Delete...)
	res.FRR.Add = append(res.FRR.Add, delta.Add...)
	if delta.Empty() {
		return nil
	}
	if r.FRRPrint != nil {
		if now := r.FRRPrint(); now != print {
			return frrError{fmt.Errorf("frr: daemons restarted during the apply (%s -> %s); not reloading into them", print, now)}
		}
	}
	r.log().Info("reloading frr", "op", "frr-reload", "delete", len(delta.Delete), "add", len(delta.Add), "lines", firstLines(delta, 8))
	// frr-reload.py's success is not FRR's: FRR >= 9 without mgmtd drops
	// vrf/vni and ip route lines and returns 0. Every line evpnhost
	// rendered must be in the running configuration afterwards.
	rendered, after := frr.Render(c), ""
	check := func(running string) error {
		after = running
		if m := frr.Missing(rendered, running); len(m) > 0 {
			return &DroppedError{Version: c.Version, Lines: m}
		}
		return nil
	}
	if err := r.FRR.Apply(ctx, conf, check); err != nil {
		return frrError{fmt.Errorf("frr: %w", err)}
	}
	res.FRRReloads++
	after, err = r.dropEmptyVRFs(ctx, in, after, res)
	if err != nil {
		return err
	}
	// Remember what the reload converged to, so the next apply of the same
	// intent can skip frr-reload.py.
	r.remember(conf, after)
	return nil
}

// dropEmptyVRFs removes the `vrf T` stanzas of removed tenants that the
// reload left empty (FRR 10.3 keeps them, frr.EmptyVRFs; as the operator's
// they would otherwise refuse the tenant coming back) and returns the
// running configuration then.
func (r *Reconciler) dropEmptyVRFs(ctx context.Context, in *api.Intent, running string, res *Result) (string, error) {
	rec, err := r.load()
	if err != nil {
		return running, err
	}
	var removed []string
	for _, t := range rec.Tenants {
		if !slices.Contains(tenantNames(in), t) {
			removed = append(removed, t)
		}
	}
	gone := frr.EmptyVRFs(running, removed)
	if len(gone) == 0 {
		return running, nil
	}
	var lines []string
	for _, t := range gone {
		lines = append(lines, "no vrf "+t)
	}
	r.log().Info("removing the empty vrf stanzas of removed tenants", "op", "frr-configure", "lines", lines)
	if err := r.FRR.Configure(ctx, lines...); err != nil {
		return running, frrError{fmt.Errorf("frr: %s: %w", strings.Join(lines, "; "), err)}
	}
	for _, t := range gone {
		res.FRR.Delete = append(res.FRR.Delete, "vrf "+t)
	}
	after, err := r.FRR.RunningConfig(ctx)
	if err != nil {
		return running, frrError{fmt.Errorf("read frr running config: %w", err)}
	}
	if left := frr.EmptyVRFs(after, gone); len(left) > 0 {
		return after, frrError{fmt.Errorf("frr: `no vrf %s` returned success but the stanza is still there", strings.Join(left, "`, `no vrf "))}
	}
	return after, nil
}

// DroppedError is a reload FRR reported as a success whose running
// configuration lacks lines evpnhost loaded (frr.Missing): the apply
// failed, and the next one loads them again.
type DroppedError struct {
	Version frr.Version
	Lines   []string // with their stanza: "vrf red / vni 4001"
}

func (e *DroppedError) Error() string {
	lines := e.Lines
	more := ""
	if len(lines) > 8 {
		lines, more = lines[:8], fmt.Sprintf(" (%d more)", len(e.Lines)-8)
	}
	why := ""
	if e.Version.MgmtdRequired() {
		why = "; FRR >= 9 does that when mgmtd does not run or restarted, check it"
	}
	return fmt.Sprintf("FRR %s reported the reload a success but its running configuration lacks %d of the lines loaded: %s%s%s",
		e.Version, len(e.Lines), strings.Join(lines, "; "), more, why)
}

// converged is the FRR part of the ownership record: the merged config
// last loaded (or found to need no change) and the running config then.
type converged struct {
	Conf    [32]byte `json:"conf"`
	Running [32]byte `json:"running"`
}

func (r *Reconciler) convergedPath() string { return filepath.Join(r.StateDir, state.ConvergedFile) }

// unchanged reports whether conf was already tested against exactly this
// running config with an empty delta: frr-reload.py is deterministic, so
// it would find nothing again. This turns a no-op apply's FRR check from
// a Python run into one `show running-config`.
func (r *Reconciler) unchanged(conf, running string) bool {
	var c converged
	found, err := state.ReadJSON(r.convergedPath(), convergedVersion, &c)
	if err != nil {
		// Only a shortcut: without it frr-reload.py --test decides.
		r.log().Warn("ignoring the FRR convergence record", "cause", err)
	}
	if !found || err != nil {
		return false
	}
	return c.Conf == sha256.Sum256([]byte(conf)) && c.Running == sha256.Sum256([]byte(running))
}

func (r *Reconciler) remember(conf, running string) {
	if r.StateDir == "" {
		return
	}
	c := converged{Conf: sha256.Sum256([]byte(conf)), Running: sha256.Sum256([]byte(running))}
	if _, err := state.WriteJSON(r.convergedPath(), convergedVersion, c); err != nil {
		r.log().Warn("cannot record FRR convergence", "cause", err)
	}
}

// frrDelta renders c, merges it into the running configuration and asks
// FRR what would change.
func (r *Reconciler) frrDelta(ctx context.Context, c frr.Config, in *api.Intent, running string) (string, frr.Delta, error) {
	rec, err := r.load()
	if err != nil {
		return "", frr.Delta{}, err
	}
	own := frr.Ownership{Tenants: union(rec.Tenants, tenantNames(in)), Uplinks: in.Host.Uplinks}
	conf := frr.Merge(running, frr.Render(c), own)
	if r.unchanged(conf, running) {
		return conf, frr.Delta{}, nil
	}
	delta, err := r.FRR.Test(ctx, conf)
	if err != nil {
		return conf, delta, frrError{fmt.Errorf("frr: %w", err)}
	}
	if delta.Empty() {
		r.remember(conf, running)
	}
	return conf, delta, nil
}

// observe reads the kernel objects des concerns: the owned ones, its
// sysctls and its ports.
func (r *Reconciler) observe(des plan.Desired) (kernel.State, error) {
	var keys, ports []string
	for _, s := range des.Kernel.Sysctls {
		keys = append(keys, s.Name)
	}
	for _, l := range des.Kernel.Links {
		if l.Kind == kernel.KindPort {
			ports = append(ports, l.Name)
		}
	}
	obs, err := r.Kernel.Observe(keys, ports)
	if err != nil {
		return obs, fmt.Errorf("observe kernel: %w", err)
	}
	return obs, nil
}

// skipMissingPorts drops workloads whose interface does not exist (yet)
// from the desired state, with their FDB and neighbor entries: advertising
// a workload that is not there would attract its traffic here. The rest of
// the intent is applied; the caller reports the missing ones.
func skipMissingPorts(des *kernel.State, obs kernel.State) []string {
	var missing []string
	des.Links = slices.DeleteFunc(des.Links, func(l kernel.Link) bool {
		if _, ok := obs.Link(l.Name); l.Kind == kernel.KindPort && !ok {
			missing = append(missing, l.Name)
			return true
		}
		return false
	})
	if len(missing) == 0 {
		return nil
	}
	gone := map[string]bool{}
	for _, m := range missing {
		gone[m] = true
	}
	var macs []string
	des.FDB = slices.DeleteFunc(des.FDB, func(f kernel.FDB) bool {
		if gone[f.Dev] {
			macs = append(macs, f.MAC)
			return true
		}
		return false
	})
	des.Neighs = slices.DeleteFunc(des.Neighs, func(n kernel.Neigh) bool { return slices.Contains(macs, n.MAC) })
	des.Routes = slices.DeleteFunc(des.Routes, func(r kernel.Route) bool { return r.Dev != "" && gone[r.Dev] })
	return missing
}

// splitMissing separates intent workloads from run-time attachments.
func splitMissing(missing []string, atts []plan.Attachment) (workloads, attachments []string) {
	for _, m := range missing {
		if slices.ContainsFunc(atts, func(a plan.Attachment) bool { return a.Interface == m }) {
			attachments = append(attachments, m)
		} else {
			workloads = append(workloads, m)
		}
	}
	return workloads, attachments
}

// MissingError reports workloads left out because their interface does
// not exist; everything else was applied.
type MissingError struct{ Interfaces []string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("workload interfaces not found, not attached: %s (create them, then apply again)", strings.Join(e.Interfaces, ", "))
}

// waitVNIs polls zebra until it lists every tenant's L3VNI.
func (r *Reconciler) waitVNIs(ctx context.Context, in *api.Intent) error {
	wait := r.VNIWait
	if wait == 0 {
		wait = 60 * time.Second
	}
	poll := r.Poll
	if poll == 0 {
		poll = 200 * time.Millisecond
	}
	deadline := time.Now().Add(wait)
	for {
		var vnis map[string]struct {
			Type string `json:"type"`
		}
		err := r.FRR.JSON(ctx, "show evpn vni json", &vnis)
		missing := []string{}
		for _, t := range in.Tenants {
			if v, ok := vnis[fmt.Sprint(t.L3VNI)]; !ok || v.Type != "L3" {
				missing = append(missing, fmt.Sprintf("%s/%d", t.Name, t.L3VNI))
			}
		}
		if err == nil && len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zebra did not learn the L3VNIs %s within %s (err: %v)", strings.Join(missing, ", "), wait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// hasNeighbors reports whether the running configuration already has the
// uplink sessions.
func hasNeighbors(running string, uplinks []string) bool {
	for _, l := range strings.Split(running, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "neighbor" && f[2] == "interface" && slices.Contains(uplinks, f[1]) {
			return true
		}
	}
	return false
}

// checkFRR detects FRR's version and checks that the daemons the intent
// needs on it run.
func (r *Reconciler) checkFRR(ctx context.Context, in *api.Intent) (frr.Version, error) {
	ver, err := r.FRR.Version(ctx)
	if err != nil {
		// Most likely FRR does not run: saying which daemon is missing
		// helps more than why the version is unknown.
		if derr := r.FRR.CheckDaemons(daemons(in, frr.V84)...); derr != nil {
			return ver, frrError{derr}
		}
		return ver, frrError{err}
	}
	if err := ver.Supported(); err != nil {
		return ver, frrError{err}
	}
	if err := r.FRR.CheckDaemons(daemons(in, ver)...); err != nil {
		return ver, frrError{err}
	}
	return ver, nil
}

// daemons are the FRR daemons an intent needs on FRR ver: from FRR 9 on,
// zebra's configuration goes through mgmtd.
func daemons(in *api.Intent, ver frr.Version) []string {
	d := []string{"zebra", "bgpd"}
	if ver.MgmtdRequired() {
		d = []string{"mgmtd", "zebra", "bgpd"}
	}
	if in.Host.BFD {
		d = append(d, "bfdd")
	}
	if plan.Build(in).FRR.Multicast != nil {
		d = append(d, "pimd") // multicast replication (docs/bum-replication.md)
	}
	return d
}

func tenantNames(in *api.Intent) []string {
	var n []string
	for _, t := range in.Tenants {
		n = append(n, t.Name)
	}
	return n
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

func (r *Reconciler) path() string { return filepath.Join(r.StateDir, state.OwnedFile) }

// Versions of the state files reconcile writes (state.WriteJSON); files
// without one are the legacy, same-shaped version 0.
const (
	ownedVersion     = 1
	convergedVersion = 1
)

// load reads the ownership record; none yet is an empty one. A record
// that cannot be read is an error, not "owns nothing": an apply would
// then treat its own tenants' FRR blocks as foreign and never remove
// them.
func (r *Reconciler) load() (record, error) {
	var rec record
	if r.StateDir == "" {
		return rec, nil
	}
	if _, err := state.ReadJSON(r.path(), ownedVersion, &rec); err != nil {
		if state.IsCorrupt(err) {
			return rec, fmt.Errorf("%w (it lists the tenants evpnhost created; fix it, e.g. {\"version\": 1, \"tenants\": [\"red\"]}, or remove it when no tenant of a previous intent is left to remove, then apply again)", err)
		}
		return rec, err
	}
	return rec, nil
}

func (r *Reconciler) save(rec record) error {
	if r.StateDir == "" {
		return errors.New("no state directory")
	}
	// unchanged: a no-op apply writes nothing
	_, err := state.WriteJSON(r.path(), ownedVersion, rec)
	return err
}

// lock takes the state directory's lock (state.Lock) for one plan or
// apply, saying in the log what it waits for.
func (r *Reconciler) lock(ctx context.Context) (func(), error) {
	if r.StateDir == "" {
		return func() {}, nil
	}
	return state.Lock(ctx, r.StateDir, func(holder string) {
		r.log().Warn("waiting for the state directory lock", "dir", r.StateDir, "holder", holder)
	})
}

// frrError marks a failure of an FRR step (daemons missing, reading the
// configuration, a reload); IsFRRError tells it from the others.
type frrError struct{ err error }

func (e frrError) Error() string { return e.err.Error() }
func (e frrError) Unwrap() error { return e.err }

// IsFRRError reports whether err comes from an FRR step.
func IsFRRError(err error) bool {
	var fe frrError
	return errors.As(err, &fe)
}

// firstLines summarises a delta for the log: its first n lines.
func firstLines(d frr.Delta, n int) string {
	out := d.Lines()
	if len(out) > n {
		out = append(out[:n], fmt.Sprintf("(%d more)", len(out)-n))
	}
	return strings.Join(out, " | ")
}

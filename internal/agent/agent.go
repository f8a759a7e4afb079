// Package agent keeps a host at its intent. It re-applies when the intent
// changes (file or etcd watch), when the kernel reports a link or address
// change (a deleted device or address shows up in the next diff), when an
// FRR daemon restarts, and periodically (which also catches FRR drift); it
// retries failures with backoff and keeps learnt neighbors fresh so silent
// workloads keep their EVPN routes.
//
// The last intent applied successfully is kept in the state directory and
// used while the source is unreachable or its content invalid. Stopping
// the agent never tears anything down: the dataplane stays as last applied.
// After every attempt the agent writes its status (applied revision,
// errors per object, last success) to the state directory and, through
// Reporter, to etcd.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
	"github.com/evpnhost/evpnhost/internal/reconcile"
	"github.com/evpnhost/evpnhost/internal/state"
)

// Applier converges the host (reconcile.Reconciler).
type Applier interface {
	Apply(ctx context.Context, in *api.Intent) (reconcile.Result, error)
}

// Refresher keeps learnt neighbors fresh (linux.Netlink).
type Refresher interface {
	RefreshNeighbors() (int, error)
}

// Reporter publishes the agent's status (fabric.Store.PutStatus).
type Reporter interface {
	PutStatus(ctx context.Context, st fabric.Status) error
}

// Observer records each reconcile (metrics.Metrics).
type Observer interface {
	// Reconciled is called after every attempt: how long it took, the
	// cause of failure ("" on success, see Cause) and the revision applied.
	Reconciled(took time.Duration, cause string, st fabric.Status)
}

// Agent is the long-running loop.
type Agent struct {
	Source    Source
	Applier   Applier
	Refresher Refresher
	// StateDir keeps the last good intent and the status file.
	StateDir     string
	Resync       time.Duration // full reconcile period
	NeighRefresh time.Duration // neighbor refresh period; 0 disables
	// Events signals kernel changes (linux.Subscribe); each starts a
	// reconcile after Debounce, so a burst costs one. May be nil.
	Events   <-chan struct{}
	Debounce time.Duration
	// FRRWatch returns a fingerprint of the FRR daemons, their pids as
	// frr.Instance.PIDs prints them ("zebra=12 bgpd=-", parsed into
	// frrPIDs); a change (a daemon restarted) starts a reconcile. Polled every
	// FRRPoll (default 250 ms: five pid files read). May be nil.
	FRRWatch func() string
	FRRPoll  time.Duration
	// FRRGrace is how long reconciles wait for a daemon that ran and is
	// gone (default 10 s); after it they run, and fail reporting it.
	FRRGrace time.Duration
	// RestoreFRR loads the saved FRR configuration into daemons that
	// restarted while zebra kept running (frrctl.Instance.Restore): such a
	// daemon comes back empty, and a reload cannot see everything it lost
	// (FRR's merged running configuration still shows zebra's copies of
	// the route-maps), so bgpd would deny every route. On FRR >= 9 (mgmtd
	// in the print) also zebra restarted under a running mgmtd, and mgmtd
	// under a running zebra (restartedAlone). Then a reconcile follows.
	// nil: only reconcile.
	RestoreFRR func(ctx context.Context, daemons []string) error
	// RestartFRR restarts FRR as a whole when RestoreFRR failed. nil: none.
	RestartFRR func(ctx context.Context) error
	// L3Check lists the next hops of tenant routes through the L3VNI SVIs
	// and what each lacks (linux.Netlink.L3NextHops for the applied
	// intent's L3VNIs). FRR 8.4's zebra drops the router MAC of a remote
	// VTEP from an L3VNI when it replaces the routes through it, e.g.
	// when one of the two TORs fails (docs/architecture.md). A next hop
	// lacking its entries at two checks in a row is repaired: L3Install
	// installs them (linux.Netlink.InstallL3Entry) with the router MAC
	// last seen for that VTEP; when none was seen, L3Repair bounces the
	// L3VNI's SVI so that zebra installs them again
	// (linux.Netlink.BounceLink), again after L3Holdoff (default 5 s) if
	// the holes come back, doubling up to 2 min. What L3Install installed
	// is removed with L3Remove once no route uses it. Checked every
	// L3Interval in a goroutine of its own; nil or 0 disables it.
	L3Check    func() ([]kernel.L3Hole, error)
	L3Install  func(kernel.L3Hole) error
	L3Remove   func(kernel.L3Hole) (bool, error)
	L3Repair   func(svi string) error
	L3Interval time.Duration
	L3Holdoff  time.Duration
	// UplinkCheck lists the uplinks whose MTU is below what the applied
	// intent's VXLAN frames need (plan.CheckUplinks on the kernel's
	// uplinks); checked after every reconcile, each change logged
	// (op=uplink-mtu): a lowered MTU drops or fragments large frames
	// only, which nothing else reports. nil: not checked.
	UplinkCheck func(in *api.Intent) ([]plan.UplinkIssue, error)
	// BFDCheck lists the applied intent's uplinks with their carrier and
	// BGP state, when host.bfd is on (nil: none). An uplink whose link is
	// up and whose session stayed down for BFDStuck gets BFD taken off its
	// neighbor alone (BFDToggle(uplink, false)) until the
	// session is Established, for at most 30 s, then put back
	// (BFDToggle(uplink, true)): FRR 10.3 with BGP unnumbered and BFD on both ends does not
	// bring a session back after its port flapped (bfdRepair,
	// frr.BFDStallIssue). Polled every BFDPoll (default 2 s) in a
	// goroutine of its own; nil or BFDStuck 0 disables it.
	BFDCheck  func() ([]UplinkSession, error)
	BFDToggle func(uplink string, on bool) error
	BFDStuck  time.Duration
	BFDPoll   time.Duration
	// frrMu is held by a reconcile and by the BFD repair while BFD is off.
	frrMu sync.Mutex
	// Retry is the first delay after a failed reconcile; it doubles up to
	// MaxRetry.
	Retry, MaxRetry time.Duration
	Reporter        Reporter // may be nil
	Observer        Observer // may be nil
	Host            string   // for the status; defaults to the intent's host name
	Version         string
	Log             *slog.Logger
}

// StatusFile is the agent's status in its state directory.
const StatusFile = state.StatusFile

// Run loops until ctx ends. It returns nil on a clean stop.
func (a *Agent) Run(ctx context.Context) error {
	l := a.newLoop(ctx)
	l.reconcile("start")
	t := l.tickers()
	defer t.Stop()
	if wait := l.repair(); wait != nil {
		defer wait()
	}
	if wait := l.bfdRepair(); wait != nil {
		defer wait()
	}
	l.run(t)
	return nil
}

// restoreFRR loads the saved configuration into daemons that restarted
// alone, and restarts FRR as a whole when that fails (if it may). It
// reports whether it restarted FRR (its daemons then have new pids).
func (a *Agent) restoreFRR(ctx context.Context, ds []string, log *slog.Logger) (restarted bool) {
	start := time.Now()
	err := a.RestoreFRR(ctx, ds)
	if err == nil {
		log.Warn("FRR daemons restarted alone (FRR as a whole did not): loaded the saved configuration into them", "op", "frr-restore", "daemons", strings.Join(ds, ","), "took", time.Since(start))
		return false
	}
	log.Error("loading the saved configuration into restarted FRR daemons failed", "op", "frr-restore", "daemons", strings.Join(ds, ","), "cause", err)
	if a.RestartFRR == nil {
		return false
	}
	log.Warn("restarting FRR as a whole", "op", "frr-restart")
	if err := a.RestartFRR(ctx); err != nil {
		log.Error("FRR restart failed", "op", "frr-restart", "cause", err)
	}
	return true
}

// writeStatus keeps the status in the state directory (evpnhost status
// shows it).
func (a *Agent) writeStatus(st fabric.Status, log *slog.Logger) {
	if a.StateDir == "" {
		return
	}
	if _, err := state.WriteJSON(filepath.Join(a.StateDir, StatusFile), statusVersion, st); err != nil {
		log.Warn("cannot write status", "op", "status", "cause", err)
	}
}

// report publishes st; false when it could not (tried again later).
func (a *Agent) report(ctx context.Context, st fabric.Status, log *slog.Logger) bool {
	if a.Reporter == nil || st.Host == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.Reporter.PutStatus(ctx, st); err != nil {
		log.Debug("cannot report status", "op", "status", "cause", err)
		return false
	}
	return true
}

// statusVersion is the version of the status file (state.WriteJSON).
const statusVersion = 1

// ReadStatus reads the status an agent left in stateDir; none is an error
// wrapping fs.ErrNotExist.
func ReadStatus(stateDir string) (fabric.Status, error) {
	var st fabric.Status
	p := filepath.Join(stateDir, StatusFile)
	found, err := state.ReadJSON(p, statusVersion, &st)
	if err == nil && !found {
		err = fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	return st, err
}

// Causes of a failed reconcile, the label of the apply error metric.
const (
	CauseInvalidIntent     = "invalid_intent"
	CauseSourceUnreachable = "source_unreachable"
	CauseKernel            = "kernel"
	CauseFRR               = "frr"
	CauseOther             = "other"
)

// Cause classifies an apply error.
func Cause(err error) string {
	var ke *kernel.ApplyError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ke):
		return CauseKernel
	case reconcile.IsFRRError(err):
		return CauseFRR
	}
	return CauseOther
}

// applyErrors splits an apply error into per-object errors: one per failed
// kernel object, else one for the step.
func applyErrors(err error) []fabric.ObjectError {
	var ke *kernel.ApplyError
	if errors.As(err, &ke) {
		out := make([]fabric.ObjectError, 0, len(ke.Failed))
		for _, f := range ke.Failed {
			out = append(out, fabric.ObjectError{Object: f.Object(), Error: f.Err.Error()})
		}
		return out
	}
	return []fabric.ObjectError{{Object: "apply", Error: err.Error()}}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

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
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/atomicfile"
	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/reconcile"
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
	// FRRWatch returns a fingerprint of the FRR daemons (their pids); a
	// change (a daemon restarted) starts a reconcile. Polled every
	// FRRPoll (default 250 ms: five pid files read). May be nil.
	FRRWatch func() string
	FRRPoll  time.Duration
	// FRRGrace is how long reconciles wait for a daemon that ran and is
	// gone (default 10 s); after it they run, and fail reporting it.
	FRRGrace time.Duration
	// RestoreFRR loads the saved FRR configuration into daemons that
	// restarted while zebra kept running (frr.Instance.Restore): such a
	// daemon comes back empty, and a reload cannot see everything it lost
	// (FRR's merged running configuration still shows zebra's copies of
	// the route-maps), so bgpd would deny every route. Then a reconcile
	// follows. nil: only reconcile.
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
const StatusFile = "agent-status.json"

// Run loops until ctx ends. It returns nil on a clean stop.
func (a *Agent) Run(ctx context.Context) error {
	log := a.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store := cache{dir: a.StateDir}
	var lastGood *Loaded
	if l, err := store.load(); err == nil {
		lastGood = l
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Warn("last good intent unusable", "op", "cache", "cause", err)
	}
	st := fabric.Status{Host: a.Host, Agent: fmt.Sprintf("%s pid %d started %s", a.Version, os.Getpid(), time.Now().UTC().Format(time.RFC3339))}
	if lastGood != nil {
		st.AppliedRevision = lastGood.Revision
	}
	var retry <-chan time.Time
	backoff := time.Duration(0)
	statusDirty := false

	// FRR's daemons, fingerprinted by their pids. checkFRR runs on every
	// poll and before every reconcile, so that a daemon restarted alone
	// gets its configuration back before a reconcile looks at FRR (the
	// reload would otherwise miss what it lost, and take long doing so).
	//
	// A daemon that ran and is gone is being restarted, most likely
	// (watchfrr, systemd): reconciles wait for it, up to FRRGrace, so that
	// it is restored first and not half-configured by a reload that
	// started while it came back.
	var frrPrint string
	ran := map[string]bool{} // daemons seen running
	var goneSince time.Time  // since when one of them is gone
	waitLogged := false
	if a.FRRWatch != nil {
		frrPrint = a.FRRWatch()
	}
	checkFRR := func() bool {
		if a.FRRWatch == nil {
			return false
		}
		p := a.FRRWatch()
		changed := p != frrPrint
		if changed {
			log.Warn("FRR daemons restarted", "op", "frr-watch", "before", frrPrint, "now", p)
			if ds := restartedAlone(frrPrint, p); len(ds) > 0 && a.RestoreFRR != nil {
				a.restoreFRR(ctx, ds, log)
				p = a.FRRWatch()
			}
			frrPrint = p
		}
		gone := false
		for d, pid := range daemonPIDs(p) {
			if pid != "-" {
				ran[d] = true
			} else if ran[d] {
				gone = true
			}
		}
		switch {
		case !gone:
			goneSince = time.Time{}
		case goneSince.IsZero():
			goneSince = time.Now()
		}
		return changed
	}

	reconcileNow := func(reason string) {
		checkFRR()
		if !goneSince.IsZero() && time.Since(goneSince) < orDefault(a.FRRGrace, 10*time.Second) {
			if !waitLogged {
				log.Info("an FRR daemon is gone; reconciling once it is back", "op", "frr-watch", "reason", reason, "now", frrPrint)
				waitLogged = true
			}
			retry = time.After(orDefault(a.FRRPoll, 250*time.Millisecond))
			return
		}
		waitLogged = false
		start := time.Now()
		st.LastAttempt = start.UTC()
		st.Errors = nil
		l, err := a.Source.Load(ctx)
		cause := ""
		var use *Loaded
		var ve *api.ValidationError
		switch {
		case err == nil:
			use = &l
		case errors.As(err, &ve):
			cause = CauseInvalidIntent
			st.Errors = fabric.ObjectErrors(a.Source.Name(), err)
			log.Error("intent refused, keeping the last good one", "op", "load", "source", a.Source.Name(), "cause", err)
		default:
			cause = CauseSourceUnreachable
			st.Errors = []fabric.ObjectError{{Object: a.Source.Name(), Error: err.Error()}}
			log.Warn("intent source unreachable, keeping the last good intent", "op", "load", "cause", err)
		}
		if use == nil && lastGood != nil {
			use = &Loaded{Intent: lastGood.Intent, Revision: lastGood.Revision, Sum: lastGood.Sum, Source: "cache"}
		}
		if use == nil {
			log.Error("no intent to apply yet", "op", "load")
		} else {
			if a.Host == "" {
				st.Host = use.Intent.Host.Name
			}
			res, aerr := a.Applier.Apply(ctx, use.Intent)
			var missing *reconcile.MissingError
			switch {
			case aerr == nil || errors.As(aerr, &missing):
				if missing != nil {
					for _, m := range missing.Interfaces {
						st.Errors = append(st.Errors, fabric.ObjectError{Object: "workload interface " + m, Error: "not found; left out until it exists"})
					}
				}
				if use.Source != "cache" {
					if lastGood == nil || lastGood.Sum != use.Sum || lastGood.Revision != use.Revision {
						if err := store.save(*use); err != nil {
							log.Warn("cannot keep the last good intent", "op", "cache", "cause", err)
						}
					}
					lastGood = use
					st.AppliedRevision = use.Revision
				}
				st.Source = use.Source
				st.LastSuccess = time.Now().UTC()
				if res.Changed() {
					log.Info("applied", "op", "apply", "reason", reason, "kernel_ops", res.Kernel.Len(), "frr_reloads", res.FRRReloads, "took", time.Since(start))
				}
			default:
				if cause == "" {
					cause = Cause(aerr)
				}
				st.Errors = append(st.Errors, applyErrors(aerr)...)
				log.Error("apply failed", "op", "apply", "reason", reason, "cause", aerr)
			}
		}
		if cause != "" && cause != CauseInvalidIntent {
			// Retry soon, then less and less often.
			backoff = min(max(backoff*2, orDefault(a.Retry, time.Second)), orDefault(a.MaxRetry, 30*time.Second))
			retry = time.After(backoff)
		} else {
			backoff, retry = 0, nil
		}
		if a.Observer != nil {
			a.Observer.Reconciled(time.Since(start), cause, st)
		}
		a.writeStatus(st, log)
		statusDirty = !a.report(ctx, st, log)
	}
	reconcileNow("start")

	resync := time.NewTicker(orDefault(a.Resync, 30*time.Second))
	defer resync.Stop()
	var refresh <-chan time.Time
	if a.NeighRefresh > 0 && a.Refresher != nil {
		t := time.NewTicker(a.NeighRefresh)
		defer t.Stop()
		refresh = t.C
	}
	var frrTick <-chan time.Time
	if a.FRRWatch != nil {
		t := time.NewTicker(orDefault(a.FRRPoll, 250*time.Millisecond))
		defer t.Stop()
		frrTick = t.C
	}
	if a.L3Check != nil && a.L3Interval > 0 {
		// Its own goroutine: a reconcile takes seconds on a slow host and
		// must not delay the repair of a dataplane that is down.
		l3done := make(chan struct{})
		defer func() { <-l3done }()
		go func() {
			defer close(l3done)
			a.l3Loop(ctx, log)
		}()
	}
	changes := a.Source.Changes(ctx)
	events := a.Events
	var debounce <-chan time.Time
	why := ""
	soon := func(reason string) {
		if debounce == nil {
			why = reason
			debounce = time.After(orDefault(a.Debounce, 300*time.Millisecond))
		}
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping; the dataplane stays as applied", "op", "stop")
			return nil
		case _, ok := <-events:
			if !ok {
				log.Warn("kernel events unavailable; relying on the periodic resync", "op", "events")
				events = nil
				continue
			}
			soon("kernel event")
		case <-changes:
			soon("intent changed")
		case <-frrTick:
			if checkFRR() {
				soon("frr restarted")
			}
			if statusDirty {
				statusDirty = !a.report(ctx, st, log)
			}
		case <-debounce:
			debounce = nil
			reconcileNow(why)
		case <-retry:
			retry = nil
			reconcileNow("retry")
		case <-resync.C:
			reconcileNow("resync")
		case <-refresh:
			if n, err := a.Refresher.RefreshNeighbors(); err != nil {
				log.Warn("neighbor refresh failed", "op", "refresh", "cause", err)
			} else if n > 0 {
				log.Debug("neighbors refreshed", "op", "refresh", "count", n)
			}
		}
	}
}

// daemonPIDs yields each daemon of an FRRWatch print ("zebra=12 bgpd=-")
// with its pid, "-" when it does not run.
func daemonPIDs(print string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, f := range strings.Fields(print) {
			if d, pid, ok := strings.Cut(f, "="); ok && !yield(d, pid) {
				return
			}
		}
	}
}

// pidOf is the pid of daemon in an FRRWatch print, "-" when it does not
// run, "" when the print does not name it.
func pidOf(print, daemon string) string {
	for d, pid := range daemonPIDs(print) {
		if d == daemon {
			return pid
		}
	}
	return ""
}

// restartedAlone lists the daemons other than zebra that run in now with
// another pid than in before (restarted, or started) while zebra kept its
// pid: they came back without configuration. When zebra restarted too, FRR
// was restarted as a whole, its init script configured it, and the
// reconcile does the rest.
func restartedAlone(before, now string) []string {
	z := pidOf(now, "zebra")
	if z == "" || z == "-" || z != pidOf(before, "zebra") {
		return nil
	}
	var ds []string
	for d, pid := range daemonPIDs(now) {
		if d != "zebra" && pid != "-" && pid != pidOf(before, d) {
			ds = append(ds, d)
		}
	}
	return ds
}

// restoreFRR loads the saved configuration into daemons that restarted
// alone, and restarts FRR as a whole when that fails (if it may).
func (a *Agent) restoreFRR(ctx context.Context, ds []string, log *slog.Logger) {
	start := time.Now()
	err := a.RestoreFRR(ctx, ds)
	if err == nil {
		log.Warn("FRR daemons restarted under a running zebra: loaded the saved configuration into them", "op", "frr-restore", "daemons", strings.Join(ds, ","), "took", time.Since(start))
		return
	}
	log.Error("loading the saved configuration into restarted FRR daemons failed", "op", "frr-restore", "daemons", strings.Join(ds, ","), "cause", err)
	if a.RestartFRR == nil {
		return
	}
	log.Warn("restarting FRR as a whole", "op", "frr-restart")
	if err := a.RestartFRR(ctx); err != nil {
		log.Error("FRR restart failed", "op", "frr-restart", "cause", err)
	}
}

// writeStatus keeps the status in the state directory (evpnhost status
// shows it).
func (a *Agent) writeStatus(st fabric.Status, log *slog.Logger) {
	if a.StateDir == "" {
		return
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.MkdirAll(a.StateDir, 0o700); err == nil {
		err = atomicfile.Write(filepath.Join(a.StateDir, StatusFile), b)
		if err != nil {
			log.Warn("cannot write status", "op", "status", "cause", err)
		}
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

// ReadStatus reads the status an agent left in stateDir.
func ReadStatus(stateDir string) (fabric.Status, error) {
	var st fabric.Status
	b, err := os.ReadFile(filepath.Join(stateDir, StatusFile))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
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

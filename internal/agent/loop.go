package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/plan"
	"github.com/evpnhost/evpnhost/internal/reconcile"
)

// loop is one Run of an Agent: the state its reconciles, FRR checks and
// timers share. Only Run's goroutine uses it (the L3VNI check has its own
// state, l3Loop).
type loop struct {
	a     *Agent
	ctx   context.Context
	log   *slog.Logger
	store cache

	lastGood    *Loaded       // the last intent applied successfully
	st          fabric.Status // written and reported after every attempt
	statusDirty bool          // the last report failed

	frr frrState

	uplinks map[string]plan.UplinkIssue // uplink problems logged, by uplink

	// schedule
	backoff  time.Duration
	retry    <-chan time.Time // the next retry, nil when none
	debounce <-chan time.Time // the reconcile soon asked for, nil when none
	why      string           // its reason
}

// frrState is what checkFRR knows of FRR's daemons, fingerprinted by
// their pids. checkFRR runs on every poll and before every reconcile, so
// that a daemon restarted alone gets its configuration back before a
// reconcile looks at FRR (the reload would otherwise miss what it lost,
// and take long doing so).
//
// A daemon that ran and is gone is being restarted, most likely
// (watchfrr, systemd): reconciles wait for it, up to FRRGrace, so that
// it is restored first and not half-configured by a reload that started
// while it came back.
type frrState struct {
	pids       frrPIDs
	ran        map[string]bool // daemons seen running
	goneSince  time.Time       // since when one of them is gone
	waitLogged bool
}

// newLoop loads the last good intent and starts the status.
func (a *Agent) newLoop(ctx context.Context) *loop {
	l := &loop{a: a, ctx: ctx, log: a.Log, store: cache{dir: a.StateDir}, frr: frrState{ran: map[string]bool{}}}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if lg, err := l.store.load(); err == nil {
		l.lastGood = lg
	} else if !errors.Is(err, os.ErrNotExist) {
		l.log.Warn("last good intent unusable", "op", "cache", "cause", err)
	}
	l.st = fabric.Status{Host: a.Host, Agent: fmt.Sprintf("%s pid %d started %s", a.Version, os.Getpid(), time.Now().UTC().Format(time.RFC3339))}
	if l.lastGood != nil {
		l.st.AppliedRevision = l.lastGood.Revision
	}
	if a.FRRWatch != nil {
		l.frr.pids = parseFRRPIDs(a.FRRWatch())
	}
	return l
}

// checkFRR reads FRR's pids and reports whether a daemon restarted since
// the last check; daemons restarted alone get their configuration back
// (RestoreFRR) first. It also notes since when a daemon that ran is gone.
func (l *loop) checkFRR() bool {
	a := l.a
	if a.FRRWatch == nil {
		return false
	}
	p := parseFRRPIDs(a.FRRWatch())
	changed := !p.Equal(l.frr.pids)
	if changed {
		l.log.Warn("FRR daemons restarted", "op", "frr-watch", "before", l.frr.pids.String(), "now", p.String())
		if ds := restartedAlone(l.frr.pids, p); len(ds) > 0 && a.RestoreFRR != nil {
			// Keep the pids the restore was for: a daemon that restarts
			// again while it runs (watchfrr restarting zebra while mgmtd
			// is being loaded) differs from them at the next check and
			// is restored then, instead of being taken for configured.
			// Only FRR restarted as a whole by us is the new baseline.
			if a.restoreFRR(l.ctx, ds, l.log) {
				p = parseFRRPIDs(a.FRRWatch())
			}
		}
		l.frr.pids = p
	}
	gone := false
	for _, d := range p {
		if d.pid != 0 {
			l.frr.ran[d.name] = true
		} else if l.frr.ran[d.name] {
			gone = true
		}
	}
	switch {
	case !gone:
		l.frr.goneSince = time.Time{}
	case l.frr.goneSince.IsZero():
		l.frr.goneSince = time.Now()
	}
	return changed
}

// waitForFRR tells whether a reconcile has to wait for a daemon that is
// gone (within FRRGrace); it then schedules the next try at the next
// FRR poll.
func (l *loop) waitForFRR(reason string) bool {
	if l.frr.goneSince.IsZero() || time.Since(l.frr.goneSince) >= orDefault(l.a.FRRGrace, 10*time.Second) {
		l.frr.waitLogged = false
		return false
	}
	if !l.frr.waitLogged {
		l.log.Info("an FRR daemon is gone; reconciling once it is back", "op", "frr-watch", "reason", reason, "now", l.frr.pids.String())
		l.frr.waitLogged = true
	}
	l.retry = time.After(orDefault(l.a.FRRPoll, 250*time.Millisecond))
	return true
}

// reconcile applies the intent (or the last good one), then schedules a
// retry when that failed, and writes and reports the status.
func (l *loop) reconcile(reason string) {
	l.checkFRR()
	if l.waitForFRR(reason) {
		return
	}
	start := time.Now()
	l.st.LastAttempt = start.UTC()
	l.st.Errors = nil
	use, cause := l.load()
	if use == nil {
		l.log.Error("no intent to apply yet", "op", "load")
	} else if c := l.apply(use, reason, start); cause == "" {
		cause = c
	}
	l.schedule(cause)
	if use != nil {
		l.checkUplinks(use.Intent)
	}
	if l.a.Observer != nil {
		l.a.Observer.Reconciled(time.Since(start), cause, l.st)
	}
	l.a.writeStatus(l.st, l.log)
	l.statusDirty = !l.a.report(l.ctx, l.st, l.log)
}

// checkUplinks logs each uplink MTU problem when it appears or changes,
// and when it is gone.
func (l *loop) checkUplinks(in *api.Intent) {
	if l.a.UplinkCheck == nil {
		return
	}
	issues, err := l.a.UplinkCheck(in)
	if err != nil {
		l.log.Warn("uplink check failed", "op", "uplink-mtu", "cause", err)
		return
	}
	now := map[string]plan.UplinkIssue{}
	for _, u := range issues {
		now[u.Uplink] = u
		if l.uplinks[u.Uplink] != u {
			l.log.Warn("uplink MTU too small for VXLAN; evpnhost does not change it: raise it on the host and its TOR port",
				"op", "uplink-mtu", "uplink", u.Uplink, "mtu", u.MTU, "need", u.Need, "problem", u.Problem)
		}
	}
	for name, u := range l.uplinks {
		if _, ok := now[name]; !ok {
			l.log.Info("uplink MTU large enough for VXLAN again", "op", "uplink-mtu", "uplink", name, "was", u.MTU, "need", u.Need)
		}
	}
	l.uplinks = now
}

// load reads the intent from the source; when it cannot be used, the last
// good one (if any) is. cause is why the source's could not.
func (l *loop) load() (use *Loaded, cause string) {
	a := l.a
	ld, err := a.Source.Load(l.ctx)
	var ve *api.ValidationError
	switch {
	case err == nil:
		use = &ld
	case errors.As(err, &ve):
		cause = CauseInvalidIntent
		l.st.Errors = fabric.ObjectErrors(a.Source.Name(), err)
		l.log.Error("intent refused, keeping the last good one", "op", "load", "source", a.Source.Name(), "cause", err)
	default:
		cause = CauseSourceUnreachable
		l.st.Errors = []fabric.ObjectError{{Object: a.Source.Name(), Error: err.Error()}}
		l.log.Warn("intent source unreachable, keeping the last good intent", "op", "load", "cause", err)
	}
	if use == nil && l.lastGood != nil {
		lg := l.lastGood
		use = &Loaded{Intent: lg.Intent, Revision: lg.Revision, Sum: lg.Sum, Source: "cache"}
	}
	return use, cause
}

// apply applies use and records the outcome in the status; it returns
// the cause of failure, "" on success.
func (l *loop) apply(use *Loaded, reason string, start time.Time) string {
	if l.a.Host == "" {
		l.st.Host = use.Intent.Host.Name
	}
	l.a.frrMu.Lock() // not while the BFD repair has BFD off
	res, err := l.a.Applier.Apply(l.ctx, use.Intent)
	l.a.frrMu.Unlock()
	var missing *reconcile.MissingError
	if err != nil && !errors.As(err, &missing) {
		l.st.Errors = append(l.st.Errors, applyErrors(err)...)
		l.log.Error("apply failed", "op", "apply", "reason", reason, "cause", err)
		return Cause(err)
	}
	if missing != nil {
		for _, m := range missing.Interfaces {
			l.st.Errors = append(l.st.Errors, fabric.ObjectError{Object: "workload interface " + m, Error: "not found; left out until it exists"})
		}
	}
	if use.Source != "cache" {
		l.keep(*use)
	}
	l.st.Source = use.Source
	l.st.LastSuccess = time.Now().UTC()
	if res.Changed() {
		l.log.Info("applied", "op", "apply", "reason", reason, "kernel_ops", res.Kernel.Len(), "frr_reloads", res.FRRReloads, "took", time.Since(start))
	}
	return ""
}

// keep makes use, just applied, the last good intent, saved in the state
// directory when it differs from the one saved.
func (l *loop) keep(use Loaded) {
	if lg := l.lastGood; lg == nil || lg.Sum != use.Sum || lg.Revision != use.Revision {
		if err := l.store.save(use); err != nil {
			l.log.Warn("cannot keep the last good intent", "op", "cache", "cause", err)
		}
	}
	l.lastGood = &use
	l.st.AppliedRevision = use.Revision
}

// schedule sets the retry after an attempt that failed for cause: soon,
// then less and less often (Retry doubling up to MaxRetry). A success, or
// an invalid intent (retrying cannot help; its fix is an intent change),
// cancels the retry and resets the backoff.
func (l *loop) schedule(cause string) {
	if cause == "" || cause == CauseInvalidIntent {
		l.backoff, l.retry = 0, nil
		return
	}
	l.backoff = min(max(l.backoff*2, orDefault(l.a.Retry, time.Second)), orDefault(l.a.MaxRetry, 30*time.Second))
	l.retry = time.After(l.backoff)
}

// soon asks for a reconcile after Debounce, unless one is asked for
// already: a burst of triggers costs one, with the first one's reason.
func (l *loop) soon(reason string) {
	if l.debounce == nil {
		l.why = reason
		l.debounce = time.After(orDefault(l.a.Debounce, 300*time.Millisecond))
	}
}

// onFRRTick is an FRR poll: a restart asks for a reconcile, and a status
// that could not be reported is tried again.
func (l *loop) onFRRTick() {
	if l.checkFRR() {
		l.soon("frr restarted")
	}
	if l.statusDirty {
		l.statusDirty = !l.a.report(l.ctx, l.st, l.log)
	}
}

// refreshNeighbors keeps learnt neighbors fresh.
func (l *loop) refreshNeighbors() {
	if n, err := l.a.Refresher.RefreshNeighbors(); err != nil {
		l.log.Warn("neighbor refresh failed", "op", "refresh", "cause", err)
	} else if n > 0 {
		l.log.Debug("neighbors refreshed", "op", "refresh", "count", n)
	}
}

// repair starts the L3VNI check and repair (l3Loop) in a goroutine of its
// own: a reconcile takes seconds on a slow host and must not delay the
// repair of a dataplane that is down. wait returns once it ended (after
// ctx did); nil when it is disabled.
func (l *loop) repair() (wait func()) {
	if l.a.L3Check == nil || l.a.L3Interval <= 0 {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.a.l3Loop(l.ctx, l.log)
	}()
	return func() { <-done }
}

// bfdRepair starts the BFD repair (bfdLoop) in a goroutine of its own;
// wait returns once it ended (after ctx did, BFD put back); nil when it
// is disabled.
func (l *loop) bfdRepair() (wait func()) {
	if l.a.BFDCheck == nil || l.a.BFDToggle == nil || l.a.BFDStuck <= 0 {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.a.bfdLoop(l.ctx, l.log)
	}()
	return func() { <-done }
}

// tickers are the loop's periodic triggers; a nil channel never fires.
type tickers struct {
	resync, refresh, frr <-chan time.Time
	stop                 []func()
}

func (l *loop) tickers() *tickers {
	a, t := l.a, &tickers{}
	every := func(d time.Duration) <-chan time.Time {
		tk := time.NewTicker(d)
		t.stop = append(t.stop, tk.Stop)
		return tk.C
	}
	t.resync = every(orDefault(a.Resync, 30*time.Second))
	if a.NeighRefresh > 0 && a.Refresher != nil {
		t.refresh = every(a.NeighRefresh)
	}
	if a.FRRWatch != nil {
		t.frr = every(orDefault(a.FRRPoll, 250*time.Millisecond))
	}
	return t
}

func (t *tickers) Stop() {
	for _, s := range t.stop {
		s()
	}
}

// run handles the triggers until ctx ends.
func (l *loop) run(t *tickers) {
	changes := l.a.Source.Changes(l.ctx)
	events := l.a.Events
	for {
		select {
		case <-l.ctx.Done():
			l.log.Info("stopping; the dataplane stays as applied", "op", "stop")
			return
		case _, ok := <-events:
			if !ok {
				l.log.Warn("kernel events unavailable; relying on the periodic resync", "op", "events")
				events = nil
				continue
			}
			l.soon("kernel event")
		case <-changes:
			l.soon("intent changed")
		case <-t.frr:
			l.onFRRTick()
		case <-l.debounce:
			l.debounce = nil
			l.reconcile(l.why)
		case <-l.retry:
			l.retry = nil
			l.reconcile("retry")
		case <-t.resync:
			l.reconcile("resync")
		case <-t.refresh:
			l.refreshNeighbors()
		}
	}
}

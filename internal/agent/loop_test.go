package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/reconcile"
)

// The loop's methods, one at a time, on a loop made by newLoop and driven
// by hand; TestRun* in agent_test.go run them together.

// logs captures a logger's records as text.
type logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logs) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// pidsWatch is a settable FRRWatch.
type pidsWatch struct {
	mu    sync.Mutex
	print string
}

func (w *pidsWatch) get() string  { w.mu.Lock(); defer w.mu.Unlock(); return w.print }
func (w *pidsWatch) set(p string) { w.mu.Lock(); w.print = p; w.mu.Unlock() }

// TestCheckFRR: a change of the pids is a restart; a daemon restarted
// under the same zebra is restored, and restored again when it restarted
// once more while the first restore ran (watchfrr); a
// daemon that ran and is gone makes reconciles wait, within FRRGrace
// only, logging it once; one that never ran does not.
func TestCheckFRR(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &pidsWatch{print: "zebra=1 bgpd=2 bfdd=-"}
		var restored []string
		lg := &logs{}
		a := &Agent{FRRWatch: w.get, FRRGrace: 10 * time.Second, FRRPoll: time.Second, Log: lg.logger(),
			RestoreFRR: func(_ context.Context, ds []string) error {
				restored = append(restored, strings.Join(ds, ","))
				if len(restored) == 1 {
					w.set("zebra=1 bgpd=4 bfdd=-") // restarted once more meanwhile
				}
				return nil
			}}
		l := a.newLoop(t.Context())
		if l.checkFRR() || l.waitForFRR("x") {
			t.Fatal("unchanged pids: a restart, or a wait")
		}
		w.set("zebra=1 bgpd=3 bfdd=-")
		if !l.checkFRR() || strings.Join(restored, " ") != "bgpd" || l.frr.pids.String() != "zebra=1 bgpd=3 bfdd=-" {
			t.Fatalf("bgpd restarted alone: restored %v, pids now %s", restored, l.frr.pids)
		}
		if !l.checkFRR() || strings.Join(restored, " ") != "bgpd bgpd" || l.frr.pids.String() != "zebra=1 bgpd=4 bfdd=-" {
			t.Fatalf("bgpd restarted again during its restore: not restored again (restored %v, pids now %s)", restored, l.frr.pids)
		}
		if l.checkFRR() {
			t.Error("unchanged pids after the second restore: a restart again")
		}
		if lg.count(`msg="FRR daemons restarted" op=frr-watch before="zebra=1 bgpd=2 bfdd=-" now="zebra=1 bgpd=3 bfdd=-"`) != 1 {
			t.Errorf("restart log: %s", lg.String())
		}

		w.set("zebra=1 bgpd=- bfdd=-") // bgpd gone; bfdd never ran
		gone := time.Now()
		if !l.checkFRR() || !l.frr.goneSince.Equal(gone) {
			t.Fatalf("bgpd gone: goneSince %v", l.frr.goneSince)
		}
		for range 3 {
			settle(3 * time.Second)
			if l.checkFRR(); !l.frr.goneSince.Equal(gone) || !l.waitForFRR("resync") || l.retry == nil {
				t.Fatalf("%v after bgpd went: no wait", time.Since(gone))
			}
		}
		if n := lg.count("an FRR daemon is gone"); n != 1 {
			t.Errorf("the wait logged %d times, want once", n)
		}
		settle(time.Second) // 10 s: the grace is over
		if l.waitForFRR("resync") || l.frr.waitLogged {
			t.Error("still waiting after FRRGrace")
		}
		w.set("zebra=1 bgpd=5 bfdd=-")
		if !l.checkFRR() || !l.frr.goneSince.IsZero() || len(restored) != 3 {
			t.Errorf("bgpd back: gone since %v, restored %v", l.frr.goneSince, restored)
		}
		w.set("zebra=6 bgpd=7 bfdd=-") // FRR restarted as a whole: no restore
		if !l.checkFRR() || len(restored) != 3 {
			t.Errorf("restored %v", restored)
		}
	})
}

// TestSchedule: a failure is retried after Retry, then twice as long each
// time up to MaxRetry; a success or an invalid intent resets that and
// cancels the retry.
func TestSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := (&Agent{Retry: time.Second, MaxRetry: 4 * time.Second}).newLoop(t.Context())
		for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
			l.schedule(CauseFRR)
			if l.backoff != want {
				t.Fatalf("backoff %v, want %v", l.backoff, want)
			}
			settle(want - time.Millisecond)
			select {
			case <-l.retry:
				t.Fatalf("retry before %v", want)
			default:
			}
			settle(time.Millisecond)
			select {
			case <-l.retry:
			default:
				t.Fatalf("no retry after %v", want)
			}
		}
		for _, c := range []string{"", CauseInvalidIntent} {
			l.schedule(CauseKernel)
			if l.schedule(c); l.backoff != 0 || l.retry != nil {
				t.Errorf("cause %q: backoff %v, retry %v", c, l.backoff, l.retry)
			}
		}
		d := (&Agent{}).newLoop(t.Context()) // defaults: 1 s doubling up to 30 s
		for range 6 {
			d.schedule(CauseSourceUnreachable)
		}
		if d.backoff != 30*time.Second {
			t.Errorf("default backoff after 6 failures: %v", d.backoff)
		}
	})
}

// TestSoon: a burst of triggers is one reconcile, Debounce after the
// first, with the first one's reason.
func TestSoon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := (&Agent{Debounce: 100 * time.Millisecond}).newLoop(t.Context())
		l.soon("kernel event")
		settle(50 * time.Millisecond)
		l.soon("intent changed")
		settle(50 * time.Millisecond)
		select {
		case <-l.debounce:
		default:
			t.Fatal("not due 100 ms after the first trigger")
		}
		if l.why != "kernel event" {
			t.Errorf("reason %q", l.why)
		}
	})
}

// applyFn is an Applier.
type applyFn func(*api.Intent) (reconcile.Result, error)

func (f applyFn) Apply(_ context.Context, in *api.Intent) (reconcile.Result, error) { return f(in) }

// causes records what the observer is told.
type causes []string

func (c *causes) Reconciled(_ time.Duration, cause string, _ fabric.Status) { *c = append(*c, cause) }

// TestReconcile: a success keeps the intent as the last good one (in the
// state directory too) and cancels retries; an unreachable source applies
// the last good one and is retried; a failed apply is reported per object
// and retried; missing workload interfaces are listed but no failure.
func TestReconcile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		src := &scripted{steps: []step{{in: intent("h1"), rev: 3}}}
		var applyErr error
		var obs causes
		a := &Agent{Source: src, StateDir: dir, Observer: &obs,
			Applier: applyFn(func(*api.Intent) (reconcile.Result, error) { return reconcile.Result{}, applyErr })}
		l := a.newLoop(t.Context())
		l.reconcile("start")
		if l.st.AppliedRevision != 3 || l.st.Host != "h1" || l.st.Source != "etcd" || l.retry != nil || l.lastGood == nil {
			t.Fatalf("after a success: %+v, retry %v", l.st, l.retry)
		}
		if c, err := (cache{dir}).load(); err != nil || c.Revision != 3 {
			t.Errorf("last good intent saved: %+v %v", c, err)
		}
		src.steps = []step{{err: errors.New("connection refused")}}
		l.reconcile("resync")
		if l.st.Source != "cache" || l.st.AppliedRevision != 3 || len(l.st.Errors) != 1 || l.retry == nil {
			t.Errorf("source unreachable: %+v, retry %v", l.st, l.retry)
		}
		src.steps = []step{{in: intent("h1"), rev: 4}}
		applyErr = errors.New("boom")
		l.reconcile("retry")
		if l.st.AppliedRevision != 3 || len(l.st.Errors) != 1 || l.st.Errors[0].Object != "apply" || l.backoff != 2*time.Second {
			t.Errorf("apply failed: %+v, backoff %v", l.st, l.backoff)
		}
		applyErr = &reconcile.MissingError{Interfaces: []string{"tap1"}}
		l.reconcile("retry")
		if l.st.AppliedRevision != 4 || len(l.st.Errors) != 1 || l.st.Errors[0].Object != "workload interface tap1" || l.retry != nil {
			t.Errorf("interface missing: %+v, retry %v", l.st, l.retry)
		}
		if got := strings.Join(obs, ","); got != ","+CauseSourceUnreachable+","+CauseOther+"," {
			t.Errorf("observed causes %q", got)
		}
		if st, err := ReadStatus(dir); err != nil || st.AppliedRevision != 4 {
			t.Errorf("status file: %+v %v", st, err)
		}
	})
}

// failingReporter fails its first n reports.
type failingReporter struct {
	n, calls int
}

func (r *failingReporter) PutStatus(context.Context, fabric.Status) error {
	r.calls++
	if r.calls <= r.n {
		return errors.New("etcd down")
	}
	return nil
}

// TestOnFRRTick: an FRR poll asks for a reconcile when a daemon restarted,
// and reports again a status whose report failed, until it gets through.
func TestOnFRRTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &pidsWatch{print: "zebra=1 bgpd=2"}
		rep := &failingReporter{n: 1}
		l := (&Agent{FRRWatch: w.get, Reporter: rep, Host: "h1"}).newLoop(t.Context())
		l.statusDirty = true
		l.onFRRTick()
		if l.debounce != nil || !l.statusDirty || rep.calls != 1 {
			t.Fatalf("nothing restarted: debounce %v, dirty %v, %d reports", l.debounce, l.statusDirty, rep.calls)
		}
		w.set("zebra=3 bgpd=4")
		l.onFRRTick()
		if l.debounce == nil || l.why != "frr restarted" || l.statusDirty || rep.calls != 2 {
			t.Fatalf("restart: debounce %v (%q), dirty %v, %d reports", l.debounce, l.why, l.statusDirty, rep.calls)
		}
		l.onFRRTick()
		if rep.calls != 2 {
			t.Errorf("%d reports of a reported status", rep.calls)
		}
	})
}

// TestRepair: the L3VNI check runs at once, then every L3Interval, in a
// goroutine that ends with the context; disabled without L3Check or
// L3Interval.
func TestRepair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if (&Agent{L3Interval: time.Second}).newLoop(t.Context()).repair() != nil ||
			(&Agent{L3Check: func() ([]kernel.L3Hole, error) { return nil, nil }}).newLoop(t.Context()).repair() != nil {
			t.Error("repair started while disabled")
		}
		var mu sync.Mutex
		checks := 0
		ctx, cancel := context.WithCancel(t.Context())
		l := (&Agent{L3Interval: time.Second, L3Check: func() ([]kernel.L3Hole, error) {
			mu.Lock()
			defer mu.Unlock()
			checks++
			return nil, nil
		}}).newLoop(ctx)
		wait := l.repair()
		synctest.Wait()
		for want := 1; want <= 3; want++ {
			mu.Lock()
			got := checks
			mu.Unlock()
			if got != want {
				t.Fatalf("%d checks after %v, want %d", got, time.Duration(want-1)*time.Second, want)
			}
			settle(time.Second)
		}
		cancel()
		wait()
	})
}

package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/reconcile"
)

// The loop's decisions (what to apply when the source fails, retries,
// status) are tested with a scripted source and a recording applier; the
// real reconciler is exercised by the lab tests (e2e/agent_test.go).

type step struct {
	in  *api.Intent
	rev int64
	err error
}

// scripted returns its current step on every Load; a pushed step becomes
// current at the next Load.
type scripted struct {
	mu    sync.Mutex
	steps []step // steps[0] is current
	ch    chan struct{}
}

func (s *scripted) Name() string { return "scripted" }
func (s *scripted) Load(context.Context) (Loaded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.steps) > 1 {
		s.steps = s.steps[1:]
	}
	st := s.steps[0]
	if st.err != nil {
		return Loaded{}, st.err
	}
	return Loaded{Intent: st.in, Revision: st.rev, Sum: [32]byte{byte(st.rev)}, Source: "etcd"}, nil
}
func (s *scripted) Changes(context.Context) <-chan struct{} { return s.ch }
func (s *scripted) push(st step) {
	s.mu.Lock()
	s.steps = append(s.steps, st)
	s.mu.Unlock()
	s.ch <- struct{}{}
}

type recorder struct {
	mu      sync.Mutex
	applied []string // host names of the intents applied
	fail    int      // fail this many applies first
}

func (r *recorder) Apply(_ context.Context, in *api.Intent) (reconcile.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, in.Host.Name)
	if r.fail > 0 {
		r.fail--
		return reconcile.Result{}, errors.New("frr: boom")
	}
	return reconcile.Result{}, nil
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.applied...)
}

type statuses struct {
	mu   sync.Mutex
	last fabric.Status
	n    int
}

func (s *statuses) PutStatus(_ context.Context, st fabric.Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last, s.n = st, s.n+1
	return nil
}

func (s *statuses) get() fabric.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func intent(name string) *api.Intent {
	return &api.Intent{Host: api.Host{Name: name, ASN: 65101, VTEP: "10.0.0.1", Uplinks: []string{"up1"}}}
}

// The tests that run an agent run it in a synctest bubble: its timers
// (debounce, retries, polls, tickers) run on the bubble's fake clock, which
// moves only when every goroutine in the bubble is blocked, so no test
// waits for real time and timing is exact.

// settle moves the fake clock on by d, firing the timers due on the way,
// then waits until every goroutine of the bubble is blocked.
func settle(d time.Duration) {
	<-time.After(d)
	synctest.Wait()
}

// waitFor moves the fake clock on, a millisecond at a time, until cond
// holds once the bubble is idle; it fails after a minute of fake time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for synctest.Wait(); !cond(); settle(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func run(t *testing.T, a *Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestInvalidKeepsLastGood: an invalid intent is refused and reported per
// object; the last good one stays applied (drift repair goes on) and the
// applied revision does not move; a valid one after it is applied.
func TestInvalidKeepsLastGood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		src := &scripted{steps: []step{{}, {in: intent("good"), rev: 5}}, ch: make(chan struct{}, 1)}
		rec, rep := &recorder{}, &statuses{}
		run(t, &Agent{Source: src, Applier: rec, Reporter: rep, StateDir: dir, Host: "h1", Debounce: time.Millisecond, Resync: time.Hour})
		waitFor(t, "first apply", func() bool { return rep.get().AppliedRevision == 5 })

		bad := &api.ValidationError{Problems: []api.FieldError{{Path: "tenants[0].l3vni", Msg: "is 0"}}}
		src.push(step{err: bad})
		waitFor(t, "refusal reported", func() bool { return len(rep.get().Errors) == 1 })
		st := rep.get()
		if st.Errors[0].Object != "tenants[0].l3vni" || st.AppliedRevision != 5 || st.Converged(6) {
			t.Errorf("status after refusal: %+v", st)
		}
		if got := rec.list(); len(got) != 2 || got[1] != "good" {
			t.Errorf("applied %v: the last good intent should be re-applied", got)
		}
		src.push(step{in: intent("newer"), rev: 7})
		waitFor(t, "newer applied", func() bool { return rep.get().AppliedRevision == 7 && len(rep.get().Errors) == 0 })
		// The status file matches what was reported.
		if fs, err := ReadStatus(dir); err != nil || fs.AppliedRevision != 7 {
			t.Errorf("status file: %+v %v", fs, err)
		}
	})
}

// TestCacheWhenUnreachable: an agent that starts while its source is
// unreachable applies the last good intent from the state directory.
func TestCacheWhenUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		if err := (cache{dir}).save(Loaded{Intent: intent("cached"), Revision: 42, Source: "etcd"}); err != nil {
			t.Fatal(err)
		}
		src := &scripted{steps: []step{{}, {err: errors.New("connection refused")}}, ch: make(chan struct{}, 1)}
		rec, rep := &recorder{}, &statuses{}
		run(t, &Agent{Source: src, Applier: rec, Reporter: rep, StateDir: dir, Host: "h1", Resync: time.Hour, Retry: time.Hour})
		waitFor(t, "cached apply", func() bool { return len(rec.list()) > 0 })
		if got := rec.list()[0]; got != "cached" {
			t.Errorf("applied %q", got)
		}
		waitFor(t, "status", func() bool { return rep.get().Source == "cache" })
		if st := rep.get(); st.AppliedRevision != 42 || len(st.Errors) != 1 || st.Errors[0].Object != "scripted" {
			t.Errorf("status: %+v", st)
		}
	})
}

// TestRetryBackoff: a failed apply is retried without any trigger, after
// Retry, then after twice as long; a success stops the retries.
func TestRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &scripted{steps: []step{{}, {in: intent("h1"), rev: 1}}, ch: make(chan struct{}, 1)}
		rec, rep := &recorder{fail: 2}, &statuses{}
		run(t, &Agent{Source: src, Applier: rec, Reporter: rep, StateDir: t.TempDir(), Resync: time.Hour, Retry: 10 * time.Millisecond})
		synctest.Wait()
		for _, s := range []struct {
			after   time.Duration // since the last step
			applies int
		}{
			{9 * time.Millisecond, 1}, {time.Millisecond, 2}, // first retry 10 ms after the failure
			{19 * time.Millisecond, 2}, {time.Millisecond, 3}, // second 20 ms after the next
			{time.Minute, 3}, // then none
		} {
			settle(s.after)
			if got := len(rec.list()); got != s.applies {
				t.Fatalf("%d applies at %+v, want %d", got, s, s.applies)
			}
		}
		if st := rep.get(); len(st.Errors) != 0 || st.LastSuccess.IsZero() || st.Host != "h1" || st.AppliedRevision != 1 {
			t.Errorf("status: %+v", st)
		}
	})
}

// TestCacheFile: the cache refuses a file that does not hold a valid intent.
func TestCacheFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := (cache{dir}).load(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing cache: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "last-good.json"), []byte(`{"intent":{"host":{"name":"x"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (cache{dir}).load(); err == nil {
		t.Error("an invalid cached intent was accepted")
	}
}

// TestFileSource: a file is loaded and validated, a change of its content
// is signalled, and an unparsable file is a ValidationError naming it.
func TestFileSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "host.yaml")
		good := "host: {name: h1, asn: 65101, vtep: 10.0.0.1, uplinks: [up1]}\n"
		if err := os.WriteFile(p, []byte(good), 0o644); err != nil {
			t.Fatal(err)
		}
		src := &FileSource{Path: p, Poll: 10 * time.Millisecond}
		l, err := src.Load(context.Background())
		if err != nil || l.Intent.Host.Name != "h1" || l.Source != "file" {
			t.Fatalf("load: %+v %v", l, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		changes := src.Changes(ctx)
		synctest.Wait() // the poller has read the file as it was
		if err := os.WriteFile(p, []byte("host: {name: h1, colour: red}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changes:
		case <-time.After(5 * time.Second):
			t.Fatal("change not signalled")
		}
		_, err = src.Load(context.Background())
		var ve *api.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "colour") {
			t.Errorf("invalid file: %v", err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Load(context.Background()); err == nil || errors.As(err, &ve) {
			t.Errorf("missing file must be an unreachable source, got %v", err)
		}
	})
}

func TestRestartedAlone(t *testing.T) {
	for _, tc := range []struct {
		before, now string
		want        string
	}{
		{"zebra=1 bgpd=2 bfdd=3", "zebra=1 bgpd=4 bfdd=3", "bgpd"},
		{"zebra=1 bgpd=- bfdd=3", "zebra=1 bgpd=4 bfdd=3", "bgpd"},      // died, then back
		{"zebra=1 bgpd=2 bfdd=-", "zebra=1 bgpd=2 bfdd=5", "bfdd"},      // started later
		{"zebra=1 bgpd=2 pimd=3", "zebra=1 bgpd=6 pimd=7", "bgpd,pimd"}, // both
		{"zebra=1 bgpd=2", "zebra=1 bgpd=-", ""},                        // dead, not back yet
		{"zebra=1 bgpd=2", "zebra=5 bgpd=6", ""},                        // FRR restarted as a whole
		{"zebra=1 bgpd=2", "zebra=- bgpd=3", ""},                        // zebra gone
		{"zebra=- bgpd=-", "zebra=4 bgpd=5", ""},                        // FRR started
		{"zebra=1 bgpd=2 staticd=3", "zebra=1 bgpd=2 staticd=3", ""},    // nothing
	} {
		if got := strings.Join(restartedAlone(parseFRRPIDs(tc.before), parseFRRPIDs(tc.now)), ","); got != tc.want {
			t.Errorf("%q -> %q: %q, want %q", tc.before, tc.now, got, tc.want)
		}
	}
}

// TestRestoreFRR: a daemon restarted under a running zebra gets the saved
// configuration (RestoreFRR) before the reconcile that follows; when that
// fails FRR is restarted as a whole; FRR restarted as a whole only
// reconciles.
func TestRestoreFRR(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		print := "zebra=1 bgpd=2"
		var events []string
		note := func(e string) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
		seen := func() string {
			mu.Lock()
			defer mu.Unlock()
			return strings.Join(events, " ")
		}
		restoreErr := error(nil)
		src := &scripted{steps: []step{{in: intent("h1"), rev: 1}}, ch: make(chan struct{})}
		a := &Agent{Source: src, Applier: applierFunc(func() { note("apply") }), StateDir: t.TempDir(),
			FRRWatch: func() string { mu.Lock(); defer mu.Unlock(); return print },
			FRRPoll:  5 * time.Millisecond, Debounce: time.Millisecond, Resync: time.Hour,
			RestoreFRR: func(_ context.Context, ds []string) error {
				note("restore:" + strings.Join(ds, ","))
				return restoreErr
			},
			RestartFRR: func(context.Context) error { note("restart"); return nil },
		}
		run(t, a)
		waitFor(t, "first apply", func() bool { return seen() == "apply" })
		set := func(p string) {
			mu.Lock()
			print = p
			mu.Unlock()
		}
		set("zebra=1 bgpd=3")
		waitFor(t, "restore then apply", func() bool { return seen() == "apply restore:bgpd apply" })
		mu.Lock()
		restoreErr = errors.New("vtysh: boom")
		mu.Unlock()
		set("zebra=1 bgpd=4")
		waitFor(t, "restart after a failed restore", func() bool { return seen() == "apply restore:bgpd apply restore:bgpd restart apply" })
		set("zebra=5 bgpd=6")
		waitFor(t, "reconcile only", func() bool { return seen() == "apply restore:bgpd apply restore:bgpd restart apply apply" })
	})
}

type applierFunc func()

func (f applierFunc) Apply(context.Context, *api.Intent) (reconcile.Result, error) {
	f()
	return reconcile.Result{}, nil
}

// TestRestoreBeforeReconcile: a reconcile that comes before the next FRR
// poll (here: the intent changed, and the poll is an hour away) still
// restores a daemon restarted alone first.
func TestRestoreBeforeReconcile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		print, events := "zebra=1 bgpd=2", []string{}
		note := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
		seen := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(events, " ") }
		src := &scripted{steps: []step{{in: intent("h1"), rev: 1}}, ch: make(chan struct{})}
		a := &Agent{Source: src, Applier: applierFunc(func() { note("apply") }), StateDir: t.TempDir(),
			FRRWatch: func() string { mu.Lock(); defer mu.Unlock(); return print },
			FRRPoll:  time.Hour, Debounce: time.Millisecond, Resync: time.Hour,
			RestoreFRR: func(_ context.Context, ds []string) error { note("restore:" + strings.Join(ds, ",")); return nil },
		}
		run(t, a)
		waitFor(t, "first apply", func() bool { return seen() == "apply" })
		mu.Lock()
		print = "zebra=1 bgpd=3"
		mu.Unlock()
		src.push(step{in: intent("h1"), rev: 2})
		waitFor(t, "restore, then apply", func() bool { return seen() == "apply restore:bgpd apply" })
	})
}

// TestReconcileWaitsForGoneDaemon: while a daemon that ran is gone (being
// restarted), reconciles wait for it and it is restored first; past
// FRRGrace they run anyway.
func TestReconcileWaitsForGoneDaemon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		print, events := "zebra=1 bgpd=2", []string{}
		note := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
		seen := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(events, " ") }
		set := func(p string) { mu.Lock(); print = p; mu.Unlock() }
		src := &scripted{steps: []step{{in: intent("h1"), rev: 1}}, ch: make(chan struct{})}
		a := &Agent{Source: src, Applier: applierFunc(func() { note("apply") }), StateDir: t.TempDir(),
			FRRWatch: func() string { mu.Lock(); defer mu.Unlock(); return print },
			FRRPoll:  20 * time.Millisecond, FRRGrace: time.Hour, Debounce: time.Millisecond, Resync: time.Hour,
			RestoreFRR: func(_ context.Context, ds []string) error { note("restore:" + strings.Join(ds, ",")); return nil },
		}
		run(t, a)
		waitFor(t, "first apply", func() bool { return seen() == "apply" })
		set("zebra=1 bgpd=-")
		src.push(step{in: intent("h1"), rev: 2})
		settle(200 * time.Millisecond) // polls and retries, none may apply
		if got := seen(); got != "apply" {
			t.Fatalf("applied while bgpd was gone: %s", got)
		}
		set("zebra=1 bgpd=3")
		waitFor(t, "restore, then apply", func() bool { return seen() == "apply restore:bgpd apply" })

		a2 := &Agent{Source: src, Applier: applierFunc(func() { note("apply2") }), StateDir: t.TempDir(),
			FRRWatch: func() string { return "zebra=1 bgpd=-" }, FRRPoll: 20 * time.Millisecond, FRRGrace: 100 * time.Millisecond,
			Debounce: time.Millisecond, Resync: time.Hour}
		run(t, a2) // bgpd never ran for this agent: no waiting
		waitFor(t, "apply without waiting", func() bool { return strings.Contains(seen(), "apply2") })

		set("zebra=1 bgpd=4")
		src3 := &scripted{steps: []step{{in: intent("h1"), rev: 1}}, ch: make(chan struct{})}
		a3 := &Agent{Source: src3, Applier: applierFunc(func() { note("apply3") }), StateDir: t.TempDir(),
			FRRWatch: a.FRRWatch, FRRPoll: 20 * time.Millisecond, FRRGrace: 100 * time.Millisecond,
			Debounce: time.Millisecond, Resync: time.Hour}
		run(t, a3)
		waitFor(t, "a3's first apply", func() bool { return strings.Count(seen(), "apply3") == 1 })
		set("zebra=1 bgpd=-")
		src3.push(step{in: intent("h1"), rev: 2})
		waitFor(t, "apply once the grace is over", func() bool { return strings.Count(seen(), "apply3") == 2 })
	})
}

// TestRunEvents: a burst of kernel events is one reconcile, Debounce
// after the first; once the events channel is closed the agent says so
// once and goes on with its resync.
func TestRunEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &scripted{steps: []step{{in: intent("h1"), rev: 1}}, ch: make(chan struct{})}
		events := make(chan struct{})
		rec, lg := &recorder{}, &logs{}
		run(t, &Agent{Source: src, Applier: rec, StateDir: t.TempDir(), Events: events, Log: lg.logger(),
			Debounce: 100 * time.Millisecond, Resync: time.Minute})
		synctest.Wait()
		for range 3 {
			events <- struct{}{}
			settle(10 * time.Millisecond)
		}
		if n := len(rec.list()); n != 1 {
			t.Fatalf("%d applies within the debounce, want 1 (the start)", n)
		}
		settle(70 * time.Millisecond)
		if n := len(rec.list()); n != 2 {
			t.Fatalf("%d applies after the debounce, want 2", n)
		}
		close(events)
		settle(time.Minute)
		if n := len(rec.list()); n != 3 || lg.count("kernel events unavailable") != 1 {
			t.Errorf("%d applies after a closed events channel and a resync, want 3; log:\n%s", n, lg.String())
		}
	})
}

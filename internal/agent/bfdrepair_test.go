package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func acts(as []bfdAction) string {
	var s []string
	for _, a := range as {
		s = append(s, fmt.Sprintf("%s %s %s", a.Uplink, onOff(a.On), a.Why))
	}
	return strings.Join(s, "; ")
}

// The BFD repair takes BFD off an uplink whose link is up and whose
// session stayed down for stuck, puts it back once the session is
// Established, and leaves healthy, carrier-less and briefly-down uplinks
// alone.
func TestBFDRepairStuckThenEstablished(t *testing.T) {
	r := newBFDRepair(15 * time.Second)
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	sess := func(up1, up2 string, carrier1 bool) []UplinkSession {
		return []UplinkSession{{Uplink: "up1", Carrier: carrier1, State: up1}, {Uplink: "up2", Carrier: true, State: up2}}
	}
	steps := []struct {
		at   int
		ss   []UplinkSession
		want string
	}{
		{0, sess("Established", "Established", true), ""},
		{2, sess("Idle", "Established", false), ""},   // link down: nothing to repair
		{10, sess("Active", "Established", true), ""}, // link back: down since 10
		{20, sess("Active", "Established", true), ""}, // 10 s: normal recovery time
		{24, sess("Connect", "Established", true), ""},
		{25, sess("Active", "Established", true), "up1 off stuck"},
		{27, sess("Active", "Established", true), ""}, // off, waiting
		{31, sess("Established", "Established", true), "up1 on established"},
		{33, sess("Established", "Established", true), ""},
	}
	for _, s := range steps {
		if got := acts(r.step(s.ss, at(s.at))); got != s.want {
			t.Errorf("t=%d: %q, want %q", s.at, got, s.want)
		}
	}
}

// A session that does not come back with BFD off gets BFD back after the
// window, and the next attempt waits a holdoff that doubles; losing the
// carrier while BFD is off puts it back at once.
func TestBFDRepairWindowAndHoldoff(t *testing.T) {
	r := newBFDRepair(10 * time.Second)
	t0 := time.Unix(1000, 0)
	down := []UplinkSession{{Uplink: "up1", Carrier: true, State: "Active"}}
	var log []string
	for s := 0; s <= 200; s += 2 {
		if a := acts(r.step(down, t0.Add(time.Duration(s)*time.Second))); a != "" {
			log = append(log, fmt.Sprintf("%d %s", s, a))
		}
	}
	// off at 10 (stuck), on at 40 (30 s window), holdoff 30 s: off at 70,
	// on at 100, holdoff 60 s: off at 160, on at 190.
	want := "10 up1 off stuck|40 up1 on window|70 up1 off stuck|100 up1 on window|160 up1 off stuck|190 up1 on window"
	if got := strings.Join(log, "|"); got != want {
		t.Errorf("actions:\n%s\nwant\n%s", got, want)
	}
	r = newBFDRepair(10 * time.Second)
	r.step(down, t0)
	if got := acts(r.step(down, t0.Add(10*time.Second))); got != "up1 off stuck" {
		t.Fatalf("got %q", got)
	}
	if got := acts(r.step([]UplinkSession{{Uplink: "up1", State: "Idle"}}, t0.Add(12*time.Second))); got != "up1 on no-carrier" {
		t.Errorf("carrier lost while off: %q, want up1 on no-carrier", got)
	}
	r.step(down, t0.Add(20*time.Second))
	r.step(down, t0.Add(30*time.Second))
	if got := acts(r.stop(t0.Add(31 * time.Second))); got != "up1 on stop" {
		t.Errorf("stop while off: %q, want up1 on stop", got)
	}
	if got := acts(r.step(nil, t0.Add(32*time.Second))); got != "" {
		t.Errorf("after stop: %q", got)
	}
}

// bfdLoop takes BFD off the peer group once for two stuck uplinks, holds
// frrMu (no reconcile) while it is off, and puts it back once both are
// Established; a stop while it is off puts it back too.
// TestBFDLoopTogglesStuckUplinkAndHoldsReconciles: BFD goes off the
// stuck uplink's neighbor alone (the other keeps its BFD session, and the
// TOR behind it its BGP session), and reconciles wait while any is off.
func TestBFDLoopTogglesStuckUplinkAndHoldsReconciles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		state := map[string]string{"up1": "Established", "up2": "Established"}
		var toggles []string
		a := &Agent{BFDStuck: 10 * time.Second, BFDPoll: time.Second,
			BFDCheck: func() ([]UplinkSession, error) {
				mu.Lock()
				defer mu.Unlock()
				return []UplinkSession{{Uplink: "up1", Carrier: true, State: state["up1"]}, {Uplink: "up2", Carrier: true, State: state["up2"]}}, nil
			},
			BFDToggle: func(uplink string, on bool) error {
				mu.Lock()
				defer mu.Unlock()
				toggles = append(toggles, uplink+"="+onOff(on))
				return nil
			}}
		set := func(u, s string) { mu.Lock(); state[u] = s; mu.Unlock() }
		got := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(toggles, ",") }
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.bfdLoop(ctx, slog.New(slog.DiscardHandler)); close(done) }()
		settle(5 * time.Second)
		set("up1", "Active")
		set("up2", "Active")
		settle(9 * time.Second)
		if g := got(); g != "" {
			t.Fatalf("after 9 s down: toggles %q, want none", g)
		}
		settle(3 * time.Second)
		if g := got(); g != "up1=off,up2=off" {
			t.Fatalf("after 12 s down: toggles %q, want up1=off,up2=off", g)
		}
		if a.frrMu.TryLock() {
			t.Fatal("a reconcile could run while BFD is off")
		}
		set("up1", "Established")
		settle(2 * time.Second)
		if g := got(); g != "up1=off,up2=off,up1=on" {
			t.Fatalf("one of two back: toggles %q, want BFD back on up1 alone", g)
		}
		if a.frrMu.TryLock() {
			t.Fatal("a reconcile could run while BFD is off on up2")
		}
		set("up2", "Established")
		settle(2 * time.Second)
		if g := got(); g != "up1=off,up2=off,up1=on,up2=on" {
			t.Fatalf("both back: toggles %q, want up2=on last", g)
		}
		if !a.frrMu.TryLock() {
			t.Fatal("reconciles still held after BFD is back")
		}
		a.frrMu.Unlock()
		set("up1", "Active")
		settle(12 * time.Second)
		if g := got(); g != "up1=off,up2=off,up1=on,up2=on,up1=off" {
			t.Fatalf("up1 stuck again, up2 healthy: toggles %q, want up1=off alone", g)
		}
		cancel()
		<-done
		if g := got(); g != "up1=off,up2=off,up1=on,up2=on,up1=off,up1=on" {
			t.Fatalf("stopped while off: toggles %q, want BFD put back", g)
		}
		if !a.frrMu.TryLock() {
			t.Fatal("reconciles held after the loop stopped")
		}
	})
}

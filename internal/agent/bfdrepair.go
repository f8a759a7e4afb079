package agent

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// UplinkSession is an uplink's BGP session as the BFD repair sees it.
type UplinkSession struct {
	Uplink  string
	Carrier bool   // the link is up at both ends (IFF_RUNNING)
	State   string // BGP state: Established, Active, Connect, ...
}

// bfdRepair decides, from one check of the uplinks' sessions after
// another, when to take BFD off an uplink's neighbor and when to put it
// back. FRR 10.3 with BGP unnumbered and BFD on both ends (the host's
// host.bfd and the TOR's) does not bring a session back after its port
// flapped: bgpd deletes the BFD session and never creates it again, and
// BGP stays Active for minutes (frr.BFDStallIssue). Without BFD on one
// end it comes back in seconds. So an uplink whose link is up and whose
// session stayed down for stuck gets "no neighbor UPLINK bfd" until the
// session is Established (then BFD is put back: a new BFD session is
// made with the peer) or for at most window (put back anyway, and the
// next attempt waits a holdoff that doubles up to maxHoldoff).
type bfdRepair struct {
	stuck, window          time.Duration
	minHoldoff, maxHoldoff time.Duration

	downSince map[string]time.Time // uplinks with carrier whose session is down
	off       map[string]time.Time // uplinks whose BFD is off, since
	next      map[string]time.Time // no attempt before
	holdoff   map[string]time.Duration
}

// bfdAction is one decision: BFD off (On false) or back on an uplink.
type bfdAction struct {
	Uplink string
	On     bool
	Why    string        // "stuck", "established", "window", "no-carrier", "stop"
	Down   time.Duration // how long the session had been down
	Off    time.Duration // how long BFD was off (On only)
}

func newBFDRepair(stuck time.Duration) *bfdRepair {
	return &bfdRepair{stuck: stuck, window: 30 * time.Second, minHoldoff: 30 * time.Second, maxHoldoff: 5 * time.Minute,
		downSince: map[string]time.Time{}, off: map[string]time.Time{}, next: map[string]time.Time{}, holdoff: map[string]time.Duration{}}
}

// step takes one check's sessions and returns what to do now, by uplink.
func (r *bfdRepair) step(ss []UplinkSession, now time.Time) []bfdAction {
	var out []bfdAction
	seen := map[string]bool{}
	for _, s := range ss {
		u := s.Uplink
		seen[u] = true
		offSince, isOff := r.off[u]
		switch {
		case s.State == "Established":
			if isOff {
				out = append(out, bfdAction{Uplink: u, On: true, Why: "established", Down: now.Sub(r.downSince[u]), Off: now.Sub(offSince)})
				delete(r.off, u)
				delete(r.holdoff, u) // it worked
			}
			delete(r.downSince, u)
		case !s.Carrier:
			if isOff {
				out = append(out, bfdAction{Uplink: u, On: true, Why: "no-carrier", Off: now.Sub(offSince)})
				delete(r.off, u)
			}
			delete(r.downSince, u)
		case isOff:
			if now.Sub(offSince) >= r.window {
				out = append(out, bfdAction{Uplink: u, On: true, Why: "window", Down: now.Sub(r.downSince[u]), Off: now.Sub(offSince)})
				delete(r.off, u)
				h := r.holdoff[u]
				h = min(max(2*h, r.minHoldoff), r.maxHoldoff)
				r.holdoff[u], r.next[u] = h, now.Add(h)
			}
		default:
			since, ok := r.downSince[u]
			if !ok {
				r.downSince[u] = now
				continue
			}
			if now.Sub(since) >= r.stuck && !now.Before(r.next[u]) {
				out = append(out, bfdAction{Uplink: u, Why: "stuck", Down: now.Sub(since)})
				r.off[u] = now
			}
		}
	}
	for u, offSince := range r.off { // an uplink gone from the intent
		if !seen[u] {
			out = append(out, bfdAction{Uplink: u, On: true, Why: "no-carrier", Off: now.Sub(offSince)})
			delete(r.off, u)
		}
	}
	slices.SortFunc(out, func(a, b bfdAction) int {
		if a.Uplink < b.Uplink {
			return -1
		}
		if a.Uplink > b.Uplink {
			return 1
		}
		return 0
	})
	return out
}

// stop puts BFD back wherever it is off (the agent stops).
func (r *bfdRepair) stop(now time.Time) []bfdAction {
	var out []bfdAction
	for u, since := range r.off {
		out = append(out, bfdAction{Uplink: u, On: true, Why: "stop", Off: now.Sub(since)})
		delete(r.off, u)
	}
	return out
}

// bfdLoop checks the uplinks' sessions every BFDPoll until ctx ends.
// BFD is configured on each uplink's neighbor, not on their peer group,
// so BFDToggle takes it off the repaired uplink alone: taking it off the
// group (as before 2026-12-08) made the host's bfdd send Down to the
// other TOR too, whose bgpd then reset the healthy session ("Cease/BFD
// Down"; measured on FRR 10.3: a 12-15 s outage when one TOR restarted
// its FRR). While BFD is off anywhere the loop holds frrMu, so that no
// reconcile puts it back in the middle of the repair.
func (a *Agent) bfdLoop(ctx context.Context, log *slog.Logger) {
	r := newBFDRepair(a.BFDStuck)
	held := false // frrMu, held while r.off names any uplink
	do := func(acts []bfdAction) {
		if len(acts) > 0 && !held {
			a.frrMu.Lock()
			held = true
		}
		for _, act := range acts {
			if act.On {
				log.Warn("BGP session of the uplink repaired or given up; BFD back on its neighbor", "op", "bfd-repair", "uplink", act.Uplink, "bfd", "on",
					"why", act.Why, "bfd-off-for", act.Off.Round(time.Millisecond))
				if err := a.BFDToggle(act.Uplink, true); err != nil {
					// Left to the next reconcile: the rendered
					// configuration has BFD.
					log.Error("BFD repair: cannot put BFD back on the uplink's neighbor; the next reconcile does", "op", "bfd-repair", "uplink", act.Uplink, "cause", err)
				}
				continue
			}
			log.Warn("BGP session down although its link is up (FRR 10 with BFD on both ends, "+bfdStallRef+"); BFD off on its neighbor until it is Established",
				"op", "bfd-repair", "uplink", act.Uplink, "bfd", "off", "down-for", act.Down.Round(time.Millisecond))
			if err := a.BFDToggle(act.Uplink, false); err != nil {
				log.Error("BFD repair failed: cannot take BFD off the uplink's neighbor", "op", "bfd-repair", "uplink", act.Uplink, "cause", err)
				delete(r.off, act.Uplink) // BFD is still on: nothing to put back
			}
		}
		if held && len(r.off) == 0 {
			held = false
			a.frrMu.Unlock()
		}
	}
	t := time.NewTicker(orDefault(a.BFDPoll, 2*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			do(r.stop(time.Now()))
			return
		case <-t.C:
			ss, err := a.BFDCheck()
			if err != nil {
				log.Warn("BGP session check failed", "op", "bfd-repair", "cause", err)
				continue
			}
			do(r.step(ss, time.Now()))
		}
	}
}

// bfdStallRef names the defect in the log (frr.BFDStallIssue in full).
const bfdStallRef = "closest upstream report FRR #18742"

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

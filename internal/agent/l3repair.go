package agent

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// L3Observer is told about each L3VNI repair (metrics.Metrics).
type L3Observer interface {
	L3VNIRepaired(tenant string)
}

// l3Repairs decides when an L3VNI whose router MACs the kernel lost is
// repaired. A next hop without its router MAC can be a moment of an
// ordinary change (zebra removes a VTEP's entries just before bgpd
// withdraws the routes through it), so an L3VNI is only repaired when it
// had holes at two checks in a row. A repair can be undone by the routing
// churn around it (other hosts repairing theirs, bgpd still re-announcing
// after a TOR failure), so holes seen again are repaired again, after a
// holdoff that starts at minHoldoff and doubles with each repair up to
// maxHoldoff, so a repair that does not help cannot turn into a flapping
// tenant; an L3VNI without holes for resetAfter starts over.
type l3Repairs struct {
	minHoldoff, maxHoldoff, resetAfter time.Duration
	prev                               map[string]bool // SVIs with holes at the last check
	state                              map[string]*l3State
}

type l3State struct {
	last         time.Time     // last repair
	holdoff      time.Duration // before the next one
	healthySince time.Time     // first check without holes since the last one with
}

// due takes one check's holes and returns the SVIs to repair now, each
// with its holes, in SVI order.
func (r *l3Repairs) due(holes []kernel.L3Hole, now time.Time) map[string][]kernel.L3Hole {
	if r.state == nil {
		r.state = map[string]*l3State{}
	}
	cur := map[string][]kernel.L3Hole{}
	for _, h := range holes {
		cur[h.SVI] = append(cur[h.SVI], h)
	}
	for svi, st := range r.state {
		switch _, bad := cur[svi]; {
		case bad:
			st.healthySince = time.Time{}
		case st.healthySince.IsZero():
			st.healthySince = now
		case now.Sub(st.healthySince) >= r.resetAfter:
			delete(r.state, svi)
		}
	}
	out := map[string][]kernel.L3Hole{}
	for svi, hs := range cur {
		if !r.prev[svi] {
			continue
		}
		st := r.state[svi]
		if st != nil && now.Sub(st.last) < st.holdoff {
			continue
		}
		if st == nil {
			st = &l3State{holdoff: r.minHoldoff}
			r.state[svi] = st
		} else {
			st.holdoff = min(2*st.holdoff, r.maxHoldoff)
		}
		st.last = now
		out[svi] = hs
	}
	r.prev = map[string]bool{}
	for svi := range cur {
		r.prev[svi] = true
	}
	return out
}

// hopKey is a next hop on an L3VNI SVI.
type hopKey struct {
	svi string
	gw  netip.Addr
}

// l3Loop checks the L3VNIs every L3Interval until ctx ends.
func (a *Agent) l3Loop(ctx context.Context, log *slog.Logger) {
	l := &l3Loop{a: a, log: log,
		bounces:   &l3Repairs{minHoldoff: orDefault(a.L3Holdoff, 5*time.Second), maxHoldoff: 2 * time.Minute, resetAfter: time.Minute},
		known:     map[hopKey]string{},
		installed: map[hopKey]kernel.L3Hole{},
		prev:      map[hopKey]bool{},
	}
	t := time.NewTicker(a.L3Interval)
	defer t.Stop()
	l.check(time.Now()) // learn the router MACs at once
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.check(time.Now())
		}
	}
}

type l3Loop struct {
	a         *Agent
	log       *slog.Logger
	bounces   *l3Repairs
	known     map[hopKey]string // (SVI, VTEP) -> router MAC last seen whole
	installed map[hopKey]kernel.L3Hole
	prev      map[hopKey]bool // holes at the last check
}

// check runs one L3VNI check and repairs what is due.
func (l *l3Loop) check(now time.Time) {
	hops, err := l.a.L3Check()
	if err != nil {
		l.log.Warn("L3VNI check failed", "op", "l3vni-check", "cause", err)
		return
	}
	present, bounce := l.install(hops)
	l.gc(present)
	l.bounce(bounce, now)
}

// install learns the router MACs of whole next hops and installs them
// again (L3Install) for next hops that lack them for the second check in
// a row. It returns the next hops seen and the holes it could not repair
// so, to bounce.
func (l *l3Loop) install(hops []kernel.L3Hole) (present map[hopKey]bool, bounce []kernel.L3Hole) {
	a, log := l.a, l.log
	present = map[hopKey]bool{}
	holes := map[hopKey]bool{}
	installedFor := map[string]bool{} // tenants repaired
	for _, h := range hops {
		k := hopKey{h.SVI, h.Gateway}
		present[k] = true
		vtep := hopKey{h.SVI, h.Gateway.Unmap()}
		if h.Problem == "" {
			l.known[vtep] = h.MAC
			continue
		}
		holes[k] = true
		if !l.prev[k] {
			log.Info("next hop without its router MAC; repaired if still so at the next check", "op", "l3vni-check", "hole", h.String())
			continue
		}
		if h.MAC == "" {
			h.MAC = l.known[vtep]
		}
		if h.MAC == "" || a.L3Install == nil {
			bounce = append(bounce, h)
			continue
		}
		if err := a.L3Install(h); err != nil {
			log.Error("installing a lost router MAC failed", "op", "l3vni-repair", "hole", h.String(), "cause", err)
			bounce = append(bounce, h)
			continue
		}
		l.installed[k] = h
		installedFor[h.Tenant] = true
		log.Warn("zebra lost the router MAC of a remote VTEP that routes use; installed it again",
			"op", "l3vni-repair", "vni", h.VNI, "vtep", h.Gateway.Unmap(), "tenant", h.Tenant, "next-hop", h.Gateway,
			"mac", h.MAC, "routes", h.Routes, "repair", "install", "problem", h.Problem)
	}
	l.prev = holes
	for _, t := range slices.Sorted(maps.Keys(installedFor)) {
		if o, ok := a.Observer.(L3Observer); ok {
			o.L3VNIRepaired(t)
		}
	}
	return present, bounce
}

// gc removes what evpnhost installed and no route uses any more (not
// present at this check).
func (l *l3Loop) gc(present map[hopKey]bool) {
	for k, h := range l.installed {
		if present[k] {
			continue
		}
		delete(l.installed, k)
		if l.a.L3Remove == nil {
			continue
		}
		if removed, err := l.a.L3Remove(h); err != nil {
			l.log.Warn("removing an installed router MAC failed", "op", "l3vni-gc", "next-hop", h.Gateway, "cause", err)
		} else if removed {
			l.log.Info("removed a router MAC no route uses any more", "op", "l3vni-gc", "tenant", h.Tenant, "next-hop", h.Gateway, "mac", h.MAC)
		}
	}
}

// bounce bounces (L3Repair) the SVIs of the holes whose repair is due.
func (l *l3Loop) bounce(holes []kernel.L3Hole, now time.Time) {
	a := l.a
	if a.L3Repair == nil {
		return
	}
	due := l.bounces.due(holes, now)
	for _, svi := range slices.Sorted(maps.Keys(due)) {
		hs := due[svi]
		for _, h := range hs {
			l.log.Warn("zebra lost the router MAC of a remote VTEP that routes use, router MAC unknown; bouncing the L3VNI SVI so FRR installs it again",
				"op", "l3vni-repair", "vni", h.VNI, "vtep", h.Gateway.Unmap(), "tenant", h.Tenant, "next-hop", h.Gateway,
				"routes", h.Routes, "repair", "bounce", "svi", svi, "problem", h.Problem)
		}
		if err := a.L3Repair(svi); err != nil {
			l.log.Error("L3VNI repair failed", "op", "l3vni-repair", "svi", svi, "cause", err)
			continue
		}
		if o, ok := a.Observer.(L3Observer); ok {
			o.L3VNIRepaired(hs[0].Tenant)
		}
	}
}

package agent

import (
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

// sortedKeys lists m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

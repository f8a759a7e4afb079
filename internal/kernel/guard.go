package kernel

import (
	"fmt"
	"slices"
	"strings"
)

// Guard makes one-way route leaking one way in the data plane
// (docs/route-leaking.md): forwarded packets that enter the VRF (or SVI)
// In and leave through Out, a device of a tenant that imports from In's
// tenant, are dropped unless they belong to a connection the other side
// opened (nftables: iifname In oifname Out ct state new drop). Replies
// of the exporter travel on its return routes; new connections do not.
type Guard struct {
	In, Out string
}

// Key identifies a guard.
func (g Guard) Key() string { return fmt.Sprintf("guard iifname %s oifname %s", g.In, g.Out) }

// Guards live in their own nftables table, rewritten as a whole (one
// atomic transaction) when they change.
const (
	GuardTable = "evpnhost-leak" // not "evpnhost": that is the policy's (internal/policy/nft)
	GuardChain = "leak-guard"
)

// guardsOp is the operation that takes observed guards to desired ones,
// or nil when they match.
func guardsOp(desired, observed []Guard) *Op {
	d, o := slices.Clone(desired), slices.Clone(observed)
	cmp := func(a, b Guard) int { return strings.Compare(a.Key(), b.Key()) }
	slices.SortFunc(d, cmp)
	slices.SortFunc(o, cmp)
	d, o = slices.Compact(d), slices.Compact(o)
	if slices.Equal(d, o) {
		return nil
	}
	act, detail := ActSet, fmt.Sprintf("%d leak guards (ct state new drop), was %d", len(d), len(o))
	switch {
	case len(o) == 0:
		act = ActAdd
		detail = fmt.Sprintf("%d leak guards (ct state new drop)", len(d))
	case len(d) == 0:
		act, detail = ActDelete, ""
	}
	return &Op{Action: act, Object: "nft table inet " + GuardTable, Detail: detail, Guards: &d}
}

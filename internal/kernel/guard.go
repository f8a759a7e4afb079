package kernel

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
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

func ifnameBytes(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}

func guardExprs(g Guard) []expr.Any {
	mask := make([]byte, 4)
	binary.NativeEndian.PutUint32(mask, expr.CtStateBitNEW)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(g.In)},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(g.Out)},
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

func (n *Netlink) nft() (*nftables.Conn, error) {
	return nftables.New(nftables.WithNetNSFd(int(n.ns)))
}

// observeGuards reads the guards from their table (UserData holds
// "IN OUT"); no table, or no nftables at all, is no guards.
func (n *Netlink) observeGuards() []Guard {
	c, err := n.nft()
	if err != nil {
		return nil
	}
	t, err := c.ListTableOfFamily(GuardTable, nftables.TableFamilyINet)
	if err != nil || t == nil {
		return nil
	}
	rules, err := c.GetRules(t, &nftables.Chain{Name: GuardChain, Table: t})
	if err != nil {
		return nil
	}
	var out []Guard
	for _, r := range rules {
		if f := strings.Fields(string(r.UserData)); len(f) == 2 {
			out = append(out, Guard{In: f[0], Out: f[1]})
		}
	}
	return out
}

// setGuards rewrites the guard table in one transaction.
func (n *Netlink) setGuards(gs []Guard) error {
	c, err := n.nft()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: GuardTable}
	c.AddTable(t) // add, delete, add: an empty table whether it existed or not
	c.DelTable(t)
	if len(gs) > 0 {
		c.AddTable(t)
		accept := nftables.ChainPolicyAccept
		ch := c.AddChain(&nftables.Chain{Name: GuardChain, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
		for _, g := range gs {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: guardExprs(g), UserData: []byte(g.In + " " + g.Out)})
		}
	}
	n.Writes++
	return c.Flush()
}

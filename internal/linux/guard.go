package linux

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// The leak guards (kernel.Guard) in their nftables table.

func ifnameBytes(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}

func guardExprs(g kernel.Guard) []expr.Any {
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
func (n *Netlink) observeGuards() []kernel.Guard {
	c, err := n.nft()
	if err != nil {
		return nil
	}
	t, err := c.ListTableOfFamily(kernel.GuardTable, nftables.TableFamilyINet)
	if err != nil || t == nil {
		return nil
	}
	rules, err := c.GetRules(t, &nftables.Chain{Name: kernel.GuardChain, Table: t})
	if err != nil {
		return nil
	}
	var out []kernel.Guard
	for _, r := range rules {
		if f := strings.Fields(string(r.UserData)); len(f) == 2 {
			out = append(out, kernel.Guard{In: f[0], Out: f[1]})
		}
	}
	return out
}

// setGuards rewrites the guard table in one transaction.
func (n *Netlink) setGuards(gs []kernel.Guard) error {
	c, err := n.nft()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: kernel.GuardTable}
	c.AddTable(t) // add, delete, add: an empty table whether it existed or not
	c.DelTable(t)
	if len(gs) > 0 {
		c.AddTable(t)
		accept := nftables.ChainPolicyAccept
		ch := c.AddChain(&nftables.Chain{Name: kernel.GuardChain, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
		for _, g := range gs {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: guardExprs(g), UserData: []byte(g.In + " " + g.Out)})
		}
	}
	n.Writes++
	return c.Flush()
}

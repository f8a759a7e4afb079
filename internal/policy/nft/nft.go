// Package nft enforces policy tables with nftables: the fallback where
// eBPF cannot load, and the benchmark's baseline. It owns two tables
// named "evpnhost": one of family bridge for the bridged workload ports
// (its forward, input and output hooks see the traffic bridged between
// ports, and the traffic routed from and to them through the SVIs), one
// of family inet for the routed ports (in a tenant VRF); each exists only
// while it has ports. Both hold the same base
// chains: `ct state established,related accept`; accept what the policy
// never decides (non-IP frames, ICMP other than echo); then a jump per port
// and direction to that port's rule chain: one nftables rule per compiled
// entry, in order, each with a counter, then the default. Allow is
// `return` (a packet bridged between two enforced ports is checked at
// both), deny is `drop`, the base chains accept what returns. A whole
// update is one nftables transaction: atomic, and conntrack, hence
// established flows, is not touched. Rules are evaluated linearly (for
// the first packet of a flow only).
//
// The bridge table needs bridge conntrack (nf_conntrack_bridge, Linux
// 5.3+; Debian builds it as a module).
package nft

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/policy"
)

// sockBuf is the netlink socket buffer size of a connection.
const sockBuf = 256 << 20

// TableName is the name of evpnhost's tables.
const TableName = "evpnhost"

// Backend is the nftables policy backend of one network namespace.
type Backend struct {
	conn *nftables.Conn
	ns   netns.NsHandle // the caller's namespace, when Open was given none
	last string         // digest of the table last applied by this Backend
}

// Open connects to nftables in the namespace netnsFD (0: the caller's).
func Open(netnsFD int) (*Backend, error) {
	// A whole policy is one transaction, sent as one netlink message,
	// and every rule is acknowledged: large rule sets need buffers far
	// above the defaults (root may force them).
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuf); e != nil {
				serr = e
			}
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBuf); e != nil {
				serr = e
			}
		}); err != nil {
			return err
		}
		return serr
	})}
	b := &Backend{}
	if netnsFD <= 0 {
		// The connection dials per transaction, from whatever thread:
		// pin it to the caller's namespace now.
		h, err := netns.Get()
		if err != nil {
			return nil, fmt.Errorf("nftables policy: %w", err)
		}
		b.ns = h
		netnsFD = int(h)
	}
	opts = append(opts, nftables.WithNetNSFd(netnsFD))
	c, err := nftables.New(opts...)
	if err != nil {
		if b.ns != 0 {
			b.ns.Close()
		}
		return nil, fmt.Errorf("nftables policy: %w", err)
	}
	b.conn = c
	// Best effort: bridge conntrack is a module on Debian.
	_ = exec.Command("modprobe", "-q", "nf_conntrack_bridge").Run()
	return b, nil
}

// Name is "nftables".
func (b *Backend) Name() string { return "nftables" }

// Close closes the connection; the tables stay.
func (b *Backend) Close() error {
	if b.ns != 0 {
		b.ns.Close()
	}
	return b.conn.CloseLasting()
}

var families = []nftables.TableFamily{nftables.TableFamilyBridge, nftables.TableFamilyINet}

func chainName(dir policy.Dir, port string) string { return dir.String() + "-" + port }

// userData marks each rule with its counter key: tenant, rule index, the
// rule's text and the occurrence of that rule in the chain.
func userData(tenant string, rule int, text string, n int) []byte {
	return []byte(fmt.Sprintf("%s\x00%d\x00%s\x00%d", tenant, rule, text, n))
}

func parseUserData(b []byte) (tenant string, rule int, ok bool) {
	f := strings.Split(string(b), "\x00")
	if len(f) != 4 {
		return "", 0, false
	}
	n, err := strconv.Atoi(f[1])
	return f[0], n, err == nil
}

// Apply replaces both tables in one transaction.
func (b *Backend) Apply(t policy.Table) error {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(t)
	digest := hex.EncodeToString(h.Sum(nil))
	if digest == b.last && b.tablesExist(t) {
		return nil // unchanged since this backend's last apply
	}
	old, _ := b.oldCounters()
	for _, fam := range families {
		if err := b.build(fam, t, old); err != nil {
			return err
		}
	}
	b.last = ""
	if err := b.conn.Flush(); err != nil {
		if errors.Is(err, unix.EPROTO) {
			return fmt.Errorf("nftables policy: %w: the bridge table needs it (modprobe nf_conntrack_bridge; Linux 5.3+): %w", ErrNoBridgeConntrack, unix.EPROTO)
		}
		return fmt.Errorf("nftables policy: %w", err)
	}
	b.last = digest
	return nil
}

// tablesExist reports whether the tables t needs are there (someone may
// have flushed the ruleset).
func (b *Backend) tablesExist(t policy.Table) bool {
	for _, fam := range families {
		need := false
		for _, pt := range t.Ports {
			need = need || pt.Routed == (fam == nftables.TableFamilyINet)
		}
		tbl, _ := b.conn.ListTableOfFamily(TableName, fam)
		if need != (tbl != nil) {
			return false
		}
	}
	return true
}

// ErrNoBridgeConntrack is returned by Apply when the kernel cannot track
// bridged connections.
var ErrNoBridgeConntrack = errors.New("no bridge conntrack")

type counterKey struct {
	fam   nftables.TableFamily
	chain string
	user  string
}

// oldCounters reads the counters of the current rules, so rules that stay
// keep counting from where they were.
func (b *Backend) oldCounters() (map[counterKey]expr.Counter, error) {
	out := map[counterKey]expr.Counter{}
	chains, err := b.conn.ListChains()
	if err != nil {
		return out, err
	}
	for _, c := range chains {
		if c.Table.Name != TableName {
			continue
		}
		rules, err := b.conn.GetRules(c.Table, c)
		if err != nil {
			continue
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if ce, ok := e.(*expr.Counter); ok && r.UserData != nil {
					out[counterKey{c.Table.Family, c.Name, string(r.UserData)}] = *ce
				}
			}
		}
	}
	return out, nil
}

func (b *Backend) build(fam nftables.TableFamily, t policy.Table, old map[counterKey]expr.Counter) error {
	tbl := &nftables.Table{Name: TableName, Family: fam}
	if existing, _ := b.conn.ListTableOfFamily(TableName, fam); existing != nil {
		b.conn.DelTable(tbl)
	}
	// Bridged ports in the bridge table, routed ones in the inet table.
	var ports []policy.PortTable
	for _, pt := range t.Ports {
		if pt.Routed == (fam == nftables.TableFamilyINet) {
			ports = append(ports, pt)
		}
	}
	if len(ports) == 0 {
		return nil // no policy: no table
	}
	b.conn.AddTable(tbl)
	accept := nftables.ChainPolicyAccept
	var base []*nftables.Chain
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"forward", nftables.ChainHookForward}, {"input", nftables.ChainHookInput}, {"output", nftables.ChainHookOutput}} {
		base = append(base, b.conn.AddChain(&nftables.Chain{Name: h.name, Table: tbl, Type: nftables.ChainTypeFilter,
			Hooknum: h.hook, Priority: nftables.ChainPriorityFilter, Policy: &accept}))
	}
	for _, c := range base {
		// ct state established,related accept
		b.conn.AddRule(&nftables.Rule{Table: tbl, Chain: c, Exprs: []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutilNative(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}})
		b.passAlways(fam, tbl, c)
	}
	for _, pt := range ports {
		for _, dir := range []policy.Dir{policy.In, policy.Out} {
			pc := b.conn.AddChain(&nftables.Chain{Name: chainName(dir, pt.Interface), Table: tbl})
			key := expr.MetaKeyOIFNAME // in: leaves through the port
			if dir == policy.Out {
				key = expr.MetaKeyIIFNAME
			}
			for _, c := range base {
				b.conn.AddRule(&nftables.Rule{Table: tbl, Chain: c, Exprs: []expr.Any{
					&expr.Meta{Key: key, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(pt.Interface)},
					&expr.Verdict{Kind: expr.VerdictJump, Chain: pc.Name},
				}})
			}
			seen := map[string]int{}
			for _, e := range pt.Entries {
				if e.Dir != dir {
					continue
				}
				text := ruleText(&t, pt.Tenant, e.Rule)
				ud := userData(pt.Tenant, e.Rule, text, seen[text])
				seen[text]++
				exprs := match(fam, e)
				exprs = append(exprs, counter(old, fam, pc.Name, ud), verdict(e.Allow))
				b.conn.AddRule(&nftables.Rule{Table: tbl, Chain: pc, Exprs: exprs, UserData: ud})
			}
			ud := userData(pt.Tenant, -1, ruleText(&t, pt.Tenant, -1), 0)
			b.conn.AddRule(&nftables.Rule{Table: tbl, Chain: pc, UserData: ud,
				Exprs: []expr.Any{counter(old, fam, pc.Name, ud), verdict(pt.DefaultAllow)}})
		}
	}
	return nil
}

// passAlways accepts what the policy never decides, as the eBPF programs
// do: non-IP frames (ARP), ICMP and ICMPv6 other than echo (errors,
// neighbor discovery).
func (b *Backend) passAlways(fam nftables.TableFamily, tbl *nftables.Table, c *nftables.Chain) {
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	if fam == nftables.TableFamilyBridge {
		b.conn.AddRule(&nftables.Rule{Table: tbl, Chain: c, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, unix.ETH_P_IP)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, unix.ETH_P_IPV6)},
			accept,
		}})
	}
	for _, ic := range []struct{ proto, req, rep byte }{{unix.IPPROTO_ICMP, 8, 0}, {unix.IPPROTO_ICMPV6, 128, 129}} {
		b.conn.AddRule(&nftables.Rule{Table: tbl, Chain: c, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{ic.proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{ic.req}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{ic.rep}},
			accept,
		}})
	}
}

func ruleText(t *policy.Table, tenant string, rule int) string {
	return t.Key(tenant, rule).Text
}

func counter(old map[counterKey]expr.Counter, fam nftables.TableFamily, chain string, ud []byte) *expr.Counter {
	c := old[counterKey{fam, chain, string(ud)}]
	return &expr.Counter{Packets: c.Packets, Bytes: c.Bytes}
}

// verdict of a port chain: an allowed packet returns to the base chain,
// where the port at its other end (bridged between two ports) may still
// refuse it; the base chain's policy accepts the rest.
func verdict(allow bool) *expr.Verdict {
	if allow {
		return &expr.Verdict{Kind: expr.VerdictReturn}
	}
	return &expr.Verdict{Kind: expr.VerdictDrop}
}

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

func binaryutilNative(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}

// match is the expressions of one entry: address family, remote and
// local prefixes, protocol and destination ports.
func match(fam nftables.TableFamily, e policy.Entry) []expr.Any {
	v4 := e.Remote.Addr().Is4()
	var out []expr.Any
	// The address family of the packet.
	if fam == nftables.TableFamilyBridge {
		proto := uint16(unix.ETH_P_IPV6)
		if v4 {
			proto = unix.ETH_P_IP
		}
		out = append(out, &expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, proto)})
	} else {
		nf := byte(unix.NFPROTO_IPV6)
		if v4 {
			nf = unix.NFPROTO_IPV4
		}
		out = append(out, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nf}})
	}
	remoteSrc := e.Dir == policy.In // to the workload: the remote is the source
	out = append(out, prefix(e.Remote, remoteSrc)...)
	if e.Local.IsValid() {
		out = append(out, prefix(e.Local, !remoteSrc)...)
	}
	switch e.Proto {
	case api.ProtoAny:
	case api.ProtoICMP:
		p := byte(unix.IPPROTO_ICMPV6)
		if v4 {
			p = unix.IPPROTO_ICMP
		}
		out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}})
	default:
		out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{e.Proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		if e.Lo == e.Hi {
			out = append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, e.Lo)})
		} else if e.Lo != 0 || e.Hi != 65535 {
			out = append(out, &expr.Range{Op: expr.CmpOpEq, Register: 1,
				FromData: binary.BigEndian.AppendUint16(nil, e.Lo), ToData: binary.BigEndian.AppendUint16(nil, e.Hi)})
		}
	}
	return out
}

// prefix matches the source (src) or destination address against p.
func prefix(p netip.Prefix, src bool) []expr.Any {
	off, n := uint32(16), uint32(4) // IPv4 daddr
	if p.Addr().Is6() {
		off, n = 24, 16
	}
	if src {
		off -= n
	}
	if p.Bits() == 0 {
		return nil
	}
	out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}}
	if p.Bits() < p.Addr().BitLen() {
		mask := make([]byte, n)
		for i := 0; i < p.Bits(); i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)})
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()})
}

// Counters sums the rule counters over ports and both tables. A rule that
// allows (returns) counts Allowed, one that drops Denied.
func (b *Backend) Counters() ([]policy.RuleCounter, error) {
	sums := map[[2]string]*policy.RuleCounter{}
	var order []*policy.RuleCounter
	chains, err := b.conn.ListChains()
	if err != nil {
		return nil, fmt.Errorf("nftables policy: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name != TableName {
			continue
		}
		rules, err := b.conn.GetRules(c.Table, c)
		if err != nil {
			return nil, fmt.Errorf("nftables policy: %w", err)
		}
		for _, r := range rules {
			tenant, rule, ok := parseUserData(r.UserData)
			if !ok {
				continue
			}
			var pk uint64
			allow := false
			for _, e := range r.Exprs {
				switch e := e.(type) {
				case *expr.Counter:
					pk = e.Packets
				case *expr.Verdict:
					allow = e.Kind == expr.VerdictReturn || e.Kind == expr.VerdictAccept
				}
			}
			k := [2]string{tenant, strconv.Itoa(rule)}
			rc := sums[k]
			if rc == nil {
				rc = &policy.RuleCounter{Tenant: tenant, Rule: rule}
				sums[k] = rc
				order = append(order, rc)
			}
			if allow {
				rc.Allowed += pk
			} else {
				rc.Denied += pk
			}
		}
	}
	out := make([]policy.RuleCounter, len(order))
	for i, rc := range order {
		out[i] = *rc
	}
	policy.SortCounters(out)
	return out, nil
}

var _ policy.Backend = (*Backend)(nil)

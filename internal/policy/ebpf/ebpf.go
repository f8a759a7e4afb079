// Package ebpf enforces policy tables with tc clsact eBPF programs
// (bpf/policy.c) on the host side of workload ports. It works from
// Linux 6.1 (Debian 12) on: classic tc (clsact qdisc + a direct-action
// cls_bpf filter), set up through netlink by this package itself; the
// rest of evpnhost talks netlink only through internal/linux.
//
// The maps are pinned in a bpffs directory (PinDir) so that every
// evpnhost process (apply, agent) updates the same tables, and the tc
// filters keep their programs across processes. See docs/policy.md.
package ebpf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/internal/policy"
	statefile "github.com/evpnhost/evpnhost/internal/state"
)

// Constants shared with bpf/policy.c.
const (
	rulesPerGen  = 131072
	lpmFixedBits = 96
	localAny     = 0xff
	maxCounters  = 65536
	// FilterPriority and FilterName identify evpnhost's tc filters on
	// a port's clsact ingress and egress; other filters are left alone.
	FilterPriority = 0xe11
	FilterName     = "evpnhost-policy"
)

// Backend is the eBPF policy backend of one network namespace.
type Backend struct {
	pinDir    string
	stateFile string
	objs      policyObjects
	nl        *netlink.Handle
	tagIn     string
	tagOut    string
}

// state is what the backend remembers between processes (in StateFile):
// the counter slot of each rule, so counters survive rule updates.
type state struct {
	Counters map[string]uint32 `json:"counters"`
	// Digest is the hash of the last table applied with the ifindexes of
	// its ports, and Gen its generation: an unchanged table is not
	// written again.
	Digest string `json:"digest,omitempty"`
	Gen    uint32 `json:"gen,omitempty"`
}

// Open loads the programs and the pinned maps (creating them in pinDir,
// a directory on a bpffs, when they do not exist). stateFile records the
// counter slots. netnsFD selects the network namespace of the ports (0:
// the caller's). It fails when the kernel cannot load the programs: the
// caller then falls back to the nftables backend.
func Open(pinDir, stateFile string, netnsFD int) (*Backend, error) {
	if err := os.MkdirAll(pinDir, 0o700); err != nil {
		return nil, fmt.Errorf("ebpf policy: %w", err)
	}
	b := &Backend{pinDir: pinDir, stateFile: stateFile}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pinDir}}
	err := loadPolicyObjects(&b.objs, opts)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// Pinned by an older evpnhost with other map layouts: start over
		// (the connection table is lost, established flows are decided
		// again by the rules).
		for _, n := range []string{"policy_config", "policy_ports", "policy_classes", "policy_rules", "policy_counters", "policy_conntrack"} {
			_ = os.Remove(filepath.Join(pinDir, n))
		}
		_ = os.Remove(stateFile)
		err = loadPolicyObjects(&b.objs, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("ebpf policy: load: %w", err)
	}
	for _, p := range []struct {
		prog *ebpf.Program
		tag  *string
	}{{b.objs.PolicyIn, &b.tagIn}, {b.objs.PolicyOut, &b.tagOut}} {
		info, err := p.prog.Info()
		if err != nil {
			b.objs.Close()
			return nil, fmt.Errorf("ebpf policy: %w", err)
		}
		*p.tag = info.Tag
	}
	if netnsFD > 0 {
		b.nl, err = netlink.NewHandleAt(netns.NsHandle(netnsFD))
	} else {
		b.nl, err = netlink.NewHandle()
	}
	if err != nil {
		b.objs.Close()
		return nil, fmt.Errorf("ebpf policy: netlink: %w", err)
	}
	return b, nil
}

// Name is "ebpf".
func (b *Backend) Name() string { return "ebpf" }

// Close releases this process's handles; the pinned maps and the attached
// programs stay.
func (b *Backend) Close() error {
	b.nl.Close()
	return b.objs.Close()
}

// stateVersion is the version of the state file (statefile.WriteJSON).
const stateVersion = 1

// loadState reads the state file; none yet is an empty state. One that
// cannot be read is an error: its counter slots would be reused for other
// rules.
func (b *Backend) loadState() (state, error) {
	var s state
	if _, err := statefile.ReadJSON(b.stateFile, stateVersion, &s); err != nil {
		return s, fmt.Errorf("ebpf policy: %w", err)
	}
	if s.Counters == nil {
		s.Counters = map[string]uint32{}
	}
	return s, nil
}

func (b *Backend) saveState(s state) error {
	_, err := statefile.WriteJSON(b.stateFile, stateVersion, s)
	return err
}

func counterKey(k policy.RuleKey) string {
	return fmt.Sprintf("%s\x00%d\x00%s", k.Tenant, k.Rule, k.Text)
}

// counters assigns a slot to every rule: kept for rules that did not
// change, a zeroed free slot for new ones.
func (b *Backend) counters(s *state, rules []policy.RuleKey) (map[policy.RuleKey]uint32, error) {
	want := map[string]bool{}
	for _, r := range rules {
		want[counterKey(r)] = true
	}
	used := map[uint32]bool{}
	for k, slot := range s.Counters {
		if !want[k] {
			delete(s.Counters, k)
			continue
		}
		used[slot] = true
	}
	out := map[policy.RuleKey]uint32{}
	next := uint32(0)
	zero := make([]policyCounter, ebpf.MustPossibleCPU())
	for _, r := range rules {
		k := counterKey(r)
		slot, ok := s.Counters[k]
		if !ok {
			for used[next] {
				next++
			}
			if next >= maxCounters {
				return nil, fmt.Errorf("ebpf policy: more than %d rules", maxCounters)
			}
			slot = next
			used[slot] = true
			if err := b.objs.PolicyCounters.Update(slot, zero, ebpf.UpdateAny); err != nil {
				return nil, fmt.Errorf("ebpf policy: counters: %w", err)
			}
			s.Counters[k] = slot
		}
		out[r] = slot
	}
	return out, nil
}

func addr16(p []byte) [16]uint8 {
	var a [16]uint8
	copy(a[:], p)
	return a
}

// Apply writes the table as a new generation, attaches the programs to
// its ports, switches to it in one map write, then drops the old
// generation and detaches from ports no longer in the table.
func (b *Backend) Apply(t policy.Table) error {
	s, err := b.loadState()
	if err != nil {
		return err
	}
	slots, err := b.counters(&s, t.Rules)
	if err != nil {
		return err
	}
	var cfg policyConfig
	if err := b.objs.PolicyConfig.Lookup(uint32(0), &cfg); err != nil {
		return fmt.Errorf("ebpf policy: config: %w", err)
	}
	old := cfg.Gen
	links := map[string]netlink.Link{}
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(t)
	for _, pt := range t.Ports {
		if l, err := b.nl.LinkByName(pt.Interface); err == nil {
			links[pt.Interface] = l
			fmt.Fprintf(h, "%s=%d\n", pt.Interface, l.Attrs().Index)
		}
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if digest == s.Digest && s.Gen == old && old != 0 {
		// Unchanged: only make sure the programs are attached.
		for _, l := range links {
			if err := b.attach(l); err != nil {
				return err
			}
		}
		return nil
	}
	gen := old + 1
	base := (gen % 2) * rulesPerGen
	next := base
	attach := map[int]bool{}
	for _, pt := range t.Ports {
		link, ok := links[pt.Interface]
		if !ok {
			continue // a missing workload: the reconciler reports it
		}
		ifindex := uint32(link.Attrs().Index)
		classes, err := pt.Classes()
		if err != nil {
			return fmt.Errorf("ebpf policy: %w", err)
		}
		for _, c := range classes {
			if next-base+uint32(len(c.Entries)) > rulesPerGen {
				return fmt.Errorf("ebpf policy: more than %d compiled rule entries", rulesPerGen)
			}
			first := next
			for _, e := range c.Entries {
				r := policyRule{Proto: e.Proto, PortLo: e.Lo, PortHi: e.Hi, LocalBits: localAny,
					Counter: slots[policy.RuleKey{Tenant: pt.Tenant, Rule: e.Rule, Text: ruleText(&t, pt.Tenant, e.Rule)}]}
				if e.Allow {
					r.Allow = 1
				}
				if e.Local.IsValid() {
					r.LocalBits = uint8(e.Local.Bits())
					r.Local = addr16(e.Local.Addr().AsSlice())
				}
				if err := b.objs.PolicyRules.Update(next, r, ebpf.UpdateAny); err != nil {
					return fmt.Errorf("ebpf policy: rules: %w", err)
				}
				next++
			}
			k := policyLpmKey{Prefixlen: uint32(lpmFixedBits + c.Prefix.Bits()), Gen: gen, Ifindex: ifindex,
				Dir: uint8(c.Dir), Family: 6, Addr: addr16(c.Prefix.Addr().AsSlice())}
			if c.Prefix.Addr().Is4() {
				k.Family = 4
			}
			if err := b.objs.PolicyClasses.Update(k, policyClassVal{First: first, Count: uint32(len(c.Entries))}, ebpf.UpdateAny); err != nil {
				return fmt.Errorf("ebpf policy: classes: %w", err)
			}
		}
		pv := policyPortVal{DefaultCounter: slots[policy.RuleKey{Tenant: pt.Tenant, Rule: -1, Text: ruleText(&t, pt.Tenant, -1)}]}
		if pt.DefaultAllow {
			pv.DefaultAllow = 1
		}
		if err := b.objs.PolicyPorts.Update(policyPortKey{Gen: gen, Ifindex: ifindex}, pv, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("ebpf policy: ports: %w", err)
		}
		if err := b.attach(link); err != nil {
			return err
		}
		attach[link.Attrs().Index] = true
	}
	// The switch: from the next packet on, new flows are decided by gen.
	if err := b.objs.PolicyConfig.Update(uint32(0), policyConfig{Gen: gen}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("ebpf policy: config: %w", err)
	}
	if err := b.detachOthers(attach); err != nil {
		return err
	}
	// Programs that read the old generation number finish within an RCU
	// grace period; then its entries go.
	time.Sleep(20 * time.Millisecond)
	b.dropGen(old)
	s.Digest, s.Gen = digest, gen
	return b.saveState(s)
}

// ruleText finds the counter key text of a tenant's rule in t.
func ruleText(t *policy.Table, tenant string, rule int) string {
	return t.Key(tenant, rule).Text
}

func (b *Backend) dropGen(gen uint32) {
	var lk policyLpmKey
	var lkeys []policyLpmKey
	var cv policyClassVal
	it := b.objs.PolicyClasses.Iterate()
	for it.Next(&lk, &cv) {
		if lk.Gen == gen {
			lkeys = append(lkeys, lk)
		}
	}
	for _, k := range lkeys {
		_ = b.objs.PolicyClasses.Delete(k)
	}
	var pk policyPortKey
	var pv policyPortVal
	var pkeys []policyPortKey
	it = b.objs.PolicyPorts.Iterate()
	for it.Next(&pk, &pv) {
		if pk.Gen == gen {
			pkeys = append(pkeys, pk)
		}
	}
	for _, k := range pkeys {
		_ = b.objs.PolicyPorts.Delete(k)
	}
}

func (b *Backend) filter(link netlink.Link, parent uint32, prog *ebpf.Program) *netlink.BpfFilter {
	return &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: link.Attrs().Index,
			Parent:    parent,
			Handle:    1,
			Priority:  FilterPriority,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           prog.FD(),
		Name:         FilterName,
		DirectAction: true,
	}
}

// ours returns evpnhost's filter at parent, if any, and a foreign filter
// that holds evpnhost's priority there.
func (b *Backend) ours(link netlink.Link, parent uint32) (*netlink.BpfFilter, netlink.Filter, error) {
	fs, err := b.nl.FilterList(link, parent)
	if err != nil {
		return nil, nil, err
	}
	ours, foreign := pick(fs)
	return ours, foreign, nil
}

// pick finds evpnhost's filter among fs: the eBPF filter at FilterPriority
// named FilterName. Another filter at that priority is foreign: matched by
// priority alone, it would be replaced or deleted as if it were ours.
func pick(fs []netlink.Filter) (ours *netlink.BpfFilter, foreign netlink.Filter) {
	for _, f := range fs {
		if f.Attrs().Priority != FilterPriority {
			continue
		}
		if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == FilterName {
			ours = bf
		} else if foreign == nil {
			foreign = f
		}
	}
	return ours, foreign
}

// attach puts the clsact qdisc (when missing) and evpnhost's filters
// (when missing or running another program) on a port.
func (b *Backend) attach(link netlink.Link) error {
	qd := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := b.nl.QdiscAdd(qd); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("ebpf policy: clsact on %s: %w", link.Attrs().Name, err)
	}
	for _, f := range []struct {
		parent uint32
		prog   *ebpf.Program
		tag    string
	}{
		{netlink.HANDLE_MIN_EGRESS, b.objs.PolicyIn, b.tagIn},
		{netlink.HANDLE_MIN_INGRESS, b.objs.PolicyOut, b.tagOut},
	} {
		cur, foreign, err := b.ours(link, f.parent)
		if err != nil {
			return fmt.Errorf("ebpf policy: filters of %s: %w", link.Attrs().Name, err)
		}
		if cur == nil && foreign != nil {
			return fmt.Errorf("ebpf policy: %s: tc priority %#x is taken by a filter that is not evpnhost's (%s): evpnhost will not replace it", link.Attrs().Name, FilterPriority, foreign.Type())
		}
		if cur != nil && cur.Tag == f.tag && cur.Name == FilterName && b.usesOurMaps(cur.Id) {
			continue
		}
		if err := b.nl.FilterReplace(b.filter(link, f.parent, f.prog)); err != nil {
			return fmt.Errorf("ebpf policy: attach to %s: %w", link.Attrs().Name, err)
		}
	}
	return nil
}

// usesOurMaps reports whether the attached program id reads this
// backend's pinned maps (and not those of a removed pin directory).
func (b *Backend) usesOurMaps(id int) bool {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return false
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return false
	}
	ids, ok := info.MapIDs()
	if !ok {
		return false
	}
	mi, err := b.objs.PolicyConfig.Info()
	if err != nil {
		return false
	}
	want, _ := mi.ID()
	return slices.Contains(ids, want)
}

// detachOthers removes evpnhost's filters from ports not in keep.
func (b *Backend) detachOthers(keep map[int]bool) error {
	links, err := b.nl.LinkList()
	if err != nil {
		return fmt.Errorf("ebpf policy: %w", err)
	}
	for _, l := range links {
		if keep[l.Attrs().Index] {
			continue
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_EGRESS, netlink.HANDLE_MIN_INGRESS} {
			f, _, err := b.ours(l, parent)
			if err != nil || f == nil {
				continue
			}
			if err := b.nl.FilterDel(f); err != nil {
				return fmt.Errorf("ebpf policy: detach from %s: %w", l.Attrs().Name, err)
			}
		}
	}
	return nil
}

// Counters sums each rule's per-CPU counters.
func (b *Backend) Counters() ([]policy.RuleCounter, error) {
	s, err := b.loadState()
	if err != nil {
		return nil, err
	}
	var out []policy.RuleCounter
	vals := make([]policyCounter, ebpf.MustPossibleCPU())
	for k, slot := range s.Counters {
		var c policy.RuleCounter
		tenant, rest, _ := strings.Cut(k, "\x00")
		num, _, _ := strings.Cut(rest, "\x00")
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		c.Tenant, c.Rule = tenant, n
		if err := b.objs.PolicyCounters.Lookup(slot, &vals); err != nil {
			return nil, fmt.Errorf("ebpf policy: counters: %w", err)
		}
		for _, v := range vals {
			c.Allowed += v.Allowed
			c.Denied += v.Denied
		}
		out = append(out, c)
	}
	policy.SortCounters(out)
	return out, nil
}

var _ policy.Backend = (*Backend)(nil)

// ProgramStats is the number of runs and the total run time of this
// backend's two programs; zero unless the kernel collects BPF statistics
// (ebpf.EnableStats, kernel.bpf_stats_enabled).
func (b *Backend) ProgramStats() (runs uint64, total time.Duration, err error) {
	for _, p := range []*ebpf.Program{b.objs.PolicyIn, b.objs.PolicyOut} {
		s, err := p.Stats()
		if err != nil {
			return 0, 0, err
		}
		runs += s.RunCount
		total += s.Runtime
	}
	return runs, total, nil
}

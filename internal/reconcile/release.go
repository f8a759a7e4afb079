package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// releaseL3VNIs unconfigures in FRR (`vrf T` / `no vni N`) the L3VNIs
// whose VXLAN device the kernel step deletes or replaces (a removed
// tenant, a move between vxlanDevice modes) or whose VNI leaves the
// single device's filter, and waits for zebra to drop them, before the
// kernel step. zebra 10.3 exits when the VXLAN device of a configured
// L3VNI goes away: its RMAC cleanup dereferences the device it just lost
// (FRRouting/frr#20494, fixed in later point releases). The reload after
// the kernel step configures the VNI again where the intent keeps it;
// `no vrf T` of a removed tenant's stanza still comes after its kernel
// VRF is gone (dropEmptyVRFs). FRR 8.4 keeps the order it always had.
func (a *run) releaseL3VNIs(ctx context.Context) error {
	if !a.res.FRRVersion.MgmtdRequired() {
		return nil
	}
	vnis := leavingVNIs(a.res.Kernel.Main)
	if len(vnis) == 0 {
		return nil
	}
	r := a.r
	running, err := r.FRR.RunningConfig(ctx)
	if err != nil {
		return frrError{fmt.Errorf("read frr running config: %w", err)}
	}
	rec, err := r.load()
	if err != nil {
		return err
	}
	owned := union(rec.Tenants, tenantNames(a.in))
	var lines, released []string
	var gone []uint32
	for _, l := range configuredL3VNIs(running) {
		if slices.Contains(owned, l.vrf) && slices.Contains(vnis, l.vni) {
			lines = append(lines, "vrf "+l.vrf, fmt.Sprintf("no vni %d", l.vni), "exit-vrf")
			released = append(released, fmt.Sprintf("vrf %s / vni %d", l.vrf, l.vni))
			gone = append(gone, l.vni)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	r.log().Info("unconfiguring the L3VNIs whose VXLAN device goes, before the kernel step (zebra >= 9 exits otherwise, FRRouting/frr#20494)",
		"op", "frr-release", "vnis", released)
	if err := r.FRR.Configure(ctx, lines...); err != nil {
		return frrError{fmt.Errorf("frr: unconfigure %s before deleting their VXLAN devices: %w", strings.Join(released, ", "), err)}
	}
	a.res.FRR.Delete = append(a.res.FRR.Delete, released...)
	return r.waitL3VNIsGone(ctx, gone)
}

// l3vni is a `vni N` line of a `vrf T` stanza.
type l3vni struct {
	vrf string
	vni uint32
}

// configuredL3VNIs are the `vrf T` / `vni N` of a running configuration.
func configuredL3VNIs(running string) []l3vni {
	var out []l3vni
	for _, st := range frr.Stanzas(running) {
		h := strings.Fields(st[0])
		if len(h) != 2 || h[0] != "vrf" {
			continue
		}
		for _, l := range st[1:] {
			f := strings.Fields(l)
			if len(f) >= 2 && f[0] == "vni" {
				if n, err := strconv.ParseUint(f[1], 10, 32); err == nil {
					out = append(out, l3vni{vrf: h[1], vni: uint32(n)})
				}
			}
		}
	}
	return out
}

// leavingVNIs are the VNIs of the VXLAN devices that ops delete or
// replace, and those that leave the single device's VNI filter.
func leavingVNIs(ops []kernel.Op) []uint32 {
	var out []uint32
	carried := func(l kernel.Link) []uint32 {
		if l.VNIFilter {
			return l.VNIs
		}
		return []uint32{l.VNI}
	}
	for _, op := range ops {
		switch {
		case op.Action == kernel.ActDelete && op.Link != nil && op.Link.Kind == kernel.KindVXLAN:
			out = append(out, carried(*op.Link)...)
		case op.Action == kernel.ActReplace && op.Old != nil && op.Old.Kind == kernel.KindVXLAN:
			out = append(out, carried(*op.Old)...)
		case op.Action == kernel.ActSet && op.Old != nil && op.Old.Kind == kernel.KindVXLAN && op.Link != nil && op.Old.VNIFilter:
			for _, v := range op.Old.VNIs {
				if !slices.Contains(op.Link.VNIs, v) {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// waitL3VNIsGone polls zebra until none of vnis is an L3VNI any more.
func (r *Reconciler) waitL3VNIsGone(ctx context.Context, vnis []uint32) error {
	wait, poll := r.VNIWait, r.Poll
	if wait == 0 {
		wait = 60 * time.Second
	}
	if poll == 0 {
		poll = 200 * time.Millisecond
	}
	deadline := time.Now().Add(wait)
	for {
		var known map[string]struct {
			Type string `json:"type"`
		}
		err := r.FRR.JSON(ctx, "show evpn vni json", &known)
		var left []string
		for _, v := range vnis {
			if k, ok := known[fmt.Sprint(v)]; ok && k.Type == "L3" {
				left = append(left, fmt.Sprint(v))
			}
		}
		if err == nil && len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return frrError{fmt.Errorf("zebra still has the L3VNIs %s %s after `no vni` (err: %v); their VXLAN devices are left for the next apply", strings.Join(left, ", "), wait, err)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

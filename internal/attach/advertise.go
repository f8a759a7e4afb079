package attach

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// Zebra is what Advertised asks FRR (frrctl.Instance).
type Zebra interface {
	Version(ctx context.Context) (frr.Version, error)
	// LocalMAC: zebra holds mac as a local MAC of vni.
	LocalMAC(ctx context.Context, vni uint32, mac string) (bool, error)
	// RouteSelected: zebra's RIB of vrf has dst selected (a kernel
	// route that zebra took, which bgpd can then redistribute).
	RouteSelected(ctx context.Context, vrf string, dst netip.Prefix) (bool, error)
}

// AdvertiseTiming: how long Advertised waits for zebra before it writes
// the kernel objects again, and how long in all.
type AdvertiseTiming struct {
	Readd, Within, Poll time.Duration
}

// DefaultAdvertiseTiming: zebra reads a kernel change in milliseconds
// natively; under emulation a busy zebra took up to about a second.
var DefaultAdvertiseTiming = AdvertiseTiming{Readd: 2 * time.Second, Within: 10 * time.Second, Poll: 100 * time.Millisecond}

// advertisable is one kernel object of an attachment that zebra must
// have taken for the workload to be advertised.
type advertisable struct {
	what string // for the error
	held func(ctx context.Context) (bool, error)
	op   kernel.Op // the object's add (re-added as delete, add)
}

// Advertised makes sure zebra took what an attachment's advertisement
// comes from, on the FRR releases that can drop it (frr.FDBRaceIssue):
// a bridged workload's static FDB entry (zebra then holds its MAC as
// local, and sends the MAC/IP type-2 route) and a routed workload's host
// routes (zebra's RIB then has them selected, and bgpd sends them as
// type-5). Converge writes both right after the port joined the bridge or
// the VRF, which zebra 10.3/10.4 may not know yet. Advertised waits until
// zebra has each, and each time t.Readd passes without it deletes and adds
// the object again (the kernel then tells zebra once more; it is gone for
// the microseconds between the two). It returns how often it re-added
// objects, and an error if zebra lacks one after t.Within or cannot be
// asked. FRR releases without the defect return at once.
//
// An error does not undo the attachment: its kernel side is complete and
// local traffic works; what is missing is its route to remote hosts.
func Advertised(ctx context.Context, k Kernel, z Zebra, in *api.Intent, a Attachment, t AdvertiseTiming) (int, error) {
	if v, err := z.Version(ctx); err == nil && !frr.HasFDBRace(v) {
		return 0, nil
	}
	net, err := Resolve(in, a.Network)
	if err != nil {
		return 0, err
	}
	des := plan.BuildWith(in, []plan.Attachment{a.Plan()}).Kernel
	var objs []advertisable
	if a.Mode != ModeRouted && a.MAC != "" {
		for _, f := range des.FDB {
			if f.Dev == a.Interface && !f.Self {
				f := f
				objs = append(objs, advertisable{
					what: fmt.Sprintf("MAC %s of %s as local on VNI %d", a.MAC, a.Interface, net.VNI),
					held: func(ctx context.Context) (bool, error) { return z.LocalMAC(ctx, net.VNI, a.MAC) },
					op:   kernel.Op{Action: kernel.ActAdd, Object: f.Key(), FDB: &f},
				})
			}
		}
	}
	if a.Mode == ModeRouted {
		for _, r := range des.Routes {
			if r.Dev == a.Interface {
				r := r
				objs = append(objs, advertisable{
					what: fmt.Sprintf("route %s dev %s in VRF %s", r.Dst, a.Interface, net.Tenant),
					held: func(ctx context.Context) (bool, error) { return z.RouteSelected(ctx, net.Tenant, r.Dst) },
					op:   kernel.Op{Action: kernel.ActAdd, Object: r.Key(), Route: &r},
				})
			}
		}
	}
	readds := 0
	start := time.Now()
	last := make([]time.Time, len(objs))
	for i := range last {
		last[i] = start
	}
	for {
		var missing []string
		var ops []kernel.Op
		now := time.Now()
		for i, o := range objs {
			ok, err := o.held(ctx)
			if err != nil {
				return readds, fmt.Errorf("ask zebra for the %s: %w", o.what, err)
			}
			if ok {
				continue
			}
			missing = append(missing, o.what)
			if now.Sub(last[i]) >= t.Readd {
				del := o.op
				del.Action = kernel.ActDelete
				ops = append(ops, del, o.op)
				last[i] = now
			}
		}
		if len(missing) == 0 {
			return readds, nil
		}
		if now.Sub(start) >= t.Within {
			return readds, fmt.Errorf("zebra lacks the %s after %s (written again %d times; %s): the workload is not advertised",
				strings.Join(missing, ", the "), t.Within, readds, frr.FDBRaceIssue)
		}
		if len(ops) > 0 {
			if _, err := k.Apply(ops); err != nil {
				return readds, fmt.Errorf("write the %s again: %w", strings.Join(missing, ", the "), err)
			}
			readds += len(ops) / 2
		}
		select {
		case <-ctx.Done():
			return readds, ctx.Err()
		case <-time.After(t.Poll):
		}
	}
}

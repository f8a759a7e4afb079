package attach

import (
	"context"
	"fmt"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// Zebra is what Advertised asks FRR (frrctl.Instance).
type Zebra interface {
	Version(ctx context.Context) (frr.Version, error)
	LocalMAC(ctx context.Context, vni uint32, mac string) (bool, error)
}

// AdvertiseTiming: how long Advertised waits for zebra to hold a MAC
// before it adds the FDB entry again, and how long in all.
type AdvertiseTiming struct {
	Readd, Within, Poll time.Duration
}

// DefaultAdvertiseTiming: zebra reads an FDB change in milliseconds
// natively; under emulation a busy zebra took up to about a second.
var DefaultAdvertiseTiming = AdvertiseTiming{Readd: 2 * time.Second, Within: 10 * time.Second, Poll: 100 * time.Millisecond}

// Advertised makes sure zebra took a bridged attachment's MAC, on the FRR
// releases that can drop it (frr.FDBRaceIssue: the static FDB entry that
// Converge adds right after the port joined the bridge). It waits until
// zebra holds the MAC as local on the network's VNI, and each time
// t.Readd passes without it deletes and adds the FDB entry again (the
// kernel then notifies zebra once more; the entry is gone for the
// microseconds between the two). It returns how often it re-added the
// entry, and an error if zebra does not hold the MAC after t.Within or
// cannot be asked. Routed attachments, and FRR releases without the
// defect, return at once.
//
// An error does not undo the attachment: its kernel side is complete, and
// bridged traffic to it works; what is missing is its type-2 route (remote
// hosts routing to it, ARP suppression for it).
func Advertised(ctx context.Context, k Kernel, z Zebra, in *api.Intent, a Attachment, t AdvertiseTiming) (int, error) {
	if a.Mode == ModeRouted || a.MAC == "" {
		return 0, nil
	}
	v, err := z.Version(ctx)
	if err == nil && !frr.HasFDBRace(v) {
		return 0, nil
	}
	net, err := Resolve(in, a.Network)
	if err != nil {
		return 0, err
	}
	var fdb []kernel.FDB
	for _, f := range plan.BuildWith(in, []plan.Attachment{a.Plan()}).Kernel.FDB {
		if f.Dev == a.Interface && !f.Self {
			fdb = append(fdb, f)
		}
	}
	if len(fdb) == 0 {
		return 0, nil // no static entry: nothing of ours for zebra to miss
	}
	readds := 0
	start, last := time.Now(), time.Now()
	for {
		ok, err := z.LocalMAC(ctx, net.VNI, a.MAC)
		if err != nil {
			return readds, fmt.Errorf("ask zebra for MAC %s on VNI %d: %w", a.MAC, net.VNI, err)
		}
		if ok {
			return readds, nil
		}
		now := time.Now()
		if now.Sub(start) >= t.Within {
			return readds, fmt.Errorf("zebra does not hold MAC %s of %s as local on VNI %d after %s (FDB entry added again %d times; %s): the workload gets no type-2 route",
				a.MAC, a.Interface, net.VNI, t.Within, readds, frr.FDBRaceIssue)
		}
		if now.Sub(last) >= t.Readd {
			var ops []kernel.Op
			for _, f := range fdb {
				f := f
				ops = append(ops, kernel.Op{Action: kernel.ActDelete, Object: f.Key(), FDB: &f},
					kernel.Op{Action: kernel.ActAdd, Object: f.Key(), FDB: &f})
			}
			if _, err := k.Apply(ops); err != nil {
				return readds, fmt.Errorf("add the FDB entry of %s again: %w", a.Interface, err)
			}
			readds++
			last = now
		}
		select {
		case <-ctx.Done():
			return readds, ctx.Err()
		case <-time.After(t.Poll):
		}
	}
}

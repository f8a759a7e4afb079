package attach

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// fakeZebra holds the MAC once the FDB entry has been added again
// holdAfter times (-1: never); versionErr stands for a zebra that cannot
// be asked for its version.
type fakeZebra struct {
	version    string
	versionErr error
	macErr     error
	holdAfter  int
	k          *opsKernel
	asked      []string
}

func (z *fakeZebra) Version(context.Context) (frr.Version, error) {
	if z.versionErr != nil {
		return frr.Version{}, z.versionErr
	}
	return frr.ParseVersion(z.version)
}

func (z *fakeZebra) RouteSelected(_ context.Context, vrf string, dst netip.Prefix) (bool, error) {
	z.asked = append(z.asked, dst.String())
	if z.macErr != nil {
		return false, z.macErr
	}
	if vrf != "red" || dst != netip.MustParsePrefix("10.1.10.50/32") {
		return false, errors.New("asked for the wrong route " + vrf + " " + dst.String())
	}
	return z.holdAfter >= 0 && z.k.readds() >= z.holdAfter, nil
}

func (z *fakeZebra) LocalMAC(_ context.Context, vni uint32, mac string) (bool, error) {
	z.asked = append(z.asked, mac)
	if z.macErr != nil {
		return false, z.macErr
	}
	if vni != 10 {
		return false, errors.New("asked for the wrong VNI")
	}
	return z.holdAfter >= 0 && z.k.readds() >= z.holdAfter, nil
}

// opsKernel records what Advertised applies.
type opsKernel struct{ ops []kernel.Op }

func (k *opsKernel) Observe([]string, []string) (kernel.State, error) { return kernel.State{}, nil }
func (k *opsKernel) Apply(ops []kernel.Op) (int, error) {
	k.ops = append(k.ops, ops...)
	return len(ops), nil
}
func (k *opsKernel) readds() int { return len(k.ops) / 2 }

var fastTiming = AdvertiseTiming{Readd: 20 * time.Millisecond, Within: 200 * time.Millisecond, Poll: time.Millisecond}

func TestAdvertised(t *testing.T) {
	in := checkIntent(t)
	bridged := Attachment{ID: "a", Network: "red/web", Mode: ModeBridged, Interface: "vnet1", MAC: "02:00:00:00:00:01", IPs: []string{"10.1.10.50"}}
	routed := bridged
	routed.Mode = ModeRouted
	for _, c := range []struct {
		name      string
		a         Attachment
		z         fakeZebra
		readds    int
		asks      bool
		errSubstr string
	}{
		{name: "routed, zebra has the route", a: routed, z: fakeZebra{version: "10.3", holdAfter: 0}, asks: true},
		{name: "routed, route dropped once: added again", a: routed, z: fakeZebra{version: "10.3", holdAfter: 1}, readds: 1, asks: true},
		{name: "routed, never taken", a: routed, z: fakeZebra{version: "10.3", holdAfter: -1}, readds: -1, asks: true,
			errSubstr: "zebra lacks the route 10.1.10.50/32 dev vnet1 in VRF red after"},
		{name: "routed on FRR 8.4: nothing asked", a: routed, z: fakeZebra{version: "8.4.4", holdAfter: -1}},
		{name: "FRR 8.4: no defect, nothing asked", a: bridged, z: fakeZebra{version: "8.4.4", holdAfter: -1}},
		{name: "FRR 10.5: fixed, nothing asked", a: bridged, z: fakeZebra{version: "10.5.0", holdAfter: -1}},
		{name: "10.3, zebra holds it", a: bridged, z: fakeZebra{version: "10.3", holdAfter: 0}, asks: true},
		{name: "10.3, dropped once: added again", a: bridged, z: fakeZebra{version: "10.3", holdAfter: 1}, readds: 1, asks: true},
		{name: "version unknown: checked", a: bridged, z: fakeZebra{versionErr: errors.New("no vtysh"), holdAfter: 0}, asks: true},
		{name: "never held: error naming the MAC and VNI", a: bridged, z: fakeZebra{version: "10.4.1", holdAfter: -1}, readds: -1, asks: true,
			errSubstr: "zebra lacks the MAC 02:00:00:00:00:01 of vnet1 as local on VNI 10 after"},
		{name: "zebra cannot be asked", a: bridged, z: fakeZebra{version: "10.3", macErr: errors.New("vtysh: connection refused")}, asks: true,
			errSubstr: "ask zebra for the MAC 02:00:00:00:00:01 of vnet1 as local on VNI 10: vtysh: connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := &opsKernel{}
			z := c.z
			z.k = k
			n, err := Advertised(context.Background(), k, &z, in, c.a, fastTiming)
			if c.errSubstr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if c.errSubstr != "" && (err == nil || !strings.Contains(err.Error(), c.errSubstr)) {
				t.Fatalf("error %v, want one containing %q", err, c.errSubstr)
			}
			if c.readds >= 0 && n != c.readds {
				t.Errorf("%d re-adds, want %d", n, c.readds)
			}
			if c.readds < 0 && n < 2 {
				t.Errorf("%d re-adds within %s, want one every %s", n, fastTiming.Within, fastTiming.Readd)
			}
			if got := len(z.asked) > 0; got != c.asks {
				t.Errorf("zebra asked: %v, want %v", got, c.asks)
			}
			if n != k.readds() {
				t.Fatalf("returned %d re-adds, applied %d", n, k.readds())
			}
			// Each re-add: delete, then add, of this workload's static
			// FDB entry (bridged) or host route (routed).
			for i := 0; i < len(k.ops); i += 2 {
				del, add := k.ops[i], k.ops[i+1]
				if del.Action != kernel.ActDelete || add.Action != kernel.ActAdd {
					t.Fatalf("re-add %d: %v, %v; want a delete and an add", i/2, del, add)
				}
				if c.a.Mode == ModeRouted {
					if del.Route == nil || add.Route == nil || *del.Route != *add.Route || add.Route.Dev != "vnet1" || add.Route.Dst != netip.MustParsePrefix("10.1.10.50/32") {
						t.Fatalf("re-add %d: %v, %v; want the host route of 10.1.10.50 on vnet1", i/2, del, add)
					}
					continue
				}
				want := kernel.FDB{Dev: "vnet1", MAC: "02:00:00:00:00:01", VLAN: 10}
				if del.FDB == nil || add.FDB == nil || *del.FDB != want || *add.FDB != want {
					t.Fatalf("re-add %d: %v, %v; want delete and add of %+v", i/2, del, add, want)
				}
			}
		})
	}
}

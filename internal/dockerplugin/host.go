package dockerplugin

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/policy/enforce"
)

// linuxHost is the Host of a real machine: veths through internal/linux,
// the host side through the attachment fast path (attach.Converge), the
// policy through enforce.Attached, as the CNI plugin does.
type linuxHost struct {
	stateDir, frrInstance string
	log                   *slog.Logger
}

// NewHost is the Host of the network namespace the process runs in; log
// gets what Plug repaired or could not (nil: slog's default).
func NewHost(stateDir, frrInstance string, log *slog.Logger) Host {
	if log == nil {
		log = slog.Default()
	}
	return &linuxHost{stateDir: stateDir, frrInstance: frrInstance, log: log}
}

func (h *linuxHost) Plug(in *api.Intent, a attach.Attachment, mtu int) (retErr error) {
	k, err := linux.Open()
	if err != nil {
		return err
	}
	defer k.Close()
	mac, err := net.ParseMAC(a.MAC)
	if err != nil {
		return fmt.Errorf("MAC %q: %v", a.MAC, err)
	}
	// A veth of this endpoint's names is a leftover of an earlier Join
	// (the names are recorded for this endpoint only).
	for _, name := range []string{a.Interface, a.Peer} {
		if isVeth, err := k.IsVeth(name); err != nil {
			return err
		} else if isVeth {
			if _, err := k.DeleteLink(name); err != nil {
				return fmt.Errorf("remove stale %s: %w", name, err)
			}
		}
	}
	if err := k.CreateVeth(a.Interface, a.Peer, mac, mtu); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_, _ = k.DeleteLink(a.Interface)
		}
	}()
	if a.Mode == attach.ModeBridged {
		// A bridge port needs no IPv6 of its own (no RS/MLD into the segment).
		_ = linux.WriteSysctl("net/ipv6/conf/"+a.Interface+"/disable_ipv6", "1")
	}
	// Policy first: the port is filtered before it joins the bridge or
	// the VRF, and a policy that cannot be enforced leaves it out.
	if err := enforce.Attached(h.stateDir, h.frrInstance, in); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if _, err := attach.Converge(k, in, a, true); err != nil {
		return fmt.Errorf("host side: %w", err)
	}
	// zebra 10.3/10.4 can miss the FDB entry just written
	// (frr.FDBRaceIssue). Not the Join's error: the kernel side is
	// complete and bridged traffic works. Bridged only: a routed
	// endpoint's host route is not selected until Docker has moved the
	// peer into the container and brought it up, after Join returns
	// (asked here, zebra lacks it for the whole 10 s).
	if a.Mode != attach.ModeBridged {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := attach.Advertised(ctx, k, frrctl.NewInstance(h.frrInstance), in, a, attach.DefaultAdvertiseTiming)
	switch {
	case err != nil:
		h.log.Error("the endpoint is not advertised", "op", "fdb-readd", "interface", a.Interface, "mac", a.MAC, "cause", err)
	case n > 0:
		h.log.Warn("zebra had missed the endpoint's FDB entry: written again, zebra has it now", "op", "fdb-readd", "interface", a.Interface, "mac", a.MAC, "readds", n, "defect", frr.FDBRaceIssue)
	}
	return nil
}

func (h *linuxHost) Unplug(in *api.Intent, a attach.Attachment) error {
	k, err := linux.Open()
	if err != nil {
		return err
	}
	defer k.Close()
	var first error
	if isVeth, err := k.IsVeth(a.Interface); err != nil {
		first = err
	} else if isVeth {
		if _, err := attach.Converge(k, in, a, false); err != nil {
			first = fmt.Errorf("host side: %w", err)
		}
	}
	for _, name := range []string{a.Interface, a.Peer} {
		if isVeth, err := k.IsVeth(name); err == nil && isVeth {
			if _, err := k.DeleteLink(name); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (h *linuxHost) Gateway(a attach.Attachment) error {
	k, err := linux.Open()
	if err != nil {
		return err
	}
	defer k.Close()
	hostMAC, err := k.LinkMAC(a.Interface)
	if err != nil {
		return fmt.Errorf("host end %s: %w", a.Interface, err)
	}
	mac, err := net.ParseMAC(a.MAC)
	if err != nil {
		return err
	}
	var hops []netip.Addr
	v4, v6 := false, false
	for _, ip := range a.Addrs() {
		v4, v6 = v4 || ip.Is4(), v6 || ip.Is6()
	}
	if v4 {
		hops = append(hops, RoutedGW4)
	}
	if v6 {
		hops = append(hops, RoutedGW6)
	}
	return linux.SetNeighborsAt(a.Sandbox, mac, hops, hostMAC)
}

func (h *linuxHost) Enforce(in *api.Intent) error {
	return enforce.Attached(h.stateDir, h.frrInstance, in)
}

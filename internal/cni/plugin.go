package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/policy/enforce"
)

// Routed containers reach the host through these next hops: a permanent
// neighbor entry inside the container maps them to the MAC of the host
// end of the veth (the host needs no proxy ARP and no address on it).
var (
	RoutedGW4 = netip.MustParseAddr("169.254.1.1")
	RoutedGW6 = netip.MustParseAddr("fe80::1")
)

// Funcs are the plugin's commands for skel.PluginMainFuncs.
func Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: Add, Del: Del, Check: Check, GC: GC, Status: Status}
}

func internal(format string, args ...any) *types.Error {
	return types.NewError(types.ErrInternal, fmt.Sprintf(format, args...), "")
}

func openNetns(path string) (ns.NetNS, error) {
	if path == "" {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, "CNI_NETNS: missing", "")
	}
	n, err := ns.GetNS(path)
	if err != nil {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("CNI_NETNS: %v", err), "")
	}
	return n, nil
}

// ipamError keeps the IPAM plugin's error code and names the field.
func ipamError(conf *NetConf, err error) error {
	var te *types.Error
	if errors.As(err, &te) {
		return types.NewError(te.Code, fmt.Sprintf("field \"ipam\": %s plugin: %s", conf.IPAM.Type, te.Msg), te.Details)
	}
	return fieldError("ipam", "%s plugin: %v", conf.IPAM.Type, err)
}

// Add attaches a container: IPAM, veth, container addresses and routes,
// the attachment record, then the host side (fast path, no FRR reload).
func Add(args *skel.CmdArgs) (retErr error) {
	conf, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	in, network, err := conf.ResolveNetwork()
	if err != nil {
		return err
	}
	netns, err := openNetns(args.Netns)
	if err != nil {
		return err
	}
	defer netns.Close()
	k, store, unlock, err := openHost(conf)
	if err != nil {
		return err
	}
	defer k.Close()
	defer unlock()

	// Addresses: from the IPAM plugin, else from the previous plugin of a
	// chain. An allocation is released when a later step fails.
	var ipamRes *current.Result
	if conf.IPAM.Type != "" {
		r, err := ipam.ExecAdd(conf.IPAM.Type, args.StdinData)
		if err != nil {
			return ipamError(conf, err)
		}
		defer func() {
			if retErr != nil {
				if err := ipam.ExecDel(conf.IPAM.Type, args.StdinData); err != nil {
					fmt.Fprintf(os.Stderr, "evpnhost-cni: releasing the IPAM allocation: %v\n", err)
				}
			}
		}()
		if ipamRes, err = current.NewResultFromResult(r); err != nil {
			return ipamError(conf, err)
		}
	}
	var prev *current.Result
	if conf.PrevResult != nil {
		if prev, err = current.NewResultFromResult(conf.PrevResult); err != nil {
			return types.NewError(types.ErrDecodingFailure, "field \"prevResult\": "+err.Error(), "")
		}
	}
	var ipcs []*current.IPConfig
	switch {
	case ipamRes != nil:
		ipcs = ipamRes.IPs
	case prev != nil:
		ipcs = prev.IPs
	}
	var addrs []netip.Prefix
	for _, c := range ipcs {
		a, ok := netip.AddrFromSlice(c.Address.IP)
		if !ok {
			continue
		}
		ones, _ := c.Address.Mask.Size()
		addrs = append(addrs, netip.PrefixFrom(a.Unmap(), ones))
	}
	if err := checkAttachment(in, store, candidate(conf, args, addrs)); err != nil {
		return err
	}

	recs, err := store.List()
	if err != nil {
		return internal("%v", err)
	}
	id := attach.CNIID(args.ContainerID, args.IfName)
	hostName, err := pickHostIfName(recs, id, args.ContainerID, args.IfName)
	if err != nil {
		return internal("%v", err)
	}
	// A leftover of an earlier ADD of this container (recorded for it, or
	// by nobody: see veth.go) is ours to remove; another container's veth
	// never gets this name.
	if _, err := k.DeleteLink(hostName); err != nil {
		return internal("remove stale %s: %v", hostName, err)
	}
	hostNS, err := ns.GetCurrentNS()
	if err != nil {
		return internal("%v", err)
	}
	defer hostNS.Close()
	var hostIf, contIf net.Interface
	if err := netns.Do(func(ns.NetNS) error {
		var err error
		hostIf, contIf, err = ip.SetupVethWithName(args.IfName, hostName, network.MTU, "", hostNS)
		return err
	}); err != nil {
		return internal("veth %s/%s: %v", hostName, args.IfName, err)
	}
	defer func() {
		if retErr != nil {
			// By the ifindex we created, in case the name moved on.
			_, _ = k.DeleteLinkIndex(hostIf.Index, hostName)
		}
	}()
	if conf.Mode == attach.ModeBridged {
		// A bridge port needs no IPv6 of its own (no RS/MLD into the segment).
		_ = linux.WriteSysctl("net/ipv6/conf/"+hostName+"/disable_ipv6", "1")
	}
	w, routes := containerSide(conf.Mode, addrs, network, hostIf.HardwareAddr)
	if err := netns.Do(func(ns.NetNS) error { return linux.ConfigureWorkload(args.IfName, w) }); err != nil {
		return internal("container %s: %v", args.IfName, err)
	}

	a := attach.Attachment{
		ID: id, Owner: attach.OwnerCNI, Network: conf.Network, Mode: conf.Mode,
		Interface: hostName, MAC: contIf.HardwareAddr.String(), ContainerID: args.ContainerID, IfName: args.IfName,
		Netns: args.Netns, CNINetwork: conf.Name,
	}
	for _, p := range addrs {
		a.IPs = append(a.IPs, p.Addr().String())
	}
	if err := store.Put(a); err != nil {
		return internal("%v", err)
	}
	defer func() {
		if retErr != nil {
			_ = store.Delete(a.ID)
		}
	}()
	// Policy first: the port is filtered before it joins the bridge (or
	// the VRF), and a policy that cannot be enforced leaves it out.
	if err := enforce.Attached(conf.StateDirectory(), conf.FRRInstance, in); err != nil {
		return internal("policy: %v", err)
	}
	if _, err := attach.Converge(k, in, a, true); err != nil {
		return internal("host side: %v", err)
	}
	advertised(k, conf.FRRInstance, in, a)

	res := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	if prev != nil {
		res = prev
	}
	res.Interfaces = append(res.Interfaces,
		&current.Interface{Name: hostName, Mac: hostIf.HardwareAddr.String()},
		&current.Interface{Name: args.IfName, Mac: contIf.HardwareAddr.String(), Sandbox: args.Netns})
	idx := len(res.Interfaces) - 1
	if ipamRes != nil {
		res.IPs = append(res.IPs, ipamRes.IPs...)
		if !ipamRes.DNS.IsEmpty() {
			res.DNS = ipamRes.DNS
		}
	}
	for _, c := range ipcs {
		c.Interface = current.Int(idx)
		if conf.Mode == attach.ModeRouted {
			bits := 32
			if c.Address.IP.To4() == nil {
				bits = 128
			}
			c.Address.Mask = net.CIDRMask(bits, bits)
			c.Gateway = nil
		} else if a, ok := netip.AddrFromSlice(c.Address.IP); ok {
			if gw, ok := gatewayFor(network, a.Unmap()); ok {
				c.Gateway = gw.AsSlice()
			}
		}
	}
	res.Routes = append(res.Routes, routes...)
	return types.PrintResult(res, conf.CNIVersion)
}

// containerSide is what the container's interface gets: addresses (routed:
// host prefixes), one default route per family (bridged: via the anycast
// gateway of the address's subnet; routed: via RoutedGW4/6, resolved by
// permanent neighbors to the host end's MAC), and the routes for the CNI
// result. linux.ConfigureWorkload sets it inside the container's namespace.
func containerSide(mode string, addrs []netip.Prefix, n attach.Network, hostMAC net.HardwareAddr) (linux.Workload, []*types.Route) {
	var w linux.Workload
	var routes []*types.Route
	done := map[bool]bool{} // default route per family (is4)
	for _, a := range addrs {
		p := a
		if mode == attach.ModeRouted {
			p = netip.PrefixFrom(a.Addr(), a.Addr().BitLen())
		}
		w.Addrs = append(w.Addrs, p)
		is4 := p.Addr().Is4()
		if done[is4] {
			continue
		}
		done[is4] = true
		def := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		if is4 {
			def = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		r := linux.WorkloadRoute{Dst: def}
		if mode == attach.ModeRouted {
			r.Via, r.MAC = RoutedGW6, hostMAC
			if is4 {
				r.Via, r.Onlink = RoutedGW4, true
			}
		} else {
			var ok bool
			if r.Via, ok = gatewayFor(n, a.Addr()); !ok {
				continue
			}
		}
		w.Routes = append(w.Routes, r)
		routes = append(routes, &types.Route{Dst: *ipNet(def), GW: r.Via.AsSlice()})
	}
	return w, routes
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// openHost opens netlink on the host and the attachment store, locked
// against concurrent ADD/DEL/GC and reconciles. The caller closes k and
// calls unlock.
func openHost(conf *NetConf) (k *linux.Netlink, store *attach.Store, unlock func(), err error) {
	k, err = linux.Open()
	if err != nil {
		return nil, nil, nil, internal("%v", err)
	}
	store = attach.Open(conf.StateDirectory())
	unlock, err = store.Lock()
	if err != nil {
		k.Close()
		return nil, nil, nil, internal("%v", err)
	}
	return k, store, unlock, nil
}

// Del detaches a container. It is idempotent: a missing record, netns,
// veth or network is not an error.
func Del(args *skel.CmdArgs) error {
	conf, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	k, store, unlock, err := openHost(conf)
	if err != nil {
		return err
	}
	defer k.Close()
	defer unlock()
	id := attach.CNIID(args.ContainerID, args.IfName)
	rec, ok, err := store.Get(id)
	if err != nil {
		return internal("%v", err)
	}
	if ok {
		remove(k, conf.StateDirectory(), rec)
	} else {
		// No record: delete the veth an interrupted ADD may have left,
		// but never a name another container's record holds.
		recs, err := store.List()
		if err != nil {
			return internal("%v", err)
		}
		for _, host := range orphanNames(recs, args.ContainerID, args.IfName) {
			if _, err := k.DeleteLink(host); err != nil {
				return internal("delete %s: %v", host, err)
			}
		}
	}
	if conf.IPAM.Type != "" {
		if err := ipam.ExecDel(conf.IPAM.Type, args.StdinData); err != nil {
			return ipamError(conf, err)
		}
	}
	return nil
}

// hostKernel is what DEL and GC need of the host's kernel
// (linux.Netlink): the fast path and deleting the veth.
type hostKernel interface {
	attach.Kernel
	DeleteLink(name string) (existed bool, err error)
}

// remove undoes one attachment: its neighbor entries and routes, the veth
// (both ends), the record. Failures of the first step are logged: the
// veth's removal takes the port, FDB entry and routes with it anyway.
func remove(k hostKernel, stateDir string, rec attach.Attachment) {
	if in, err := attach.LoadIntent(stateDir); err == nil {
		if _, err := attach.Converge(k, in, rec, false); err != nil {
			fmt.Fprintf(os.Stderr, "evpnhost-cni: detach %s: %v\n", rec.ID, err)
		}
	}
	if _, err := k.DeleteLink(rec.Interface); err != nil {
		fmt.Fprintf(os.Stderr, "evpnhost-cni: delete %s: %v\n", rec.Interface, err)
	}
	if err := attach.Open(stateDir).Delete(rec.ID); err != nil {
		fmt.Fprintf(os.Stderr, "evpnhost-cni: %v\n", err)
	}
}

// Check reports drift: the record, the host side (port, VLAN or VRF, FDB,
// neighbors, routes) and the container side (interface, MAC, addresses).
func Check(args *skel.CmdArgs) error {
	conf, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	in, network, err := conf.ResolveNetwork()
	if err != nil {
		return err
	}
	drift := func(format string, a ...any) error {
		return types.NewError(ErrDrift, "drift: "+fmt.Sprintf(format, a...), "")
	}
	rec, ok, err := attach.Open(conf.StateDirectory()).Get(attach.CNIID(args.ContainerID, args.IfName))
	if err != nil {
		return internal("%v", err)
	}
	if !ok {
		return drift("no attachment recorded for container %s interface %s", args.ContainerID, args.IfName)
	}
	if rec.Network != conf.Network || rec.Mode != conf.Mode {
		return drift("attached to %s (%s), configured %s (%s)", rec.Network, rec.Mode, conf.Network, conf.Mode)
	}
	k, err := linux.Open()
	if err != nil {
		return internal("%v", err)
	}
	defer k.Close()
	if msg := hostDrift(k, in, rec, network.Ref); msg != "" {
		return drift("%s", msg)
	}
	netns, err := openNetns(args.Netns)
	if err != nil {
		return err
	}
	defer netns.Close()
	if err := netns.Do(func(ns.NetNS) error {
		mac, have, err := linux.WorkloadInterface(args.IfName)
		if err != nil {
			return err
		}
		if got := mac.String(); got != rec.MAC {
			return fmt.Errorf("interface %s has MAC %s, attached with %s", args.IfName, got, rec.MAC)
		}
		for _, want := range rec.Addrs() {
			if !slices.Contains(have, want.Unmap()) {
				return fmt.Errorf("interface %s lacks address %s", args.IfName, want)
			}
		}
		return nil
	}); err != nil {
		return drift("container side: %v", err)
	}
	if conf.IPAM.Type != "" {
		if err := ipam.ExecCheck(conf.IPAM.Type, args.StdinData); err != nil {
			return ipamError(conf, err)
		}
	}
	return nil
}

// hostDrift describes how the host side of rec differs from what the
// fast path would make of it; "" when it is in place.
func hostDrift(k attach.Kernel, in *api.Intent, rec attach.Attachment, ref string) string {
	p, err := attach.Pending(k, in, rec, true)
	if err != nil {
		return fmt.Sprintf("host side: %v", err)
	}
	if p.Len() == 0 {
		return ""
	}
	var ops []string
	for _, op := range p.Ops() {
		ops = append(ops, op.String())
	}
	return fmt.Sprintf("host side of %s (%s) needs: %s", rec.Interface, ref, strings.Join(ops, "; "))
}

// GC removes the attachments of this CNI network that are not in the
// runtime's list of valid attachments, then lets the IPAM plugin collect.
func GC(args *skel.CmdArgs) error {
	conf, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	k, store, unlock, err := openHost(conf)
	if err != nil {
		return err
	}
	defer k.Close()
	list, err := store.List()
	if err != nil {
		unlock()
		return internal("%v", err)
	}
	for _, rec := range list {
		if rec.Owner != attach.OwnerCNI || rec.CNINetwork != conf.Name {
			continue
		}
		valid := slices.ContainsFunc(conf.ValidAttachments, func(v types.GCAttachment) bool {
			return v.ContainerID == rec.ContainerID && v.IfName == rec.IfName
		})
		if !valid {
			fmt.Fprintf(os.Stderr, "evpnhost-cni: gc: removing %s (container %s, %s)\n", rec.ID, rec.ContainerID, rec.Interface)
			remove(k, conf.StateDirectory(), rec)
		}
	}
	unlock()
	if conf.IPAM.Type != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := invoke.DelegateGC(ctx, conf.IPAM.Type, args.StdinData, nil); err != nil {
			return ipamError(conf, err)
		}
	}
	return nil
}

// Status tells whether ADD can work: evpnhost applied an intent with the
// network, its bridge exists, and the IPAM plugin is ready.
func Status(args *skel.CmdArgs) error {
	conf, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if _, _, err := conf.ResolveNetwork(); err != nil {
		return err
	}
	k, err := linux.Open()
	if err != nil {
		return internal("%v", err)
	}
	defer k.Close()
	obs, err := k.Observe(nil, nil)
	if err != nil {
		return internal("%v", err)
	}
	if _, ok := obs.Link(kernel.BridgeName); !ok {
		return types.NewError(types.ErrPluginNotAvailable, "bridge "+kernel.BridgeName+" does not exist: run evpnhost apply", "")
	}
	if conf.IPAM.Type != "" {
		if err := ipam.ExecStatus(conf.IPAM.Type, args.StdinData); err != nil {
			return ipamError(conf, err)
		}
	}
	return nil
}

// advertised checks that zebra took the attachment's FDB entry (bridged)
// or host routes (routed) and writes them again if not
// (attach.Advertised, frr.FDBRaceIssue). A failure is reported on stderr
// (the runtime logs it), not as the ADD's error: the kernel side is
// complete and local traffic works.
func advertised(k attach.Kernel, frrInstance string, in *api.Intent, a attach.Attachment) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := attach.Advertised(ctx, k, frrctl.NewInstance(frrInstance), in, a, attach.DefaultAdvertiseTiming)
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "evpnhost-cni: %s: %v\n", a.ID, err)
	case n > 0:
		fmt.Fprintf(os.Stderr, "evpnhost-cni: %s: zebra had missed the FDB entry or host routes of %s (%s): written again %d times, zebra has them now\n", a.ID, a.Interface, frr.FDBRaceIssue, n)
	}
}

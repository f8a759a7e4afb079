package cni

import (
	"net/netip"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
)

// candidate is the attachment ADD is about to make, as far as the checks
// need it (before the veth exists).
func candidate(conf *NetConf, args *skel.CmdArgs, addrs []netip.Prefix) attach.Attachment {
	a := attach.Attachment{
		ID: attach.CNIID(args.ContainerID, args.IfName), Owner: attach.OwnerCNI, Network: conf.Network, Mode: conf.Mode,
		Interface: attach.HostIfName(args.ContainerID, args.IfName), ContainerID: args.ContainerID, IfName: args.IfName,
	}
	for _, p := range addrs {
		a.IPs = append(a.IPs, p.Addr().String())
	}
	return a
}

// checkAttachment refuses an ADD whose host end is a name evpnhost owns or
// the intent uses (attach.CheckInterface) or whose addresses collide with
// the network, a gateway, a workload or another recorded attachment, or
// are unusable (attach.CheckAddrs, the same check as `evpnhost attach`).
// The caller holds the state directory's lock.
func checkAttachment(in *api.Intent, store *attach.Store, a attach.Attachment) error {
	if len(a.IPs) == 0 {
		return fieldError("ipam", "no address: configure an IPAM plugin or chain after one")
	}
	if err := attach.CheckInterface(in, a.Interface); err != nil {
		return internal("host end of the veth: %v", err)
	}
	atts, err := store.List()
	if err != nil {
		return internal("%v", err)
	}
	if err := attach.CheckAddrs(in, atts, a); err != nil {
		return fieldError("ipam", "%v", err)
	}
	return nil
}

package plan

import (
	"fmt"
	"slices"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// ReservedInterface says why iface may not be the interface of a run-time
// attachment (the CNI plugin, `evpnhost attach`), "" when it may. Reserved
// are every device the plan of in builds (the bridge, the VRFs, VXLAN
// devices and SVIs, the multicast termination device), the loopback, the
// host's uplinks and the interfaces of the intent's workloads: enslaving
// one of them into the bridge or a VRF would make every reconcile replace
// evpnhost's own device by a port, or cut the host's BGP sessions.
//
// The device names come from Build(in), not from a copy of the naming
// rules, so a device the plan adds is reserved as well.
func ReservedInterface(in *api.Intent, iface string) string {
	return reserved(in, Build(in).Kernel.Links, iface)
}

// reserved is ReservedInterface given the links the plan of in builds
// (build passes its own, before the attachments are added).
func reserved(in *api.Intent, links []kernel.Link, iface string) string {
	for _, w := range in.Workloads {
		if w.Interface == iface {
			return fmt.Sprintf("interface %s is the interface of the intent's workload %s", iface, w.Name)
		}
	}
	if slices.Contains(in.Host.Uplinks, iface) {
		return fmt.Sprintf("interface %s is a host uplink", iface)
	}
	switch iface {
	case MulticastDev:
		return fmt.Sprintf("interface %s is the host's loopback (it carries the VTEP address)", iface)
	case TermDev:
		return fmt.Sprintf("interface %s is evpnhost's multicast termination device", iface)
	case kernel.BridgeName:
		return fmt.Sprintf("interface %s is evpnhost's bridge", iface)
	}
	for _, l := range links {
		if l.Name != iface {
			continue
		}
		switch l.Kind {
		case kernel.KindBridge:
			return fmt.Sprintf("interface %s is evpnhost's bridge", iface)
		case kernel.KindVRF:
			return fmt.Sprintf("interface %s is the VRF of tenant %s", iface, iface)
		case kernel.KindVXLAN:
			if l.VNIFilter {
				return fmt.Sprintf("interface %s is evpnhost's single VXLAN device", iface)
			}
			return fmt.Sprintf("interface %s is evpnhost's VXLAN device of VNI %d", iface, l.VNI)
		case kernel.KindVLAN:
			return fmt.Sprintf("interface %s is evpnhost's SVI of VLAN %d", iface, l.VLANID)
		case kernel.KindDummy:
			return fmt.Sprintf("interface %s is evpnhost's multicast termination device", iface)
		case kernel.KindPort:
			// A workload's port: named by the loop above.
		default:
			return fmt.Sprintf("interface %s is a device of evpnhost (%s)", iface, l.Kind)
		}
	}
	return ""
}

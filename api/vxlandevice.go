package api

import (
	"fmt"
	"strings"
)

// The values of host.vxlanDevice: how VNIs map to VXLAN devices.
const (
	// VXLANSingle is one VXLAN device for every VNI (`external vnifilter`,
	// VLAN-to-VNI maps on the bridge port): up to 4094 VNIs, L3VNIs
	// included. It needs FRR >= 9 and a kernel with vnifilter (>= 5.18).
	VXLANSingle = "single"
	// VXLANPerVNI is one VXLAN device per VNI, each a port of the bridge:
	// at most MaxBridgePorts VNIs and workloads. Every FRR version.
	VXLANPerVNI = "per-vni"
)

// MaxVLANs is the number of usable VLANs of the bridge (1-4094): with the
// single VXLAN device, networks and L3VNIs each take one.
const MaxVLANs = 4094

// Facts are what the default of host.vxlanDevice depends on, gathered by
// the reconcile layer (FRR's version from vtysh, vnifilter from the
// kernel, the mode of the VXLAN devices the host has now).
type Facts struct {
	// FRRVersion is FRR's version as `show version` prints it ("8.4.4",
	// "10.3"); "" when unknown. FRRMajor is its major number, 0 unknown.
	FRRVersion string
	FRRMajor   int
	// VNIFilter reports whether the kernel has VXLAN VNI filtering;
	// VNIFilterWhy says how that was found.
	VNIFilter    bool
	VNIFilterWhy string
	// Current is the mode of the VXLAN devices evpnhost has on the host
	// now: VXLANSingle, VXLANPerVNI, or "" (none).
	Current string
}

// Resolution is the mode in use and why.
type Resolution struct {
	Mode string
	Why  string
}

func (r Resolution) String() string { return r.Mode + " (" + r.Why + ")" }

// frrLabel names FRR's version in messages.
func (f Facts) frrLabel() string {
	if f.FRRVersion == "" {
		return "FRR of unknown version"
	}
	return "FRR " + f.FRRVersion
}

// ResolveVXLANDevice is the vxlanDevice mode of in given the facts: the
// intent's value when set, otherwise single where FRR >= 9 and the kernel
// has vnifilter and per-vni elsewhere. Two facts keep an unset field on
// per-vni even then: a host that runs per-vni devices now stays on them
// (moving is a replace with an outage: set the field to ask for it), and
// networks using what only per-VNI devices carry (ARP suppression off,
// multicast replication). It is pure; CheckVXLANDevice says whether the
// result can work.
func ResolveVXLANDevice(in *Intent, f Facts) Resolution {
	switch in.Host.VXLANDevice {
	case VXLANSingle, VXLANPerVNI:
		return Resolution{in.Host.VXLANDevice, "host.vxlanDevice"}
	}
	switch {
	case f.FRRMajor < 9:
		return Resolution{VXLANPerVNI, "default: " + f.frrLabel() + " has no single VXLAN device support (FRR >= 9 has)"}
	case !f.VNIFilter:
		return Resolution{VXLANPerVNI, "default: the kernel has no VXLAN vnifilter (" + f.VNIFilterWhy + ")"}
	}
	if why := singleUnsupported(in); why != "" {
		return Resolution{VXLANPerVNI, "default: " + why + ", which only per-VNI devices carry"}
	}
	if f.Current == VXLANPerVNI {
		return Resolution{VXLANPerVNI, "default: the host runs per-VNI VXLAN devices; set host.vxlanDevice: single to move it (a planned replace)"}
	}
	return Resolution{VXLANSingle, "default: " + f.frrLabel() + " >= 9 and the kernel has vnifilter"}
}

// singleUnsupported names the first network that needs a VXLAN device of
// its own, or "".
func singleUnsupported(in *Intent) string {
	for _, t := range in.Tenants {
		for _, n := range t.Networks {
			if !n.Suppress() {
				return fmt.Sprintf("network %s/%s has arpSuppression: false", t.Name, n.Name)
			}
			if n.Group().IsValid() {
				return fmt.Sprintf("network %s/%s uses multicast replication", t.Name, n.Name)
			}
		}
	}
	return ""
}

// CheckVXLANDevice reports why mode (a resolved one) cannot carry in on a
// host with facts f, as a *ValidationError naming host.vxlanDevice, or
// nil. Validate checks what it can without facts.
func CheckVXLANDevice(in *Intent, mode string, f Facts) error {
	var v validator
	if mode == VXLANSingle {
		if f.FRRMajor != 0 && f.FRRMajor < 9 {
			v.add("host.vxlanDevice", "single needs FRR >= 9 (single VXLAN device support); this host runs FRR %s", f.FRRVersion)
		} else if f.FRRMajor == 0 {
			v.add("host.vxlanDevice", "single needs FRR >= 9, and FRR's version could not be read")
		}
		if !f.VNIFilter {
			v.add("host.vxlanDevice", "single needs a kernel with VXLAN vnifilter (Linux >= 5.18): %s", f.VNIFilterWhy)
		}
	}
	v.vxlanLimits(in, mode)
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

// vxlanDevice checks host.vxlanDevice and what the mode it names allows;
// with the field unset (resolved at apply time) only the limits of both
// modes that every intent must meet.
func (v *validator) vxlanDevice(in *Intent) {
	switch m := in.Host.VXLANDevice; m {
	case "", VXLANSingle, VXLANPerVNI:
	default:
		v.add("host.vxlanDevice", "%s is not a VXLAN device mode: single (one device for all VNIs, FRR >= 9) or per-vni (one device per VNI)", quote(m))
		return
	}
	if in.Host.VXLANDevice == VXLANSingle {
		for i, t := range in.Tenants {
			for j, n := range t.Networks {
				p := idx(idx("tenants", i)+".networks", j)
				if !n.Suppress() {
					v.add(p+".arpSuppression", "false needs host.vxlanDevice: per-vni (the single VXLAN device suppresses ARP/ND on every VLAN)")
				}
				if n.Group().IsValid() {
					v.add(p+".replication", "multicast needs host.vxlanDevice: per-vni (evpnhost gives the single VXLAN device ingress replication only)")
				}
			}
		}
	}
	v.vxlanLimits(in, in.Host.VXLANDevice)
}

// vxlanLimits checks the scale limit of mode ("": the VLAN limit only,
// which holds in both modes).
func (v *validator) vxlanLimits(in *Intent, mode string) {
	vnis, ports := 0, len(in.Workloads)
	for _, t := range in.Tenants {
		vnis += 1 + len(t.Networks)
	}
	if vnis > MaxVLANs {
		v.add("tenants", "%d VNIs (networks and L3VNIs) need %d bridge VLANs; a bridge has %d (VLANs 1-%d)", vnis, vnis, MaxVLANs, MaxVLANs)
	}
	switch mode {
	case VXLANSingle:
		ports++ // the one VXLAN device
		if ports > MaxBridgePorts {
			v.add("workloads", "%d workloads and the VXLAN device need %d ports on the bridge; a Linux bridge holds at most %d", len(in.Workloads), ports, MaxBridgePorts)
		}
	case VXLANPerVNI:
		ports += vnis
		if ports > MaxBridgePorts {
			v.add("tenants", "%d VNIs and workloads need %d ports on the bridge; a Linux bridge holds at most %d "+
				"(host.vxlanDevice per-vni: one VXLAN device per VNI; single carries up to %d VNIs on one device, with FRR >= 9)",
				ports, ports, MaxBridgePorts, MaxVLANs)
		}
	}
}

// modes lists the valid values, for help texts.
func VXLANDeviceModes() string { return strings.Join([]string{VXLANSingle, VXLANPerVNI}, ", ") }

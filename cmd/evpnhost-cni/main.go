// Command evpnhost-cni is the evpnhost CNI plugin (spec 1.1; VERSION also
// answers 0.4.0 and 1.0.0): it attaches containers to evpnhost networks,
// bridged or routed. See docs/workloads.md.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/evpnhost/evpnhost/internal/cni"
)

func main() {
	skel.PluginMainFuncs(cni.Funcs(), cni.SupportedVersions,
		"evpnhost-cni: attaches containers to evpnhost EVPN networks (bridged or routed); see docs/workloads.md")
}

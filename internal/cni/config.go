// Package cni is the evpnhost CNI plugin (cmd/evpnhost-cni): it attaches
// containers to evpnhost networks, bridged (a veth port on the network's
// VLAN behind the anycast gateway) or routed (a host route in the tenant
// VRF, advertised as an EVPN type-5 route), records each attachment in
// evpnhost's state directory (internal/attach) and converges the host side
// through the same fast path as `evpnhost attach` (no FRR reload).
//
// The veth is created inside the container's network namespace with the
// containernetworking ns and ip packages; this package decides what the
// container's interface carries (containerSide) and internal/linux, the
// only package that talks netlink, sets it there, like everything on the
// host side.
package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
)

// SupportedVersions are the CNI spec versions the plugin speaks.
var SupportedVersions = version.PluginSupports("0.4.0", "1.0.0", "1.1.0")

// Plugin-specific error codes (100+ are free for plugins).
const (
	// ErrDrift: CHECK found the attachment differs from what ADD made.
	ErrDrift uint = 100
)

// NetConf is the plugin's network configuration.
//
//	{"cniVersion":"1.1.0","name":"red-web","type":"evpnhost-cni",
//	 "network":"red/web","mode":"bridged",
//	 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.10.0/24"}]]}}
type NetConf struct {
	types.PluginConf
	// Network is the evpnhost network, "tenant/network" (required).
	Network string `json:"network"`
	// Mode is "bridged" (default) or "routed".
	Mode string `json:"mode,omitempty"`
	// StateDir is evpnhost's state directory (default /var/lib/evpnhost,
	// or /var/lib/evpnhost/<frrInstance>).
	StateDir string `json:"stateDir,omitempty"`
	// FRRInstance is the FRR pathspace evpnhost runs with (--frr-instance):
	// it selects the default state directory and the FRR that ADD asks
	// whether zebra took a bridged workload's MAC (attach.Advertised).
	FRRInstance string `json:"frrInstance,omitempty"`
}

// frrInstanceRe matches FRR pathspace names that are safe as one path
// element (not ".", "..", no "/").
var frrInstanceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// fieldError is an "invalid network config" error naming the field.
func fieldError(field, format string, args ...any) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("field %q: %s", field, fmt.Sprintf(format, args...)), "")
}

// ParseConfig decodes and checks a network configuration. Errors are CNI
// error objects: code 6 for malformed JSON, 7 naming the field otherwise.
func ParseConfig(stdin []byte) (*NetConf, error) {
	conf := &NetConf{}
	if err := json.Unmarshal(stdin, conf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "malformed network configuration: "+err.Error(), "")
	}
	if conf.Network == "" {
		return nil, fieldError("network", "required: the evpnhost network as tenant/network, e.g. \"red/web\"")
	}
	if _, _, ok := api.SplitNetworkRef(conf.Network); !ok {
		return nil, fieldError("network", "%q is not tenant/network", conf.Network)
	}
	switch conf.Mode {
	case "":
		conf.Mode = attach.ModeBridged
	case attach.ModeBridged, attach.ModeRouted:
	default:
		return nil, fieldError("mode", "%q is neither %q nor %q", conf.Mode, attach.ModeBridged, attach.ModeRouted)
	}
	if conf.FRRInstance != "" && !frrInstanceRe.MatchString(conf.FRRInstance) {
		// The name becomes a directory under /var/lib/evpnhost: ".", ".."
		// and anything with "/" would name another one.
		return nil, fieldError("frrInstance", "%q is not an FRR instance name: use A-Z, a-z, 0-9, '-', '_' and '.', start with a letter or digit, at most 63 characters", conf.FRRInstance)
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "field \"prevResult\": "+err.Error(), "")
	}
	return conf, nil
}

// StateDirectory is the evpnhost state directory the configuration names.
func (c *NetConf) StateDirectory() string { return attach.StateDir(c.StateDir, c.FRRInstance) }

// ResolveNetwork loads the intent evpnhost applied last and finds the
// configured network in it.
func (c *NetConf) ResolveNetwork() (*api.Intent, attach.Network, error) {
	in, err := attach.LoadIntent(c.StateDirectory())
	if err != nil {
		return nil, attach.Network{}, types.NewError(types.ErrPluginNotAvailable,
			fmt.Sprintf("evpnhost state not found (fields \"stateDir\"/\"frrInstance\"): %v", err), "")
	}
	n, err := attach.Resolve(in, c.Network)
	if err != nil {
		return nil, n, fieldError("network", "%v", err)
	}
	return in, n, nil
}

// gatewayFor is the anycast gateway of the subnet that holds ip.
func gatewayFor(n attach.Network, ip netip.Addr) (netip.Addr, bool) {
	for _, g := range n.Gateways {
		if g.Masked().Contains(ip) {
			return g.Addr(), true
		}
	}
	return netip.Addr{}, false
}

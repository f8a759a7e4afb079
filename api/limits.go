package api

import "fmt"

// Size limits of an intent. They bound the time and memory validation,
// planning and rendering may take on any input, and sit well above what a
// host can use: the Linux bridge holds 1023 ports (MaxBridgePorts), so no
// valid intent has more than 1023 networks and workloads together, and a
// realistic one is a few hundred KB of YAML.
const (
	// MaxIntentBytes bounds an intent file and each etcd value (4 MiB,
	// etcd's own default request limit is 1.5 MiB).
	MaxIntentBytes = 4 << 20
	// MaxTenants bounds the tenants (each is a VRF and an L3 VNI port on
	// the bridge).
	MaxTenants = 1024
	// MaxNetworks bounds the networks of all tenants: each needs its own
	// VLAN, and there are 4094.
	MaxNetworks = MaxVLAN
	// MaxWorkloads bounds the workloads (each is a bridge port).
	MaxWorkloads = 4096
	// MaxGateways bounds the gateways of all networks (two per network,
	// IPv4 and IPv6, for every possible network). Overlaps are checked
	// pairwise within a tenant.
	MaxGateways = 2 * MaxNetworks
	// MaxNetworkGateways bounds one network's gateways; every workload
	// address is checked against them.
	MaxNetworkGateways = 64
	// MaxWorkloadIPs bounds one workload's addresses.
	MaxWorkloadIPs = 64
	// MaxImportPrefixes bounds the prefixes of all imports; overlaps are
	// checked pairwise within a tenant.
	MaxImportPrefixes = 4096
	// MaxRules bounds the policy rules of all tenants together
	// (MaxPolicyRules bounds one tenant's).
	MaxRules = MaxPolicyRules
)

// checkLimits reports every count beyond its limit, naming the field and
// the limit. Validate checks them first and stops there.
func (in *Intent) checkLimits() []FieldError {
	var out []FieldError
	over := func(path string, n, limit int, what string) {
		if n > limit {
			out = append(out, FieldError{Path: path, Msg: fmt.Sprintf("%d %s: an intent holds at most %d", n, what, limit)})
		}
	}
	over("tenants", len(in.Tenants), MaxTenants, "tenants")
	over("workloads", len(in.Workloads), MaxWorkloads, "workloads")
	var nets, gws, prefixes, rules int
	for i := range in.Tenants {
		t := &in.Tenants[i]
		nets += len(t.Networks)
		for j := range t.Networks {
			n := &t.Networks[j]
			gws += len(n.Gateways)
			if len(n.Gateways) > MaxNetworkGateways {
				out = append(out, FieldError{Path: idx(idx("tenants", i)+".networks", j) + ".gateways",
					Msg: fmt.Sprintf("%d gateways: a network holds at most %d", len(n.Gateways), MaxNetworkGateways)})
			}
		}
		for _, im := range t.Imports {
			prefixes += len(im.Prefixes)
		}
		if t.Policy != nil {
			rules += len(t.Policy.Rules)
		}
	}
	over("tenants[].networks", nets, MaxNetworks, "networks")
	over("tenants[].networks[].gateways", gws, MaxGateways, "gateways")
	over("tenants[].imports[].prefixes", prefixes, MaxImportPrefixes, "import prefixes")
	over("tenants[].policy.rules", rules, MaxRules, "policy rules")
	for i := range in.Workloads {
		if n := len(in.Workloads[i].IPs); n > MaxWorkloadIPs {
			out = append(out, FieldError{Path: idx("workloads", i) + ".ips",
				Msg: fmt.Sprintf("%d addresses: a workload holds at most %d", n, MaxWorkloadIPs)})
		}
	}
	return out
}

// CheckSize refuses data longer than MaxIntentBytes; what names the input
// in the message ("intent", an etcd key).
func CheckSize(what string, n int) error {
	switch {
	case n > MaxIntentBytes+1:
		return fmt.Errorf("%s is %d bytes: at most %d (%d MiB) are accepted", what, n, MaxIntentBytes, MaxIntentBytes>>20)
	case n > MaxIntentBytes:
		// readLimited stops one byte past the limit: the size is unknown.
		return fmt.Errorf("%s is more than %d bytes: at most %d (%d MiB) are accepted", what, MaxIntentBytes, MaxIntentBytes, MaxIntentBytes>>20)
	}
	return nil
}

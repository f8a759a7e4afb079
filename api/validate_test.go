package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// base is a valid intent that the table tests break one rule at a time.
func base() *Intent {
	return &Intent{
		Host: Host{Name: "host1", ASN: 65001, VTEP: "10.0.0.1", Uplinks: []string{"eth0", "eth1"}},
		Tenants: []Tenant{
			{Name: "red", L3VNI: 1000, Networks: []Network{
				{Name: "web", VNI: 10, VLAN: 10, Gateways: []string{"10.1.10.1/24"}},
				{Name: "app", VNI: 20, VLAN: 20, Gateways: []string{"10.1.20.1/24", "2001:db8:20::1/64"}},
			}},
			{Name: "blue", L3VNI: 2000, Networks: []Network{
				{Name: "web", VNI: 110, VLAN: 110, Gateways: []string{"10.1.10.1/24"}},
			}},
		},
		Workloads: []Workload{
			{Name: "vm1", Network: "red/web", Interface: "tap0", MAC: "02:00:00:00:00:01", IPs: []string{"10.1.10.11"}},
			{Name: "vm2", Network: "blue/web", Interface: "tap1", IPs: []string{"10.1.10.11"}},
		},
	}
}

func TestValidateBase(t *testing.T) {
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(in *Intent)
		want   string // whole error text; "" = valid
	}{
		// host
		{"asn 1", func(in *Intent) { in.Host.ASN = 1 }, ""},
		{"asn max", func(in *Intent) { in.Host.ASN = 4294967294 }, ""},
		{"asn 0", func(in *Intent) { in.Host.ASN = 0 }, "host.asn: is required"},
		{"asn trans", func(in *Intent) { in.Host.ASN = 23456 }, "host.asn: 23456 is reserved (AS_TRANS)"},
		{"asn 2^32-1", func(in *Intent) { in.Host.ASN = 4294967295 }, "host.asn: 4294967295 is reserved"},
		{"vtep unspecified", func(in *Intent) { in.Host.VTEP = "0.0.0.0" }, "host.vtep: 0.0.0.0 is the unspecified address"},
		{"vtep loopback", func(in *Intent) { in.Host.VTEP = "127.1.2.3" }, "host.vtep: 127.1.2.3 is a loopback address"},
		{"vtep multicast", func(in *Intent) { in.Host.VTEP = "239.1.1.1" }, "host.vtep: 239.1.1.1 is a multicast address"},
		{"vtep broadcast", func(in *Intent) { in.Host.VTEP = "255.255.255.255" }, "host.vtep: 255.255.255.255 is not a unicast address"},
		{"vtep mapped", func(in *Intent) { in.Host.VTEP = "::ffff:10.0.0.1" }, `host.vtep: "::ffff:10.0.0.1" is not an IPv4 address`},
		{"vtep cidr", func(in *Intent) { in.Host.VTEP = "10.0.0.1/32" }, `host.vtep: "10.0.0.1/32" is not an IPv4 address`},
		{"routerID ok", func(in *Intent) { in.Host.RouterID = "192.0.2.1" }, ""},
		{"routerID bad", func(in *Intent) { in.Host.RouterID = "x" }, `host.routerID: "x" is not an IPv4 address`},
		{"no uplinks", func(in *Intent) { in.Host.Uplinks = nil }, "host.uplinks: at least one uplink is required"},
		{"uplink lo", func(in *Intent) { in.Host.Uplinks = []string{"lo"} }, `host.uplinks[0]: "lo" is reserved: it is the loopback device`},
		{"uplink fabric", func(in *Intent) { in.Host.Uplinks = []string{"fabric"} }, `host.uplinks[0]: "fabric" is reserved: it is the name of the uplinks' BGP peer-group in FRR`},
		{"uplink ipmr-lo", func(in *Intent) { in.Host.Uplinks = []string{"ipmr-lo"} }, `host.uplinks[0]: "ipmr-lo" is reserved: it is the kernel's multicast routing device, which pimd uses`},
		{"uplink ipv4", func(in *Intent) { in.Host.Uplinks = []string{"10.0.0.2"} }, `host.uplinks[0]: "10.0.0.2" is reserved: it parses as an IP address, and FRR would read it as one`},
		{"uplink ipv4 leading zeros", func(in *Intent) { in.Host.Uplinks = []string{"010.0.0.2"} }, `host.uplinks[0]: "010.0.0.2" is reserved: it parses as an IP address, and FRR would read it as one`},
		{"uplink dotted not ip", func(in *Intent) { in.Host.Uplinks = []string{"eth0.10"} }, ""},
		{"wl evc", func(in *Intent) { in.Workloads[0].Interface = "evc0123abcd" }, `workloads[0].interface: "evc0123abcd" is reserved: names starting with evc are the host ends of evpnhost-cni's veths`},
		{"wl ipmr-lo", func(in *Intent) { in.Workloads[0].Interface = "ipmr-lo" }, `workloads[0].interface: "ipmr-lo" is reserved: it is the kernel's multicast routing device, which pimd uses`},
		{"tenant fabric", func(in *Intent) { in.Tenants[1].Name = "fabric"; in.Workloads[1].Network = "fabric/web" }, `tenants[1].name: "fabric" is reserved: it is the name of the uplinks' BGP peer-group in FRR`},
		{"tenant ipmr-lo", func(in *Intent) { in.Tenants[1].Name = "ipmr-lo"; in.Workloads[1].Network = "ipmr-lo/web" }, `tenants[1].name: "ipmr-lo" is reserved: it is the kernel's multicast routing device, which pimd uses`},
		{"tenant evc", func(in *Intent) { in.Tenants[1].Name = "evcx"; in.Workloads[1].Network = "evcx/web" }, `tenants[1].name: "evcx" is reserved: names starting with evc are the host ends of evpnhost-cni's veths`},
		{"uplink dup", func(in *Intent) { in.Host.Uplinks = []string{"eth0", "eth0"} }, `host.uplinks[1]: "eth0" is already used by host.uplinks[0]`},
		{"uplink 15", func(in *Intent) { in.Host.Uplinks = []string{"enp1s0f0np0.10"} }, ""},
		{"uplink 16", func(in *Intent) { in.Host.Uplinks = []string{"enp1s0f0np0.1000"} }, `host.uplinks[0]: "enp1s0f0np0.1000" is not a valid interface name: use A-Z, a-z, 0-9, '-', '_' and '.', start with a letter or digit, at most 15 characters`},
		{"uplink slash", func(in *Intent) { in.Host.Uplinks = []string{"eth/0"} }, `host.uplinks[0]: "eth/0" is not a valid interface name: use A-Z, a-z, 0-9, '-', '_' and '.', start with a letter or digit, at most 15 characters`},
		{"uplink empty", func(in *Intent) { in.Host.Uplinks = []string{""} }, "host.uplinks[0]: is required"},
		{"mtu 1280", func(in *Intent) { in.Host.MTU = 1280 }, ""},
		{"mtu 9216", func(in *Intent) { in.Host.MTU = 9216 }, ""},
		{"mtu 1279", func(in *Intent) { in.Host.MTU = 1279 }, "host.mtu: 1279 is out of range 1280..9216"},
		{"mtu negative", func(in *Intent) { in.Host.MTU = -1 }, "host.mtu: -1 is out of range 1280..9216"},
		{"host name 63", func(in *Intent) { in.Host.Name = strings.Repeat("a", 63) }, ""},
		{"host name 64", func(in *Intent) { in.Host.Name = strings.Repeat("a", 64) }, `host.name: "` + strings.Repeat("a", 64) + `" is not a valid name: use a-z, 0-9, '-' and '_', start with a letter or digit, at most 63 characters`},
		{"host name newline", func(in *Intent) { in.Host.Name = "h\nhostname x" }, `host.name: "h\nhostname x" is not a valid name: use a-z, 0-9, '-' and '_', start with a letter or digit, at most 63 characters`},

		// tenants
		{"tenant 15", func(in *Intent) {
			in.Tenants[0].Name = "abcdefghijklmno"
			in.Workloads[0].Network = "abcdefghijklmno/web"
		}, ""},
		{"tenant 16", func(in *Intent) { in.Workloads = in.Workloads[:1]; in.Tenants[1].Name = "abcdefghijklmnop" }, `tenants[1].name: "abcdefghijklmnop" is not a valid name: use a-z, 0-9 and '-', start with a letter, at most 15 characters`},
		{"tenant digit", func(in *Intent) { in.Workloads = in.Workloads[:1]; in.Tenants[1].Name = "1blue" }, `tenants[1].name: "1blue" is not a valid name: use a-z, 0-9 and '-', start with a letter, at most 15 characters`},
		{"tenant underscore", func(in *Intent) { in.Workloads = in.Workloads[:1]; in.Tenants[1].Name = "bl_ue" }, `tenants[1].name: "bl_ue" is not a valid name: use a-z, 0-9 and '-', start with a letter, at most 15 characters`},
		{"tenant hash", func(in *Intent) { in.Workloads = in.Workloads[:1]; in.Tenants[1].Name = "blue#" }, `tenants[1].name: "blue#" is not a valid name: use a-z, 0-9 and '-', start with a letter, at most 15 characters`},
		{"tenant quote", func(in *Intent) { in.Workloads = in.Workloads[:1]; in.Tenants[1].Name = `bl"ue` }, `tenants[1].name: "bl\"ue" is not a valid name: use a-z, 0-9 and '-', start with a letter, at most 15 characters`},
		{"tenant vlan name", func(in *Intent) { in.Workloads = in.Workloads[:1]; in.Tenants[1].Name = "vlan4000" }, `tenants[1].name: "vlan4000" is reserved: evpnhost names its SVIs vlan<VID>`},
		{"tenant empty", func(in *Intent) { in.Workloads = in.Workloads[:1]; in.Tenants[1].Name = "" }, "tenants[1].name: is required"},
		{"tenant dup", func(in *Intent) { in.Workloads = in.Workloads[:1]; in.Tenants[1].Name = "red" }, `tenants[1].name: "red" is already used by tenants[0]`},
		{"tenant uplink", func(in *Intent) { in.Tenants[1].Name = "eth1"; in.Workloads[1].Network = "eth1/web" }, `tenants[1].name: "eth1" is already used by host.uplinks[1]`},
		{"tenant workload iface", func(in *Intent) { in.Workloads[0].Interface = "blue" }, `workloads[0].interface: "blue" is already used by tenants[1]`},
		{"l3vni max", func(in *Intent) { in.Tenants[1].L3VNI = 16777215 }, ""},
		{"l3vni 0", func(in *Intent) { in.Tenants[1].L3VNI = 0 }, "tenants[1].l3vni: is required"},
		{"l3vni big", func(in *Intent) { in.Tenants[1].L3VNI = 1 << 24 }, "tenants[1].l3vni: 16777216 is out of range 1..16777215"},
		{"l3vni dup l3vni", func(in *Intent) { in.Tenants[1].L3VNI = 1000 }, "tenants[1].l3vni: 1000 is already used by tenants[0].l3vni"},
		{"vni dup l3vni", func(in *Intent) { in.Tenants[1].Networks[0].VNI = 1000 }, "tenants[1].networks[0].vni: 1000 is already used by tenants[0].l3vni"},
		{"vrfTable", func(in *Intent) { in.Tenants[1].VRFTable = 4294967295 }, ""},
		{"vrfTable 253", func(in *Intent) { in.Tenants[1].VRFTable = 253 }, "tenants[1].vrfTable: 253 is reserved: it is the kernel's default table"},
		{"vrfTable dup derived", func(in *Intent) { in.Tenants[1].VRFTable = 1000 }, "tenants[1].vrfTable: table 1000 is already used by tenants[0]"},
		{"vrfTable derived 255", func(in *Intent) { in.Tenants[1].L3VNI = 255 }, "tenants[1].vrfTable: the table defaults to the l3vni 255, which is the kernel's local table: set vrfTable"},
		{"vrfTable derived 255 fixed", func(in *Intent) { in.Tenants[1].L3VNI = 255; in.Tenants[1].VRFTable = 2255 }, ""},
		{"tenant vlan", func(in *Intent) { in.Tenants[1].VLAN = 4094 }, ""},
		{"tenant vlan 4095", func(in *Intent) { in.Tenants[1].VLAN = 4095 }, "tenants[1].vlan: 4095 is out of range 1..4094"},
		{"tenant vlan dup", func(in *Intent) { in.Tenants[1].VLAN = 20 }, "tenants[1].vlan: 20 is already used by tenants[0].networks[1]"},
		{"tenant vlan dup later", func(in *Intent) { in.Tenants[0].VLAN = 110 }, "tenants[1].networks[0].vlan: 110 is already used by tenants[0].vlan"},
		{"rd asn2", func(in *Intent) { in.Tenants[0].RD = "65000:4294967295" }, ""},
		{"rd asn4", func(in *Intent) { in.Tenants[0].RD = "4294967295:65535" }, ""},
		{"rd ip", func(in *Intent) { in.Tenants[0].RD = "10.0.0.1:65535" }, ""},
		{"rd wildcard", func(in *Intent) { in.Tenants[0].RD = "*:5" }, `tenants[0].rd: "*:5" is not a valid route distinguisher: use ASN:NN or IPv4:NN`},
		{"rd asn too big", func(in *Intent) { in.Tenants[0].RD = "4294967296:1" }, `tenants[0].rd: "4294967296:1" is not a valid route distinguisher: the ASN must be at most 4294967295`},
		{"rd newline", func(in *Intent) { in.Tenants[0].RD = "1:1\n!" }, `tenants[0].rd: "1:1\n!" is not a valid route distinguisher: use ASN:NN or IPv4:NN`},
		{"rt ok", func(in *Intent) {
			in.Tenants[0].RouteTargets = &RouteTargets{Import: []string{"*:1000", "65000:1000"}, Export: []string{"10.0.0.1:1"}}
		}, ""},
		{"rt empty", func(in *Intent) { in.Tenants[0].RouteTargets = &RouteTargets{} }, ""},
		{"rt bad", func(in *Intent) { in.Tenants[0].RouteTargets = &RouteTargets{Export: []string{"1:1 "}} }, `tenants[0].routeTargets.export[0]: "1:1 " is not a valid route target: use ASN:NN or IPv4:NN`},

		// networks
		{"net name 63", func(in *Intent) { in.Tenants[0].Networks[1].Name = strings.Repeat("0", 63) }, ""},
		{"net name underscore", func(in *Intent) { in.Tenants[0].Networks[1].Name = "a_b-c" }, ""},
		{"net name upper", func(in *Intent) { in.Tenants[0].Networks[1].Name = "App" }, `tenants[0].networks[1].name: "App" is not a valid name: use a-z, 0-9, '-' and '_', start with a letter or digit, at most 63 characters`},
		{"net name dup other tenant", func(in *Intent) { in.Tenants[1].Networks[0].Name = "app" }, `workloads[1].network: unknown network "blue/web": tenant "blue" has networks app`},
		{"net name dup", func(in *Intent) { in.Tenants[0].Networks[1].Name = "web" }, `tenants[0].networks[1].name: "web" is already used by tenants[0].networks[0]`},
		{"vni dup", func(in *Intent) { in.Tenants[1].Networks[0].VNI = 20 }, "tenants[1].networks[0].vni: 20 is already used by tenants[0].networks[1]"},
		{"vlan 0", func(in *Intent) { in.Tenants[1].Networks[0].VLAN = 0 }, "tenants[1].networks[0].vlan: is required"},
		{"vlan dup", func(in *Intent) { in.Tenants[1].Networks[0].VLAN = 10 }, "tenants[1].networks[0].vlan: 10 is already used by tenants[0].networks[0]"},
		{"no gateways", func(in *Intent) { in.Tenants[0].Networks[1].Gateways = nil }, ""},
		{"gw v6 /127", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[1] = "2001:db8:20::1/127" }, "tenants[0].networks[1].gateways[1]: prefix length /127 is out of range /64../126"},
		{"gw v6 /48", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[1] = "2001:db8:20::1/48" }, "tenants[0].networks[1].gateways[1]: prefix length /48 is out of range /64../126"},
		{"gw v6 link-local", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[1] = "fe80::1/64" }, "tenants[0].networks[1].gateways[1]: fe80::1 is a link-local address"},
		{"gw v6 zone", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[1] = "fe80::1%eth0/64" }, `tenants[0].networks[1].gateways[1]: "fe80::1%eth0/64" is not an address in CIDR form, like 10.1.10.1/24`},
		{"gw mapped", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[1] = "::ffff:10.9.0.1/120" }, `tenants[0].networks[1].gateways[1]: "::ffff:10.9.0.1/120" is an IPv4-mapped IPv6 address: write it as IPv4`},
		{"gw v4 /30", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[0] = "10.1.20.1/30" }, ""},
		{"gw v4 /8", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[0] = "11.0.0.1/8" }, ""},
		{"gw broadcast /30", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[0] = "10.1.20.3/30" }, "tenants[0].networks[1].gateways[0]: 10.1.20.3 is the broadcast address of 10.1.20.0/30: the gateway needs a host address in its subnet"},
		{"gw dup", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[1] = "10.1.20.1/24" }, "tenants[0].networks[1].gateways[1]: 10.1.20.1 is already used by tenants[0].networks[1].gateways[0]"},
		{"gw overlap", func(in *Intent) { in.Tenants[0].Networks[1].Gateways[0] = "10.1.10.2/24" }, "tenants[0].networks[1].gateways[0]: 10.1.10.0/24 overlaps tenants[0].networks[0] (10.1.10.0/24)"},
		{"gw overlap v6", func(in *Intent) {
			in.Tenants[0].Networks[0].Gateways = append(in.Tenants[0].Networks[0].Gateways, "2001:db8:20::1:1/112")
		}, "tenants[0].networks[1].gateways[1]: 2001:db8:20::/64 overlaps tenants[0].networks[0] (2001:db8:20::1:0/112)"},
		{"anycastMAC ok", func(in *Intent) { in.Tenants[0].Networks[0].AnycastMAC = "02:AA:bb:cc:dd:ee" }, ""},
		{"anycastMAC dashes", func(in *Intent) { in.Tenants[0].Networks[0].AnycastMAC = "02-aa-bb-cc-dd-ee" }, ""},
		{"anycastMAC eui64", func(in *Intent) { in.Tenants[0].Networks[0].AnycastMAC = "02:00:00:00:00:00:00:01" }, `tenants[0].networks[0].anycastMAC: "02:00:00:00:00:00:00:01" is not a MAC address, like 02:00:00:00:00:01`},
		{"net mtu ok", func(in *Intent) { in.Tenants[0].Networks[0].MTU = 1450 }, ""},
		{"net mtu high", func(in *Intent) { in.Tenants[0].Networks[0].MTU = 1451 }, "tenants[0].networks[0].mtu: 1451 exceeds the underlay MTU 1500 minus 50 bytes of VXLAN overhead (at most 1450)"},
		{"net mtu jumbo", func(in *Intent) { in.Host.MTU = 9216; in.Tenants[0].Networks[0].MTU = 9166 }, ""},
		{"net mtu bad host mtu", func(in *Intent) { in.Host.MTU = 100; in.Tenants[0].Networks[0].MTU = 9000 }, "host.mtu: 100 is out of range 1280..9216"},

		// workloads
		{"wl name dup", func(in *Intent) { in.Workloads[1].Name = "vm1" }, `workloads[1].name: "vm1" is already used by workloads[0]`},
		{"wl name empty", func(in *Intent) { in.Workloads[1].Name = "" }, `workloads[1].name: is required`},
		{"wl iface empty", func(in *Intent) { in.Workloads[1].Interface = "" }, `workloads[1].interface: is required`},
		{"wl iface dup", func(in *Intent) { in.Workloads[1].Interface = "tap0" }, `workloads[1].interface: "tap0" is already used by workloads[0]`},
		{"wl iface uplink", func(in *Intent) { in.Workloads[1].Interface = "eth1" }, `workloads[1].interface: "eth1" is already used by host.uplinks[1]`},
		{"wl iface bridge", func(in *Intent) { in.Workloads[1].Interface = "evpnbr" }, `workloads[1].interface: "evpnbr" is reserved: names starting with evpn are evpnhost's own (the bridge is evpnbr)`},
		{"wl ref no tenants", func(in *Intent) { in.Tenants = nil }, `workloads[0].network: unknown tenant "red": the intent has no tenants
workloads[1].network: unknown tenant "blue": the intent has no tenants`},
		{"wl ref", func(in *Intent) { in.Workloads[0].Network = "red/db" }, `workloads[0].network: unknown network "red/db": tenant "red" has networks web, app`},
		{"wl ref leading slash", func(in *Intent) { in.Workloads[0].Network = "/web" }, `workloads[0].network: "/web" must be tenant/network`},
		{"wl mac zero", func(in *Intent) { in.Workloads[0].MAC = "0000.0000.0000" }, "workloads[0].mac: 0000.0000.0000 is the all-zero MAC address"},
		{"wl mac gateway", func(in *Intent) { in.Workloads[0].MAC = "00:00:5E:00:01:01" }, "workloads[0].mac: 00:00:5E:00:01:01 is the anycast gateway MAC of red/web"},
		{"wl mac dup", func(in *Intent) { in.Workloads[1].MAC = "02:00:00:00:00:01" }, "workloads[1].mac: 02:00:00:00:00:01 is already used by workloads[0]"},
		{"wl ips none", func(in *Intent) { in.Workloads[0].IPs = nil }, ""},
		{"wl ip v6", func(in *Intent) {
			in.Workloads[0].Network = "red/app"
			in.Workloads[0].IPs = []string{"2001:db8:20::ffff", "10.1.20.254"}
		}, ""},
		{"wl ip v6 gateway", func(in *Intent) {
			in.Workloads[0].Network = "red/app"
			in.Workloads[0].IPs = []string{"2001:db8:20:0::1"}
		}, "workloads[0].ips[0]: 2001:db8:20::1 is the gateway address of red/app"},
		{"wl ip outside", func(in *Intent) { in.Workloads[0].IPs = []string{"10.1.20.5"} }, "workloads[0].ips[0]: 10.1.20.5 is not inside a subnet of red/web (10.1.10.0/24)"},
		{"wl ip dup same tenant", func(in *Intent) {
			in.Workloads[1].Network = "red/web"
		}, "workloads[1].ips[0]: 10.1.10.11 is already used by workloads[0].ips[0]"},
		{"wl ip dup same workload", func(in *Intent) { in.Workloads[0].IPs = []string{"10.1.10.11", "10.1.10.11"} }, "workloads[0].ips[1]: 10.1.10.11 is already used by workloads[0].ips[0]"},
		{"wl ip same across network of one tenant", func(in *Intent) {
			in.Tenants[0].Networks = in.Tenants[0].Networks[:1]
			in.Tenants[0].Networks[0].Gateways = []string{"10.1.10.1/24"}
		}, ""},
		{"wl bad network, ips not checked", func(in *Intent) { in.Workloads[0].Network = "nope/x"; in.Workloads[0].IPs = []string{"1.2.3.4", "x"} }, `workloads[0].network: unknown tenant "nope": tenants are red, blue
workloads[0].ips[1]: "x" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.mutate(in)
			err := in.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got\n%v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want\n%s\ngot valid", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestValidationErrorShape(t *testing.T) {
	in := base()
	in.Host.Name = ""
	in.Tenants[1].Networks[0].VNI = 10
	in.Workloads[0].Network = "red"
	err := in.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%T is not *ValidationError", err)
	}
	want := []FieldError{
		{"host.name", "is required"},
		{"tenants[1].networks[0].vni", "10 is already used by tenants[0].networks[0]"},
		{"workloads[0].network", `"red" must be tenant/network`},
	}
	if fmt.Sprint(ve.Problems) != fmt.Sprint(want) {
		t.Errorf("problems\n%v\nwant\n%v", ve.Problems, want)
	}
	// Deterministic: validating again gives the same text.
	if again := in.Validate(); again.Error() != err.Error() {
		t.Errorf("not deterministic:\n%v\n%v", err, again)
	}
	var nilIntent *Intent
	if err := nilIntent.Validate(); err == nil || err.Error() != "intent: is empty" {
		t.Errorf("nil intent: %v", err)
	}
}

func TestL3VLANExhausted(t *testing.T) {
	in := base()
	var nets []Network
	for vid := L3VNIVLANBase; vid <= MaxVLAN; vid++ {
		nets = append(nets, Network{Name: fmt.Sprintf("n%d", vid), VNI: uint32(100000 + vid), VLAN: uint16(vid)})
	}
	in.Tenants[1].Networks = append(in.Tenants[1].Networks, nets...)
	in.Host.VXLANDevice = VXLANPerVNI
	err := in.Validate()
	// So many networks also exceed the bridge's port limit: that problem
	// is reported too (see TestValidateBridgePortLimit), and only that
	// one remains once the tenants have explicit VLANs.
	want := "tenants[0].vlan: no free VLAN left in 3000..4094 for the l3vni: set vlan\ntenants[1].vlan: no free VLAN left in 3000..4094 for the l3vni: set vlan\ntenants: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want\n%s", err, want)
	}
	in.Tenants[0].VLAN = 100
	in.Tenants[1].VLAN = 101
	if err := in.Validate(); err == nil || strings.Contains(err.Error(), "no free VLAN") || !strings.Contains(err.Error(), "ports on the bridge") {
		t.Fatal(err)
	}
}

func TestCheckRD(t *testing.T) {
	for _, tt := range []struct {
		s        string
		wildcard bool
		ok       bool
	}{
		{"0:0", false, true},
		{"65535:4294967295", false, true},
		{"65536:65535", false, true},
		{"65536:65536", false, false},
		{"1.2.3.4:0", false, true},
		{"1.2.3:4", false, false},
		{"*:1", true, true},
		{"*:1", false, false},
		{"*:*", true, false},
		{"1:-1", false, false},
		{"-1:1", false, false},
		{"1::1", false, false},
		{":", false, false},
		{"", false, false},
		{"１:1", false, false}, // full-width digit
	} {
		if got := checkRD(tt.s, tt.wildcard) == ""; got != tt.ok {
			t.Errorf("checkRD(%q, %v) ok=%v, want %v (%s)", tt.s, tt.wildcard, got, tt.ok, checkRD(tt.s, tt.wildcard))
		}
	}
}

func TestValidateBridgePortLimit(t *testing.T) {
	in := &Intent{Host: Host{Name: "h1", ASN: 65101, VTEP: "10.0.0.1", Uplinks: []string{"up1"}, VXLANDevice: VXLANPerVNI}}
	in.Tenants = []Tenant{{Name: "red", L3VNI: 100000, VLAN: 4000}}
	for i := 1; i <= 1023; i++ {
		in.Tenants[0].Networks = append(in.Tenants[0].Networks, Network{Name: fmt.Sprintf("n%d", i), VNI: uint32(i), VLAN: uint16(i)})
	}
	err := in.Validate()
	if err == nil || !strings.Contains(err.Error(), "1024 ports on the bridge") {
		t.Fatalf("err = %v", err)
	}
	in.Tenants[0].Networks = in.Tenants[0].Networks[:1022]
	if err := in.Validate(); err != nil {
		t.Fatalf("1023 ports must fit: %v", err)
	}
}

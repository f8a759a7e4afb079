package api

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, err string // err "" = must parse
	}{
		{"empty", "", "intent is empty"},
		{"blank", " \n\t\n", "intent is empty"},
		{"comments", "# a\n# b\n", "intent is empty"},
		{"separator only", "---\n", "intent is empty"},
		{"null", "null\n", "intent is empty"},
		{"two docs", "host: {name: a}\n---\nhost: {name: b}\n", "line 2: only one YAML document is allowed"},
		{"empty second doc", "host: {name: a}\n---\n", ""},
		{"broken second doc", "host: {name: a}\n---\n: : :\n  - [\n", "only one YAML document is allowed: "},
		{"unknown top", "host: {name: a}\nvrfs: []\n", `line 2: unknown field "vrfs" in the intent (known: host, tenants, workloads)`},
		{"unknown tenant field", "tenants:\n  - name: red\n    l3VNI: 5\n", `line 3: unknown field "l3VNI" in a tenant (known: name, l3vni, vrfTable, vlan, rd, routeTargets, networks, imports, policy)`},
		{"unknown rt field", "tenants:\n  - routeTargets: {both: [1:1]}\n", `line 2: unknown field "both" in routeTargets (known: import, export)`},
		{"unknown workload field", "workloads:\n  - {name: a, ip: 1.2.3.4}\n", `line 2: unknown field "ip" in a workload (known: name, network, interface, mac, ips)`},
		{"two unknown", "host:\n  nam: a\n  asn: 1\n  vtepp: x\n", "line 2: unknown field \"nam\" in host (known: name, asn, routerID, vtep, uplinks, bfd, mtu, multicast, vxlanDevice)\nline 4: unknown field \"vtepp\" in host (known: name, asn, routerID, vtep, uplinks, bfd, mtu, multicast, vxlanDevice)"},
		{"duplicate key", "host:\n  name: a\n  name: b\n", `line 3: mapping key "name" already defined at line 2`},
		{"negative asn", "host: {asn: -1}\n", "line 1: cannot unmarshal !!int `-1` into uint32"},
		{"vlan overflow", "tenants: [{networks: [{vlan: 70000}]}]\n", "line 1: cannot unmarshal !!int `70000` into uint16"},
		{"tab indent", "host:\n\tname: a\n", "line 2: found character that cannot start any token"},
		{"scalar", "hello\n", "line 1: cannot unmarshal !!str `hello` into api.Intent"},
		{"anchors", "host: &h {name: a}\ntenants: []\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Parse([]byte(tt.in))
			if tt.err == "" {
				if err != nil || in == nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.err)
			}
			if in != nil {
				t.Error("Parse returned an intent with an error")
			}
			if got := err.Error(); got != tt.err && !(strings.HasSuffix(tt.err, ": ") && strings.HasPrefix(got, tt.err)) {
				t.Errorf("got\n%s\nwant\n%s", got, tt.err)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	in, err := Parse([]byte(`
host: {name: h, asn: 4200000000, vtep: 10.0.0.1, uplinks: [eth0], bfd: true, mtu: 9000, routerID: 1.1.1.1}
tenants:
  - name: red
    l3vni: 1000
    vrfTable: 7
    vlan: 3001
    rd: 1:1
    routeTargets: {import: ["*:1"], export: ["1:1"]}
    networks:
      - {name: web, vni: 10, vlan: 10, gateways: [10.1.10.1/24], anycastMAC: "02:00:00:00:00:09", arpSuppression: false, mtu: 8950}
workloads:
  - {name: vm, network: red/web, interface: tap0, mac: "02:00:00:00:00:01", ips: [10.1.10.2]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	tn := in.Tenants[0]
	n := tn.Networks[0]
	w := in.Workloads[0]
	switch {
	case in.Host.ASN != 4200000000 || !in.Host.BFD || in.Host.MTU != 9000 || in.Host.RouterID != "1.1.1.1":
		t.Errorf("host %+v", in.Host)
	case tn.Table() != 7 || tn.VLAN != 3001 || tn.RD != "1:1" || tn.RouteTargets.Import[0] != "*:1" || tn.RouteTargets.Export[0] != "1:1":
		t.Errorf("tenant %+v", tn)
	case n.Suppress() || n.MTU != 8950 || n.GatewayMAC().String() != "02:00:00:00:00:09" || n.Subnets()[0].String() != "10.1.10.0/24":
		t.Errorf("network %+v", n)
	case w.HWAddr().String() != "02:00:00:00:00:01" || w.Addrs()[0].String() != "10.1.10.2" || w.Interface != "tap0":
		t.Errorf("workload %+v", w)
	}
}

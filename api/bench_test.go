package api

import (
	"fmt"
	"testing"
)

// largeIntent is a hostile but well-formed intent: 3000 workloads on one
// network and 3000 policy rules naming workloads that do not exist (about
// 400 KB of YAML). Its validation used to be quadratic (each unknown
// workload's message listed every known one).
func largeIntent() *Intent {
	in := &Intent{
		Host: Host{Name: "h1", ASN: 65001, VTEP: "192.0.2.1", Uplinks: []string{"eth0"}},
		Tenants: []Tenant{{
			Name: "red", L3VNI: 50000,
			Networks: []Network{{Name: "web", VNI: 10100, VLAN: 100, Gateways: []string{"10.1.0.1/16"}}},
			Policy:   &Policy{},
		}},
	}
	for i := 0; i < 3000; i++ {
		in.Workloads = append(in.Workloads, Workload{
			Name: fmt.Sprintf("workload-%04d", i), Network: "red/web",
			Interface: fmt.Sprintf("veth%d", i), IPs: []string{fmt.Sprintf("10.1.%d.%d", 1+i/250, 1+i%250)},
		})
		in.Tenants[0].Policy.Rules = append(in.Tenants[0].Policy.Rules, Rule{
			From: fmt.Sprintf("red/web/missing-%04d", i), To: "0.0.0.0/0", Ports: []string{"tcp/443"}, Action: "allow",
		})
	}
	return in
}

func BenchmarkValidateLarge(b *testing.B) {
	in := largeIntent()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if in.Validate() == nil {
			b.Fatal("the large intent validated")
		}
	}
}

package frr_test

import (
	"testing"

	"github.com/evpnhost/evpnhost/e2e/bench"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/plan"
)

func BenchmarkRender(b *testing.B) {
	for _, c := range bench.MicroMatrix {
		conf := plan.Build(bench.Intent(c)).FRR
		conf.Neighbors = true
		b.Run(c.String(), func(b *testing.B) {
			for b.Loop() {
				frr.Render(conf)
			}
		})
	}
}

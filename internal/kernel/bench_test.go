package kernel_test

import (
	"testing"

	"github.com/evpnhost/evpnhost/e2e/bench"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// BenchmarkDiffCold: the plan from an empty host (a first apply).
func BenchmarkDiffCold(b *testing.B) {
	for _, c := range bench.MicroMatrix {
		des := plan.Build(bench.Intent(c)).Kernel
		b.Run(c.String(), func(b *testing.B) {
			for b.Loop() {
				if kernel.Diff(des, kernel.State{}).Len() == 0 {
					b.Fatal("empty plan")
				}
			}
		})
	}
}

// BenchmarkDiffNoop: the plan of a converged host (every re-apply and
// every agent tick).
func BenchmarkDiffNoop(b *testing.B) {
	for _, c := range bench.MicroMatrix {
		des := plan.Build(bench.Intent(c)).Kernel
		obs := plan.Build(bench.Intent(c)).Kernel
		b.Run(c.String(), func(b *testing.B) {
			for b.Loop() {
				if kernel.Diff(des, obs).Len() != 0 {
					b.Fatal("not a no-op")
				}
			}
		})
	}
}

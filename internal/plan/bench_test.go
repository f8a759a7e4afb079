package plan_test

import (
	"testing"

	"github.com/evpnhost/evpnhost/e2e/bench"
	"github.com/evpnhost/evpnhost/internal/plan"
)

func BenchmarkBuild(b *testing.B) {
	for _, c := range bench.MicroMatrix {
		in := bench.Intent(c)
		b.Run(c.String(), func(b *testing.B) {
			for b.Loop() {
				plan.Build(in)
			}
		})
	}
}

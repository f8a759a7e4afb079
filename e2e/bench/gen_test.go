package bench

import (
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/plan"
)

// TestMatrixValid: every generated intent passes validation, and the
// baselines describe the same objects as the desired state.
func TestMatrixValid(t *testing.T) {
	for _, c := range Matrix {
		if c.VNIs+c.Tenants > MaxBridgePorts {
			t.Fatalf("%v needs more bridge ports than the kernel allows", c)
		}
	}
	for _, c := range append(Matrix, MicroMatrix...) {
		in := Intent(c)
		err := in.Validate()
		switch {
		case c.VNIs+c.Tenants > MaxBridgePorts:
			// Pure micro-benchmarks only: the validator refuses what the
			// kernel bridge cannot hold, and nothing else.
			if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), "ports on the bridge") {
				t.Fatalf("%v: want only the bridge port limit, got %v", c, err)
			}
		case err != nil:
			t.Fatalf("%v: %v", c, err)
		}
		k := plan.Build(in).Kernel
		links, _, routes, fdb := Objects(k)
		if want := 1 + 3*c.Tenants + 2*c.VNIs; links != want {
			t.Fatalf("%v: %d links, want %d", c, links, want)
		}
		ip, br, up := Batch(k)
		if n := strings.Count(ip, "link add "); n != links || strings.Count(ip, " alias ") != links {
			t.Fatalf("%v: batch adds %d links, want %d", c, n, links)
		}
		if n := strings.Count(ip, "route add "); n != routes {
			t.Fatalf("%v: batch adds %d routes, want %d", c, n, routes)
		}
		if n := strings.Count(br, "fdb add "); n != fdb {
			t.Fatalf("%v: batch adds %d fdb entries, want %d", c, n, fdb)
		}
		if n := strings.Count(up, " up\n"); n != links {
			t.Fatalf("%v: batch brings %d links up, want %d", c, n, links)
		}
		ifs := Interfaces(k)
		if n := strings.Count(ifs, "\nauto "); n != links {
			t.Fatalf("%v: interfaces has %d stanzas, want %d", c, n, links)
		}
	}
}

package plan

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestBuildGolden pins, for each valid intent of api/testdata, the kernel
// operations that build it from nothing and the FRR configuration.
func TestBuildGolden(t *testing.T) {
	files, _ := filepath.Glob("../../api/testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no intents")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			in, err := api.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			d := Build(in)
			d.FRR.Neighbors = true
			var b strings.Builder
			b.WriteString("# kernel operations from an empty host\n")
			for _, op := range kernel.Diff(d.Kernel, kernel.State{}).Ops() {
				b.WriteString(op.String() + "\n")
			}
			b.WriteString("# frr\n")
			b.WriteString(frr.Render(d.FRR))
			got := b.String()
			if again := Build(in); len(again.Kernel.Links) != len(d.Kernel.Links) {
				t.Fatal("not deterministic")
			}
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("differs from %s (-update to accept):\n%s", path, got)
			}
		})
	}
}

func TestRouterMACStable(t *testing.T) {
	in := &api.Intent{Host: api.Host{VTEP: "10.0.0.2"}}
	if got := RouterMAC(in.Host.VTEPAddr()); got != "02:ee:0a:00:00:02" {
		t.Fatal(got)
	}
}

package api

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseValidate checks that no input panics Parse, Validate or the
// accessors, and that a valid intent carries only safe names to FRR
// and the kernel.
func FuzzParseValidate(f *testing.F) {
	for _, glob := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Parse(data)
		if err != nil {
			if in != nil {
				t.Fatal("Parse returned an intent with an error")
			}
			return
		}
		verr := in.Validate()
		// Accessors must not panic even on invalid input.
		in.L3VLAN()
		in.Host.RouterIDAddr()
		for _, tn := range in.Tenants {
			tn.Table()
			for _, n := range tn.Networks {
				n.Subnets()
				n.GatewayMAC()
			}
		}
		for _, w := range in.Workloads {
			w.HWAddr()
			w.Addrs()
			SplitNetworkRef(w.Network)
		}
		if verr != nil {
			if verr.Error() == "" {
				t.Fatal("empty validation error")
			}
			return
		}
		assertSafe(t, in)
	})
}

func assertSafe(t *testing.T, in *Intent) {
	t.Helper()
	if !ValidName(in.Host.Name) {
		t.Fatalf("unsafe host name %q passed", in.Host.Name)
	}
	for _, u := range in.Host.Uplinks {
		if !ValidInterfaceName(u) {
			t.Fatalf("unsafe uplink %q passed", u)
		}
	}
	vlans := in.L3VLAN()
	for _, tn := range in.Tenants {
		if !ValidTenantName(tn.Name) || reservedName(tn.Name) != "" {
			t.Fatalf("unsafe tenant name %q passed", tn.Name)
		}
		if v := vlans[tn.Name]; v < 1 || v > MaxVLAN {
			t.Fatalf("tenant %q got L3 VLAN %d", tn.Name, v)
		}
		if tb := tn.Table(); tb == 0 || reservedTables[tb] != "" {
			t.Fatalf("tenant %q got table %d", tn.Name, tb)
		}
		if tn.RD != "" && checkRD(tn.RD, false) != "" {
			t.Fatalf("unsafe rd %q passed", tn.RD)
		}
		for _, n := range tn.Networks {
			if !ValidName(n.Name) {
				t.Fatalf("unsafe network name %q passed", n.Name)
			}
			if len(n.Subnets()) != len(n.Gateways) {
				t.Fatalf("unparsable gateway in %q passed", n.Gateways)
			}
			if len(n.GatewayMAC()) != 6 {
				t.Fatalf("bad anycast MAC %q passed", n.AnycastMAC)
			}
		}
	}
	for _, w := range in.Workloads {
		if !ValidName(w.Name) || !ValidInterfaceName(w.Interface) {
			t.Fatalf("unsafe workload %q / interface %q passed", w.Name, w.Interface)
		}
		if len(w.Addrs()) != len(w.IPs) {
			t.Fatalf("unparsable IP in %q passed", w.IPs)
		}
	}
}

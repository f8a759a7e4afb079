package api

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidateLargeIsCheap(t *testing.T) {
	in := largeIntent()
	start := time.Now()
	err := in.Validate()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("validating 3000 workloads and 3000 rules took %v", d)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	want := `tenants[0].policy.rules[0].from: unknown workload "missing-0000": network red/web has workloads ` +
		`workload-0000, workload-0001, workload-0002, workload-0003, workload-0004 and 2995 more`
	if got := ve.Problems[1].Error(); got != want && ve.Problems[0].Error() != want {
		t.Errorf("got\n%s\n%s\nwant\n%s", ve.Problems[0], ve.Problems[1], want)
	}
	if n := len(err.Error()); n > 1<<20 {
		t.Errorf("the error text is %d bytes", n)
	}
}

func TestValidateLimits(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(in *Intent)
		want   string
	}{
		{"workloads", func(in *Intent) {
			for i := len(in.Workloads); i <= MaxWorkloads; i++ {
				in.Workloads = append(in.Workloads, Workload{Name: fmt.Sprint("w", i), Network: "red/web", Interface: fmt.Sprint("t", i)})
			}
		}, "workloads: 4097 workloads: an intent holds at most 4096"},
		{"tenants", func(in *Intent) {
			for i := len(in.Tenants); i <= MaxTenants; i++ {
				in.Tenants = append(in.Tenants, Tenant{Name: fmt.Sprint("t", i)})
			}
		}, "tenants: 1025 tenants: an intent holds at most 1024"},
		{"networks", func(in *Intent) {
			for i := 3; i <= MaxNetworks; i++ {
				in.Tenants[1].Networks = append(in.Tenants[1].Networks, Network{Name: fmt.Sprint("n", i)})
			}
		}, "tenants[].networks: 4095 networks: an intent holds at most 4094"},
		{"gateways of a network", func(in *Intent) {
			for i := 1; i <= MaxNetworkGateways; i++ {
				in.Tenants[0].Networks[0].Gateways = append(in.Tenants[0].Networks[0].Gateways, fmt.Sprintf("10.2.%d.1/24", i))
			}
		}, "tenants[0].networks[0].gateways: 65 gateways: a network holds at most 64"},
		{"rules", func(in *Intent) {
			in.Tenants[0].Policy = &Policy{Rules: make([]Rule, MaxPolicyRules/2+1)}
			in.Tenants[1].Policy = &Policy{Rules: make([]Rule, MaxPolicyRules/2)}
		}, "tenants[].policy.rules: 65537 policy rules: an intent holds at most 65536"},
		{"ips", func(in *Intent) { in.Workloads[1].IPs = make([]string, MaxWorkloadIPs+1) },
			"workloads[1].ips: 65 addresses: a workload holds at most 64"},
		{"import prefixes", func(in *Intent) {
			in.Tenants[0].Imports = []Import{{From: "blue", Prefixes: make([]string, MaxImportPrefixes+1)}}
		}, "tenants[].imports[].prefixes: 4097 import prefixes: an intent holds at most 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.mutate(in)
			before := fmt.Sprintf("%#v", in)
			err := in.Validate()
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
			if after := fmt.Sprintf("%#v", in); after != before {
				t.Error("Validate changed the intent")
			}
		})
	}
}

func TestLoadOverSize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "intent.yaml")
	good, err := os.ReadFile("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A valid intent padded with a comment past the limit.
	big := append(append([]byte{}, good...), "\n# "+strings.Repeat("x", MaxIntentBytes)+"\n"...)
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := Load(path)
	want := fmt.Sprintf("intent is more than %d bytes: at most %d (4 MiB) are accepted", MaxIntentBytes, MaxIntentBytes)
	if in != nil || err == nil || err.Error() != want {
		t.Fatalf("got %v, %v\nwant %s", in, err, want)
	}
	if _, err := Parse(big); err == nil || !strings.Contains(err.Error(), "at most 4194304 (4 MiB)") {
		t.Fatalf("Parse: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !reflect.DeepEqual(after, big) {
		t.Error("Load changed the file")
	}
	if _, err := Parse(good); err != nil {
		t.Fatal(err)
	}
}

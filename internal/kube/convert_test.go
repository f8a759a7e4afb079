package kube

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/evpnhost/evpnhost/api"
	v1 "github.com/evpnhost/evpnhost/internal/kube/apis/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.yaml from FromIntent's current output")

func manifests(t *testing.T, objs Objects) []byte {
	t.Helper()
	b, err := Manifests(objs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sortedIntent orders tenants and networks by name, as Compose does (and
// the etcd source: every host derives the same automatic L3VNI VLANs).
func sortedIntent(in *api.Intent) *api.Intent {
	slices.SortFunc(in.Tenants, func(a, b api.Tenant) int { return cmp.Compare(a.Name, b.Name) })
	for i := range in.Tenants {
		slices.SortFunc(in.Tenants[i].Networks, func(a, b api.Network) int { return cmp.Compare(a.Name, b.Name) })
	}
	return in
}

// TestGoldenRoundTrip converts each valid intent of api/testdata into
// custom resources (compared with testdata/NAME.yaml), decodes those as
// the API server would hand them over (JSON, strict), and composes the
// intent again: it must equal the original.
func TestGoldenRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../../api/testdata/valid/*.yaml")
	if len(files) < 5 {
		t.Fatalf("only %d intents in api/testdata/valid", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, err := api.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			got := manifests(t, FromIntent(in))
			golden := filepath.Join("testdata", name+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./internal/kube -run TestGoldenRoundTrip -args -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("FromIntent(%s) differs from %s (rerun with -args -update and review the diff):\n%s", f, golden, got)
			}
			objs := decodeManifests(t, want)
			c, err := Compose(in.Host.Name, objs)
			if err != nil {
				t.Fatalf("Compose: %v", err)
			}
			if w := sortedIntent(in); !reflect.DeepEqual(c.Intent, w) {
				t.Fatalf("round trip changed the intent:\n got %+v\nwant %+v", c.Intent, w)
			}
			if len(c.Generations) != 1+len(objs.Tenants)+len(objs.Networks) {
				t.Errorf("generations of %d objects, want %d: %v", len(c.Generations), 1+len(objs.Tenants)+len(objs.Networks), c.Generations)
			}
		})
	}
}

func decodeManifests(t *testing.T, b []byte) Objects {
	t.Helper()
	var objs Objects
	for _, doc := range strings.Split(string(b), "---\n") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatal(err)
		}
		strict := func(v any) {
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				t.Fatalf("%s: %v", tm.Kind, err)
			}
		}
		switch tm.Kind {
		case KindHostUnderlay:
			objs.Host = &v1.HostUnderlay{}
			strict(objs.Host)
		case KindTenant:
			var o v1.Tenant
			strict(&o)
			objs.Tenants = append(objs.Tenants, o)
		case KindNetwork:
			var o v1.Network
			strict(&o)
			objs.Networks = append(objs.Networks, o)
		default:
			t.Fatalf("unknown kind %q", tm.Kind)
		}
	}
	return objs
}

func testObjects() Objects {
	return Objects{
		Host: &v1.HostUnderlay{ObjectMeta: metav1.ObjectMeta{Name: "h1", Generation: 2},
			Spec: v1.HostUnderlaySpec{ASN: 65101, VTEP: "10.0.0.1", Uplinks: []string{"up1", "up2"}}},
		Tenants: []v1.Tenant{
			{ObjectMeta: metav1.ObjectMeta{Name: "red", Generation: 1}, Spec: v1.TenantSpec{L3VNI: 1000}},
			{ObjectMeta: metav1.ObjectMeta{Name: "blue", Generation: 4}, Spec: v1.TenantSpec{L3VNI: 2000}},
		},
		Networks: []v1.Network{
			{ObjectMeta: metav1.ObjectMeta{Name: "red.web", Generation: 1}, Spec: v1.NetworkSpec{Tenant: "red", VNI: 10, VLAN: 10, Gateways: []string{"10.1.10.1/24"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "red.app", Generation: 3}, Spec: v1.NetworkSpec{Tenant: "red", VNI: 20, VLAN: 20}},
			{ObjectMeta: metav1.ObjectMeta{Name: "blue.web", Generation: 1}, Spec: v1.NetworkSpec{Tenant: "blue", VNI: 30, VLAN: 30}},
		},
	}
}

func TestComposeOrderAndGenerations(t *testing.T) {
	c, err := Compose("h1", testObjects())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tn := range c.Intent.Tenants {
		for _, n := range tn.Networks {
			got = append(got, tn.Name+"/"+n.Name)
		}
	}
	if want := []string{"blue/web", "red/app", "red/web"}; !slices.Equal(got, want) {
		t.Errorf("networks %v, want %v (tenants and networks in name order)", got, want)
	}
	// Automatic L3VNI VLANs follow tenant name order: blue 3000, red 3001.
	if v := c.Intent.L3VLAN(); v["blue"] != 3000 || v["red"] != 3001 {
		t.Errorf("L3VLANs %v", v)
	}
	if c.Generations["Network/red.app"] != 3 || c.Generations["Tenant/blue"] != 4 || c.Generations["HostUnderlay/h1"] != 2 {
		t.Errorf("generations %v", c.Generations)
	}
}

// TestComposeErrors: each problem names the object (and its field) it
// is in, also when the api validation found it in the composed intent.
func TestComposeErrors(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name   string
		mutate func(*Objects)
		want   []string // "path: message" substrings, in order
	}{
		{"no host", func(o *Objects) { o.Host = nil }, []string{`HostUnderlay/h1: no such object: node "h1" has no HostUnderlay`}},
		{"host being deleted", func(o *Objects) { o.Host.DeletionTimestamp = &now }, []string{`HostUnderlay/h1: no such object`}},
		{"unknown tenant", func(o *Objects) {
			o.Networks = append(o.Networks, v1.Network{ObjectMeta: metav1.ObjectMeta{Name: "green.db"}, Spec: v1.NetworkSpec{Tenant: "green", VNI: 40, VLAN: 40}})
		}, []string{`Network/green.db: spec.tenant: no Tenant "green"`}},
		{"tenant being deleted", func(o *Objects) { o.Tenants[1].DeletionTimestamp = &now },
			[]string{`Network/blue.web: spec.tenant: no Tenant "blue"`}},
		{"name not TENANT.NETWORK", func(o *Objects) { o.Networks[0].Spec.Tenant = "blue" },
			[]string{`Network/red.web: the name must be TENANT.NETWORK with TENANT = spec.tenant ("blue")`}},
		{"duplicate VNI across objects", func(o *Objects) { o.Networks[2].Spec.VNI = 20 },
			[]string{`Network/red.app: spec.vni: 20 is already used by Network/blue.web: spec`}},
		{"duplicate VLAN", func(o *Objects) { o.Networks[1].Spec.VLAN = 10 },
			[]string{`Network/red.web: spec.vlan: 10 is already used by Network/red.app: spec`}},
		{"bad gateway", func(o *Objects) { o.Networks[0].Spec.Gateways = []string{"10.1.10.0/24"} },
			[]string{`Network/red.web: spec.gateways[0]:`}},
		{"bad vtep", func(o *Objects) { o.Host.Spec.VTEP = "10.0.0.300" },
			[]string{`HostUnderlay/h1: spec.vtep: "10.0.0.300" is not an IPv4 address`}},
		{"workload on unknown network", func(o *Objects) {
			o.Host.Spec.Workloads = []v1.Workload{{Name: "vm1", Network: "red/db", Interface: "tap1"}}
		}, []string{`HostUnderlay/h1: spec.workloads[0].network:`}},
		{"reserved tenant name", func(o *Objects) {
			o.Tenants = append(o.Tenants, v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v1.TenantSpec{L3VNI: 3000}})
		}, []string{`Tenant/default: metadata.name: "default" is reserved`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testObjects()
			tc.mutate(&o)
			c, err := Compose("h1", o)
			if err == nil {
				t.Fatalf("Compose accepted it: %+v", c.Intent)
			}
			if c.Intent != nil {
				t.Error("an intent with an error")
			}
			ve, ok := err.(*api.ValidationError)
			if !ok {
				t.Fatalf("%T %v", err, err)
			}
			var lines []string
			for _, p := range ve.Problems {
				lines = append(lines, p.Path+": "+p.Msg)
			}
			all := strings.Join(lines, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems\n%s\nlack %q", all, w)
				}
			}
			if strings.Contains(all, "tenants[") || strings.Contains(all, "host.") {
				t.Errorf("an intent path is left in\n%s", all)
			}
		})
	}
}

func TestNAD(t *testing.T) {
	got, err := NAD("red/web", NADOptions{Namespace: "apps", Subnet: "10.1.10.0/24", RangeStart: "10.1.10.100", RangeEnd: "10.1.10.199"})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "nad-red-web.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("NAD differs from %s:\n%s", golden, got)
	}
	// The config is the CNI plugin's (docs/workloads.md).
	var nad struct {
		Spec struct{ Config string } `json:"spec"`
	}
	if err := yaml.Unmarshal(got, &nad); err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal([]byte(nad.Spec.Config), &conf); err != nil {
		t.Fatal(err)
	}
	if conf["type"] != "evpnhost-cni" || conf["network"] != "red/web" || conf["name"] != "red-web" || conf["mode"] != "bridged" {
		t.Errorf("config %v", conf)
	}
	for _, bad := range []struct {
		ref string
		o   NADOptions
	}{{"red", NADOptions{}}, {"red/web", NADOptions{Mode: "l2"}}, {"red/web", NADOptions{RangeStart: "10.1.10.1"}}} {
		if _, err := NAD(bad.ref, bad.o); err == nil {
			t.Errorf("NAD(%q, %+v) accepted", bad.ref, bad.o)
		}
	}
}

// TestExampleManifest: contrib/kubernetes/example.yaml composes into a
// valid intent.
func TestExampleManifest(t *testing.T) {
	b, err := os.ReadFile("../../contrib/kubernetes/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compose("node1", decodeManifests(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Intent.Tenants) != 1 || len(c.Intent.Tenants[0].Networks) != 1 {
		t.Fatalf("%+v", c.Intent)
	}
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

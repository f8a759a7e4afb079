package fabric_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/fabric"
)

const (
	red  = `{"name":"red","l3vni":4001,"networks":[{"name":"web","vni":10,"vlan":10,"gateways":["10.1.10.1/24"]}]}`
	blue = "name: blue\nl3vni: 4002\nnetworks:\n  - {name: web, vni: 30, vlan: 30, gateways: [10.1.10.1/24]}\n"
	h1   = `{"name":"h1","asn":65101,"vtep":"10.0.0.1","uplinks":["up1","up2"]}`
	h2   = `{"name":"h2","asn":65102,"vtep":"10.0.0.2","uplinks":["up1","up2"]}`
	wl1  = `[{"name":"rweb1","network":"red/web","interface":"rweb1","ips":["10.1.10.11"]}]`
)

func snapshot(kv map[string]string) *fabric.Snapshot {
	s := &fabric.Snapshot{Layout: fabric.Layout{}, Revision: 100, Values: map[string]fabric.Value{}}
	rev := int64(1)
	for k, v := range kv {
		s.Values[k] = fabric.Value{Data: []byte(v), ModRevision: rev}
		rev++
	}
	return s
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		prefix, key, kind, name string
		ok                      bool
	}{
		{"", "/evpnhost/tenants/red", "tenants", "red", true},
		{"/x/", "/x/hosts/h1", "hosts", "h1", true},
		{"", "/evpnhost/status/h1", "status", "h1", true},
		{"", "/evpnhost/other/h1", "", "", false},
		{"", "/evpnhost/hosts/", "", "", false},
		{"", "/evpnhost/hosts/a/b", "", "", false},
		{"", "/elsewhere/hosts/h1", "", "", false},
	} {
		kind, name, ok := fabric.Layout{Prefix: tc.prefix}.Parse(tc.key)
		if kind != tc.kind || name != tc.name || ok != tc.ok {
			t.Errorf("Parse(%q) with prefix %q = %q %q %v", tc.key, tc.prefix, kind, name, ok)
		}
	}
	if k := (fabric.Layout{Prefix: "/p"}).Key("hosts", "h1"); k != "/p/hosts/h1" {
		t.Errorf("Key = %q", k)
	}
}

func TestHostIntent(t *testing.T) {
	s := snapshot(map[string]string{
		"/evpnhost/tenants/red":  red,
		"/evpnhost/tenants/blue": blue, // YAML is accepted too
		"/evpnhost/hosts/h1":     h1,
		"/evpnhost/workloads/h1": wl1,
		"/evpnhost/hosts/h2":     h2,
		"/evpnhost/status/h1":    `{"host":"h1"}`,
	})
	in, rev, err := s.HostIntent("h1")
	if err != nil {
		t.Fatal(err)
	}
	if in.Host.Name != "h1" || len(in.Tenants) != 2 || in.Tenants[0].Name != "blue" || len(in.Workloads) != 1 {
		t.Fatalf("composed intent: %+v", in)
	}
	if rev < 1 || rev > 6 {
		t.Errorf("input revision %d", rev)
	}
	in2, _, err := s.HostIntent("h2")
	if err != nil || len(in2.Workloads) != 0 || len(in2.Tenants) != 2 {
		t.Fatalf("h2: %v %+v", err, in2)
	}
	// Both hosts derive the same automatic L3VNI VLANs.
	if a, b := in.L3VLAN(), in2.L3VLAN(); a["red"] != b["red"] || a["blue"] != b["blue"] {
		t.Errorf("L3VLANs differ: %v %v", a, b)
	}
	if bad := s.Validate(); len(bad) != 0 {
		t.Errorf("valid fabric reported invalid: %v", bad)
	}
}

func TestHostIntentErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   map[string]string
		host string
		want []string // substrings of the error
	}{
		{"no host", map[string]string{"/evpnhost/tenants/red": red}, "h1",
			[]string{`/evpnhost/hosts/h1: no such key: host "h1" is not in the fabric`}},
		{"unknown field", map[string]string{"/evpnhost/hosts/h1": h1, "/evpnhost/tenants/red": `{"name":"red","l3vni":4001,"colour":"red"}`}, "h1",
			[]string{"/evpnhost/tenants/red: cannot decode", "colour"}},
		{"name mismatch", map[string]string{"/evpnhost/hosts/h1": h2}, "h1",
			[]string{`/evpnhost/hosts/h1: host.name is "h2", the key names "h1"`}},
		{"tenant name mismatch", map[string]string{"/evpnhost/hosts/h1": h1, "/evpnhost/tenants/blue": red}, "h1",
			[]string{`/evpnhost/tenants/blue: name is "red", the key names "blue"`}},
		{"workload on unknown network", map[string]string{"/evpnhost/hosts/h1": h1, "/evpnhost/workloads/h1": wl1}, "h1",
			[]string{"workloads[0].network"}},
		{"invalid value", map[string]string{"/evpnhost/hosts/h1": h1, "/evpnhost/tenants/red": `{"name":"red","l3vni":99999999}`}, "h1",
			[]string{"tenants[0].l3vni"}},
		{"empty", map[string]string{"/evpnhost/hosts/h1": " "}, "h1", []string{"/evpnhost/hosts/h1: empty value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := snapshot(tc.kv).HostIntent(tc.host)
			var ve *api.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidateFabric(t *testing.T) {
	s := snapshot(map[string]string{
		"/evpnhost/tenants/red":  red,
		"/evpnhost/hosts/h1":     h1,
		"/evpnhost/hosts/h2":     strings.Replace(h2, "10.0.0.2", "10.0.0.1", 1),
		"/evpnhost/workloads/h9": wl1,
		"/evpnhost/stray/thing":  "x",
	})
	bad := s.Validate()
	if len(bad) != 3 {
		t.Fatalf("want 3 problems, got %v", bad)
	}
	if err := bad["h2"]; err == nil || !strings.Contains(err.Error(), `10.0.0.1 is also the VTEP of host "h1"`) {
		t.Errorf("duplicate VTEP: %v", err)
	}
	if err := bad["/evpnhost/workloads/h9"]; err == nil || !strings.Contains(err.Error(), "not in the fabric") {
		t.Errorf("orphan workloads: %v", err)
	}
	if err := bad["/evpnhost/stray/thing"]; err == nil {
		t.Errorf("stray key not reported")
	}
}

func TestStatusConverged(t *testing.T) {
	st := fabric.Status{AppliedRevision: 10}
	if !st.Converged(10) || !st.Converged(9) || st.Converged(11) {
		t.Error("revision comparison")
	}
	st.Errors = []fabric.ObjectError{{Object: "x", Error: "y"}}
	if st.Converged(10) {
		t.Error("errors must make a host unconverged")
	}
	if (fabric.Status{}).Converged(0) {
		t.Error("a host that never applied is not converged")
	}
}

func TestObjectErrors(t *testing.T) {
	ve := &api.ValidationError{Problems: []api.FieldError{{Path: "tenants[0].l3vni", Msg: "bad"}, {Path: "host.asn", Msg: "worse"}}}
	got := fabric.ObjectErrors("etcd", ve)
	if len(got) != 2 || got[0].Object != "tenants[0].l3vni" || got[1].Error != "worse" {
		t.Errorf("%+v", got)
	}
	if got := fabric.ObjectErrors("etcd", errors.New("down")); len(got) != 1 || got[0].Object != "etcd" {
		t.Errorf("%+v", got)
	}
	if fabric.ObjectErrors("x", nil) != nil {
		t.Error("nil error")
	}
}

func TestHostIntentValueSize(t *testing.T) {
	big := red[:len(red)-1] + `,"rd":"` + strings.Repeat(" ", api.MaxIntentBytes) + `"}`
	s := snapshot(map[string]string{
		"/evpnhost/tenants/red": big,
		"/evpnhost/hosts/h1":    h1,
	})
	in, _, err := s.HostIntent("h1")
	want := "/evpnhost/tenants/red: the value is " + fmt.Sprint(len(big)) + " bytes: at most 4194304 (4 MiB) are accepted"
	if in != nil || err == nil || err.Error() != want {
		t.Fatalf("got %v, %v\nwant %s", in, err, want)
	}
	// Values each below the limit but together above it.
	half := red[:len(red)-1] + `,"rd":"` + strings.Repeat(" ", api.MaxIntentBytes/2) + `"}`
	s = snapshot(map[string]string{
		"/evpnhost/tenants/red":  half,
		"/evpnhost/tenants/blue": strings.Replace(half, `"red"`, `"blue"`, 1),
		"/evpnhost/hosts/h1":     h1,
	})
	if _, _, err := s.HostIntent("h1"); err == nil || !strings.Contains(err.Error(), `/evpnhost/hosts/h1: host "h1"'s intent (its host, tenants and workloads values) is `) {
		t.Fatalf("got %v", err)
	}
}

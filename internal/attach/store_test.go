package attach

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/plan"
)

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Fatalf("empty store: %v %v", l, err)
	}
	a := Attachment{ID: CNIID("c1", "eth0"), Owner: OwnerCNI, Network: "red/web", Mode: ModeBridged,
		Interface: HostIfName("c1", "eth0"), MAC: "02:00:00:00:00:01", IPs: []string{"10.1.10.5"}, ContainerID: "c1", IfName: "eth0"}
	if err := s.Put(a); err != nil {
		t.Fatal(err)
	}
	b := Attachment{ID: AttachID("vnet0"), Owner: OwnerAttach, Network: "red/web", Mode: ModeBridged, Interface: "vnet0"}
	if err := s.Put(b); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(a.ID)
	if err != nil || !ok || got.Interface != a.Interface || got.Created == "" {
		t.Fatalf("get: %+v %v %v", got, ok, err)
	}
	l, err := s.List()
	if err != nil || len(l) != 2 || l[0].ID != b.ID || l[1].ID != a.ID {
		t.Fatalf("list: %+v %v", l, err)
	}
	for _, p := range []string{filepath.Join(dir, "attachments"), filepath.Join(dir, "attachments", a.ID+".json")} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if st.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	if err := s.Delete(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(a.ID); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, ok, _ := s.Get(a.ID); ok {
		t.Fatal("deleted attachment still there")
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "attachments"))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	if err := s.Put(Attachment{ID: "../evil"}); err == nil {
		t.Fatal("path traversal accepted")
	}
}

func TestNames(t *testing.T) {
	n := HostIfName("0123456789abcdef0123456789abcdef", "eth0")
	if len(n) != 11 || !strings.HasPrefix(n, "evc") {
		t.Fatalf("host name %q", n)
	}
	if n == HostIfName("0123456789abcdef0123456789abcdef", "eth1") {
		t.Fatal("ifname not part of the host name")
	}
	if StateDir("", "") != "/var/lib/evpnhost" || StateDir("", "h1") != "/var/lib/evpnhost/h1" || StateDir("/x", "h1") != "/x" {
		t.Fatal("state dir defaults")
	}
}

// TestLockSerializes: concurrent read-modify-write under the lock loses
// no update.
func TestLockSerializes(t *testing.T) {
	s := Open(t.TempDir())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := s.Lock()
			if err != nil {
				t.Error(err)
				return
			}
			defer unlock()
			l, _ := s.List()
			_ = s.Put(Attachment{ID: AttachID("tap" + string(rune('a'+i))), Interface: "x", Network: "a/b"})
			_ = l
		}()
	}
	wg.Wait()
	if l, _ := s.List(); len(l) != 8 {
		t.Fatalf("%d attachments, want 8", len(l))
	}
}

func TestIntentFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadIntent(dir); err == nil {
		t.Fatal("no intent: want an error")
	}
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveIntent(dir, in); err != nil {
		t.Fatal(err)
	}
	back, err := LoadIntent(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Resolve(back, "red/web")
	if err != nil || n.VLAN != 10 || n.Tenant != "red" || n.Table != 1000 || len(n.Gateways) != 1 || n.MTU != 9050 {
		t.Fatalf("resolve: %+v %v", n, err)
	}
	if _, err := Resolve(back, "red/nope"); err == nil || !strings.Contains(err.Error(), "red/web") {
		t.Fatalf("unknown network: %v", err)
	}
}

// fakeKernel applies operations to a model of the kernel.
type fakeKernel struct{ st kernel.State }

func (f *fakeKernel) Observe(_, ports []string) (kernel.State, error) { return f.st, nil }

func (f *fakeKernel) Apply(ops []kernel.Op) (int, error) {
	for _, op := range ops {
		switch {
		case op.Neigh != nil && op.Action == kernel.ActDelete:
			f.st.Neighs = del(f.st.Neighs, *op.Neigh)
		case op.Neigh != nil:
			f.st.Neighs = append(f.st.Neighs, *op.Neigh)
		case op.FDB != nil && op.Action == kernel.ActDelete:
			f.st.FDB = del(f.st.FDB, *op.FDB)
		case op.FDB != nil:
			f.st.FDB = append(f.st.FDB, *op.FDB)
		case op.Route != nil && op.Action == kernel.ActDelete:
			f.st.Routes = del(f.st.Routes, *op.Route)
		case op.Route != nil:
			f.st.Routes = append(f.st.Routes, *op.Route)
		case op.Link != nil && op.Action == kernel.ActSet:
			for i := range f.st.Links {
				if f.st.Links[i].Name == op.Link.Name {
					f.st.Links[i].Master, f.st.Links[i].PVID = op.Link.Master, op.Link.PVID
				}
			}
		case op.Link != nil && op.Action == kernel.ActUp:
			for i := range f.st.Links {
				if f.st.Links[i].Name == op.Link.Name {
					f.st.Links[i].Up = true
				}
			}
		}
	}
	return len(ops), nil
}

func del[T comparable](xs []T, x T) []T {
	var out []T
	for _, y := range xs {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}

// TestConverge: the fast path touches only the attachment's objects, a
// second run does nothing, and detaching removes exactly what it added.
func TestConverge(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := plan.Build(in).Kernel
	k := &fakeKernel{st: base}
	k.st.Links = append(k.st.Links, kernel.Link{Name: "evc1", Kind: kernel.KindPort}, kernel.Link{Name: "evc2", Kind: kernel.KindPort})
	// Another tenant's neighbor with the same address must stay.
	k.st.Neighs = append(k.st.Neighs, kernel.Neigh{Dev: "vlan110", IP: mustAddr("10.1.10.50"), MAC: "02:00:00:00:bb:01"})
	before := len(k.st.Neighs)
	br := Attachment{ID: "cni-1", Network: "red/web", Mode: ModeBridged, Interface: "evc1", MAC: "02:00:00:00:aa:01", IPs: []string{"10.1.10.50"}}
	p, err := Converge(k, in, br, true)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, op := range p.Ops() {
		ops = append(ops, op.String())
	}
	want := "set     link evc1: master \"\" -> \"evpnbr\", pvid 0 -> 10\nadd     fdb 02:00:00:00:aa:01 dev evc1 vlan 10: master static\nadd     neigh 10.1.10.50 dev vlan10: lladdr 02:00:00:00:aa:01 nud permanent"
	if got := strings.Join(ops, "\n"); got != want {
		t.Fatalf("ops:\n%s\nwant:\n%s", got, want)
	}
	if p, _ := Pending(k, in, br, true); p.Len() != 0 {
		t.Fatalf("second run not empty: %v", p.Ops())
	}
	rt := Attachment{ID: "cni-2", Network: "red/web", Mode: ModeRouted, Interface: "evc2", IPs: []string{"10.1.99.5"}}
	if _, err := Converge(k, in, rt, true); err != nil {
		t.Fatal(err)
	}
	if l, _ := k.st.Link("evc2"); l.Master != "red" || !l.Up {
		t.Fatalf("routed port: %+v", l)
	}
	if len(k.st.Routes) == 0 || k.st.Routes[len(k.st.Routes)-1] != (kernel.Route{Table: 1000, Dst: mustPrefix("10.1.99.5/32"), Dev: "evc2"}) {
		t.Fatalf("routes: %+v", k.st.Routes)
	}
	for _, a := range []Attachment{br, rt} {
		if _, err := Converge(k, in, a, false); err != nil {
			t.Fatal(err)
		}
	}
	if len(k.st.Neighs) != before || len(k.st.FDB) != len(base.FDB) || len(k.st.Routes) != len(base.Routes) {
		t.Fatalf("detach left objects: %+v", k.st)
	}
	if l, _ := k.st.Link("evc1"); l.Master != "" {
		t.Fatalf("evc1 still enslaved: %+v", l)
	}
	if _, err := Converge(k, in, Attachment{ID: "cni-3", Network: "red/web", Interface: "nothere"}, true); err == nil {
		t.Fatal("missing interface: want an error")
	}
	if _, err := Converge(k, in, Attachment{ID: "cni-4", Network: "red/nope", Interface: "evc1"}, true); err == nil {
		t.Fatal("unknown network: want an error")
	}
}

func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestCheckInterfaceName(t *testing.T) {
	for name, want := range map[string]string{
		"tap0":        "",
		"vnet12":      "",
		"evc0123abcd": `"evc0123abcd" is reserved: names starting with evc are the host ends of evpnhost-cni's veths`,
		"ipmr-lo":     `"ipmr-lo" is reserved: it is the kernel's multicast routing device, which pimd uses`,
		"fabric":      `"fabric" is reserved: it is the name of the uplinks' BGP peer-group in FRR`,
		"10.0.0.1":    `"10.0.0.1" is reserved: it parses as an IP address, and FRR would read it as one`,
		"evpnbr":      `"evpnbr" is reserved: names starting with evpn are evpnhost's own (the bridge is evpnbr)`,
		"vx100":       `"vx100" is reserved: evpnhost names its VXLAN devices vx<VNI>`,
		"..":          `".." is not an interface name: use A-Z, a-z, 0-9, '-', '_' and '.', start with a letter or digit, at most 15 characters`,
	} {
		err := CheckInterfaceName(name)
		if got := fmt.Sprint(err); (want == "" && err != nil) || (want != "" && got != want) {
			t.Errorf("CheckInterfaceName(%q) = %v, want %q", name, err, want)
		}
	}
}

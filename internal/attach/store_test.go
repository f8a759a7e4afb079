package attach

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/kernel/kerneltest"
	"github.com/evpnhost/evpnhost/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the goldens")

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

// TestConverge: the fast path touches only the attachment's objects, a
// second run does nothing, and detaching removes exactly what it added.
// The host is kerneltest's fake, compared as text.
func TestConverge(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := plan.Build(in).Kernel
	base.Links = append(base.Links, kernel.Link{Name: "evc1", Kind: kernel.KindPort, Up: true}, kernel.Link{Name: "evc2", Kind: kernel.KindPort})
	// Another tenant's neighbor with the same address must stay.
	base.Neighs = append(base.Neighs, kernel.Neigh{Dev: "vlan110", IP: mustAddr("10.1.10.50"), MAC: "02:00:00:00:bb:01"})
	k := kerneltest.New(base)
	before := k.String()
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
	kerneltest.Golden(t, "testdata/converge.txt", k.String(), *update)
	for _, a := range []Attachment{br, rt} {
		if _, err := Converge(k, in, a, false); err != nil {
			t.Fatal(err)
		}
	}
	// Detached, the ports are back as they were; evc2 stays up (its
	// owner's business, like its existence).
	after := strings.Replace(k.String(), "evc2: state UP", "evc2: state DOWN", 1)
	if after != before {
		t.Fatalf("detach did not restore the host:\n%s\nwant:\n%s", after, before)
	}
	if _, err := Converge(k, in, Attachment{ID: "cni-3", Network: "red/web", Interface: "nothere"}, true); err == nil {
		t.Fatal("missing interface: want an error")
	}
	if _, err := Converge(k, in, Attachment{ID: "cni-4", Network: "red/nope", Interface: "evc1"}, true); err == nil {
		t.Fatal("unknown network: want an error")
	}
}

// TestConvergeKernelFailure: a failing kernel operation fails the
// attachment with the kernel's error, naming the object; what was not
// blocked by it is applied.
func TestConvergeKernelFailure(t *testing.T) {
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := plan.Build(in).Kernel
	base.Links = append(base.Links, kernel.Link{Name: "evc1", Kind: kernel.KindPort, Up: true})
	k := kerneltest.New(base)
	k.FailOn("fdb 02:00:00:00:aa:01 dev evc1 vlan 10")
	br := Attachment{ID: "cni-1", Network: "red/web", Mode: ModeBridged, Interface: "evc1", MAC: "02:00:00:00:aa:01", IPs: []string{"10.1.10.50"}}
	_, err = Converge(k, in, br, true)
	var ae *kernel.ApplyError
	if !errors.As(err, &ae) || err.Error() != "kernel: add fdb 02:00:00:00:aa:01 dev evc1 vlan 10: injected failure" {
		t.Fatalf("err = %v", err)
	}
	want := `evc1: state UP master evpnbr
    port
    bridge_slave pvid 10 untagged
`
	if got := kerneltest.Dump(kernel.State{Links: []kernel.Link{link(k, "evc1")}}); got != want {
		t.Fatalf("evc1:\n%s\nwant:\n%s", got, want)
	}
	if p, _ := Pending(k, in, br, true); len(p.Ops()) != 1 || p.Ops()[0].Object != "fdb 02:00:00:00:aa:01 dev evc1 vlan 10" {
		t.Fatalf("pending after the failure: %v", p.Ops())
	}
}

func link(k *kerneltest.Kernel, name string) kernel.Link {
	s := k.State()
	l, _ := s.Link(name)
	return l
}

func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// TestLegacyAndCorruptFiles: an attachment and an intent written before
// versioned state files still read; a corrupt attachment is an error
// naming its file, not a missing attachment.
func TestLegacyAndCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	if err := os.MkdirAll(filepath.Join(dir, "attachments"), 0o700); err != nil {
		t.Fatal(err)
	}
	legacy := `{"id":"attach-tap0","owner":"attach","network":"red/web","mode":"bridged","interface":"tap0"}`
	if err := os.WriteFile(filepath.Join(dir, "attachments", "attach-tap0.json"), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	if a, ok, err := s.Get("attach-tap0"); !ok || err != nil || a.Interface != "tap0" {
		t.Fatalf("legacy attachment: %+v %v %v", a, ok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "intent.json"), []byte(`{"host":{"name":"h1"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if in, err := LoadIntent(dir); err != nil || in.Host.Name != "h1" {
		t.Fatalf("legacy intent: %+v %v", in, err)
	}
	bad := filepath.Join(dir, "attachments", "attach-tap1.json")
	if err := os.WriteFile(bad, []byte(`{"id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("corrupt attachment: %v, want an error naming %s", err, bad)
	}
}

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

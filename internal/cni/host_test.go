package cni

import (
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/kernel/kerneltest"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// host is an applied two-tenants intent on kerneltest's fake, with the
// host end of a CNI veth (evc1) attached by the fast path and recorded.
func host(t *testing.T) (k *kerneltest.Kernel, in *api.Intent, dir string, rec attach.Attachment, before string) {
	t.Helper()
	in, err := api.Load("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := attach.SaveIntent(dir, in); err != nil {
		t.Fatal(err)
	}
	s := plan.Build(in).Kernel
	before = kerneltest.Dump(s)
	s.Links = append(s.Links, kernel.Link{Name: "evc1", Kind: kernel.KindPort, Up: true}) // ADD's veth
	k = kerneltest.New(s)
	rec = attach.Attachment{ID: attach.CNIID("c1", "eth0"), Owner: attach.OwnerCNI, Network: "red/web", Mode: attach.ModeBridged,
		Interface: "evc1", MAC: "02:00:00:00:aa:01", IPs: []string{"10.1.10.50"}, ContainerID: "c1", IfName: "eth0"}
	if err := attach.Open(dir).Put(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := attach.Converge(k, in, rec, true); err != nil {
		t.Fatal(err)
	}
	return k, in, dir, rec, before
}

// TestRemove: DEL/GC's remove takes the attachment's entries, its veth and
// its record, leaving the host as it was before ADD.
func TestRemove(t *testing.T) {
	k, _, dir, rec, before := host(t)
	if !strings.Contains(k.String(), "02:00:00:00:aa:01 dev evc1 vlan 10 master static") {
		t.Fatalf("not attached:\n%s", k)
	}
	remove(k, dir, rec)
	if got := k.String(); got != before {
		t.Fatalf("after remove:\n%s\nwant:\n%s", got, before)
	}
	if _, ok, err := attach.Open(dir).Get(rec.ID); ok || err != nil {
		t.Fatalf("record still there: %v %v", ok, err)
	}
	remove(k, dir, rec) // idempotent: nothing left to do, no panic
}

// TestHostDrift: CHECK's host side reports nothing for an attachment in
// place, and what the fast path would redo once something is lost.
func TestHostDrift(t *testing.T) {
	k, in, _, rec, _ := host(t)
	if msg := hostDrift(k, in, rec, "red/web"); msg != "" {
		t.Fatalf("drift on a fresh attachment: %s", msg)
	}
	f := kernel.FDB{Dev: "evc1", MAC: "02:00:00:00:aa:01", VLAN: 10}
	if _, err := k.Apply([]kernel.Op{{Action: kernel.ActDelete, Object: f.Key(), FDB: &f}}); err != nil {
		t.Fatal(err)
	}
	want := "host side of evc1 (red/web) needs: add     fdb 02:00:00:00:aa:01 dev evc1 vlan 10: master static"
	if msg := hostDrift(k, in, rec, "red/web"); msg != want {
		t.Fatalf("drift:\n%s\nwant:\n%s", msg, want)
	}
	if _, err := k.DeleteLink("evc1"); err != nil {
		t.Fatal(err)
	}
	if msg := hostDrift(k, in, rec, "red/web"); msg != "host side: interface evc1 not found" {
		t.Fatalf("drift without the veth: %s", msg)
	}
}

package reconcile

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// TestApplyKeepsAttachments: recorded attachments are part of the desired
// state (their ports are planned, not detached), a missing attachment
// interface is reported without failing the apply, and the applied
// intent is recorded for the CNI plugin.
func TestApplyKeepsAttachments(t *testing.T) {
	in, err := api.Parse([]byte(intent))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := attach.Open(dir)
	for _, a := range []attach.Attachment{
		{ID: "cni-1", Owner: attach.OwnerCNI, Network: "red/web", Mode: attach.ModeBridged, Interface: "evc1", MAC: "02:00:00:00:aa:01", IPs: []string{"10.1.10.50"}},
		{ID: "cni-2", Owner: attach.OwnerCNI, Network: "red/web", Mode: attach.ModeBridged, Interface: "evcgone"},
	} {
		if err := s.Put(a); err != nil {
			t.Fatal(err)
		}
	}
	h := newSim(kernel.Link{Name: "evc1", Kind: kernel.KindPort})
	r := h.reconciler(t, &bytes.Buffer{})
	r.StateDir = dir
	res, err := r.Apply(context.Background(), in)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(res.Missing) != 0 || len(res.MissingAttachments) != 1 || res.MissingAttachments[0] != "evcgone" {
		t.Fatalf("missing %v, attachments %v", res.Missing, res.MissingAttachments)
	}
	var ops []string
	for _, op := range res.Kernel.Ops() {
		ops = append(ops, op.String())
	}
	all := strings.Join(ops, "\n")
	for _, want := range []string{`set     link evc1: master "" -> "evpnbr", pvid 0 -> 10`, "add     neigh 10.1.10.50 dev vlan10"} {
		if !strings.Contains(all, want) {
			t.Errorf("plan lacks %q:\n%s", want, all)
		}
	}
	back, err := attach.LoadIntent(dir)
	if err != nil || back.Host.Name != "h1" {
		t.Fatalf("intent.json: %v %v", back, err)
	}
}

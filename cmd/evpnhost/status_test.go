package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

// TestSetStatesCarrier: a port without carrier is reported, and the table
// says why nothing flows.
func TestSetStatesCarrier(t *testing.T) {
	rows := []workloadRow{
		{Name: "vm1", Mode: attach.ModeBridged, Interface: "tap1"},
		{Name: "vm2", Mode: attach.ModeBridged, Interface: "tap2"},
		{Name: "c1", Mode: attach.ModeRouted, Interface: "evc1"},
		{Name: "vm3", Mode: attach.ModeBridged, Interface: "tap3"},
		{Name: "vm4", Mode: attach.ModeBridged, Interface: "tap4"},
	}
	obs := kernel.State{Links: []kernel.Link{
		{Name: "tap1", Kind: kernel.KindPort, Master: kernel.BridgeName, Up: true, Carrier: true},
		{Name: "tap2", Kind: kernel.KindPort, Master: kernel.BridgeName, Up: true},
		{Name: "evc1", Kind: kernel.KindPort, Master: "red", Up: true},
		{Name: "tap3", Kind: kernel.KindPort},
	}}
	setStates(rows, obs)
	want := []string{"attached", "no-carrier", "no-carrier", "detached", "missing"}
	for i, r := range rows {
		if r.State != want[i] {
			t.Errorf("%s: state %q, want %q", r.Name, r.State, want[i])
		}
	}
	var out bytes.Buffer
	c := &cobra.Command{}
	c.SetOut(&out)
	printWorkloads(c, rows)
	for _, w := range []string{"workload vm2: interface tap2 has no carrier", "workload c1: interface evc1 has no carrier"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "vm1: interface tap1 has no carrier") {
		t.Errorf("tap1 has carrier:\n%s", out.String())
	}
}

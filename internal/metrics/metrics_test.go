package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/metrics"
	"github.com/evpnhost/evpnhost/internal/policy"
	"github.com/evpnhost/evpnhost/internal/status"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestScrape(t *testing.T) {
	st := status.Status{
		Sessions: []status.Session{{Interface: "up1", RemoteAS: 65000, State: "Established", UptimeMsec: 61000, IPv4Prefixes: 4, EVPNPrefixes: 12},
			{Interface: "up2", RemoteAS: 65000, State: "Active"}},
		VNIs:   []status.VNI{{VNI: 10, Type: "L2", Tenant: "red", LocalMACs: 2, RemoteMACs: 3, ARPND: 5, RemoteVTEPs: []string{"10.0.0.2", "10.0.0.3"}}},
		Routes: status.Routes{Advertised: map[string]int{"2": 4, "3": 1, "5": 2}, Received: map[string]int{"2": 6, "3": 4, "5": 0}},
	}
	pol := func() (string, []policy.RuleCounter, error) {
		return "ebpf", []policy.RuleCounter{{Tenant: "red", Rule: 0, Allowed: 7}, {Tenant: "red", Rule: -1, Denied: 3}}, nil
	}
	m := metrics.New(func(context.Context) (status.Status, error) { return st, nil }, pol)
	m.Reconciled(120*time.Millisecond, "", fabric.Status{AppliedRevision: 17, LastSuccess: time.Unix(1700000000, 0)})
	m.Reconciled(time.Second, "kernel", fabric.Status{AppliedRevision: 17, Errors: []fabric.ObjectError{{Object: "link vx20", Error: "exists"}}})
	out := scrape(t, m)
	for _, want := range []string{
		`evpnhost_frr_up 1`,
		`evpnhost_bgp_session_up{peer="up1",remote_as="65000"} 1`,
		`evpnhost_bgp_session_up{peer="up2",remote_as="65000"} 0`,
		`evpnhost_bgp_session_uptime_seconds{peer="up1"} 61`,
		`evpnhost_bgp_prefixes_received{afi="l2vpn_evpn",peer="up1"} 12`,
		`evpnhost_vni_local_macs{tenant="red",type="L2",vni="10"} 2`,
		`evpnhost_vni_remote_macs{tenant="red",type="L2",vni="10"} 3`,
		`evpnhost_vni_neighbors{tenant="red",type="L2",vni="10"} 5`,
		`evpnhost_vni_remote_vteps{tenant="red",type="L2",vni="10"} 2`,
		`evpnhost_evpn_routes_advertised{type="5"} 2`,
		`evpnhost_evpn_routes_received{type="2"} 6`,
		`evpnhost_reconcile_duration_seconds_count 2`,
		`evpnhost_apply_errors_total{cause="kernel"} 1`,
		`evpnhost_apply_errors_total{cause="frr"} 0`,
		`evpnhost_intent_revision 17`,
		`evpnhost_last_success_timestamp_seconds 1.7e+09`,
		`evpnhost_object_errors 1`,
		`evpnhost_policy_rule_allowed_flows_total{backend="ebpf",rule="0",tenant="red"} 7`,
		`evpnhost_policy_rule_denied_packets_total{backend="ebpf",rule="-1",tenant="red"} 3`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// Names follow the Prometheus conventions (promlint).
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestScrapeFRRDown(t *testing.T) {
	m := metrics.New(func(context.Context) (status.Status, error) { return status.Status{}, errors.New("vtysh: no bgpd") }, nil)
	if out := scrape(t, m); !strings.Contains(out, "evpnhost_frr_up 0\n") {
		t.Errorf("frr_up not 0:\n%s", out)
	}
}

// Package status collects a host's EVPN state from FRR's JSON output
// (sessions, VNIs, MACs) into one structure for humans and machines.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
)

// JSONSource runs a vtysh show command that prints JSON (frrctl.Instance).
type JSONSource interface {
	JSON(ctx context.Context, cmd string, v any) error
}

// BatchSource runs several show commands at once (frrctl.Instance.JSONAll):
// one vtysh process instead of one per command.
type BatchSource interface {
	JSONAll(ctx context.Context, cmds []string, vs []any) error
}

// query is one show command and where its JSON goes.
type query struct {
	cmd  string
	what string // for errors: "bgp summary"
	v    any
}

// fetch runs qs in one batch when src can, else (or when the batch's
// output does not decode, e.g. a daemon printed nothing) one by one.
func fetch(ctx context.Context, src JSONSource, qs []query) error {
	if b, ok := src.(BatchSource); ok {
		cmds, vs := make([]string, len(qs)), make([]any, len(qs))
		for i, q := range qs {
			cmds[i], vs[i] = q.cmd, q.v
		}
		if b.JSONAll(ctx, cmds, vs) == nil {
			return nil
		}
	}
	for _, q := range qs {
		reflect.ValueOf(q.v).Elem().SetZero() // drop what a failed batch decoded
		if err := src.JSON(ctx, q.cmd, q.v); err != nil {
			return fmt.Errorf("%s: %w", q.what, err)
		}
	}
	return nil
}

// Status is the state of one host.
type Status struct {
	Hostname string             `json:"hostname"`
	ASN      uint32             `json:"asn"`
	RouterID string             `json:"routerID"`
	VTEP     string             `json:"vtep"`
	Sessions []Session          `json:"sessions"`
	VNIs     []VNI              `json:"vnis"`
	Tenants  map[string]*Tenant `json:"tenants"`
	// Routes counts EVPN routes by type ("2", "3", "5").
	Routes Routes `json:"evpnRoutes"`
}

// Routes are EVPN route counts by route type: Advertised are the routes
// this host originates (sent to both TORs), Received the paths learnt from
// peers (a route heard from both TORs counts twice).
type Routes struct {
	Advertised map[string]int `json:"advertised"`
	Received   map[string]int `json:"received"`
}

// Session is a BGP session to an uplink.
type Session struct {
	Interface    string `json:"interface"`
	PeerName     string `json:"peerName,omitempty"`
	RemoteAS     uint32 `json:"remoteAS"`
	State        string `json:"state"`
	Uptime       string `json:"uptime,omitempty"`
	UptimeMsec   int64  `json:"uptimeMsec"`
	IPv4Prefixes int    `json:"ipv4PrefixesReceived"`
	EVPNPrefixes int    `json:"evpnPrefixesReceived"`
}

// VNI is one L2 or L3 VNI as zebra sees it.
type VNI struct {
	VNI         uint32   `json:"vni"`
	Type        string   `json:"type"`
	Tenant      string   `json:"tenant,omitempty"`
	Device      string   `json:"device,omitempty"`
	LocalMACs   int      `json:"localMACs"`
	RemoteMACs  int      `json:"remoteMACs"`
	ARPND       int      `json:"arpNd"`
	RemoteVTEPs []string `json:"remoteVTEPs"`
}

// Tenant sums a tenant's VNIs.
type Tenant struct {
	L3VNI       uint32   `json:"l3vni"`
	VNIs        []uint32 `json:"vnis"`
	LocalMACs   int      `json:"localMACs"`
	RemoteMACs  int      `json:"remoteMACs"`
	RemoteVTEPs []string `json:"remoteVTEPs"`
}

type bgpSummary struct {
	IPv4 *afiSummary `json:"ipv4Unicast"`
	EVPN *afiSummary `json:"l2VpnEvpn"`
}

type afiSummary struct {
	RouterID string `json:"routerId"`
	AS       uint32 `json:"as"`
	Peers    map[string]struct {
		Hostname   string `json:"hostname"`
		RemoteAS   uint32 `json:"remoteAs"`
		State      string `json:"state"`
		Uptime     string `json:"peerUptime"`
		UptimeMsec int64  `json:"peerUptimeMsec"`
		PfxRcd     int    `json:"pfxRcd"`
	} `json:"peers"`
}

// Collect reads FRR's state. vtep is the VTEP address found in the kernel.
func Collect(ctx context.Context, src JSONSource, hostname, vtep string) (Status, error) {
	st := Status{Hostname: hostname, VTEP: vtep, Tenants: map[string]*Tenant{}}
	var (
		sum   bgpSummary
		vnis  map[string]vniJSON
		macs  map[string]macsJSON
		table map[string]json.RawMessage
	)
	if err := fetch(ctx, src, []query{
		{"show bgp summary json", "bgp summary", &sum},
		{"show evpn vni json", "evpn vni", &vnis},
		{"show evpn mac vni all json", "evpn macs", &macs},
		{routesCmd, "evpn routes", &table},
	}); err != nil {
		return st, err
	}
	byIf := map[string]*Session{}
	var order []string
	add := func(a *afiSummary, evpn bool) {
		if a == nil {
			return
		}
		st.RouterID, st.ASN = a.RouterID, a.AS
		for name, p := range a.Peers {
			s, ok := byIf[name]
			if !ok {
				s = &Session{Interface: name, PeerName: p.Hostname, RemoteAS: p.RemoteAS, State: p.State, Uptime: p.Uptime, UptimeMsec: p.UptimeMsec}
				byIf[name] = s
				order = append(order, name)
			}
			if evpn {
				s.EVPNPrefixes = p.PfxRcd
			} else {
				s.IPv4Prefixes = p.PfxRcd
			}
		}
	}
	add(sum.IPv4, false)
	add(sum.EVPN, true)
	sort.Strings(order)
	for _, n := range order {
		st.Sessions = append(st.Sessions, *byIf[n])
	}

	keys := make([]string, 0, len(vnis))
	for k := range vnis {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
	for _, k := range keys {
		v := vnis[k]
		out := VNI{VNI: v.VNI, Type: v.Type, Tenant: v.TenantVrf, Device: v.VxlanIf, ARPND: v.NumArpNd, RemoteVTEPs: []string{}}
		vteps := map[string]bool{}
		for _, m := range macs[k].Macs {
			if m.Type == "remote" {
				out.RemoteMACs++
				vteps[m.RemoteVtep] = true
			} else {
				out.LocalMACs++
			}
		}
		for _, r := range v.RemoteVteps {
			vteps[r] = true
		}
		for r := range vteps {
			out.RemoteVTEPs = append(out.RemoteVTEPs, r)
		}
		sort.Strings(out.RemoteVTEPs)
		st.VNIs = append(st.VNIs, out)
		if v.TenantVrf == "" || v.TenantVrf == "default" {
			continue
		}
		t := st.Tenants[v.TenantVrf]
		if t == nil {
			t = &Tenant{RemoteVTEPs: []string{}}
			st.Tenants[v.TenantVrf] = t
		}
		if v.Type == "L3" {
			t.L3VNI = v.VNI
			continue
		}
		t.VNIs = append(t.VNIs, v.VNI)
		t.LocalMACs += out.LocalMACs
		t.RemoteMACs += out.RemoteMACs
		for _, r := range out.RemoteVTEPs {
			if !slices.Contains(t.RemoteVTEPs, r) {
				t.RemoteVTEPs = append(t.RemoteVTEPs, r)
			}
		}
		sort.Strings(t.RemoteVTEPs)
	}
	st.Routes = countRoutes(table)
	return st, nil
}

// vniJSON is a VNI of `show evpn vni json`.
type vniJSON struct {
	VNI            uint32   `json:"vni"`
	Type           string   `json:"type"`
	VxlanIf        string   `json:"vxlanIf"`
	NumMacs        int      `json:"numMacs"`
	NumArpNd       int      `json:"numArpNd"`
	NumRemoteVteps any      `json:"numRemoteVteps"`
	TenantVrf      string   `json:"tenantVrf"`
	RemoteVteps    []string `json:"remoteVteps"`
}

// macsJSON are a VNI's MACs in `show evpn mac vni all json`.
type macsJSON struct {
	Macs map[string]struct {
		Type       string `json:"type"`
		RemoteVtep string `json:"remoteVtep"`
	} `json:"macs"`
}

const routesCmd = "show bgp l2vpn evpn route json"

// collectRoutes reads the EVPN table and counts its paths by route type.
func collectRoutes(ctx context.Context, src JSONSource) (Routes, error) {
	var table map[string]json.RawMessage
	if err := fetch(ctx, src, []query{{routesCmd, "evpn routes", &table}}); err != nil {
		return countRoutes(nil), err
	}
	return countRoutes(table), nil
}

// countRoutes counts the paths of the EVPN table by route type.
func countRoutes(table map[string]json.RawMessage) Routes {
	r := Routes{Advertised: map[string]int{}, Received: map[string]int{}}
	for _, t := range []string{"2", "3", "5"} {
		r.Advertised[t], r.Received[t] = 0, 0
	}
	for _, raw := range table {
		var rd map[string]json.RawMessage
		if json.Unmarshal(raw, &rd) != nil { // numPrefix, numPaths
			continue
		}
		for _, pfx := range rd {
			var e struct {
				Paths [][]struct {
					RouteType int    `json:"routeType"`
					PeerID    string `json:"peerId"`
				} `json:"paths"`
			}
			if json.Unmarshal(pfx, &e) != nil {
				continue
			}
			for _, group := range e.Paths {
				for _, p := range group {
					t := strconv.Itoa(p.RouteType)
					if p.PeerID == "(unspec)" {
						r.Advertised[t]++
					} else {
						r.Received[t]++
					}
				}
			}
		}
	}
	return r
}

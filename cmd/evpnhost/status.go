package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/agent"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/kernel"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/plan"
	"github.com/evpnhost/evpnhost/internal/reconcile"
	"github.com/evpnhost/evpnhost/internal/status"
)

// workloadRow is one workload of the host: from the intent or attached at
// run time (CNI, evpnhost attach).
type workloadRow struct {
	Name        string   `json:"name"`
	Source      string   `json:"source"` // intent, cni, attach
	Network     string   `json:"network"`
	Mode        string   `json:"mode"`
	Interface   string   `json:"interface"`
	MAC         string   `json:"mac,omitempty"`
	IPs         []string `json:"ips,omitempty"`
	ContainerID string   `json:"containerID,omitempty"`
	// State: "attached" (the interface is a port of the bridge or VRF),
	// "no-carrier" (a port, but it or its peer is down: nothing flows),
	// "missing" (no such interface) or "detached".
	State string `json:"state"`
}

// workloads lists the applied intent's workloads (in may be nil: nothing
// applied yet) and the attachments, without their state.
func workloads(in *api.Intent, stateDir string) ([]workloadRow, error) {
	rows := []workloadRow{}
	if in != nil {
		for _, w := range in.Workloads {
			rows = append(rows, workloadRow{Name: w.Name, Source: "intent", Network: w.Network, Mode: attach.ModeBridged,
				Interface: w.Interface, MAC: w.MAC, IPs: w.IPs})
		}
	}
	atts, err := attach.Open(stateDir).List()
	if err != nil {
		return nil, err
	}
	for _, a := range atts {
		name := a.ID
		if a.Owner == attach.OwnerDocker && a.Name != "" {
			name = api.DockerPrefix + a.Name // as policy selectors name it
		}
		rows = append(rows, workloadRow{Name: name, Source: a.Owner, Network: a.Network, Mode: a.Mode, Interface: a.Interface,
			MAC: a.MAC, IPs: a.IPs, ContainerID: a.ContainerID})
	}
	return rows, nil
}

// setStates fills each workload's State from the observed kernel.
func setStates(rows []workloadRow, obs kernel.State) {
	for i, r := range rows {
		l, ok := obs.Link(r.Interface)
		switch {
		case !ok:
			rows[i].State = "missing"
		case l.Master == kernel.BridgeName || (r.Mode == attach.ModeRouted && l.Master != ""):
			rows[i].State = "attached"
			if !l.Carrier {
				rows[i].State = "no-carrier"
			}
		default:
			rows[i].State = "detached"
		}
	}
}

func printWorkloads(c *cobra.Command, rows []workloadRow) {
	if len(rows) == 0 {
		return
	}
	w := tabwriter.NewWriter(c.OutOrStdout(), 0, 2, 2, ' ', 0)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "WORKLOAD\tSOURCE\tNETWORK\tMODE\tINTERFACE\tMAC\tIPS\tSTATE")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Source, r.Network, r.Mode, r.Interface, dash(r.MAC), joinOrDash(r.IPs), r.State)
	}
	w.Flush()
	for _, r := range rows {
		if r.State == "no-carrier" {
			fmt.Fprintf(c.OutOrStdout(), "warning: workload %s: interface %s has no carrier (it or its peer is down): no traffic flows\n", r.Name, r.Interface)
		}
	}
}

func statusCmd(o *options) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show BGP sessions, the VTEP, VNIs and tenants of this host",
		Long: `Read the kernel of this network namespace and the FRR instance's JSON state and
print the BGP sessions (peer, state, uptime, prefixes received per family), the VTEP,
and per VNI its type, tenant, MAC counts and remote VTEPs. It also compares each
tenant's routes through its L3VNI with the kernel's neighbor and FDB entries and warns
about every next hop whose router MAC is lost (FRR #12391, FRR before 9.1 except 8.4.5+,
after a TOR failure): routed traffic to that VTEP is lost although the routes look
right; 'evpnhost agent' repairs it, 'evpnhost apply' does not. It warns about every
uplink whose MTU is below what VXLAN needs (the largest network MTU + 50 bytes of
headers): large frames through it are fragmented or dropped, small ones pass, so
nothing else shows it; evpnhost never changes an uplink's MTU. --json prints the same
for machines (l3vniHoles, uplinkMTU).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, done, err := o.reconciler()
			if err != nil {
				return err
			}
			defer done()
			in, _ := attach.LoadIntent(o.stateDirPath()) // nil before the first apply
			wl, err := workloads(in, o.stateDirPath())
			if err != nil {
				return exitError{exitFailed, err}
			}
			ports := make([]string, 0, len(wl))
			for _, w := range wl {
				ports = append(ports, w.Interface)
			}
			if in != nil {
				ports = append(ports, in.Host.Uplinks...) // their MTU
			}
			obs, err := r.Kernel.Observe(nil, ports)
			if err != nil {
				return exitError{exitFailed, err}
			}
			setStates(wl, obs)
			vxdev := vxlanDeviceLine(c.Context(), r, in, obs)
			st, err := status.Collect(c.Context(), r.FRR, hostName(o), vtepOf(obs))
			if err != nil {
				return exitError{exitFailed, err}
			}
			holes, err := l3Holes(r.Kernel, in, reconcile.CurrentMode(obs) == api.VXLANSingle)
			if err != nil {
				return exitError{exitFailed, err}
			}
			uplinks := plan.CheckUplinks(in, obs)
			if uplinks == nil {
				uplinks = []plan.UplinkIssue{}
			}
			nets := networks(in)
			var last *fabric.Status
			if a, err := agent.ReadStatus(o.stateDirPath()); err == nil {
				last = &a
			}
			pol := readPolicy(o)
			w := c.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					status.Status
					Networks  []networkRow   `json:"networks"`
					Workloads []workloadRow  `json:"workloads"`
					LastApply *fabric.Status `json:"lastApply,omitempty"`
					Policy    *policyStatus  `json:"policy,omitempty"`
					// L3VNIHoles are next hops of tenant routes whose
					// router MAC the kernel lost (FRR #12391).
					L3VNIHoles []l3HoleRow `json:"l3vniHoles"`
					VXLAN      string      `json:"vxlanDevice,omitempty"`
					// UplinkMTU are uplinks whose MTU is below what the
					// networks' VXLAN frames need.
					UplinkMTU []plan.UplinkIssue `json:"uplinkMTU"`
				}{st, nets, wl, last, pol, holes, vxdev, uplinks})
			}
			printStatus(c, st)
			if vxdev != "" {
				fmt.Fprintf(c.OutOrStdout(), "VXLAN device: %s\n\n", vxdev)
			}
			printL3Holes(c, holes)
			printUplinkIssues(c, uplinks)
			printNetworks(c, nets)
			printWorkloads(c, wl)
			printPolicy(c, pol)
			printLastApply(c, last)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// l3HoleRow is a next hop of a tenant's routes through its L3VNI whose
// router MAC, neighbor or FDB entry the kernel lacks.
type l3HoleRow struct {
	Tenant  string `json:"tenant"`
	L3VNI   uint32 `json:"l3vni"`
	VTEP    string `json:"vtep"`
	NextHop string `json:"nextHop"`
	Routes  int    `json:"routes"`
	Problem string `json:"problem"`
}

// l3Holes checks the applied intent's L3VNIs against the kernel (none
// before the first apply, none on the single VXLAN device: FRR >= 9, and
// the check knows per-VNI devices only).
func l3Holes(k reconcile.Kernel, in *api.Intent, single bool) ([]l3HoleRow, error) {
	rows := []l3HoleRow{}
	nl, ok := k.(*linux.Netlink)
	if in == nil || !ok || single {
		return rows, nil
	}
	hops, err := nl.L3NextHops(plan.L3VNIs(in))
	if err != nil {
		return nil, fmt.Errorf("check the L3VNIs' router MACs: %w", err)
	}
	for _, h := range hops {
		if h.Problem != "" {
			rows = append(rows, l3HoleRow{Tenant: h.Tenant, L3VNI: h.VNI, VTEP: h.Gateway.Unmap().String(),
				NextHop: h.Gateway.String(), Routes: h.Routes, Problem: h.Problem})
		}
	}
	return rows, nil
}

func printUplinkIssues(c *cobra.Command, us []plan.UplinkIssue) {
	for _, u := range us {
		fmt.Fprintf(c.OutOrStdout(), "warning: uplink %s: %s (evpnhost does not set the uplinks' MTU: raise it on the host and its TOR port)\n", u.Uplink, u.Problem)
	}
}

func printL3Holes(c *cobra.Command, rows []l3HoleRow) {
	w := c.OutOrStdout()
	for _, r := range rows {
		fmt.Fprintf(w, "warning: tenant %s: L3VNI %d: next hop %s (VTEP %s, %d routes): %s: routed traffic to it is lost (FRR #12391); only 'evpnhost agent' repairs it (docs/agent.md)\n",
			r.Tenant, r.L3VNI, r.NextHop, r.VTEP, r.Routes, r.Problem)
	}
}

func printStatus(c *cobra.Command, st status.Status) {
	w := tabwriter.NewWriter(c.OutOrStdout(), 0, 2, 2, ' ', 0)
	fmt.Fprintf(w, "Host\t%s\tAS %d\trouter-id %s\tVTEP %s\n", st.Hostname, st.ASN, st.RouterID, st.VTEP)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "SESSION\tPEER\tREMOTE AS\tSTATE\tUPTIME\tIPV4 PFX\tEVPN PFX")
	for _, s := range st.Sessions {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%d\n", s.Interface, dash(s.PeerName), s.RemoteAS, s.State, dash(s.Uptime), s.IPv4Prefixes, s.EVPNPrefixes)
	}
	if len(st.VNIs) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "VNI\tTYPE\tTENANT\tDEVICE\tLOCAL MACS\tREMOTE MACS\tARP/ND\tREMOTE VTEPS")
		for _, v := range st.VNIs {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", v.VNI, v.Type, dash(v.Tenant), dash(v.Device), v.LocalMACs, v.RemoteMACs, v.ARPND, joinOrDash(v.RemoteVTEPs))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "EVPN ROUTES\tTYPE-2\tTYPE-3\tTYPE-5")
	r := st.Routes
	fmt.Fprintf(w, "advertised\t%d\t%d\t%d\n", r.Advertised["2"], r.Advertised["3"], r.Advertised["5"])
	fmt.Fprintf(w, "received\t%d\t%d\t%d\n", r.Received["2"], r.Received["3"], r.Received["5"])
	if len(st.Tenants) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "TENANT\tL3VNI\tVNIS\tLOCAL MACS\tREMOTE MACS\tREMOTE VTEPS")
		names := make([]string, 0, len(st.Tenants))
		for n := range st.Tenants {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t := st.Tenants[n]
			fmt.Fprintf(w, "%s\t%d\t%v\t%d\t%d\t%s\n", n, t.L3VNI, t.VNIs, t.LocalMACs, t.RemoteMACs, joinOrDash(t.RemoteVTEPs))
		}
	}
	w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinOrDash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += "," + x
	}
	return out
}

// collectStatus is the host's status for the metrics endpoint: the VTEP
// (see below), the rest from FRR.
func collectStatus(ctx context.Context, o *options, k reconcile.Kernel, src status.JSONSource) (status.Status, error) {
	// The VTEP of the applied intent: no kernel dump per metrics scrape
	// (seconds at 1000 VNIs under emulation), and none on the reconciles'
	// netlink handle. The kernel's before the first apply.
	if in, err := attach.LoadIntent(o.stateDirPath()); err == nil && in.Host.VTEP != "" {
		return status.Collect(ctx, src, hostName(o), in.Host.VTEP)
	}
	obs, err := k.Observe(nil, nil)
	if err != nil {
		return status.Status{}, err
	}
	return status.Collect(ctx, src, hostName(o), vtepOf(obs))
}

// vtepOf is the VTEP address found in the kernel ("" when none).
func vtepOf(obs kernel.State) string {
	if len(obs.LoAddrs) > 0 {
		return obs.LoAddrs[0].Addr().String()
	}
	return ""
}

// hostName names the host in the status: the FRR instance when one is
// given (a lab host), else the system's host name.
func hostName(o *options) string {
	if o.instance != "" {
		return o.instance
	}
	h, _ := os.Hostname()
	return h
}

// networkRow is one network of the applied intent.
type networkRow struct {
	Tenant   string   `json:"tenant"`
	Network  string   `json:"network"`
	VNI      uint32   `json:"vni"`
	VLAN     uint16   `json:"vlan"`
	Gateways []string `json:"gateways,omitempty"`
	L3VNI    uint32   `json:"l3vni"`
}

// networks are the networks of the intent applied last (none when in is
// nil).
func networks(in *api.Intent) []networkRow {
	rows := []networkRow{}
	if in == nil {
		return rows
	}
	for _, t := range in.Tenants {
		for _, n := range t.Networks {
			rows = append(rows, networkRow{Tenant: t.Name, Network: n.Name, VNI: n.VNI, VLAN: n.VLAN, Gateways: n.Gateways, L3VNI: t.L3VNI})
		}
	}
	return rows
}

func printNetworks(c *cobra.Command, rows []networkRow) {
	if len(rows) == 0 {
		return
	}
	w := tabwriter.NewWriter(c.OutOrStdout(), 0, 2, 2, ' ', 0)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "NETWORK\tVNI\tVLAN\tL3VNI\tGATEWAYS")
	for _, r := range rows {
		fmt.Fprintf(w, "%s/%s\t%d\t%d\t%d\t%s\n", r.Tenant, r.Network, r.VNI, r.VLAN, r.L3VNI, joinOrDash(r.Gateways))
	}
	w.Flush()
}

func printLastApply(c *cobra.Command, st *fabric.Status) {
	w := c.OutOrStdout()
	fmt.Fprintln(w)
	if st == nil {
		fmt.Fprintln(w, "Last apply: no agent status (the agent writes it; 'evpnhost apply' does not)")
		return
	}
	last := "never"
	if !st.LastSuccess.IsZero() {
		last = st.LastSuccess.Local().Format(time.DateTime)
	}
	fmt.Fprintf(w, "Last apply (agent): success %s, attempt %s, source %s, revision %d, %d errors\n",
		last, st.LastAttempt.Local().Format(time.DateTime), dash(st.Source), st.AppliedRevision, len(st.Errors))
	for _, e := range st.Errors {
		fmt.Fprintf(w, "  %s: %s\n", e.Object, e.Error)
	}
}

// vxlanDeviceLine says which VXLAN device mode the host uses and why:
// the last applied intent's, resolved again against the facts, and what
// the kernel holds when that differs (an apply is pending). "" when
// there is neither intent nor VXLAN device.
func vxlanDeviceLine(ctx context.Context, r *reconcile.Reconciler, in *api.Intent, obs kernel.State) string {
	cur := reconcile.CurrentMode(obs)
	if in == nil {
		if cur == "" {
			return ""
		}
		return cur + " (the kernel's VXLAN devices; no intent applied)"
	}
	var f api.Facts
	if r.Facts != nil {
		f = r.Facts(ctx)
	}
	res := reconcile.VXLANDevice(in, f, obs)
	if cur != "" && cur != res.Mode {
		return fmt.Sprintf("%s in the kernel; the intent resolves to %s: apply pending", cur, res)
	}
	return res.String()
}

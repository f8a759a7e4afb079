package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/kernel"
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
	// "missing" (no such interface) or "detached".
	State string `json:"state"`
}

// workloads lists the applied intent's workloads and the attachments.
func workloads(stateDir string, k reconcile.Kernel) ([]workloadRow, error) {
	rows := []workloadRow{}
	if in, err := attach.LoadIntent(stateDir); err == nil {
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
		rows = append(rows, workloadRow{Name: a.ID, Source: a.Owner, Network: a.Network, Mode: a.Mode, Interface: a.Interface,
			MAC: a.MAC, IPs: a.IPs, ContainerID: a.ContainerID})
	}
	var ports []string
	for _, r := range rows {
		ports = append(ports, r.Interface)
	}
	obs, err := k.Observe(nil, ports)
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		l, ok := obs.Link(r.Interface)
		switch {
		case !ok:
			rows[i].State = "missing"
		case l.Master == kernel.BridgeName || (r.Mode == attach.ModeRouted && l.Master != ""):
			rows[i].State = "attached"
		default:
			rows[i].State = "detached"
		}
	}
	return rows, nil
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
}

func statusCmd(o *options) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show BGP sessions, the VTEP, VNIs and tenants of this host",
		Long: `Read the kernel of this network namespace and the FRR instance's JSON state and
print the BGP sessions (peer, state, uptime, prefixes received per family), the VTEP,
and per VNI its type, tenant, MAC counts and remote VTEPs. --json prints the same for
machines.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, done, err := o.reconciler()
			if err != nil {
				return err
			}
			defer done()
			obs, err := r.Kernel.Observe(nil, nil)
			if err != nil {
				return exitError{exitFailed, err}
			}
			vtep := ""
			if len(obs.LoAddrs) > 0 {
				vtep = obs.LoAddrs[0].Addr().String()
			}
			host, _ := os.Hostname()
			if o.instance != "" {
				host = o.instance
			}
			st, err := status.Collect(c.Context(), r.FRR, host, vtep)
			if err != nil {
				return exitError{exitFailed, err}
			}
			wl, err := workloads(o.stateDirPath(), r.Kernel)
			if err != nil {
				return exitError{exitFailed, err}
			}
			w := c.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					status.Status
					Workloads []workloadRow `json:"workloads"`
				}{st, wl})
			}
			printStatus(c, st)
			printWorkloads(c, wl)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
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

package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/internal/policy"
	"github.com/evpnhost/evpnhost/internal/policy/enforce"
)

// policyFlag adds --policy-backend to apply and agent.
func policyFlag(c *cobra.Command, o *options) {
	c.Flags().StringVar(&o.policyBackend, "policy-backend", enforce.Auto,
		"how tenant policies are enforced at workload ports: ebpf (tc programs), nftables, or auto (ebpf when its programs load, else nftables)")
}

// enforcer is the policy enforcer of apply and agent.
func (o *options) enforcer() (*enforce.Enforcer, error) {
	if o.policyBackend == "" {
		o.policyBackend = enforce.Auto
	}
	if !enforce.Valid(o.policyBackend) {
		return nil, exitError{exitInvalid, fmt.Errorf("--policy-backend %q: use ebpf, nftables or auto", o.policyBackend)}
	}
	return &enforce.Enforcer{Backend: o.policyBackend, StateDir: o.stateDirPath(), Instance: o.instance}, nil
}

// policyStatus is the POLICY part of `evpnhost status`.
type policyStatus struct {
	Backend  string               `json:"backend"`
	Counters []policy.RuleCounter `json:"counters,omitempty"`
	Error    string               `json:"error,omitempty"`
}

// readPolicy reads the rule counters of the backend that enforces the
// policies; nil when none does.
func readPolicy(o *options) *policyStatus {
	sd := o.stateDirPath()
	b, err := enforce.Recorded(sd)
	if err != nil {
		return &policyStatus{Backend: "unknown", Error: err.Error()}
	}
	if b == "" {
		return nil
	}
	ps := &policyStatus{Backend: b}
	cs, err := enforce.Counters(sd, o.instance)
	if err != nil {
		ps.Error = err.Error()
	}
	ps.Counters = cs
	return ps
}

func printPolicy(c *cobra.Command, ps *policyStatus) {
	if ps == nil {
		return
	}
	w := tabwriter.NewWriter(c.OutOrStdout(), 0, 2, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintln(w)
	fmt.Fprintf(w, "POLICY (%s)\tRULE\tALLOWED\tDENIED\n", ps.Backend)
	for _, r := range ps.Counters {
		rule := fmt.Sprint(r.Rule)
		if r.Rule < 0 {
			rule = "default"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\n", r.Tenant, rule, r.Allowed, r.Denied)
	}
	if ps.Error != "" {
		fmt.Fprintf(w, "error\t%s\t\t\n", ps.Error)
	}
}

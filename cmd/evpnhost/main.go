// Command evpnhost turns a host intent file into kernel and FRR state:
// EVPN-VXLAN on a Linux host dual-homed to two TORs.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/reconcile"
	"github.com/evpnhost/evpnhost/internal/state"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // apply or status failed
	exitInvalid = 2 // the intent is invalid, or usage error
)

type options struct {
	instance string
	stateDir string
	verbose  bool
	// policyBackend is --policy-backend (apply, agent).
	policyBackend string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "evpnhost:", err)
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitInvalid // cobra usage errors
}

func newRoot() *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:   "evpnhost",
		Short: "EVPN-VXLAN for Linux hosts: intent in, kernel and FRR state out",
		Long: `evpnhost turns a declarative host intent (underlay, tenants, networks, workloads)
into kernel state through netlink (VTEP loopback, VLAN-aware bridge, VXLAN devices,
tenant VRFs with L3VNIs, anycast-gateway SVIs) and FRR configuration (BGP unnumbered
to the TORs, L2VPN EVPN, symmetric IRB per tenant).

It works on the network namespace it runs in: 'ip netns exec h1 evpnhost apply ...'
drives a lab host. See docs/intent.md for the intent file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&o.instance, "frr-instance", "", "FRR pathspace to talk to (vtysh -N NAME); empty means the system FRR")
	root.PersistentFlags().StringVar(&o.stateDir, "state-dir", "", "where evpnhost records what it owns (default /var/lib/evpnhost, or /var/lib/evpnhost/NAME with --frr-instance)")
	root.PersistentFlags().BoolVarP(&o.verbose, "verbose", "v", false, "log each step to stderr")
	root.AddCommand(validateCmd(), planCmd(o), applyCmd(o), statusCmd(o), agentCmd(o), attachCmd(o), detachCmd(o), dockerPluginCmd(o), fabricCmd(), kubeCmd())
	return root
}

func fileFlag(c *cobra.Command, path *string) {
	c.Flags().StringVarP(path, "file", "f", "", "intent file (YAML), required")
	_ = c.MarkFlagRequired("file")
}

func load(path string) (*api.Intent, error) {
	in, err := api.Load(path)
	if err != nil {
		return nil, exitError{exitInvalid, fmt.Errorf("%s:\n%w", path, err)}
	}
	return in, nil
}

func validateCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check an intent file and report every problem with its path",
		Long: `Parse the intent strictly (unknown fields are errors) and validate it. Every
problem is reported, one per line, as 'path: reason'. Exit status 0 when the intent
is valid, 2 when it is not. Touches nothing.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if _, err := load(path); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "%s: valid\n", path)
			return nil
		},
	}
	fileFlag(c, &path)
	return c
}

func (o *options) reconciler() (*reconcile.Reconciler, func(), error) {
	nl, err := linux.Open()
	if err != nil {
		return nil, nil, exitError{exitFailed, err}
	}
	sd := o.stateDirPath()
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	inst := frrctl.NewInstance(o.instance)
	r := &reconcile.Reconciler{
		Kernel:   nl,
		FRR:      inst,
		StateDir: sd,
		Log:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Facts:    func(ctx context.Context) api.Facts { return facts(ctx, inst, nl) },
	}
	enf, err := o.enforcer()
	if err != nil {
		nl.Close()
		return nil, nil, err
	}
	enf.Log = r.Log
	r.Policy = enf
	return r, func() { nl.Close(); enf.Close() }, nil
}

// facts are what host.vxlanDevice's default depends on: FRR's version and
// the kernel's vnifilter.
func facts(ctx context.Context, inst *frrctl.Instance, nl *linux.Netlink) api.Facts {
	var f api.Facts
	if v, err := inst.Version(ctx); err == nil && v.Known() {
		f.FRRVersion, f.FRRMajor = v.String(), v.Major
	}
	f.VNIFilter, f.VNIFilterWhy = nl.VNIFilter()
	return f
}

func (o *options) stateDirPath() string {
	return state.Dir(o.stateDir, o.instance)
}

func planCmd(o *options) *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "plan -f FILE",
		Short: "Show the kernel operations and the FRR config diff apply would make",
		Long: `Compare the intent with this network namespace's kernel and the FRR instance's
running configuration, and print what 'apply' would do: kernel operations in order
(add, set, replace, delete, up) and the FRR lines to delete and add (computed by
frr-reload.py --test, which also makes FRR check the configuration). Changes nothing.
Exit status 0 whether or not changes are pending.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			in, err := load(path)
			if err != nil {
				return err
			}
			r, done, err := o.reconciler()
			if err != nil {
				return err
			}
			defer done()
			res, err := r.Plan(c.Context(), in)
			if err != nil {
				return exitError{exitFailed, err}
			}
			printPlan(c, res)
			return nil
		},
	}
	fileFlag(c, &path)
	return c
}

func printPlan(c *cobra.Command, res reconcile.Result) {
	w := c.OutOrStdout()
	if res.VXLANDevice.Mode != "" {
		fmt.Fprintf(w, "VXLAN device: %s\n", res.VXLANDevice)
	}
	if !res.Changed() {
		fmt.Fprintln(w, "No changes: the host matches the intent.")
		return
	}
	if res.Kernel.Outage != "" {
		fmt.Fprintf(w, "Outage: %s.\n", res.Kernel.Outage)
	}
	fmt.Fprintf(w, "Kernel operations (%d):\n", res.Kernel.Len())
	for _, op := range res.Kernel.Ops() {
		fmt.Fprintf(w, "  %s\n", op)
	}
	fmt.Fprintf(w, "FRR configuration (-%d +%d lines)%s:\n", len(res.FRR.Delete), len(res.FRR.Add), forFRR(res.FRRVersion))
	defer func() {
		if len(res.Missing) > 0 {
			fmt.Fprintf(w, "Workloads left out, interface not found: %v\n", res.Missing)
		}
	}()
	for _, l := range res.FRR.Delete {
		fmt.Fprintf(w, "  - %s\n", l)
	}
	for _, l := range res.FRR.Add {
		fmt.Fprintf(w, "  + %s\n", l)
	}
}

// forFRR names the FRR a configuration was rendered for: " for FRR 10.3".
func forFRR(v frr.Version) string {
	if !v.Known() {
		return ""
	}
	return " for FRR " + v.String()
}

func applyCmd(o *options) *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Converge the kernel and FRR to the intent",
		Long: `Validate the intent, then converge: kernel objects through netlink, FRR through
frr-reload.py (tested first). Objects evpnhost does not own are never changed. Applying
the same intent again changes nothing. Exit status 0 only when everything is applied;
1 when a step failed (the error names it; the next apply resumes); 2 for an invalid intent,
in which case nothing is touched.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			in, err := load(path)
			if err != nil {
				return err
			}
			r, done, err := o.reconciler()
			if err != nil {
				return err
			}
			defer done()
			res, err := r.Apply(c.Context(), in)
			var missing *reconcile.MissingError
			if err != nil && !errors.As(err, &missing) {
				return exitError{exitFailed, fmt.Errorf("apply failed: %w", err)}
			}
			w := c.OutOrStdout()
			writes := r.Kernel.(*linux.Netlink).Writes
			if res.Changed() {
				printPlan(c, res)
				fmt.Fprintf(w, "Applied: %d kernel operations (%d netlink writes), %d FRR reloads.\n", res.Kernel.Len(), writes, res.FRRReloads)
			} else {
				fmt.Fprintf(w, "No changes: %d netlink writes, %d FRR reloads.\n", writes, res.FRRReloads)
			}
			if missing != nil {
				return exitError{exitFailed, missing}
			}
			return nil
		},
	}
	fileFlag(c, &path)
	policyFlag(c, o)
	return c
}

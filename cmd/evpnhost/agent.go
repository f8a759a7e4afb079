package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/internal/agent"
	"github.com/evpnhost/evpnhost/internal/kernel"
)

func agentCmd(o *options) *cobra.Command {
	a := &agent.Agent{}
	c := &cobra.Command{
		Use:   "agent -f FILE",
		Short: "Keep the host at its intent: re-apply on change and periodically, refresh neighbors",
		Long: `Run until stopped (SIGINT/SIGTERM). Applies the intent at start, whenever the file
changes, shortly after the kernel reports a link or address change (a deleted VXLAN
device or SVI address comes back), and every --resync period, which also repairs FRR
drift. Every --neigh-refresh period it re-probes learnt neighbors on the
tenant SVIs that went stale, so workloads evpnhost did not attach itself keep their EVPN
type-2 routes. An invalid intent file is logged and the last good one is kept. Stopping
the agent leaves the dataplane as it is.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, done, err := o.reconciler()
			if err != nil {
				return err
			}
			defer done()
			a.Applier = r
			a.Refresher = r.Kernel.(*kernel.Netlink)
			events, err := kernel.Subscribe(c.Context().Done())
			if err != nil {
				return exitError{exitFailed, err}
			}
			a.Events = events
			level := slog.LevelInfo
			if o.verbose {
				level = slog.LevelDebug
			}
			a.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			r.Log = a.Log
			return a.Run(c.Context())
		},
	}
	fileFlag(c, &a.IntentFile)
	c.Flags().DurationVar(&a.Resync, "resync", 30*time.Second, "full reconcile period")
	c.Flags().DurationVar(&a.NeighRefresh, "neigh-refresh", 10*time.Second, "period of the stale-neighbor refresh (0 disables)")
	c.Flags().DurationVar(&a.Watch, "watch", time.Second, "how often the intent file is checked for changes")
	return c
}

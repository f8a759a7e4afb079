package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/agent"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/kernel"
	evkube "github.com/evpnhost/evpnhost/internal/kube"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/metrics"
	"github.com/evpnhost/evpnhost/internal/plan"
	"github.com/evpnhost/evpnhost/internal/policy"
	"github.com/evpnhost/evpnhost/internal/policy/enforce"
	"github.com/evpnhost/evpnhost/internal/status"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func agentCmd(o *options) *cobra.Command {
	a := &agent.Agent{}
	var file, host, metricsAddr, restartCmd, kubeconfig string
	var inCluster bool
	var poll time.Duration
	var l3note string  // why the L3VNI check is on or off
	var bfdnote string // why the BFD repair is on or off
	e := &etcdFlags{}
	c := &cobra.Command{
		Use:   "agent (-f FILE | --etcd-endpoints URLS --host NAME | --kubeconfig FILE|--kube-in-cluster --host NODE)",
		Short: "Keep the host at its intent (file, etcd or Kubernetes): re-apply on change, drift and FRR restarts",
		Long: `Run until stopped (SIGINT/SIGTERM). The intent comes from a file (-f, polled every
--watch), from the fabric intent in etcd (--etcd-endpoints and --host: the fabric's
tenants, this host's underlay and workloads; see 'evpnhost fabric'), or from the
evpnhost.io custom resources of a Kubernetes cluster (--kubeconfig FILE, or
--kube-in-cluster in a pod, and --host NODE: every Tenant and Network, and the node's
HostUnderlay, whose status the agent writes; see docs/kubernetes.md).

The agent applies the intent at start; when it changes (file change, etcd watch); shortly
after the kernel reports a link or address change (a deleted VXLAN device or SVI
address comes back); when an FRR daemon restarts (its pid changes; one restarted
under a running zebra first gets the saved configuration, see below); and every --resync
period, which also repairs FRR configuration drift. A failed apply is retried with
backoff (1 s doubling to 30 s); a failure on one object (a device that cannot be
created) does not stop the others. Every --neigh-refresh period it re-probes learnt
neighbors on the tenant SVIs that went stale, so workloads evpnhost did not attach itself
keep their EVPN type-2 routes.

The last intent applied successfully is kept in the state directory (last-good.json)
and used while etcd is unreachable or holds an invalid intent, also across restarts.
After every attempt the agent writes its status (applied revision, errors per object,
last success) to agent-status.json in the state directory and, with etcd, under
PREFIX/status/HOST ('evpnhost fabric status'). --metrics-addr serves Prometheus metrics
on /metrics. Stopping the agent leaves the dataplane as it is.

FRR before 9.1 (except 8.4.5 and later 8.4 releases; Debian 12 ships 8.4.4) has a zebra
defect, FRR #12391: it drops the router MACs of remote VTEPs from an L3VNI when it
replaces the routes through them, as it does when one of the two TORs fails, and routed
traffic between hosts is then lost although every route looks right. On such an FRR
(or when its version cannot be read at start) the agent repairs it by default: every
--l3vni-check period (2s) it compares each L3VNI's routes with the kernel's neighbor and
FDB entries; a next hop lacking them at two checks in a row gets them installed again
with the router MAC last seen for its VTEP (removed again once no route uses them);
when none was seen, the agent bounces the L3VNI's SVI and FRR installs them. Each
repair is logged as op=l3vni-repair with vni= and vtep=, and counted in
evpnhost_l3vni_repairs_total. On an FRR with the fix the check is off unless
--l3vni-check is given; --l3vni-check 0 turns it off everywhere (see docs/agent.md).
'evpnhost apply' alone never repairs it; 'evpnhost status' shows the loss.

FRR 10 (tested: 10.3) with BGP unnumbered and BFD on both ends (host.bfd and the TOR's)
leaves a session down after its port flapped: bgpd deletes the BFD session and never
makes it again, BGP stays Active for minutes (closest upstream report FRR #18742). With
host.bfd, on FRR 10.0 and later (or an unknown version), the agent reads each uplink's
carrier and BGP state every 2 s; an uplink with carrier whose session stayed down for
--bfd-repair (15s) gets BFD taken off the uplinks' peer group until the session is
Established (at most 30 s; no reconcile runs meanwhile), then BFD is put back. Logged as
op=bfd-repair; --bfd-repair 0 turns it off, an explicit duration turns it on anywhere.

After every reconcile the agent compares the uplinks' MTU with what VXLAN needs for the
networks (the largest network MTU + 50 bytes of headers) and logs an uplink below it once
(op=uplink-mtu), and again when it is fixed: large frames through it are fragmented or
dropped while small ones pass. evpnhost never changes an uplink's MTU.

An FRR daemon that restarts while zebra keeps running (bgpd crashed and watchfrr
started it again) comes back without configuration, and a reload cannot see all it lost:
FRR's running configuration merges every daemon's, and zebra's copies of the route-maps
hide their loss in bgpd, whose sessions would then deny every route. The agent loads the
saved configuration (frr.conf, written after every apply) into such daemons, route-maps
and lists first, as FRR's init script does for a daemon it starts (vtysh -b -d DAEMON),
then reconciles (logged as frr-restore). If that fails and --frr-restart-cmd is set
(e.g. 'systemctl restart frr'), it restarts FRR as a whole.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			kube := kubeconfig != "" || inCluster
			n := 0
			for _, set := range []bool{file != "", len(e.endpoints) > 0, kube} {
				if set {
					n++
				}
			}
			switch {
			case n > 1:
				return exitError{exitInvalid, errors.New("give one intent source: -f FILE, --etcd-endpoints, or --kubeconfig/--kube-in-cluster")}
			case kubeconfig != "" && inCluster:
				return exitError{exitInvalid, errors.New("give either --kubeconfig FILE or --kube-in-cluster, not both")}
			case kube:
				if host == "" {
					return exitError{exitInvalid, errors.New("--host NODE is required with --kubeconfig or --kube-in-cluster (in a DaemonSet: the downward API's spec.nodeName)")}
				}
				h, err := agentHostName(host)
				if err != nil {
					return exitError{exitInvalid, err}
				}
				host = h
				cfg, err := evkube.Config(kubeconfig)
				if err != nil {
					return exitError{exitInvalid, err}
				}
				cli, err := evkube.NewClient(cfg)
				if err != nil {
					return exitError{exitInvalid, err}
				}
				src := &evkube.Source{Client: cli, Host: host}
				src.Start(ctx)
				a.Source = src
				a.Reporter = src
				a.Host = host
			case file != "":
				a.Source = &agent.FileSource{Path: file, Poll: poll}
			case len(e.endpoints) > 0:
				if host == "" {
					return exitError{exitInvalid, errors.New("--host NAME is required with --etcd-endpoints")}
				}
				h, err := agentHostName(host)
				if err != nil {
					return exitError{exitInvalid, err}
				}
				host = h
				st, err := e.open()
				if err != nil {
					return exitError{exitInvalid, err}
				}
				defer st.Close()
				a.Source = &agent.EtcdSource{Store: st, Host: host}
				a.Reporter = st
				a.Host = host
			default:
				return exitError{exitInvalid, errors.New("an intent source is required: -f FILE, --etcd-endpoints with --host, or --kubeconfig FILE (or --kube-in-cluster) with --host")}
			}
			r, done, err := o.reconciler()
			if err != nil {
				return err
			}
			defer done()
			a.Applier = r
			a.Refresher = r.Kernel.(*linux.Netlink)
			var frrV frr.Version
			var frrErr error
			if (a.L3Interval > 0 && !c.Flags().Changed("l3vni-check")) || (a.BFDStuck > 0 && !c.Flags().Changed("bfd-repair")) {
				vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				frrV, frrErr = r.FRR.(*frrctl.Instance).Version(vctx)
				cancel()
			}
			if a.L3Interval > 0 && !c.Flags().Changed("l3vni-check") {
				// On by default only where FRR #12391 can strike.
				var on bool
				on, l3note = l3vniDefault(frrV, frrErr)
				if !on {
					a.L3Interval = 0
				}
			}
			if a.BFDStuck > 0 && !c.Flags().Changed("bfd-repair") {
				// On by default only where the BFD stall can strike.
				var on bool
				on, bfdnote = bfdRepairDefault(frrV, frrErr)
				if !on {
					a.BFDStuck = 0
				}
			}
			if a.L3Interval > 0 {
				// The L3VNI check runs beside the reconciles: a netlink
				// handle of its own.
				l3nl, err := linux.Open()
				if err != nil {
					return exitError{exitFailed, err}
				}
				defer l3nl.Close()
				a.L3Check = func() ([]kernel.L3Hole, error) {
					in, err := attach.LoadIntent(o.stateDirPath())
					if err != nil {
						return nil, nil // nothing applied yet
					}
					if _, err := net.InterfaceByName(plan.SingleVXLAN); err == nil {
						// The single VXLAN device runs on FRR >= 9 only,
						// whose zebra keeps the router MACs (FRR #12391,
						// fixed in 8.4.5 and 9.1); the check knows per-VNI
						// devices only.
						return nil, nil
					}
					return l3nl.L3NextHops(plan.L3VNIs(in))
				}
				a.L3Install = l3nl.InstallL3Entry
				a.L3Remove = l3nl.RemoveL3Entry
				a.L3Repair = l3nl.BounceLink
			}
			a.UplinkCheck = uplinkCheck
			if a.BFDStuck > 0 {
				inst := r.FRR.(*frrctl.Instance)
				a.BFDCheck = func() ([]agent.UplinkSession, error) {
					in, err := attach.LoadIntent(o.stateDirPath())
					if err != nil || !in.Host.BFD {
						return nil, nil // nothing applied yet, or no BFD
					}
					return uplinkSessions(ctx, inst, in.Host.Uplinks)
				}
				a.BFDToggle = func(uplink string, on bool) error {
					in, err := attach.LoadIntent(o.stateDirPath())
					if err != nil {
						return err
					}
					// BFD is rendered on each uplink's neighbor, so
					// the other uplink keeps its BFD session (and the
					// TOR behind it its BGP session).
					cmd := "neighbor " + uplink + " bfd"
					if !on {
						cmd = "no " + cmd
					}
					tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					return inst.ConfigureRunning(tctx, fmt.Sprintf("router bgp %d", in.Host.ASN), cmd)
				}
			}
			a.StateDir = o.stateDirPath()
			a.Version = version
			inst := r.FRR.(*frrctl.Instance)
			a.FRRWatch = func() string { return inst.PIDs("zebra", "bgpd", "staticd", "bfdd", "pimd", "mgmtd") }
			r.FRRPrint = a.FRRWatch
			a.RestoreFRR = func(ctx context.Context, daemons []string) error {
				ctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				return inst.Restore(ctx, daemons...)
			}
			if restartCmd != "" {
				a.RestartFRR = func(ctx context.Context) error {
					ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
					defer cancel()
					out, err := exec.CommandContext(ctx, "sh", "-c", restartCmd).CombinedOutput()
					if err != nil {
						return fmt.Errorf("%s: %w: %s", restartCmd, err, out)
					}
					return nil
				}
			}
			events, err := linux.Subscribe(ctx.Done())
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
			if l3note == "" {
				l3note = "on: --l3vni-check " + a.L3Interval.String()
				if a.L3Interval <= 0 {
					l3note = "off: --l3vni-check 0"
				}
			}
			a.Log.Info("L3VNI router-MAC repair "+l3note, "op", "l3vni-check", "period", a.L3Interval.String())
			if bfdnote == "" {
				bfdnote = "on: --bfd-repair " + a.BFDStuck.String()
				if a.BFDStuck <= 0 {
					bfdnote = "off: --bfd-repair 0"
				}
			}
			a.Log.Info("BFD stall repair "+bfdnote, "op", "bfd-repair", "after", a.BFDStuck.String())
			if metricsAddr != "" {
				sd := o.stateDirPath()
				m := metrics.New(func(ctx context.Context) (status.Status, error) {
					return collectStatus(ctx, o, r.Kernel, inst)
				}, func() (string, []policy.RuleCounter, error) {
					b, err := enforce.Recorded(sd)
					if b == "" || err != nil {
						return "", nil, err
					}
					cs, err := enforce.Counters(sd, o.instance)
					return b, cs, err
				})
				a.Observer = m
				ln, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					return exitError{exitFailed, fmt.Errorf("metrics: %w", err)}
				}
				mux := http.NewServeMux()
				mux.Handle("/metrics", m.Handler())
				srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
				go func() { _ = srv.Serve(ln) }()
				defer srv.Close()
				a.Log.Info("serving metrics", "op", "metrics", "addr", ln.Addr().String())
			}
			return a.Run(ctx)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "intent file (YAML)")
	c.Flags().StringVar(&host, "host", "", "this host's name in the fabric intent (with --etcd-endpoints; with Kubernetes the node's name, whose HostUnderlay has that name); lowercased and cut at the first dot, so a hostname or FQDN (systemd's %H) works")
	c.Flags().StringVar(&kubeconfig, "kubeconfig", "", "follow the evpnhost.io custom resources of the Kubernetes cluster of this kubeconfig file (with --host)")
	c.Flags().BoolVar(&inCluster, "kube-in-cluster", false, "follow the evpnhost.io custom resources of the cluster this pod runs in (its service account; with --host)")
	c.Flags().StringVar(&restartCmd, "frr-restart-cmd", "", "command (run with sh -c) that restarts FRR as a whole, e.g. 'systemctl restart frr'; run when loading the saved configuration into daemons restarted alone (under a running zebra; on FRR >= 9 also zebra under a running mgmtd, or mgmtd) failed (off when empty)")
	c.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics on ADDR/metrics, e.g. 127.0.0.1:9475 (off when empty)")
	policyFlag(c, o)
	c.Flags().DurationVar(&a.Resync, "resync", 30*time.Second, "full reconcile period")
	c.Flags().DurationVar(&a.NeighRefresh, "neigh-refresh", 10*time.Second, "period of the stale-neighbor refresh (0 disables)")
	c.Flags().DurationVar(&a.L3Interval, "l3vni-check", 2*time.Second, "how often the L3VNIs are checked for next hops that lost their router MAC (FRR #12391: FRR before 9.1 except 8.4.5+, on a TOR failure); such a next hop at two checks in a row gets its entries installed again with the router MAC last seen, or its L3VNI SVI bounced when none was seen. Default: on (2s) when the FRR running at start has the defect or its version cannot be read, off on a fixed FRR; given explicitly it applies to any FRR; 0 disables")
	c.Flags().DurationVar(&a.BFDStuck, "bfd-repair", 15*time.Second, "with host.bfd: how long an uplink's BGP session may stay down while its link is up before the agent takes BFD off the uplinks' neighbors (their peer group: all uplinks) until the session is Established (at most 30 s), then puts it back (FRR 10 with BGP unnumbered and BFD on both ends does not bring a session back after a port flap; closest upstream report FRR #18742); logged as op=bfd-repair. Default: on (15s) when the FRR running at start is 10.0 or later or its version cannot be read, off on older FRR; given explicitly it applies to any FRR; 0 disables")
	c.Flags().DurationVar(&poll, "watch", time.Second, "how often the intent file is checked for changes")
	c.Flags().DurationVar(&a.Debounce, "debounce", 300*time.Millisecond, "wait after a change before reconciling, so a burst costs one reconcile")
	e.register(c)
	return c
}

// uplinkCheck compares the MTU of in's uplinks with what its networks'
// VXLAN frames need (plan.CheckUplinks), reading only the uplinks.
func uplinkCheck(in *api.Intent) ([]plan.UplinkIssue, error) {
	var obs kernel.State
	for _, u := range in.Host.Uplinks {
		ifi, err := net.InterfaceByName(u)
		if err != nil {
			continue // missing: its BGP session says so
		}
		obs.Links = append(obs.Links, kernel.Link{Name: u, Kind: kernel.KindPort, MTU: ifi.MTU})
	}
	return plan.CheckUplinks(in, obs), nil
}

// bfdRepairDefault says whether the BFD stall repair runs when
// --bfd-repair is not given, for the FRR version read at start (err: it
// could not be read), and why.
func bfdRepairDefault(v frr.Version, err error) (on bool, why string) {
	switch {
	case err != nil:
		return true, fmt.Sprintf("on: FRR version unknown (%v), it may have the defect: %s", err, frr.BFDStallIssue)
	case frr.HasBFDStall(v):
		return true, fmt.Sprintf("on: FRR %s: %s", v, frr.BFDStallIssue)
	default:
		return false, fmt.Sprintf("off: FRR %s brings such sessions back (--bfd-repair DURATION turns it on)", v)
	}
}

// uplinkSessions reads each uplink's carrier (the kernel) and BGP state
// (bgpd's summary; "" when bgpd has no such neighbor).
func uplinkSessions(ctx context.Context, inst *frrctl.Instance, uplinks []string) ([]agent.UplinkSession, error) {
	var sum struct {
		IPv4 struct {
			Peers map[string]struct {
				State string `json:"state"`
			} `json:"peers"`
		} `json:"ipv4Unicast"`
	}
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := inst.JSON(jctx, "show bgp summary json", &sum); err != nil {
		return nil, err
	}
	var out []agent.UplinkSession
	for _, u := range uplinks {
		s := agent.UplinkSession{Uplink: u, State: sum.IPv4.Peers[u].State}
		if ifi, err := net.InterfaceByName(u); err == nil {
			s.Carrier = ifi.Flags&net.FlagRunning != 0
		}
		out = append(out, s)
	}
	return out, nil
}

// l3vniDefault says whether the L3VNI repair runs when --l3vni-check is
// not given, for the FRR version read at start (err: it could not be
// read), and why.
func l3vniDefault(v frr.Version, err error) (on bool, why string) {
	switch {
	case err != nil:
		return true, fmt.Sprintf("on: FRR version unknown (%v), it may have %s", err, frr.RMACLossIssue)
	case frr.HasRMACLoss(v):
		return true, fmt.Sprintf("on: FRR %s has %s", v, frr.RMACLossIssue)
	default:
		return false, fmt.Sprintf("off: FRR %s has the fix of %s (--l3vni-check PERIOD turns it on)", v, frr.RMACLossIssue)
	}
}

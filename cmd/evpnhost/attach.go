package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/frrctl"
	"github.com/evpnhost/evpnhost/internal/linux"
	"github.com/evpnhost/evpnhost/internal/policy/enforce"
)

// Same rule as an intent workload's interface (docs/intent.md).
var ifaceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)

func attachCmd(o *options) *cobra.Command {
	var network, iface, mac, mode string
	var ips []string
	c := &cobra.Command{
		Use:   "attach --network TENANT/NET --interface IF [--mac MAC] [--ip ADDR]...",
		Short: "Attach an existing interface (a VM's tap) to a network, at once and persistently",
		Long: `Attach an interface made by someone else (the tap a hypervisor created for a VM)
to a network of the applied intent: bridged (default) it becomes a port of evpnbr on
the network's VLAN; with --mac and --ip the host installs a static FDB entry and
permanent neighbor entries, so the workload's MAC/IP route is advertised at once.
The attachment is recorded in the state directory: every later apply, the agent
and a reboot keep it. No FRR reload. Idempotent. See docs/workloads.md for the
libvirt hook and QEMU's script= that call it.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := attach.CheckInterfaceName(iface); err != nil {
				return exitError{exitInvalid, fmt.Errorf("--interface: %w", err)}
			}
			a := attach.Attachment{ID: attach.AttachID(iface), Owner: attach.OwnerAttach, Network: network, Mode: mode, Interface: iface}
			if mode != attach.ModeBridged && mode != attach.ModeRouted {
				return exitError{exitInvalid, fmt.Errorf("--mode %q: bridged or routed", mode)}
			}
			if mac != "" {
				m, err := net.ParseMAC(mac)
				if err != nil || len(m) != 6 || m[0]&1 != 0 {
					return exitError{exitInvalid, fmt.Errorf("--mac %q: not a unicast MAC", mac)}
				}
				a.MAC = m.String()
			}
			if len(ips) > 0 && a.MAC == "" && mode == attach.ModeBridged {
				return exitError{exitInvalid, fmt.Errorf("--ip needs --mac (the neighbor entries map the addresses to it)")}
			}
			sd := o.stateDirPath()
			in, err := attach.LoadIntent(sd)
			if err != nil {
				return exitError{exitFailed, err}
			}
			if _, err := attach.Resolve(in, network); err != nil {
				return exitError{exitInvalid, fmt.Errorf("--network: %w", err)}
			}
			if err := attach.CheckInterface(in, iface); err != nil {
				return exitError{exitInvalid, fmt.Errorf("--interface: %w", err)}
			}
			for _, s := range ips {
				ip, err := netip.ParseAddr(s)
				if err != nil {
					return exitError{exitInvalid, fmt.Errorf("--ip %q: not an address", s)}
				}
				a.IPs = append(a.IPs, ip.Unmap().String())
			}
			store := attach.Open(sd)
			unlock, err := store.LockContext(c.Context(), waitingLock(c))
			if err != nil {
				return exitError{exitFailed, err}
			}
			defer unlock()
			old, had, err := store.Get(a.ID)
			if err != nil {
				return exitError{exitFailed, err}
			}
			if err := checkAttachAddrs(store, in, a); err != nil {
				return err
			}
			nl, err := linux.Open()
			if err != nil {
				return exitError{exitFailed, err}
			}
			defer nl.Close()
			if had {
				a.Created = old.Created
				if old.Network != a.Network || old.Mode != a.Mode || old.MAC != a.MAC {
					// Re-attached elsewhere: remove the old entries first.
					if _, err := attach.Converge(nl, in, old, false); err != nil {
						return exitError{exitFailed, fmt.Errorf("detach previous attachment: %w", err)}
					}
				}
			}
			if err := store.Put(a); err != nil {
				return exitError{exitFailed, err}
			}
			// Policy first: the port is filtered before it joins the
			// bridge (or the VRF); if it cannot be, it is not attached.
			if err := enforce.Attached(sd, o.instance, in); err != nil {
				if !had {
					_ = store.Delete(a.ID)
				}
				return exitError{exitFailed, fmt.Errorf("attach %s: policy: %w", iface, err)}
			}
			p, err := attach.Converge(nl, in, a, true)
			if err != nil {
				if !had {
					_ = store.Delete(a.ID)
				}
				return exitError{exitFailed, fmt.Errorf("attach %s: %w", iface, err)}
			}
			w := c.OutOrStdout()
			for _, op := range p.Ops() {
				fmt.Fprintf(w, "  %s\n", op)
			}
			fmt.Fprintf(w, "Attached %s to %s (%s): %d kernel operations.\n", iface, network, mode, p.Len())
			// zebra 10.3/10.4 can miss the FDB entry or host routes just written
			// (frr.FDBRaceIssue); a warning, not a failure: the kernel
			// side is complete and bridged traffic works.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, err := attach.Advertised(ctx, nl, frrctl.NewInstance(o.instance), in, a, attach.DefaultAdvertiseTiming)
			switch {
			case err != nil:
				fmt.Fprintf(c.ErrOrStderr(), "warning: attach %s: %v\n", iface, err)
			case n > 0:
				fmt.Fprintf(w, "zebra had missed the FDB entry or host routes of %s (%s): written again %d times, zebra has them now.\n", iface, frr.FDBRaceIssue, n)
			}
			return nil
		},
	}
	c.Flags().StringVar(&network, "network", "", "network as tenant/network, required")
	c.Flags().StringVar(&iface, "interface", "", "the interface (tap) to attach, required")
	c.Flags().StringVar(&mac, "mac", "", "the workload's MAC (the VM's NIC, not the tap's)")
	c.Flags().StringArrayVar(&ips, "ip", nil, "the workload's address (repeatable)")
	c.Flags().StringVar(&mode, "mode", attach.ModeBridged, "bridged or routed")
	_ = c.MarkFlagRequired("network")
	_ = c.MarkFlagRequired("interface")
	return c
}

func detachCmd(o *options) *cobra.Command {
	var iface string
	c := &cobra.Command{
		Use:   "detach --interface IF",
		Short: "Detach an interface attached with 'evpnhost attach'",
		Long: `Remove an attachment made by 'evpnhost attach': the interface leaves the bridge
(or VRF), its FDB and neighbor entries (or host routes) go, and the record is deleted.
The interface itself is left alone (it is the hypervisor's). Detaching an interface
that is not attached, or that no longer exists, succeeds.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			// Not CheckInterfaceName: an attachment made before a name
			// became reserved can still be detached.
			if !ifaceRE.MatchString(iface) {
				return exitError{exitInvalid, fmt.Errorf("--interface %q: not an interface name", iface)}
			}
			sd := o.stateDirPath()
			store := attach.Open(sd)
			unlock, err := store.LockContext(c.Context(), waitingLock(c))
			if err != nil {
				return exitError{exitFailed, err}
			}
			defer unlock()
			a, ok, err := store.Get(attach.AttachID(iface))
			if err != nil {
				return exitError{exitFailed, err}
			}
			w := c.OutOrStdout()
			if !ok {
				fmt.Fprintf(w, "%s is not attached.\n", iface)
				return nil
			}
			if in, err := attach.LoadIntent(sd); err == nil {
				nl, err := linux.Open()
				if err != nil {
					return exitError{exitFailed, err}
				}
				defer nl.Close()
				p, err := attach.Converge(nl, in, a, false)
				if err != nil {
					return exitError{exitFailed, fmt.Errorf("detach %s: %w", iface, err)}
				}
				for _, op := range p.Ops() {
					fmt.Fprintf(w, "  %s\n", op)
				}
			}
			if err := store.Delete(a.ID); err != nil {
				return exitError{exitFailed, err}
			}
			fmt.Fprintf(w, "Detached %s from %s.\n", iface, a.Network)
			return nil
		},
	}
	c.Flags().StringVar(&iface, "interface", "", "the attached interface, required")
	_ = c.MarkFlagRequired("interface")
	return c
}

// checkAttachAddrs checks a's addresses against the intent and the other
// recorded attachments (attach.CheckAddrs); the caller holds the lock.
func checkAttachAddrs(store *attach.Store, in *api.Intent, a attach.Attachment) error {
	atts, err := store.List()
	if err != nil {
		return exitError{exitFailed, err}
	}
	if err := attach.CheckAddrs(in, atts, a); err != nil {
		return exitError{exitInvalid, fmt.Errorf("--ip %w", err)}
	}
	return nil
}

// waitingLock says on stderr that the command waits for the state
// directory's lock (an apply, the agent's apply, a CNI ADD/DEL).
func waitingLock(c *cobra.Command) func(holder string) {
	return func(holder string) {
		fmt.Fprintf(c.ErrOrStderr(), "waiting for the state directory lock, held by pid %s (another apply, attach or CNI operation, or the agent)...\n", holder)
	}
}

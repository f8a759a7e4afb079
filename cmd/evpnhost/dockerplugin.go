package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/internal/attach"
	"github.com/evpnhost/evpnhost/internal/dockerplugin"
)

func dockerPluginCmd(o *options) *cobra.Command {
	var socket, dockerHost string
	var period, grace time.Duration
	c := &cobra.Command{
		Use:   "docker-plugin [--socket PATH] [--docker-host unix:///run/docker.sock]",
		Short: "Serve Docker's network and IPAM driver \"evpnhost\": containers on evpnhost networks",
		Long: `Serve Docker's plugin protocol on a unix socket (default ` + dockerplugin.DefaultSocket + `,
where Docker finds the plugin "evpnhost"): a libnetwork remote network driver and
IPAM driver. A Docker network is an evpnhost network of the applied intent:

  docker network create -d evpnhost --ipam-driver evpnhost \
      -o network=red/web --ipam-opt network=red/web --ip-range 10.1.10.64/26 \
      --subnet 10.1.10.0/24 web
  docker run --network web ...                # bridged onto red/web's VLAN
  docker network create -d evpnhost --ipam-driver evpnhost -o network=red/web \
      -o mode=routed --ipam-opt network=red/web --subnet 10.1.99.0/24 web-routed

Docker passes -o options to the network driver and --ipam-opt/--subnet to the
IPAM driver only: the IPAM driver finds the network from --ipam-opt network=, or
from a --subnet only one network has. Addresses come from the subnet (or
--ip-range) minus the gateway and every address the intent or another attachment
holds; --ip is checked the same way and a clash names the owner. The gateway is
the network's anycast gateway. Each endpoint is an attachment in the state
directory (owner docker), so apply and the agent keep it; policy rules select a
container as tenant/network/docker:NAME.

Every start, and every --reconcile period, the recorded endpoints are compared
with Docker's (--docker-host): what Docker no longer has is removed (veth,
entries, record). Run one per host (per network namespace), before dockerd
(contrib/systemd/evpnhost-docker-plugin.service). See docs/workloads.md, "Docker".`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sd := o.stateDirPath()
			if _, err := attach.LoadIntent(sd); err != nil {
				fmt.Fprintf(os.Stderr, "evpnhost docker-plugin: %v; networks can be created once it is applied\n", err)
			}
			level := slog.LevelInfo
			if o.verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg := dockerplugin.Config{StateDir: sd, Host: dockerplugin.NewHost(sd, o.instance, log), Log: log, Grace: grace}
			if dockerHost != "" {
				d, err := dockerplugin.NewDockerClient(dockerHost)
				if err != nil {
					return exitError{exitInvalid, fmt.Errorf("--docker-host: %w", err)}
				}
				cfg.Docker = d
			}
			l, err := dockerplugin.Listen(socket)
			if err != nil {
				return exitError{exitFailed, fmt.Errorf("--socket: %w", err)}
			}
			defer os.Remove(socket)
			log.Info("serving Docker's plugin protocol", "socket", socket, "stateDir", sd, "docker", dockerHost)
			if err := dockerplugin.New(cfg).Serve(c.Context(), l, period); err != nil {
				return exitError{exitFailed, err}
			}
			return nil
		},
	}
	c.Flags().StringVar(&socket, "socket", dockerplugin.DefaultSocket, "the unix socket Docker finds the plugin at (plugin name = file name without .sock)")
	c.Flags().StringVar(&dockerHost, "docker-host", "unix:///run/docker.sock", "Docker's API socket, for container names and the reconcile; empty: neither")
	c.Flags().DurationVar(&period, "reconcile", time.Minute, "how often to reconcile the recorded endpoints against Docker's (0: never)")
	c.Flags().DurationVar(&grace, "reconcile-grace", time.Minute, "records younger than this are left out of the reconcile (Docker lists an endpoint only once it is stored)")
	return c
}

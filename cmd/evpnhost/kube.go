package main

import (
	"github.com/spf13/cobra"

	"github.com/evpnhost/evpnhost/api"
	evkube "github.com/evpnhost/evpnhost/internal/kube"
)

func kubeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "kube",
		Short: "Kubernetes manifests: an intent file as evpnhost.io custom resources; a Multus NAD for a network",
		Long: `The fabric intent can live in a Kubernetes cluster as custom resources of the group
evpnhost.io/v1alpha1 (Tenant, Network, HostUnderlay; CRDs in contrib/kubernetes/crds),
followed by 'evpnhost agent --kube-in-cluster --host NODE' on every node. These commands
print manifests for kubectl apply -f -; they do not talk to a cluster. See
docs/kubernetes.md.`,
	}
	c.AddCommand(kubeExportCmd(), kubeNADCmd())
	return c
}

func kubeExportCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "export -f FILE",
		Short: "Print an intent file as HostUnderlay, Tenant and Network manifests",
		Long: `Validate the intent file, then print its host as a HostUnderlay (named after the host),
each tenant as a Tenant and each network as a Network named TENANT.NETWORK. Composed
again by an agent (tenants and networks in name order), they give the same intent.
Several hosts' exports share their Tenants and Networks: apply them once.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			in, err := api.Load(file)
			if err != nil {
				return exitError{exitInvalid, err}
			}
			if err := in.Validate(); err != nil {
				return exitError{exitInvalid, err}
			}
			b, err := evkube.Manifests(evkube.FromIntent(in))
			if err != nil {
				return err
			}
			_, err = c.OutOrStdout().Write(b)
			return err
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "intent file (YAML)")
	_ = c.MarkFlagRequired("file")
	return c
}

func kubeNADCmd() *cobra.Command {
	var ref string
	var o evkube.NADOptions
	c := &cobra.Command{
		Use:   "nad --network TENANT/NETWORK [--namespace NS] [--subnet CIDR [--range-start A --range-end B]]",
		Short: "Print the Multus NetworkAttachmentDefinition that attaches pods and KubeVirt VMs to a network",
		Long: `Print a NetworkAttachmentDefinition (k8s.cni.cncf.io/v1) whose CNI configuration is
evpnhost-cni's for the network: pods name it in their k8s.v1.cni.cncf.io/networks
annotation, KubeVirt VMs in a multus network with the bridge binding. With --subnet
the addresses come from host-local IPAM over that range (give each node its own
range, or use a cluster IPAM); without it the configuration has no ipam, for a chain
whose previous plugin allocates the addresses (evpnhost-cni fails ADD with neither).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := evkube.NAD(ref, o)
			if err != nil {
				return exitError{exitInvalid, err}
			}
			_, err = c.OutOrStdout().Write(b)
			return err
		},
	}
	c.Flags().StringVar(&ref, "network", "", "the evpnhost network, TENANT/NETWORK")
	_ = c.MarkFlagRequired("network")
	c.Flags().StringVar(&o.Namespace, "namespace", "default", "the NAD's namespace (the pods')")
	c.Flags().StringVar(&o.Name, "name", "", "the NAD's name (default TENANT-NETWORK)")
	c.Flags().StringVar(&o.Mode, "mode", "bridged", "bridged (on the network's VLAN) or routed (a host route in the tenant's VRF)")
	c.Flags().StringVar(&o.Subnet, "subnet", "", "host-local IPAM subnet (CIDR); none when empty")
	c.Flags().StringVar(&o.RangeStart, "range-start", "", "first address host-local hands out")
	c.Flags().StringVar(&o.RangeEnd, "range-end", "", "last address host-local hands out")
	return c
}

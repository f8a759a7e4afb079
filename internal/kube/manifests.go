package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/evpnhost/evpnhost/api"
)

// Manifests renders objs as one multi-document YAML stream: the
// HostUnderlay, the Tenants, the Networks (kubectl apply -f takes it).
func Manifests(objs Objects) ([]byte, error) {
	var b bytes.Buffer
	add := func(o any) error {
		y, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(y)
		return nil
	}
	if objs.Host != nil {
		if err := add(objs.Host); err != nil {
			return nil, err
		}
	}
	for i := range objs.Tenants {
		if err := add(&objs.Tenants[i]); err != nil {
			return nil, err
		}
	}
	for i := range objs.Networks {
		if err := add(&objs.Networks[i]); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// NADOptions shape the NetworkAttachmentDefinition of a network.
type NADOptions struct {
	Namespace string // default "default"
	Name      string // default TENANT-NETWORK
	Mode      string // bridged (default) or routed
	// Subnet, when set, makes the IPAM host-local over it (RangeStart and
	// RangeEnd bound it; give each node its own range or use a cluster
	// IPAM); empty: no ipam, for a chain whose previous plugin allocates
	// the addresses (evpnhost-cni fails ADD with neither).
	Subnet, RangeStart, RangeEnd string
}

// NAD is the Multus NetworkAttachmentDefinition that attaches pods (and
// KubeVirt VMs' bridge binding) to network ref (tenant/network) through
// evpnhost-cni, as YAML (docs/workloads.md).
func NAD(ref string, o NADOptions) ([]byte, error) {
	tenant, network, ok := api.SplitNetworkRef(ref)
	if !ok {
		return nil, fmt.Errorf("network %q: give TENANT/NETWORK", ref)
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Name == "" {
		o.Name = tenant + "-" + strings.ReplaceAll(network, "_", "-")
	}
	switch o.Mode {
	case "":
		o.Mode = "bridged"
	case "bridged", "routed":
	default:
		return nil, fmt.Errorf("mode %q: bridged or routed", o.Mode)
	}
	conf := map[string]any{"cniVersion": "1.1.0", "name": o.Name, "type": "evpnhost-cni", "network": ref, "mode": o.Mode}
	if o.Subnet != "" {
		r := map[string]string{"subnet": o.Subnet}
		if o.RangeStart != "" {
			r["rangeStart"] = o.RangeStart
		}
		if o.RangeEnd != "" {
			r["rangeEnd"] = o.RangeEnd
		}
		conf["ipam"] = map[string]any{"type": "host-local", "ranges": [][]map[string]string{{r}}}
	} else if o.RangeStart != "" || o.RangeEnd != "" {
		return nil, fmt.Errorf("a range needs its subnet")
	}
	cj, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	nad := map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1",
		"kind":       "NetworkAttachmentDefinition",
		"metadata": map[string]any{"name": o.Name, "namespace": o.Namespace,
			"annotations": map[string]string{"evpnhost.io/network": ref}},
		"spec": map[string]any{"config": string(cj)},
	}
	y, err := yaml.Marshal(nad)
	if err != nil {
		return nil, err
	}
	return append([]byte("---\n"), y...), nil
}

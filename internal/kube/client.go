package kube

import (
	"errors"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Config is the client configuration of a kubeconfig file, or the
// in-cluster one (the pod's service account) when path is "".
func Config(path string) (*rest.Config, error) {
	if path == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes configuration: %w (outside a pod, give --kubeconfig FILE)", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return c, nil
}

// NewClient is the dynamic client the Source uses.
func NewClient(c *rest.Config) (dynamic.Interface, error) {
	if c == nil {
		return nil, errors.New("no Kubernetes client configuration")
	}
	c = rest.CopyConfig(c)
	c.UserAgent = "evpnhost-agent"
	return dynamic.NewForConfig(c)
}

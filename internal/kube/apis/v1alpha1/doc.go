// Package v1alpha1 is the evpnhost.io/v1alpha1 API group: the fabric
// intent as Kubernetes custom resources. Tenant and Network are
// cluster-scoped and shared by every node; HostUnderlay is one node's
// underlay (named after the node), and its status subresource is where
// that node's agent reports convergence.
//
// The types mirror the api package's intent types field for field
// (internal/kube converts between them); the CRD manifests in
// contrib/kubernetes/crds are generated from the markers here by
// controller-gen ('make generate'), the deepcopy functions too.
//
// +kubebuilder:object:generate=true
// +groupName=evpnhost.io
package v1alpha1

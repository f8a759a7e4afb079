package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and Version of the API.
const (
	Group   = "evpnhost.io"
	Version = "v1alpha1"
)

// SchemeGroupVersion is the group version of these types.
var SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// Resources (plural names) of the group.
var (
	TenantsResource       = SchemeGroupVersion.WithResource("tenants")
	NetworksResource      = SchemeGroupVersion.WithResource("networks")
	HostUnderlaysResource = SchemeGroupVersion.WithResource("hostunderlays")
)

var (
	// SchemeBuilder registers the types.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion,
		&Tenant{}, &TenantList{},
		&Network{}, &NetworkList{},
		&HostUnderlay{}, &HostUnderlayList{},
	)
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Tenant is a VRF with its L3VNI (api.Tenant without its networks, which
// are Network objects naming it). The object's name is the tenant's name
// (the VRF's name: 1-15 characters, a-z, 0-9 and '-').
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=evt,categories=evpnhost
// +kubebuilder:printcolumn:name="L3VNI",type=integer,JSONPath=`.spec.l3vni`
// +kubebuilder:printcolumn:name="VLAN",type=integer,JSONPath=`.spec.vlan`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 15 && self.metadata.name.matches('^[a-z][a-z0-9-]*$')",message="a tenant's name is its VRF's name: 1-15 characters, a-z, 0-9 and '-', starting with a letter"
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TenantSpec `json:"spec"`
}

// TenantSpec is api.Tenant less its name (the object's) and networks.
type TenantSpec struct {
	// L3VNI is the tenant's L3 VNI (symmetric IRB, type-5 routes).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16777215
	L3VNI int32 `json:"l3vni"`
	// VRFTable is the kernel routing table of the VRF; default: the L3VNI.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	VRFTable int64 `json:"vrfTable,omitempty"`
	// VLAN is the bridge VLAN carrying the L3VNI; default: the lowest
	// VLAN from 3000 up that no network uses (tenants in name order).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4094
	// +optional
	VLAN int32 `json:"vlan,omitempty"`
	// RD is the type-5 route distinguisher (ASN:NN or IP:NN); auto when empty.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	RD string `json:"rd,omitempty"`
	// RouteTargets override FRR's automatic route targets (interop).
	// +optional
	RouteTargets *RouteTargets `json:"routeTargets,omitempty"`
	// Imports leak other tenants' routes into this one
	// (docs/route-leaking.md).
	// +kubebuilder:validation:MaxItems=1024
	// +listType=atomic
	// +optional
	Imports []Import `json:"imports,omitempty"`
	// Policy is the tenant's micro-segmentation policy (docs/policy.md);
	// absent: no enforcement.
	// +optional
	Policy *Policy `json:"policy,omitempty"`
}

// RouteTargets are explicit import and export route targets (ASN:NN).
type RouteTargets struct {
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=32
	// +listType=atomic
	// +optional
	Import []string `json:"import,omitempty"`
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=32
	// +listType=atomic
	// +optional
	Export []string `json:"export,omitempty"`
}

// Import leaks routes of tenant From, filtered by Prefixes.
type Import struct {
	// From is the tenant whose routes are imported.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	From string `json:"from"`
	// Prefixes are the imported prefixes (CIDR; routes inside them match).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4096
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	Prefixes []string `json:"prefixes"`
	// Readvertise advertises the leaked routes in this tenant's type-5
	// routes too.
	// +optional
	Readvertise bool `json:"readvertise,omitempty"`
}

// Policy is a tenant's micro-segmentation policy (api.Policy).
type Policy struct {
	// Default is the action of traffic no rule matches.
	// +kubebuilder:validation:Enum=allow;deny
	// +optional
	Default string `json:"default,omitempty"`
	// +kubebuilder:validation:MaxItems=65536
	// +listType=atomic
	// +optional
	Rules []Rule `json:"rules,omitempty"`
}

// Rule is one policy rule (api.Rule; docs/policy.md for the selectors).
type Rule struct {
	// From selects the sources: a CIDR, TENANT/NETWORK, a workload or docker:NAME.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	From string `json:"from"`
	// To selects the destinations, like From.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	To string `json:"to"`
	// Ports: tcp, udp/53, tcp/8000-8080, icmp or any; empty: any.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=16
	// +listType=atomic
	// +optional
	Ports []string `json:"ports,omitempty"`
	// +kubebuilder:validation:Enum=allow;deny
	Action string `json:"action"`
}

// +kubebuilder:object:root=true

// TenantList is a list of Tenants.
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}

// Network is an L2 segment (L2VNI) of a tenant with its anycast gateway
// (api.Network). It is cluster-scoped and named TENANT.NETWORK, so the
// API server itself keeps the pair unique and "red/web" (a workload's or
// NAD's network) names the object red.web.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=evn,categories=evpnhost
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenant`
// +kubebuilder:printcolumn:name="VNI",type=integer,JSONPath=`.spec.vni`
// +kubebuilder:printcolumn:name="VLAN",type=integer,JSONPath=`.spec.vlan`
// +kubebuilder:printcolumn:name="Gateways",type=string,JSONPath=`.spec.gateways`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.startsWith(self.spec.tenant + '.')",message="a network's name is TENANT.NETWORK: it must start with spec.tenant and a dot"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 79 && self.metadata.name.matches('^[a-z][a-z0-9-]*[.][a-z0-9][a-z0-9-]*$')",message="a network's name is TENANT.NETWORK: a-z, 0-9 and '-', one dot, the network part at most 63 characters"
type Network struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NetworkSpec `json:"spec"`
}

// NetworkSpec is api.Network less its name (the part of the object's
// name after the dot), with the tenant it belongs to.
type NetworkSpec struct {
	// Tenant is the Tenant object this network belongs to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a network cannot move to another tenant: create a new one"
	Tenant string `json:"tenant"`
	// VNI is the network's L2 VNI.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16777215
	VNI int32 `json:"vni"`
	// VLAN is the VLAN of the network on every host's bridge.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4094
	VLAN int32 `json:"vlan"`
	// Gateways are the anycast gateway addresses in CIDR form
	// (10.1.0.1/24, fd00:1::1/64); the prefix is the subnet.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(g, isCIDR(g))",message="every gateway is an address with its prefix length, such as 10.1.0.1/24"
	// +listType=atomic
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// AnycastMAC is the gateway MAC, the same on every host; default
	// 00:00:5e:00:01:01.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`
	// +optional
	AnycastMAC string `json:"anycastMAC,omitempty"`
	// ARPSuppression answers ARP/ND from EVPN routes; default true.
	// +optional
	ARPSuppression *bool `json:"arpSuppression,omitempty"`
	// MTU of the network; default: the underlay MTU less 50.
	// +kubebuilder:validation:Minimum=1280
	// +kubebuilder:validation:Maximum=9216
	// +optional
	MTU int32 `json:"mtu,omitempty"`
	// Replication is how BUM traffic reaches other VTEPs; default ingress.
	// +optional
	Replication *Replication `json:"replication,omitempty"`
}

// Replication is ingress (type-3 routes) or a multicast group
// (docs/bum-replication.md).
//
// +kubebuilder:validation:XValidation:rule="self.mode == 'multicast' ? has(self.group) : !has(self.group)",message="group is required with mode multicast and refused with mode ingress"
type Replication struct {
	// +kubebuilder:validation:Enum=ingress;multicast
	Mode string `json:"mode"`
	// Group is the IPv4 multicast group (with mode multicast).
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="an IPv4 multicast group address"
	// +optional
	Group string `json:"group,omitempty"`
}

// +kubebuilder:object:root=true

// NetworkList is a list of Networks.
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Network `json:"items"`
}

// HostUnderlay is one node's underlay (api.Host), named after the node.
// Its status is written by that node's agent: whether it applied the
// fabric intent, and what failed.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=evh,categories=evpnhost
// +kubebuilder:printcolumn:name="VTEP",type=string,JSONPath=`.spec.vtep`
// +kubebuilder:printcolumn:name="ASN",type=integer,JSONPath=`.spec.asn`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Converged",type=string,JSONPath=`.status.conditions[?(@.type=="Converged")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Converged")].reason`
// +kubebuilder:printcolumn:name="Errors",type=integer,JSONPath=`.status.errorCount`
// +kubebuilder:printcolumn:name="Applied",type=date,JSONPath=`.status.lastSuccess`
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.status.agent`,priority=1
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="a host's name is at most 63 characters"
type HostUnderlay struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec HostUnderlaySpec `json:"spec"`
	// +optional
	Status HostUnderlayStatus `json:"status,omitzero"`
}

// HostUnderlaySpec is api.Host less its name (the object's), and the
// node's static workloads.
type HostUnderlaySpec struct {
	// ASN is the host's private ASN, eBGP to the TORs.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967294
	// +kubebuilder:validation:XValidation:rule="self != 23456",message="23456 is reserved (AS_TRANS)"
	ASN int64 `json:"asn"`
	// VTEP is the loopback IPv4 address, the VXLAN source address.
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="an IPv4 address"
	VTEP string `json:"vtep"`
	// RouterID defaults to the VTEP.
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="an IPv4 address"
	// +optional
	RouterID string `json:"routerID,omitempty"`
	// Uplinks are the interfaces with BGP unnumbered sessions to the TORs.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=15
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	// +listType=set
	Uplinks []string `json:"uplinks"`
	// BFD enables BFD on the uplink sessions.
	// +optional
	BFD bool `json:"bfd,omitempty"`
	// MTU is the underlay MTU of the uplinks; default 1500.
	// +kubebuilder:validation:Minimum=1280
	// +kubebuilder:validation:Maximum=9216
	// +optional
	MTU int32 `json:"mtu,omitempty"`
	// Multicast is the PIM-SM underlay of networks with multicast
	// replication.
	// +optional
	Multicast *HostMulticast `json:"multicast,omitempty"`
	// VXLANDevice is single (one device for all VNIs) or per-vni; default:
	// chosen at apply time from what FRR and the kernel support.
	// +kubebuilder:validation:Enum=single;per-vni
	// +optional
	VXLANDevice string `json:"vxlanDevice,omitempty"`
	// Workloads are static attachments of existing interfaces of this
	// node (pods attach through the CNI plugin instead).
	// +kubebuilder:validation:MaxItems=4096
	// +listType=map
	// +listMapKey=name
	// +optional
	Workloads []Workload `json:"workloads,omitempty"`
}

// HostMulticast is the PIM-SM underlay (api.HostMulticast).
type HostMulticast struct {
	// RP is the rendezvous point's IPv4 address.
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="an IPv4 address"
	RP string `json:"rp"`
	// Groups are the group ranges the RP serves; default 224.0.0.0/4.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=18
	// +listType=atomic
	// +optional
	Groups []string `json:"groups,omitempty"`
}

// Workload is a static attachment of an interface (api.Workload).
type Workload struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Network is TENANT/NETWORK.
	// +kubebuilder:validation:MaxLength=80
	// +kubebuilder:validation:Pattern=`^[^/]+/[^/]+$`
	Network string `json:"network"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	Interface string `json:"interface"`
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`
	// +optional
	MAC string `json:"mac,omitempty"`
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=39
	// +listType=atomic
	// +optional
	IPs []string `json:"ips,omitempty"`
}

// Condition types of HostUnderlayStatus.
const (
	// ConditionReady: the agent runs and reaches the API server.
	ConditionReady = "Ready"
	// ConditionConverged: the host runs the current intent (the
	// composition of every Tenant, Network and this HostUnderlay the
	// agent sees), applied without error.
	ConditionConverged = "Converged"
	// ConditionDegraded: something is wrong: an invalid object, a failed
	// apply; the host keeps the last intent it applied.
	ConditionDegraded = "Degraded"
)

// Condition reasons.
const (
	ReasonApplied        = "Applied"
	ReasonApplying       = "Applying"
	ReasonInvalidIntent  = "InvalidIntent"
	ReasonApplyFailed    = "ApplyFailed"
	ReasonUnreachable    = "SourceUnreachable"
	ReasonAgentRunning   = "AgentRunning"
	ReasonNoProblem      = "NoProblem"
	ReasonLastGoodIntent = "LastGoodIntent"
)

// HostUnderlayStatus is written by the node's agent after every attempt.
type HostUnderlayStatus struct {
	// ObservedGeneration is this HostUnderlay's generation in the intent
	// last applied successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// AppliedRevision is the highest resourceVersion among the objects of
	// the intent last applied successfully (the API server's etcd
	// revision): the host has converged on every change up to it.
	// +optional
	AppliedRevision int64 `json:"appliedRevision,omitempty"`
	// AppliedIntent identifies the intent last applied successfully: the
	// first 16 hex digits of its SHA-256 (evpnhost agent logs the same).
	// +optional
	AppliedIntent string `json:"appliedIntent,omitempty"`
	// AppliedGenerations are the generations of the objects in that
	// intent, by kind/name ("Tenant/red": 3).
	// +optional
	AppliedGenerations map[string]int64 `json:"appliedGenerations,omitempty"`
	// Source is where the applied intent came from: kubernetes, or cache
	// (the last good intent, kept on disk, used while the API is
	// unreachable).
	// +optional
	Source string `json:"source,omitempty"`
	// +optional
	LastSuccess *metav1.Time `json:"lastSuccess,omitempty"`
	// +optional
	LastAttempt *metav1.Time `json:"lastAttempt,omitempty"`
	// Conditions: Ready, Converged and Degraded.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ErrorCount is len(errors), for the table.
	// +optional
	ErrorCount int32 `json:"errorCount"`
	// Errors are the problems of the last attempt, each naming its object
	// (Network/red.web: spec...) or step.
	// +listType=atomic
	// +optional
	Errors []ObjectError `json:"errors,omitempty"`
	// Agent is the agent's version and start time.
	// +optional
	Agent string `json:"agent,omitempty"`
}

// ObjectError is one problem and the object it concerns.
type ObjectError struct {
	Object string `json:"object"`
	Error  string `json:"error"`
}

// +kubebuilder:object:root=true

// HostUnderlayList is a list of HostUnderlays.
type HostUnderlayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HostUnderlay `json:"items"`
}

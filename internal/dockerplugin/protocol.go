// Package dockerplugin is evpnhost's Docker network plugin: a libnetwork
// remote network driver and remote IPAM driver in one process
// (`evpnhost docker-plugin`), speaking Docker's plugin protocol (JSON
// over HTTP POSTs on a unix socket, /run/docker/plugins/evpnhost.sock).
//
// A Docker network is an evpnhost network (-o network=tenant/net,
// bridged or routed); each Docker endpoint is an attachment in evpnhost's
// state directory (internal/attach, owner "docker"), made through the
// same fast path as the CNI plugin's, so every apply and the agent keep
// Docker's containers. The plugin's own records (Docker network IDs and
// IPAM reservations) are state.DockerFile. docs/workloads.md, "Docker",
// describes the use; libnetwork's docs/remote.md and docs/ipam.md the
// protocol.
package dockerplugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// MediaType is the plugin protocol's content type (v1.2).
const MediaType = "application/vnd.docker.plugins.v1.2+json"

// Names of what the plugin implements (/Plugin.Activate).
const (
	ImplementsNetwork = "NetworkDriver"
	ImplementsIPAM    = "IpamDriver"
)

// Option keys Docker uses.
const (
	optGeneric     = "com.docker.network.generic" // the -o options of docker network create
	optAddressType = "RequestAddressType"         // IPAM RequestAddress: what the address is for
	addrGateway    = "com.docker.network.gateway" // ... the network's gateway; also the pool Data key
)

// Error is the body of a failed operation: the network driver protocol
// names the message Err, the IPAM protocol Error (libnetwork's
// drivers/remote/api and ipams/remote/api); both are set, each side reads
// its own.
type Error struct {
	Err   string `json:"Err"`
	Error string `json:"Error"`
}

func errorBody(msg string) Error { return Error{Err: msg, Error: msg} }

type activateResponse struct {
	Implements []string
}

type capabilitiesResponse struct {
	Scope             string
	ConnectivityScope string
}

// IPAMData is one address pool of a network, as the IPAM driver gave it.
type IPAMData struct {
	AddressSpace string            `json:",omitempty"`
	Pool         string            `json:",omitempty"`
	Gateway      string            `json:",omitempty"`
	AuxAddresses map[string]string `json:",omitempty"`
}

type createNetworkRequest struct {
	NetworkID string
	Options   map[string]any
	IPv4Data  []IPAMData
	IPv6Data  []IPAMData
}

type networkRequest struct {
	NetworkID string
}

// EndpointInterface is an endpoint's addresses (CIDR) and MAC.
type EndpointInterface struct {
	Address     string `json:",omitempty"`
	AddressIPv6 string `json:",omitempty"`
	MacAddress  string `json:",omitempty"`
}

type createEndpointRequest struct {
	NetworkID  string
	EndpointID string
	Interface  *EndpointInterface
	Options    map[string]any
}

type createEndpointResponse struct {
	Interface *EndpointInterface `json:",omitempty"`
}

type endpointRequest struct {
	NetworkID  string
	EndpointID string
}

type operInfoResponse struct {
	Value map[string]any
}

type joinRequest struct {
	NetworkID  string
	EndpointID string
	SandboxKey string
	Options    map[string]any
}

// InterfaceName is the interface Docker moves into the container
// (SrcName) and the prefix of its name there.
type InterfaceName struct {
	SrcName   string
	DstPrefix string
}

// StaticRoute is a route Docker adds in the container: RouteType 0 via
// NextHop, 1 connected.
type StaticRoute struct {
	Destination string
	RouteType   int
	NextHop     string `json:",omitempty"`
}

type joinResponse struct {
	InterfaceName         *InterfaceName
	Gateway               string        `json:",omitempty"`
	GatewayIPv6           string        `json:",omitempty"`
	StaticRoutes          []StaticRoute `json:",omitempty"`
	DisableGatewayService bool          `json:",omitempty"`
}

type connectivityRequest struct {
	NetworkID  string
	EndpointID string
	Options    map[string]any
}

type addressSpacesResponse struct {
	LocalDefaultAddressSpace  string
	GlobalDefaultAddressSpace string
}

type ipamCapabilitiesResponse struct {
	RequiresMACAddress    bool
	RequiresRequestReplay bool
}

type requestPoolRequest struct {
	AddressSpace string
	Pool         string
	SubPool      string
	Options      map[string]string
	V6           bool
}

type requestPoolResponse struct {
	PoolID string
	Pool   string
	Data   map[string]string
}

type poolRequest struct {
	PoolID string
}

type requestAddressRequest struct {
	PoolID  string
	Address string
	Options map[string]string
}

type requestAddressResponse struct {
	Address string
	Data    map[string]string
}

type releaseAddressRequest struct {
	PoolID  string
	Address string
}

// empty is the body of a success without data.
type empty struct{}

// handler adapts a typed operation to the protocol: the request body
// decoded into Req (an undecodable body is HTTP 400), the result encoded,
// an operation error answered as {"Err": "...", "Error": "..."} with
// status 200, as libnetwork expects.
func handler[Req any, Resp any](op func(Req) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > 0 && string(body) != "null" {
			if err := json.Unmarshal(body, &req); err != nil {
				w.Header().Set("Content-Type", MediaType)
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(errorBody("cannot decode the request: " + err.Error()))
				return
			}
		}
		resp, err := op(req)
		w.Header().Set("Content-Type", MediaType)
		if err != nil {
			_ = json.NewEncoder(w).Encode(errorBody(err.Error()))
			return
		}
		_ = json.NewEncoder(w).Encode(resp)
	}
}

// Handler serves the plugin protocol: /Plugin.Activate, the
// NetworkDriver.* and IpamDriver.* methods. Unknown paths are 404 (Docker
// then treats an optional method as not implemented).
func (p *Plugin) Handler() http.Handler {
	mux := http.NewServeMux()
	post := func(path string, h http.HandlerFunc) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			h(w, r)
		})
	}
	post("/Plugin.Activate", handler(func(empty) (activateResponse, error) {
		return activateResponse{Implements: []string{ImplementsNetwork, ImplementsIPAM}}, nil
	}))
	post("/NetworkDriver.GetCapabilities", handler(func(empty) (capabilitiesResponse, error) {
		return capabilitiesResponse{Scope: "local", ConnectivityScope: "local"}, nil
	}))
	post("/NetworkDriver.CreateNetwork", handler(p.createNetwork))
	post("/NetworkDriver.DeleteNetwork", handler(p.deleteNetwork))
	post("/NetworkDriver.CreateEndpoint", handler(p.createEndpoint))
	post("/NetworkDriver.DeleteEndpoint", handler(p.deleteEndpoint))
	post("/NetworkDriver.EndpointOperInfo", handler(p.endpointOperInfo))
	post("/NetworkDriver.Join", handler(p.join))
	post("/NetworkDriver.Leave", handler(p.leave))
	post("/NetworkDriver.ProgramExternalConnectivity", handler(p.programExternalConnectivity))
	post("/NetworkDriver.RevokeExternalConnectivity", handler(func(connectivityRequest) (empty, error) { return empty{}, nil }))
	// Node discovery (swarm) means nothing to a local-scope driver.
	post("/NetworkDriver.DiscoverNew", handler(func(map[string]any) (empty, error) { return empty{}, nil }))
	post("/NetworkDriver.DiscoverDelete", handler(func(map[string]any) (empty, error) { return empty{}, nil }))
	post("/NetworkDriver.AllocateNetwork", handler(func(map[string]any) (empty, error) {
		return empty{}, errors.New("evpnhost is a local-scope driver: swarm networks (AllocateNetwork) are not supported")
	}))
	post("/NetworkDriver.FreeNetwork", handler(func(map[string]any) (empty, error) { return empty{}, nil }))

	post("/IpamDriver.GetCapabilities", handler(func(empty) (ipamCapabilitiesResponse, error) {
		return ipamCapabilitiesResponse{}, nil
	}))
	post("/IpamDriver.GetDefaultAddressSpaces", handler(func(empty) (addressSpacesResponse, error) {
		return addressSpacesResponse{LocalDefaultAddressSpace: AddressSpace, GlobalDefaultAddressSpace: AddressSpace + "-global"}, nil
	}))
	post("/IpamDriver.RequestPool", handler(p.requestPool))
	post("/IpamDriver.ReleasePool", handler(func(poolRequest) (empty, error) { return empty{}, nil }))
	post("/IpamDriver.RequestAddress", handler(p.requestAddress))
	post("/IpamDriver.ReleaseAddress", handler(p.releaseAddress))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("%s is not a method of evpnhost's plugin", r.URL.Path), http.StatusNotFound)
	})
	return mux
}

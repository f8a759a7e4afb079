package dockerplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
)

// The protocol tests run the plugin's real HTTP server on a unix socket in
// a temporary directory, as Docker reaches it, with a real state
// directory holding the lab's h1 intent. Only the kernel side (Host) is a
// recorder: the lab test (e2e/docker_test.go) runs it against a real
// Docker engine and kernel.

type fakeHost struct {
	mu      sync.Mutex
	plugged map[string]attach.Attachment
	calls   []string
}

func (h *fakeHost) Plug(in *api.Intent, a attach.Attachment, mtu int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.plugged[a.Interface] = a
	h.calls = append(h.calls, "plug "+a.Interface)
	return nil
}

func (h *fakeHost) Unplug(in *api.Intent, a attach.Attachment) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.plugged, a.Interface)
	h.calls = append(h.calls, "unplug "+a.Interface)
	return nil
}

func (h *fakeHost) Gateway(a attach.Attachment) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, "gateway "+a.Sandbox)
	return nil
}

func (h *fakeHost) Enforce(in *api.Intent) error { return nil }

type fakeDocker struct {
	nets map[string]map[string]string
}

func (d *fakeDocker) Endpoints(_ context.Context, id string) (map[string]string, bool, error) {
	eps, ok := d.nets[id]
	return eps, ok, nil
}

type env struct {
	t      *testing.T
	dir    string
	sock   string
	host   *fakeHost
	docker *fakeDocker
	cancel func()
	plugin *Plugin
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	in, err := api.Load("../../lab/intents/h1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := attach.SaveIntent(dir, in); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, sock: filepath.Join(dir, "plugins", "evpnhost.sock"), host: &fakeHost{plugged: map[string]attach.Attachment{}},
		docker: &fakeDocker{nets: map[string]map[string]string{}}}
	e.start()
	t.Cleanup(func() { e.cancel() })
	return e
}

// start (re)starts the plugin on the same state directory and socket.
func (e *env) start() {
	e.t.Helper()
	l, err := Listen(e.sock)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.plugin = New(Config{StateDir: e.dir, Host: e.host, Docker: e.docker})
	done := make(chan struct{})
	go func() { _ = e.plugin.Serve(ctx, l, 0); close(done) }()
	e.cancel = func() { cancel(); <-done }
}

// call POSTs a method as Docker does and decodes the answer; it returns
// the operation error ({"Err": ...}), if any.
func (e *env) call(method string, req any, resp any) string {
	e.t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.sock)
	}}}
	var body bytes.Buffer
	if req != nil {
		_ = json.NewEncoder(&body).Encode(req)
	}
	r, err := c.Post("http://plugin/"+method, MediaType, &body)
	if err != nil {
		e.t.Fatalf("%s: %v", method, err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		e.t.Fatalf("%s: HTTP %s", method, r.Status)
	}
	raw := new(bytes.Buffer)
	_, _ = raw.ReadFrom(r.Body)
	// As libnetwork reads them: the network driver's errors as Err, the
	// IPAM driver's as Error.
	var er struct{ Err, Error string }
	_ = json.Unmarshal(raw.Bytes(), &er)
	if strings.HasPrefix(method, "IpamDriver.") && er.Error != "" {
		return er.Error
	}
	if !strings.HasPrefix(method, "IpamDriver.") && er.Err != "" {
		return er.Err
	}
	if resp != nil {
		if err := json.Unmarshal(raw.Bytes(), resp); err != nil {
			e.t.Fatalf("%s: %v: %s", method, err, raw)
		}
	}
	return ""
}

func (e *env) mustCall(method string, req any, resp any) {
	e.t.Helper()
	if msg := e.call(method, req, resp); msg != "" {
		e.t.Fatalf("%s: %s", method, msg)
	}
}

func (e *env) wantErr(method string, req any, substr ...string) {
	e.t.Helper()
	msg := e.call(method, req, nil)
	if msg == "" {
		e.t.Fatalf("%s succeeded, want an error with %q", method, substr)
	}
	for _, s := range substr {
		if !strings.Contains(msg, s) {
			e.t.Fatalf("%s: error %q lacks %q", method, msg, s)
		}
	}
}

func TestActivateAndCapabilities(t *testing.T) {
	e := newEnv(t)
	var act activateResponse
	e.mustCall("Plugin.Activate", nil, &act)
	if strings.Join(act.Implements, ",") != "NetworkDriver,IpamDriver" {
		t.Fatalf("Implements %v", act.Implements)
	}
	var caps capabilitiesResponse
	e.mustCall("NetworkDriver.GetCapabilities", nil, &caps)
	if caps.Scope != "local" {
		t.Fatalf("scope %q", caps.Scope)
	}
	var sp addressSpacesResponse
	e.mustCall("IpamDriver.GetDefaultAddressSpaces", nil, &sp)
	if sp.LocalDefaultAddressSpace != AddressSpace {
		t.Fatalf("%+v", sp)
	}
	// Unknown methods are 404: Docker then takes an optional method as
	// not implemented.
	r, err := (&http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.sock)
	}}}).Post("http://plugin/NetworkDriver.NoSuchThing", MediaType, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown method: %s", r.Status)
	}
	// Undecodable JSON is a 400.
	r, err = (&http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.sock)
	}}}).Post("http://plugin/NetworkDriver.CreateNetwork", MediaType, strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad JSON: %s", r.Status)
	}
}

func TestRequestPool(t *testing.T) {
	e := newEnv(t)
	e.wantErr("IpamDriver.RequestPool", requestPoolRequest{AddressSpace: AddressSpace}, "--ipam-opt network=")
	// red/web and blue/web share 10.1.10.0/24.
	e.wantErr("IpamDriver.RequestPool", requestPoolRequest{AddressSpace: AddressSpace, Pool: "10.1.10.0/24"}, "blue/web and red/web")
	e.wantErr("IpamDriver.RequestPool", requestPoolRequest{Options: map[string]string{"network": "red/nope"}}, "red/nope", "known:")
	e.wantErr("IpamDriver.RequestPool", requestPoolRequest{Options: map[string]string{"network": "red/web", "color": "x"}}, `"color"`)
	e.wantErr("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.1.10.0/25", Options: map[string]string{"network": "red/web"}}, "--ip-range")
	e.wantErr("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.1.20.0/25", Options: map[string]string{"network": "red/web"}}, "red/app")

	var res requestPoolResponse
	e.mustCall("IpamDriver.RequestPool", requestPoolRequest{Options: map[string]string{"network": "red/web"}}, &res)
	if res.Pool != "10.1.10.0/24" || res.Data[addrGateway] != "10.1.10.1/24" {
		t.Fatalf("bridged pool: %+v", res)
	}
	e.mustCall("IpamDriver.RequestPool", requestPoolRequest{Options: map[string]string{"network": "red/web"}, V6: true}, &res)
	if res.Pool != "fd00:10::/64" || res.Data[addrGateway] != "fd00:10::1/64" {
		t.Fatalf("IPv6 pool: %+v", res)
	}
	// A unique subnet needs no option.
	e.mustCall("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.1.20.0/24"}, &res)
	if !strings.Contains(res.PoolID, "red/app") {
		t.Fatalf("pool of 10.1.20.0/24: %+v", res)
	}
	e.mustCall("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.1.99.0/24", Options: map[string]string{"network": "red/web"}}, &res)
	if res.Data[addrGateway] != "169.254.1.1/32" || !strings.Contains(res.PoolID, "routed") {
		t.Fatalf("routed pool: %+v", res)
	}
	var again requestPoolResponse
	e.mustCall("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.1.99.0/24", Options: map[string]string{"network": "red/web"}}, &again)
	if again.PoolID != res.PoolID {
		t.Fatalf("the same request gave another pool ID: %q, %q", res.PoolID, again.PoolID)
	}
}

const (
	nidRed  = "1111111111111111111111111111111111111111111111111111111111111111"
	nidBlue = "2222222222222222222222222222222222222222222222222222222222222222"
	eid1    = "aaaa000000000000000000000000000000000000000000000000000000000001"
	eid2    = "aaaa000000000000000000000000000000000000000000000000000000000002"
	eidBlue = "bbbb000000000000000000000000000000000000000000000000000000000001"
)

func generic(m map[string]any) map[string]any { return map[string]any{optGeneric: m} }

// createRed makes red/web's Docker network with a pool of 10.1.10.0/28.
func (e *env) createRed() string {
	var pool requestPoolResponse
	e.mustCall("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.1.10.0/24", SubPool: "10.1.10.0/28", Options: map[string]string{"network": "red/web"}}, &pool)
	e.mustCall("NetworkDriver.CreateNetwork", createNetworkRequest{NetworkID: nidRed, Options: generic(map[string]any{"network": "red/web"}),
		IPv4Data: []IPAMData{{AddressSpace: AddressSpace, Pool: pool.Pool, Gateway: pool.Data[addrGateway]}}}, nil)
	return pool.PoolID
}

func TestEndpointLifecycle(t *testing.T) {
	e := newEnv(t)
	e.wantErr("NetworkDriver.CreateNetwork", createNetworkRequest{NetworkID: nidRed, Options: generic(map[string]any{"network": "red/web"}),
		IPv4Data: []IPAMData{{Pool: "10.1.10.0/24", Gateway: "10.1.10.254/24"}}}, "anycast gateway 10.1.10.1")
	e.wantErr("NetworkDriver.CreateNetwork", createNetworkRequest{NetworkID: nidRed, Options: generic(map[string]any{"network": "red/web", "mode": "tunnel"})}, "mode")
	e.wantErr("NetworkDriver.CreateNetwork", createNetworkRequest{NetworkID: nidRed, Options: generic(map[string]any{"vlan": "3"})}, `"vlan"`)
	pool := e.createRed()

	// Gateway request: the anycast gateway, never another.
	var gw requestAddressResponse
	e.mustCall("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool, Options: map[string]string{optAddressType: addrGateway}}, &gw)
	if gw.Address != "10.1.10.1/24" {
		t.Fatalf("gateway %q", gw.Address)
	}
	// The first free address of the range: not .0 (the network), .1 (the
	// gateway); .11 (workload rweb1) is further up.
	var a1 requestAddressResponse
	e.mustCall("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool}, &a1)
	if a1.Address != "10.1.10.2/24" {
		t.Fatalf("first address %q", a1.Address)
	}
	// Reserved until its endpoint exists: the next request gets another.
	var a2 requestAddressResponse
	e.mustCall("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool}, &a2)
	if a2.Address != "10.1.10.3/24" {
		t.Fatalf("second address %q", a2.Address)
	}
	e.mustCall("IpamDriver.ReleaseAddress", releaseAddressRequest{PoolID: pool, Address: "10.1.10.3"}, nil)
	e.mustCall("IpamDriver.ReleaseAddress", releaseAddressRequest{PoolID: pool, Address: "10.1.10.3"}, nil)

	// Static addresses are checked like any run-time address.
	e.wantErr("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool, Address: "10.1.10.11"}, "workload rweb1")
	e.wantErr("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool, Address: "10.1.10.1"}, "red/web's gateway")
	e.wantErr("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool, Address: "10.1.10.2"}, "reserved")
	e.wantErr("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool, Address: "10.1.11.2"}, "outside")

	var ce createEndpointResponse
	e.mustCall("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: nidRed, EndpointID: eid1,
		Interface: &EndpointInterface{Address: a1.Address}}, &ce)
	if ce.Interface == nil || ce.Interface.MacAddress == "" || ce.Interface.Address != "" {
		t.Fatalf("CreateEndpoint must give only the MAC it chose: %+v", ce.Interface)
	}
	// Now the attachment holds it, named in the error.
	e.wantErr("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool, Address: "10.1.10.2"}, "attachment "+EndpointAttachmentID(eid1))
	// A given MAC is kept and not answered back.
	var ce2 createEndpointResponse
	e.mustCall("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: nidRed, EndpointID: eid2,
		Interface: &EndpointInterface{Address: "10.1.10.3/24", MacAddress: "02:42:0a:01:0a:03"}}, &ce2)
	if ce2.Interface != nil {
		t.Fatalf("answered a given MAC back: %+v", ce2.Interface)
	}
	// Docker's default IPAM does not check: CreateEndpoint does.
	e.wantErr("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: nidRed, EndpointID: "cccc",
		Interface: &EndpointInterface{Address: "10.1.10.2/24"}}, "attachment "+EndpointAttachmentID(eid1))
	e.wantErr("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: "nope", EndpointID: "cccc"}, "not an evpnhost network")

	var jr joinResponse
	e.docker.nets[nidRed] = map[string]string{eid1: "web1"}
	e.mustCall("NetworkDriver.Join", joinRequest{NetworkID: nidRed, EndpointID: eid1, SandboxKey: "/var/run/docker/netns/abc"}, &jr)
	rec, _, _ := attach.Open(e.dir).Get(EndpointAttachmentID(eid1))
	if jr.InterfaceName == nil || jr.InterfaceName.SrcName != rec.Peer || jr.InterfaceName.DstPrefix != "eth" || jr.Gateway != "10.1.10.1" {
		t.Fatalf("join: %+v (record %+v)", jr, rec)
	}
	if !strings.HasPrefix(rec.Interface, "evc") || rec.Name != "web1" || rec.Sandbox == "" || rec.Owner != attach.OwnerDocker {
		t.Fatalf("record after join: %+v", rec)
	}
	if _, ok := e.host.plugged[rec.Interface]; !ok {
		t.Fatalf("join did not plug %s: %v", rec.Interface, e.host.calls)
	}
	if got := rec.Plan().Name; got != "docker:web1" {
		t.Fatalf("policy name %q", got)
	}

	// The plugin restarts: nothing is lost.
	e.cancel()
	e.start()
	e.mustCall("NetworkDriver.Leave", endpointRequest{NetworkID: nidRed, EndpointID: eid1}, nil)
	if _, ok := e.host.plugged[rec.Interface]; ok {
		t.Fatal("leave did not unplug")
	}
	for range 2 {
		e.mustCall("NetworkDriver.DeleteEndpoint", endpointRequest{NetworkID: nidRed, EndpointID: eid1}, nil)
		e.mustCall("IpamDriver.ReleaseAddress", releaseAddressRequest{PoolID: pool, Address: "10.1.10.2"}, nil)
	}
	if _, ok, _ := attach.Open(e.dir).Get(EndpointAttachmentID(eid1)); ok {
		t.Fatal("the record survived DeleteEndpoint")
	}
	// Free again.
	e.mustCall("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool, Address: "10.1.10.2"}, &a1)
	for range 2 {
		e.mustCall("NetworkDriver.DeleteNetwork", networkRequest{NetworkID: nidRed}, nil)
	}
	// The network went with an endpoint left (eid2): it is removed too.
	if _, ok, _ := attach.Open(e.dir).Get(EndpointAttachmentID(eid2)); ok {
		t.Fatal("DeleteNetwork left an endpoint's record")
	}
}

func TestTenantsOverlapAndRouted(t *testing.T) {
	e := newEnv(t)
	pool := e.createRed()
	var a requestAddressResponse
	e.mustCall("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool, Address: "10.1.10.5"}, &a)
	e.mustCall("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: nidRed, EndpointID: eid1, Interface: &EndpointInterface{Address: a.Address}}, nil)

	// blue/web has the same subnet: the same address is blue's to use.
	var bp requestPoolResponse
	e.mustCall("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.1.10.0/24", Options: map[string]string{"network": "blue/web"}}, &bp)
	e.mustCall("NetworkDriver.CreateNetwork", createNetworkRequest{NetworkID: nidBlue, Options: generic(map[string]any{"network": "blue/web"}),
		IPv4Data: []IPAMData{{Pool: bp.Pool, Gateway: bp.Data[addrGateway]}}}, nil)
	e.mustCall("IpamDriver.RequestAddress", requestAddressRequest{PoolID: bp.PoolID, Address: "10.1.10.5"}, &a)
	e.mustCall("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: nidBlue, EndpointID: eidBlue, Interface: &EndpointInterface{Address: a.Address}}, nil)

	// Routed: /32 addresses outside the tenant's subnets, next hop
	// 169.254.1.1 on a connected route, its neighbor set once Docker
	// configured the container (ProgramExternalConnectivity).
	var rp requestPoolResponse
	e.mustCall("IpamDriver.RequestPool", requestPoolRequest{Pool: "10.1.99.0/24", Options: map[string]string{"network": "red/web"}}, &rp)
	e.wantErr("NetworkDriver.CreateNetwork", createNetworkRequest{NetworkID: "3333", Options: generic(map[string]any{"network": "red/web", "mode": "routed"}),
		IPv4Data: []IPAMData{{Pool: "10.1.20.0/24"}}}, "overlaps red/app")
	e.mustCall("NetworkDriver.CreateNetwork", createNetworkRequest{NetworkID: "3333", Options: generic(map[string]any{"network": "red/web", "mode": "routed"}),
		IPv4Data: []IPAMData{{Pool: rp.Pool, Gateway: rp.Data[addrGateway]}}}, nil)
	e.mustCall("IpamDriver.RequestAddress", requestAddressRequest{PoolID: rp.PoolID}, &a)
	if a.Address != "10.1.99.1/32" {
		t.Fatalf("routed address %q", a.Address)
	}
	e.mustCall("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: "3333", EndpointID: "dddd", Interface: &EndpointInterface{Address: a.Address}}, nil)
	var jr joinResponse
	e.mustCall("NetworkDriver.Join", joinRequest{NetworkID: "3333", EndpointID: "dddd", SandboxKey: "/run/x"}, &jr)
	if jr.Gateway != "169.254.1.1" || len(jr.StaticRoutes) != 1 || jr.StaticRoutes[0].Destination != "169.254.1.1/32" || jr.StaticRoutes[0].RouteType != 1 {
		t.Fatalf("routed join: %+v", jr)
	}
	e.mustCall("NetworkDriver.ProgramExternalConnectivity", connectivityRequest{NetworkID: "3333", EndpointID: "dddd"}, nil)
	// The next hop's neighbor is set in the background, once the
	// container's interface is there.
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.host.mu.Lock()
		last := e.host.calls[len(e.host.calls)-1]
		e.host.mu.Unlock()
		if last == "gateway /run/x" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls %v", e.host.calls)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReconcile(t *testing.T) {
	e := newEnv(t)
	pool := e.createRed()
	var a requestAddressResponse
	e.mustCall("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool}, &a)
	e.mustCall("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: nidRed, EndpointID: eid1, Interface: &EndpointInterface{Address: a.Address}}, nil)
	e.mustCall("NetworkDriver.Join", joinRequest{NetworkID: nidRed, EndpointID: eid1, SandboxKey: "/run/x"}, nil)
	e.mustCall("IpamDriver.RequestAddress", requestAddressRequest{PoolID: pool}, &a)
	e.mustCall("NetworkDriver.CreateEndpoint", createEndpointRequest{NetworkID: nidRed, EndpointID: eid2, Interface: &EndpointInterface{Address: a.Address}}, nil)

	// Young records are left alone whatever Docker says.
	if err := e.plugin.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, _ := attach.Open(e.dir).List(); len(l) != 2 {
		t.Fatalf("reconcile removed young records: %v", l)
	}
	// Docker lists eid2 only (eid1's container went while the plugin was
	// down), with a new name.
	e.docker.nets[nidRed] = map[string]string{eid2: "renamed"}
	e.plugin.cfg.Grace = -time.Hour // every record counts (records are stamped to the second)
	if err := e.plugin.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, _ := attach.Open(e.dir).List()
	if len(l) != 1 || l[0].EndpointID != eid2 || l[0].Name != "renamed" {
		t.Fatalf("after reconcile: %+v", l)
	}
	if len(e.host.plugged) != 0 {
		t.Fatalf("eid1's veth left: %v", e.host.calls)
	}
	// The network is gone from Docker: forgotten, its endpoint removed.
	delete(e.docker.nets, nidRed)
	if err := e.plugin.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, _ := attach.Open(e.dir).List(); len(l) != 0 {
		t.Fatalf("after the network went: %+v", l)
	}
	r, _ := e.plugin.readRecords()
	if len(r.Networks) != 0 {
		t.Fatalf("network record left: %+v", r.Networks)
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, "docker.json"))
	if strings.Contains(string(b), nidRed) {
		t.Fatalf("docker.json: %s", b)
	}
}

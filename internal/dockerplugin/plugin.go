package dockerplugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
)

// AddressSpace is the IPAM driver's (local) address space.
const AddressSpace = "evpnhost"

// Routed containers reach the host through these next hops, resolved by
// permanent neighbor entries inside the container to the MAC of the host
// end of the veth (the same as the CNI plugin's routed mode).
var (
	RoutedGW4 = netip.MustParseAddr("169.254.1.1")
	RoutedGW6 = netip.MustParseAddr("fe80::1")
)

// Host is what the plugin changes on the host: the kernel side of an
// endpoint (NewHost is the real one, through internal/linux and the
// attachment fast path).
type Host interface {
	// Plug creates the veth of a (host end a.Interface, container end
	// a.Peer with MAC a.MAC and the network's MTU), enforces the policy
	// and converges the host side of a (bridge port or VRF port,
	// FDB/neighbor entries or host routes).
	Plug(in *api.Intent, a attach.Attachment, mtu int) error
	// Unplug removes the host side of a and deletes its veth (either
	// end, wherever the container end is); a missing veth is not an
	// error.
	Unplug(in *api.Intent, a attach.Attachment) error
	// Gateway installs the routed next hops' permanent neighbor entries
	// in the container's namespace (a.Sandbox), on its interface (MAC
	// a.MAC), pointing to the host end's MAC.
	Gateway(a attach.Attachment) error
	// Enforce enforces the policy with the recorded attachments (a name
	// changed).
	Enforce(in *api.Intent) error
}

// Docker is what the plugin asks the Docker engine (NewDockerClient):
// the endpoints of one of its networks, endpoint ID -> container name.
// found is false when Docker has no network with that ID.
type Docker interface {
	Endpoints(ctx context.Context, networkID string) (eps map[string]string, found bool, err error)
}

// Config is a plugin's setup.
type Config struct {
	StateDir    string // evpnhost's state directory (intent.json, attachments)
	Host        Host
	Docker      Docker // nil: no container names, no reconcile against Docker
	Log         *slog.Logger
	LockTimeout time.Duration // how long an operation waits for the state lock (default 20s)
	// Grace keeps records younger than this out of the reconcile (an
	// endpoint Docker is creating is not listed yet); default 1 minute.
	Grace time.Duration
	// GatewayWait is how long a routed endpoint's next hop waits for the
	// container's interface (default 2 minutes).
	GatewayWait time.Duration
}

// Plugin is the network and IPAM driver.
type Plugin struct {
	cfg Config
}

// New returns a plugin.
func New(cfg Config) *Plugin {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.LockTimeout == 0 {
		cfg.LockTimeout = 20 * time.Second
	}
	if cfg.Grace == 0 {
		cfg.Grace = time.Minute
	}
	if cfg.GatewayWait == 0 {
		cfg.GatewayWait = 2 * time.Minute
	}
	return &Plugin{cfg: cfg}
}

func (p *Plugin) store() *attach.Store { return attach.Open(p.cfg.StateDir) }

// locked runs f under the state directory's lock, with the applied intent
// and the plugin's records; f's changes to the records are written when it
// returns nil and dirty is set.
func (p *Plugin) locked(f func(in *api.Intent, r *records) (dirty bool, err error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.LockTimeout)
	defer cancel()
	unlock, err := p.store().LockContext(ctx, nil)
	if err != nil {
		return err
	}
	defer unlock()
	in, err := attach.LoadIntent(p.cfg.StateDir)
	if err != nil {
		return err
	}
	r, err := p.readRecords()
	if err != nil {
		return err
	}
	dirty, err := f(in, r)
	if err != nil {
		return err
	}
	if dirty {
		return p.writeRecords(r)
	}
	return nil
}

// driverOptions are the -o options of `docker network create`.
func driverOptions(opts map[string]any) (map[string]string, error) {
	out := map[string]string{}
	g, ok := opts[optGeneric]
	if !ok || g == nil {
		return out, nil
	}
	m, ok := g.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("option %s is %T, not a map", optGeneric, g)
	}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("option %s: %v is not a string", k, v)
		}
		out[k] = s
	}
	return out, nil
}

// containing lists the networks (tenant/network, sorted) with a subnet
// that contains pool.
func containing(in *api.Intent, pool netip.Prefix) []string {
	var out []string
	for _, t := range in.Tenants {
		for _, n := range t.Networks {
			for _, s := range n.Subnets() {
				if s.Bits() <= pool.Bits() && s.Contains(pool.Addr()) {
					out = append(out, t.Name+"/"+n.Name)
					break
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func findNetwork(in *api.Intent, ref string) (*api.Tenant, *api.Network, error) {
	if _, err := attach.Resolve(in, ref); err != nil {
		return nil, nil, err
	}
	tn, nn, _ := api.SplitNetworkRef(ref)
	for i := range in.Tenants {
		t := &in.Tenants[i]
		if t.Name != tn {
			continue
		}
		for j := range t.Networks {
			if t.Networks[j].Name == nn {
				return t, &t.Networks[j], nil
			}
		}
	}
	return nil, nil, fmt.Errorf("unknown network %q", ref)
}

func (p *Plugin) createNetwork(req createNetworkRequest) (empty, error) {
	opts, err := driverOptions(req.Options)
	if err != nil {
		return empty{}, err
	}
	for k := range opts {
		if k != "network" && k != "mode" {
			return empty{}, fmt.Errorf("unknown option %q: an evpnhost network takes -o network=TENANT/NETWORK and -o mode=bridged|routed", k)
		}
	}
	mode := opts["mode"]
	if mode == "" {
		mode = attach.ModeBridged
	}
	if mode != attach.ModeBridged && mode != attach.ModeRouted {
		return empty{}, fmt.Errorf("option mode=%q: bridged (the default) or routed", mode)
	}
	var pools []netip.Prefix
	var gws []string
	for _, d := range append(append([]IPAMData{}, req.IPv4Data...), req.IPv6Data...) {
		if d.Pool == "" {
			continue
		}
		pp, err := netip.ParsePrefix(d.Pool)
		if err != nil {
			return empty{}, fmt.Errorf("pool %q: %v", d.Pool, err)
		}
		pools = append(pools, pp.Masked())
		gws = append(gws, d.Gateway)
	}
	return empty{}, p.locked(func(in *api.Intent, r *records) (bool, error) {
		ref := opts["network"]
		if ref == "" {
			// The network of the first pool, when only one network has it.
			if len(pools) == 0 {
				return false, errors.New("option network: say which evpnhost network (-o network=TENANT/NETWORK)")
			}
			c := containing(in, pools[0])
			if len(c) != 1 {
				if len(c) == 0 {
					return false, fmt.Errorf("option network: %s is not inside a subnet of any network of the applied intent: say which with -o network=TENANT/NETWORK", pools[0])
				}
				return false, fmt.Errorf("option network: %s is a subnet of %s: say which with -o network=TENANT/NETWORK", pools[0], strings.Join(c, " and "))
			}
			ref = c[0]
		}
		t, n, err := findNetwork(in, ref)
		if err != nil {
			return false, fmt.Errorf("option network: %w", err)
		}
		for i, pool := range pools {
			if err := checkPool(t, n, ref, mode, pool, gws[i]); err != nil {
				return false, err
			}
		}
		rec := network{ID: req.NetworkID, Network: ref, Mode: mode, Created: now()}
		if old, ok := r.Networks[req.NetworkID]; ok {
			rec.Created = old.Created
		}
		for _, pp := range pools {
			rec.Pools = append(rec.Pools, pp.String())
		}
		r.Networks[req.NetworkID] = rec
		p.cfg.Log.Info("network created", "docker", short(req.NetworkID), "network", ref, "mode", mode, "pools", rec.Pools)
		return true, nil
	})
}

// checkPool checks a Docker network's pool against its evpnhost network:
// bridged, the pool is one of the network's subnets and the gateway its
// anycast gateway; routed, the pool lies outside every subnet of the
// tenant.
func checkPool(t *api.Tenant, n *api.Network, ref, mode string, pool netip.Prefix, gw string) error {
	if mode == attach.ModeBridged {
		for i, s := range n.Subnets() {
			if s != pool {
				continue
			}
			want := n.GatewayPrefixes()[i].Addr()
			if gw != "" {
				g, err := netip.ParsePrefix(gw)
				if err != nil {
					if a, err2 := netip.ParseAddr(gw); err2 == nil {
						g = netip.PrefixFrom(a, a.BitLen())
					} else {
						return fmt.Errorf("gateway %q: %v", gw, err)
					}
				}
				if g.Addr() != want {
					return fmt.Errorf("gateway %s: the gateway of %s in %s is its anycast gateway %s (use --ipam-driver evpnhost, or --gateway %s)", g.Addr(), pool, ref, want, want)
				}
			}
			return nil
		}
		return fmt.Errorf("subnet %s is not a subnet of %s (%s): a bridged network uses the network's subnet; give --ip-range for a part of it", pool, ref, prefixList(n.Subnets()))
	}
	for _, on := range t.Networks {
		for _, s := range on.Subnets() {
			if s.Overlaps(pool) {
				return fmt.Errorf("subnet %s overlaps %s's subnet %s: a routed network needs a range outside the subnets of tenant %s's networks", pool, t.Name+"/"+on.Name, s, t.Name)
			}
		}
	}
	return nil
}

func prefixList(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	if len(s) == 0 {
		return "no subnets"
	}
	return strings.Join(s, ", ")
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (p *Plugin) deleteNetwork(req networkRequest) (empty, error) {
	var left []attach.Attachment
	err := p.locked(func(in *api.Intent, r *records) (bool, error) {
		atts, err := p.store().List()
		if err != nil {
			return false, err
		}
		for _, a := range atts {
			if a.Owner == attach.OwnerDocker && a.DockerNetwork == req.NetworkID {
				left = append(left, a)
				p.remove(in, a)
			}
		}
		_, had := r.Networks[req.NetworkID]
		delete(r.Networks, req.NetworkID)
		if had {
			p.cfg.Log.Info("network deleted", "docker", short(req.NetworkID))
		}
		return had, nil
	})
	for _, a := range left {
		p.cfg.Log.Warn("network deleted with an endpoint left: removed", "endpoint", short(a.EndpointID), "interface", a.Interface)
	}
	return empty{}, err
}

// remove undoes an endpoint: host side, veth, record. Failures are
// logged: the veth's deletion takes the port, FDB entry and routes along.
func (p *Plugin) remove(in *api.Intent, a attach.Attachment) {
	if err := p.cfg.Host.Unplug(in, a); err != nil {
		p.cfg.Log.Warn("unplug", "endpoint", short(a.EndpointID), "interface", a.Interface, "err", err)
	}
	if err := p.store().Delete(a.ID); err != nil {
		p.cfg.Log.Warn("delete record", "id", a.ID, "err", err)
	}
}

// EndpointAttachmentID is the attachment ID of a Docker endpoint.
func EndpointAttachmentID(endpointID string) string {
	if len(endpointID) <= 64 && validID(endpointID) {
		return "docker-" + endpointID
	}
	return "docker-" + hash(endpointID, 64)
}

func validID(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func hash(s string, n int) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:n]
}

// ifNames are the veth's names in the host namespace for endpoint eid:
// the host end "evc" + 8 hex digits of sha256(eid/docker) (the CNI
// plugin's form: reserved, and never a name another attachment's record
// holds; 12 digits when the 8 are taken) and the container end, until
// Docker moves it, "evp" + the same digits.
func ifNames(recs []attach.Attachment, id, eid string) (host, peer string, err error) {
	for _, r := range recs {
		if r.ID == id && r.Interface != "" && r.Peer != "" {
			return r.Interface, r.Peer, nil
		}
	}
	held := func(name string) bool {
		return slices.ContainsFunc(recs, func(r attach.Attachment) bool { return r.ID != id && (r.Interface == name || r.Peer == name) })
	}
	for _, n := range []int{8, 12} {
		h := hash(eid+"/docker", n)
		if !held("evc"+h) && !held("evp"+h) {
			return "evc" + h, "evp" + h, nil
		}
	}
	return "", "", fmt.Errorf("the interface names of endpoint %s are held by other attachments", short(eid))
}

// endpointMAC is the container's MAC when Docker gives none: locally
// administered, unicast, from the endpoint ID.
func endpointMAC(eid string) string {
	h := sha256.Sum256([]byte(eid))
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}.String()
}

func (p *Plugin) createEndpoint(req createEndpointRequest) (createEndpointResponse, error) {
	var resp createEndpointResponse
	iface := req.Interface
	if iface == nil {
		iface = &EndpointInterface{}
	}
	mac := iface.MacAddress
	if mac == "" {
		mac = endpointMAC(req.EndpointID)
		resp.Interface = &EndpointInterface{MacAddress: mac}
	} else if m, err := net.ParseMAC(mac); err != nil || len(m) != 6 || m[0]&1 != 0 {
		return resp, fmt.Errorf("MAC address %q is not a unicast Ethernet address", mac)
	} else {
		mac = m.String()
	}
	var ips []string
	for _, s := range []string{iface.Address, iface.AddressIPv6} {
		if s == "" {
			continue
		}
		pp, err := netip.ParsePrefix(s)
		if err != nil {
			return resp, fmt.Errorf("address %q: %v", s, err)
		}
		ips = append(ips, pp.Addr().Unmap().String())
	}
	err := p.locked(func(in *api.Intent, r *records) (bool, error) {
		nw, ok := r.Networks[req.NetworkID]
		if !ok {
			return false, fmt.Errorf("network %s is not an evpnhost network this plugin created (state directory %s)", short(req.NetworkID), p.cfg.StateDir)
		}
		if nw.Mode == attach.ModeRouted && len(ips) == 0 {
			return false, fmt.Errorf("a routed endpoint needs an address (use --ipam-driver evpnhost)")
		}
		recs, err := p.store().List()
		if err != nil {
			return false, err
		}
		id := EndpointAttachmentID(req.EndpointID)
		host, peer, err := ifNames(recs, id, req.EndpointID)
		if err != nil {
			return false, err
		}
		if err := attach.CheckInterface(in, host); err != nil {
			return false, err
		}
		a := attach.Attachment{ID: id, Owner: attach.OwnerDocker, Network: nw.Network, Mode: nw.Mode,
			Interface: host, Peer: peer, MAC: mac, IPs: ips, DockerNetwork: req.NetworkID, EndpointID: req.EndpointID}
		if err := attach.CheckAddrs(in, recs, a); err != nil {
			return false, err
		}
		if old, ok, _ := p.store().Get(id); ok {
			a.Created, a.Name, a.Sandbox = old.Created, old.Name, old.Sandbox
		}
		if err := p.store().Put(a); err != nil {
			return false, err
		}
		tenant, _, _ := api.SplitNetworkRef(nw.Network)
		dirty := false
		for _, ip := range ips {
			dirty = r.unreserve(tenant, ip) || dirty
		}
		p.cfg.Log.Info("endpoint created", "endpoint", short(req.EndpointID), "network", nw.Network, "ips", ips, "mac", mac, "interface", host)
		return dirty, nil
	})
	if err != nil {
		return createEndpointResponse{}, err
	}
	return resp, nil
}

func (p *Plugin) deleteEndpoint(req endpointRequest) (empty, error) {
	return empty{}, p.locked(func(in *api.Intent, r *records) (bool, error) {
		a, ok, err := p.store().Get(EndpointAttachmentID(req.EndpointID))
		if err != nil || !ok {
			return false, err
		}
		p.remove(in, a)
		p.cfg.Log.Info("endpoint deleted", "endpoint", short(req.EndpointID), "interface", a.Interface)
		return false, nil
	})
}

func (p *Plugin) endpointOperInfo(req endpointRequest) (operInfoResponse, error) {
	a, ok, err := p.store().Get(EndpointAttachmentID(req.EndpointID))
	if err != nil {
		return operInfoResponse{}, err
	}
	v := map[string]any{}
	if ok {
		v["evpnhost.network"] = a.Network
		v["evpnhost.mode"] = a.Mode
		v["evpnhost.interface"] = a.Interface
	}
	return operInfoResponse{Value: v}, nil
}

// containerName asks Docker for the name of endpoint eid's container;
// "" when Docker cannot tell.
func (p *Plugin) containerName(nid, eid string) string {
	if p.cfg.Docker == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	eps, _, err := p.cfg.Docker.Endpoints(ctx, nid)
	if err != nil {
		p.cfg.Log.Warn("container name from Docker", "endpoint", short(eid), "err", err)
		return ""
	}
	return eps[eid]
}

func (p *Plugin) join(req joinRequest) (joinResponse, error) {
	var resp joinResponse
	name := p.containerName(req.NetworkID, req.EndpointID)
	err := p.locked(func(in *api.Intent, r *records) (bool, error) {
		a, ok, err := p.store().Get(EndpointAttachmentID(req.EndpointID))
		if err != nil {
			return false, err
		}
		if !ok {
			return false, fmt.Errorf("endpoint %s has no record: it was not created by this plugin (state directory %s)", short(req.EndpointID), p.cfg.StateDir)
		}
		net, err := attach.Resolve(in, a.Network)
		if err != nil {
			return false, err
		}
		a.Sandbox = req.SandboxKey
		if name != "" {
			a.Name = name
		}
		if err := p.store().Put(a); err != nil {
			return false, err
		}
		if err := p.cfg.Host.Plug(in, a, net.MTU); err != nil {
			return false, fmt.Errorf("attach %s to %s: %w", a.Interface, a.Network, err)
		}
		resp.InterfaceName = &InterfaceName{SrcName: a.Peer, DstPrefix: "eth"}
		resp.DisableGatewayService = true
		for _, ip := range a.Addrs() {
			if a.Mode == attach.ModeRouted {
				gw := RoutedGW4
				if ip.Is6() {
					gw = RoutedGW6
				}
				route := StaticRoute{Destination: netip.PrefixFrom(gw, gw.BitLen()).String(), RouteType: 1}
				if ip.Is4() && resp.Gateway == "" {
					resp.Gateway = gw.String()
					resp.StaticRoutes = append(resp.StaticRoutes, route)
				} else if ip.Is6() && resp.GatewayIPv6 == "" {
					resp.GatewayIPv6 = gw.String()
					resp.StaticRoutes = append(resp.StaticRoutes, route)
				}
				continue
			}
			for _, g := range net.Gateways {
				if g.Masked().Contains(ip) {
					if ip.Is4() && resp.Gateway == "" {
						resp.Gateway = g.Addr().String()
					} else if ip.Is6() && resp.GatewayIPv6 == "" {
						resp.GatewayIPv6 = g.Addr().String()
					}
				}
			}
		}
		p.cfg.Log.Info("joined", "endpoint", short(req.EndpointID), "container", a.Name, "interface", a.Interface, "sandbox", req.SandboxKey)
		return false, nil
	})
	return resp, err
}

func (p *Plugin) leave(req endpointRequest) (empty, error) {
	return empty{}, p.locked(func(in *api.Intent, r *records) (bool, error) {
		a, ok, err := p.store().Get(EndpointAttachmentID(req.EndpointID))
		if err != nil || !ok {
			return false, err
		}
		if err := p.cfg.Host.Unplug(in, a); err != nil {
			return false, fmt.Errorf("detach %s: %w", a.Interface, err)
		}
		a.Sandbox = ""
		p.cfg.Log.Info("left", "endpoint", short(req.EndpointID), "interface", a.Interface)
		return false, p.store().Put(a)
	})
}

// programExternalConnectivity is called after the join of the endpoint
// that gives the container its default route. A routed endpoint's next
// hop needs its permanent neighbor entry inside the container, on the
// interface Docker moved there; Docker 26 moves and configures it only
// once the container's namespace exists (after the join, when the task
// starts), so the entry is set as soon as the interface is up there
// (gatewayWhenReady), not here.
func (p *Plugin) programExternalConnectivity(req connectivityRequest) (empty, error) {
	a, ok, err := p.store().Get(EndpointAttachmentID(req.EndpointID))
	if err != nil || !ok || a.Mode != attach.ModeRouted {
		return empty{}, err
	}
	if a.Sandbox == "" {
		return empty{}, fmt.Errorf("endpoint %s has not joined a container", short(req.EndpointID))
	}
	go p.gatewayWhenReady(a)
	return empty{}, nil
}

// gatewayWhenReady installs a routed endpoint's next-hop neighbor entries
// once its interface is up in the container (Host.Gateway fails until
// then), and once more a second later in case Docker's configuration of
// the interface (down, addresses, up) flushed them. It gives up after
// GatewayWait.
func (p *Plugin) gatewayWhenReady(a attach.Attachment) {
	deadline := time.Now().Add(p.cfg.GatewayWait)
	var err error
	done := 0
	for time.Now().Before(deadline) && done < 2 {
		if cur, ok, _ := p.store().Get(a.ID); !ok || cur.Sandbox != a.Sandbox {
			return // left or gone
		}
		if err = p.cfg.Host.Gateway(a); err == nil {
			done++
			if done == 1 {
				p.cfg.Log.Info("routed next hop set in the container", "endpoint", short(a.EndpointID), "sandbox", a.Sandbox)
			}
			time.Sleep(time.Second)
			continue
		}
		time.Sleep(50 * time.Millisecond)
	}
	if done == 0 {
		p.cfg.Log.Warn("routed next hop not set in the container", "endpoint", short(a.EndpointID), "sandbox", a.Sandbox, "err", err)
	}
}

// Reconcile compares the recorded Docker networks and endpoints with
// Docker's and removes what Docker no longer has (a container or network
// removed while the plugin was down, a host restart): no veth, neighbor
// entry, route or address is left behind. Records younger than the grace
// period before Docker was asked are left alone (Docker lists an
// endpoint only once it is stored). It also follows renamed containers. Without a Docker client,
// or when Docker does not answer, it changes nothing.
func (p *Plugin) Reconcile(ctx context.Context) error {
	if p.cfg.Docker == nil {
		return nil
	}
	// Ask Docker before taking the lock: Docker may be calling the plugin.
	r0, err := p.readRecords()
	if err != nil {
		return err
	}
	atts0, err := p.store().List()
	if err != nil {
		return err
	}
	ids := map[string]bool{}
	for id := range r0.Networks {
		ids[id] = true
	}
	for _, a := range atts0 {
		if a.Owner == attach.OwnerDocker {
			ids[a.DockerNetwork] = true
		}
	}
	type answer struct {
		eps   map[string]string
		found bool
	}
	docker := map[string]answer{}
	// Only records made a grace period before Docker was asked count:
	// a younger endpoint may not be in Docker's store yet.
	cutoff := time.Now().Add(-p.cfg.Grace)
	old := func(ts string) bool {
		t, err := time.Parse(time.RFC3339, ts)
		return err != nil || t.Before(cutoff)
	}
	for id := range ids {
		eps, found, err := p.cfg.Docker.Endpoints(ctx, id)
		if err != nil {
			return fmt.Errorf("docker: %w", err)
		}
		docker[id] = answer{eps, found}
	}
	renamed := false
	err = p.locked(func(in *api.Intent, r *records) (bool, error) {
		dirty := false
		atts, err := p.store().List()
		if err != nil {
			return false, err
		}
		for _, a := range atts {
			if a.Owner != attach.OwnerDocker {
				continue
			}
			ans, asked := docker[a.DockerNetwork]
			if !asked || !old(a.Created) {
				continue
			}
			name, listed := ans.eps[a.EndpointID]
			if !ans.found || !listed {
				p.cfg.Log.Info("reconcile: endpoint gone from Docker: removed", "endpoint", short(a.EndpointID), "interface", a.Interface, "network", a.Network)
				p.remove(in, a)
				continue
			}
			if name != "" && name != a.Name {
				a.Name = name
				if err := p.store().Put(a); err != nil {
					return false, err
				}
				renamed = true
			}
		}
		for id, nw := range r.Networks {
			if ans, asked := docker[id]; asked && !ans.found && old(nw.Created) {
				p.cfg.Log.Info("reconcile: network gone from Docker: forgotten", "docker", short(id), "network", nw.Network)
				delete(r.Networks, id)
				dirty = true
			}
		}
		// A reservation whose endpoint never came (Docker failed between
		// RequestAddress and CreateEndpoint and never released it).
		n := len(r.Reserved)
		r.Reserved = slices.DeleteFunc(r.Reserved, func(x reservation) bool { return olderThan(x.Created, 10*p.cfg.Grace) })
		dirty = dirty || n != len(r.Reserved)
		if renamed {
			if err := p.cfg.Host.Enforce(in); err != nil {
				return dirty, fmt.Errorf("policy: %w", err)
			}
		}
		return dirty, nil
	})
	return err
}

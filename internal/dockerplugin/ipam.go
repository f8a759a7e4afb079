package dockerplugin

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/attach"
)

// A pool ID names everything an address request needs, so the IPAM
// driver keeps no pool state: "evpnhost|tenant/network|mode|pool|subpool".
type poolID struct {
	Network string
	Mode    string
	Pool    netip.Prefix
	Sub     netip.Prefix // invalid: the whole pool
}

func (id poolID) String() string {
	sub := ""
	if id.Sub.IsValid() {
		sub = id.Sub.String()
	}
	return strings.Join([]string{"evpnhost", id.Network, id.Mode, id.Pool.String(), sub}, "|")
}

func parsePoolID(s string) (poolID, error) {
	f := strings.Split(s, "|")
	if len(f) != 5 || f[0] != "evpnhost" {
		return poolID{}, fmt.Errorf("pool %q is not an evpnhost pool", s)
	}
	id := poolID{Network: f[1], Mode: f[2]}
	var err error
	if id.Pool, err = netip.ParsePrefix(f[3]); err != nil {
		return poolID{}, fmt.Errorf("pool %q: %v", s, err)
	}
	if f[4] != "" {
		if id.Sub, err = netip.ParsePrefix(f[4]); err != nil {
			return poolID{}, fmt.Errorf("pool %q: %v", s, err)
		}
	}
	return id, nil
}

// gateway is a pool's gateway: the network's anycast gateway (bridged),
// the routed next hop (routed).
func (id poolID) gateway(n *api.Network) netip.Prefix {
	if id.Mode == attach.ModeRouted {
		gw := RoutedGW4
		if id.Pool.Addr().Is6() {
			gw = RoutedGW6
		}
		return netip.PrefixFrom(gw, gw.BitLen())
	}
	for i, s := range n.Subnets() {
		if s == id.Pool {
			return n.GatewayPrefixes()[i]
		}
	}
	return netip.Prefix{}
}

// requestPool binds a Docker network's pool to an evpnhost network:
// --ipam-opt network=TENANT/NETWORK, or the one network whose subnet is
// --subnet. Bridged, the pool is the network's subnet (--subnet, or its
// first subnet of the family); a --subnet outside every subnet of the
// tenant is a routed range. The gateway is returned with the pool, so
// Docker asks for no other.
func (p *Plugin) requestPool(req requestPoolRequest) (requestPoolResponse, error) {
	if req.Pool == "" && req.SubPool != "" {
		return requestPoolResponse{}, errors.New("--ip-range needs --subnet")
	}
	in, err := attach.LoadIntent(p.cfg.StateDir)
	if err != nil {
		return requestPoolResponse{}, err
	}
	var pool, sub netip.Prefix
	if req.Pool != "" {
		if pool, err = netip.ParsePrefix(req.Pool); err != nil {
			return requestPoolResponse{}, fmt.Errorf("--subnet %q: %v", req.Pool, err)
		}
		if pool.Masked() != pool {
			return requestPoolResponse{}, fmt.Errorf("--subnet %s has host bits set: write %s", pool, pool.Masked())
		}
	}
	ref := req.Options["network"]
	for k := range req.Options {
		if k != "network" {
			return requestPoolResponse{}, fmt.Errorf("unknown --ipam-opt %q: the evpnhost IPAM driver takes network=TENANT/NETWORK", k)
		}
	}
	if ref == "" {
		if !pool.IsValid() {
			return requestPoolResponse{}, errors.New("the evpnhost IPAM driver needs the network: --ipam-opt network=TENANT/NETWORK, or --subnet with the network's subnet (Docker gives the -o options to the network driver only)")
		}
		c := containing(in, pool)
		switch {
		case len(c) == 0:
			return requestPoolResponse{}, fmt.Errorf("--subnet %s is not inside a subnet of any network of the applied intent: for a routed range say which network with --ipam-opt network=TENANT/NETWORK", pool)
		case len(c) > 1:
			return requestPoolResponse{}, fmt.Errorf("--subnet %s is a subnet of %s: say which with --ipam-opt network=TENANT/NETWORK", pool, strings.Join(c, " and "))
		}
		ref = c[0]
	}
	t, n, err := findNetwork(in, ref)
	if err != nil {
		return requestPoolResponse{}, fmt.Errorf("--ipam-opt network: %w", err)
	}
	if !pool.IsValid() {
		for _, s := range n.Subnets() {
			if s.Addr().Is6() == req.V6 {
				pool = s
				break
			}
		}
		if !pool.IsValid() {
			fam := "IPv4"
			if req.V6 {
				fam = "IPv6"
			}
			return requestPoolResponse{}, fmt.Errorf("%s has no %s subnet", ref, fam)
		}
	}
	mode := attach.ModeRouted
	for _, s := range n.Subnets() {
		if s.Overlaps(pool) {
			mode = attach.ModeBridged
		}
	}
	if err := checkPool(t, n, ref, mode, pool, ""); err != nil {
		return requestPoolResponse{}, err
	}
	if req.SubPool != "" {
		if sub, err = netip.ParsePrefix(req.SubPool); err != nil {
			return requestPoolResponse{}, fmt.Errorf("--ip-range %q: %v", req.SubPool, err)
		}
		sub = sub.Masked()
		if sub.Bits() < pool.Bits() || !pool.Contains(sub.Addr()) {
			return requestPoolResponse{}, fmt.Errorf("--ip-range %s is not inside --subnet %s", sub, pool)
		}
	}
	id := poolID{Network: ref, Mode: mode, Pool: pool, Sub: sub}
	return requestPoolResponse{PoolID: id.String(), Pool: pool.String(),
		Data: map[string]string{addrGateway: id.gateway(n).String()}}, nil
}

// requestAddress hands out an address of the pool (of its --ip-range):
// the requested one (--ip) when it passes the check every run-time address
// passes (attach.CheckAddrs: a clash names the owner), else the first one
// that does and that no other Docker endpoint being created holds.
func (p *Plugin) requestAddress(req requestAddressRequest) (requestAddressResponse, error) {
	id, err := parsePoolID(req.PoolID)
	if err != nil {
		return requestAddressResponse{}, err
	}
	var want netip.Addr
	if req.Address != "" {
		if want, err = netip.ParseAddr(req.Address); err != nil {
			return requestAddressResponse{}, fmt.Errorf("address %q: %v", req.Address, err)
		}
		want = want.Unmap()
	}
	bits := id.Pool.Bits()
	if id.Mode == attach.ModeRouted {
		bits = id.Pool.Addr().BitLen()
	}
	var out netip.Prefix
	err = p.locked(func(in *api.Intent, r *records) (bool, error) {
		_, n, err := findNetwork(in, id.Network)
		if err != nil {
			return false, err
		}
		gw := id.gateway(n)
		if req.Options[optAddressType] == addrGateway {
			if want.IsValid() && want != gw.Addr() {
				return false, fmt.Errorf("--gateway %s: the gateway of %s is %s (its anycast gateway, or the routed next hop)", want, id.Network, gw.Addr())
			}
			out = gw
			return false, nil
		}
		atts, err := p.store().List()
		if err != nil {
			return false, err
		}
		tenant, _, _ := api.SplitNetworkRef(id.Network)
		check := func(ip netip.Addr) error {
			a := attach.Attachment{ID: "ipam-request", Network: id.Network, Mode: id.Mode, IPs: []string{ip.String()}}
			if err := attach.CheckAddrs(in, atts, a); err != nil {
				return err
			}
			if x, ok := r.reservedBy(tenant, ip.String()); ok {
				return fmt.Errorf("%s is reserved for a Docker endpoint being created (pool %s, since %s)", ip, x.PoolID, x.Created)
			}
			return nil
		}
		if want.IsValid() {
			if !id.Pool.Contains(want) {
				return false, fmt.Errorf("%s is outside the network's pool %s", want, id.Pool)
			}
			if err := check(want); err != nil {
				return false, err
			}
			out = netip.PrefixFrom(want, bits)
		} else {
			rng := id.Pool
			if id.Sub.IsValid() {
				rng = id.Sub
			}
			ip, tried := rng.Masked().Addr(), 0
			for ; rng.Contains(ip) && tried < 1<<16; ip, tried = ip.Next(), tried+1 {
				if edgeOf(id.Pool, ip) {
					continue // never hand out a pool's network or broadcast address, routed either
				}
				if check(ip) == nil {
					out = netip.PrefixFrom(ip, bits)
					break
				}
			}
			if !out.IsValid() {
				return false, fmt.Errorf("no free address in %s of %s", rng, id.Network)
			}
		}
		r.Reserved = append(r.Reserved, reservation{Tenant: tenant, IP: out.Addr().String(), PoolID: req.PoolID, Created: now()})
		return true, nil
	})
	if err != nil {
		return requestAddressResponse{}, err
	}
	return requestAddressResponse{Address: out.String()}, nil
}

// releaseAddress drops the reservation of an address (the endpoint's
// record, removed at DeleteEndpoint, held it since CreateEndpoint).
// Idempotent.
func (p *Plugin) releaseAddress(req releaseAddressRequest) (empty, error) {
	id, err := parsePoolID(req.PoolID)
	if err != nil {
		return empty{}, err
	}
	ip, err := netip.ParseAddr(req.Address)
	if err != nil {
		return empty{}, fmt.Errorf("address %q: %v", req.Address, err)
	}
	tenant, _, _ := api.SplitNetworkRef(id.Network)
	return empty{}, p.locked(func(in *api.Intent, r *records) (bool, error) {
		return r.unreserve(tenant, ip.Unmap().String()), nil
	})
}

// edgeOf reports whether ip is the network address or the IPv4 broadcast
// address of p (point-to-point lengths have neither).
func edgeOf(p netip.Prefix, ip netip.Addr) bool {
	if p.Bits() >= ip.BitLen()-1 {
		return false
	}
	if ip == p.Masked().Addr() {
		return true
	}
	if !ip.Is4() {
		return false
	}
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | ^uint32(0)>>p.Bits()
	return ip == netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

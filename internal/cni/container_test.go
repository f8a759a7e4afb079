package cni

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/evpnhost/evpnhost/internal/attach"
)

// TestContainerSide: routed containers get host prefixes and a default
// route per family via RoutedGW4 (onlink) and RoutedGW6, each resolved to
// the host end's MAC; bridged ones keep their prefixes and route via the
// anycast gateway of the subnet, and none where no subnet holds the
// address. Only the first address of a family gives a route.
func TestContainerSide(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	p := netip.MustParsePrefix
	addrs := []netip.Prefix{p("10.1.10.5/24"), p("10.1.10.6/24"), p("fd00:10::5/64")}
	n := attach.Network{Gateways: []netip.Prefix{p("10.1.10.1/24")}}

	w, routes := containerSide(attach.ModeRouted, addrs, n, mac)
	if got := fmt.Sprint(w.Addrs); got != "[10.1.10.5/32 10.1.10.6/32 fd00:10::5/128]" {
		t.Errorf("routed addrs %s", got)
	}
	if got := fmt.Sprintf("%+v", w.Routes); got != "[{Dst:0.0.0.0/0 Via:169.254.1.1 MAC:02:00:00:00:00:01 Onlink:true} {Dst:::/0 Via:fe80::1 MAC:02:00:00:00:00:01 Onlink:false}]" {
		t.Errorf("routed routes %s", got)
	}
	if len(routes) != 2 || routes[0].GW.String() != "169.254.1.1" || routes[1].Dst.String() != "::/0" {
		t.Errorf("routed result routes %v", routes)
	}

	w, routes = containerSide(attach.ModeBridged, addrs, n, mac)
	if got := fmt.Sprint(w.Addrs); got != "[10.1.10.5/24 10.1.10.6/24 fd00:10::5/64]" {
		t.Errorf("bridged addrs %s", got)
	}
	if got := fmt.Sprintf("%+v", w.Routes); got != "[{Dst:0.0.0.0/0 Via:10.1.10.1 MAC: Onlink:false}]" {
		t.Errorf("bridged routes %s", got)
	}
	if len(routes) != 1 || routes[0].GW.String() != "10.1.10.1" {
		t.Errorf("bridged result routes %v", routes)
	}
}

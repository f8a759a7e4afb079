package api

import (
	"net/netip"
	"testing"
)

func TestParsePort(t *testing.T) {
	for _, c := range []struct {
		in   string
		want PortRange
		err  bool
	}{
		{"tcp/443", PortRange{ProtoTCP, 443, 443}, false},
		{"udp/53", PortRange{ProtoUDP, 53, 53}, false},
		{"tcp/8000-8080", PortRange{ProtoTCP, 8000, 8080}, false},
		{"tcp", PortRange{ProtoTCP, 0, 65535}, false},
		{"udp", PortRange{ProtoUDP, 0, 65535}, false},
		{"icmp", PortRange{Proto: ProtoICMP}, false},
		{"tcp/65536", PortRange{}, true},
		{"tcp/-1", PortRange{}, true},
		{"tcp/1-", PortRange{}, true},
		{"tcp/+5", PortRange{}, true},
		{"TCP/80", PortRange{}, true},
		{"", PortRange{}, true},
	} {
		got, err := ParsePort(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
		if !c.err {
			if back, _ := ParsePort(got.String()); back != got {
				t.Errorf("%q: String %q does not parse back", c.in, got.String())
			}
		}
	}
}

func TestParseSelector(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Selector
		err  bool
	}{
		{"red/web", Selector{Tenant: "red", Network: "web"}, false},
		{"red/web/vm1", Selector{Tenant: "red", Network: "web", Workload: "vm1"}, false},
		{"0.0.0.0/0", Selector{Prefix: netip.MustParsePrefix("0.0.0.0/0")}, false},
		{"2001:db8::/32", Selector{Prefix: netip.MustParsePrefix("2001:db8::/32")}, false},
		{"192.0.2.1", Selector{Prefix: netip.MustParsePrefix("192.0.2.1/32")}, false},
		{"2001:db8::1", Selector{Prefix: netip.MustParsePrefix("2001:db8::1/128")}, false},
		{"10.0.0.1/8", Selector{}, true},
		{"red", Selector{}, true},
		{"red//web", Selector{}, true},
		{"a/b/c/d", Selector{}, true},
		{"fe80::1%eth0", Selector{}, true},
		{"red/web/docker:web.1", Selector{Tenant: "red", Network: "web", Workload: "docker:web.1"}, false},
		{"red/web/docker:", Selector{}, true},
		{"red/web/docker:-x", Selector{}, true},
	} {
		got, err := ParseSelector(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseSelector(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

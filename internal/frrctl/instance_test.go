package frrctl

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scripted answers a vtysh run with fixed output and records its arguments.
type scripted struct {
	out  string
	args []string
}

func (s *scripted) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	s.args = append([]string{name}, args...)
	return []byte(s.out), nil
}

// TestJSONAll: several show commands go to one vtysh (of the instance's
// pathspace), each printed value lands in its own target, and output that
// is not one value per command is an error that decodes nothing.
func TestJSONAll(t *testing.T) {
	run := &scripted{out: "{\"a\": 1}\n{\n \"b\": [2, 3]\n}\n"}
	i := NewInstance("h1")
	i.Run = run
	var a struct{ A int }
	var b map[string][]int
	if err := i.JSONAll(context.Background(), []string{"show a json", "show b json"}, []any{&a, &b}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(run.args, " "); got != "vtysh -N h1 -c show a json -c show b json" {
		t.Errorf("ran %q", got)
	}
	if a.A != 1 || len(b["b"]) != 2 || b["b"][1] != 3 {
		t.Errorf("decoded a=%+v b=%v", a, b)
	}
	for _, out := range []string{"{\"a\": 1}\n", "{\"a\": 1}\n% Unknown command\n", "{\"a\": 1}{}{}"} {
		run.out = out
		var a2 struct{ A int }
		var b2 map[string][]int
		if err := i.JSONAll(context.Background(), []string{"show a json", "show b json"}, []any{&a2, &b2}); err == nil {
			t.Errorf("output %q: no error", out)
		} else if a2.A != 0 || b2 != nil {
			t.Errorf("output %q: decoded although it failed: %+v %v", out, a2, b2)
		}
	}
}

// TestRestore: the saved frr.conf, definitions first, goes to each named
// daemon of the instance's pathspace alone; no saved configuration is an
// error that runs nothing.
func TestRestore(t *testing.T) {
	dir := t.TempDir()
	i := NewInstance("h1")
	i.ConfDir, i.RunDir = dir, dir
	for _, d := range []string{"bgpd", "pimd"} { // the daemons' vty sockets
		l, err := net.Listen("unix", filepath.Join(dir, d+".vty"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	var ran []string
	var loaded string
	i.Run = runnerFunc(func(_ context.Context, name string, args ...string) ([]byte, error) {
		ran = append(ran, strings.Join(append([]string{name}, args...), " "))
		b, err := os.ReadFile(args[len(args)-1])
		loaded = string(b)
		return nil, err
	})
	if err := i.Restore(context.Background(), "bgpd"); err == nil || len(ran) != 0 {
		t.Fatalf("no frr.conf: err %v, ran %q", err, ran)
	}
	conf := "frr defaults datacenter\n!\nrouter bgp 65101\n neighbor fabric route-map IN in\nexit\n!\nroute-map IN permit 10\nexit\n"
	if err := os.WriteFile(filepath.Join(dir, "frr.conf"), []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := i.Restore(ctx, "staticd"); err == nil || len(ran) != 0 {
		t.Fatalf("daemon without a vty socket: err %v, ran %q", err, ran)
	}
	if err := i.Restore(context.Background(), "bgpd", "pimd"); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 2 || !strings.HasPrefix(ran[0], "vtysh -N h1 -d bgpd -f ") || !strings.HasPrefix(ran[1], "vtysh -N h1 -d pimd -f ") {
		t.Fatalf("ran %q", ran)
	}
	if want := "frr defaults datacenter\n!\nroute-map IN permit 10\nexit\n!\nrouter bgp 65101\n neighbor fabric route-map IN in\nexit\n"; loaded != want {
		t.Errorf("loaded\n%s\nwant\n%s", loaded, want)
	}
}

type runnerFunc func(ctx context.Context, name string, args ...string) ([]byte, error)

func (f runnerFunc) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return f(ctx, name, args...)
}

// TestMgmtdClients: the backend clients of `show mgmt backend-adapter
// all` as FRR 10.3 prints them; none right after mgmtd's restart.
func TestMgmtdClients(t *testing.T) {
	out := "MGMTD Backend Adapters\n  Client: \t\t\tzebra\n    Conn-FD: \t\t\t9\n    Client-Id: \t\t\t1\n  Client: \t\t\tstaticd\n    Client-Id: \t\t\t4\n  Total: 2\n"
	if got := strings.Join(mgmtdClients(out), " "); got != "zebra staticd" {
		t.Errorf("clients %q", got)
	}
	if got := mgmtdClients("MGMTD Backend Adapters\n  Total: 0\n"); len(got) != 0 {
		t.Errorf("no client: %q", got)
	}
}

// TestRestoreMgmtdWaitsForBackends: mgmtd gets the saved configuration
// only once every running backend (zebra; staticd does not run here) is
// connected to it again; one that never comes back is an error that
// loads nothing.
func TestRestoreMgmtdWaitsForBackends(t *testing.T) {
	dir := t.TempDir()
	i := NewInstance("h1")
	i.ConfDir, i.RunDir = dir, dir
	l, err := net.Listen("unix", filepath.Join(dir, "mgmtd.vty"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for f, c := range map[string]string{"frr.conf": "frr defaults datacenter\n!\nvrf red\n vni 4001\nexit-vrf\n", "zebra.pid": strconv.Itoa(os.Getpid())} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var ran []string
	asks := 0
	connectAfter := 3 // zebra is listed from the 3rd question on
	i.Run = runnerFunc(func(_ context.Context, name string, args ...string) ([]byte, error) {
		cmd := strings.Join(args, " ")
		switch {
		case strings.HasSuffix(cmd, "show mgmt backend-adapter all"):
			asks++
			if asks >= connectAfter {
				return []byte("MGMTD Backend Adapters\n  Client: \t\t\tzebra\n  Total: 1\n"), nil
			}
			return []byte("MGMTD Backend Adapters\n  Total: 0\n"), nil
		case strings.HasSuffix(cmd, "show running-config"):
			return []byte("frr defaults datacenter\n!\nvrf red\n vni 4001\nexit-vrf\n"), nil
		}
		ran = append(ran, cmd)
		return nil, nil
	})
	if err := i.Restore(context.Background(), "mgmtd"); err != nil {
		t.Fatal(err)
	}
	if asks != connectAfter || len(ran) != 1 || !strings.HasPrefix(ran[0], "-N h1 -d mgmtd -f ") {
		t.Fatalf("asked %d times, ran %q", asks, ran)
	}
	ran, asks, connectAfter = nil, 0, 1<<30
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := i.Restore(ctx, "mgmtd"); err == nil || len(ran) != 0 {
		t.Fatalf("zebra never back: err %v, ran %q", err, ran)
	}
}

// TestLocalMACAndRouteSelected: the questions attach.Advertised asks,
// decoded from zebra's JSON as FRR 8.4 to 10.x print it
// (zebra_evpn_print_mac; vty_show_ip_route_detail_json).
func TestLocalMACAndRouteSelected(t *testing.T) {
	ctx := context.Background()
	run := &scripted{}
	i := NewInstance("h2")
	i.Run = run
	for _, c := range []struct {
		out  string
		want bool
	}{
		{`{"3a:7c:9e:59:f4:63":{"type":"local","intf":"evc1968fccf","ifindex":42,"vlan":10,"localSequence":0}}`, true},
		{`{"3a:7c:9e:59:f4:63":{"type":"remote","remoteVtep":"10.0.0.1"}}`, false},
		{`{"3a:7c:9e:59:f4:63":{"type":"auto"}}`, false},
		{`{}`, false},
		{``, false},
	} {
		run.out = c.out
		got, err := i.LocalMAC(ctx, 10, "3a:7c:9e:59:f4:63")
		if err != nil || got != c.want {
			t.Errorf("LocalMAC on %q = %v, %v; want %v", c.out, got, err, c.want)
		}
	}
	if got := strings.Join(run.args, " "); got != "vtysh -N h2 -c show evpn mac vni 10 mac 3a:7c:9e:59:f4:63 json" {
		t.Errorf("ran %q", got)
	}
	dst := netip.MustParsePrefix("10.1.99.101/32")
	for _, c := range []struct {
		out  string
		want bool
	}{
		{`{"10.1.99.101/32":[{"prefix":"10.1.99.101/32","protocol":"kernel","vrfName":"red","selected":true,"installed":true}]}`, true},
		{`{"10.1.99.101/32":[{"prefix":"10.1.99.101/32","protocol":"kernel","vrfName":"red","nexthops":[{"interfaceIndex":7,"active":false}]}]}`, false},
		{`{}`, false},
	} {
		run.out = c.out
		got, err := i.RouteSelected(ctx, "red", dst)
		if err != nil || got != c.want {
			t.Errorf("RouteSelected on %q = %v, %v; want %v", c.out, got, err, c.want)
		}
	}
	if got := strings.Join(run.args, " "); got != "vtysh -N h2 -c show ip route vrf red 10.1.99.101/32 json" {
		t.Errorf("ran %q", got)
	}
	run.out = `{}`
	if _, err := i.RouteSelected(ctx, "red", netip.MustParsePrefix("fd00:99::101/128")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(run.args, " "); got != "vtysh -N h2 -c show ipv6 route vrf red fd00:99::101/128 json" {
		t.Errorf("ran %q", got)
	}
}

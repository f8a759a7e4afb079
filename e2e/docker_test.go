package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/api"
)

// Docker scenarios: a real Docker engine (dockerd, containerd, runc) per
// lab host, in that host's network namespace, with evpnhost's Docker
// plugin (evpnhost docker-plugin) as its network and IPAM driver.
//
// Docker finds plugins at the fixed path /run/docker/plugins, so each
// host's dockerd runs in a mount namespace of its own where that
// directory is the host's plugin directory; the plugin runs in the same
// mount namespace (Docker's container namespaces are bind mounts made
// there) and the same network namespace. The data and exec roots are
// directories of the test (tmpfs in the VM). No image can be pulled: the
// test imports one made of the static busybox.
//
// Skipped when dockerd is not installed, unless EVPNHOST_REQUIRE_DOCKER=1.

type dockerd struct {
	host   string
	dir    string // data, exec, plugins, docker.sock
	cmd    *exec.Cmd
	plugin *exec.Cmd
	api    *http.Client
	exited chan struct{} // closed when dockerd exits
}

func requireDocker(t *testing.T) {
	t.Helper()
	for _, b := range []string{"dockerd", "containerd", "runc", "unshare", "nsenter"} {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("EVPNHOST_REQUIRE_DOCKER") == "1" {
				t.Fatalf("EVPNHOST_REQUIRE_DOCKER=1 but %s is not installed: %v", b, err)
			}
			t.Skipf("%s is not installed (Debian: docker.io); set EVPNHOST_REQUIRE_DOCKER=1 to fail instead", b)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatalf("/bin/busybox (busybox-static) is needed for the test image: %v", err)
	}
}

// startDocker starts dockerd and the plugin for a lab host.
func startDocker(t *testing.T, host string) *dockerd {
	t.Helper()
	// Short: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "dk-"+host+"-")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "exec", "plugins"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	d := &dockerd{host: host, dir: dir}
	sock := filepath.Join(dir, "docker.sock")
	d.api = &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	script := `set -e
mkdir -p /run/docker/plugins
mount --bind "$1/plugins" /run/docker/plugins
# dockerd before 23 writes /etc/docker/key.json; / may be read-only
if [ -d /etc/docker ]; then mount -t tmpfs -o mode=0700 tmpfs /etc/docker; fi
exec dockerd --data-root "$1/data" --exec-root "$1/exec" --pidfile "$1/docker.pid" -H "unix://$1/docker.sock" \
  --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none --userland-proxy=false \
  --storage-driver=vfs --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "evpnhost-$2" --log-level=warn`
	d.cmd = exec.Command("unshare", "--mount", "--propagation", "private", "--", "nsenter", "--net=/run/netns/"+host, "--",
		"sh", "-c", script, "sh", dir, host)
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.exited = make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() { d.stop(t) })
	start := time.Now()
	eventually(t, 3*time.Minute, host+": dockerd answers /_ping", func() error {
		select {
		case <-d.exited:
			b, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("%s: dockerd exited: %s", host, tail(string(b), 20))
		default:
		}
		_, err := d.call("GET", "/_ping", nil)
		return err
	})
	var v struct{ Version, APIVersion string }
	if b, err := d.call("GET", "/version", nil); err == nil {
		_ = json.Unmarshal(b, &v)
	}
	t.Logf("%s: dockerd %s (API %s) up in %.1fs", host, v.Version, v.APIVersion, time.Since(start).Seconds())
	d.startPlugin(t)
	return d
}

// startPlugin runs evpnhost docker-plugin in dockerd's mount namespace
// and the host's network namespace, and waits for its socket.
func (d *dockerd) startPlugin(t *testing.T) {
	t.Helper()
	mnt := "/proc/" + strconv.Itoa(d.cmd.Process.Pid) + "/ns/mnt"
	d.plugin = exec.Command("nsenter", "--mount="+mnt, "--net=/run/netns/"+d.host, "--",
		evpnhostBin(), "docker-plugin", "--frr-instance", d.host, "--docker-host", "unix://"+filepath.Join(d.dir, "docker.sock"),
		"--reconcile", "2s", "--reconcile-grace", "1s")
	log, err := os.OpenFile(filepath.Join(d.dir, "plugin.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	d.plugin.Stdout, d.plugin.Stderr = log, log
	if err := d.plugin.Start(); err != nil {
		t.Fatal(err)
	}
	p := d.plugin
	go func() { _ = p.Wait() }()
	eventually(t, time.Minute, d.host+": plugin socket", func() error {
		c, err := net.Dial("unix", filepath.Join(d.dir, "plugins", "evpnhost.sock"))
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func (d *dockerd) stopPlugin(t *testing.T) {
	t.Helper()
	if d.plugin == nil || d.plugin.Process == nil {
		return
	}
	_ = d.plugin.Process.Signal(syscall.SIGTERM)
	eventually(t, 30*time.Second, d.host+": plugin exits", func() error {
		if err := d.plugin.Process.Signal(syscall.Signal(0)); err == nil {
			return fmt.Errorf("still running")
		}
		return nil
	})
	d.plugin = nil
}

func (d *dockerd) stop(t *testing.T) {
	if t.Failed() {
		for _, f := range []string{"dockerd.log", "plugin.log"} {
			if b, err := os.ReadFile(filepath.Join(d.dir, f)); err == nil {
				t.Logf("%s %s:\n%s", d.host, f, tail(string(b), 60))
			}
		}
	} else if b, err := os.ReadFile(filepath.Join(d.dir, "plugin.log")); err == nil {
		// On FRR 10.3/10.4: FDB entries zebra dropped and the plugin
		// added again (op=fdb-readd).
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "op=fdb-readd") {
				t.Logf("%s plugin: %s", d.host, l)
			}
		}
	}
	// Containers first, while the plugin still answers.
	if b, err := d.call("GET", "/containers/json?all=1", nil); err == nil {
		var cs []struct {
			ID string `json:"Id"`
		}
		_ = json.Unmarshal(b, &cs)
		for _, c := range cs {
			_, _ = d.call("DELETE", "/containers/"+c.ID+"?force=1", nil)
		}
	}
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(time.Minute):
			_ = d.cmd.Process.Kill()
		}
	}
	if d.plugin != nil && d.plugin.Process != nil {
		_ = d.plugin.Process.Signal(syscall.SIGTERM)
	}
	_ = os.RemoveAll(d.dir)
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// call is one Docker API request; a status >= 300 is an error with
// Docker's message.
func (d *dockerd) call(method, path string, body any) ([]byte, error) {
	var r io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		r, ctype = bytes.NewReader(b), "application/x-tar"
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, "http://docker"+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := d.api.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var m struct{ Message string }
		if json.Unmarshal(out, &m) == nil && m.Message != "" {
			return out, fmt.Errorf("%s %s: %s", method, path, m.Message)
		}
		return out, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, out)
	}
	return out, nil
}

func (d *dockerd) must(t *testing.T, method, path string, body any) []byte {
	t.Helper()
	b, err := d.call(method, path, body)
	if err != nil {
		t.Fatalf("%s: %v", d.host, err)
	}
	return b
}

// importImage imports a root tree of the static busybox as
// evpnhost-busybox:test (docker import).
func (d *dockerd) importImage(t *testing.T) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"bin", "dev", "etc", "proc", "sys", "tmp"} {
		_ = tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	}
	_ = tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	_, _ = tw.Write(bb)
	for _, l := range []string{"sh", "sleep", "ping", "ip"} {
		_ = tw.WriteHeader(&tar.Header{Name: "bin/" + l, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	_ = tw.Close()
	out := d.must(t, "POST", "/images/create?fromSrc=-&repo=evpnhost-busybox&tag=test", buf.Bytes())
	if strings.Contains(string(out), `"error"`) {
		t.Fatalf("%s: import: %s", d.host, out)
	}
}

type netConfig struct {
	name, network, mode, subnet, ipRange, gateway string
}

// createNetwork is `docker network create -d evpnhost --ipam-driver
// evpnhost -o network=.. [-o mode=..] --ipam-opt network=.. --subnet ..
// --ip-range ..`.
func (d *dockerd) createNetwork(t *testing.T, c netConfig) string {
	t.Helper()
	opts := map[string]string{"network": c.network}
	if c.mode != "" {
		opts["mode"] = c.mode
	}
	ipam := map[string]any{"Driver": "evpnhost", "Options": map[string]string{"network": c.network}}
	if c.subnet != "" {
		ipam["Config"] = []map[string]string{{"Subnet": c.subnet, "IPRange": c.ipRange, "Gateway": c.gateway}}
	}
	b := d.must(t, "POST", "/networks/create", map[string]any{
		"Name": c.name, "Driver": "evpnhost", "Options": opts, "CheckDuplicate": true, "IPAM": ipam,
	})
	var r struct {
		ID string `json:"Id"`
	}
	_ = json.Unmarshal(b, &r)
	return r.ID
}

type dockerContainer struct {
	d               *dockerd
	id, name        string
	pid             int
	ip, mac, hostIf string
}

// run is `docker run -d --name NAME --network NET [--ip IP]
// evpnhost-busybox:test sleep 3600`; it returns the error of the start.
func (d *dockerd) run(t *testing.T, name, network, ip string) (*dockerContainer, error) {
	t.Helper()
	ep := map[string]any{}
	if ip != "" {
		ep["IPAMConfig"] = map[string]string{"IPv4Address": ip}
	}
	b := d.must(t, "POST", "/containers/create?name="+url.QueryEscape(name), map[string]any{
		"Image": "evpnhost-busybox:test", "Cmd": []string{"/bin/busybox", "sleep", "3600"},
		"HostConfig":       map[string]any{"NetworkMode": network},
		"NetworkingConfig": map[string]any{"EndpointsConfig": map[string]any{network: ep}},
	})
	var cr struct {
		ID string `json:"Id"`
	}
	_ = json.Unmarshal(b, &cr)
	c := &dockerContainer{d: d, id: cr.ID, name: name}
	start := time.Now()
	if _, err := d.call("POST", "/containers/"+c.id+"/start", nil); err != nil {
		_, _ = d.call("DELETE", "/containers/"+c.id+"?force=1", nil)
		return nil, err
	}
	var in struct {
		State           struct{ Pid int }
		NetworkSettings struct {
			Networks map[string]struct{ IPAddress, MacAddress, EndpointID string }
		}
	}
	_ = json.Unmarshal(d.must(t, "GET", "/containers/"+c.id+"/json", nil), &in)
	n := in.NetworkSettings.Networks[network]
	c.pid, c.ip, c.mac = in.State.Pid, n.IPAddress, n.MacAddress
	att := filepath.Join("/var/lib/evpnhost", d.host, "attachments", "docker-"+n.EndpointID+".json")
	ab, err := os.ReadFile(att)
	if err != nil {
		t.Fatalf("%s: no attachment record for %s: %v", d.host, name, err)
	}
	var rec struct{ Interface, Name string }
	_ = json.Unmarshal(ab, &rec)
	c.hostIf = rec.Interface
	if rec.Name != name {
		t.Errorf("%s: attachment of %s is named %q", d.host, name, rec.Name)
	}
	t.Logf("%s: docker run %s on %s: %s %s (host %s) in %.1fs", d.host, name, network, c.ip, c.mac, c.hostIf, time.Since(start).Seconds())
	return c, nil
}

func (d *dockerd) mustRun(t *testing.T, name, network, ip string) *dockerContainer {
	t.Helper()
	c, err := d.run(t, name, network, ip)
	if err != nil {
		t.Fatalf("%s: docker run %s: %v", d.host, name, err)
	}
	return c
}

func (c *dockerContainer) rm(t *testing.T) {
	t.Helper()
	c.d.must(t, "DELETE", "/containers/"+c.id+"?force=1", nil)
}

// ping runs the host's ping in the container's network namespace.
func (c *dockerContainer) ping(ip string) (string, bool) {
	out, err := run("nsenter", "--net=/proc/"+strconv.Itoa(c.pid)+"/ns/net", "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", ip)
	return out, err == nil && strings.Contains(out, " 0% packet loss")
}

func (c *dockerContainer) mustPing(t *testing.T, ip string) {
	t.Helper()
	eventually(t, 30*time.Second, c.name+" ping "+ip, func() error {
		if out, ok := c.ping(ip); !ok {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
}

func (c *dockerContainer) mustNotPing(t *testing.T, ip string) {
	t.Helper()
	if out, ok := c.ping(ip); ok || strings.Contains(out, "bytes from") {
		t.Fatalf("%s reached %s, must not:\n%s", c.name, ip, out)
	}
}

// gone checks that nothing of a removed container is left on its host:
// no veth, no neighbor entry or host route, no record, no MAC in FRR.
func (c *dockerContainer) gone(t *testing.T, routed bool) {
	t.Helper()
	h := c.d.host
	eventually(t, 30*time.Second, c.name+" leaves no trace on "+h, func() error {
		if out, err := run("ip", "-n", h, "link", "show", c.hostIf); err == nil {
			return fmt.Errorf("veth left: %s", out)
		}
		// Another tenant may have a container with the same address.
		if out, _ := run("ip", "-n", h, "neigh", "show", c.ip); strings.Contains(out, c.mac) {
			return fmt.Errorf("neighbor left: %s", out)
		}
		if out, _ := run("ip", "-n", h, "route", "show", "table", "all", c.ip+"/32"); strings.TrimSpace(out) != "" && routed {
			return fmt.Errorf("route left: %s", out)
		}
		if files, _ := filepath.Glob(filepath.Join("/var/lib/evpnhost", h, "attachments", "docker-*")); len(files) > 0 {
			for _, f := range files {
				// By MAC: another tenant's container may have the address.
				if b, _ := os.ReadFile(f); strings.Contains(string(b), c.mac) {
					return fmt.Errorf("record left: %s", b)
				}
			}
		}
		if out, _ := run("vtysh", "-N", h, "-c", "show evpn mac vni all"); strings.Contains(out, c.mac) {
			return fmt.Errorf("FRR still has %s:\n%s", c.mac, out)
		}
		if routed {
			if out, _ := run("vtysh", "-N", h, "-c", "show bgp vrf red ipv4 unicast"); strings.Contains(out, c.ip+"/32") {
				return fmt.Errorf("FRR still has %s/32:\n%s", c.ip, out)
			}
		}
		return nil
	})
}

// TestDocker: containers on evpnhost networks through Docker itself.
func TestDocker(t *testing.T) {
	requireDocker(t)
	t0 := time.Now()
	d1, d2 := startDocker(t, "h1"), startDocker(t, "h2")
	d1.importImage(t)
	d2.importImage(t)
	web := netConfig{name: "dk-web", network: "red/web", subnet: "10.1.10.0/24", gateway: "10.1.10.1"}
	w1, w2 := web, web
	w1.ipRange, w2.ipRange = "10.1.10.160/28", "10.1.10.176/28" // one range per host
	nid1 := d1.createNetwork(t, w1)
	d2.createNetwork(t, w2)
	t.Cleanup(func() {
		for _, h := range []string{"h1", "h2"} {
			restoreIntent(t, h)
		}
	})

	// docker network inspect: the subnet and the anycast gateway.
	var ni struct {
		IPAM struct {
			Config []struct{ Subnet, Gateway, IPRange string }
		}
	}
	_ = json.Unmarshal(d1.must(t, "GET", "/networks/dk-web", nil), &ni)
	if len(ni.IPAM.Config) != 1 || ni.IPAM.Config[0].Subnet != "10.1.10.0/24" || ni.IPAM.Config[0].Gateway != "10.1.10.1" {
		t.Fatalf("network inspect: %+v", ni.IPAM)
	}

	r1 := d1.mustRun(t, "dk-r1", "dk-web", "")
	r2 := d2.mustRun(t, "dk-r2", "dk-web", "")
	t.Run("bridged", func(t *testing.T) {
		if r1.ip != "10.1.10.160" {
			t.Errorf("first address of h1's range: %s", r1.ip)
		}
		if n := inNS(t, "h1", "ip", "neigh", "show", r1.ip, "dev", "vlan10"); !strings.Contains(n, r1.mac) || !strings.Contains(n, "PERMANENT") {
			t.Fatalf("h1 has no permanent neighbor for %s: %q", r1.ip, n)
		}
		r1.mustPing(t, r2.ip)
		r2.mustPing(t, r1.ip)
		r1.mustPing(t, "10.1.10.1")
		r1.mustPing(t, "10.1.10.12") // rweb2, the intent workload on h2
		// A full apply keeps Docker's container.
		if out, code := evpnhost("h1", "apply", "-f", intentPath("h1")); code != 0 {
			t.Fatalf("apply: %d\n%s", code, out)
		}
		if l := inNS(t, "h1", "ip", "link", "show", r1.hostIf); !strings.Contains(l, "master evpnbr") {
			t.Fatalf("apply detached %s:\n%s", r1.hostIf, l)
		}
		r1.mustPing(t, r2.ip)
		if out, _ := evpnhost("h1", "status"); !strings.Contains(out, r1.hostIf) {
			t.Fatalf("status does not list %s:\n%s", r1.hostIf, out)
		}
	})

	t.Run("static-address", func(t *testing.T) {
		if _, err := d1.run(t, "dk-clash", "dk-web", "10.1.10.11"); err == nil || !strings.Contains(err.Error(), "workload rweb1") {
			t.Fatalf("--ip of rweb1: %v", err)
		}
		if _, err := d1.run(t, "dk-clash2", "dk-web", r1.ip); err == nil || !strings.Contains(err.Error(), "attachment docker-") {
			t.Fatalf("--ip of dk-r1: %v", err)
		}
		c := d1.mustRun(t, "dk-static", "dk-web", "10.1.10.170")
		c.mustPing(t, r2.ip)
		c.rm(t)
		c.gone(t, false)
	})

	t.Run("routed", func(t *testing.T) {
		d1.createNetwork(t, netConfig{name: "dk-routed", network: "red/web", mode: "routed", subnet: "10.1.99.0/24", ipRange: "10.1.99.160/28"})
		rt := d1.mustRun(t, "dk-rt1", "dk-routed", "")
		if rt.ip != "10.1.99.160" {
			t.Errorf("routed address %s", rt.ip)
		}
		if out := inNS(t, "h1", "ip", "route", "show", "table", "4001", rt.ip+"/32"); !strings.Contains(out, "dev "+rt.hostIf) {
			t.Fatalf("h1 has no host route to %s: %q", rt.ip, out)
		}
		// The way back first: h2 must have the type-5 route of rt.ip
		// (h1's host route, redistributed into the VRF).
		took := type5Within(t, rt.ip, 60*time.Second)
		t.Logf("h2 has the type-5 route of %s %.1f s after docker run returned", rt.ip, took.Seconds())
		// Not answered within 30 s in 2 of the 3 whole trixie passes
		// (this or TestCNIRoutedToBridged's same path): on failure the
		// hosts' EVPN and neighbour state is printed.
		if _, ok := pingWithin(func() (string, bool) { return rt.ping(r2.ip) }, 30*time.Second); !ok {
			logEVPNState(t, "h1", "h2")
		}
		rt.mustPing(t, r2.ip) // through the anycast gateway of h2... and type-5 back
		r2.mustPing(t, rt.ip)
		rt.mustPing(t, "10.1.10.12")
		rt.rm(t)
		rt.gone(t, true)
		eventually(t, 30*time.Second, "h2 withdraws "+rt.ip, func() error {
			if out, _ := run("ip", "-n", "h2", "route", "show", "vrf", "red", rt.ip); strings.Contains(out, rt.ip) {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
		d1.must(t, "DELETE", "/networks/dk-routed", nil)
	})

	t.Run("blue-overlap", func(t *testing.T) {
		d1.createNetwork(t, netConfig{name: "dk-blue", network: "blue/web", subnet: "10.1.10.0/24", ipRange: "10.1.10.160/28"})
		b := d1.mustRun(t, "dk-b1", "dk-blue", r1.ip) // red's address, in blue
		b.mustPing(t, "10.1.10.11")                   // bweb1
		b.mustNotPing(t, r2.ip)
		r2.mustPing(t, r1.ip)
		if m := neighMACIn(t, r2, r1.ip); m != r1.mac {
			t.Fatalf("red reached %s at %s, not dk-r1's %s", r1.ip, m, r1.mac)
		}
		b.rm(t)
		b.gone(t, false)
		d1.must(t, "DELETE", "/networks/dk-blue", nil)
	})

	t.Run("plugin-restart", func(t *testing.T) {
		d1.stopPlugin(t)
		d1.startPlugin(t)
		r1.mustPing(t, r2.ip)
		c := d1.mustRun(t, "dk-after", "dk-web", "")
		if c.ip == r1.ip {
			t.Fatalf("after the restart the plugin gave out %s again", c.ip)
		}
		c.mustPing(t, r2.ip)
		c.rm(t)
		c.gone(t, false)
	})

	t.Run("policy-deny", func(t *testing.T) {
		p3 := d1.mustRun(t, "dk-r3", "dk-web", "")
		applyPolicy(t, "h1", "auto", &api.Policy{Default: "allow", Rules: []api.Rule{
			{From: "red/web/docker:dk-r1", To: "red/web/docker:dk-r3", Ports: []string{"icmp"}, Action: "deny"},
		}})
		r1.mustNotPing(t, p3.ip)
		p3.mustPing(t, r1.ip)
		r1.mustPing(t, r2.ip)
		restoreIntent(t, "h1")
		r1.mustPing(t, p3.ip)
		p3.rm(t)
		p3.gone(t, false)
	})

	t.Run("reconcile-after-plugin-down", func(t *testing.T) {
		c := d1.mustRun(t, "dk-orphan", "dk-web", "")
		d1.stopPlugin(t)
		// Docker removes the container without the plugin (it logs that
		// the driver is missing); the plugin's reconcile removes the rest.
		_, err := d1.call("DELETE", "/containers/"+c.id+"?force=1", nil)
		t.Logf("docker rm -f with the plugin down: %v", err)
		d1.startPlugin(t)
		c.gone(t, false)
	})

	t.Run("rm-leaves-no-trace", func(t *testing.T) {
		r1.rm(t)
		r1.gone(t, false)
		eventually(t, 30*time.Second, "h2 withdraws dk-r1's MAC", func() error {
			if out, _ := run("vtysh", "-N", "h2", "-c", "show evpn mac vni 10"); strings.Contains(out, r1.mac) {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
		d1.must(t, "DELETE", "/networks/dk-web", nil)
		b, _ := os.ReadFile("/var/lib/evpnhost/h1/docker.json")
		if strings.Contains(string(b), nid1) {
			t.Fatalf("docker.json after docker network rm: %s", b)
		}
	})
	t.Logf("TestDocker: %.1fs", time.Since(t0).Seconds())
}

// neighMACIn is the MAC a container resolved for ip.
func neighMACIn(t *testing.T, c *dockerContainer, ip string) string {
	t.Helper()
	out, _ := run("nsenter", "--net=/proc/"+strconv.Itoa(c.pid)+"/ns/net", "ip", "neigh", "show", ip)
	if f := strings.Fields(out); len(f) >= 5 && f[3] == "lladdr" {
		return f[4]
	}
	t.Fatalf("%s has no neighbor entry for %s: %q", c.name, ip, out)
	return ""
}

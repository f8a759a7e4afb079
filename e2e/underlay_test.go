package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestUnderlaySessionsAndECMP: every host has both BGP sessions
// Established and reaches every other host's VTEP over two next hops,
// one per TOR.
// sessionsUp checks that both of host's uplink sessions are Established.
func sessionsUp(host string) error {
	var sum struct {
		IPv4 struct {
			Peers map[string]struct {
				State string `json:"state"`
			} `json:"peers"`
		} `json:"ipv4Unicast"`
	}
	out, err := run("vtysh", "-N", host, "-c", "show bgp summary json")
	if err != nil {
		return err
	}
	if err := jsonDecode(out, &sum); err != nil {
		return err
	}
	for _, up := range []string{"up1", "up2"} {
		if p, ok := sum.IPv4.Peers[up]; !ok || p.State != "Established" {
			return fmt.Errorf("%s session %q", up, p.State)
		}
	}
	return nil
}

func TestUnderlaySessionsAndECMP(t *testing.T) {
	for _, h := range hosts {
		took := eventually(t, 60*time.Second, h.name+" sessions", func() error { return sessionsUp(h.name) })
		t.Logf("%s: both sessions Established after %s", h.name, took.Round(time.Millisecond))
		for _, o := range hosts {
			if o.name == h.name {
				continue
			}
			eventually(t, 30*time.Second, h.name+" ECMP to "+o.vtep, func() error {
				out := inNS(t, h.name, "ip", "route", "show", o.vtep)
				if !strings.Contains(out, "dev up1") || !strings.Contains(out, "dev up2") {
					return fmt.Errorf("route to %s is not over both uplinks:\n%s", o.vtep, out)
				}
				return nil
			})
			inNS(t, h.name, "ping", "-c", "1", "-W", "2", "-I", h.vtep, o.vtep)
		}
	}
}

// TestUnderlayApplyIsIdempotent: a second apply performs zero netlink
// writes and no FRR reload, and the host is unchanged.
func TestUnderlayApplyIsIdempotent(t *testing.T) {
	for _, h := range hosts {
		before := snapshot(t, h.name)
		out, code := evpnhost(h.name, "apply", "-f", intentPath(h.name))
		if code != 0 {
			t.Fatalf("%s: apply exit %d:\n%s", h.name, code, out)
		}
		if !strings.Contains(out, "No changes: 0 netlink writes, 0 FRR reloads.") {
			t.Fatalf("%s: second apply was not a no-op:\n%s", h.name, out)
		}
		if after := snapshot(t, h.name); stripUptimes(after) != stripUptimes(before) {
			t.Fatalf("%s: state changed by a no-op apply:\n%s", h.name, lineDiff(stripUptimes(before), stripUptimes(after)))
		}
		out, code = evpnhost(h.name, "plan", "-f", intentPath(h.name))
		if code != 0 || !strings.Contains(out, "No changes") {
			t.Fatalf("%s: plan after apply: exit %d\n%s", h.name, code, out)
		}
	}
}

// TestUnderlayForeignObjectsSurvive: objects evpnhost did not create (an
// FRR static route and route-map, an address on lo, an interface) survive
// an apply that changes evpnhost's own config.
func TestUnderlayForeignObjectsSurvive(t *testing.T) {
	const ns = "h3"
	inNS(t, ns, "ip", "addr", "add", "192.0.2.33/32", "dev", "lo")
	inNS(t, ns, "ip", "link", "add", "foreign0", "type", "veth", "peer", "name", "foreign1")
	if out, err := run("vtysh", "-N", ns, "-c", "configure terminal", "-c", "ip route 198.51.100.0/24 blackhole", "-c", "route-map USER-MAP permit 10"); err != nil {
		t.Fatalf("vtysh: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_, _ = run("ip", "netns", "exec", ns, "ip", "addr", "del", "192.0.2.33/32", "dev", "lo")
		_, _ = run("ip", "netns", "exec", ns, "ip", "link", "del", "foreign0")
		_, _ = run("vtysh", "-N", ns, "-c", "configure terminal", "-c", "no ip route 198.51.100.0/24 blackhole", "-c", "no route-map USER-MAP")
		_, _ = evpnhost(ns, "apply", "-f", intentPath(ns))
	})
	// A changed intent (BFD off) forces an FRR reload.
	src, err := os.ReadFile(intentPath(ns))
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "h3.yaml")
	if err := os.WriteFile(changed, []byte(strings.Replace(string(src), "bfd: true", "bfd: false", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := evpnhost(ns, "plan", "-f", changed)
	if code != 0 || !strings.Contains(out, "- ") || !strings.Contains(out, "bfd") {
		t.Fatalf("plan should show the BFD line going: exit %d\n%s", code, out)
	}
	out, code = evpnhost(ns, "apply", "-f", changed)
	if code != 0 || !strings.Contains(out, "1 FRR reloads") {
		t.Fatalf("apply with BFD off: exit %d\n%s", code, out)
	}
	running, _ := run("vtysh", "-N", ns, "-c", "show running-config")
	for _, want := range []string{"ip route 198.51.100.0/24 blackhole", "route-map USER-MAP permit 10"} {
		if !strings.Contains(running, want) {
			t.Errorf("foreign FRR config %q gone:\n%s", want, running)
		}
	}
	if m := regexp.MustCompile(`(?m)^ neighbor \S+ bfd$`).FindString(running); m != "" {
		t.Errorf("BFD still configured: %q", m)
	}
	if a := inNS(t, ns, "ip", "addr", "show", "dev", "lo"); !strings.Contains(a, "192.0.2.33/32") || !strings.Contains(a, "10.0.0.3/32") {
		t.Errorf("lo addresses:\n%s", a)
	}
	inNS(t, ns, "ip", "link", "show", "foreign0")
}

// TestInvalidIntentChangesNothing: every invalid intent of api/testdata
// makes validate and apply exit 2 and leaves the host as it was.
func TestInvalidIntentChangesNothing(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repo, "api", "testdata", "invalid", "*.yaml"))
	if len(files) < 20 {
		t.Fatalf("only %d invalid intents", len(files))
	}
	const ns = "h2"
	before := stripUptimes(snapshot(t, ns))
	for _, f := range files {
		if out, code := evpnhost(ns, "validate", "-f", f); code != 2 {
			t.Errorf("validate %s: exit %d\n%s", filepath.Base(f), code, out)
		}
		if out, code := evpnhost(ns, "apply", "-f", f); code != 2 {
			t.Errorf("apply %s: exit %d\n%s", filepath.Base(f), code, out)
		}
	}
	if after := stripUptimes(snapshot(t, ns)); after != before {
		t.Fatalf("an invalid intent changed the host:\n%s", lineDiff(before, after))
	}
}

// TestStatus: status shows both sessions and the VTEP, as text and JSON.
func TestStatus(t *testing.T) {
	out, code := evpnhost("h1", "status")
	if code != 0 || !strings.Contains(out, "10.0.0.1") || strings.Count(out, "Established") != 2 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	out, code = evpnhost("h1", "status", "--json")
	var st struct {
		VTEP     string `json:"vtep"`
		Sessions []struct {
			Interface, State string
		} `json:"sessions"`
	}
	if code != 0 || jsonDecode(out, &st) != nil || st.VTEP != "10.0.0.1" || len(st.Sessions) != 2 {
		t.Fatalf("status --json: exit %d\n%s", code, out)
	}
}

// timers are the bridge (port) timers `ip -d link` prints; they count
// down all the time.
var timers = regexp.MustCompile(`\b\w+_timer +[0-9.]+`)

// stripUptimes removes fields that change with time alone.
func stripUptimes(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "expires") || strings.Contains(l, "valid_lft") {
			continue
		}
		b.WriteString(timers.ReplaceAllString(l, "") + "\n")
	}
	return b.String()
}

package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/policy/policytest"
)

// redPolicy is the lab's red tenant with a micro-segmentation policy:
// default deny; red/web may reach rweb2 (10.1.10.12) on tcp/8080; ping inside red/web.
func redPolicy(extra ...api.Rule) *api.Policy {
	rules := append(extra,
		api.Rule{From: "red/web", To: "10.1.10.12/32", Ports: []string{"tcp/8080"}, Action: "allow"}, // rweb2, on h2: a workload selector names only a workload of the host's own intent
		api.Rule{From: "red/web", To: "red/web", Ports: []string{"icmp"}, Action: "allow"},
	)
	return &api.Policy{Default: "deny", Rules: rules}
}

// applyPolicy applies host's lab intent with red's policy set.
func applyPolicy(t *testing.T, host, backend string, p *api.Policy) {
	t.Helper()
	in := labIntent(t, host)
	for i := range in.Tenants {
		if in.Tenants[i].Name == "red" {
			in.Tenants[i].Policy = p
		}
	}
	b, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), host+".yaml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := evpnhost(host, "apply", "-f", f, "--policy-backend", backend); code != 0 {
		t.Fatalf("%s apply with policy (%s): exit %d\n%s", host, backend, code, out)
	}
}

// TestPolicyAcrossHosts: red's policy, enforced at the workload ports of
// h1 and h2 with each backend in turn: an allowed flow from rweb1 (h1) to
// rweb2 (h2) passes with its replies, the same pair on another port and
// the reverse direction are refused, a policy change keeps an established
// allowed TCP connection, and the counters count. blue is not affected.
func TestPolicyAcrossHosts(t *testing.T) {
	t.Cleanup(func() {
		for _, h := range []string{"h1", "h2"} {
			restoreIntent(t, h)
		}
	})
	rweb1 := &policytest.Workload{Name: "rweb1"}
	rweb2 := &policytest.Workload{Name: "rweb2"}
	listen := func(w *policytest.Workload, addr string, port int) {
		ln, err := w.Listen(addr, port)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
	}
	listen(rweb2, "10.1.10.12", 8080)
	listen(rweb2, "10.1.10.12", 9090)
	listen(rweb1, "10.1.10.11", 8080)
	connects := func(from *policytest.Workload, to string, port int) (net.Conn, error) {
		c, err := from.Dial(to, port, 2*time.Second)
		if err != nil {
			return nil, err
		}
		if err := policytest.Echo(c, 2*time.Second); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}

	for _, backend := range []string{"ebpf", "nftables"} {
		t.Run(backend, func(t *testing.T) {
			applyPolicy(t, "h1", backend, redPolicy())
			applyPolicy(t, "h2", backend, redPolicy())
			// Allowed, across hosts, with its replies.
			var est net.Conn
			eventually(t, 30*time.Second, "rweb1 -> rweb2:8080 allowed", func() error {
				c, err := connects(rweb1, "10.1.10.12", 8080)
				est = c
				return err
			})
			defer est.Close()
			mustPing(t, "rweb1", "10.1.10.12")
			// Denied: another port, and the reverse direction.
			if c, err := connects(rweb1, "10.1.10.12", 9090); err == nil {
				c.Close()
				t.Errorf("%s: rweb1 -> rweb2:9090 passed, the policy denies it", backend)
			}
			if c, err := connects(rweb2, "10.1.10.11", 8080); err == nil {
				c.Close()
				t.Errorf("%s: rweb2 -> rweb1:8080 passed, the policy denies it", backend)
			}
			// blue, same addresses, has no policy.
			mustPing(t, "bweb1", "10.1.10.12")

			// A rule inserted first changes the rule indexes; the
			// established connection keeps working, new flows follow.
			applyPolicy(t, "h2", backend, redPolicy(api.Rule{From: "red/web", To: "10.1.10.12/32", Ports: []string{"tcp/9090"}, Action: "allow"}))
			applyPolicy(t, "h1", backend, redPolicy(api.Rule{From: "red/web", To: "10.1.10.12/32", Ports: []string{"tcp/9090"}, Action: "allow"}))
			if err := policytest.Echo(est, 3*time.Second); err != nil {
				t.Errorf("%s: established allowed connection broken by the policy change: %v", backend, err)
			}
			eventually(t, 30*time.Second, "rweb1 -> rweb2:9090 allowed now", func() error {
				c, err := connects(rweb1, "10.1.10.12", 9090)
				if err == nil {
					c.Close()
				}
				return err
			})

			// Counters: h2 counted allowed flows and denied packets.
			out, code := evpnhost("h2", "status", "--json")
			if code != 0 {
				t.Fatalf("status: %s", out)
			}
			var st struct {
				Policy *struct {
					Backend  string `json:"backend"`
					Counters []struct {
						Tenant  string `json:"tenant"`
						Rule    int    `json:"rule"`
						Allowed uint64 `json:"allowed"`
						Denied  uint64 `json:"denied"`
					} `json:"counters"`
				} `json:"policy"`
			}
			if err := json.NewDecoder(strings.NewReader(out)).Decode(&st); err != nil || st.Policy == nil {
				t.Fatalf("status --json has no policy: %v\n%s", err, out)
			}
			var allowed, denied uint64
			for _, c := range st.Policy.Counters {
				allowed += c.Allowed
				denied += c.Denied
			}
			t.Logf("%s on h2: %d flows allowed, %d packets denied: %+v", st.Policy.Backend, allowed, denied, st.Policy.Counters)
			switch {
			case st.Policy.Backend != backend:
				t.Errorf("counters: backend %q, want %q", st.Policy.Backend, backend)
			case allowed == 0 || denied == 0:
				t.Errorf("counters: allowed %d, denied %d", allowed, denied)
			}
		})
	}
}

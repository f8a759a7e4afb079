package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMixedFRRVersions: the TORs run one FRR generation and the hosts
// another (lab.sh LAB_TOR_ROOT: the TORs' FRR runs chrooted from another
// system's root; e2e/privileged.sh sets it on both platforms, so one run
// has TORs on FRR 10.3 with hosts on 8.4 and the other the reverse), and
// the seed scenario still works across them: every session of both TORs
// is up in both address families, bridged and routed traffic between
// hosts, the bare-metal server on tor1's own VNI and tenant red's exit
// through tor2's L3VNI.
//
// It runs only in a lab with LAB_TOR_ROOT set, and skips otherwise unless
// E2E_REQUIRE_MIXED=1 (privileged.sh's mixed pass), which makes a lab
// whose TORs run the hosts' FRR version a failure.
func TestMixedFRRVersions(t *testing.T) {
	if os.Getenv("LAB_TOR_ROOT") == "" {
		if os.Getenv("E2E_REQUIRE_MIXED") == "1" {
			t.Fatal("E2E_REQUIRE_MIXED=1 but LAB_TOR_ROOT is not set: the TORs run the hosts' FRR")
		}
		t.Skip("the TORs run the hosts' FRR: set LAB_TOR_ROOT to another system's root (e2e/privileged.sh does it in its mixed-version pass)")
	}
	hostV := versionLine(t, mustRun(t, "vtysh", "-N", "h1", "-c", "show version"))
	for _, tor := range []string{"tor1", "tor2"} {
		torV := versionLine(t, mustLab(t, "vtysh", tor, "-c", "show version"))
		t.Logf("%s: %s; h1: %s", tor, torV, hostV)
		if frrRelease(torV) == "" || frrRelease(torV) == frrRelease(hostV) {
			t.Fatalf("%s runs %q and h1 %q: not two FRR versions", tor, torV, hostV)
		}
	}

	// Both TORs: a session to every host, Established, carrying both
	// address families.
	for _, tor := range []string{"tor1", "tor2"} {
		eventually(t, 60*time.Second, tor+" sessions to every host", func() error {
			var sum map[string]struct {
				Peers map[string]struct {
					State  string `json:"state"`
					PfxRcd int    `json:"pfxRcd"`
				} `json:"peers"`
			}
			out, err := labCmd("vtysh", tor, "-c", "show bgp summary json")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if err := json.Unmarshal([]byte(out), &sum); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			for _, af := range []string{"ipv4Unicast", "l2VpnEvpn"} {
				for _, h := range hosts {
					p, ok := sum[af].Peers[h.name]
					if !ok || p.State != "Established" || p.PfxRcd == 0 {
						return fmt.Errorf("%s %s peer %s: %+v (present %v)", tor, af, h.name, p, ok)
					}
				}
			}
			return nil
		})
	}

	mustPing(t, "rweb1", "10.1.10.12")        // red/web h1 -> h2: L2VNI relayed by the TORs
	mustPing(t, "rweb1", "-6", "fd00:10::12") // the same over IPv6
	mustPing(t, "rweb1", "10.1.20.13")        // red/web h1 -> red/app h3: routed, L3VNI
	mustPing(t, "bweb1", "10.1.10.12")        // blue, same addresses as red
	mustNotPing(t, "bweb1", "10.1.20.13")     // tenants stay apart
	mustPing(t, "rweb1", "10.1.10.100")       // bare metal on tor1's VNI 10 (tor1's FRR as VTEP)
	mustPing(t, "bm1", "10.1.10.12")
	mustPing(t, "rweb1", "192.0.2.10") // out through tor2's L3VNI 4001 (tor2's type-5 default)
	mustNotPing(t, "bweb1", "192.0.2.10")
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := run(name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

func mustLab(t *testing.T, args ...string) string {
	t.Helper()
	out, err := labCmd(args...)
	if err != nil {
		t.Fatalf("lab.sh %v: %v\n%s", args, err, out)
	}
	return out
}

func versionLine(t *testing.T, s string) string {
	t.Helper()
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "FRRouting ") {
			return l
		}
	}
	t.Fatalf("no FRRouting version line in:\n%s", s)
	return ""
}

// frrRelease: "10.3" from "FRRouting 10.3 (tor1) on Linux(...)".
func frrRelease(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

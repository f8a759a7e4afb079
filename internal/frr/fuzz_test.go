package frr_test

import (
	"crypto/sha256"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/frr"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// FuzzRender: for every valid intent (fuzz input parsed as an intent
// file; invalid ones are skipped), the rendered configuration, with and
// without the uplink sessions, is accepted by FRR's parser (vtysh --dryrun,
// skipped without vtysh) and holds nothing the intent did not ask for:
// every vrf, BGP instance, vni, network, neighbor, rd and route target
// line comes from the intent's host or tenants.
func FuzzRender(f *testing.F) {
	files, _ := filepath.Glob("../../api/testdata/valid/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := api.Parse(data)
		if err != nil || in.Validate() != nil {
			t.Skip("not a valid intent")
		}
		conf := plan.Build(in).FRR
		installed := installedFRR()
		for _, v := range []frr.Version{frr.V84, {Major: 10, Minor: 3}} {
			for _, neighbors := range []bool{true, false} {
				conf.Neighbors, conf.Version = neighbors, v
				out := frr.Render(conf)
				if again := frr.Render(conf); again != out {
					t.Fatal("render is not deterministic")
				}
				checkOnlyIntent(t, in, out, neighbors)
				checkUniqueNames(t, out)
				if v.RouterPIM() == installed.RouterPIM() { // FRR's parser here knows this generation
					checkParses(t, out)
				}
			}
		}
	})
}

// checkUniqueNames checks that the prefix-lists and route-maps of
// distinct purposes have distinct names: a route-map named by a tenant's
// "import vrf route-map" or "advertise ... route-map" line belongs to that
// tenant alone, and every prefix-list a route-map matches belongs to one
// (importer, source VRF, address family) triple, or to one tenant's
// leaked routes (ADVERTISE route-maps, which match no source VRF). Two
// imports that shared a prefix-list would leak each other's prefixes.
func checkUniqueNames(t *testing.T, out string) {
	t.Helper()
	mapOwner := map[string]string{} // route-map -> "import|tenant" or "advertise|tenant"
	listOwner := map[string]string{}
	bgpVRF, routeMap, source := "", "", ""
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if line != "" && line[0] != ' ' {
			bgpVRF, routeMap, source = "", "", ""
		}
		claim := func(owners map[string]string, name, owner string) {
			if prev, ok := owners[name]; ok && prev != owner {
				t.Fatalf("%s serves both %s and %s:\n%s", name, prev, owner, out)
			}
			owners[name] = owner
		}
		switch {
		case len(f) == 5 && f[0] == "router" && f[3] == "vrf":
			bgpVRF = f[4]
		case len(f) == 4 && f[0] == "import" && f[1] == "vrf" && f[2] == "route-map":
			claim(mapOwner, f[3], "import|"+bgpVRF)
		case len(f) == 5 && f[0] == "advertise" && f[3] == "route-map":
			claim(mapOwner, f[4], "advertise|"+bgpVRF)
		case len(f) == 4 && f[0] == "route-map":
			routeMap = f[1]
		case len(f) == 3 && f[0] == "match" && f[1] == "source-vrf":
			source = f[2]
		case len(f) == 5 && f[0] == "match" && f[2] == "address" && f[3] == "prefix-list":
			owner, ok := mapOwner[routeMap]
			if !ok {
				owner = "route-map " + routeMap // the underlay's and host routes' own
			}
			claim(listOwner, f[4], owner+"|from "+source+"|"+f[1])
		}
	}
}

// checkOnlyIntent parses the rendered text line by line.
func checkOnlyIntent(t *testing.T, in *api.Intent, out string, neighbors bool) {
	t.Helper()
	h := in.Host
	tenants := map[string]api.Tenant{}
	for _, tn := range in.Tenants {
		tenants[tn.Name] = tn
	}
	asn := strconv.FormatUint(uint64(h.ASN), 10)
	vtep := netip.PrefixFrom(h.VTEPAddr(), 32).String()
	seenVRF, seenBGP := map[string]int{}, map[string]int{}
	vrf, bgpVRF := "", "" // the vrf / router bgp vrf stanza we are in
	pim := false          // in router pim
	fail := func(line, why string) { t.Fatalf("%s: %q\nin:\n%s", why, line, out) }
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		top := line != "" && line[0] != ' '
		if top {
			vrf, bgpVRF, pim = "", "", false
		}
		switch {
		case len(f) == 0:
		case top && f[0] == "hostname":
			if len(f) != 2 || f[1] != h.Name {
				fail(line, "hostname is not the intent's")
			}
		case top && f[0] == "vrf":
			if len(f) != 2 {
				fail(line, "malformed vrf line")
			}
			if _, ok := tenants[f[1]]; !ok {
				fail(line, "vrf of no tenant")
			}
			vrf = f[1]
			seenVRF[vrf]++
		case f[0] == "vni":
			if vrf == "" || len(f) != 2 || f[1] != strconv.FormatUint(uint64(tenants[vrf].L3VNI), 10) {
				fail(line, "vni that is not its tenant's L3VNI")
			}
		case top && f[0] == "router" && len(f) >= 2 && f[1] == "bgp":
			if len(f) < 3 || f[2] != asn {
				fail(line, "BGP instance with another ASN")
			}
			switch len(f) {
			case 3:
				seenBGP[""]++
			case 5:
				if _, ok := tenants[f[4]]; f[3] != "vrf" || !ok {
					fail(line, "BGP VRF of no tenant")
				}
				bgpVRF = f[4]
				seenBGP[bgpVRF]++
			default:
				fail(line, "malformed router bgp line")
			}
		case f[0] == "network":
			if len(f) != 2 || f[1] != vtep || bgpVRF != "" {
				fail(line, "network that is not the VTEP")
			}
		case f[0] == "bgp" && len(f) == 3 && f[1] == "router-id":
			if f[2] != h.RouterIDAddr().String() {
				fail(line, "router-id that is not the host's")
			}
		case f[0] == "neighbor" && len(f) >= 3 && f[2] == "interface":
			if !neighbors || !slices.Contains(h.Uplinks, f[1]) {
				fail(line, "session to something that is not an uplink (or rendered while staged)")
			}
		case f[0] == "neighbor" && len(f) == 3 && f[2] == "bfd" && f[1] != "fabric":
			if !neighbors || !h.BFD || !slices.Contains(h.Uplinks, f[1]) {
				fail(line, "BFD on something that is not an uplink (or rendered while staged, or with host.bfd off)")
			}
		case f[0] == "neighbor" && f[1] != "fabric":
			fail(line, "neighbor outside the fabric peer-group")
		case f[0] == "rd":
			if bgpVRF == "" || len(f) != 2 || f[1] != tenants[bgpVRF].RD {
				fail(line, "rd that is not its tenant's")
			}
		case f[0] == "route-target":
			rt := tenants[bgpVRF].RouteTargets
			if bgpVRF == "" || rt == nil || len(f) != 3 ||
				!(f[1] == "import" && slices.Contains(rt.Import, f[2]) || f[1] == "export" && slices.Contains(rt.Export, f[2])) {
				fail(line, "route target that is not its tenant's")
			}
		case f[0] == "advertise" && len(f) == 3:
			if bgpVRF == "" {
				fail(line, "type-5 advertisement outside a tenant")
			}
			if !tenantHas(tenants[bgpVRF], f[1] == "ipv6") {
				fail(line, "type-5 for an address family the tenant has no subnet in")
			}
		case top && len(f) == 5 && f[0] == "ip" && f[1] == "pim" && f[2] == "rp":
			if h.Multicast == nil || f[3] != h.Multicast.RPAddr().String() {
				fail(line, "rendezvous point that is not the intent's")
			}
		case top && f[0] == "router" && len(f) >= 2 && f[1] == "pim":
			if len(f) != 2 || h.Multicast == nil {
				fail(line, "router pim of a VRF, or without multicast")
			}
			pim = true
		case !top && pim && len(f) == 3 && f[0] == "rp":
			if f[1] != h.Multicast.RPAddr().String() {
				fail(line, "rendezvous point that is not the intent's")
			}
		case top && f[0] == "interface":
			if len(f) != 2 || (f[1] != "lo" && !slices.Contains(h.Uplinks, f[1])) {
				fail(line, "interface that is neither lo nor an uplink")
			}
		case !top && len(f) == 3 && f[0] == "ip" && f[1] == "address":
			if f[2] != vtep {
				fail(line, "address that is not the VTEP")
			}
		case f[0] == "import" && len(f) == 3 && f[1] == "vrf":
			if _, ok := tenants[f[2]]; !ok || bgpVRF == "" {
				fail(line, "import of a VRF that is no tenant")
			}
		case top && (f[0] == "ip" || f[0] == "ipv6" || f[0] == "route-map"):
			if len(f) < 3 || !strings.HasPrefix(f[map[bool]int{true: 1, false: 2}[f[0] == "route-map"]], "EVPNHOST-") {
				fail(line, "prefix-list or route-map that evpnhost does not own")
			}
		}
	}
	for name := range tenants {
		if seenVRF[name] != 1 || seenBGP[name] != 1 {
			t.Fatalf("tenant %s rendered %d vrf and %d BGP stanzas, want 1 and 1:\n%s", name, seenVRF[name], seenBGP[name], out)
		}
	}
	if seenBGP[""] != 1 {
		t.Fatalf("%d default BGP instances:\n%s", seenBGP[""], out)
	}
}

func tenantHas(tn api.Tenant, v6 bool) bool {
	for _, n := range tn.Networks {
		for _, s := range n.Subnets() {
			if s.Addr().Is6() == v6 {
				return true
			}
		}
	}
	return false
}

// installedFRR is the FRR installed here (its zebra's --version), or
// the zero Version (rendered like 8.4).
var installedFRR = sync.OnceValue(func() frr.Version {
	out, err := exec.Command("/usr/lib/frr/zebra", "--version").Output()
	if err != nil {
		return frr.Version{}
	}
	v, _ := frr.ParseVersion(strings.SplitN(string(out), "\n", 2)[0])
	return v
})

var (
	parsedMu sync.Mutex
	parsed   = map[[32]byte]bool{} // configurations FRR already accepted
)

// checkParses has FRR's parser check a configuration once per distinct text.
func checkParses(t *testing.T, conf string) {
	t.Helper()
	vtysh, err := exec.LookPath("vtysh")
	if err != nil {
		return // checkWithFRR in config_test.go enforces EVPNHOST_REQUIRE_FRR
	}
	sum := sha256.Sum256([]byte(conf))
	parsedMu.Lock()
	done := parsed[sum]
	parsedMu.Unlock()
	if done {
		return
	}
	path := filepath.Join(t.TempDir(), "frr.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(vtysh, "--dryrun", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("FRR rejects the rendered configuration: %v\n%s\n%s", err, out, conf)
	}
	parsedMu.Lock()
	parsed[sum] = true
	parsedMu.Unlock()
}

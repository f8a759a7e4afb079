package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/evpnhost/evpnhost"

// pure are the packages of the intent → plan → diff core and the renderers.
var pure = []string{
	module + "/api",
	module + "/internal/plan",
	module + "/internal/kernel",
	module + "/internal/frr",
	module + "/internal/policy",
}

// forbidden are the side effects the pure core must not reach, even
// transitively.
var forbidden = []string{
	"github.com/vishvananda/netlink",
	"github.com/vishvananda/netns",
	"github.com/google/nftables",
	"github.com/cilium/ebpf",
	"os/exec",
	"go.etcd.io/etcd",
}

// kernelOwners may import netlink or nftables directly. The reasons are
// written in internal/linux's package doc.
var kernelOwners = map[string]bool{
	module + "/internal/linux":       true, // the adapter
	module + "/internal/policy/ebpf": true, // loads tc programs and their maps: cilium/ebpf needs the netlink handles it attaches to
	module + "/internal/policy/nft":  true, // the nftables policy backend owns its own table, inet evpnhost-policy
	module + "/cmd/evpnhost-bench":   true, // measures raw netlink and tc against the adapter
}

var kernelLibs = []string{"github.com/vishvananda/netlink", "github.com/google/nftables"}

func goList(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Env = append(cmd.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func hasPrefixPath(pkg, lib string) bool {
	return pkg == lib || strings.HasPrefix(pkg, lib+"/")
}

// TestPureCoreDeps fails if a pure package reaches a forbidden package,
// on linux (where the adapters build) and on darwin (where they do not).
func TestPureCoreDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool in PATH")
	}
	for _, goos := range []string{"linux", "darwin"} {
		for _, p := range pure {
			deps := goList(t, []string{"GOOS=" + goos, "CGO_ENABLED=0"}, "-deps", "-f", "{{.ImportPath}}", p)
			for _, d := range deps {
				for _, f := range forbidden {
					if hasPrefixPath(d, f) {
						t.Errorf("GOOS=%s: pure package %s reaches %s (go list -deps %s)", goos, p, d, p)
					}
				}
			}
		}
	}
}

// TestKernelOwners fails if a package outside the adapter and its
// allow-list imports netlink or nftables directly.
func TestKernelOwners(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool in PATH")
	}
	lines := goList(t, nil, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...")
	var bad []string
	for _, l := range lines {
		f := strings.Fields(l)
		if kernelOwners[f[0]] {
			continue
		}
		for _, imp := range f[1:] {
			for _, lib := range kernelLibs {
				if hasPrefixPath(imp, lib) {
					bad = append(bad, f[0]+" imports "+imp)
				}
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s: only internal/linux (and the allow-list in its doc.go) may talk netlink or nftables", b)
	}
}

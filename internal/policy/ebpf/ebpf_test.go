package ebpf_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/internal/policy"
	"github.com/evpnhost/evpnhost/internal/policy/ebpf"
	"github.com/evpnhost/evpnhost/internal/policy/policytest"
)

// bpffs mounts a private bpffs on a temporary directory.
func bpffs(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "bpffs")
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", p, "bpf", 0, ""); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(p, unix.MNT_DETACH) })
	return p
}

// TestPrivilegedEBPFPolicy runs the policy scenario with real traffic
// between namespaces through the tc programs.
func TestPrivilegedEBPFPolicy(t *testing.T) {
	policytest.Scenario(t, func(t *testing.T, netnsFD int, dir string) policy.Backend {
		b, err := ebpf.Open(filepath.Join(bpffs(t, dir), "evpnhost"), filepath.Join(dir, "policy-ebpf.json"), netnsFD)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

package linux

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// InNetns runs f on a locked OS thread inside a fresh network namespace,
// and skips the test when not root. It is defined in a _test file of
// package linux, so both the internal tests and package linux_test use
// it, and it is not part of the package's API.
func InNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = netns.Set(orig)
		ns.Close()
	}()
	f()
}

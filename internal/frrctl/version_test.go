package frrctl

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/frr"
)

// TestVersionDetected: the version comes from zebra's `show version`
// (through vtysh, in the instance's pathspace); when that fails, from the
// zebra binary's --version; neither is an error saying both causes. It is
// detected again only when zebra's pid changes.
func TestVersionDetected(t *testing.T) {
	dir := t.TempDir()
	writePid := func(pid int) {
		if err := os.WriteFile(filepath.Join(dir, "zebra.pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writePid(os.Getpid())
	var ran []string
	show := "FRRouting 10.3 (h1) on Linux(6.12.0-1-amd64).\nCopyright 1996-2005 Kunihiro Ishiguro, et al.\n"
	var vtyshErr, binErr error
	i := NewInstance("h1")
	i.RunDir, i.DaemonDir = dir, "/opt/frr"
	i.Run = runnerFunc(func(_ context.Context, name string, args ...string) ([]byte, error) {
		ran = append(ran, strings.Join(append([]string{name}, args...), " "))
		if name == "vtysh" {
			return []byte(show), vtyshErr
		}
		return []byte("zebra version 8.4.4\nCopyright 1996-2005 Kunihiro Ishiguro, et al.\n"), binErr
	})
	ctx := context.Background()
	v, err := i.Version(ctx)
	if err != nil || v != (frr.Version{Major: 10, Minor: 3}) {
		t.Fatalf("Version = %v, %v", v, err)
	}
	if want := "vtysh -N h1 -d zebra -c show version"; len(ran) != 1 || ran[0] != want {
		t.Fatalf("ran %q, want %q", ran, want)
	}
	if v, _ := i.Version(ctx); v.Major != 10 || len(ran) != 1 {
		t.Fatalf("same zebra: detected again (%q)", ran)
	}
	writePid(os.Getppid()) // zebra restarted: perhaps another FRR
	vtyshErr = errors.New("exit status 1: Exiting: failed to connect to any daemons.")
	v, err = i.Version(ctx)
	if err != nil || v != frr.V84 || len(ran) != 3 || ran[2] != "/opt/frr/zebra --version" {
		t.Fatalf("fallback: %v, %v, ran %q", v, err, ran)
	}
	binErr = errors.New("no such file")
	writePid(os.Getpid())
	if _, err := i.Version(ctx); err == nil || !strings.Contains(err.Error(), "failed to connect") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("neither: %v", err)
	}
	vtyshErr, binErr, show = nil, nil, "% Unknown command\n"
	writePid(os.Getppid())
	if v, err := i.Version(ctx); err != nil || v != frr.V84 {
		t.Fatalf("no FRRouting line: want the binary's version, got %v, %v", v, err)
	}
}

// TestVersionRealFRR: the FRR installed here, detected through its zebra
// binary (no daemon runs in a pathspace of that name), is the version of
// its Debian package (8.4.4 on Debian 12, 10.3 on Debian 13). As root with
// `ip netns`, a zebra started in a pathspace of its own answers too.
func TestVersionRealFRR(t *testing.T) {
	if _, err := os.Stat("/usr/lib/frr/zebra"); err != nil {
		skipOrRequire(t, "FRR not installed (no /usr/lib/frr/zebra)")
	}
	pkg, err := frrPackageVersion()
	if err != nil {
		skipOrRequire(t, "zebra is installed but not from Debian's frr package: %v", err)
	}
	// "8.4.4-1.1~deb12u1", "10.3-3+deb13u1": the upstream part.
	want, err := frr.ParseVersion(strings.SplitN(pkg, "-", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	i := NewInstance("evpnhost-no-such-pathspace")
	i.RunDir = t.TempDir()
	got, err := i.Version(context.Background())
	if err != nil || got != want {
		t.Fatalf("Version = %v, %v; the frr package is %s", got, err, pkg)
	}
	t.Logf("FRR %s (package %s), from the zebra binary", got, pkg)
	z := startZebra(t)
	if z == nil {
		return
	}
	got, err = z.Version(context.Background())
	if err != nil || got != want {
		t.Fatalf("running zebra: Version = %v, %v; want %v", got, err, want)
	}
	t.Logf("FRR %s from the running zebra's show version", got)
}

// startZebra starts zebra alone (startFRR).
func startZebra(t *testing.T) *Instance {
	t.Helper()
	return startFRR(t, "zebra")
}

// TestMgmtdMissing: a missing mgmtd is one line naming the version, the
// instance and the pid file looked at, with how to start it: in the
// instance's network namespace, or by restarting the system FRR (whose
// init script always starts mgmtd).
func TestMgmtdMissing(t *testing.T) {
	for _, name := range []string{"h1", ""} {
		i := NewInstance(name)
		i.RunDir = t.TempDir()
		i.ver = frr.Version{Major: 10, Minor: 3}
		if err := os.WriteFile(filepath.Join(i.RunDir, "zebra.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			t.Fatal(err)
		}
		err := i.CheckDaemons("mgmtd", "zebra")
		if !errors.Is(err, ErrDaemonMissing) {
			t.Fatalf("%q: %v", name, err)
		}
		inst, fix := "instance h1", "/usr/lib/frr/mgmtd -d -N h1"
		if name == "" {
			inst, fix = "the system FRR", "systemctl restart frr"
		}
		msg := err.Error()
		for _, w := range []string{"FRR 10.3 needs mgmtd for " + inst + ": not running", filepath.Join(i.RunDir, "mgmtd.pid"), fix, "drops vrf/vni and ip route lines"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%q: error lacks %q: %s", name, w, msg)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%q: not one line: %s", name, msg)
		}
	}
}

// frrPackageVersion is the Debian version of the installed frr package
// ("10.3-3+deb13u1"): from dpkg, or, where the dpkg database is not there
// (the lab VM's root), from the package's changelog, whose first line is
// "frr (10.3-3+deb13u1) trixie-security; urgency=high".
func frrPackageVersion() (string, error) {
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "frr").Output(); err == nil && len(out) > 0 {
		return string(out), nil
	}
	f, err := os.Open("/usr/share/doc/frr/changelog.Debian.gz")
	if err != nil {
		return "", fmt.Errorf("dpkg-query knows no frr, and %w", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.Name(), err)
	}
	line, _ := bufio.NewReader(z).ReadString('\n')
	if !strings.HasPrefix(line, "frr (") || !strings.Contains(line, ")") {
		return "", fmt.Errorf("%s: first line %q is not \"frr (VERSION) ...\"", f.Name(), line)
	}
	return line[len("frr ("):strings.Index(line, ")")], nil
}

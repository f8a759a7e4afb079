package frrctl

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startFRR starts the named FRR daemons of the FRR installed here in a
// pathspace of their own, inside a network namespace of their own (the
// way the lab runs each host's FRR), and stops them at the end of the
// test. It returns nil (after t.Skip) when that cannot be done: not root,
// no `ip`, FRR not installed; EVPNHOST_REQUIRE_FRR turns that into a
// failure.
func startFRR(t *testing.T, daemons ...string) *Instance {
	t.Helper()
	skip := func(why string) *Instance {
		if os.Getenv("EVPNHOST_REQUIRE_FRR") != "" {
			t.Fatalf("cannot start FRR (%s) and EVPNHOST_REQUIRE_FRR is set", why)
		}
		t.Skip(why)
		return nil
	}
	if os.Geteuid() != 0 {
		return skip("not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return skip("no ip command")
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return skip("no frr user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	name := fmt.Sprintf("evh%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return skip(fmt.Sprintf("ip netns add: %v: %s", err, out))
	}
	i := NewInstance(name)
	t.Cleanup(func() {
		for _, d := range daemons {
			if b, err := os.ReadFile(filepath.Join(i.RunDir, d+".pid")); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					_ = syscall.Kill(pid, syscall.SIGTERM)
					waitGone(pid, 10*time.Second)
				}
			}
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
		_ = os.RemoveAll(i.RunDir)
		_ = os.RemoveAll(i.ConfDir)
	})
	for _, d := range []string{i.RunDir, i.ConfDir, "/var/tmp/frr"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	// vtysh's own configuration: a hostname, so that vtysh -m works
	// wherever the machine's is unset.
	if err := os.WriteFile(filepath.Join(i.ConfDir, "vtysh.conf"), []byte("hostname "+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range daemons {
		if err := startDaemon(i, d); err != nil {
			t.Fatal(err)
		}
	}
	return i
}

// startDaemon starts one daemon of i's pathspace in i's network namespace
// and waits for its vty socket.
func startDaemon(i *Instance, d string) error {
	args := []string{"netns", "exec", i.Name, filepath.Join(i.daemonDir(), d), "-d", "-N", i.Name}
	if d != "mgmtd" && d != "staticd" {
		args = append(args, "-F", "datacenter")
	}
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("start %s: %v: %s", d, err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return waitSocket(ctx, filepath.Join(i.RunDir, d+".vty"), 60*time.Second)
}

// stopDaemon stops one daemon of i and waits until it is gone.
func stopDaemon(i *Instance, d string) error {
	b, err := os.ReadFile(filepath.Join(i.RunDir, d+".pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	if !waitGone(pid, 30*time.Second) {
		return fmt.Errorf("%s (pid %d) still runs", d, pid)
	}
	return nil
}

func waitGone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

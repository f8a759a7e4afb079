// Package e2e runs scenarios against the lab fabric (lab/lab.sh): two TORs
// with hand-written FRR configs and three hosts configured by evpnhost.
// The lab is built once in TestMain and shared by every scenario.
//
// The tests run only with EVPNHOST_E2E=1 (e2e/privileged.sh sets it, inside
// the VM when the kernel lacks VRF/802.1Q) because they build namespaces
// and start FRR daemons.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var repo string

func TestMain(m *testing.M) {
	if os.Getenv("EVPNHOST_E2E") == "" {
		fmt.Println("e2e: skipped (set EVPNHOST_E2E=1, or run `make test-priv`)")
		os.Exit(0)
	}
	wd, _ := os.Getwd()
	repo = filepath.Dir(wd)
	start := time.Now()
	if out, err := labCmd("up"); err != nil {
		fmt.Fprintf(os.Stderr, "lab up failed: %v\n%s\n", err, out)
		_, _ = labCmd("down")
		os.Exit(1)
	}
	fmt.Printf("e2e: lab up in %.1fs\n", time.Since(start).Seconds())
	code := m.Run()
	if os.Getenv("E2E_KEEP") == "" {
		_, _ = labCmd("down")
	}
	os.Exit(code)
}

func labCmd(args ...string) (string, error) {
	// Bounded: a lab command that hangs (an FRR daemon that stopped
	// answering) fails its test instead of the whole run.
	// WaitDelay: killing lab.sh leaves its children (the command that
	// hung, a daemon it started) holding the output pipe, and Run would
	// wait for them forever (seen 2026-12-07: host-up h3 past its bound
	// until the VM's own timeout).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "lab", "lab.sh"), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "EVPNHOST="+evpnhostBin())
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if os.Getenv("E2E_VERBOSE") != "" {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	// A lab command that takes minutes shows what the VM is busy with.
	stop := stallWatch(3*time.Minute, 2*time.Minute)
	err := cmd.Run()
	stop()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("lab.sh %s: no end within 10 min, killed: %w", strings.Join(args, " "), err)
	}
	return b.String(), err
}

func evpnhostBin() string { return filepath.Join(repo, "bin", "evpnhost") }

// run runs a command and returns its combined output and error.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// A child left holding the output pipe must not block past the bound.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// inNS runs a command in a lab namespace and fails the test on error.
func inNS(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := run("ip", append([]string{"netns", "exec", ns}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v: %v\n%s", ns, args, err, out)
	}
	return out
}

// evpnhost runs the binary inside a host's namespace against its FRR
// instance and returns output and exit code.
func evpnhost(ns string, args ...string) (string, int) {
	full := append([]string{"netns", "exec", ns, evpnhostBin()}, args...)
	full = append(full, "--frr-instance", ns)
	out, err := run("ip", full...)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return out, code
}

func vtyshJSON(t *testing.T, ns, cmd string, v any) {
	t.Helper()
	out, err := run("vtysh", "-N", ns, "-c", cmd)
	if err != nil {
		t.Fatalf("vtysh -N %s -c %q: %v\n%s", ns, cmd, err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("vtysh -N %s -c %q: %v\n%s", ns, cmd, err, out)
	}
}

// eventually polls f until it returns nil or the deadline passes, and
// returns how long it took.
func eventually(t *testing.T, within time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < within {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, within, err)
	return 0
}

var hosts = []struct {
	name string
	vtep string
}{{"h1", "10.0.0.1"}, {"h2", "10.0.0.2"}, {"h3", "10.0.0.3"}}

func intentPath(host string) string { return filepath.Join(repo, "lab", "intents", host+".yaml") }

// snapshot captures what an apply could change on a host: links with
// details, addresses, routes of all tables, and FRR's running config.
func snapshot(t *testing.T, ns string) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"-d", "link", "show"}, {"addr", "show"}, {"route", "show", "table", "all"}} {
		for _, l := range strings.Split(inNS(t, ns, append([]string{"ip"}, args...)...), "\n") {
			// Routes learnt from other hosts come and go with them (BGP
			// routes and their multipath next hops), and so do pimd's
			// multicast routes (S,G) of the multicast network.
			tl := strings.TrimSpace(l)
			if !strings.Contains(l, "proto bgp") && !strings.HasPrefix(tl, "nexthop ") && !strings.HasPrefix(tl, "multicast ") {
				b.WriteString(l + "\n")
			}
		}
	}
	out, err := run("vtysh", "-N", ns, "-c", "show running-config")
	if err != nil {
		t.Fatalf("running config: %v", err)
	}
	b.WriteString(out)
	return b.String()
}

func jsonDecode(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// lineDiff lists the lines only in a and only in b, for failure messages.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

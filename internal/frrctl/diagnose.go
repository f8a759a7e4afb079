package frrctl

import (
	"context"
	"fmt"
	"strings"
)

// summarize turns a Python traceback (frr-reload.py's way of failing) into
// its last line, the exception, so that an error is one line a user can
// read; any other output is kept as its last lines.
func summarize(msg string) string {
	if !strings.Contains(msg, "Traceback (most recent call last):") {
		return lastLines(msg, 15)
	}
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for j := len(lines) - 1; j >= 0; j-- {
		if l := strings.TrimSpace(lines[j]); l != "" {
			return l
		}
	}
	return msg
}

// validHostname reports whether FRR's own parser accepts `hostname NAME`
// (lib/command.c: the name must start with a letter or a digit).
func validHostname(name string) bool {
	if name == "" {
		return false
	}
	c := name[0]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// runningHostname is the first hostname line of a running configuration:
// the daemons' own (vtysh adds its own after it).
func runningHostname(conf string) (string, bool) {
	for _, l := range strings.Split(conf, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(l), "hostname "); ok {
			return strings.TrimSpace(name), true
		}
	}
	return "", false
}

// Diagnose explains a failed frr-reload.py run by a cause evpnhost knows
// about, in one line, or returns nil. Today: FRR's daemons run with a
// hostname their own parser refuses, such as "(none)" on a machine whose
// hostname was not set when FRR started. They took it from uname then; the
// running configuration carries it; frr-reload.py feeds that back to vtysh,
// which fails with a traceback. evpnhost cannot repair it: vtysh keeps a
// `hostname` command to itself (vtysh.conf's hostname does not reach the
// daemons either), so only a restart of FRR with a valid hostname does.
func (i *Instance) Diagnose(ctx context.Context) error {
	running, err := i.RunningConfig(ctx)
	if err != nil {
		return nil
	}
	name, ok := runningHostname(running)
	if !ok || validHostname(name) {
		return nil
	}
	restart := "systemctl restart frr"
	if i.Name != "" {
		restart = "restart FRR's pathspace " + i.Name
	}
	return fmt.Errorf("FRR's daemons run with hostname %q, which FRR's own parser refuses, so frr-reload.py cannot read their configuration (the machine's hostname was not set when FRR started): set one (hostnamectl set-hostname NAME), then %s", name, restart)
}

package frrctl

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evpnhost/evpnhost/internal/frr"
)

// Version detects the instance's FRR release: zebra's `show version`
// through vtysh (the FRR that runs), else, when zebra does not run, the
// installed zebra binary's --version (what will run). It is detected
// again only when zebra's pid changes (a restart may be an upgrade), so a
// reconcile costs no vtysh run for it.
func (i *Instance) Version(ctx context.Context) (frr.Version, error) {
	key := i.PIDs("zebra")
	i.verMu.Lock()
	defer i.verMu.Unlock()
	if i.ver.Known() && key == i.verKey && key != "zebra=-" {
		return i.ver, nil
	}
	v, err := i.detectVersion(ctx)
	if err != nil {
		return frr.Version{}, err
	}
	i.ver, i.verKey = v, key
	return v, nil
}

func (i *Instance) detectVersion(ctx context.Context) (frr.Version, error) {
	out, verr := i.Run.Run(ctx, i.Vtysh, i.vtyshArgs("-d", "zebra", "-c", "show version")...)
	if verr == nil {
		// "FRRouting 10.3 (h1) on Linux(6.12.0-1-amd64)."
		for _, l := range strings.Split(string(out), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "FRRouting "); ok {
				return frr.ParseVersion(rest)
			}
		}
		verr = fmt.Errorf("no \"FRRouting VERSION\" line in vtysh's show version: %q", firstLine(string(out)))
	}
	zebra := filepath.Join(i.daemonDir(), "zebra")
	out, err := i.Run.Run(ctx, zebra, "--version")
	if err != nil {
		return frr.Version{}, fmt.Errorf("cannot tell FRR's version: %v; %v", verr, err)
	}
	// "zebra version 8.4.4"
	v, err := frr.ParseVersion(firstLine(string(out)))
	if err != nil {
		return frr.Version{}, fmt.Errorf("cannot tell FRR's version from %s --version: %w", zebra, err)
	}
	return v, nil
}

func (i *Instance) daemonDir() string {
	if i.DaemonDir != "" {
		return i.DaemonDir
	}
	return "/usr/lib/frr"
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

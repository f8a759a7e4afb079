// Package agent keeps a host at its intent: it re-applies when the intent
// changes, when the kernel reports a link or address change (a deleted
// device or address shows up in the next diff), and periodically (which
// also catches FRR drift), and it keeps learnt neighbors fresh
// so silent workloads keep their EVPN routes. Stopping the agent never
// tears anything down: the dataplane stays as last applied.
package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/reconcile"
)

// Applier converges the host (reconcile.Reconciler).
type Applier interface {
	Apply(ctx context.Context, in *api.Intent) (reconcile.Result, error)
}

// Refresher keeps learnt neighbors fresh (kernel.Netlink).
type Refresher interface {
	RefreshNeighbors() (int, error)
}

// Agent is the long-running loop.
type Agent struct {
	IntentFile   string
	Applier      Applier
	Refresher    Refresher
	Resync       time.Duration // full reconcile period
	NeighRefresh time.Duration // neighbor refresh period; 0 disables
	Watch        time.Duration // intent file poll period
	// Events signals kernel changes (kernel.Subscribe); each starts a
	// reconcile after Debounce, so a burst costs one. May be nil.
	Events   <-chan struct{}
	Debounce time.Duration
	Log      *slog.Logger
}

// Run loops until ctx ends. It returns nil on a clean stop.
func (a *Agent) Run(ctx context.Context) error {
	log := a.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var lastSum [32]byte
	var lastGood *api.Intent
	reconcileNow := func(reason string) {
		in, sum, err := a.load()
		switch {
		case err != nil && lastGood == nil:
			log.Error("intent unusable, nothing applied yet", "op", "load", "cause", err)
			return
		case err != nil:
			log.Error("intent unusable, keeping the last good one", "op", "load", "cause", err)
			in = lastGood
		default:
			lastSum = sum
		}
		start := time.Now()
		res, err := a.Applier.Apply(ctx, in)
		if err != nil {
			var missing *reconcile.MissingError
			if !errors.As(err, &missing) {
				log.Error("apply failed", "op", "apply", "reason", reason, "cause", err)
				return
			}
			log.Warn("applied, some workloads missing", "op", "apply", "cause", err)
		}
		lastGood = in
		if res.Changed() {
			log.Info("applied", "op", "apply", "reason", reason, "kernel_ops", res.Kernel.Len(), "frr_reloads", res.FRRReloads, "took", time.Since(start))
		}
	}
	reconcileNow("start")

	resync := time.NewTicker(orDefault(a.Resync, 30*time.Second))
	defer resync.Stop()
	watch := time.NewTicker(orDefault(a.Watch, time.Second))
	defer watch.Stop()
	var refresh <-chan time.Time
	if a.NeighRefresh > 0 && a.Refresher != nil {
		t := time.NewTicker(a.NeighRefresh)
		defer t.Stop()
		refresh = t.C
	}
	events := a.Events
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping; the dataplane stays as applied", "op", "stop")
			return nil
		case _, ok := <-events:
			if !ok {
				log.Warn("kernel events unavailable; relying on the periodic resync", "op", "events")
				events = nil
				continue
			}
			if debounce == nil {
				debounce = time.After(orDefault(a.Debounce, 300*time.Millisecond))
			}
		case <-debounce:
			debounce = nil
			reconcileNow("kernel event")
		case <-resync.C:
			reconcileNow("resync")
		case <-watch.C:
			if _, sum, err := a.load(); err == nil && sum != lastSum {
				reconcileNow("intent changed")
			}
		case <-refresh:
			if n, err := a.Refresher.RefreshNeighbors(); err != nil {
				log.Warn("neighbor refresh failed", "op", "refresh", "cause", err)
			} else if n > 0 {
				log.Debug("neighbors refreshed", "op", "refresh", "count", n)
			}
		}
	}
}

func (a *Agent) load() (*api.Intent, [32]byte, error) {
	b, err := os.ReadFile(a.IntentFile)
	if err != nil {
		return nil, [32]byte{}, err
	}
	sum := sha256.Sum256(b)
	in, err := api.Parse(bytes.Clone(b))
	if err != nil {
		return nil, sum, err
	}
	if err := in.Validate(); err != nil {
		return nil, sum, err
	}
	return in, sum, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

package dockerplugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// DefaultSocket is where Docker discovers the plugin "evpnhost".
const DefaultSocket = "/run/docker/plugins/evpnhost.sock"

// Listen opens the plugin's unix socket at path (its directory created,
// a stale socket file replaced; any other file there is an error).
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another plugin answers there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	_ = os.Chmod(path, 0o600)
	return l, nil
}

// Serve answers Docker on l until ctx ends, reconciling against Docker at
// start and every period (0: never).
func (p *Plugin) Serve(ctx context.Context, l net.Listener, period time.Duration) error {
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	if period > 0 {
		go func() {
			t := time.NewTicker(period)
			defer t.Stop()
			for {
				rctx, cancel := context.WithTimeout(ctx, period)
				if err := p.Reconcile(rctx); err != nil {
					p.cfg.Log.Warn("reconcile against Docker", "err", err)
				}
				cancel()
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/internal/status"
)

// TestConcurrentScrapesReadFRROnce: every reading of FRR forks vtysh;
// concurrent scrapes must share one reading, not fork one set each.
func TestConcurrentScrapesReadFRROnce(t *testing.T) {
	var calls, running, most atomic.Int32
	m := New(func(context.Context) (status.Status, error) {
		calls.Add(1)
		n := running.Add(1)
		defer running.Add(-1)
		for { // remember the most readings at once
			old := most.Load()
			if n <= old || most.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond) // vtysh is slow
		return status.Status{Sessions: []status.Session{{Interface: "up1", State: "Established"}}}, nil
	}, nil)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("16 concurrent scrapes read FRR %d times (at most %d at once), want once", n, most.Load())
	}
}

// TestStatusCacheTTL: a reading (or its error) serves scrapes for the TTL,
// then the next scrape reads again.
func TestStatusCacheTTL(t *testing.T) {
	var calls int
	fail := errors.New("vtysh: no bgpd")
	c := newStatusCache(func(context.Context) (status.Status, error) {
		calls++
		if calls == 2 {
			return status.Status{}, fail
		}
		return status.Status{}, nil
	}, 5*time.Second)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	step := func(d time.Duration, wantCalls int, wantErr error) {
		t.Helper()
		now = now.Add(d)
		_, err := c.get(ctx)
		if calls != wantCalls || !errors.Is(err, wantErr) && err != wantErr {
			t.Errorf("after %s: %d readings, %v; want %d, %v", d, calls, err, wantCalls, wantErr)
		}
	}
	step(0, 1, nil)
	step(4*time.Second, 1, nil)
	step(time.Second, 2, fail) // 5 s after the reading: read again
	step(time.Second, 2, fail) // the error is cached too
	step(5*time.Second, 3, nil)
	if StatusCacheTTL > 5*time.Second {
		t.Errorf("StatusCacheTTL %s is longer than the usual scrape interval", StatusCacheTTL)
	}
}

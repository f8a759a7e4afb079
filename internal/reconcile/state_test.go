package reconcile

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// TestCorruptOwnedRecord: an owned.json that does not parse is not "owns
// nothing" (that would let an apply forget, and never remove, the tenants
// it created): plan and apply fail naming the file and how to recover,
// and change nothing, the file included.
func TestCorruptOwnedRecord(t *testing.T) {
	in := parse(t, intent)
	dir := t.TempDir()
	p := filepath.Join(dir, "owned.json")
	const garbage = `{"tenants":["red"`
	if err := os.WriteFile(p, []byte(garbage), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newSim(taps()...)
	r := h.reconciler(t, &bytes.Buffer{})
	r.StateDir = dir
	if _, err := r.Plan(context.Background(), in); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("plan: err %v, want one naming %s", err, p)
	}
	_, err := r.Apply(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("apply: err %v, want one naming %s as corrupt", err, p)
	}
	if ev := h.Events(); ev != "" {
		t.Errorf("changed something:\n%s", ev)
	}
	if b, _ := os.ReadFile(p); string(b) != garbage {
		t.Errorf("owned.json rewritten: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "intent.json")); err == nil {
		t.Errorf("intent.json written")
	}
}

// TestLegacyOwnedRecord: an owned.json from before versioned state files
// is read: the tenant it names stays owned (its FRR blocks are replaced,
// not kept as foreign) and the record is rewritten with its version.
func TestLegacyOwnedRecord(t *testing.T) {
	in := parse(t, intent)
	dir := t.TempDir()
	p := filepath.Join(dir, "owned.json")
	if err := os.WriteFile(p, []byte(`{"tenants":["blue"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newSim(taps()...)
	r := h.reconciler(t, &bytes.Buffer{})
	r.StateDir = dir
	rec, err := r.load()
	if err != nil || strings.Join(rec.Tenants, ",") != "blue" {
		t.Fatalf("load: %+v %v", rec, err)
	}
	if _, err := r.Apply(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), `"version": 1`) || !strings.Contains(string(b), `"red"`) {
		t.Errorf("owned.json:\n%s", b)
	}
}

// observing is the simulated kernel, recording each Observe.
type observing struct{ simKernel }

func (k observing) Observe(sysctls, ports []string) (kernel.State, error) {
	k.h.event("observe")
	return k.simKernel.Observe(sysctls, ports)
}

// blockingFRR is the simulated FRR whose first reload blocks until
// released.
type blockingFRR struct {
	simFRR
	once     *sync.Once
	inReload chan struct{}
	release  chan struct{}
}

func (f blockingFRR) Apply(ctx context.Context, conf string, check func(string) error) error {
	first := false
	f.once.Do(func() { first = true })
	if first {
		close(f.inReload)
		<-f.release
	}
	return f.simFRR.Apply(ctx, conf, check)
}

// waitHandler reports the reconciler's "waiting for the lock" message.
type waitHandler struct {
	slog.Handler
	waiting chan struct{}
	once    *sync.Once
}

func (w waitHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "waiting for the state directory lock") {
		w.once.Do(func() { close(w.waiting) })
	}
	return nil
}
func (w waitHandler) Enabled(context.Context, slog.Level) bool { return true }

// TestConcurrentAppliesSerialise: a second apply started while the first
// is reloading FRR waits for the state directory's lock and touches
// nothing (not even reading the kernel) until the first is done (issue 15
// item 8): otherwise it would read the kernel and the ownership record in
// the middle of the first one's changes.
func TestConcurrentAppliesSerialise(t *testing.T) {
	in := parse(t, intent)
	dir := t.TempDir()
	h := newSim(taps()...)
	f := blockingFRR{simFRR: simFRR{h}, once: &sync.Once{}, inReload: make(chan struct{}), release: make(chan struct{})}
	wh := waitHandler{Handler: slog.DiscardHandler, waiting: make(chan struct{}), once: &sync.Once{}}
	newR := func() *Reconciler {
		return &Reconciler{Kernel: observing{simKernel{h}}, FRR: f, StateDir: dir, Log: slog.New(wh), VNIWait: time.Minute, Poll: time.Millisecond}
	}
	errs := make(chan error, 2)
	go func() { _, err := newR().Apply(context.Background(), in); errs <- err }()
	<-f.inReload
	h.mu.Lock()
	before := len(h.events)
	h.mu.Unlock()

	second := make(chan error, 1)
	go func() { _, err := newR().Apply(context.Background(), in); second <- err }()
	select {
	case <-wh.waiting:
	case err := <-second:
		t.Fatalf("second apply ran to its end (err %v) while the first was reloading FRR", err)
	case <-time.After(time.Minute):
		t.Fatal("second apply neither waited for the lock nor finished")
	}
	h.mu.Lock()
	during := slicesClone(h.events[before:])
	h.mu.Unlock()
	if len(during) != 0 {
		t.Errorf("second apply acted while the first held the lock: %v", during)
	}
	close(f.release)
	if err := <-errs; err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second apply: %v", err)
	}
	// The second apply's first action (reading the kernel) comes after
	// everything the first did.
	var observes []int
	configure := -1
	events := strings.Split(h.Events(), "\n")
	for i, e := range events {
		switch {
		case e == "observe":
			observes = append(observes, i)
		case strings.HasPrefix(e, "frr configure") && configure < 0:
			configure = i
		}
	}
	if len(observes) != 2 || configure < 0 || observes[1] < configure {
		t.Errorf("second apply observed before the first finished:\n%s", strings.Join(events, "\n"))
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Lock takes the state directory's exclusive lock (flock(2) on dir/lock),
// the one every operation that changes the host holds from its first
// read of the state to its last write: reconcile's plan and apply (the
// agent's applies go through it), `evpnhost attach`/`detach`, CNI ADD and
// DEL. It is not reentrant: take it once, at the outermost entry.
//
// While another process (or another Lock in this one) holds it, Lock
// waits until ctx is done and then fails with an error naming the holder;
// waiting, when not nil, is called once with the holder when Lock has to
// wait. The lock is released by the returned function, or when the
// process exits.
func Lock(ctx context.Context, dir string, waiting func(holder string)) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state lock: %w", err)
	}
	return LockPath(ctx, filepath.Join(dir, LockFile), waiting)
}

// LockPath takes an exclusive flock on path (created 0600), like Lock.
// After taking it, it records its holder (pid and program) in the file.
func LockPath(ctx context.Context, path string, waiting func(holder string)) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state lock: %w", err)
	}
	delay := 5 * time.Millisecond
	for notified := false; ; {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("state lock %s: %w", path, err)
		}
		if !notified && waiting != nil {
			waiting(holder(path))
			notified = true
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, &LockedError{Path: path, Holder: holder(path), Err: ctx.Err()}
		case <-t.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), filepath.Base(os.Args[0]))), 0)
	}
	return func() {
		_ = f.Truncate(0)
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// LockedError is a lock not taken before the caller gave up.
type LockedError struct {
	Path   string
	Holder string // "pid program", "" when unknown
	Err    error  // the context's error
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.Holder != "" {
		who = "pid " + e.Holder
	}
	return fmt.Sprintf("state directory %s is locked by %s (an apply, attach, detach, CNI ADD/DEL or the agent's apply is running): %v",
		filepath.Dir(e.Path), who, e.Err)
}

func (e *LockedError) Unwrap() error { return e.Err }

// holder is what the lock's holder wrote into it.
func holder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

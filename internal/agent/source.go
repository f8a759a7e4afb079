package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/state"
)

// Loaded is an intent read from a source.
type Loaded struct {
	Intent *api.Intent `json:"intent"`
	// Revision is the etcd revision of the read (0 for a file).
	Revision int64 `json:"revision"`
	// Sum identifies the content: a change of Sum is a change of intent.
	Sum [32]byte `json:"sum"`
	// Source: "file", "etcd" or "cache".
	Source string `json:"source"`
}

// Source is where the intent comes from.
type Source interface {
	// Load reads and validates the intent. An invalid intent is reported
	// as *api.ValidationError (the source is reachable but its content is
	// refused); any other error means the source could not be read.
	Load(ctx context.Context) (Loaded, error)
	// Changes signals (without blocking) that the intent may have changed.
	Changes(ctx context.Context) <-chan struct{}
	// Name is for logs and status, e.g. "file /etc/evpnhost/intent.yaml".
	Name() string
}

// FileSource is an intent file, polled for changes.
type FileSource struct {
	Path string
	Poll time.Duration // default 1s
}

// Name implements Source.
func (f *FileSource) Name() string { return "file " + f.Path }

// Load implements Source.
func (f *FileSource) Load(context.Context) (Loaded, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return Loaded{}, err
	}
	l := Loaded{Sum: sha256.Sum256(b), Source: "file"}
	in, err := api.Parse(bytes.Clone(b))
	if err != nil {
		return l, &api.ValidationError{Problems: []api.FieldError{{Path: f.Path, Msg: err.Error()}}}
	}
	if err := in.Validate(); err != nil {
		return l, err
	}
	l.Intent = in
	return l, nil
}

// Changes implements Source: the file's content hash, checked every Poll.
func (f *FileSource) Changes(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	sum := func() [32]byte {
		b, _ := os.ReadFile(f.Path)
		return sha256.Sum256(b)
	}
	go func() {
		last := sum()
		t := time.NewTicker(orDefault(f.Poll, time.Second))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s := sum(); s != last {
					last = s
					signal(out)
				}
			}
		}
	}()
	return out
}

// EtcdSource is this host's part of the fabric intent in etcd.
type EtcdSource struct {
	Store   *fabric.Store
	Host    string
	Timeout time.Duration // per read; default 3s
	lastRev int64
}

// Name implements Source.
func (e *EtcdSource) Name() string { return "etcd " + e.Store.Layout.Key(fabric.KindHost, e.Host) }

// Load implements Source.
func (e *EtcdSource) Load(ctx context.Context) (Loaded, error) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(e.Timeout, 3*time.Second))
	defer cancel()
	snap, err := e.Store.Snapshot(ctx)
	if err != nil {
		return Loaded{}, err
	}
	e.lastRev = snap.Revision
	in, _, err := snap.HostIntent(e.Host)
	l := Loaded{Revision: snap.Revision, Source: "etcd"}
	if err != nil {
		return l, err
	}
	b, _ := json.Marshal(in)
	l.Intent, l.Sum = in, sha256.Sum256(b)
	return l, nil
}

// Changes implements Source: an etcd watch from the last read revision.
func (e *EtcdSource) Changes(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	revs := e.Store.Watch(ctx, e.lastRev)
	go func() {
		for range revs {
			signal(out)
		}
	}()
	return out
}

// cache is the last intent applied successfully, kept on disk so an agent
// that starts while its source is unreachable keeps the host as it was.
type cache struct{ dir string }

func (c cache) path() string { return filepath.Join(c.dir, state.LastGoodFile) }

// cacheVersion is the version of last-good.json (state.WriteJSON).
const cacheVersion = 1

// load reads the cache; none is an error wrapping fs.ErrNotExist.
func (c cache) load() (*Loaded, error) {
	var l Loaded
	found, err := state.ReadJSON(c.path(), cacheVersion, &l)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%s: %w", c.path(), fs.ErrNotExist)
	}
	if l.Intent == nil {
		return nil, fmt.Errorf("%s: no intent", c.path())
	}
	if err := l.Intent.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.path(), err)
	}
	return &l, nil
}

func (c cache) save(l Loaded) error {
	if c.dir == "" {
		return errors.New("no state directory")
	}
	_, err := state.WriteJSON(c.path(), cacheVersion, l)
	return err
}

func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

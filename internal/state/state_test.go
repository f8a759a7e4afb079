package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type rec struct {
	Tenants []string `json:"tenants"`
}

// TestWriteFile: the file holds the new content (0600), the directory is
// created, rewriting replaces it, and no temporary file is left behind.
func TestWriteFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	p := filepath.Join(dir, "x.json")
	for _, s := range []string{"a", "bb"} {
		if err := WriteFile(p, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != s {
			t.Errorf("content %q, want %q", b, s)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("stat: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left in the directory: %v", ents)
	}
}

// TestWriteFileFailureKeepsOld: a write that cannot rename (the target is
// a directory) fails, leaves no temporary file and keeps what was there.
func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new")); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err %v, want one naming %s", err, p)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || !ents[0].IsDir() {
		t.Errorf("left in the directory: %v", ents)
	}
}

// TestWriteFileIfChanged: the same bytes again write nothing.
func TestWriteFileIfChanged(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.json")
	if wrote, err := WriteFileIfChanged(p, []byte("a")); err != nil || !wrote {
		t.Fatalf("first write: %v %v", wrote, err)
	}
	old := time.Unix(1000, 0)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if wrote, err := WriteFileIfChanged(p, []byte("a")); err != nil || wrote {
		t.Fatalf("unchanged: %v %v", wrote, err)
	}
	if fi, _ := os.Stat(p); !fi.ModTime().Equal(old) {
		t.Errorf("unchanged content rewritten: %v", fi.ModTime())
	}
	if wrote, err := WriteFileIfChanged(p, []byte("b")); err != nil || !wrote {
		t.Fatalf("changed: %v %v", wrote, err)
	}
}

// TestJSONRoundTrip: a versioned file reads back; a missing file is
// "not found", not an error.
func TestJSONRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "owned.json")
	var r rec
	if found, err := ReadJSON(p, 1, &r); found || err != nil {
		t.Fatalf("missing file: %v %v", found, err)
	}
	if _, err := WriteJSON(p, 1, rec{Tenants: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), "{\n  \"version\": 1,\n  \"tenants\"") {
		t.Errorf("file:\n%s", b)
	}
	if found, err := ReadJSON(p, 1, &r); !found || err != nil || strings.Join(r.Tenants, ",") != "a,b" {
		t.Fatalf("read: %v %v %+v", found, err, r)
	}
	if _, err := WriteJSON(p, 1, struct{}{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "{\n  \"version\": 1\n}\n" {
		t.Errorf("empty object:\n%s", b)
	}
}

// TestJSONLegacy: a file written before versions (no version field) reads.
func TestJSONLegacy(t *testing.T) {
	p := filepath.Join(t.TempDir(), "owned.json")
	if err := os.WriteFile(p, []byte(`{"tenants":["red"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var r rec
	if found, err := ReadJSON(p, 1, &r); !found || err != nil || len(r.Tenants) != 1 || r.Tenants[0] != "red" {
		t.Fatalf("legacy: %v %v %+v", found, err, r)
	}
}

// TestJSONCorrupt: a file that does not parse, is empty, or is from a
// newer version is an error naming the file, never an empty value.
func TestJSONCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"truncated": `{"tenants":["re`,
		"empty":     ``,
		"wrongtype": `{"tenants":"red"}`,
		"newer":     `{"version":9,"tenants":["red"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "owned.json")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var r rec
			found, err := ReadJSON(p, 1, &r)
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("found %v err %v, want an error naming %s", found, err, p)
			}
			if name != "newer" && !IsCorrupt(err) {
				t.Errorf("%v: not IsCorrupt", err)
			}
		})
	}
}

// TestJSONUnreadable: a read error other than "missing" is returned.
func TestJSONUnreadable(t *testing.T) {
	p := t.TempDir() // a directory: read fails with EISDIR
	var r rec
	if _, err := ReadJSON(p, 1, &r); err == nil || IsCorrupt(err) {
		t.Fatalf("err %v, want a read error", err)
	}
}

// TestLockExcludes: a second Lock waits while the first is held (it is
// told who holds it), gives up with a clear error when its context ends,
// and gets the lock once the first is released.
func TestLockExcludes(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan string, 1)
	res := make(chan error, 1)
	go func() {
		u, err := Lock(ctx, dir, func(h string) { waited <- h })
		if u != nil {
			u()
		}
		res <- err
	}()
	h := <-waited // the second holder is blocked
	if !strings.Contains(h, " ") {
		t.Errorf("holder %q, want pid and program", h)
	}
	cancel()
	err = <-res
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "locked by pid") {
		t.Fatalf("err %v, want a LockedError naming the holder", err)
	}

	got := make(chan func(), 1)
	waited2 := make(chan string, 1)
	go func() {
		u, err := Lock(context.Background(), dir, func(h string) { waited2 <- h })
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	<-waited2
	select {
	case <-got:
		t.Fatal("second holder got the lock while the first held it")
	default:
	}
	unlock()
	if u := <-got; u != nil {
		u()
	}
}

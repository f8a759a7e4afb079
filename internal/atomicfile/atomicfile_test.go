package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteIfChanged: the first write creates the directory and the file
// (0600), the same bytes again write nothing (the modification time stays),
// other bytes replace the file, and no temporary file is left behind.
func TestWriteIfChanged(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state", "x.json")
	if wrote, err := WriteIfChanged(p, []byte("a")); err != nil || !wrote {
		t.Fatalf("first write: %v %v", wrote, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v %v", fi, err)
	}
	old := time.Unix(1000, 0)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if wrote, err := WriteIfChanged(p, []byte("a")); err != nil || wrote {
		t.Fatalf("unchanged: %v %v", wrote, err)
	}
	if fi, _ := os.Stat(p); !fi.ModTime().Equal(old) {
		t.Errorf("unchanged content rewritten: %v", fi.ModTime())
	}
	if wrote, err := WriteIfChanged(p, []byte("b")); err != nil || !wrote {
		t.Fatalf("changed: %v %v", wrote, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "b" {
		t.Errorf("content %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("left in the directory: %v", ents)
	}
}

package enforce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/policy"
)

// TestRecorded: no marker is "no backend"; a marker naming a backend is
// read; an unreadable or torn marker is an error naming the file, not "no
// backend" (the policy it enforces would never be removed).
func TestRecorded(t *testing.T) {
	dir := t.TempDir()
	if b, err := Recorded(dir); b != "" || err != nil {
		t.Fatalf("no marker: %q %v", b, err)
	}
	p := filepath.Join(dir, "policy-backend")
	for content, want := range map[string]string{"nftables\n": Nftables, "ebpf": EBPF} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := Recorded(dir); b != want || err != nil {
			t.Errorf("%q: %q %v", content, b, err)
		}
	}
	for _, content := range []string{"", "eb"} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := Recorded(dir); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: %q %v, want an error naming %s", content, b, err, p)
		}
	}
	// Apply refuses to guess over a torn marker.
	e := &Enforcer{Backend: Nftables, StateDir: dir}
	defer e.Close()
	if err := e.Apply(policy.Table{}); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("apply over a torn marker: %v", err)
	}
}

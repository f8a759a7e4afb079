package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/internal/fabric/fabrictest"
)

// cli runs the command with args and returns its output and exit code.
func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return out.String(), exitOK
	}
	out.WriteString(err.Error())
	var ee exitError
	if errors.As(err, &ee) {
		return out.String(), ee.code
	}
	return out.String(), exitInvalid
}

// TestFabricCommands drives `evpnhost fabric` against a real etcd: a host
// intent file is put as it is, get --host gives it back as a valid
// intent, invalid puts and deletes are refused with exit 2 and change
// nothing, and status says who is converged.
func TestFabricCommands(t *testing.T) {
	e := fabrictest.Start(t, "")
	ep := []string{"--etcd-endpoints", e.Endpoint}
	fab := func(args ...string) (string, int) {
		return cli(t, append(append([]string{"fabric"}, args...), ep...)...)
	}
	lab := func(h string) string { return filepath.Join("..", "..", "lab", "intents", h+".yaml") }

	if out, code := fab("put", "-f", lab("h1")); code != 0 || !strings.Contains(out, "written at revision") {
		t.Fatalf("put h1: %d %s", code, out)
	}
	if out, code := fab("put", "-f", lab("h2")); code != 0 {
		t.Fatalf("put h2: %d %s", code, out)
	}
	out, code := fab("get", "--host", "h1")
	if code != 0 {
		t.Fatalf("get: %d %s", code, out)
	}
	p := filepath.Join(t.TempDir(), "h1.yaml")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, "validate", "-f", p); code != 0 {
		t.Errorf("get --host output is not a valid intent: %s", out)
	}
	if out, code := fab("get"); code != 0 || !strings.Contains(out, "hosts: h1,h2") || !strings.Contains(out, "name: red") {
		t.Errorf("get: %d %s", code, out)
	}

	// A tenant reusing red's L3VNI: refused by put and by validate -f.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("tenants:\n  - {name: evil, l3vni: 4001}\n"), 0o644)
	for _, cmd := range [][]string{{"put", "-f", bad}, {"validate", "-f", bad}} {
		if out, code := fab(cmd...); code != exitInvalid || !strings.Contains(out, "4001") || !strings.Contains(out, "h1:") {
			t.Errorf("%v: exit %d\n%s", cmd, code, out)
		}
	}
	if out, _ := fab("get"); strings.Contains(out, "evil") {
		t.Errorf("refused put was written:\n%s", out)
	}
	// Over the size limits (issue 15): refused with the limit named, nothing written.
	huge := filepath.Join(t.TempDir(), "huge.yaml")
	_ = os.WriteFile(huge, []byte("tenants:\n  - {name: evil, l3vni: 4999}\n# "+strings.Repeat("x", 4<<20)+"\n"), 0o644)
	var many strings.Builder
	many.WriteString("tenants:\n")
	for i := 0; i <= 1024; i++ {
		fmt.Fprintf(&many, "  - {name: evil%d, l3vni: %d}\n", i, 60000+i)
	}
	lots := filepath.Join(t.TempDir(), "many.yaml")
	_ = os.WriteFile(lots, []byte(many.String()), 0o644)
	for _, tc := range []struct{ file, want string }{
		{huge, "at most 4194304 (4 MiB) are accepted"},
		{lots, "tenants: an intent holds at most 1024"},
	} {
		if out, code := fab("put", "-f", tc.file); code != exitInvalid || !strings.Contains(out, tc.want) {
			t.Errorf("put %s: exit %d\n%.500s", tc.file, code, out)
		}
	}
	if out, _ := fab("get"); strings.Contains(out, "evil") {
		t.Errorf("refused put was written:\n%s", out)
	}
	// Deleting a tenant that workloads use is refused.
	if out, code := fab("delete", "tenant", "red"); code != exitInvalid || !strings.Contains(out, "workloads[0].network") {
		t.Errorf("delete red: exit %d\n%s", code, out)
	}
	if out, code := fab("validate"); code != 0 {
		t.Errorf("validate: %d %s", code, out)
	}
	// No agent has reported: not converged (exit 1), both hosts listed.
	if out, code := fab("status"); code != exitFailed || !strings.Contains(out, "h1") || !strings.Contains(out, "no report") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	if out, code := fab("delete", "host", "h2"); code != 0 {
		t.Errorf("delete host: %d %s", code, out)
	}
	if out, _ := fab("get"); !strings.Contains(out, "hosts: h1\n") {
		t.Errorf("after delete host: %s", out)
	}
	// Usage errors.
	if _, code := cli(t, "fabric", "get"); code != exitInvalid {
		t.Errorf("no endpoints: exit %d", code)
	}
	if _, code := fab("delete", "network", "x"); code != exitInvalid {
		t.Errorf("delete network: exit %d", code)
	}
}

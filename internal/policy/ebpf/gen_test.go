package ebpf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// TestGeneratedUpToDate runs the //go:generate line of gen.go into a
// temporary directory and compares the output with the committed
// policy_bpfel.go and .o (make generate writes them). With clang 14 (the
// toolchain of Debian 12 that generated them) the object must be
// identical; another clang may emit other instructions, so then only the
// maps and programs are compared.
func TestGeneratedUpToDate(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not installed (make deps installs it)")
	}
	if testing.Short() {
		t.Skip("short")
	}
	// Read the C source here too, so that go test's cache knows the
	// result depends on it (clang reads it in a subprocess).
	if _, err := os.ReadFile("bpf/policy.c"); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//go:generate go run (\S+) (.*)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no go:generate line in gen.go")
	}
	args, err := splitArgs(string(m[2]))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"run", string(m[1]), "-output-dir", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=ebpf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go: %v\n%s", err, out)
	}
	for _, f := range []string{"policy_bpfel.go", "policy_bpfel.o"} {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, want) {
			continue
		}
		ver, _ := exec.Command(clang, "--version").Output()
		if strings.HasSuffix(f, ".o") && !strings.Contains(string(ver), "version 14.") {
			sameSpecs(t, filepath.Join(dir, f), f)
			t.Logf("%s differs with %s: compared maps and programs only", f, strings.SplitN(string(ver), "\n", 2)[0])
			continue
		}
		t.Errorf("%s is stale: run make generate and commit the result", f)
	}
}

func sameSpecs(t *testing.T, a, b string) {
	t.Helper()
	sa, err := ebpf.LoadCollectionSpec(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := ebpf.LoadCollectionSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, ms := range sb.Maps {
		o, ok := sa.Maps[name]
		if !ok || o.Type != ms.Type || o.KeySize != ms.KeySize || o.ValueSize != ms.ValueSize || o.MaxEntries != ms.MaxEntries || o.Flags != ms.Flags {
			t.Errorf("map %s differs: run make generate and commit the result", name)
		}
	}
	for name := range sb.Programs {
		if _, ok := sa.Programs[name]; !ok {
			t.Errorf("program %s missing: run make generate and commit the result", name)
		}
	}
	if len(sa.Programs) != len(sb.Programs) || len(sa.Maps) != len(sb.Maps) {
		t.Errorf("programs or maps differ: run make generate and commit the result")
	}
}

// splitArgs splits a go:generate argument list (double quotes group).
func splitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			in, have = !in, true
		case r == ' ' && !in:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

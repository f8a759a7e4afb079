package api

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/invalid/*.err from the current Load output")

// TestInvalid loads every testdata/invalid/*.yaml and compares the error
// with the sibling .err file, which is the specification of the messages.
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("only %d invalid intents, want at least 25", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			in, err := Load(f)
			if err == nil {
				t.Fatalf("Load succeeded, want an error (intent %+v)", in)
			}
			if in != nil {
				t.Errorf("Load returned an intent with an error")
			}
			errFile := strings.TrimSuffix(f, ".yaml") + ".err"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(errFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(errFile)
			if rerr != nil {
				t.Fatalf("%v (run go test ./api -run TestInvalid -update)", rerr)
			}
			if got != string(want) {
				t.Errorf("Load(%s) error mismatch\n--- got\n%s--- want\n%s", f, got, want)
			}
		})
	}
}

// TestInvalidErrFilesHaveYAML catches stale .err files.
func TestInvalidErrFilesHaveYAML(t *testing.T) {
	errs, _ := filepath.Glob("testdata/invalid/*.err")
	for _, e := range errs {
		if _, err := os.Stat(strings.TrimSuffix(e, ".err") + ".yaml"); err != nil {
			t.Errorf("%s has no .yaml", e)
		}
	}
}

func TestValid(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("only %d valid intents, want at least 3", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			in, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if in == nil {
				t.Fatal("Load returned nil intent")
			}
		})
	}
}

func TestLoadValidationErrorType(t *testing.T) {
	_, err := Load("testdata/invalid/multiple-problems.yaml")
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load error %T, want *ValidationError", err)
	}
	if len(ve.Problems) < 5 {
		t.Errorf("got %d problems, want all of them: %v", len(ve.Problems), ve)
	}
	_, err = Load("testdata/invalid/unknown-field.yaml")
	if errors.As(err, &ve) {
		t.Errorf("parse error should not be a *ValidationError: %v", err)
	}
	if _, err := Load("testdata/does-not-exist.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want ErrNotExist", err)
	}
}

func TestTwoTenantsDefaults(t *testing.T) {
	in, err := Load("testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Host.RouterIDAddr().String(); got != "10.0.0.1" {
		t.Errorf("router ID %s", got)
	}
	red, blue := in.Tenants[0], in.Tenants[1]
	if red.Table() != 1000 || blue.Table() != 2001 {
		t.Errorf("tables %d %d", red.Table(), blue.Table())
	}
	vl := in.L3VLAN()
	if vl["red"] != 3000 || vl["blue"] != 3999 {
		t.Errorf("L3VLAN %v", vl)
	}
	web := red.Networks[0]
	if !web.Suppress() || web.GatewayMAC().String() != DefaultAnycastMAC || web.MTUOr(in.Host.UnderlayMTU()) != 9050 {
		t.Errorf("web defaults: suppress=%v mac=%s mtu=%d", web.Suppress(), web.GatewayMAC(), web.MTUOr(in.Host.UnderlayMTU()))
	}
	app := red.Networks[1]
	if app.Suppress() || app.MTUOr(9100) != 9000 {
		t.Errorf("app: suppress=%v mtu=%d", app.Suppress(), app.MTUOr(9100))
	}
}

package ebpf_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/internal/policy"
	"github.com/evpnhost/evpnhost/internal/policy/enforce"
	"github.com/evpnhost/evpnhost/internal/policy/policytest"
)

// TestPrivilegedEnforcer drives the policy as the reconciler does
// (enforce.Enforcer with auto, pins under a private bpffs): enforced,
// recorded, counted, and removed with the last policy.
func TestPrivilegedEnforcer(t *testing.T) {
	policytest.RequireRoot(t)
	lab, err := policytest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	web, err := lab.Add("web1", "pweb1", "10.1.10.11", "")
	if err != nil {
		t.Fatal(err)
	}
	db, err := lab.Add("db1", "pdb1", "10.1.20.11", "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := web.Listen("10.1.10.11", 5432)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	old := enforce.BPFFS
	enforce.BPFFS = bpffs(t, dir)
	defer func() { enforce.BPFFS = old }()
	state := filepath.Join(dir, "state")

	dial := func() error {
		c, err := db.Dial("10.1.10.11", 5432, 700*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}
	apply := func(tbl policy.Table) {
		t.Helper()
		err := policytest.In(lab.Host, func() error {
			e := &enforce.Enforcer{Backend: enforce.Auto, StateDir: state, Instance: "h1"}
			defer e.Close()
			return e.Apply(tbl)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The scenario's policy: db1 -> web1 is denied.
	apply(policytest.Compile(policytest.Load(t, policytest.Intent)))
	if got, err := enforce.Recorded(state); got != enforce.EBPF || err != nil {
		t.Fatalf("recorded backend %q (%v), want ebpf", got, err)
	}
	if dial() == nil {
		t.Errorf("db1 -> web1:5432 passed, want denied")
	}
	var cs []policy.RuleCounter
	if err := policytest.In(lab.Host, func() error {
		var err error
		cs, err = enforce.Counters(state, "h1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	denied := uint64(0)
	for _, c := range cs {
		if c.Rule == -1 {
			denied = c.Denied
		}
	}
	if denied == 0 {
		t.Errorf("default counter did not count: %+v", cs)
	}
	// The same table again: nothing rewritten, still enforced.
	apply(policytest.Compile(policytest.Load(t, policytest.Intent)))
	if dial() == nil {
		t.Errorf("after a second apply: db1 -> web1:5432 passed, want denied")
	}
	// No policy any more: the programs go, the record too.
	apply(policy.Table{})
	if got, err := enforce.Recorded(state); got != "" || err != nil {
		t.Errorf("recorded backend %q (%v) after the last policy went, want none", got, err)
	}
	if err := dial(); err != nil {
		t.Errorf("without policy: db1 -> web1:5432: %v", err)
	}
}

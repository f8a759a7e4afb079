package fabric_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/fabric/fabrictest"
)

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestStoreRoundTrip runs against a real etcd: writes are validated
// across hosts before they land, a refused write changes nothing, watches
// report intent changes but not status writes, and statuses read back.
func TestStoreRoundTrip(t *testing.T) {
	e := fabrictest.Start(t, "")
	st, err := fabric.Open(fabric.Config{Endpoints: []string{e.Endpoint}, Prefix: "/test"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	r := decode[api.Tenant](t, red)
	host1 := decode[api.Host](t, h1)
	w1 := decode[[]api.Workload](t, wl1)
	rev, err := st.Apply(ctx, fabric.Change{PutTenants: []api.Tenant{r}, Host: "h1", PutHost: &host1, PutWorkloads: &w1})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != rev {
		t.Errorf("snapshot revision %d, write revision %d", snap.Revision, rev)
	}
	in, want, err := snap.HostIntent("h1")
	if err != nil || len(in.Workloads) != 1 || want != rev {
		t.Fatalf("h1: %v %+v (inputs at %d, written at %d)", err, in, want, rev)
	}
	// Writing the same again is no write at all.
	if again, err := st.Apply(ctx, fabric.Change{PutTenants: []api.Tenant{r}}); err != nil || again != rev {
		t.Errorf("same put: revision %d (was %d), %v", again, rev, err)
	}

	changes := st.Watch(ctx, rev)

	// Deleting red would leave h1's workload on a network that does not
	// exist: refused, nothing written.
	_, err = st.Apply(ctx, fabric.Change{DeleteTenants: []string{"red"}})
	var inv *fabric.InvalidError
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "workloads[0].network") {
		t.Fatalf("delete of a used tenant: %v", err)
	}
	if err := st.Check(ctx, fabric.Change{DeleteTenants: []string{"red"}}); !errors.As(err, &inv) {
		t.Errorf("Check: %v", err)
	}
	if s2, _ := st.Snapshot(ctx); s2.Revision != rev {
		t.Fatalf("a refused write changed etcd: revision %d -> %d", rev, s2.Revision)
	}
	// A second host with h1's VTEP is refused too.
	dup := decode[api.Host](t, strings.Replace(h2, "10.0.0.2", "10.0.0.1", 1))
	if _, err := st.Apply(ctx, fabric.Change{Host: "h2", PutHost: &dup}); !errors.As(err, &inv) || !strings.Contains(err.Error(), "also the VTEP") {
		t.Fatalf("duplicate VTEP: %v", err)
	}

	// Status writes are not intent changes.
	if err := st.PutStatus(ctx, fabric.Status{Host: "h1", AppliedRevision: rev}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-changes:
		t.Fatalf("status write reported as a change (revision %d)", r)
	case <-time.After(300 * time.Millisecond):
	}
	b := decode[api.Tenant](t, strings.ReplaceAll(strings.ReplaceAll(red, `"red"`, `"blue"`), "4001", "4002"))
	b.Networks[0].VNI, b.Networks[0].VLAN = 30, 30
	rev2, err := st.Apply(ctx, fabric.Change{PutTenants: []api.Tenant{b}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-changes:
		if got != rev2 {
			t.Errorf("watch reported revision %d, want %d", got, rev2)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported for a new tenant")
	}
	snap, _ = st.Snapshot(ctx)
	if s := snap.Statuses()["h1"]; s.AppliedRevision != rev || s.Converged(rev2) {
		t.Errorf("status %+v: converged at %d? it applied %d", s, rev2, rev)
	}

	// Deleting the host removes its workloads and status too.
	if _, err := st.Apply(ctx, fabric.Change{Host: "h1", DeleteHost: true}); err != nil {
		t.Fatal(err)
	}
	snap, _ = st.Snapshot(ctx)
	if len(snap.Hosts()) != 0 || len(snap.Statuses()) != 0 || len(snap.Tenants()) != 2 {
		t.Errorf("after host delete: hosts %v statuses %v tenants %v", snap.Hosts(), snap.Statuses(), snap.Tenants())
	}
	if _, err := st.Apply(ctx, fabric.Change{DeleteTenants: []string{"nosuch"}}); err == nil {
		t.Error("deleting an unknown tenant must fail")
	}
}

// TestStoreUnreachable: with etcd down, reads fail within the deadline
// rather than hang.
func TestStoreUnreachable(t *testing.T) {
	e := fabrictest.Start(t, "")
	e.Stop()
	st, err := fabric.Open(fabric.Config{Endpoints: []string{e.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := st.Snapshot(ctx); err == nil {
		t.Fatal("snapshot with etcd down succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// TestStoreTLSAndAuth: etcd with TLS, client certificates and
// authentication: the store connects with the CA, the client certificate
// and a user; without the certificate or with a wrong password it fails.
func TestStoreTLSAndAuth(t *testing.T) {
	e := fabrictest.StartTLS(t)
	tlsCfg := fabric.Config{Endpoints: []string{e.Endpoint}, CACert: e.TLS.CA, Cert: e.TLS.ClientCert, Key: e.TLS.ClientKey}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Enable authentication: a root user and an evpnhost user with a role
	// on the prefix (what an operator would set up).
	admin, err := fabric.Open(tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.SetupAuth(ctx, "rootpw", "agent", "agentpw"); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	cfg := tlsCfg
	cfg.Username, cfg.Password = "agent", "agentpw"
	st, err := fabric.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := decode[api.Tenant](t, red)
	if _, err := st.Apply(ctx, fabric.Change{PutTenants: []api.Tenant{r}}); err != nil {
		t.Fatalf("put over TLS with auth: %v", err)
	}
	if snap, err := st.Snapshot(ctx); err != nil || len(snap.Tenants()) != 1 {
		t.Fatalf("read back: %v", err)
	}

	short, cancel2 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel2()
	bad := cfg
	bad.Password = "wrong"
	if s, err := fabric.Open(bad); err == nil {
		if _, err := s.Snapshot(short); err == nil {
			t.Error("a wrong password was accepted")
		}
		s.Close()
	}
	noCert := cfg
	noCert.Cert, noCert.Key = "", ""
	if s, err := fabric.Open(noCert); err == nil {
		if _, err := s.Snapshot(short); err == nil {
			t.Error("a client without certificate was accepted")
		}
		s.Close()
	}
}

// TestConfigCheck: TLS settings with a scheme the etcd client serves in
// clear are refused, and so are credentials without TLS unless etcd is on
// this machine.
func TestConfigCheck(t *testing.T) {
	ca := fabric.Config{CACert: "ca.pem"}
	cred := fabric.Config{Username: "u", Password: "p"}
	both := fabric.Config{CACert: "ca.pem", Username: "u", Password: "p"}
	for _, c := range []struct {
		cfg  fabric.Config
		ep   string
		want string // "" for accepted
	}{
		{ca, "http://etcd1:2379", "never uses TLS"},
		{ca, "HTTP://etcd1:2379", "never uses TLS"},
		{ca, "unix:///run/etcd.sock", "write it unixs://"},
		{ca, "https://etcd1:2379", ""},
		{ca, "etcd1:2379", ""},
		{both, "http://etcd1:2379", "never uses TLS"},
		{both, "https://etcd1:2379", ""},
		{both, "etcd1:2379", ""},
		{cred, "http://etcd1:2379", "in clear"},
		{cred, "etcd1:2379", "in clear"},
		{cred, "http://10.0.0.1:2379", "in clear"},
		{cred, "http://[2001:db8::1]:2379", "in clear"},
		{cred, "http://localhost.evil.example:2379", "in clear"},
		{cred, "http://127.0.0.1:2379", ""},
		{cred, "127.10.0.1:2379", ""},
		{cred, "http://[::1]:2379", ""},
		{cred, "http://LOCALHOST:2379", ""},
		{cred, "unix:///run/etcd.sock", ""},
		{cred, "https://etcd1:2379", ""},
		{fabric.Config{Password: "p"}, "http://etcd1:2379", "in clear"},
		{fabric.Config{}, "http://etcd1:2379", ""},
		{fabric.Config{}, "ftp://etcd1:2379", "unknown scheme"},
	} {
		cfg := c.cfg
		cfg.Endpoints = []string{c.ep}
		err := cfg.Check()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %+v: refused: %v", c.ep, c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %+v: got %v, want an error with %q", c.ep, c.cfg, err, c.want)
		}
	}
	// Every endpoint is checked, not only the first.
	cfg := cred
	cfg.Endpoints = []string{"127.0.0.1:2379", "http://etcd2:2379"}
	if err := cfg.Check(); err == nil {
		t.Error("a second endpoint in clear was accepted")
	}
	if _, err := fabric.Open(fabric.Config{Endpoints: []string{"http://etcd1:2379"}, CACert: "ca.pem"}); err == nil {
		t.Error("Open accepted TLS settings with http://")
	}
}

// TestHostUserLeastPrivilege: with etcd authentication on, a host's user
// (SetupHostUser) reads the whole fabric and writes its own status, but
// cannot change any intent nor another host's status.
func TestHostUserLeastPrivilege(t *testing.T) {
	e := fabrictest.Start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func(user, pass string) *fabric.Store {
		t.Helper()
		st, err := fabric.Open(fabric.Config{Endpoints: []string{e.Endpoint}, Prefix: "/test", Username: user, Password: pass})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	setup := open("", "")
	if err := setup.SetupAuth(ctx, "rootpw", "admin", "adminpw"); err != nil {
		t.Fatal(err)
	}
	root := open("root", "rootpw")
	for _, h := range []string{"h1", "h2"} {
		if err := root.SetupHostUser(ctx, h, "agent-"+h, h+"pw"); err != nil {
			t.Fatal(err)
		}
	}
	// Again: idempotent.
	if err := root.SetupHostUser(ctx, "h1", "agent-h1", "h1pw"); err != nil {
		t.Fatalf("second setup: %v", err)
	}
	admin := open("admin", "adminpw")
	r := decode[api.Tenant](t, red)
	host1, host2 := decode[api.Host](t, h1), decode[api.Host](t, h2)
	w1 := decode[[]api.Workload](t, wl1)
	if _, err := admin.Apply(ctx, fabric.Change{PutTenants: []api.Tenant{r}, Host: "h1", PutHost: &host1, PutWorkloads: &w1}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Apply(ctx, fabric.Change{Host: "h2", PutHost: &host2}); err != nil {
		t.Fatal(err)
	}
	if err := admin.PutStatus(ctx, fabric.Status{Host: "h2", AppliedRevision: 1}); err != nil {
		t.Fatal(err)
	}

	agent := open("agent-h1", "h1pw")
	snap, err := agent.Snapshot(ctx)
	if err != nil {
		t.Fatalf("h1 cannot read the fabric: %v", err)
	}
	if _, _, err := snap.HostIntent("h1"); err != nil || len(snap.Hosts()) != 2 {
		t.Fatalf("h1's view: hosts %v, %v", snap.Hosts(), err)
	}
	if err := agent.PutStatus(ctx, fabric.Status{Host: "h1", AppliedRevision: snap.Revision}); err != nil {
		t.Fatalf("h1 cannot write its status: %v", err)
	}
	denied := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("h1 %s: %v, want permission denied", what, err)
		}
	}
	denied("wrote h2's status", agent.PutStatus(ctx, fabric.Status{Host: "h2", AppliedRevision: 99}))
	host2.ASN++
	_, err = agent.Apply(ctx, fabric.Change{Host: "h2", PutHost: &host2})
	denied("rewrote h2's host intent", err)
	host1.ASN++
	_, err = agent.Apply(ctx, fabric.Change{Host: "h1", PutHost: &host1})
	denied("rewrote its own host intent", err)
	_, err = agent.Apply(ctx, fabric.Change{DeleteTenants: []string{"red"}, Host: "h1", PutWorkloads: &[]api.Workload{}})
	denied("deleted a tenant", err)
	after, err := admin.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := after.Statuses()["h2"]; s.AppliedRevision != 1 {
		t.Errorf("h2's status was changed by h1: %+v", s)
	}
	if s := after.Statuses()["h1"]; s.AppliedRevision != snap.Revision {
		t.Errorf("h1's status: %+v", s)
	}
}

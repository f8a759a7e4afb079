package fabric

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/evpnhost/evpnhost/api"
)

// Config says how to reach etcd.
type Config struct {
	Endpoints   []string // host:port, https://host:port or unix:///path
	Prefix      string
	DialTimeout time.Duration
	// TLS: CACert verifies the server; Cert and Key authenticate the client.
	CACert, Cert, Key string
	// Username and Password for etcd authentication.
	Username, Password string
}

// Store is the fabric intent in etcd.
type Store struct {
	Layout Layout
	cli    *clientv3.Client
}

// Open connects to etcd. It does not fail when etcd is down: calls do,
// and the client reconnects by itself.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cc := clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		Username:             cfg.Username,
		Password:             cfg.Password,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	}
	if cc.DialTimeout == 0 {
		cc.DialTimeout = 3 * time.Second
	}
	if cfg.TLS() {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return &Store{Layout: Layout{Prefix: cfg.Prefix}, cli: cli}, nil
}

// TLS reports whether the configuration asks for TLS (a CA or a client
// certificate).
func (cfg Config) TLS() bool { return cfg.CACert != "" || cfg.Cert != "" || cfg.Key != "" }

// Check refuses configurations that would be less safe than they look:
//
//   - TLS settings with an http:// or unix:// endpoint: the etcd client
//     silently drops TLS for those schemes (use https://, unixs:// or a
//     bare HOST:PORT, which uses TLS when it is configured);
//   - a user or password over a transport without TLS, where the password
//     would cross the network in clear, except to a loopback address
//     (127.0.0.0/8, ::1, localhost) or a unix socket.
func (cfg Config) Check() error {
	if len(cfg.Endpoints) == 0 {
		return errors.New("no etcd endpoints")
	}
	for _, ep := range cfg.Endpoints {
		scheme, host := splitEndpoint(ep)
		switch scheme {
		case "", "http", "https", "unix", "unixs":
		default:
			return fmt.Errorf("etcd endpoint %q: unknown scheme %q (want HOST:PORT, https://, http://, unixs:// or unix://)", ep, scheme)
		}
		if cfg.TLS() && (scheme == "http" || scheme == "unix") {
			s := "https"
			if scheme == "unix" {
				s = "unixs"
			}
			return fmt.Errorf("etcd endpoint %q is %s://, which never uses TLS, but a CA or client certificate is given (--etcd-cacert/--etcd-cert/--etcd-key): write it %s://%s", ep, scheme, s, strings.TrimPrefix(ep, scheme+"://"))
		}
		secure := scheme == "https" || scheme == "unixs" || (scheme == "" && cfg.TLS())
		if (cfg.Username != "" || cfg.Password != "") && !secure && !local(scheme, host) {
			return fmt.Errorf("etcd endpoint %q has no TLS: its password would cross the network in clear; use https:// with --etcd-cacert (credentials without TLS are allowed only to loopback addresses and unix sockets)", ep)
		}
	}
	return nil
}

// splitEndpoint returns the scheme ("" for HOST:PORT) and host of an etcd
// endpoint.
func splitEndpoint(ep string) (scheme, host string) {
	if s, rest, ok := strings.Cut(ep, "://"); ok {
		scheme = strings.ToLower(s)
		if scheme == "unix" || scheme == "unixs" {
			return scheme, rest
		}
		if u, err := url.Parse(ep); err == nil {
			return scheme, u.Hostname()
		}
		ep = rest
	}
	if h, _, err := net.SplitHostPort(ep); err == nil {
		return scheme, h
	}
	return scheme, strings.Trim(ep, "[]")
}

// local reports whether an endpoint stays on this machine.
func local(scheme, host string) bool {
	if scheme == "unix" || scheme == "unixs" {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s: no certificate found", cfg.CACert)
		}
		tc.RootCAs = pool
	}
	if (cfg.Cert == "") != (cfg.Key == "") {
		return nil, errors.New("etcd client certificate and key go together")
	}
	if cfg.Cert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// SetupAuth turns etcd authentication on with a root user and an
// administrator user that may read and write the whole prefix: the
// operator's account for the fabric commands (put, delete). Agents get
// their own users with SetupHostUser, which may not change the intent.
// It is for tests and first setups; operators may manage etcd users with
// etcdctl instead (docs/agent.md).
func (s *Store) SetupAuth(ctx context.Context, rootPass, user, pass string) error {
	const root = "root"
	prefix := s.Layout.root()
	steps := []func() error{
		func() error { _, err := s.cli.UserAdd(ctx, root, rootPass); return err },
		func() error { _, err := s.cli.UserGrantRole(ctx, root, "root"); return err },
		func() error { _, err := s.cli.RoleAdd(ctx, AdminRole); return err },
		func() error {
			_, err := s.cli.RoleGrantPermission(ctx, AdminRole, prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := s.cli.UserAdd(ctx, user, pass); return err },
		func() error { _, err := s.cli.UserGrantRole(ctx, user, AdminRole); return err },
		func() error { _, err := s.cli.AuthEnable(ctx); return err },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return fmt.Errorf("etcd auth setup: %w", err)
		}
	}
	return nil
}

// AdminRole is the etcd role that may read and write the whole prefix.
const AdminRole = "evpnhost"

// HostRole is the etcd role of host's agent (SetupHostUser).
func HostRole(host string) string { return "evpnhost-host-" + host }

// SetupHostUser gives user (made when missing; its password set to pass)
// exactly what the agent of host needs: the role HostRole(host), which
// reads every key under the prefix (the fabric intent, and other hosts'
// status) and writes only host's own status key. A host so set up cannot
// change any intent, nor another host's status. It needs an administrator
// connection (the root user once authentication is on) and may be run
// again: existing users and roles are kept and the grants renewed.
func (s *Store) SetupHostUser(ctx context.Context, host, user, pass string) error {
	if !api.ValidName(host) {
		return fmt.Errorf("host name %q is not valid", host)
	}
	if user == "" || pass == "" {
		return errors.New("etcd host user: a user name and a password are needed")
	}
	role, prefix := HostRole(host), s.Layout.root()
	steps := []func() error{
		func() error { _, err := s.cli.RoleAdd(ctx, role); return ignore(err, rpctypes.ErrRoleAlreadyExist) },
		func() error {
			_, err := s.cli.RoleGrantPermission(ctx, role, prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermRead))
			return err
		},
		func() error {
			// A single key (empty range end): the host's status only.
			_, err := s.cli.RoleGrantPermission(ctx, role, s.Layout.Key(KindStatus, host), "", clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error {
			_, err := s.cli.UserAdd(ctx, user, pass)
			if errors.Is(err, rpctypes.ErrUserAlreadyExist) {
				_, err = s.cli.UserChangePassword(ctx, user, pass)
			}
			return err
		},
		func() error { _, err := s.cli.UserGrantRole(ctx, user, role); return err },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return fmt.Errorf("etcd host user %s for %s: %w", user, host, err)
		}
	}
	return nil
}

func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return err
}

// Close ends the connection.
func (s *Store) Close() error { return s.cli.Close() }

// Snapshot reads every key under the prefix at one revision.
func (s *Store) Snapshot(ctx context.Context) (*Snapshot, error) {
	resp, err := s.cli.Get(ctx, s.Layout.root(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", s.Layout.root(), err)
	}
	snap := &Snapshot{Layout: s.Layout, Revision: resp.Header.Revision, Values: map[string]Value{}}
	for _, kv := range resp.Kvs {
		snap.Values[string(kv.Key)] = Value{Data: kv.Value, ModRevision: kv.ModRevision}
	}
	return snap, nil
}

// Watch reports, after revision rev, every change of an intent key (status
// keys are left out: agents write them). The channel closes when ctx ends.
// The etcd client resumes a broken watch from where it stopped, so changes
// made while etcd was unreachable are reported once it is back.
func (s *Store) Watch(ctx context.Context, rev int64) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			wc := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.Layout.root(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
			for resp := range wc {
				if resp.Err() != nil {
					break
				}
				for _, ev := range resp.Events {
					rev = max(rev, ev.Kv.ModRevision)
					if kind, _, _ := s.Layout.Parse(string(ev.Kv.Key)); kind == KindStatus {
						continue
					}
					select {
					case out <- ev.Kv.ModRevision:
					default: // a signal is pending already
					}
				}
			}
			select { // the watch broke (compaction, no leader): start again
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}

// Change is one write of intent: tenants to put or delete, and one host's
// part to put or delete.
type Change struct {
	PutTenants    []api.Tenant
	DeleteTenants []string
	Host          string // the host whose part changes; "" for none
	PutHost       *api.Host
	PutWorkloads  *[]api.Workload // nil: unchanged; empty: remove all
	DeleteHost    bool            // the host key, its workloads and status
}

// Apply validates the fabric as it would be after ch and writes ch in
// one transaction that fails if any key changed since it was read, in
// which case it reads and validates again. An invalid result is returned
// as *InvalidError and nothing is written. It returns the new revision.
func (s *Store) Apply(ctx context.Context, ch Change) (int64, error) {
	for attempt := 0; attempt < 5; attempt++ {
		snap, err := s.Snapshot(ctx)
		if err != nil {
			return 0, err
		}
		next, ops, err := s.stage(snap, ch)
		if err != nil {
			return 0, err
		}
		if bad := next.Validate(); len(bad) > 0 {
			return 0, &InvalidError{Hosts: bad}
		}
		if len(ops) == 0 {
			return snap.Revision, nil
		}
		// No intent key may have been written since the snapshot (status
		// keys may: agents write them all the time).
		var cmps []clientv3.Cmp
		for _, kind := range []string{KindTenant, KindHost, KindWorkload} {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.Layout.dir(kind)).WithPrefix(), "<", snap.Revision+1))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return 0, fmt.Errorf("etcd txn: %w", err)
		}
		if resp.Succeeded {
			return resp.Header.Revision, nil
		}
	}
	return 0, errors.New("etcd: the fabric intent kept changing under us; try again")
}

// Check validates the fabric as it would be after ch, writing nothing.
func (s *Store) Check(ctx context.Context, ch Change) error {
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return err
	}
	next, _, err := s.stage(snap, ch)
	if err != nil {
		return err
	}
	if bad := next.Validate(); len(bad) > 0 {
		return &InvalidError{Hosts: bad}
	}
	return nil
}

// stage computes the snapshot after ch and the etcd operations that make it.
func (s *Store) stage(snap *Snapshot, ch Change) (*Snapshot, []clientv3.Op, error) {
	next := &Snapshot{Layout: s.Layout, Revision: snap.Revision + 1, Values: maps.Clone(snap.Values)}
	var ops []clientv3.Op
	put := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if old, ok := snap.Values[key]; ok && string(old.Data) == string(b) {
			return nil
		}
		next.Values[key] = Value{Data: b, ModRevision: next.Revision}
		ops = append(ops, clientv3.OpPut(key, string(b)))
		return nil
	}
	del := func(key string) {
		if _, ok := snap.Values[key]; ok {
			delete(next.Values, key)
			ops = append(ops, clientv3.OpDelete(key))
		}
	}
	for _, t := range ch.PutTenants {
		if !api.ValidTenantName(t.Name) {
			return nil, nil, fmt.Errorf("tenant name %q is not valid", t.Name)
		}
		if err := put(s.Layout.Key(KindTenant, t.Name), t); err != nil {
			return nil, nil, err
		}
	}
	for _, name := range ch.DeleteTenants {
		key := s.Layout.Key(KindTenant, name)
		if _, ok := snap.Values[key]; !ok {
			return nil, nil, fmt.Errorf("tenant %q is not in the fabric", name)
		}
		del(key)
	}
	if ch.Host != "" {
		if !api.ValidName(ch.Host) {
			return nil, nil, fmt.Errorf("host name %q is not valid", ch.Host)
		}
		if ch.DeleteHost {
			if _, ok := snap.Values[s.Layout.Key(KindHost, ch.Host)]; !ok {
				return nil, nil, fmt.Errorf("host %q is not in the fabric", ch.Host)
			}
			for _, kind := range []string{KindHost, KindWorkload, KindStatus} {
				del(s.Layout.Key(kind, ch.Host))
			}
		}
		if ch.PutHost != nil {
			if err := put(s.Layout.Key(KindHost, ch.Host), ch.PutHost); err != nil {
				return nil, nil, err
			}
		}
		if ch.PutWorkloads != nil {
			if len(*ch.PutWorkloads) == 0 {
				del(s.Layout.Key(KindWorkload, ch.Host))
			} else if err := put(s.Layout.Key(KindWorkload, ch.Host), *ch.PutWorkloads); err != nil {
				return nil, nil, err
			}
		}
	}
	return next, ops, nil
}

// InvalidError is a change refused because the fabric would be invalid.
type InvalidError struct{ Hosts map[string]error }

func (e *InvalidError) Error() string {
	var b []byte
	for _, h := range slices.Sorted(maps.Keys(e.Hosts)) {
		b = fmt.Appendf(b, "%s:\n%v\n", h, e.Hosts[h])
	}
	return "the fabric intent would be invalid:\n" + string(b)
}

// PutStatus writes host's status.
func (s *Store) PutStatus(ctx context.Context, st Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = s.cli.Put(ctx, s.Layout.Key(KindStatus, st.Host), string(b))
	return err
}

// Statuses decodes the status keys of a snapshot, by host.
func (snap *Snapshot) Statuses() map[string]Status {
	out := map[string]Status{}
	for _, name := range snap.names(KindStatus) {
		var st Status
		if json.Unmarshal(snap.Values[snap.Layout.Key(KindStatus, name)].Data, &st) == nil {
			out[name] = st
		}
	}
	return out
}

// Package fabrictest runs a real etcd (Debian's etcd-server binary) for
// tests, listening on a unix socket only: no TCP port, and reachable from
// every network namespace of the machine (and of the test VM, whose
// filesystem is shared), so lab agents in their namespaces can use it.
package fabrictest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd is one etcd server process with its data directory.
type Etcd struct {
	// TLS, when set before Start, makes etcd serve TLS (unixs://) with
	// these files and require client certificates signed by CA.
	TLS      *TLSFiles
	Dir      string
	Endpoint string // unix://DIR/client.sock:1
	cmd      *exec.Cmd
	log      *os.File
}

// Start starts etcd in a fresh directory under dir (t.TempDir() when
// empty) and waits until it answers. It skips the test when no etcd
// binary is installed, unless EVPNHOST_REQUIRE_ETCD is set.
func Start(t testing.TB, dir string) *Etcd {
	t.Helper()
	requireEtcd(t)
	if dir == "" {
		dir = t.TempDir()
	}
	// etcd 3.4 wants unix URLs as unix://NAME:PORT and makes the socket
	// NAME:PORT in its working directory.
	e := &Etcd{Dir: dir, Endpoint: "unix://" + filepath.Join(dir, "client.sock:1")}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

// requireEtcd skips the test when no etcd binary is installed, or fails it
// when EVPNHOST_REQUIRE_ETCD is set (make test sets it: a skip would hide
// a missing dependency).
func requireEtcd(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		if os.Getenv("EVPNHOST_REQUIRE_ETCD") != "" {
			t.Fatalf("etcd not installed: %v", err)
		}
		t.Skip("etcd not installed (apt install etcd-server)")
	}
}

// StartTLS is Start with TLS and client certificates required.
func StartTLS(t testing.TB) *Etcd {
	t.Helper()
	requireEtcd(t)
	dir := t.TempDir()
	files, err := NewTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &Etcd{Dir: dir, TLS: files, Endpoint: "unixs://" + filepath.Join(dir, "client.sock:1")}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

// Start (re)starts the server on the same data directory.
func (e *Etcd) Start() error {
	peer := "unix://peer.sock:2"
	_ = os.Remove(filepath.Join(e.Dir, "peer.sock:2"))
	_ = os.Remove(filepath.Join(e.Dir, "client.sock:1"))
	log, err := os.OpenFile(filepath.Join(e.Dir, "etcd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	e.log = log
	client := "unix://client.sock:1"
	args := []string{}
	if e.TLS != nil {
		client = "unixs://client.sock:1"
		args = append(args, "--cert-file", e.TLS.ServerCert, "--key-file", e.TLS.ServerKey,
			"--trusted-ca-file", e.TLS.CA, "--client-cert-auth")
	}
	args = append(args, "--name", "test", "--data-dir", filepath.Join(e.Dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer, "--log-level", "warn", "--logger", "zap")
	e.cmd = exec.Command("etcd", args...)
	e.cmd.Stdout, e.cmd.Stderr, e.cmd.Dir = log, log, e.Dir
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	cc := clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: time.Second, Logger: zap.NewNop()}
	if e.TLS != nil {
		tc, err := e.TLS.clientConfig()
		if err != nil {
			return err
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "probe")
		cancel()
		if err == nil || strings.Contains(err.Error(), "user name is empty") || strings.Contains(err.Error(), "permission denied") {
			return nil
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(e.Dir, "etcd.log"))
			return fmt.Errorf("etcd did not answer within 60s: %v\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: as abrupt as a crash); the data stays.
func (e *Etcd) Stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Kill()
	_ = e.cmd.Wait()
	e.cmd = nil
	if e.log != nil {
		e.log.Close()
	}
}

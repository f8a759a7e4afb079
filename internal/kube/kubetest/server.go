// Package kubetest runs the real Kubernetes API machinery for tests:
// k8s.io/apiextensions-apiserver's test server (the CRD API server, with
// its schema and CEL validation, status subresources, watches and table
// printing) on a real etcd (fabrictest), behind a TCP proxy whose address
// stays the same when the server restarts, and installs evpnhost's
// generated CRDs.
package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	servertesting "k8s.io/apiextensions-apiserver/pkg/cmd/server/testing"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/vishvananda/netns"

	"github.com/evpnhost/evpnhost/internal/fabric/fabrictest"
)

// Server is a running API server and its etcd.
type Server struct {
	t      testing.TB
	Etcd   *fabrictest.Etcd
	prefix string
	dir    string

	mu      sync.Mutex
	srv     *servertesting.TestServer
	backend string // host:port of the running server, "" while down
	conns   []net.Conn
	ln      net.Listener
	creds   *creds
}

// Start starts etcd and the API server, and installs the CRDs.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, Etcd: fabrictest.Start(t, ""), dir: t.TempDir()}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s.prefix = "/k8s-" + hex.EncodeToString(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	if s.creds, err = newCreds(s.dir); err != nil {
		t.Fatal(err)
	}
	// The servers' logs go to a file, shown when the test fails.
	logf, err := os.Create(filepath.Join(s.dir, "apiserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	klog.LogToStderr(false)
	klog.SetOutput(logf)
	t.Cleanup(func() {
		klog.Flush()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			lines := strings.Split(string(b), "\n")
			t.Logf("last lines of the API servers' log:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	go s.proxy(ln)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		ln.Close()
	})
	InstallCRDs(t, s.Config())
	return s
}

// fakeKubeconfig is for the delegated authentication and authorization
// the server wants configured; it never calls it: clients authenticate
// with certificates of group system:masters, which it authorizes alone.
const fakeKubeconfig = `apiVersion: v1
kind: Config
clusters:
- cluster:
    server: http://127.1.2.3:12345
  name: none
contexts:
- context:
    cluster: none
    user: none
  name: none
current-context: none
users:
- name: none
  user:
    token: none
`

func (s *Server) start() error {
	kc := filepath.Join(s.dir, "fake-kubeconfig")
	if err := os.WriteFile(kc, []byte(fakeKubeconfig), 0o600); err != nil {
		return err
	}
	srv, err := servertesting.StartTestServer(logger{s.t}, nil, []string{
		"--etcd-prefix", s.prefix,
		"--etcd-servers", s.Etcd.Endpoint,
		"--authentication-skip-lookup",
		"--authentication-kubeconfig", kc,
		"--authorization-kubeconfig", kc,
		"--kubeconfig", kc,
		"--tls-cert-file", s.creds.ServerCert,
		"--tls-private-key-file", s.creds.ServerKey,
		"--client-ca-file", s.creds.CA,
		"--enable-priority-and-fairness=false",
		"--disable-admission-plugins", "NamespaceLifecycle,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,MutatingAdmissionPolicy",
	}, nil)
	if err != nil {
		return fmt.Errorf("start the API server: %w", err)
	}
	backend := strings.TrimPrefix(srv.ClientConfig.Host, "https://")
	s.mu.Lock()
	s.srv, s.backend = &srv, backend
	s.mu.Unlock()
	return nil
}

// Stop stops the API server (etcd keeps running); clients' connections
// through the proxy are cut.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.backend = nil, ""
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	if srv != nil {
		srv.TearDownFn()
	}
}

// Up starts the API server again after Stop, on the same etcd and at
// the same address.
func (s *Server) Up() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Restart stops the API server and starts a new one on the same etcd, at
// the same address (the proxy's).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Config is a client configuration with every right (a client
// certificate of group system:masters), through the proxy: it stays valid
// across restarts.
func (s *Server) Config() *rest.Config {
	return &rest.Config{Host: "https://" + s.ln.Addr().String(), TLSClientConfig: rest.TLSClientConfig{
		CAData: s.creds.caPEM, CertData: s.creds.clientPEM, KeyData: s.creds.clientKeyPEM}}
}

// Dynamic is a dynamic client with every right.
func (s *Server) Dynamic() dynamic.Interface {
	c, err := dynamic.NewForConfig(s.Config())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// WriteKubeconfig writes a kubeconfig file for Config and returns its
// path; server, when given, replaces the URL (ListenIn's).
func (s *Server) WriteKubeconfig(path string, server ...string) string {
	s.t.Helper()
	c := s.Config()
	if len(server) > 0 {
		c.Host = server[0]
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.TLSClientConfig.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.TLSClientConfig.CertData, ClientKeyData: c.TLSClientConfig.KeyData}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// ListenIn opens another entrance of the proxy, on 127.0.0.1 of the
// network namespace nsPath (/run/netns/NAME: a lab host's, whose agent
// cannot reach this process's loopback), and returns its URL. It closes
// with the test.
func (s *Server) ListenIn(nsPath string) string {
	s.t.Helper()
	ln, err := listenInNS(nsPath)
	if err != nil {
		s.t.Fatalf("listen in %s: %v", nsPath, err)
	}
	s.t.Cleanup(func() { ln.Close() })
	go s.proxy(ln)
	return "https://" + ln.Addr().String()
}

// listenInNS listens on 127.0.0.1 in another network namespace: the
// socket belongs to the namespace it was made in, whichever thread then
// uses it.
func listenInNS(nsPath string) (net.Listener, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if err := netns.Set(orig); err != nil {
		// This thread stays locked and dies with its goroutine: it is in
		// the wrong namespace.
		if ln != nil {
			ln.Close()
		}
		return nil, fmt.Errorf("back to the original namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ln, lerr
}

// proxy forwards every connection to the running server; while it is
// down, connections are refused (closed).
func (s *Server) proxy(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		backend := s.backend
		s.mu.Unlock()
		if backend == "" {
			c.Close()
			continue
		}
		b, err := net.DialTimeout("tcp", backend, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		s.mu.Lock()
		s.conns = append(s.conns, c, b)
		s.mu.Unlock()
		go func() { _, _ = io.Copy(b, c); b.Close() }()
		go func() { _, _ = io.Copy(c, b); c.Close() }()
	}
}

// CRDDir is contrib/kubernetes/crds of this repository.
func CRDDir() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..", "..", "..", "contrib", "kubernetes", "crds")
}

// InstallCRDs creates the generated CRDs and waits until they are served.
func InstallCRDs(t testing.TB, cfg *rest.Config) {
	t.Helper()
	cli, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(CRDDir(), "*.yaml"))
	if len(files) != 3 {
		t.Fatalf("%d CRD files in %s, want 3", len(files), CRDDir())
	}
	ctx := context.Background()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := cli.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil {
			t.Fatalf("install %s: %v", f, err)
		}
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := cli.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextv1.NamesAccepted && c.Status == apiextv1.ConditionFalse {
					return false, fmt.Errorf("CRD %s: names not accepted: %s", crd.Name, c.Message)
				}
				if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established: %v", crd.Name, err)
		}
	}
}

// logger is servertesting.Logger over testing.TB.
type logger struct{ t testing.TB }

func (l logger) Errorf(f string, a ...any) { l.t.Errorf(f, a...) }
func (l logger) Fatalf(f string, a ...any) { l.t.Fatalf(f, a...) }
func (l logger) Logf(f string, a ...any)   { l.t.Logf(f, a...) }

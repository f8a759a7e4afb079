package kubetest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vishvananda/netns"
)

// TestListenIn: a client in another network namespace (a lab host's)
// reaches the API server through ListenIn's address and the kubeconfig
// WriteKubeconfig writes for it, also after a restart. Root only (it
// makes a namespace).
func TestListenIn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (ip netns add)")
	}
	name := "kubetest-" + filepath.Base(t.TempDir())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := Start(t)
	url := s.ListenIn(filepath.Join("/run/netns", name))
	kc := s.WriteKubeconfig(filepath.Join(t.TempDir(), "kubeconfig"), url)
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	nsPath := filepath.Join("/run/netns", name)
	// Every connection is dialed from inside the namespace.
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		defer orig.Close()
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			return nil, err
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			return nil, err
		}
		c, derr := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err := netns.Set(orig); err != nil {
			panic(err) // the thread is in the wrong namespace
		}
		return c, derr
	}
	list := func(cfg *rest.Config) error {
		c, err := dynamic.NewForConfig(rest.CopyConfig(cfg))
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = c.Resource(schema.GroupVersionResource{Group: "evpnhost.io", Version: "v1alpha1", Resource: "tenants"}).List(ctx, metav1.ListOptions{})
		return err
	}
	// The address is the namespace's: from the test's own it is not
	// there (or something else).
	outside, _ := clientcmd.BuildConfigFromFlags("", kc)
	if err := list(outside); err == nil {
		t.Fatalf("%s answered outside the namespace", url)
	}
	if err := list(cfg); err != nil {
		t.Fatalf("list from the namespace: %v", err)
	}
	s.Restart()
	if err := list(cfg); err != nil {
		t.Fatalf("list from the namespace after a restart: %v", err)
	}
}

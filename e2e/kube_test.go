package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/evpnhost/evpnhost/internal/kube"
	v1 "github.com/evpnhost/evpnhost/internal/kube/apis/v1alpha1"
	"github.com/evpnhost/evpnhost/internal/kube/kubetest"
)

// kubeLab is the lab's three hosts run by agents from the Kubernetes API
// (the real CRD API server on a real etcd, kubetest).
type kubeLab struct {
	t      *testing.T
	srv    *kubetest.Server
	c      dynamic.Interface
	logDir string
	agents map[string]int
}

func kubeGVR(kind string) schema.GroupVersionResource {
	switch kind {
	case kube.KindTenant:
		return v1.TenantsResource
	case kube.KindNetwork:
		return v1.NetworksResource
	}
	return v1.HostUnderlaysResource
}

func (k *kubeLab) create(kind string, o any) {
	k.t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		k.t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(v1.SchemeGroupVersion.String())
	u.SetKind(kind)
	delete(u.Object, "status")
	if _, err := k.c.Resource(kubeGVR(kind)).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		k.t.Fatalf("create %s %s: %v", kind, u.GetName(), err)
	}
}

// setWorkloads replaces host's static workloads.
func (k *kubeLab) setWorkloads(host string, ws []v1.Workload) {
	k.t.Helper()
	// A merge patch: null (no workloads) removes the field.
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"workloads": ws}})
	if _, err := k.c.Resource(v1.HostUnderlaysResource).Patch(context.Background(), host, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		k.t.Fatalf("patch %s's workloads: %v", host, err)
	}
}

func (k *kubeLab) hostStatus(host string) (v1.HostUnderlay, error) {
	var h v1.HostUnderlay
	u, err := k.c.Resource(v1.HostUnderlaysResource).Get(context.Background(), host, metav1.GetOptions{})
	if err != nil {
		return h, err
	}
	err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &h)
	return h, err
}

// converged waits until every host's HostUnderlay says Converged.
func (k *kubeLab) converged(within time.Duration) time.Duration {
	k.t.Helper()
	return eventually(k.t, within, "all hosts converged (HostUnderlay status)", func() error {
		for _, h := range []string{"h1", "h2", "h3"} {
			st, err := k.hostStatus(h)
			if err != nil {
				return err
			}
			var c metav1.Condition
			for _, x := range st.Status.Conditions {
				if x.Type == v1.ConditionConverged {
					c = x
				}
			}
			if c.Status != metav1.ConditionTrue {
				return fmt.Errorf("%s: Converged %s %s: %s (errors %+v)", h, c.Status, c.Reason, c.Message, st.Status.Errors)
			}
		}
		return nil
	})
}

func (k *kubeLab) startAgent(host string) {
	k.t.Helper()
	url := k.srv.ListenIn(filepath.Join("/run/netns", host))
	kc := k.srv.WriteKubeconfig(filepath.Join(k.logDir, host+".kubeconfig"), url)
	restart := fmt.Sprintf("'%s frr-restart %s'", filepath.Join(repo, "lab", "lab.sh"), host)
	cmd := fmt.Sprintf("%s agent --kubeconfig %s --host %s --frr-instance %s --resync 30s --frr-restart-cmd %s >> %s 2>&1 & echo $!",
		evpnhostBin(), kc, host, host, restart, filepath.Join(k.logDir, host+".log"))
	pid, err := strconv.Atoi(strings.TrimSpace(inNS(k.t, host, "sh", "-c", cmd)))
	if err != nil {
		k.t.Fatal(err)
	}
	k.agents[host] = pid
}

// TestKubeAgents runs every lab host's agent against the Kubernetes API
// (evpnhost agent --kubeconfig, the real CRD API server on a real etcd),
// with the lab intents as Tenant, Network and HostUnderlay objects, as
// TestFabricAgents does against etcd: the hosts converge (their
// HostUnderlay status says so) and the lab works; a Network created with
// the API, and workloads on it on two hosts, reach each other across
// hosts; deleting them leaves no trace on any host (no VXLAN device, no
// SVI, no VNI in FRR).
func TestKubeAgents(t *testing.T) {
	k := &kubeLab{t: t, srv: kubetest.Start(t), logDir: t.TempDir(), agents: map[string]int{}}
	k.c = k.srv.Dynamic()
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range []string{"h1", "h2", "h3"} {
				b, _ := os.ReadFile(filepath.Join(k.logDir, h+".log"))
				t.Logf("agent %s log (last lines):\n%s", h, lastLinesOf(string(b), 40))
			}
		}
		for _, pid := range k.agents {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		for _, h := range []string{"h1", "h2", "h3"} {
			restoreIntent(t, h)
		}
	})
	// The lab intents as objects: the tenants and networks (the same in
	// every host's file) once, each host's underlay and workloads.
	var shared kube.Objects
	for i, h := range []string{"h1", "h2", "h3"} {
		objs := kube.FromIntent(labIntent(t, h))
		if i == 0 {
			shared = objs
			for j := range objs.Tenants {
				k.create(kube.KindTenant, &objs.Tenants[j])
			}
			for j := range objs.Networks {
				k.create(kube.KindNetwork, &objs.Networks[j])
			}
		} else if !reflect.DeepEqual(objs.Tenants, shared.Tenants) || !reflect.DeepEqual(objs.Networks, shared.Networks) {
			t.Fatalf("%s's intent file has other tenants or networks than h1's", h)
		}
		k.create(kube.KindHostUnderlay, objs.Host)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		k.startAgent(h)
	}
	took := k.converged(3 * time.Minute)
	t.Logf("3 agents converged on the Kubernetes intent %s after start", took.Round(time.Millisecond))
	// What the start cost (TestFabricAgents converges in about 15 s on
	// etcd; here it took 1m44s in the first VM run): each agent's load,
	// apply and status lines until now.
	for _, h := range []string{"h1", "h2", "h3"} {
		b, _ := os.ReadFile(filepath.Join(k.logDir, h+".log"))
		var ls []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "op=load") || strings.Contains(l, "op=apply") || strings.Contains(l, "op=status") || strings.Contains(l, "level=ERROR") {
				ls = append(ls, l)
			}
		}
		t.Logf("%s's agent, load/apply/status lines:\n%s", h, lastLinesOf(strings.Join(ls, "\n"), 15))
	}
	mustPing(t, "rweb1", "10.1.10.12")

	// A network created with the API, with a workload on h1 and one on h3.
	addWorkloadNS(t, "h1", "db1", "02:00:00:01:50:11", "10.1.50.11/24", "10.1.50.1")
	addWorkloadNS(t, "h3", "db3", "02:00:00:01:50:13", "10.1.50.13/24", "10.1.50.1")
	orig := map[string][]v1.Workload{}
	for _, h := range []string{"h1", "h3"} {
		hu, err := k.hostStatus(h)
		if err != nil {
			t.Fatal(err)
		}
		orig[h] = hu.Spec.Workloads
	}
	start := time.Now()
	k.create(kube.KindNetwork, &v1.Network{ObjectMeta: metav1.ObjectMeta{Name: "blue.db"}, Spec: v1.NetworkSpec{Tenant: "blue", VNI: 50, VLAN: 50, Gateways: []string{"10.1.50.1/24"}}})
	k.setWorkloads("h1", append(append([]v1.Workload{}, orig["h1"]...), v1.Workload{Name: "db1", Network: "blue/db", Interface: "db1", MAC: "02:00:00:01:50:11", IPs: []string{"10.1.50.11"}}))
	k.setWorkloads("h3", append(append([]v1.Workload{}, orig["h3"]...), v1.Workload{Name: "db3", Network: "blue/db", Interface: "db3", MAC: "02:00:00:01:50:13", IPs: []string{"10.1.50.13"}}))
	eventually(t, time.Minute, "db1 reaches db3 across hosts", func() error {
		if out, ok := pingOnce("db1", "10.1.50.13"); !ok {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	t.Logf("Network blue.db created with the API: workloads on it reachable across hosts %s after the create", time.Since(start).Round(time.Millisecond))
	mustPing(t, "db3", "10.1.50.11")
	k.converged(time.Minute)

	// Deleted again (the workloads first: a network in use cannot go).
	start = time.Now()
	k.setWorkloads("h1", orig["h1"])
	k.setWorkloads("h3", orig["h3"])
	if err := k.c.Resource(v1.NetworksResource).Delete(context.Background(), "blue.db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "blue.db gone from every host", func() error {
		for _, h := range []string{"h1", "h2", "h3"} {
			if out, err := run("ip", "-n", h, "link", "show", "vx50"); err == nil {
				return fmt.Errorf("%s still has vx50: %s", h, out)
			}
			if out, err := run("ip", "-n", h, "link", "show", "vlan50"); err == nil {
				return fmt.Errorf("%s still has vlan50: %s", h, out)
			}
			var vnis map[string]any
			vtyshJSON(t, h, "show evpn vni json", &vnis)
			if _, ok := vnis["50"]; ok {
				return fmt.Errorf("%s: FRR still knows VNI 50", h)
			}
		}
		return nil
	})
	t.Logf("Network blue.db deleted with the API: gone from all 3 hosts %s after the delete", time.Since(start).Round(time.Millisecond))
	k.converged(time.Minute)
	mustPing(t, "rweb1", "10.1.10.12")
	for _, h := range []string{"h1", "h2", "h3"} {
		st, _ := k.hostStatus(h)
		t.Logf("%s: source %s, applied revision %d, generations %v, errors %d", h, st.Status.Source, st.Status.AppliedRevision, st.Status.AppliedGenerations, st.Status.ErrorCount)
	}
}

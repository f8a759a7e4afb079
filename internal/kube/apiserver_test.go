package kube_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/agent"
	"github.com/evpnhost/evpnhost/internal/kube"
	v1 "github.com/evpnhost/evpnhost/internal/kube/apis/v1alpha1"
	"github.com/evpnhost/evpnhost/internal/kube/kubetest"
	"github.com/evpnhost/evpnhost/internal/reconcile"
)

func toU(t *testing.T, o any) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func resourceOf(kind string) schema.GroupVersionResource {
	switch kind {
	case kube.KindTenant:
		return v1.TenantsResource
	case kube.KindNetwork:
		return v1.NetworksResource
	}
	return v1.HostUnderlaysResource
}

func create(t *testing.T, c dynamic.Interface, kind string, o any) error {
	t.Helper()
	u := toU(t, o)
	u.SetAPIVersion(v1.SchemeGroupVersion.String())
	u.SetKind(kind)
	_, err := c.Resource(resourceOf(kind)).Create(context.Background(), u, metav1.CreateOptions{})
	return err
}

func mustCreate(t *testing.T, c dynamic.Interface, kind string, o any) {
	t.Helper()
	if err := create(t, c, kind, o); err != nil {
		t.Fatalf("create %s: %v", kind, err)
	}
}

// createAll creates the objects of an intent.
func createAll(t *testing.T, c dynamic.Interface, objs kube.Objects) {
	t.Helper()
	mustCreate(t, c, kube.KindHostUnderlay, objs.Host)
	for i := range objs.Tenants {
		mustCreate(t, c, kube.KindTenant, &objs.Tenants[i])
	}
	for i := range objs.Networks {
		mustCreate(t, c, kube.KindNetwork, &objs.Networks[i])
	}
}

func net(name, tenant string, vni, vlan int32, gw ...string) *v1.Network {
	return &v1.Network{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.NetworkSpec{Tenant: tenant, VNI: vni, VLAN: vlan, Gateways: gw}}
}

// TestAPIServerSchema: the CRDs' schema and CEL rules refuse, in the API
// server, what they can decide about one object, with a message naming
// the field.
func TestAPIServerSchema(t *testing.T) {
	s := kubetest.Start(t)
	c := s.Dynamic()
	mustCreate(t, c, kube.KindTenant, &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "red"}, Spec: v1.TenantSpec{L3VNI: 1000}})
	mustCreate(t, c, kube.KindNetwork, net("red.web", "red", 10, 10, "10.1.10.1/24", "fd00:10::1/64"))
	mcast := net("red.mc", "red", 11, 11)
	mcast.Spec.Replication = &v1.Replication{Mode: "multicast", Group: "239.1.1.1"}
	mustCreate(t, c, kube.KindNetwork, mcast)
	mustCreate(t, c, kube.KindHostUnderlay, &v1.HostUnderlay{ObjectMeta: metav1.ObjectMeta{Name: "h1"}, Spec: v1.HostUnderlaySpec{ASN: 4200000001, VTEP: "10.0.0.1", Uplinks: []string{"eth0"}}})

	host := func(mut func(*v1.HostUnderlaySpec)) *v1.HostUnderlay {
		h := &v1.HostUnderlay{ObjectMeta: metav1.ObjectMeta{Name: "h2"}, Spec: v1.HostUnderlaySpec{ASN: 65102, VTEP: "10.0.0.2", Uplinks: []string{"eth0"}}}
		mut(&h.Spec)
		return h
	}
	for _, tc := range []struct {
		name string
		kind string
		obj  any
		want string
	}{
		{"tenant name too long", kube.KindTenant, &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "a-very-long-tenant"}, Spec: v1.TenantSpec{L3VNI: 1}}, "its VRF's name: 1-15 characters"},
		{"tenant L3VNI 0", kube.KindTenant, &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "blue"}}, "spec.l3vni"},
		{"tenant L3VNI over 24 bits", kube.KindTenant, &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "blue"}, Spec: v1.TenantSpec{L3VNI: 1 << 24}}, "spec.l3vni: Invalid value: 16777216"},
		{"policy action", kube.KindTenant, &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "blue"}, Spec: v1.TenantSpec{L3VNI: 5, Policy: &v1.Policy{Rules: []v1.Rule{{From: "a/b", To: "a/c", Action: "drop"}}}}}, `spec.policy.rules[0].action: Unsupported value: "drop"`},
		{"network without a dot", kube.KindNetwork, net("web", "red", 12, 12), "a network's name is TENANT.NETWORK"},
		{"network of another tenant's name", kube.KindNetwork, net("blue.web", "red", 12, 12), "it must start with spec.tenant and a dot"},
		{"network VLAN 4095", kube.KindNetwork, net("red.db", "red", 12, 4095), "spec.vlan: Invalid value: 4095"},
		{"gateway without prefix", kube.KindNetwork, net("red.db", "red", 12, 12, "10.1.12.1"), "every gateway is an address with its prefix length"},
		{"multicast without group", kube.KindNetwork, func() *v1.Network {
			n := net("red.db", "red", 12, 12)
			n.Spec.Replication = &v1.Replication{Mode: "multicast"}
			return n
		}(), "group is required with mode multicast"},
		{"bad anycast MAC", kube.KindNetwork, func() *v1.Network {
			n := net("red.db", "red", 12, 12)
			n.Spec.AnycastMAC = "00:00:5e:00:01"
			return n
		}(), "spec.anycastMAC"},
		{"ASN 23456", kube.KindHostUnderlay, host(func(s *v1.HostUnderlaySpec) { s.ASN = 23456 }), "23456 is reserved (AS_TRANS)"},
		{"VTEP not IPv4", kube.KindHostUnderlay, host(func(s *v1.HostUnderlaySpec) { s.VTEP = "fd00::1" }), `spec.vtep: Invalid value: "fd00::1": an IPv4 address`},
		{"no uplinks", kube.KindHostUnderlay, host(func(s *v1.HostUnderlaySpec) { s.Uplinks = nil }), "spec.uplinks"},
		{"vxlanDevice", kube.KindHostUnderlay, host(func(s *v1.HostUnderlaySpec) { s.VXLANDevice = "one" }), `spec.vxlanDevice: Unsupported value: "one"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := create(t, c, tc.kind, tc.obj)
			if err == nil {
				t.Fatalf("the API server accepted it")
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want Invalid with %q", err, tc.want)
			}
		})
	}
	t.Run("network cannot change tenant", func(t *testing.T) {
		mustCreate(t, c, kube.KindTenant, &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "blue"}, Spec: v1.TenantSpec{L3VNI: 2000}})
		u, err := c.Resource(v1.NetworksResource).Get(context.Background(), "red.web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(u.Object, "blue", "spec", "tenant")
		_, err = c.Resource(v1.NetworksResource).Update(context.Background(), u, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), "a network cannot move to another tenant") {
			t.Fatalf("got %v", err)
		}
	})
}

// recorder is the agent's Applier: it records the intents it was given
// (the dataplane is the lab tests' business).
type recorder struct {
	mu      sync.Mutex
	applied []*api.Intent
}

func (r *recorder) Apply(_ context.Context, in *api.Intent) (reconcile.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, in)
	return reconcile.Result{}, nil
}

func (r *recorder) last() *api.Intent {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		return nil
	}
	return r.applied[len(r.applied)-1]
}

func getHost(t *testing.T, c dynamic.Interface, name string) (*v1.HostUnderlay, error) {
	u, err := c.Resource(v1.HostUnderlaysResource).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var h v1.HostUnderlay
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &h); err != nil {
		t.Fatal(err)
	}
	return &h, nil
}

func cond(h *v1.HostUnderlay, typ string) metav1.Condition {
	for _, c := range h.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// eventually polls f (every 50 ms, up to 30 s) until it returns "".
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if last = f(); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within 30s: %s", what, last)
}

// TestAPIServerAgent runs the agent loop (internal/agent) on the
// Kubernetes source against the real API server: it composes the node's
// intent as the etcd source does, writes its status (conditions, applied
// generations, per-object errors), keeps the last good intent when an
// object is invalid, and picks up changes made after the API server
// restarted (its informers list and watch again). The table the API
// server prints (kubectl get hostunderlays) shows the convergence.
func TestAPIServerAgent(t *testing.T) {
	s := kubetest.Start(t)
	c := s.Dynamic()
	b, err := os.ReadFile("../../api/testdata/valid/two-tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := api.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	createAll(t, c, kube.FromIntent(want))
	host := want.Host.Name

	// The kubeconfig path, as evpnhost agent --kubeconfig reads it.
	cfg, err := kube.Config(s.WriteKubeconfig(t.TempDir() + "/kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := kube.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	rec := &recorder{}
	startAgent := func(rec *recorder) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		src := &kube.Source{Client: cli, Host: host, Timeout: 2 * time.Second}
		src.Start(ctx)
		a := &agent.Agent{Source: src, Reporter: src, Applier: rec, StateDir: stateDir, Host: host, Version: "test",
			Debounce: 10 * time.Millisecond, Resync: time.Hour, Retry: 200 * time.Millisecond}
		done := make(chan error)
		go func() { done <- a.Run(ctx) }()
		var once sync.Once
		stop = func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(stop)
		return stop
	}
	stop := startAgent(rec)

	converged := func(what string, check func(*api.Intent) string) {
		t.Helper()
		eventually(t, what, func() string {
			in := rec.last()
			if in == nil {
				return "nothing applied"
			}
			if msg := check(in); msg != "" {
				return msg
			}
			h, err := getHost(t, c, host)
			if err != nil {
				return err.Error()
			}
			if cv := cond(h, v1.ConditionConverged); cv.Status != metav1.ConditionTrue {
				return "Converged: " + string(cv.Status) + " " + cv.Reason + ": " + cv.Message
			}
			return ""
		})
	}
	converged("the first intent", func(in *api.Intent) string {
		if !reflect.DeepEqual(in, sortIntent(want)) {
			return "applied intent differs from two-tenants.yaml"
		}
		return ""
	})
	h, _ := getHost(t, c, host)
	if cond(h, v1.ConditionReady).Status != metav1.ConditionTrue || cond(h, v1.ConditionDegraded).Status != metav1.ConditionFalse {
		t.Errorf("conditions %+v", h.Status.Conditions)
	}
	if h.Status.ObservedGeneration != h.Generation || h.Status.AppliedRevision <= 0 || h.Status.AppliedGenerations["Network/red.web"] != 1 || h.Status.Source != kube.SourceName || h.Status.AppliedIntent == "" || h.Status.ErrorCount != 0 {
		t.Errorf("status %+v", h.Status)
	}
	table(t, s.Config(), map[string]string{"NAME": host, "READY": "True", "CONVERGED": "True", "REASON": v1.ReasonApplied, "ERRORS": "0", "VTEP": want.Host.VTEP})

	// A new network is applied.
	mustCreate(t, c, kube.KindNetwork, net("red.db", "red", 30, 30, "10.1.30.1/24"))
	hasNet := func(name string) func(in *api.Intent) string {
		return func(in *api.Intent) string {
			for _, tn := range in.Tenants {
				for _, n := range tn.Networks {
					if tn.Name+"/"+n.Name == name {
						return ""
					}
				}
			}
			return "no network " + name + " in the applied intent"
		}
	}
	converged("a new network", hasNet("red/db"))

	// An invalid object (a VNI another network has: no single object's
	// schema can see it) is refused; the host keeps the last good intent
	// and the status names the object.
	n := rec.count()
	mustCreate(t, c, kube.KindNetwork, net("blue.dup", "blue", 30, 31, "10.2.31.1/24"))
	eventually(t, "the invalid network reported", func() string {
		h, err := getHost(t, c, host)
		if err != nil {
			return err.Error()
		}
		cv, dg := cond(h, v1.ConditionConverged), cond(h, v1.ConditionDegraded)
		if cv.Status != metav1.ConditionFalse || cv.Reason != v1.ReasonInvalidIntent || dg.Status != metav1.ConditionTrue {
			return "conditions " + cv.Reason + "/" + dg.Reason
		}
		for _, e := range h.Status.Errors {
			if strings.HasPrefix(e.Object, "Network/") && strings.Contains(e.Object+e.Error, "blue.dup") && strings.Contains(e.Error, "30 is already used by Network/") {
				return ""
			}
		}
		return "errors " + jsonOf(h.Status.Errors)
	})
	for _, in := range rec.since(n) {
		if hasNet("blue/dup")(in) == "" {
			t.Fatalf("the invalid intent was applied")
		}
	}
	if h, _ := getHost(t, c, host); h.Status.Source != "cache" {
		t.Errorf("source %q while the intent is invalid, want cache", h.Status.Source)
	}
	table(t, s.Config(), map[string]string{"NAME": host, "CONVERGED": "False", "REASON": v1.ReasonInvalidIntent, "ERRORS": "1"})
	if err := c.Resource(v1.NetworksResource).Delete(context.Background(), "blue.dup", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	converged("after the invalid network is deleted", hasNet("red/db"))

	// The API server restarts (same etcd, same address); a change made
	// after it is applied: the informers watch again.
	s.Restart()
	c = s.Dynamic()
	mustCreate(t, c, kube.KindNetwork, net("blue.db", "blue", 40, 40, "10.2.40.1/24"))
	converged("a network created after the API server restarted", hasNet("blue/db"))
	// A deleted network leaves the intent.
	if err := c.Resource(v1.NetworksResource).Delete(context.Background(), "red.db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	converged("a deleted network", func(in *api.Intent) string {
		if hasNet("red/db")(in) == "" {
			return "red/db is still applied"
		}
		return ""
	})
	table(t, s.Config(), map[string]string{"NAME": host, "READY": "True", "CONVERGED": "True", "ERRORS": "0"})

	// An agent that starts while the API server is down applies the last
	// good intent kept in its state directory, and the API's once it is
	// back.
	stop()
	lastGood := rec.last()
	s.Stop()
	rec2 := &recorder{}
	startAgent(rec2)
	eventually(t, "the last good intent applied while the API is down", func() string {
		if in := rec2.last(); in == nil || !reflect.DeepEqual(in, lastGood) {
			return "not applied yet"
		}
		return ""
	})
	s.Up()
	c = s.Dynamic()
	mustCreate(t, c, kube.KindNetwork, net("blue.app", "blue", 60, 60, "10.2.60.1/24"))
	rec = rec2
	converged("a network created once the API server is back", hasNet("blue/app"))
	if h, _ := getHost(t, c, host); h.Status.Source != kube.SourceName {
		t.Errorf("source %q, want %s", h.Status.Source, kube.SourceName)
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

func (r *recorder) since(n int) []*api.Intent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*api.Intent(nil), r.applied[n:]...)
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// table asks the API server for the hostunderlays table, as kubectl get
// does, and checks the row of want["NAME"].
func table(t *testing.T, cfg *rest.Config, want map[string]string) {
	t.Helper()
	cfg.GroupVersion = &v1.SchemeGroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(runtime.NewScheme()).WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rc.Get().Resource("hostunderlays").SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var tb metav1.Table
	if err := json.Unmarshal(b, &tb); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range tb.ColumnDefinitions {
		cols = append(cols, strings.ToUpper(c.Name))
	}
	var lines []string
	lines = append(lines, strings.Join(cols, "\t"))
	for _, r := range tb.Rows {
		var cells []string
		row := map[string]string{}
		for i, c := range r.Cells {
			v := jsonCell(c)
			cells = append(cells, v)
			if i < len(cols) {
				row[cols[i]] = v
			}
		}
		lines = append(lines, strings.Join(cells, "\t"))
		if row["NAME"] != want["NAME"] {
			continue
		}
		for k, w := range want {
			if row[k] != w {
				t.Errorf("table column %s = %q, want %q\n%s", k, row[k], w, strings.Join(lines, "\n"))
			}
		}
		t.Logf("kubectl get hostunderlays:\n%s", strings.Join(lines, "\n"))
		return
	}
	t.Errorf("no row %s in\n%s", want["NAME"], strings.Join(lines, "\n"))
}

func jsonCell(c any) string {
	switch v := c.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return "<none>"
	}
	return jsonOf(c)
}

// sortIntent orders tenants and networks by name, as the Kubernetes (and
// the etcd) source composes them.
func sortIntent(in *api.Intent) *api.Intent {
	slices.SortFunc(in.Tenants, func(a, b api.Tenant) int { return strings.Compare(a.Name, b.Name) })
	for i := range in.Tenants {
		slices.SortFunc(in.Tenants[i].Networks, func(a, b api.Network) int { return strings.Compare(a.Name, b.Name) })
	}
	return in
}

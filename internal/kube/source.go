package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/agent"
	"github.com/evpnhost/evpnhost/internal/fabric"
	v1 "github.com/evpnhost/evpnhost/internal/kube/apis/v1alpha1"
)

// SourceName is the Loaded.Source and status source of the Kubernetes
// intent.
const SourceName = "kubernetes"

// Source is a node's part of the fabric intent in the Kubernetes API: every
// Tenant and Network, and the node's HostUnderlay, followed with client-go
// informers (list, then watch; after a broken watch or an API server
// restart they list and watch again by themselves, with backoff). It is the
// agent's Source and, writing the HostUnderlay's status subresource, its
// Reporter.
//
// While the API is unreachable, Load answers from the informers' caches
// (the objects as last seen); before they first synced it fails, and the
// agent keeps its last good intent.
type Source struct {
	Client dynamic.Interface
	Host   string
	// Resync is the informers' resync period (0: none; the agent resyncs
	// by itself).
	Resync time.Duration
	// Timeout bounds Load's wait for the first sync and each status write;
	// default 3s.
	Timeout time.Duration

	mu       sync.Mutex
	started  bool
	tenants  cache.SharedIndexInformer
	networks cache.SharedIndexInformer
	hosts    cache.SharedIndexInformer
	changes  chan struct{}
	watchErr error // the last list/watch failure, nil after a success

	current composition           // the last Load
	applied map[int64]composition // by revision, the recent Loads that succeeded
}

// composition is what a Load saw.
type composition struct {
	rev  int64
	gens map[string]int64
	sum  [32]byte
	err  error
}

// Name implements agent.Source.
func (s *Source) Name() string { return "kubernetes " + ObjectName(KindHostUnderlay, s.Host) }

// Start starts the informers; they stop with ctx.
func (s *Source) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	s.changes = make(chan struct{}, 1)
	s.applied = map[int64]composition{}
	s.tenants = s.informer(v1.TenantsResource, "")
	s.networks = s.informer(v1.NetworksResource, "")
	// Only this node's HostUnderlay: RBAC may then grant a node its own
	// object only (resourceNames).
	s.hosts = s.informer(v1.HostUnderlaysResource, fields.OneTermEqualSelector("metadata.name", s.Host).String())
	for _, inf := range []cache.SharedIndexInformer{s.tenants, s.networks, s.hosts} {
		_ = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			s.mu.Lock()
			s.watchErr = err
			s.mu.Unlock()
		})
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { s.signal() },
			DeleteFunc: func(any) { s.signal() },
			UpdateFunc: func(old, cur any) {
				// Status writes (ours) change neither the generation nor
				// the deletion mark: no reconcile for them.
				o, ok1 := old.(metav1.Object)
				n, ok2 := cur.(metav1.Object)
				if !ok1 || !ok2 || o.GetGeneration() != n.GetGeneration() ||
					(o.GetDeletionTimestamp() == nil) != (n.GetDeletionTimestamp() == nil) {
					s.signal()
				}
			},
		})
	}
	for _, inf := range []cache.SharedIndexInformer{s.tenants, s.networks, s.hosts} {
		go inf.RunWithContext(ctx)
	}
}

// informer is a shared informer of one resource over the dynamic client
// (client-go's dynamicinformer would link every built-in API group into
// the binary).
func (s *Source) informer(gvr schema.GroupVersionResource, fieldSelector string) cache.SharedIndexInformer {
	r := s.Client.Resource(gvr)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = fieldSelector
			return r.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = fieldSelector
			return r.Watch(ctx, o)
		},
	}
	return cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, s.Resync, cache.Indexers{})
}

func (s *Source) signal() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
	s.mu.Lock()
	s.watchErr = nil
	s.mu.Unlock()
}

// Changes implements agent.Source: an informer event (an object added,
// deleted, or its spec changed).
func (s *Source) Changes(ctx context.Context) <-chan struct{} {
	s.Start(ctx)
	return s.changes
}

// Load implements agent.Source. Revision is the highest resourceVersion
// among the node's inputs (the API server's etcd revision, in practice).
func (s *Source) Load(ctx context.Context) (agent.Loaded, error) {
	s.Start(context.Background()) // no-op once started (Start or Changes)
	l := agent.Loaded{Source: SourceName}
	wctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), s.tenants.HasSynced, s.networks.HasSynced, s.hosts.HasSynced) {
		s.mu.Lock()
		werr := s.watchErr
		s.mu.Unlock()
		err := errors.New("the Kubernetes API has not answered yet (informers not synced)")
		if werr != nil {
			err = fmt.Errorf("the Kubernetes API has not answered yet: %w", werr)
		}
		s.setCurrent(composition{err: err})
		return l, err
	}
	objs, rev, problems := s.snapshot()
	c, err := Compose(s.Host, objs)
	if len(problems) > 0 {
		err = &api.ValidationError{Problems: problems}
	}
	l.Revision = rev
	comp := composition{rev: rev, gens: c.Generations, err: err}
	if err != nil {
		s.setCurrent(comp)
		return l, err
	}
	b, _ := json.Marshal(c.Intent)
	l.Intent, l.Sum = c.Intent, sha256.Sum256(b)
	comp.sum = l.Sum
	s.setCurrent(comp)
	return l, nil
}

func (s *Source) setCurrent(c composition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = c
	if c.err == nil && c.rev > 0 {
		s.applied[c.rev] = c
		for r := range s.applied {
			if len(s.applied) <= 16 {
				break
			}
			if r != c.rev {
				delete(s.applied, r)
			}
		}
	}
}

func (s *Source) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 3 * time.Second
}

// snapshot converts the caches' objects; one that does not convert is a
// problem named by it.
func (s *Source) snapshot() (Objects, int64, []api.FieldError) {
	var objs Objects
	var rev int64
	var problems []api.FieldError
	conv := func(kind string, o any, into any) bool {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			problems = append(problems, api.FieldError{Path: kind, Msg: fmt.Sprintf("unexpected object %T in the cache", o)})
			return false
		}
		if r, err := strconv.ParseInt(u.GetResourceVersion(), 10, 64); err == nil {
			rev = max(rev, r)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
			problems = append(problems, api.FieldError{Path: ObjectName(kind, u.GetName()), Msg: err.Error()})
			return false
		}
		return true
	}
	for _, o := range s.tenants.GetStore().List() {
		var t v1.Tenant
		if conv(KindTenant, o, &t) {
			objs.Tenants = append(objs.Tenants, t)
		}
	}
	for _, o := range s.networks.GetStore().List() {
		var n v1.Network
		if conv(KindNetwork, o, &n) {
			objs.Networks = append(objs.Networks, n)
		}
	}
	for _, o := range s.hosts.GetStore().List() {
		var h v1.HostUnderlay
		if conv(KindHostUnderlay, o, &h) && h.Name == s.Host {
			objs.Host = &h
		}
	}
	return objs, rev, problems
}

// maxMessage bounds a condition's message (the API allows 32768).
const maxMessage = 2048

// PutStatus implements agent.Reporter: st, with conditions, becomes the
// status subresource of the node's HostUnderlay (one JSON patch replacing
// the whole status: no read-modify-write, no conflict).
func (s *Source) PutStatus(ctx context.Context, st fabric.Status) error {
	s.mu.Lock()
	cur := s.current
	ap, haveApplied := s.applied[st.AppliedRevision]
	s.mu.Unlock()
	var old []metav1.Condition
	if s.hosts != nil {
		if o, ok, _ := s.hosts.GetStore().GetByKey(s.Host); ok {
			if u, ok := o.(*unstructured.Unstructured); ok {
				var h v1.HostUnderlay
				if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &h) == nil {
					old = h.Status.Conditions
				}
			}
		}
	}
	upToDate := haveApplied && cur.err == nil && ap.sum == cur.sum && st.Source == SourceName
	status := BuildStatus(st, ap.gens[ObjectName(KindHostUnderlay, s.Host)], upToDate, cur.rev, cur.err, old)
	if haveApplied {
		status.AppliedGenerations = ap.gens
		status.ObservedGeneration = ap.gens[ObjectName(KindHostUnderlay, s.Host)]
		status.AppliedIntent = hex.EncodeToString(ap.sum[:8])
	}
	patch, err := json.Marshal([]map[string]any{{"op": "add", "path": "/status", "value": status}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	_, err = s.Client.Resource(v1.HostUnderlaysResource).Patch(ctx, s.Host, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: "evpnhost-agent"}, "status")
	return err
}

// BuildStatus is the HostUnderlay status of an agent status st: gen is
// the HostUnderlay's generation in the applied intent, upToDate whether
// that intent is the current composition (the last Load's), wantRev and
// wantErr that composition's revision and error, old the conditions
// written before (their transition times are kept when their status did
// not change).
func BuildStatus(st fabric.Status, gen int64, upToDate bool, wantRev int64, wantErr error, old []metav1.Condition) v1.HostUnderlayStatus {
	out := v1.HostUnderlayStatus{Source: st.Source, Agent: st.Agent, ErrorCount: int32(len(st.Errors)), AppliedRevision: st.AppliedRevision}
	if !st.LastSuccess.IsZero() {
		t := metav1.NewTime(st.LastSuccess)
		out.LastSuccess = &t
	}
	if !st.LastAttempt.IsZero() {
		t := metav1.NewTime(st.LastAttempt)
		out.LastAttempt = &t
	}
	for _, e := range st.Errors {
		out.Errors = append(out.Errors, v1.ObjectError{Object: e.Object, Error: e.Error})
	}
	conds := append([]metav1.Condition(nil), old...)
	set := func(typ string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		if len(msg) > maxMessage {
			msg = msg[:maxMessage] + "..."
		}
		meta.SetStatusCondition(&conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	set(v1.ConditionReady, true, v1.ReasonAgentRunning, "the agent runs and reaches the API server: "+st.Agent)
	var ve *api.ValidationError
	first := ""
	if len(st.Errors) > 0 {
		first = st.Errors[0].Object + ": " + st.Errors[0].Error
		if len(st.Errors) > 1 {
			first += fmt.Sprintf(" (and %d more in status.errors)", len(st.Errors)-1)
		}
	}
	switch {
	case wantErr != nil && errors.As(wantErr, &ve):
		set(v1.ConditionConverged, false, v1.ReasonInvalidIntent, "the intent is refused, the host keeps the last good one: "+first)
		set(v1.ConditionDegraded, true, v1.ReasonInvalidIntent, first)
	case wantErr != nil:
		set(v1.ConditionConverged, false, v1.ReasonUnreachable, wantErr.Error())
		set(v1.ConditionDegraded, true, v1.ReasonUnreachable, wantErr.Error())
	case len(st.Errors) > 0:
		set(v1.ConditionConverged, false, v1.ReasonApplyFailed, first)
		set(v1.ConditionDegraded, true, v1.ReasonApplyFailed, first)
	case !upToDate:
		set(v1.ConditionConverged, false, v1.ReasonApplying, fmt.Sprintf("applied revision %d, the intent is at %d", st.AppliedRevision, wantRev))
		set(v1.ConditionDegraded, false, v1.ReasonNoProblem, "")
	default:
		set(v1.ConditionConverged, true, v1.ReasonApplied, fmt.Sprintf("applied the intent at revision %d", st.AppliedRevision))
		set(v1.ConditionDegraded, false, v1.ReasonNoProblem, "")
	}
	out.Conditions = conds
	return out
}

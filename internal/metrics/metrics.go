// Package metrics exposes the host's EVPN state and the agent's work to
// Prometheus. FRR figures (sessions, VNIs, routes) are read at scrape time
// through internal/status, so they are the same numbers `evpnhost status
// --json` prints; the agent's figures (reconcile durations, errors by
// cause, the applied revision) are recorded as it works.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evpnhost/evpnhost/internal/fabric"
	"github.com/evpnhost/evpnhost/internal/policy"
	"github.com/evpnhost/evpnhost/internal/status"
)

const ns = "evpnhost"

// StatusFunc collects the host's state (status.Collect bound to the
// host's FRR instance).
type StatusFunc func(ctx context.Context) (status.Status, error)

// PolicyFunc reads the policy rule counters of the enforcing backend
// (enforce.Counters); backend is "" when no policy is enforced.
type PolicyFunc func() (backend string, counters []policy.RuleCounter, err error)

// Metrics is the agent's registry.
type Metrics struct {
	Registry *prometheus.Registry

	reconcile   prometheus.Histogram
	errors      *prometheus.CounterVec
	revision    prometheus.Gauge
	lastSuccess prometheus.Gauge
	objectErrs  prometheus.Gauge
	l3Repairs   *prometheus.CounterVec
}

// New registers the agent metrics, a collector that reads FRR through st
// and one that reads the policy counters through pol at every scrape
// (either may be nil).
func New(st StatusFunc, pol PolicyFunc) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.reconcile = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "reconcile_duration_seconds",
		Help:    "Time of one reconcile: read the intent, diff and apply kernel and FRR state.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "apply_errors_total",
		Help: "Failed reconciles by cause: invalid_intent, source_unreachable, kernel, frr, other.",
	}, []string{"cause"})
	for _, c := range []string{"invalid_intent", "source_unreachable", "kernel", "frr", "other"} {
		m.errors.WithLabelValues(c)
	}
	m.revision = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "intent_revision",
		Help: "etcd revision of the intent applied last (0 for an intent file).",
	})
	m.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "last_success_timestamp_seconds",
		Help: "Unix time of the last successful reconcile.",
	})
	m.objectErrs = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "object_errors",
		Help: "Objects in error after the last reconcile (see evpnhost status).",
	})
	m.l3Repairs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "l3vni_repairs_total",
		Help: "L3VNIs bounced because the kernel lost router MACs of remote VTEPs that routes use (FRR 8.4 zebra, see docs/architecture.md), by tenant.",
	}, []string{"tenant"})
	m.Registry.MustRegister(m.reconcile, m.errors, m.revision, m.lastSuccess, m.objectErrs, m.l3Repairs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if st != nil {
		m.Registry.MustRegister(&frrCollector{status: newStatusCache(st, StatusCacheTTL).get})
	}
	if pol != nil {
		m.Registry.MustRegister(&policyCollector{read: pol})
	}
	return m
}

// Reconciled implements agent.Observer.
func (m *Metrics) Reconciled(took time.Duration, cause string, st fabric.Status) {
	m.reconcile.Observe(took.Seconds())
	if cause != "" {
		m.errors.WithLabelValues(cause).Inc()
	}
	m.revision.Set(float64(st.AppliedRevision))
	if !st.LastSuccess.IsZero() {
		m.lastSuccess.Set(float64(st.LastSuccess.UnixNano()) / 1e9)
	}
	m.objectErrs.Set(float64(len(st.Errors)))
}

// L3VNIRepaired implements agent.L3Observer.
func (m *Metrics) L3VNIRepaired(tenant string) { m.l3Repairs.WithLabelValues(tenant).Inc() }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	dFRRUp        = desc("frr_up", "1 when FRR answered the last scrape.")
	dSessionUp    = desc("bgp_session_up", "1 when the BGP session to the uplink is Established.", "peer", "remote_as")
	dSessionUp2   = desc("bgp_session_uptime_seconds", "Time the BGP session has been Established.", "peer")
	dPrefixes     = desc("bgp_prefixes_received", "Prefixes received from the peer, by address family.", "peer", "afi")
	dLocalMACs    = desc("vni_local_macs", "MACs learnt locally on the VNI.", "vni", "tenant", "type")
	dRemoteMACs   = desc("vni_remote_macs", "MACs learnt from remote VTEPs (type-2) on the VNI.", "vni", "tenant", "type")
	dNeighbors    = desc("vni_neighbors", "ARP/ND entries of the VNI known to zebra.", "vni", "tenant", "type")
	dRemoteVTEPs  = desc("vni_remote_vteps", "Remote VTEPs of the VNI.", "vni", "tenant", "type")
	dRoutesRcvd   = desc("evpn_routes_received", "EVPN paths learnt from peers, by route type (2, 3, 5).", "type")
	dRoutesAdvert = desc("evpn_routes_advertised", "EVPN routes this host originates, by route type (2, 3, 5).", "type")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
}

// StatusCacheTTL is how long one reading of FRR answers scrapes. Each
// reading forks several vtysh processes; without it every scrape (and
// every concurrent one: several Prometheus servers, a curl loop) forked
// its own set. It is at most the usual scrape interval, so a scraper at
// that interval still sees a fresh reading almost every time.
const StatusCacheTTL = 5 * time.Second

// statusCache serialises the readings of FRR and keeps the last one
// (result or error) for ttl: concurrent scrapes wait for the reading in
// progress and share it instead of starting their own.
type statusCache struct {
	read StatusFunc
	ttl  time.Duration
	now  func() time.Time
	sem  chan struct{} // held while reading
	at   time.Time     // when the cached reading finished; zero: none
	st   status.Status
	err  error
}

func newStatusCache(read StatusFunc, ttl time.Duration) *statusCache {
	return &statusCache{read: read, ttl: ttl, now: time.Now, sem: make(chan struct{}, 1)}
}

func (c *statusCache) get(ctx context.Context) (status.Status, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return status.Status{}, ctx.Err()
	}
	defer func() { <-c.sem }()
	if !c.at.IsZero() && c.now().Sub(c.at) < c.ttl {
		return c.st, c.err
	}
	c.st, c.err = c.read(ctx)
	c.at = c.now()
	return c.st, c.err
}

// frrCollector reads FRR at scrape time.
type frrCollector struct{ status StatusFunc }

func (c *frrCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dFRRUp, dSessionUp, dSessionUp2, dPrefixes, dLocalMACs, dRemoteMACs, dNeighbors, dRemoteVTEPs, dRoutesRcvd, dRoutesAdvert} {
		ch <- d
	}
}

func (c *frrCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.status(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(dFRRUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(dFRRUp, prometheus.GaugeValue, 1)
	for _, s := range st.Sessions {
		up := 0.0
		if s.State == "Established" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(dSessionUp, prometheus.GaugeValue, up, s.Interface, strconv.FormatUint(uint64(s.RemoteAS), 10))
		ch <- prometheus.MustNewConstMetric(dSessionUp2, prometheus.GaugeValue, float64(s.UptimeMsec)/1000, s.Interface)
		ch <- prometheus.MustNewConstMetric(dPrefixes, prometheus.GaugeValue, float64(s.IPv4Prefixes), s.Interface, "ipv4")
		ch <- prometheus.MustNewConstMetric(dPrefixes, prometheus.GaugeValue, float64(s.EVPNPrefixes), s.Interface, "l2vpn_evpn")
	}
	for _, v := range st.VNIs {
		l := []string{strconv.FormatUint(uint64(v.VNI), 10), v.Tenant, v.Type}
		ch <- prometheus.MustNewConstMetric(dLocalMACs, prometheus.GaugeValue, float64(v.LocalMACs), l...)
		ch <- prometheus.MustNewConstMetric(dRemoteMACs, prometheus.GaugeValue, float64(v.RemoteMACs), l...)
		ch <- prometheus.MustNewConstMetric(dNeighbors, prometheus.GaugeValue, float64(v.ARPND), l...)
		ch <- prometheus.MustNewConstMetric(dRemoteVTEPs, prometheus.GaugeValue, float64(len(v.RemoteVTEPs)), l...)
	}
	for t, n := range st.Routes.Received {
		ch <- prometheus.MustNewConstMetric(dRoutesRcvd, prometheus.GaugeValue, float64(n), t)
	}
	for t, n := range st.Routes.Advertised {
		ch <- prometheus.MustNewConstMetric(dRoutesAdvert, prometheus.GaugeValue, float64(n), t)
	}
}

var (
	dPolicyAllowed = desc("policy_rule_allowed_flows_total", "Flows (first packets) a policy rule admitted, summed over the workload ports; rule -1 is the tenant's default.", "tenant", "rule", "backend")
	dPolicyDenied  = desc("policy_rule_denied_packets_total", "Packets a policy rule dropped, summed over the workload ports; rule -1 is the tenant's default.", "tenant", "rule", "backend")
)

// policyCollector reads the policy counters at scrape time.
type policyCollector struct{ read PolicyFunc }

func (c *policyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dPolicyAllowed
	ch <- dPolicyDenied
}

func (c *policyCollector) Collect(ch chan<- prometheus.Metric) {
	backend, cs, err := c.read()
	if err != nil || backend == "" {
		return
	}
	for _, r := range cs {
		rule := strconv.Itoa(r.Rule)
		ch <- prometheus.MustNewConstMetric(dPolicyAllowed, prometheus.CounterValue, float64(r.Allowed), r.Tenant, rule, backend)
		ch <- prometheus.MustNewConstMetric(dPolicyDenied, prometheus.CounterValue, float64(r.Denied), r.Tenant, rule, backend)
	}
}

// Package metrics defines tokenator's Prometheus metrics, served on the
// manager's metrics endpoint. No label or value ever holds a token or a secret.
package metrics

import (
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// HostOther is the host label of a token endpoint that is neither a preset's
// nor matched by an --allowed-token-hosts pattern.
const HostOther = "other"

// Results of a token request.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// Metrics are the collectors; Default is registered with controller-runtime's registry.
type Metrics struct {
	TokenRequests        *prometheus.CounterVec
	TokenRequestDuration *prometheus.HistogramVec
	ProviderRequests     *prometheus.CounterVec
	ProviderClients      *prometheus.GaugeVec
	ProviderSharedTokens *prometheus.GaugeVec
	ProviderReady        *prometheus.GaugeVec
	BuildInfo            *prometheus.GaugeVec

	// clients holds the series of each OAuthClient (expiry, next request,
	// Ready and failed attempts), built when the metrics are scraped.
	clients *clientCollector
}

// New creates the collectors and registers them with reg when it is not nil.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		clients: newClientCollector(),
		TokenRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenator_token_requests_total",
			Help: "Token requests sent, by token endpoint host, result (success or failure) and, of a failure, its reason (invalid_client, rate_limited, http_4xx, http_5xx, timeout, refused_network, invalid_response, network).",
		}, []string{"host", "result", "reason"}),
		TokenRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokenator_token_request_duration_seconds",
			Help:    "Duration of token requests, by token endpoint host.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"host"}),
		ProviderRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenator_clusteroauthprovider_token_requests_total",
			Help: "Token requests sent through a ClusterOAuthProvider, by provider and result (success or failure).",
		}, []string{"provider", "result"}),
		ProviderClients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenator_clusteroauthprovider_clients",
			Help: "OAuthClients that refer to a ClusterOAuthProvider and that it allows.",
		}, []string{"provider"}),
		ProviderSharedTokens: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenator_clusteroauthprovider_shared_tokens",
			Help: "Tokens a ClusterOAuthProvider holds for the OAuthClients that use its central credentials.",
		}, []string{"provider"}),
		ProviderReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenator_clusteroauthprovider_ready",
			Help: "1 when a ClusterOAuthProvider is Ready, else 0; reason is its Ready condition's reason. One series per provider.",
		}, []string{"provider", "reason"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenator_build_info",
			Help: "1, with the manager's version and Go version: every running manager replica exports it, leader or not (the TokenatorManagerAbsent alert fires when none does).",
		}, []string{"version", "go_version"}),
	}
	m.BuildInfo.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	if reg != nil {
		reg.MustRegister(m.TokenRequests, m.TokenRequestDuration, m.clients,
			m.ProviderRequests, m.ProviderClients, m.ProviderSharedTokens, m.ProviderReady, m.BuildInfo)
	}
	return m
}

// buildVersion is the main module's version of the running binary, such as
// v0.1.0, or "(devel)" for a build outside a module version.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Default is registered with controller-runtime's registry, served by the manager.
var Default = New(ctrlmetrics.Registry)

// ObserveRequest records one token request.
func (m *Metrics) ObserveRequest(host string, d time.Duration, err error) {
	result := ResultSuccess
	if err != nil {
		result = ResultFailure
	}
	m.TokenRequests.WithLabelValues(host, result, FailureReason(err)).Inc()
	m.TokenRequestDuration.WithLabelValues(host).Observe(d.Seconds())
}

// ClientState is what is exported of one OAuthClient.
type ClientState struct {
	Namespace, Name string
	ExpiresAt       *time.Time
	RefreshAt       *time.Time
	ReadyStatus     string // True, False or Unknown
	ReadyReason     string
	FailedAttempts  int32
}

// SetClient exports the state of one OAuthClient, replacing what was exported before.
func (m *Metrics) SetClient(s ClientState) { m.clients.set(s) }

// DeleteClient removes every series of a deleted OAuthClient.
func (m *Metrics) DeleteClient(namespace, name string) { m.clients.delete(namespace, name) }

// ObserveProviderRequest records one token request sent through a ClusterOAuthProvider.
func (m *Metrics) ObserveProviderRequest(provider string, err error) {
	result := ResultSuccess
	if err != nil {
		result = ResultFailure
	}
	m.ProviderRequests.WithLabelValues(provider, result).Inc()
}

// ProviderState is what is exported of one ClusterOAuthProvider.
type ProviderState struct {
	Name                  string
	Clients, SharedTokens int
	Ready                 bool
	ReadyReason           string
}

// SetProvider exports the state of one ClusterOAuthProvider: its counts, and
// one readiness series of its current reason (the series of another reason
// goes).
func (m *Metrics) SetProvider(s ProviderState) {
	m.ProviderClients.WithLabelValues(s.Name).Set(float64(s.Clients))
	m.ProviderSharedTokens.WithLabelValues(s.Name).Set(float64(s.SharedTokens))
	m.ProviderReady.DeletePartialMatch(prometheus.Labels{"provider": s.Name})
	ready := 0.0
	if s.Ready {
		ready = 1
	}
	m.ProviderReady.WithLabelValues(s.Name, s.ReadyReason).Set(ready)
}

// DeleteProvider removes every series of a deleted ClusterOAuthProvider.
func (m *Metrics) DeleteProvider(provider string) {
	labels := prometheus.Labels{"provider": provider}
	m.ProviderClients.Delete(labels)
	m.ProviderSharedTokens.Delete(labels)
	m.ProviderReady.DeletePartialMatch(labels)
	// Exactly its series: the results are known, and a partial-match delete
	// would scan every series.
	for _, result := range []string{ResultSuccess, ResultFailure} {
		m.ProviderRequests.DeleteLabelValues(provider, result)
	}
}

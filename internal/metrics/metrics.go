// Package metrics defines tokenator's Prometheus metrics, served on the
// manager's metrics endpoint. No label or value ever holds a token or a secret.
package metrics

import (
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
			Help: "Token requests sent, by token endpoint host and result (success or failure).",
		}, []string{"host", "result"}),
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
	}
	if reg != nil {
		reg.MustRegister(m.TokenRequests, m.TokenRequestDuration, m.clients,
			m.ProviderRequests, m.ProviderClients, m.ProviderSharedTokens)
	}
	return m
}

// Default is registered with controller-runtime's registry, served by the manager.
var Default = New(ctrlmetrics.Registry)

// ObserveRequest records one token request.
func (m *Metrics) ObserveRequest(host string, d time.Duration, err error) {
	result := ResultSuccess
	if err != nil {
		result = ResultFailure
	}
	m.TokenRequests.WithLabelValues(host, result).Inc()
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

// SetProvider exports the counts of one ClusterOAuthProvider.
func (m *Metrics) SetProvider(provider string, clients, sharedTokens int) {
	m.ProviderClients.WithLabelValues(provider).Set(float64(clients))
	m.ProviderSharedTokens.WithLabelValues(provider).Set(float64(sharedTokens))
}

// DeleteProvider removes every series of a deleted ClusterOAuthProvider.
func (m *Metrics) DeleteProvider(provider string) {
	labels := prometheus.Labels{"provider": provider}
	m.ProviderClients.Delete(labels)
	m.ProviderSharedTokens.Delete(labels)
	// Exactly its series: the results are known, and a partial-match delete
	// would scan every series.
	for _, result := range []string{ResultSuccess, ResultFailure} {
		m.ProviderRequests.DeleteLabelValues(provider, result)
	}
}

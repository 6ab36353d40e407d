package metrics

import (
	"sync"
	"unique"

	"github.com/prometheus/client_golang/prometheus"
)

// clientCollector exports the series of every OAuthClient (token expiry,
// next request, Ready, failed attempts) from one small entry per client, and
// builds the series only when the metrics are scraped. A GaugeVec keeps each
// series for good, with its label pairs, hash and metric: with four series
// per OAuthClient that was about 1.2 KiB per OAuthClient, a fifth of the
// manager's heap. An entry here is under 100 bytes, and what is exported is
// the same.
type clientCollector struct {
	expiration, refresh, ready, failed *prometheus.Desc

	mu sync.Mutex
	m  map[clientKey]clientEntry
}

// clientKey identifies an OAuthClient. Namespaces, statuses and reasons are
// few and repeated: each is held once.
type clientKey struct {
	namespace unique.Handle[string]
	name      string
}

type clientEntry struct {
	// expiresAt and refreshAt are Unix seconds, exported when hasExpires,
	// hasRefresh.
	expiresAt, refreshAt   int64
	hasExpires, hasRefresh bool
	failed                 int32
	status, reason         unique.Handle[string]
}

func newClientCollector() *clientCollector {
	labels := []string{"namespace", "name"}
	return &clientCollector{
		m: map[clientKey]clientEntry{},
		expiration: prometheus.NewDesc("tokenator_token_expiration_timestamp_seconds",
			"When the token in an OAuthClient's Secret expires, as a Unix timestamp.", labels, nil),
		refresh: prometheus.NewDesc("tokenator_token_refresh_timestamp_seconds",
			"When the next token request of an OAuthClient is due (planned refresh or retry), as a Unix timestamp.", labels, nil),
		ready: prometheus.NewDesc("tokenator_oauthclient_ready_status",
			"The Ready condition of an OAuthClient: one series, of value 1, for its current status (True, False or Unknown) and reason.",
			[]string{"namespace", "name", "condition", "reason"}, nil),
		failed: prometheus.NewDesc("tokenator_oauthclient_failed_attempts",
			"Consecutive failed token requests of an OAuthClient; 0 after a success.", labels, nil),
	}
}

func (c *clientCollector) set(s ClientState) {
	e := clientEntry{failed: s.FailedAttempts, status: unique.Make(s.ReadyStatus), reason: unique.Make(s.ReadyReason)}
	if s.ExpiresAt != nil {
		e.expiresAt, e.hasExpires = s.ExpiresAt.Unix(), true
	}
	if s.RefreshAt != nil {
		e.refreshAt, e.hasRefresh = s.RefreshAt.Unix(), true
	}
	k := clientKey{unique.Make(s.Namespace), s.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = e
}

func (c *clientCollector) delete(namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, clientKey{unique.Make(namespace), name})
}

// Describe implements prometheus.Collector.
func (c *clientCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.expiration
	ch <- c.refresh
	ch <- c.ready
	ch <- c.failed
}

// Collect implements prometheus.Collector. The entries are copied under the
// lock and the series built after it, so that a scrape does not hold up the
// reconciles that export their state.
func (c *clientCollector) Collect(ch chan<- prometheus.Metric) {
	type client struct {
		k clientKey
		e clientEntry
	}
	c.mu.Lock()
	all := make([]client, 0, len(c.m))
	for k, e := range c.m {
		all = append(all, client{k, e})
	}
	c.mu.Unlock()
	for _, cl := range all {
		ns, name := cl.k.namespace.Value(), cl.k.name
		if cl.e.hasExpires {
			ch <- prometheus.MustNewConstMetric(c.expiration, prometheus.GaugeValue, float64(cl.e.expiresAt), ns, name)
		}
		if cl.e.hasRefresh {
			ch <- prometheus.MustNewConstMetric(c.refresh, prometheus.GaugeValue, float64(cl.e.refreshAt), ns, name)
		}
		ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, 1, ns, name, cl.e.status.Value(), cl.e.reason.Value())
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(cl.e.failed), ns, name)
	}
}

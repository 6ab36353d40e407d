package metrics

import (
	"sync"
	"unique"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// clientCollector exports the series of every OAuthClient (token expiry,
// next request, Ready, failed attempts) from one small entry per client, and
// builds the series only when the metrics are scraped. A GaugeVec keeps each
// series for good, with its label pairs, hash and metric: with four series
// per OAuthClient that was 1964 bytes of heap per OAuthClient
// (BenchmarkClientMemory), a fifth of the manager's heap. An entry here is 95
// bytes, and what is exported is the same.
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
// reconciles that export their state. A client's series share their label
// pairs, and the pairs of a namespace, status or reason are made once per
// scrape: a scrape allocates about half what const metrics would.
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
	pairs := map[[2]string]*dto.LabelPair{}
	shared := func(name *string, value string) *dto.LabelPair {
		k := [2]string{*name, value}
		p, ok := pairs[k]
		if !ok {
			p = &dto.LabelPair{Name: name, Value: &value}
			pairs[k] = p
		}
		return p
	}
	for i := range all {
		cl := &all[i]
		ns := shared(&labelNamespace, cl.k.namespace.Value())
		name := &dto.LabelPair{Name: &labelName, Value: &cl.k.name}
		// Label pairs sorted by name, as the registry expects them.
		two := []*dto.LabelPair{name, ns}
		ready := []*dto.LabelPair{shared(&labelCondition, cl.e.status.Value()), name, ns, shared(&labelReason, cl.e.reason.Value())}
		s := new([4]series)
		s[0] = series{c.ready, ready, 1}
		s[1] = series{c.failed, two, float64(cl.e.failed)}
		ch <- &s[0]
		ch <- &s[1]
		if cl.e.hasExpires {
			s[2] = series{c.expiration, two, float64(cl.e.expiresAt)}
			ch <- &s[2]
		}
		if cl.e.hasRefresh {
			s[3] = series{c.refresh, two, float64(cl.e.refreshAt)}
			ch <- &s[3]
		}
	}
}

// Label names of the per-client series.
var (
	labelNamespace = "namespace"
	labelName      = "name"
	labelCondition = "condition"
	labelReason    = "reason"
)

// series is one gauge series of a client, with label pairs it shares with
// the client's other series.
type series struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
}

// Desc implements prometheus.Metric.
func (s *series) Desc() *prometheus.Desc { return s.desc }

// Write implements prometheus.Metric. The label pairs are shared: the
// registry copies them before it sorts them, and never changes them.
func (s *series) Write(out *dto.Metric) error {
	out.Label = s.labels
	out.Gauge = &dto.Gauge{Value: &s.value}
	return nil
}

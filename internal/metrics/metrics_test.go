package metrics

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// sample is one gathered series.
type sample struct {
	metric string
	labels map[string]string
	value  float64
}

// gather reads every gauge series of reg.
func gather(t *testing.T, reg *prometheus.Registry) []sample {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, f := range families {
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out = append(out, sample{f.GetName(), l, m.GetGauge().GetValue()})
		}
	}
	return out
}

// readySeries lists the ReadyStatus series as "namespace/name status reason=value".
func readySeries(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	var out []string
	for _, s := range gather(t, reg) {
		if s.metric == "tokenator_oauthclient_ready_status" {
			l := s.labels
			out = append(out, fmt.Sprintf("%s/%s %s %s=%g", l["namespace"], l["name"], l["condition"], l["reason"], s.value))
		}
	}
	slices.Sort(out)
	return out
}

// A client has one Ready series, of its current status and reason: it is
// replaced when either changes and goes with DeleteClient; another client's
// series stays.
func TestReadyStatusReplaced(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	now := time.Now()
	m.SetClient(ClientState{Namespace: "ns", Name: "a", ReadyStatus: "False", ReadyReason: "TokenRequestFailed", FailedAttempts: 1})
	m.SetClient(ClientState{Namespace: "ns", Name: "b", ReadyStatus: "True", ReadyReason: "TokenIssued", ExpiresAt: &now})
	if got, want := readySeries(t, reg), []string{"ns/a False TokenRequestFailed=1", "ns/b True TokenIssued=1"}; !slices.Equal(got, want) {
		t.Fatalf("before a's status changed:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	m.SetClient(ClientState{Namespace: "ns", Name: "a", ReadyStatus: "True", ReadyReason: "TokenIssued", ExpiresAt: &now})
	want := []string{"ns/a True TokenIssued=1", "ns/b True TokenIssued=1"}
	if got := readySeries(t, reg); !slices.Equal(got, want) {
		t.Fatalf("after a's status and reason changed:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	// The same reason with another status: the series is replaced too.
	m.SetClient(ClientState{Namespace: "ns", Name: "a", ReadyStatus: "Unknown", ReadyReason: "TokenIssued"})
	if got, want := readySeries(t, reg), []string{"ns/a Unknown TokenIssued=1", "ns/b True TokenIssued=1"}; !slices.Equal(got, want) {
		t.Fatalf("after a's status changed:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	m.DeleteClient("ns", "a")
	want = want[1:]
	if got := readySeries(t, reg); !slices.Equal(got, want) {
		t.Fatalf("after a was deleted:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	m.DeleteClient("ns", "a") // twice: nothing left to delete
	m.SetClient(ClientState{Namespace: "ns", Name: "a", ReadyStatus: "Unknown"})
	if got := readySeries(t, reg); len(got) != 2 {
		t.Fatalf("a exported again: %s", strings.Join(got, ", "))
	}
}

// BenchmarkSetClient exports one client's state among 50,000 exported ones:
// its cost must not grow with the number of clients.
func BenchmarkSetClient(b *testing.B) {
	m := New(nil)
	now := time.Now()
	const clients = 50000
	for i := range clients {
		m.SetClient(ClientState{Namespace: "ns", Name: fmt.Sprint(i), ReadyStatus: "True", ReadyReason: "TokenIssued", ExpiresAt: &now, RefreshAt: &now})
	}
	reasons := []string{"TokenIssued", "TokenRequestFailed"}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.SetClient(ClientState{Namespace: "ns", Name: fmt.Sprint(i % clients), ReadyStatus: "True", ReadyReason: reasons[i%2], ExpiresAt: &now, RefreshAt: &now})
	}
}

// clientSeries lists every series of one client as "metric{labels}=value".
func clientSeries(t *testing.T, reg *prometheus.Registry, namespace, name string) []string {
	t.Helper()
	var out []string
	for _, s := range gather(t, reg) {
		if s.labels["namespace"] != namespace || s.labels["name"] != name {
			continue
		}
		var extra []string
		for k, v := range s.labels {
			if k != "namespace" && k != "name" {
				extra = append(extra, k+"="+v)
			}
		}
		slices.Sort(extra)
		out = append(out, fmt.Sprintf("%s{%s}=%g", s.metric, strings.Join(extra, ","), s.value))
	}
	slices.Sort(out)
	return out
}

// Each client's series carry its state: expiry and next request when known,
// failed attempts always, and nothing once it is deleted.
func TestClientSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	exp, next := time.Unix(1900000000, 0), time.Unix(1899999000, 0)
	m.SetClient(ClientState{Namespace: "team-a", Name: "lucca", ExpiresAt: &exp, RefreshAt: &next,
		ReadyStatus: "True", ReadyReason: "TokenIssued"})
	m.SetClient(ClientState{Namespace: "team-b", Name: "lucca", RefreshAt: &next,
		ReadyStatus: "False", ReadyReason: "TokenRequestFailed", FailedAttempts: 3})
	want := []string{
		"tokenator_oauthclient_failed_attempts{}=0",
		"tokenator_oauthclient_ready_status{condition=True,reason=TokenIssued}=1",
		"tokenator_token_expiration_timestamp_seconds{}=1.9e+09",
		"tokenator_token_refresh_timestamp_seconds{}=1.899999e+09",
	}
	if got := clientSeries(t, reg, "team-a", "lucca"); !slices.Equal(got, want) {
		t.Errorf("team-a/lucca:\n got %s\nwant %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	want = []string{
		"tokenator_oauthclient_failed_attempts{}=3",
		"tokenator_oauthclient_ready_status{condition=False,reason=TokenRequestFailed}=1",
		"tokenator_token_refresh_timestamp_seconds{}=1.899999e+09",
	}
	if got := clientSeries(t, reg, "team-b", "lucca"); !slices.Equal(got, want) {
		t.Errorf("team-b/lucca:\n got %s\nwant %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	// A token that is gone takes its expiry series with it.
	m.SetClient(ClientState{Namespace: "team-a", Name: "lucca", ReadyStatus: "False", ReadyReason: "CredentialsNotFound"})
	want = []string{
		"tokenator_oauthclient_failed_attempts{}=0",
		"tokenator_oauthclient_ready_status{condition=False,reason=CredentialsNotFound}=1",
	}
	if got := clientSeries(t, reg, "team-a", "lucca"); !slices.Equal(got, want) {
		t.Errorf("team-a/lucca after its token went:\n got %s\nwant %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	m.DeleteClient("team-b", "lucca")
	if got := clientSeries(t, reg, "team-b", "lucca"); len(got) != 0 {
		t.Errorf("team-b/lucca deleted, still exported: %s", strings.Join(got, " "))
	}
	if got := clientSeries(t, reg, "team-a", "lucca"); len(got) != 2 {
		t.Errorf("team-a/lucca lost series when team-b/lucca was deleted: %s", strings.Join(got, " "))
	}
}

// BenchmarkClientMemory reports the heap that the series of one OAuthClient
// hold, among 50,000 clients of 500 namespaces (bytes/client).
func BenchmarkClientMemory(b *testing.B) {
	const clients = 50000
	names := make([]string, clients)
	for i := range names {
		names[i] = fmt.Sprintf("client-%06d", i)
	}
	now := time.Now()
	var perClient float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := New(nil)
		for i, name := range names {
			m.SetClient(ClientState{Namespace: fmt.Sprint("team-", i%500), Name: name, ExpiresAt: &now, RefreshAt: &now,
				ReadyStatus: "True", ReadyReason: "TokenIssued"})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perClient = float64(after.HeapAlloc-before.HeapAlloc) / clients
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perClient, "bytes/client")
}

// BenchmarkGather reads the series of 50,000 OAuthClients, as a scrape does
// (B/op is the garbage of one scrape).
func BenchmarkGather(b *testing.B) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	now := time.Now()
	for i := range 50000 {
		m.SetClient(ClientState{Namespace: fmt.Sprint("team-", i%500), Name: fmt.Sprintf("client-%06d", i), ExpiresAt: &now, RefreshAt: &now,
			ReadyStatus: "True", ReadyReason: "TokenIssued"})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

package main

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		method, path, query, contentType string
		verb, resource                   string
	}{
		{"GET", "/api/v1/namespaces/a/secrets/x", "", "", "get", "secrets"},
		{"GET", "/api/v1/secrets", "labelSelector=a%3Db", "", "list", "secrets"},
		{"GET", "/api/v1/secrets", "watch=true&allowWatchBookmarks=true", "", "watch", "secrets"},
		{"GET", "/apis/tokenator.dev/v1alpha1/namespaces/a/oauthclients", "", "", "list", "oauthclients.tokenator.dev"},
		{"PATCH", "/apis/tokenator.dev/v1alpha1/namespaces/a/oauthclients/x/status", "", "application/merge-patch+json", "patch", "oauthclients.tokenator.dev/status"},
		{"PUT", "/apis/tokenator.dev/v1alpha1/namespaces/a/oauthclients/x/status", "", "application/json", "update", "oauthclients.tokenator.dev/status"},
		{"PATCH", "/api/v1/namespaces/a/secrets/x", "fieldManager=tokenator", "application/apply-patch+yaml", "apply", "secrets"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/a/events", "", "application/json", "create", "events.events.k8s.io"},
		{"DELETE", "/api/v1/namespaces/a/secrets/x", "", "", "delete", "secrets"},
		{"DELETE", "/api/v1/namespaces/a/secrets", "", "", "deletecollection", "secrets"},
		{"GET", "/api/v1/namespaces/a", "", "", "get", "namespaces"},
		{"GET", "/apis", "", "", "discovery", "/apis"},
		{"GET", "/api", "", "", "discovery", "/api"},
		{"GET", "/apis/tokenator.dev/v1alpha1", "", "", "discovery", "/apis/tokenator.dev/v1alpha1"},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		verb, resource := classify(tt.method, tt.path, q, tt.contentType)
		if verb != tt.verb || resource != tt.resource {
			t.Errorf("%s %s?%s: got %s %s, want %s %s", tt.method, tt.path, tt.query, verb, resource, tt.verb, tt.resource)
		}
	}
}

func TestCounts(t *testing.T) {
	before := counts{{Agent: "tokenator", Verb: "get", Resource: "secrets", Code: 200}: 2}
	after := counts{
		{Agent: "tokenator", Verb: "get", Resource: "secrets", Code: 200}:   5,
		{Agent: "tokenator", Verb: "get", Resource: "secrets", Code: 404}:   1,
		{Agent: "tokenator", Verb: "apply", Resource: "secrets", Code: 200}: 3,
		{Agent: "tokenator", Verb: "watch", Resource: "secrets", Code: 200}: 1,
		{Agent: "other", Verb: "create", Resource: "secrets", Code: 201}:    7,
	}
	d := after.sub(before)
	if got := d.writes("tokenator"); got != 3 {
		t.Errorf("writes = %d, want 3", got)
	}
	if got := d.reads("tokenator"); got != 4 {
		t.Errorf("reads = %d, want 4", got)
	}
	m := d.byVerbResource("tokenator")
	if m["get secrets"] != 3 || m["get secrets (404)"] != 1 || m["apply secrets"] != 3 || len(m) != 4 {
		t.Errorf("byVerbResource = %v", m)
	}
}

func TestAgentOf(t *testing.T) {
	for ua, want := range map[string]string{
		"tokenator":                    "tokenator",
		"tokenator-bench-floor":        "tokenator-bench-floor",
		"kube-apiserver/v1.37.2 (x) y": "kube-apiserver",
		"":                             "unknown",
	} {
		if got := agentOf(ua); got != want {
			t.Errorf("agentOf(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP controller_runtime_reconcile_total Total number of reconciliations per controller
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller="oauthclient",result="success"} 10
controller_runtime_reconcile_total{controller="oauthclient",result="requeue_after"} 90
controller_runtime_reconcile_total{controller="other",result="success"} 5
workqueue_depth{controller="oauthclient",name="oauthclient"} 0
go_memstats_heap_inuse_bytes 2.097152e+07
`
	s, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.sum("controller_runtime_reconcile_total", `controller="oauthclient"`); got != 100 {
		t.Errorf("reconciles = %v, want 100", got)
	}
	if got := s.sum("workqueue_depth", `name="oauthclient"`); got != 0 {
		t.Errorf("depth = %v", got)
	}
	if got := s.sum("go_memstats_heap_inuse_bytes"); got != 20971520 {
		t.Errorf("heap = %v", got)
	}
}

func TestPeakShare(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	times := []time.Time{t0, t0.Add(100 * time.Millisecond), t0.Add(time.Second), t0.Add(3 * time.Second)}
	share, peak, seconds := peakShare(times)
	if share != 0.5 || peak != 2 || seconds != 3 {
		t.Errorf("peakShare = %v %v %v, want 0.5 2 3", share, peak, seconds)
	}
	if share, _, _ := peakShare(nil); share != 0 {
		t.Errorf("empty: %v", share)
	}
}

func TestRates(t *testing.T) {
	start := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	p := &countingProxy{start: start, timeline: map[string]map[int64]map[string]int{
		"tokenator": {
			0: {"get secrets": 100}, // the burst, outside the whole seconds
			1: {"get secrets": 50, "apply secrets": 20},
			2: {"get secrets": 50},
			3: {"get secrets": 49, "apply secrets": 30},
			4: {"get secrets": 7},
		},
	}}
	got := p.rates("tokenator", start.Add(500*time.Millisecond), start.Add(4500*time.Millisecond))
	if got["get secrets"] != 50 || got["apply secrets"] != 20 || len(got) != 2 {
		t.Errorf("rates = %v, want get secrets 50, apply secrets 20 (median of 20, 0, 30)", got)
	}
}

// The restart is polled every twentieth of the time elapsed, from 100 ms to 1 s.
func TestPollInterval(t *testing.T) {
	for _, c := range []struct{ elapsed, want time.Duration }{
		{0, 100 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
		{4 * time.Second, 200 * time.Millisecond},
		{10 * time.Second, 500 * time.Millisecond},
		{25 * time.Second, time.Second},
		{time.Hour, time.Second},
	} {
		if got := pollInterval(c.elapsed); got != c.want {
			t.Errorf("after %s: poll every %s, want %s", c.elapsed, got, c.want)
		}
	}
}

package metrics

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// readySeries lists the ReadyStatus series as "namespace/name status reason=value".
func readySeries(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != "tokenator_oauthclient_ready_status" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out = append(out, fmt.Sprintf("%s/%s %s %s=%g", l["namespace"], l["name"], l["condition"], l["reason"], m.GetGauge().GetValue()))
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

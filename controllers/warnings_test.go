package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestWarningsDue(t *testing.T) {
	var w warnings
	key := types.NamespacedName{Namespace: "ns", Name: "api"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		reason  string
		changed bool
		at      time.Duration
		want    bool
	}{
		{"TokenRequestFailed", true, 0, true},
		{"TokenRequestFailed", false, time.Minute, false},                   // the same condition
		{"TokenRequestFailed", true, 2 * time.Minute, false},                // another message, same reason
		{"CredentialsNotFound", true, 3 * time.Minute, true},                // another reason
		{"TokenRequestFailed", true, 4 * time.Minute, true},                 // back to the first
		{"TokenRequestFailed", true, 4*time.Minute + warningInterval, true}, // after the interval
	}
	for i, s := range steps {
		if got := w.due(key, s.reason, s.changed, t0.Add(s.at)); got != s.want {
			t.Fatalf("step %d (%s at %s): due = %v, want %v", i, s.reason, s.at, got, s.want)
		}
	}
	w.forget(key)
	if !w.due(key, "TokenRequestFailed", true, t0.Add(5*time.Minute+warningInterval)) {
		t.Fatal("after forget, the next failure warns")
	}
	if len(w.m) != 1 {
		t.Fatalf("%d entries kept, want 1", len(w.m))
	}
}

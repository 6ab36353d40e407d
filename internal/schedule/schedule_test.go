package schedule

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

func TestRefreshTime(t *testing.T) {
	tests := []struct {
		name          string
		lifetime      time.Duration
		refreshBefore time.Duration
		minInterval   time.Duration
		// the refresh falls in [earliest, latest]
		earliest, latest time.Duration
	}{
		{"lucca 30m token: after 2/3 of the lifetime, up to 10% earlier", 30 * time.Minute, 0, 5 * time.Second, 18 * time.Minute, 20 * time.Minute},
		{"refreshBefore within the lifetime", time.Hour, 10 * time.Minute, 5 * time.Second, 45 * time.Minute, 50 * time.Minute},
		{"refreshBefore equal to the lifetime falls back to 2/3", time.Hour, time.Hour, 5 * time.Second, 36 * time.Minute, 40 * time.Minute},
		{"refreshBefore longer than the lifetime falls back to 2/3", time.Hour, 2 * time.Hour, 5 * time.Second, 36 * time.Minute, 40 * time.Minute},
		{"long-lived token: jitter capped", 30 * 24 * time.Hour, 0, 5 * time.Second, 20*24*time.Hour - MaxRefreshJitter, 20 * 24 * time.Hour},
		{"very short token: never sooner than the minimum interval", 3 * time.Second, 0, 5 * time.Second, 5 * time.Second, 5 * time.Second},
		{"expired on arrival: the minimum interval", 0, 0, 5 * time.Second, 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issued := t0
			for i := range 200 {
				seed := fmt.Sprintf("uid-%d", i)
				got := RefreshTime(issued, issued.Add(tt.lifetime), tt.refreshBefore, tt.minInterval, seed)
				if got.Before(issued.Add(tt.earliest).Truncate(time.Second)) || got.After(issued.Add(tt.latest)) {
					t.Fatalf("seed %s: refresh at +%s, want within [+%s, +%s]", seed, got.Sub(issued), tt.earliest, tt.latest)
				}
				if got.Nanosecond() != 0 {
					t.Fatalf("refresh time %s is not truncated to seconds", got)
				}
				if again := RefreshTime(issued, issued.Add(tt.lifetime), tt.refreshBefore, tt.minInterval, seed); !again.Equal(got) {
					t.Fatalf("not deterministic: %s then %s", got, again)
				}
			}
		})
	}
}

// Tokens issued in the same second with the same lifetime are spread: no second
// holds more than 5% of the refreshes.
func TestRefreshTimeSpread(t *testing.T) {
	const n = 1000
	perSecond := map[int64]int{}
	for i := range n {
		at := RefreshTime(t0, t0.Add(30*time.Minute), 0, 5*time.Second, fmt.Sprintf("0b7e5a3c-%04d", i))
		perSecond[at.Unix()]++
	}
	peak := 0
	for _, c := range perSecond {
		peak = max(peak, c)
	}
	if share := float64(peak) / n; share > 0.05 {
		t.Fatalf("peak share %.3f of refreshes in one second, want at most 0.05", share)
	}
	if len(perSecond) < 60 {
		t.Fatalf("refreshes fall in only %d distinct seconds", len(perSecond))
	}
}

func TestRetryDelay(t *testing.T) {
	base, maxDelay := 5*time.Second, 5*time.Minute
	tests := []struct {
		name       string
		attempt    int32
		retryAfter time.Duration
		want       time.Duration // before jitter
		exact      bool
	}{
		{"first failure", 1, 0, 5 * time.Second, false},
		{"second failure doubles", 2, 0, 10 * time.Second, false},
		{"fifth failure", 5, 0, 80 * time.Second, false},
		{"capped", 30, 0, 5 * time.Minute, false},
		{"attempt 0 counts as the first", 0, 0, 5 * time.Second, false},
		{"Retry-After longer than the backoff wins", 1, 2 * time.Minute, 2 * time.Minute, true},
		{"Retry-After shorter than the backoff is not a shortcut", 5, 10 * time.Second, 80 * time.Second, false},
		{"Retry-After capped at an hour", 1, 48 * time.Hour, MaxRetryAfter, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 100 {
				seed := fmt.Sprintf("uid-%d", i)
				got := RetryDelay(tt.attempt, base, maxDelay, tt.retryAfter, seed)
				lo := time.Duration(float64(tt.want) * (1 - RetryJitterFraction)).Truncate(time.Second)
				hi := time.Duration(float64(tt.want) * (1 + RetryJitterFraction)).Round(time.Second)
				if tt.exact {
					lo, hi = tt.want, tt.want
				}
				if got < lo || got > hi {
					t.Fatalf("seed %s: delay %s, want within [%s, %s]", seed, got, lo, hi)
				}
				if got != RetryDelay(tt.attempt, base, maxDelay, tt.retryAfter, seed) {
					t.Fatal("not deterministic")
				}
			}
		})
	}
}

// A failing client backs off: the retries of 10 consecutive failures grow,
// stay within the cap, and add up to more than 4 minutes.
func TestRetrySchedule(t *testing.T) {
	var prev, total time.Duration
	for attempt := int32(1); attempt <= 10; attempt++ {
		d := RetryDelay(attempt, time.Second, time.Minute, 0, "client-a")
		if attempt <= 5 && d <= prev {
			t.Fatalf("attempt %d: delay %s did not grow from %s", attempt, d, prev)
		}
		if d > time.Duration(float64(time.Minute)*(1+RetryJitterFraction)) {
			t.Fatalf("attempt %d: delay %s above the cap", attempt, d)
		}
		prev = d
		total += d
	}
	if total < 4*time.Minute {
		t.Fatalf("10 failures were retried within %s", total)
	}
}

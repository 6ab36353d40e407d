// Package schedule computes when a token is refreshed and when a failed token
// request is retried. Every function is pure: the same inputs give the same time,
// so a status computed twice is identical and is not written again.
package schedule

import (
	"encoding/binary"
	"hash/fnv"
	"time"
)

// Defaults of the refresh and retry schedule.
const (
	// RefreshJitterFraction is the largest share of the time until the planned
	// refresh by which a refresh is moved earlier, so that tokens issued in the
	// same second are not all refreshed in the same second.
	RefreshJitterFraction = 0.1
	// MaxRefreshJitter caps the refresh jitter for long-lived tokens.
	MaxRefreshJitter = 10 * time.Minute
	// RetryJitterFraction is the spread (plus or minus) of a retry delay.
	RetryJitterFraction = 0.2
	// MaxRetryAfter caps how long a Retry-After answer can hold back a retry.
	// It is the only cap of Retry-After: internal/oauth reports the delay the
	// endpoint asked for, and docs/troubleshooting.md says "up to 1h".
	MaxRetryAfter = time.Hour
)

// RefreshTime returns when a token issued at issued and expiring at expires is to
// be refreshed: expires-refreshBefore when 0 < refreshBefore < lifetime, else once
// 2/3 of the lifetime has passed; moved earlier by a jitter derived from seed, never
// sooner than minInterval after issued, and truncated to whole seconds (status
// stores seconds).
func RefreshTime(issued, expires time.Time, refreshBefore, minInterval time.Duration, seed string) time.Time {
	lifetime := expires.Sub(issued)
	if lifetime <= 0 {
		return issued.Add(minInterval).Truncate(time.Second)
	}
	until := lifetime * 2 / 3
	if refreshBefore > 0 && refreshBefore < lifetime {
		until = lifetime - refreshBefore
	}
	jitter := time.Duration(float64(until) * RefreshJitterFraction * unitFraction(seed, issued.Unix()))
	jitter = min(jitter, MaxRefreshJitter)
	until -= jitter
	until = max(until, minInterval)
	return issued.Add(until).Truncate(time.Second)
}

// RetryDelay returns how long to wait after the attempt-th consecutive failure
// (1 for the first): base doubled for each further failure, capped at maxDelay,
// spread by plus or minus RetryJitterFraction from seed. A Retry-After from the
// endpoint, up to MaxRetryAfter, is honoured when it is longer.
func RetryDelay(attempt int32, base, maxDelay, retryAfter time.Duration, seed string) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	delay := base
	for i := int32(1); i < attempt && delay < maxDelay; i++ {
		delay *= 2
	}
	delay = min(delay, maxDelay)
	spread := (unitFraction(seed, int64(attempt))*2 - 1) * RetryJitterFraction
	delay = time.Duration(float64(delay) * (1 + spread))
	if retryAfter > delay {
		delay = min(retryAfter, MaxRetryAfter)
	}
	return max(delay, time.Second).Round(time.Second)
}

// unitFraction maps (seed, n) to a number in [0, 1), the same for the same inputs.
func unitFraction(seed string, n int64) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(seed))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	_, _ = h.Write(b[:])
	x := h.Sum64()
	// splitmix64 finaliser: every input bit moves every output bit.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / float64(1<<53)
}

// Jitter is a duration in [0, max), the same for the same seed.
func Jitter(seed string, max time.Duration) time.Duration {
	return time.Duration(unitFraction(seed, 0) * float64(max))
}

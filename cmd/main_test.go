package main

import "testing"

func TestClientRateLimit(t *testing.T) {
	for _, tt := range []struct {
		qps       float64
		burst     int
		wantQPS   float32
		wantBurst int
	}{
		{0, 0, -1, 0},   // the default: no client-side limit
		{0, 100, -1, 0}, // a burst alone sets nothing
		{-5, 0, -1, 0},
		{50, 0, 50, 100}, // burst defaults to twice the QPS
		{50, 60, 50, 60},
		{0.2, 0, 0.2, 1},
	} {
		q, b := clientRateLimit(tt.qps, tt.burst)
		if q != tt.wantQPS || b != tt.wantBurst {
			t.Errorf("clientRateLimit(%v, %d) = %v, %d, want %v, %d", tt.qps, tt.burst, q, b, tt.wantQPS, tt.wantBurst)
		}
	}
}

package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestFailureReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&oauth.ResponseError{StatusCode: 400, ErrorCode: "invalid_client"}, ReasonInvalidClient},
		{&oauth.ResponseError{StatusCode: 401}, ReasonInvalidClient},
		{fmt.Errorf("wrapped: %w", &oauth.ResponseError{StatusCode: 400, ErrorCode: "unauthorized_client"}), ReasonInvalidClient},
		{&oauth.ResponseError{StatusCode: 429, RetryAfter: time.Minute}, ReasonRateLimited},
		{&oauth.ResponseError{StatusCode: 503}, ReasonHTTP5xx},
		{&oauth.ResponseError{StatusCode: 400, ErrorCode: "invalid_scope"}, ReasonHTTP4xx},
		{&oauth.ResponseError{StatusCode: 302}, ReasonHTTP4xx},
		{fmt.Errorf("requesting token: %w", context.DeadlineExceeded), ReasonTimeout},
		{&net.OpError{Op: "dial", Err: timeoutErr{}}, ReasonTimeout},
		{fmt.Errorf("dial: address 10.0.0.1: %w", netguard.ErrRefused), ReasonRefusedNetwork},
		{fmt.Errorf("x: %w", oauth.ErrInvalidResponse), ReasonInvalidResponse},
		{fmt.Errorf("x: %w", oauth.ErrResponseTooLarge), ReasonInvalidResponse},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, ReasonNetwork},
	}
	for _, tt := range tests {
		got := FailureReason(tt.err)
		if got != tt.want {
			t.Errorf("FailureReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if tt.err != nil && !slices.Contains(FailureReasons, got) {
			t.Errorf("FailureReason(%v) = %q, not one of FailureReasons", tt.err, got)
		}
	}
}

// A failed request is counted under its reason, a success under no reason.
func TestTokenRequestsByReason(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.ObserveRequest("idp.example.com", time.Millisecond, nil)
	m.ObserveRequest("idp.example.com", time.Millisecond, &oauth.ResponseError{StatusCode: 401, ErrorCode: "invalid_client"})
	m.ObserveRequest("idp.example.com", time.Millisecond, &oauth.ResponseError{StatusCode: 500})
	m.ObserveRequest("idp.example.com", time.Millisecond, &oauth.ResponseError{StatusCode: 500})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		if f.GetName() != "tokenator_token_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			got = append(got, fmt.Sprintf("%s %s %q %g", l["host"], l["result"], l["reason"], s.GetCounter().GetValue()))
		}
	}
	slices.Sort(got)
	want := []string{
		`idp.example.com failure "http_5xx" 2`,
		`idp.example.com failure "invalid_client" 1`,
		`idp.example.com success "" 1`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("series %q, want %q", got, want)
	}
}

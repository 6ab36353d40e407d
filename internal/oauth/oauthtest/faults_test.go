package oauthtest

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// sendWith posts a good request with c, which keeps its connections between
// calls, and returns the status or the transport error.
func sendWith(c *http.Client, s *Server) (*http.Response, error) {
	resp, err := c.Post(s.URL(), formType, bytes.NewReader(form(goodPost)))
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func TestFaultStatusesInTurn(t *testing.T) {
	s := newServer(t, Config{Kind: RFC6749})
	c := client(t, s)
	s.SetFault(Fault{Statuses: []int{500, 502, 503}, Count: 4})
	var got []int
	for i := 0; i < 5; i++ {
		resp, err := sendWith(c, s)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.StatusCode)
	}
	if want := []int{500, 502, 503, 500, 200}; !equalInts(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	// A new fault starts its turn again.
	s.SetFault(Fault{Statuses: []int{502, 504}})
	got = nil
	for i := 0; i < 3; i++ {
		resp, err := sendWith(c, s)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.StatusCode)
	}
	if want := []int{502, 504, 502}; !equalInts(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if s.Requests() != 8 || len(s.Issued()) != 1 {
		t.Errorf("Requests %d, Issued %d", s.Requests(), len(s.Issued()))
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDownRefusesConnectionsUntilUp(t *testing.T) {
	s := newServer(t, Config{Kind: RFC6749})
	c := client(t, s)
	if resp, err := sendWith(c, s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("before Down: %v", err)
	}
	s.Down()
	for i := 0; i < 2; i++ {
		// The first attempt finds its kept-alive connection closed by Down.
		if _, err := sendWith(c, s); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("while down: error = %v, want connection refused", err)
		}
	}
	s.Down() // idempotent
	if err := s.Up(); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if err := s.Up(); err != nil {
		t.Fatalf("Up again: %v", err)
	}
	if resp, err := sendWith(c, s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after Up: %v", err)
	}
	if s.Requests() != 2 || s.Connections() != 2 || len(s.Issued()) != 2 {
		t.Errorf("Requests %d, Connections %d, Issued %d; want 2, 2, 2", s.Requests(), s.Connections(), len(s.Issued()))
	}
}

func TestCloseWhileDown(t *testing.T) {
	s := NewServer(Config{Kind: RFC6749})
	s.Down()
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close of a server that is down did not return")
	}
}

func TestExpiredCertificate(t *testing.T) {
	expiredAt := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := newServer(t, Config{Kind: RFC6749, CertNotAfter: expiredAt})
	c := client(t, s) // trusts CAPEM, before and after the renewal
	expectExpired := func(when string) {
		t.Helper()
		_, err := sendWith(c, s)
		var invalid x509.CertificateInvalidError
		if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
			t.Fatalf("%s: error = %v, want an expired certificate", when, err)
		}
		if !invalid.Cert.NotAfter.Equal(expiredAt) {
			t.Errorf("%s: the certificate expires at %v", when, invalid.Cert.NotAfter)
		}
	}
	expectExpired("CertNotAfter in the past")
	if s.Requests() != 0 || s.Connections() != 1 {
		t.Errorf("Requests %d, Connections %d; want 0, 1", s.Requests(), s.Connections())
	}

	// Renewed: the same client, with the same trust, gets through.
	renewedUntil := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := s.SetCertificateNotAfter(renewedUntil); err != nil {
		t.Fatal(err)
	}
	resp, err := sendWith(c, s)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after renewal: %v", err)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if !leaf.NotAfter.Equal(renewedUntil) || leaf.IsCA {
		t.Errorf("presented certificate: NotAfter %v (want %v), IsCA %v", leaf.NotAfter, renewedUntil, leaf.IsCA)
	}

	// Expired again: the kept-alive connection is closed, so it shows at once.
	expiredAt = time.Now().Add(-time.Minute).Truncate(time.Second)
	if err := s.SetCertificateNotAfter(expiredAt); err != nil {
		t.Fatal(err)
	}
	expectExpired("SetCertificateNotAfter in the past")

	// The zero time restores the CA certificate itself.
	if err := s.SetCertificateNotAfter(time.Time{}); err != nil {
		t.Fatal(err)
	}
	resp, err = sendWith(c, s)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after restoring the default certificate: %v", err)
	}
	if leaf := resp.TLS.PeerCertificates[0]; !leaf.IsCA {
		t.Error("the default certificate is not the CA certificate")
	}
	if s.Requests() != 2 || s.Connections() != 4 {
		t.Errorf("Requests %d, Connections %d; want 2, 4", s.Requests(), s.Connections())
	}
}

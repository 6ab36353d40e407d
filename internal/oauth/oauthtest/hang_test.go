package oauthtest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/url"
	"testing"
	"time"
)

// A delayed request whose client goes away is dropped, never answered. When
// http.Transport gives up on a request (Client.Timeout, a canceled context),
// it closes the connection with a TLS close_notify first and the socket just
// after; an answer written in between, as soon as the server reads the
// close_notify, may still be taken for the request's. Were the hanging
// endpoint to answer then (an empty 200 when its handler returns), a client
// would sometimes read a 200 where the endpoint hangs. The client here sends
// the close_notify and keeps reading, as the transport does in that window.
func TestDelayedRequestWhoseClientLeavesIsNotAnswered(t *testing.T) {
	s := NewServer(Config{Kind: RFC6749, Clients: map[string]string{"id": "secret"}})
	defer s.Close()
	s.SetFault(Fault{Delay: time.Hour})
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.CAPEM())
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const body = "grant_type=client_credentials"
	if _, err := io.WriteString(conn, "POST "+u.Path+" HTTP/1.1\r\nHost: "+u.Host+
		"\r\nAuthorization: Basic aWQ6c2VjcmV0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	waitActive(t, s, 1)

	if err := conn.CloseWrite(); err != nil { // the close_notify
		t.Fatal(err)
	}
	waitActive(t, s, 0) // the server saw the client leave
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	answer, err := io.ReadAll(conn)
	if len(answer) > 0 {
		t.Fatalf("the hanging endpoint answered a client that left: %q", answer)
	}
	t.Logf("the connection ended without an answer: %v", err)
}

// waitActive waits until s handles n requests.
func waitActive(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Active() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the server handles %d requests, want %d", s.Active(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

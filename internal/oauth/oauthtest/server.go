// Package oauthtest runs local HTTPS token endpoints that behave like the
// providers tokenator supports (Lucca, Luxclusif, a JSON-body partner API and
// a plain RFC 6749 server), including rejecting the wrong body encoding, and
// verifying JWT client assertions (RFC 7523) and TLS client certificates
// (RFC 8705) besides client secrets, so that the token request can be tested
// end to end without the internet.
//
// Servers listen on the loopback interface only, with their own self-signed
// certificate: trust it with CAPEM. They are safe for concurrent use. The
// package does not import "testing", so programs (a demo) can use it too.
package oauthtest

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Kind selects the provider a Server imitates.
type Kind string

const (
	// Lucca imitates accounts.world.luccasoftware.com: POST /connect/token,
	// application/x-www-form-urlencoded only, 30-minute opaque tokens,
	// space-separated scopes.
	Lucca Kind = "lucca"
	// Luxclusif imitates (sandbox-)sts.luxclusif.com: POST /connect/token,
	// multipart/form-data only, scope exactly "buyback buyback.partner" or
	// "buyback buyback.buyer".
	Luxclusif Kind = "luxclusif"
	// JSONBody imitates a partner API: POST /api/oauth/token with a JSON body
	// and Accept: application/json; tokens are JWTs.
	JSONBody Kind = "json"
	// RFC6749 is a plain RFC 6749 server: POST /oauth2/token, form only,
	// client_secret_basic and/or client_secret_post.
	RFC6749 Kind = "rfc6749"
	// Google imitates oauth2.googleapis.com for service account keys: POST
	// /token, form only, the jwt-bearer grant with an RS256 assertion of a
	// key registered with SetServiceAccountKey, Google's answers and errors
	// (see serveGoogle).
	Google Kind = "google"
)

// Config describes a Server.
type Config struct {
	// Kind is the provider imitated; required.
	Kind Kind
	// Clients maps each accepted client_id to its client_secret.
	Clients map[string]string
	// Lifetime is the expires_in of issued tokens (whole seconds); 0 means
	// 30 minutes for Lucca and one hour for the others.
	Lifetime time.Duration
	// ClientAuth restricts client authentication to "basic", "post",
	// "assertion" (a JWT client assertion, RFC 7523) or "tls" (a client
	// certificate, RFC 8705); "" accepts all of them. Lucca, Luxclusif and
	// RFC6749 accept basic and post by default; JSONBody only ever accepts
	// body credentials (post, assertion) or a certificate.
	ClientAuth string
	// ClientKeys maps a client_id to the public key that verifies its
	// private_key_jwt assertions; client_secret_jwt assertions (HS256,
	// HS384, HS512) are verified with the client's secret in Clients.
	ClientKeys map[string]crypto.PublicKey
	// ClientCertificates maps a client_id to the PEM certificates its TLS
	// client certificate must be or be issued by (SetClientCertificates).
	// The server asks every client for a certificate, and accepts none.
	ClientCertificates map[string][]byte
	// AssertionAudience is the aud a client assertion must name; "" means
	// the token URL.
	AssertionAudience string
	// AllowedScopes, when not nil, is the set of scopes a client may request:
	// every requested scope must be in it (else invalid_scope). Luxclusif
	// additionally requires one of its two exact scope values.
	AllowedScopes []string
	// OmitExpiresIn answers without expires_in, to exercise the JWT exp
	// (JSONBody) and default lifetime (others) fallbacks.
	OmitExpiresIn bool
	// CertNotAfter, when not zero, makes the server present a certificate
	// signed by its CA (CAPEM) that expires at this time instead of the CA
	// certificate itself. A time in the past imitates an endpoint whose
	// certificate has expired: clients that trust CAPEM fail the handshake.
	// See also SetCertificateNotAfter.
	CertNotAfter time.Time
	// VerifyAssertion, when set, accepts clients that authenticate with a
	// JWT client assertion (client_assertion_type jwt-bearer) it verifies.
	VerifyAssertion AssertionVerifier
	// VerifySubjectToken, when set, makes an RFC6749 server accept the token
	// exchange grant (RFC 8693) of a subject token of type jwt it verifies;
	// the client authenticates as for client_credentials, or not at all
	// with ClientAuth "none".
	VerifySubjectToken SubjectTokenVerifier
	// ServiceAccountKeys are the service account keys a Google server
	// knows (SetServiceAccountKey).
	ServiceAccountKeys []ServiceAccountKey
}

// Fault makes requests fail (or slow down). The request is still counted and
// recorded first.
type Fault struct {
	// Status, when not 0, is answered instead of the normal processing, with
	// Body, ContentType (default application/json when Body is set),
	// RetryAfter (the Retry-After header, when set) and Header.
	Status int
	// Statuses, when not empty, replaces Status: the requests the fault
	// affects are answered these statuses in turn (for example 500, 502,
	// 503, 500, ...: a storm of server errors).
	Statuses    []int
	Body        string
	ContentType string
	RetryAfter  string
	Header      map[string]string
	// Delay is waited before answering. The wait ends early when the client
	// goes away, or when the server closes; the connection is then dropped
	// without an answer. With Status 0 the request is then processed
	// normally.
	Delay time.Duration
	// Count is how many requests the fault affects; 0 means all of them
	// until ClearFault.
	Count int
}

// RecordedRequest is what a Server saw of a token request. It holds the
// credentials: never log it.
type RecordedRequest struct {
	Method      string
	Path        string
	ContentType string // the Content-Type header as sent
	Header      http.Header
	// Params are the body parameters (first value of each) decoded from
	// whichever of form, multipart or JSON the Content-Type names.
	Params map[string]string
	// BasicAuth tells whether an Authorization: Basic header was sent;
	// BasicUser and BasicPassword are its credentials decoded per RFC 6749
	// section 2.3.1 (base64, then form-url-decoding of each part).
	BasicAuth     bool
	BasicUser     string
	BasicPassword string
	// ClientCertificates is the TLS client certificate chain presented, DER,
	// the leaf first; nil when none was.
	ClientCertificates [][]byte
}

// Server is a local HTTPS token endpoint.
type Server struct {
	cfg      Config
	provider provider
	ts       *httptest.Server
	listener *switchListener
	ca       *authority
	caPEM    []byte
	closing  chan struct{}
	once     sync.Once

	mu         sync.Mutex
	clients    map[string]string
	keys       map[string]crypto.PublicKey
	certs      map[string][]*x509.Certificate
	jtis       map[string]bool
	saKeys     map[string]ServiceAccountKey // by key id
	assertions []string
	issued     []string
	requests   int
	active     int
	peak       int // the most requests handled at once since PeakActive
	fault      *Fault
	faultLeft  int // with fault set: remaining requests, or -1 for all
	faultSeen  int // requests the current fault affected, for Statuses
	last       RecordedRequest
	cert       *tls.Certificate // the certificate presented in handshakes
}

// maxRequestBody bounds the request bodies a Server reads.
const maxRequestBody = 1 << 20

// NewServer starts a server on a loopback address. It panics when cfg.Kind
// is unknown or the certificate cannot be created, like httptest does.
func NewServer(cfg Config) *Server {
	p, ok := providers[cfg.Kind]
	if !ok {
		panic("oauthtest: unknown Kind " + string(cfg.Kind))
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = p.lifetime
	}
	ca, err := newAuthority()
	if err != nil {
		panic("oauthtest: creating certificate: " + err.Error())
	}
	s := &Server{cfg: cfg, provider: p, ca: ca, caPEM: ca.pem, closing: make(chan struct{}), clients: maps.Clone(cfg.Clients)}
	if s.clients == nil {
		s.clients = map[string]string{}
	}
	s.keys, s.certs, s.jtis = maps.Clone(cfg.ClientKeys), map[string][]*x509.Certificate{}, map[string]bool{}
	if s.keys == nil {
		s.keys = map[string]crypto.PublicKey{}
	}
	s.saKeys = map[string]ServiceAccountKey{}
	for _, k := range cfg.ServiceAccountKeys {
		s.saKeys[k.KeyID] = k
	}
	for id, certPEM := range cfg.ClientCertificates {
		s.certs[id] = parseCertificates(certPEM)
	}
	s.cert = &ca.cert
	if !cfg.CertNotAfter.IsZero() {
		if s.cert, err = ca.issue(cfg.CertNotAfter); err != nil {
			panic("oauthtest: creating certificate: " + err.Error())
		}
	}
	s.ts = httptest.NewUnstartedServer(s)
	s.listener = newSwitchListener(s.ts.Listener)
	s.ts.Listener = s.listener
	s.ts.TLS = &tls.Config{
		// Certificates only keeps httptest from adding its own; every
		// handshake gets the current certificate from GetConfigForClient.
		Certificates: []tls.Certificate{ca.cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			// Every client is asked for a certificate (tls client
			// authentication); the handler checks it, so none is verified here.
			return &tls.Config{Certificates: []tls.Certificate{*s.cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"},
				ClientAuth: tls.RequestClientCert}, nil
		},
	}
	// Handshake failures (a client that does not trust us) are expected.
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.ts.StartTLS()
	return s
}

// URL is the full token URL, such as https://127.0.0.1:port/connect/token.
func (s *Server) URL() string { return s.ts.URL + s.provider.path }

// BaseURL is https://127.0.0.1:port.
func (s *Server) BaseURL() string { return s.ts.URL }

// CAPEM is the PEM certificate to trust to reach the server.
func (s *Server) CAPEM() []byte { return bytes.Clone(s.caPEM) }

// Close releases delayed requests and shuts the server down.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.ts.Close()
}

// Issued returns every access token issued so far, oldest first.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Requests is the number of requests received, rejected ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Active is the number of requests being handled right now (for example
// waiting out a Fault.Delay).
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// PeakActive is the most requests handled at once since the previous call
// (or since the server started); the count then starts again from the
// requests being handled now.
func (s *Server) PeakActive() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peak
	s.peak = s.active
	return p
}

// SetClientSecret makes the server accept secret, and only it, for clientID:
// a credentials rotation.
func (s *Server) SetClientSecret(clientID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = secret
}

// SetFault applies f to the next f.Count requests, or to all of them until
// ClearFault when f.Count is 0. It replaces any previous fault.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Statuses = slices.Clone(f.Statuses)
	s.fault = &f
	s.faultSeen = 0
	s.faultLeft = f.Count
	if f.Count <= 0 {
		s.faultLeft = -1
	}
}

// ClearFault removes the fault.
func (s *Server) ClearFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = nil
}

// Connections is the number of TCP connections accepted so far, including
// those whose TLS handshake failed (a client that does not trust the
// certificate): it counts the attempts that never become requests.
func (s *Server) Connections() int { return s.listener.accepted() }

// Down stops the server from listening, so that connecting to its address is
// refused, and closes every open connection: the endpoint is unreachable
// until Up. Requests being delayed by a Fault are dropped.
func (s *Server) Down() {
	s.listener.down()
	s.ts.CloseClientConnections()
}

// Up listens again on the same address after Down. It fails when the port
// was taken in the meantime.
func (s *Server) Up() error { return s.listener.up() }

// SetCertificateNotAfter makes the server present, from the next handshake
// on, a certificate signed by its CA (so still trusted through CAPEM) that
// expires at notAfter; the zero time restores the default certificate. Open
// connections are closed, so that the next request shakes hands anew: an
// expired certificate, then its renewal.
func (s *Server) SetCertificateNotAfter(notAfter time.Time) error {
	cert := &s.ca.cert
	if !notAfter.IsZero() {
		var err error
		if cert, err = s.ca.issue(notAfter); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.cert = cert
	s.mu.Unlock()
	s.ts.CloseClientConnections()
	return nil
}

// LastRequest returns the last request received (the zero value if none).
func (s *Server) LastRequest() RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyRecorded(s.last)
}

// ServeHTTP handles one request: record it, apply the fault, then behave as
// the provider.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	rec, parsed := record(r, body)
	s.mu.Lock()
	s.requests++
	s.active++
	s.peak = max(s.peak, s.active)
	s.last = copyRecorded(rec)
	if a := rec.Params["client_assertion"]; a != "" {
		s.assertions = append(s.assertions, a)
	}
	for _, name := range []string{"assertion", "subject_token"} {
		if a := rec.Params[name]; a != "" {
			s.assertions = append(s.assertions, a)
		}
	}
	fault := s.takeFault()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
	}()

	if fault != nil {
		if fault.Delay > 0 {
			timer := time.NewTimer(fault.Delay)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-r.Context().Done():
				// The client went away: drop the connection rather than
				// answer an empty 200. The server reads a client's TLS
				// close_notify before the client closes its socket, and
				// http.Transport may take an answer written in between
				// for that of the request it gave up on.
				panic(http.ErrAbortHandler)
			case <-s.closing:
				// Drop the connection rather than answer an empty 200.
				panic(http.ErrAbortHandler)
			}
		}
		if fault.Status != 0 {
			writeFault(w, fault)
			return
		}
	}
	s.serveToken(w, r, rec, parsed)
}

// takeFault returns the fault for this request, if any; s.mu is held.
func (s *Server) takeFault() *Fault {
	if s.fault == nil {
		return nil
	}
	f := *s.fault
	if n := len(f.Statuses); n > 0 {
		f.Status = f.Statuses[s.faultSeen%n]
	}
	s.faultSeen++
	if s.faultLeft > 0 {
		s.faultLeft--
		if s.faultLeft == 0 {
			s.fault = nil
		}
	}
	return &f
}

func writeFault(w http.ResponseWriter, f *Fault) {
	for k, v := range f.Header {
		w.Header().Set(k, v)
	}
	switch {
	case f.ContentType != "":
		w.Header().Set("Content-Type", f.ContentType)
	case f.Body != "":
		w.Header().Set("Content-Type", "application/json")
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, f.Body)
}

// record decodes what the client sent, whatever the provider accepts. parsed
// is false when the body does not decode as its Content-Type says (or the
// Content-Type is none of form, multipart and JSON).
func record(r *http.Request, body []byte) (rec RecordedRequest, parsed bool) {
	rec = RecordedRequest{
		Method:      r.Method,
		Path:        r.URL.Path,
		ContentType: r.Header.Get("Content-Type"),
		Header:      r.Header.Clone(),
		Params:      map[string]string{},
	}
	rec.BasicUser, rec.BasicPassword, rec.BasicAuth = basicCredentials(r)
	if r.TLS != nil {
		for _, c := range r.TLS.PeerCertificates {
			rec.ClientCertificates = append(rec.ClientCertificates, c.Raw)
		}
	}
	mediaType, params, _ := mime.ParseMediaType(rec.ContentType)
	switch mediaType {
	case "application/x-www-form-urlencoded":
		values, err := url.ParseQuery(string(body))
		for k, v := range values {
			rec.Params[k] = v[0]
		}
		parsed = err == nil
	case "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(maxRequestBody)
		if err == nil {
			for k, v := range form.Value {
				rec.Params[k] = v[0]
			}
			_ = form.RemoveAll()
		}
		parsed = err == nil
	case "application/json":
		var values map[string]string
		values, parsed = jsonParams(body)
		for k, v := range values {
			rec.Params[k] = v
		}
	}
	return rec, parsed
}

func copyRecorded(r RecordedRequest) RecordedRequest {
	r.Header = r.Header.Clone()
	params := make(map[string]string, len(r.Params))
	for k, v := range r.Params {
		params[k] = v
	}
	r.Params = params
	r.ClientCertificates = slices.Clone(r.ClientCertificates)
	return r
}

package oauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Defaults and limits of the HTTP clients built by NewHTTPClient.
const (
	// DefaultTimeout is the whole-request timeout when HTTPOptions.Timeout is 0.
	DefaultTimeout = 30 * time.Second
	// MaxResponseHeaderBytes bounds the response headers.
	MaxResponseHeaderBytes = 64 << 10
	// MaxIdleConnsPerHost is the number of idle connections kept per host.
	MaxIdleConnsPerHost = 16

	dialTimeout         = 10 * time.Second
	keepAlive           = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	idleConnTimeout     = 90 * time.Second
	maxIdleConns        = 64
)

// HTTPOptions configures NewHTTPClient.
type HTTPOptions struct {
	// CABundle is PEM; its certificates are trusted in addition to the
	// system roots. Empty (or only white space) adds nothing. A non-empty
	// bundle without any parsable certificate is an error wrapping
	// ErrInvalidCABundle; unparsable blocks next to good ones are skipped.
	CABundle []byte
	// ClientCertificate, when set, is presented in every TLS handshake that
	// asks for a client certificate (RFC 8705 client authentication), with
	// its whole chain, whatever CAs the server names as acceptable.
	ClientCertificate *tls.Certificate
	// Timeout bounds the whole request, reading the body included; 0 (or
	// less) means DefaultTimeout. It also bounds the wait for the response
	// headers.
	Timeout time.Duration
	// DialContext, when set, opens the TCP connections (an SSRF guard plugs
	// in here); nil means NewDialer's. When a proxy is used, it is called
	// with the proxy's address, not the token endpoint's.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Proxy, when set, chooses the proxy of each request, as
	// http.Transport.Proxy does (a guard of the CONNECT target plugs in
	// here); nil means http.ProxyFromEnvironment.
	Proxy func(*http.Request) (*url.URL, error)
}

// NewDialer returns the dialer of the token clients: a 10 s connect timeout,
// 30 s TCP keep-alive, and net.Dialer's Happy Eyeballs between IPv6 and IPv4.
func NewDialer() *net.Dialer {
	return &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
}

// NewHTTPClient returns an HTTP client for token requests: it never follows
// redirects (a 3xx becomes a *ResponseError), requires TLS 1.2 or later,
// trusts the system roots plus opts.CABundle, uses the proxy from the
// environment (or opts.Proxy), bounds the request time and the response headers, and keeps
// idle connections for reuse.
func NewHTTPClient(opts HTTPOptions) (*http.Client, error) {
	roots, err := certPool(opts.CABundle)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dial := opts.DialContext
	if dial == nil {
		dial = NewDialer().DialContext
	}
	proxy := opts.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert := opts.ClientCertificate; cert != nil {
		tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return cert, nil
		}
	}
	transport := &http.Transport{
		Proxy:                  proxy,
		DialContext:            dial,
		TLSClientConfig:        tlsConfig,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    MaxIdleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// certPool returns the system roots plus the certificates of bundle.
func certPool(bundle []byte) (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	bundle = bytes.TrimSpace(bundle)
	if len(bundle) == 0 {
		return roots, nil
	}
	// Blocks of another type, with PEM headers, or whose certificate does
	// not parse are skipped.
	if !roots.AppendCertsFromPEM(bundle) {
		// The size of the bundle is not said: the key may be any key of any
		// Secret, and its size is not the reader's to know.
		return nil, fmt.Errorf("%w: no PEM certificate could be parsed", ErrInvalidCABundle)
	}
	return roots, nil
}

package oauth

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"net/http"
	"sync"

	"k8s.io/utils/lru"
)

// MaxCachedHTTPClients is how many clients an HTTPClients keeps.
const MaxCachedHTTPClients = 64

// HTTPClients caches one *http.Client per CA bundle and client certificate,
// keyed by the SHA-256 of the bundle and the certificate chain, so that connections are reused across token requests. It keeps
// at most MaxCachedHTTPClients clients and evicts the least recently used one,
// closing its idle connections. It is safe for concurrent use.
type HTTPClients struct {
	base HTTPOptions

	// mu makes the look-up and the build of a missing client one step, so
	// that concurrent Gets of one bundle share a client.
	mu    sync.Mutex
	cache *lru.Cache // of *http.Client by [sha256.Size]byte
}

// NewHTTPClients returns an empty cache whose clients are built with base;
// base.CABundle and base.ClientCertificate are ignored, each Get supplies
// its own.
func NewHTTPClients(base HTTPOptions) *HTTPClients {
	base.CABundle = nil
	base.ClientCertificate = nil
	return &HTTPClients{
		base: base,
		cache: lru.NewWithEvictionFunc(MaxCachedHTTPClients, func(_ lru.Key, v any) {
			// Requests in flight keep their connections; only idle ones close.
			v.(*http.Client).CloseIdleConnections()
		}),
	}
}

// Get returns the client that trusts the system roots plus caBundle (nil or
// empty for the system roots only) and presents no client certificate. See
// GetWithCertificate.
func (c *HTTPClients) Get(caBundle []byte) (*http.Client, error) {
	return c.GetWithCertificate(caBundle, nil)
}

// GetWithCertificate returns the client that trusts the system roots plus
// caBundle and presents cert (nil for none), building it on first use. A
// renewed certificate is another key, so another client: it is used from
// the next request on, and the client of the old one is evicted in time. An
// invalid bundle returns an error wrapping ErrInvalidCABundle and is not
// cached.
func (c *HTTPClients) GetWithCertificate(caBundle []byte, cert *tls.Certificate) (*http.Client, error) {
	h := sha256.New()
	h.Write(bytes.TrimSpace(caBundle))
	if cert != nil {
		// The chain identifies the key too: it matches the leaf.
		for _, der := range cert.Certificate {
			h.Write([]byte{0})
			h.Write(der)
		}
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])

	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cache.Get(key); ok {
		return v.(*http.Client), nil
	}
	opts := c.base
	opts.CABundle = caBundle
	opts.ClientCertificate = cert
	client, err := NewHTTPClient(opts)
	if err != nil {
		return nil, err
	}
	c.cache.Add(key, client)
	return client, nil
}

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

// Reach says which networks a token endpoint may reach, so which dialer and
// proxy guard its client connects through (see NewHTTPClientsByReach).
type Reach uint8

const (
	// ReachOwn is the reach of an endpoint an OAuthClient names itself: the
	// tenant wrote it.
	ReachOwn Reach = iota
	// ReachProvider is the reach of a ClusterOAuthProvider's endpoint: the
	// platform team chose it.
	ReachProvider
)

// HTTPClients caches one *http.Client per reach, CA bundle and client
// certificate, keyed by the reach and the SHA-256 of the bundle and the
// certificate chain, so that connections are reused across token requests. It
// keeps at most MaxCachedHTTPClients clients, of all reaches together, and
// evicts the least recently used one, closing its idle connections. It is safe
// for concurrent use.
type HTTPClients struct {
	// bases are the options of each reach's clients, by Reach.
	bases [2]HTTPOptions

	// mu makes the look-up and the build of a missing client one step, so
	// that concurrent Gets of one bundle share a client.
	mu    sync.Mutex
	cache *lru.Cache // of *http.Client by clientKey
}

// clientKey identifies a cached client.
type clientKey struct {
	reach Reach
	sum   [sha256.Size]byte
}

// NewHTTPClients returns an empty cache whose clients of every reach are
// built with base; base.CABundle and base.ClientCertificate are ignored, each
// Get supplies its own.
func NewHTTPClients(base HTTPOptions) *HTTPClients {
	return NewHTTPClientsByReach(base, base)
}

// NewHTTPClientsByReach returns an empty cache whose clients of ReachOwn are
// built with own and those of ReachProvider with provider: their DialContext
// and Proxy (the network guards of each reach) tell them apart. CABundle and
// ClientCertificate are ignored, each Get supplies its own.
func NewHTTPClientsByReach(own, provider HTTPOptions) *HTTPClients {
	bases := [2]HTTPOptions{ReachOwn: own, ReachProvider: provider}
	for i := range bases {
		bases[i].CABundle = nil
		bases[i].ClientCertificate = nil
	}
	return &HTTPClients{
		bases: bases,
		cache: lru.NewWithEvictionFunc(MaxCachedHTTPClients, func(_ lru.Key, v any) {
			// Requests in flight keep their connections; only idle ones close.
			v.(*http.Client).CloseIdleConnections()
		}),
	}
}

// Get returns the client of ReachOwn that trusts the system roots plus
// caBundle (nil or empty for the system roots only) and presents no client
// certificate. See GetFor.
func (c *HTTPClients) Get(caBundle []byte) (*http.Client, error) {
	return c.GetFor(ReachOwn, caBundle, nil)
}

// GetWithCertificate returns the client of ReachOwn that trusts the system
// roots plus caBundle and presents cert (nil for none). See GetFor.
func (c *HTTPClients) GetWithCertificate(caBundle []byte, cert *tls.Certificate) (*http.Client, error) {
	return c.GetFor(ReachOwn, caBundle, cert)
}

// GetFor returns the client of reach that trusts the system roots plus
// caBundle and presents cert (nil for none), building it on first use. A
// renewed certificate is another key, so another client: it is used from
// the next request on, and the client of the old one is evicted in time. An
// invalid bundle returns an error wrapping ErrInvalidCABundle and is not
// cached; an unknown reach is ReachOwn.
func (c *HTTPClients) GetFor(reach Reach, caBundle []byte, cert *tls.Certificate) (*http.Client, error) {
	if reach != ReachProvider {
		reach = ReachOwn
	}
	h := sha256.New()
	h.Write(bytes.TrimSpace(caBundle))
	if cert != nil {
		// The chain identifies the key too: it matches the leaf.
		for _, der := range cert.Certificate {
			h.Write([]byte{0})
			h.Write(der)
		}
	}
	key := clientKey{reach: reach}
	h.Sum(key.sum[:0])

	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cache.Get(key); ok {
		return v.(*http.Client), nil
	}
	opts := c.bases[reach]
	opts.CABundle = caBundle
	opts.ClientCertificate = cert
	client, err := NewHTTPClient(opts)
	if err != nil {
		return nil, err
	}
	c.cache.Add(key, client)
	return client, nil
}

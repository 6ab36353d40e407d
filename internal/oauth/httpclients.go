package oauth

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"sync"

	"k8s.io/utils/lru"
)

// MaxCachedHTTPClients is how many clients an HTTPClients keeps.
const MaxCachedHTTPClients = 64

// HTTPClients caches one *http.Client per CA bundle, keyed by the SHA-256 of
// the bundle, so that connections are reused across token requests. It keeps
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
// base.CABundle is ignored, each Get supplies its own bundle.
func NewHTTPClients(base HTTPOptions) *HTTPClients {
	base.CABundle = nil
	return &HTTPClients{
		base: base,
		cache: lru.NewWithEvictionFunc(MaxCachedHTTPClients, func(_ lru.Key, v any) {
			// Requests in flight keep their connections; only idle ones close.
			v.(*http.Client).CloseIdleConnections()
		}),
	}
}

// Get returns the client that trusts the system roots plus caBundle (nil or
// empty for the system roots only), building it on first use. An invalid
// bundle returns an error wrapping ErrInvalidCABundle and is not cached.
func (c *HTTPClients) Get(caBundle []byte) (*http.Client, error) {
	key := sha256.Sum256(bytes.TrimSpace(caBundle))

	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cache.Get(key); ok {
		return v.(*http.Client), nil
	}
	opts := c.base
	opts.CABundle = caBundle
	client, err := NewHTTPClient(opts)
	if err != nil {
		return nil, err
	}
	c.cache.Add(key, client)
	return client, nil
}

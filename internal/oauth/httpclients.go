package oauth

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"net/http"
	"sync"
)

// MaxCachedHTTPClients is how many clients an HTTPClients keeps.
const MaxCachedHTTPClients = 64

// HTTPClients caches one *http.Client per CA bundle, keyed by the SHA-256 of
// the bundle, so that connections are reused across token requests. It keeps
// at most MaxCachedHTTPClients clients and evicts the least recently used one,
// closing its idle connections. It is safe for concurrent use.
type HTTPClients struct {
	base HTTPOptions
	max  int

	mu      sync.Mutex
	lru     *list.List // of *cachedClient, most recently used first
	entries map[[sha256.Size]byte]*list.Element
}

type cachedClient struct {
	key    [sha256.Size]byte
	client *http.Client
}

// NewHTTPClients returns an empty cache whose clients are built with base;
// base.CABundle is ignored, each Get supplies its own bundle.
func NewHTTPClients(base HTTPOptions) *HTTPClients {
	base.CABundle = nil
	return &HTTPClients{
		base:    base,
		max:     MaxCachedHTTPClients,
		lru:     list.New(),
		entries: make(map[[sha256.Size]byte]*list.Element),
	}
}

// Get returns the client that trusts the system roots plus caBundle (nil or
// empty for the system roots only), building it on first use. An invalid
// bundle returns an error wrapping ErrInvalidCABundle and is not cached.
func (c *HTTPClients) Get(caBundle []byte) (*http.Client, error) {
	key := sha256.Sum256(bytes.TrimSpace(caBundle))

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*cachedClient).client, nil
	}
	opts := c.base
	opts.CABundle = caBundle
	client, err := NewHTTPClient(opts)
	if err != nil {
		return nil, err
	}
	c.entries[key] = c.lru.PushFront(&cachedClient{key: key, client: client})
	for c.lru.Len() > c.max {
		oldest := c.lru.Back()
		entry := c.lru.Remove(oldest).(*cachedClient)
		delete(c.entries, entry.key)
		// Requests in flight keep their connections; only idle ones close.
		entry.client.CloseIdleConnections()
	}
	return client, nil
}

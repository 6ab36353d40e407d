package secret

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// heldTokens is this process's memory of the derived Secrets it wrote or read:
// for each OAuthClient, the version of its Secret and the token that version
// holds. The manager's caches hold Secrets as metadata only (no data of any
// Secret, tenants' included, is ever cached), so this is how a reconcile knows
// the token a derived Secret holds without reading it: a Secret whose
// resourceVersion is the one remembered holds the remembered token; any other
// version (after a restart, or an edit) is read once from the API server.
type heldTokens struct {
	mu sync.Mutex
	m  map[types.NamespacedName]heldSecret
}

// heldSecret is one version of a derived Secret and its token.
type heldSecret struct {
	name            string
	uid             types.UID
	resourceVersion string
	token           oauth.Token
}

// get returns the token of the version uid/rv of Secret name of the OAuthClient key.
func (h *heldTokens) get(key types.NamespacedName, name string, uid types.UID, rv string) (*oauth.Token, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.m[key]
	if !ok || s.name != name || s.uid != uid || s.resourceVersion != rv {
		return nil, false
	}
	tok := s.token
	return &tok, true
}

// put remembers that version uid/rv of Secret name holds tok.
func (h *heldTokens) put(key types.NamespacedName, name string, uid types.UID, rv string, tok oauth.Token) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[types.NamespacedName]heldSecret{}
	}
	h.m[key] = heldSecret{name: name, uid: uid, resourceVersion: rv, token: tok}
}

// forget drops what is remembered of the OAuthClient key.
func (h *heldTokens) forget(key types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
}

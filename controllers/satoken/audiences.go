package satoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// IsAPIAudience reports whether audience is one of the API server's, or
// differs from one only by a trailing slash.
func IsAPIAudience(audience string, apiAuds []string) bool {
	trimmed := strings.TrimRight(audience, "/")
	for _, a := range apiAuds {
		if a == audience || strings.TrimRight(a, "/") == trimmed {
			return true
		}
	}
	return false
}

// APIAudiences are the audiences the API server accepts for itself (its
// --api-audiences, which default to its service account issuers). No API
// tells them directly, so they are learned, once, from two sources:
//
//   - the issuer of the API server's service account issuer discovery
//     (/.well-known/openid-configuration), which is the default audience;
//   - when the operator runs in a Pod, the aud claim of its own ServiceAccount
//     token (the kubelet asks for it with no audience, so the API server
//     fills in all of its own), which covers an --api-audiences that differs
//     from the issuer.
//
// Either suffices; when neither can be read, no ServiceAccount token is
// requested (the reconcile is retried) rather than risk minting one the
// cluster would accept.
type APIAudiences struct {
	// HTTPClient and Host reach the API server, with the manager's credentials.
	HTTPClient *http.Client
	Host       string
	// TokenFile is the Pod's ServiceAccount token.
	TokenFile string

	mu      sync.Mutex
	learned []string
}

// InClusterTokenFile is where the kubelet mounts a Pod's ServiceAccount token.
const InClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

func (a *APIAudiences) Get(ctx context.Context) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.learned != nil {
		return a.learned, nil
	}
	auds := sets.New[string]()
	issuer, discoveryErr := a.discoveryIssuer(ctx)
	if discoveryErr == nil {
		auds.Insert(issuer)
	}
	own, tokenErr := TokenAudiences(a.TokenFile)
	if tokenErr == nil {
		auds.Insert(own...)
	}
	if auds.Len() == 0 {
		return nil, fmt.Errorf(msgAPIAudiencesUnknown, errors.Join(discoveryErr, tokenErr))
	}
	a.learned = sets.List(auds)
	log.FromContext(ctx).Info("Learned the API server's audiences; ServiceAccount tokens are never requested for them", "audiences", a.learned)
	return a.learned, nil
}

// discoveryIssuer reads the issuer of the API server's service account issuer
// discovery document.
func (a *APIAudiences) discoveryIssuer(ctx context.Context) (string, error) {
	if a.HTTPClient == nil {
		return "", errors.New("no API server connection")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(a.Host, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", err
	}
	resp, err := a.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("service account issuer discovery answered HTTP %d", resp.StatusCode)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Issuer == "" {
		return "", errors.New("service account issuer discovery: no issuer in the document")
	}
	return doc.Issuer, nil
}

// TokenAudiences is the aud claim of the JWT in file. The token is the
// Pod's own, read from the kubelet's mount: its signature is not checked.
func TokenAudiences(file string) ([]string, error) {
	if file == "" {
		return nil, errors.New("not running in a Pod")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the Pod's ServiceAccount token: %w", err)
	}
	var claims struct {
		Audience jwt.Audience `json:"aud"`
	}
	if !oauth.UnverifiedClaims(strings.TrimSpace(string(raw)), &claims) {
		return nil, errors.New("the Pod's ServiceAccount token is not a JWT")
	}
	if auds := slices.DeleteFunc(claims.Audience, func(a string) bool { return a == "" }); len(auds) > 0 {
		return auds, nil
	}
	return nil, errors.New("the Pod's ServiceAccount token has no aud claim")
}

package controllers

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
	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// The serviceAccountToken method: the client assertion is a token of a
// ServiceAccount of the OAuthClient's namespace (of the cluster resource
// namespace for a ClusterOAuthProvider), obtained through the
// TokenRequest API. The operator may create tokens for any ServiceAccount it
// can see; the ServiceAccount's opt-in annotation is what bounds that: a
// ServiceAccount that does not list an audience in
// tokenator.dev/token-audiences never gets a token for it, and an audience the
// API server accepts for itself is refused whatever the annotation says, so
// that no token tokenator mints is usable against the cluster.
//
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=serviceaccounts/token,verbs=create

// defaultServiceAccountTokenLifetime is the lifetime of a ServiceAccount token
// when clientAssertion.lifetime is unset: the shortest the API server issues.
const defaultServiceAccountTokenLifetime = 10 * time.Minute

// usesServiceAccountToken reports whether oc authenticates with a
// ServiceAccount token.
func usesServiceAccountToken(oc *tokenatorv1.OAuthClient) bool {
	return oc.Spec.ClientAuthentication == tokenatorv1.ClientAuthenticationServiceAccountToken
}

// usesTokenExchange reports whether ep's requests send a ServiceAccount
// token as the subject token: its grant is tokenExchange, which no preset
// implies.
func usesTokenExchange(ep *tokenatorv1.OAuthEndpoint) bool {
	return ep.Grant == tokenatorv1.GrantTokenExchange
}

// referencedServiceAccounts is the index function of indexServiceAccountRefs.
func referencedServiceAccounts(oc *tokenatorv1.OAuthClient) []string {
	var names []string
	if usesServiceAccountToken(oc) && oc.Spec.ClientAssertion != nil && oc.Spec.ClientAssertion.ServiceAccountName != "" {
		names = append(names, oc.Spec.ClientAssertion.ServiceAccountName)
	}
	if te := oc.Spec.TokenExchange; usesTokenExchange(&oc.Spec.OAuthEndpoint) && te != nil && te.ServiceAccountName != "" && !slices.Contains(names, te.ServiceAccountName) {
		names = append(names, te.ServiceAccountName)
	}
	return names
}

// stripServiceAccount is the transform of the metadata cache of
// ServiceAccounts: it keeps what identifies a version and the opt-in
// annotation, nothing else, so that the ServiceAccounts of the cluster cost
// little memory whatever they carry. An opt-in over its bounds (more than
// maxOptInBytes, or more than maxOptInAudiences audiences) is not kept: the
// annotationOptInOverBound marker takes its place, says which bound it is
// over, and makes the OAuthClients that use the ServiceAccount InvalidSpec.
// The informer may transform an object it already transformed, so a marker
// of a known value is kept too (one a tenant writes itself only makes its own
// ServiceAccount unusable).
func stripServiceAccount(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil
	}
	var keep map[string]string
	annotations := obj.GetAnnotations()
	if v, ok := annotations[tokenatorv1.AnnotationTokenAudiences]; ok {
		keep = map[string]string{tokenatorv1.AnnotationTokenAudiences: v}
		if over := optInOverBound(v); over != "" {
			keep = map[string]string{annotationOptInOverBound: over}
		}
	} else if over := annotations[annotationOptInOverBound]; over == optInOverBytes || over == optInOverAudiences {
		keep = map[string]string{annotationOptInOverBound: over}
	}
	obj.SetManagedFields(nil)
	obj.SetAnnotations(keep)
	obj.SetLabels(nil)
	obj.SetOwnerReferences(nil)
	obj.SetFinalizers(nil)
	return in, nil
}

// The bounds of a tokenator.dev/token-audiences annotation.
const (
	maxOptInBytes     = 4096
	maxOptInAudiences = 32
)

// annotationOptInOverBound is the key the ServiceAccount cache keeps instead
// of an opt-in annotation over its bounds; its value names the bound.
const annotationOptInOverBound = tokenatorv1.AnnotationTokenAudiences + "-over-bound"

// The values of annotationOptInOverBound: the bound the opt-in is over.
var (
	optInOverBytes     = fmt.Sprintf("%d KiB", maxOptInBytes>>10)
	optInOverAudiences = fmt.Sprintf("%d audiences", maxOptInAudiences)
)

// optInOverBound names the bound the opt-in value is over, or is "" when it
// is within them. The value is split only once its size is known to be
// small.
func optInOverBound(value string) string {
	if len(value) > maxOptInBytes {
		return optInOverBytes
	}
	if len(optInAudiences(value)) > maxOptInAudiences {
		return optInOverAudiences
	}
	return ""
}

// optInAudiences are the audiences a tokenator.dev/token-audiences value
// lists: comma-separated, blanks around each ignored.
func optInAudiences(value string) []string {
	var auds []string
	for _, a := range strings.Split(value, ",") {
		if a = strings.TrimSpace(a); a != "" {
			auds = append(auds, a)
		}
	}
	return auds
}

// saUse is one use of a ServiceAccount token by a token request: the client
// assertion of serviceAccountToken, or the subject token of tokenExchange.
// The fields name where the ServiceAccount and the audience are set, for the
// messages.
type saUse struct {
	name, audience           string
	lifetime                 time.Duration
	nameField, audienceField string
}

// serviceAccountAssertion is the ServiceAccount, audience and lifetime of a
// clientAssertion of the serviceAccountToken method.
func serviceAccountAssertion(ca *tokenatorv1.ClientAssertion) saUse {
	u := saUse{lifetime: defaultServiceAccountTokenLifetime,
		nameField: "spec.clientAssertion.serviceAccountName", audienceField: "spec.clientAssertion.audience"}
	if ca != nil {
		u.name, u.audience = ca.ServiceAccountName, ca.Audience
		if ca.Lifetime != nil {
			u.lifetime = ca.Lifetime.Duration
		}
	}
	return u
}

// subjectTokenUse is the ServiceAccount and audience of the subject token
// of the tokenExchange grant.
func subjectTokenUse(te *tokenatorv1.TokenExchange) saUse {
	u := saUse{lifetime: defaultServiceAccountTokenLifetime,
		nameField: "spec.tokenExchange.serviceAccountName", audienceField: "spec.tokenExchange.subjectTokenAudience"}
	if te != nil {
		u.name, u.audience = te.ServiceAccountName, te.SubjectTokenAudience
	}
	return u
}

// usesServiceAccountToken reports whether the endpoint of src authenticates
// with a ServiceAccount token.
func (s *requestSource) usesServiceAccountToken() bool {
	return s.endpoint.ClientAuthentication == tokenatorv1.ClientAuthenticationServiceAccountToken
}

// serviceAccountNamespace is where the ServiceAccount of src's endpoint is:
// the OAuthClient's namespace for its own endpoint, the cluster resource
// namespace for a ClusterOAuthProvider's, like every other reference of the
// endpoint.
func (s *requestSource) serviceAccountNamespace() string {
	return s.endpointNamespace
}

// endpointMessage names, for a provider's endpoint, the provider in front of
// a message that starts with a field of the endpoint.
func (s *requestSource) endpointMessage(msg string) string {
	if s.provider == nil {
		return msg
	}
	return fmt.Sprintf(msgProviderField, s.provider.Name, msg)
}

// serviceAccountVersion checks, from the metadata cache, that the
// ServiceAccounts whose tokens src's requests send (serviceAccountToken,
// tokenExchange) exist and opted in to their audiences, and that no audience
// is one of the API server's; it returns what identifies their opt-ins for
// the request hash (their UIDs and annotations, not their resourceVersions:
// an unrelated change of a ServiceAccount asks for no new token). nil when
// src uses no ServiceAccount token.
func (r *OAuthClientReconciler) serviceAccountVersion(ctx context.Context, src *requestSource) (*objectVersion, error) {
	var first *objectVersion
	if src.usesServiceAccountToken() {
		v, err := r.serviceAccountUseVersion(ctx, src, serviceAccountAssertion(src.endpoint.ClientAssertion))
		if err != nil {
			return nil, err
		}
		first = v
	}
	if usesTokenExchange(src.endpoint) {
		v, err := r.serviceAccountUseVersion(ctx, src, subjectTokenUse(src.endpoint.TokenExchange))
		if err != nil {
			return nil, err
		}
		if first == nil {
			return v, nil
		}
		first.Subject = v
	}
	return first, nil
}

// serviceAccountUseVersion checks one use of a ServiceAccount token, as
// serviceAccountVersion says, and returns the version of its ServiceAccount.
func (r *OAuthClientReconciler) serviceAccountUseVersion(ctx context.Context, src *requestSource, use saUse) (*objectVersion, error) {
	if use.name == "" || use.audience == "" {
		msg := msgSARequiresAssertion
		if use.nameField != "spec.clientAssertion.serviceAccountName" {
			msg = msgExchangeRequiresSA
		}
		return nil, invalidSpec(errors.New(src.endpointMessage(msg)))
	}
	apiAuds, err := r.apiAudiences.get(ctx)
	if err != nil {
		return nil, err
	}
	if isAPIAudience(use.audience, apiAuds) {
		return nil, invalidSpec(errors.New(src.endpointMessage(fmt.Sprintf(msgSAAudienceOfAPIServer, use.audienceField, use.audience))))
	}
	ns := src.serviceAccountNamespace()
	sa := metadataOnly("ServiceAccount")
	err = r.References.Get(ctx, types.NamespacedName{Namespace: ns, Name: use.name}, sa)
	if apierrors.IsNotFound(err) {
		if src.provider != nil {
			return nil, &referenceError{reason: tokenatorv1.ReasonProviderNotFound,
				message: fmt.Sprintf(msgProviderNotReady, src.provider.Name,
					fmt.Sprintf(msgProviderRefNotFound, use.nameField, "ServiceAccount", use.name, ns))}
		}
		return nil, &referenceError{reason: tokenatorv1.ReasonCredentialsNotFound,
			message: fmt.Sprintf(msgRefNotFound, use.nameField, "ServiceAccount", use.name, ns)}
	}
	if err != nil {
		return nil, fmt.Errorf("reading ServiceAccount %q: %w", use.name, err)
	}
	if over, ok := sa.Annotations[annotationOptInOverBound]; ok {
		return nil, invalidSpec(errors.New(src.endpointMessage(fmt.Sprintf(msgSAOptInOverBound, use.nameField, tokenatorv1.AnnotationTokenAudiences, use.name, over))))
	}
	optIn, ok := sa.Annotations[tokenatorv1.AnnotationTokenAudiences]
	if !ok {
		return nil, invalidSpec(errors.New(src.endpointMessage(fmt.Sprintf(msgSANotOptedIn, use.nameField, use.name, tokenatorv1.AnnotationTokenAudiences))))
	}
	if !slices.Contains(optInAudiences(optIn), use.audience) {
		return nil, invalidSpec(errors.New(src.endpointMessage(fmt.Sprintf(msgSAAudienceNotListed, use.audienceField, use.name, use.audience, tokenatorv1.AnnotationTokenAudiences))))
	}
	return &objectVersion{Kind: "ServiceAccount", Name: use.name, UID: sa.UID, OptIn: optIn}, nil
}

// isAPIAudience reports whether audience is one of the API server's, or
// differs from one only by a trailing slash.
func isAPIAudience(audience string, apiAuds []string) bool {
	trimmed := strings.TrimRight(audience, "/")
	for _, a := range apiAuds {
		if a == audience || strings.TrimRight(a, "/") == trimmed {
			return true
		}
	}
	return false
}

// serviceAccountCredentials are the client ID (the endpoint's clientID, else
// the credentials Secret's clientIDKey) and a ServiceAccount token for the
// client assertion. The ServiceAccount is in the OAuthClient's namespace for
// its own endpoint, in the cluster resource namespace for a
// ClusterOAuthProvider's (whose token its clients share).
func (r *OAuthClientReconciler) serviceAccountCredentials(ctx context.Context, src *requestSource) (credentials, error) {
	var c credentials
	switch {
	case src.endpoint.ClientID != "":
		c.clientID = src.endpoint.ClientID
	case src.credentials == nil:
		return credentials{}, invalidSpec(errors.New(src.endpointMessage(msgSARequiresClientID)))
	default:
		var err error
		if c, err = r.readCredentials(ctx, src, tokenatorv1.ClientAuthenticationServiceAccountToken); err != nil {
			return credentials{}, err
		}
	}
	token, err := r.serviceAccountToken(ctx, src, serviceAccountAssertion(src.endpoint.ClientAssertion))
	if err != nil {
		return credentials{}, err
	}
	return credentials{clientID: c.clientID, clientAssertion: token}, nil
}

// serviceAccountToken is a token of the ServiceAccount of use. The opt-in
// was checked by gather; it is checked again, from the cache, right before
// the TokenRequest (a request slot may have been awaited in between), and a
// kept token is used only for the same opt-in.
func (r *OAuthClientReconciler) serviceAccountToken(ctx context.Context, src *requestSource, use saUse) (string, error) {
	v, err := r.serviceAccountUseVersion(ctx, src, use)
	if err != nil {
		return "", err
	}
	return r.saTokens.token(ctx, r.Client, r.Clock, src.serviceAccountNamespace(), v, use)
}

// serviceAccountTokens keeps the ServiceAccount tokens obtained, in memory
// only, so that a token is reused while more than half its life is left. An
// entry is used only for the ServiceAccount (UID) and opt-in it was obtained
// for, and a change of the ServiceAccount drops its entries.
type serviceAccountTokens struct {
	mu      sync.Mutex
	entries map[saTokenKey]saTokenEntry
	// requests makes one TokenRequest at a time per key: the callers of a
	// key that come while one is made share its outcome.
	requests singleflight.Group
}

// maxServiceAccountTokens bounds the tokens kept; at the bound, expired
// entries go first, then any.
const maxServiceAccountTokens = 4096

// saTokenRequestTimeout bounds one TokenRequest. It runs apart from the
// context of the caller that started it: that caller may give up without
// failing the others that share the request.
const saTokenRequestTimeout = 30 * time.Second

type saTokenKey struct {
	namespace, name, audience string
	lifetime                  time.Duration
	// field names the ServiceAccount's field in messages; not part of the
	// key's String.
	field string
}

// String is the key of the request of k: a namespace and a name hold no
// "/", so the audience, last, is whatever follows them.
func (k saTokenKey) String() string {
	return fmt.Sprintf("%d/%s/%s/%s", k.lifetime, k.namespace, k.name, k.audience)
}

type saTokenEntry struct {
	token      string
	uid        types.UID
	optIn      string
	reuseUntil time.Time
}

// token returns a token of the ServiceAccount v, in namespace, for the
// audience and lifetime of ca: the one kept while more than half its life is
// left, else a new one from the TokenRequest API. While the token of the key
// is being requested, the caller waits for that request (or its own ctx)
// rather than make another.
func (t *serviceAccountTokens) token(ctx context.Context, c client.Client, clk clock.PassiveClock, namespace string,
	v *objectVersion, use saUse) (string, error) {
	key := saTokenKey{namespace: namespace, name: use.name, audience: use.audience, lifetime: use.lifetime, field: use.nameField}
	for {
		if e, ok := t.kept(key, v, clk.Now()); ok {
			return e.token, nil
		}
		if err := ctx.Err(); err != nil {
			return "", err // no token is requested for a caller gone
		}
		// One TokenRequest per key at a time: OAuthClients of the same
		// ServiceAccount and audience reconciled at once share its token.
		ch := t.requests.DoChan(key.String(), func() (any, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saTokenRequestTimeout)
			defer cancel()
			return t.request(ctx, c, clk, key, v)
		})
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case res := <-ch:
			if res.Err != nil {
				return "", res.Err
			}
			if e := res.Val.(saTokenEntry); e.uid == v.UID && e.optIn == v.OptIn {
				return e.token, nil
			}
			// Requested for another version of the ServiceAccount, by a
			// caller that read it before or after this one: again, for v.
		}
	}
}

// kept is the token kept of key for the version v, while it may be reused.
func (t *serviceAccountTokens) kept(key saTokenKey, v *objectVersion, now time.Time) (saTokenEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	return e, ok && e.uid == v.UID && e.optIn == v.OptIn && now.Before(e.reuseUntil)
}

// request obtains a token of key for the version v from the TokenRequest API,
// unless one was kept meanwhile, and keeps it.
func (t *serviceAccountTokens) request(ctx context.Context, c client.Client, clk clock.PassiveClock,
	key saTokenKey, v *objectVersion) (saTokenEntry, error) {
	now := clk.Now()
	if e, ok := t.kept(key, v, now); ok {
		return e, nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: key.namespace, Name: key.name}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{key.audience},
		ExpirationSeconds: ptr.To(int64(key.lifetime / time.Second)),
	}}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		if apierrors.IsNotFound(err) {
			return saTokenEntry{}, &referenceError{reason: tokenatorv1.ReasonCredentialsNotFound,
				message: fmt.Sprintf(msgRefNotFound, key.field, "ServiceAccount", key.name, key.namespace)}
		}
		return saTokenEntry{}, fmt.Errorf(msgSATokenRequestFailed, key.name, err)
	}
	if tr.Status.Token == "" {
		return saTokenEntry{}, fmt.Errorf(msgSATokenRequestFailed, key.name, errors.New("the API server returned no token"))
	}
	expires := tr.Status.ExpirationTimestamp.Time
	e := saTokenEntry{token: tr.Status.Token, uid: v.UID, optIn: v.OptIn, reuseUntil: now.Add(expires.Sub(now) / 2)}
	log.FromContext(ctx).V(1).Info("ServiceAccount token obtained", "serviceAccount", key.name, "audience", key.audience,
		"expiresAt", expires.UTC().Format(time.RFC3339))
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries == nil {
		t.entries = map[saTokenKey]saTokenEntry{}
	}
	if len(t.entries) >= maxServiceAccountTokens {
		t.evict(now)
	}
	t.entries[key] = e
	return e, nil
}

// evict makes room: entries no longer reusable go, and if none was, one
// other. t.mu is held.
func (t *serviceAccountTokens) evict(now time.Time) {
	removed := false
	for k, e := range t.entries {
		if !now.Before(e.reuseUntil) {
			delete(t.entries, k)
			removed = true
		}
	}
	if !removed {
		for k := range t.entries {
			delete(t.entries, k)
			break
		}
	}
}

// forget drops the tokens of a ServiceAccount (it changed or went away).
func (t *serviceAccountTokens) forget(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.entries {
		if k.namespace == namespace && k.name == name {
			delete(t.entries, k)
		}
	}
}

// len is the number of tokens kept.
func (t *serviceAccountTokens) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// apiAudiences are the audiences the API server accepts for itself (its
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
type apiAudiences struct {
	// httpClient and host reach the API server, with the manager's credentials.
	httpClient *http.Client
	host       string
	// tokenFile is the Pod's ServiceAccount token.
	tokenFile string

	mu      sync.Mutex
	learned []string
}

// inClusterTokenFile is where the kubelet mounts a Pod's ServiceAccount token.
const inClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

func (a *apiAudiences) get(ctx context.Context) ([]string, error) {
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
	own, tokenErr := tokenAudiences(a.tokenFile)
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
func (a *apiAudiences) discoveryIssuer(ctx context.Context) (string, error) {
	if a.httpClient == nil {
		return "", errors.New("no API server connection")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(a.host, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", err
	}
	resp, err := a.httpClient.Do(req)
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

// tokenAudiences is the aud claim of the JWT in file. The token is the
// Pod's own, read from the kubelet's mount: its signature is not checked.
func tokenAudiences(file string) ([]string, error) {
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

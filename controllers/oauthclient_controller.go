// Package controllers holds the OAuthClient reconciler: it requests tokens,
// writes them into derived Secrets and requests new ones before they expire.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/metrics"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/schedule"
	"github.com/tokenator-dev/tokenator/internal/slots"
)

// OAuthClientReconciler reconciles OAuthClients.
type OAuthClientReconciler struct {
	// Client reads OAuthClients and derived Secrets from the cache and writes.
	client.Client
	// APIReader reads Secrets and ConfigMaps straight from the API server.
	APIReader client.Reader
	// References reads the metadata of referenced Secrets and ConfigMaps.
	References client.Reader
	// NamespaceReader reads the labels of Namespaces (ClusterOAuthProviders'
	// allowedNamespaces).
	NamespaceReader client.Reader
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// HTTPClients holds the HTTP clients of the token requests, by reach (an
	// OAuthClient's own endpoint or a provider's), CA bundle and client
	// certificate.
	HTTPClients *oauth.HTTPClients
	// TokenHosts, when set, refuses token hosts the operator may not call, and
	// names the allowed pattern a host matches (for the metrics).
	TokenHosts interface {
		CheckHost(host string) error
		Pattern(host string) string
	}
	// Metrics records token requests and each client's state.
	Metrics *metrics.Metrics
	// Slots bound the token requests in flight per host and per namespace.
	Slots *slots.Limiter
	// Options tune the schedule.
	Options Options

	// writes remembers this process's status writes until the cache shows them.
	writes statusWrites
	// held remembers the token each derived Secret holds.
	held heldTokens
	// refs reads credentials and CA bundles, each version once.
	refs *refValues
	// shared remembers the shared tokens of ClusterOAuthProviders.
	shared sharedTokens
	// saTokens keeps the ServiceAccount tokens of serviceAccountToken clients.
	saTokens serviceAccountTokens
	// warned remembers the last Warning Event of each failing client.
	warned warnings
	// requests are the token requests in flight, off the workers, and the
	// outcomes not yet taken.
	requests tokenRequests
	// apiAudiences are the API server's own audiences, refused for them.
	apiAudiences *apiAudiences
}

// Options tune the reconciler.
type Options struct {
	// MinRequestInterval is the shortest time between two token requests of one client.
	MinRequestInterval time.Duration
	// RetryBaseDelay is the delay after the first failure; it doubles with each
	// further consecutive failure.
	RetryBaseDelay time.Duration
	// RetryMaxDelay caps the delay between retries.
	RetryMaxDelay time.Duration
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int
	// MaxRequestsPerHost bounds the token requests in flight to one host; 0 means no bound.
	MaxRequestsPerHost int
	// MaxRequestsPerNamespace bounds the token requests in flight of one
	// namespace, so that one namespace cannot hold every worker; 0 means
	// three quarters of MaxConcurrentReconciles.
	MaxRequestsPerNamespace int
	// Namespaces restricts the operator to these namespaces; empty means all.
	Namespaces []string
	// CredentialsSelector, when set and not empty, is what the labels of a
	// credentials Secret must match for the operator to use it.
	CredentialsSelector labels.Selector
	// ClusterResourceNamespace is where the references of ClusterOAuthProviders
	// (central credentials, CA bundles) and their shared tokens are.
	ClusterResourceNamespace string
	// RequireProviderRef makes OAuthClients without spec.providerRef
	// InvalidSpec: only ClusterOAuthProviders' endpoints are called.
	RequireProviderRef bool
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
}

// DefaultOptions are the defaults of the command line flags.
func DefaultOptions() Options {
	return Options{
		MinRequestInterval:      5 * time.Second,
		RetryBaseDelay:          5 * time.Second,
		RetryMaxDelay:           5 * time.Minute,
		MaxConcurrentReconciles: 16,
		MaxRequestsPerHost:      8,
	}
}

// +kubebuilder:rbac:groups=tokenator.dev,resources=oauthclients,verbs=get;list;watch
// +kubebuilder:rbac:groups=tokenator.dev,resources=oauthclients/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one OAuthClient's derived Secret and status up to date.
func (r *OAuthClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	oc := &tokenatorv1.OAuthClient{}
	if err := r.Get(ctx, req.NamespacedName, oc); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !oc.DeletionTimestamp.IsZero() {
		// The derived Secret is owned and goes with the garbage collector.
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if !r.writes.seen(req.NamespacedName, oc.ResourceVersion) {
		// The cache has not caught up with this process's last status write:
		// come back when it has rather than act on a stale status.
		return ctrl.Result{RequeueAfter: cacheLagRetry}, nil
	}

	before := oc.DeepCopy()
	result, err := r.reconcile(ctx, oc)
	if errors.Is(err, errDeferred) {
		// In line for a request slot: nothing was done, nothing is written.
		return result, nil
	}
	r.exportMetrics(oc)
	if !equality.Semantic.DeepEqual(before.Status, oc.Status) {
		if perr := r.writeStatus(ctx, oc, before); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("updating status: %w", perr))
		}
		r.writes.wrote(req.NamespacedName, before.ResourceVersion)
	}
	return result, err
}

// writeStatus writes oc's status, before being the OAuthClient as read. It is
// an update of the status at the resourceVersion read, which the API server
// applies at about two thirds of a merge patch's cost; when the OAuthClient
// changed in the meantime (a spec edit, an annotation), the update conflicts
// and the same status is written with a merge patch of what this reconcile
// changed, which does not conflict: a status that records a token just
// written is never lost to a concurrent change, or the next reconcile would
// request another token. Only the status subresource is written either way;
// the metadata the cache dropped (see stripOAuthClient) is not sent as a
// change.
func (r *OAuthClientReconciler) writeStatus(ctx context.Context, oc, before *tokenatorv1.OAuthClient) error {
	err := r.Status().Update(ctx, oc)
	if apierrors.IsConflict(err) {
		err = r.Status().Patch(ctx, oc, client.MergeFrom(before))
	}
	return err
}

// forget drops what this process keeps of a deleted OAuthClient: its metrics
// series, its last status write and the token of its Secret.
func (r *OAuthClientReconciler) forget(key types.NamespacedName) {
	r.Metrics.DeleteClient(key.Namespace, key.Name)
	r.writes.forget(key)
	r.held.forget(key)
	r.warned.forget(key)
	r.requests.forget(key.String())
}

// errDeferred is returned by requestToken for a client that found no free
// request slot or whose request is in flight, and by reconcileShared for a
// client that waits for its shared token's request: the reconcile did
// nothing, and writes no status (a new client's status is written once, with
// its token).
var errDeferred = errors.New("token request deferred")

// cacheLagRetry is when a reconcile that read a status older than this
// process's last write comes back.
const cacheLagRetry = 100 * time.Millisecond

// reconcile updates oc.Status in place and says when to come back: it
// gathers what it needs from the caches, decides (a pure function of those
// facts and the time), and acts.
func (r *OAuthClientReconciler) reconcile(ctx context.Context, oc *tokenatorv1.OAuthClient) (ctrl.Result, error) {
	now := r.Clock.Now()
	oc.Status.ObservedGeneration = oc.Generation
	g, err := r.gather(ctx, oc)
	if refErr, ok := providerRefusal(err); ok {
		return r.withhold(ctx, oc, refErr, now)
	}
	if err != nil {
		return r.report(oc, err, now)
	}
	if g.source != nil && g.source.shared {
		return r.reconcileShared(ctx, oc, g, now)
	}
	oc.Status.TokenSource = ""
	d := decide(facts{Suspended: oc.Spec.Suspend, RequestHash: g.hash, TokenHeld: g.holder != nil,
		RefreshRequest: oc.Annotations[tokenatorv1.AnnotationRefreshRequestedAt], Status: &oc.Status},
		r.Options.MinRequestInterval, now)
	log.FromContext(ctx).V(1).Info("Decided", "action", d.Action.String(), "why", d.Why)
	switch d.Action {
	case actionSuspend:
		r.setReady(oc, metav1.ConditionFalse, tokenatorv1.ReasonSuspended,
			msgSuspended, now)
		return ctrl.Result{}, nil
	case actionWait:
		return requeueAt(d.At, now), nil
	case actionKeep:
		return r.keepToken(ctx, oc, g, now)
	}
	return r.requestToken(ctx, oc, g, d, now)
}

// requestToken requests a new token and writes it. The credentials and the
// CA bundle are read first (each version once: a client that then finds no
// free slot reads them from memory when it comes back); a slot is then taken
// for the token request alone: a client whose endpoint host, or namespace,
// has its share of requests in flight comes back shortly without holding a
// worker. The request itself runs off the workers (see tokenRequests): this
// reconcile returns at once, and the one its end wakes writes the outcome.
func (r *OAuthClientReconciler) requestToken(ctx context.Context, oc *tokenatorv1.OAuthClient, g *gathered, d decision, now time.Time) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(oc).String()
	id := g.hash + "|" + oc.Annotations[tokenatorv1.AnnotationRefreshRequestedAt]
	if out := r.requests.take(key); out != nil {
		if out.pending {
			// Woken when it ends; back in a few seconds in any case.
			return ctrl.Result{RequeueAfter: busyRetryDelay(string(oc.UID), now)}, errDeferred
		}
		if out.usable(id, now) {
			return r.tokenResponse(ctx, oc, g, d, out.tok, out.err, now)
		}
	}
	in, err := r.readRequestInputs(ctx, g)
	if err != nil && usesTokenRequest(g) && !errors.As(err, new(*referenceError)) {
		// The TokenRequest failed: shown and retried with backoff, like a
		// token request.
		oc.Status.TokenRequestHash = g.hash
		oc.Status.LastHandledRefreshRequest = oc.Annotations[tokenatorv1.AnnotationRefreshRequestedAt]
		return r.requestFailed(ctx, oc, err, now)
	}
	if err != nil {
		return r.report(oc, err, now)
	}

	release, busy := r.Slots.TryAcquire(g.endpoint.Host, oc.Namespace, key)
	if busy != nil {
		// In line for the bound: woken when one of its slots is freed, and
		// back in any case after a few seconds.
		log.FromContext(ctx).V(1).Info("Token request deferred", "reason", busy.Error())
		return ctrl.Result{RequeueAfter: busyRetryDelay(string(oc.UID), now)}, errDeferred
	}
	scopes := slices.Clone(g.source.scopes)
	// The reconcile's context is the controller's, which lives until the
	// manager stops (no reconcile timeout is set): a request in flight
	// ends with the manager.
	r.requests.start(ctx, key, id, func(ctx context.Context) (*oauth.Token, error) {
		defer release()
		return r.sendTokenRequest(ctx, g, in, scopes)
	}, func() { r.wake(key) })
	return ctrl.Result{RequeueAfter: busyRetryDelay(string(oc.UID), now)}, errDeferred
}

// tokenResponse carries on with the outcome of oc's own token request: the
// token written, or the failure reported.
func (r *OAuthClientReconciler) tokenResponse(ctx context.Context, oc *tokenatorv1.OAuthClient, g *gathered, d decision, tok *oauth.Token, err error, now time.Time) (ctrl.Result, error) {
	var refErr *referenceError
	if errors.As(err, &refErr) {
		return r.report(oc, err, now)
	}
	oc.Status.TokenRequestHash = g.hash
	oc.Status.LastHandledRefreshRequest = oc.Annotations[tokenatorv1.AnnotationRefreshRequestedAt]
	if errors.Is(err, oauth.ErrInvalidRequest) {
		// The spec asks for a request that cannot be sent: a retry cannot help.
		return r.report(oc, invalidSpec(err), now)
	}
	if err != nil {
		return r.requestFailed(ctx, oc, err, now)
	}
	return r.writeSecret(ctx, oc, g, tok, true, d.InputsChanged, now)
}

// wake brings the OAuthClient of key ("namespace/name") back to a worker,
// through the slots' wake-up channel.
func (r *OAuthClientReconciler) wake(key string) {
	if r.Slots != nil && r.Slots.Wake != nil {
		r.Slots.Wake(key)
	}
}

// requestInputs are what a token request reads from the API server: the
// credentials and the CA bundle of its source.
type requestInputs struct {
	creds    credentials
	caBundle []byte
}

// readRequestInputs reads the credentials and CA bundle of g's source, each
// version once (refValues). It is called before a request slot is taken, so
// that a slot is never held through an API read. A problem of the references
// is returned as a *referenceError.
func (r *OAuthClientReconciler) readRequestInputs(ctx context.Context, g *gathered) (requestInputs, error) {
	creds, err := r.requestCredentials(ctx, g)
	if err != nil {
		return requestInputs{}, err
	}
	caBundle, err := r.readCABundle(ctx, g.source)
	if err != nil {
		return requestInputs{}, err
	}
	return requestInputs{creds: creds, caBundle: caBundle}, nil
}

// sendTokenRequest sends one token request for scopes, with g's audience,
// from the inputs read by readRequestInputs; the caller holds a request slot.
// The client authentication material (a new assertion, or the client
// certificate) is made here, just before the request, so that a client in
// line for a slot signs nothing. A problem of that material or of the CA
// bundle is returned as a *referenceError (nothing was sent).
func (r *OAuthClientReconciler) sendTokenRequest(ctx context.Context, g *gathered, in requestInputs, scopes []string) (*oauth.Token, error) {
	auth, err := r.clientAuthMaterial(g.source, g.endpoint, in.creds, r.Clock.Now())
	if err != nil {
		return nil, err
	}
	// A ClusterOAuthProvider's endpoint, chosen by the platform team, may
	// reach private networks; an OAuthClient's own may not, by default.
	reach := oauth.ReachOwn
	if g.source.provider != nil {
		reach = oauth.ReachProvider
	}
	httpClient, err := r.HTTPClients.GetFor(reach, in.caBundle, auth.certificate)
	if err != nil {
		return nil, invalidSpec(fmt.Errorf("%s: %w", g.source.endpointField("spec.tls"), err))
	}

	req, err := tokenRequest(g, in, auth, scopes, r.Clock.Now())
	if err != nil {
		return nil, err
	}
	tc := &oauth.Client{HTTPClient: httpClient, Now: r.Clock.Now}
	started := time.Now()
	tok, err := tc.RequestToken(ctx, req)
	r.Metrics.ObserveRequest(r.hostLabel(g.source.endpoint, g.endpoint.Hostname), time.Since(started), err)
	r.observeProviderRequest(g.source, err)
	return tok, err
}

// keepToken keeps the token a derived Secret holds: when spec.secret changed
// (name, labels, annotations, extraData), the Secret is written again from
// that token, without a request.
func (r *OAuthClientReconciler) keepToken(ctx context.Context, oc *tokenatorv1.OAuthClient, g *gathered, now time.Time) (ctrl.Result, error) {
	st := &oc.Status
	if upToDate(g.existing, oc) {
		r.setTokenHeld(oc, g.existing.Annotations[tokenatorv1.AnnotationRenderError], now)
		return requeueAt(st.RefreshAt.Time, now), nil
	}
	tok, err := r.tokenOf(ctx, oc, g.holder)
	if err != nil {
		return ctrl.Result{}, err
	}
	if tok == nil {
		// The Secret changed since it was gathered: look again.
		return ctrl.Result{RequeueAfter: cacheLagRetry}, nil
	}
	return r.writeSecret(ctx, oc, g, tok, false, false, now)
}

// writeSecret brings the derived Secret up to date with tok, the token just
// obtained (issued) or the one a derived Secret already holds, and sets the
// status; inputsChanged says the token was requested for a changed spec.
// A template that fails with the real token leaves its key out and makes the
// OAuthClient InvalidSpec, naming the key; the token is written and kept all
// the same, so fixing the template needs no new token.
func (r *OAuthClientReconciler) writeSecret(ctx context.Context, oc *tokenatorv1.OAuthClient, g *gathered, tok *oauth.Token,
	issued, inputsChanged bool, now time.Time) (ctrl.Result, error) {
	st := &oc.Status
	data, renderErr := secretData(tok, g.templates)
	if err := r.applySecret(ctx, oc, desiredSecret(oc, data, tok.Scope, renderErr), g.existing != nil); err != nil {
		if apierrors.IsInvalid(err) {
			err = invalidSpec(fmt.Errorf(msgSecretRefused, err))
		}
		if errors.As(err, new(*errSecretConflict)) || errors.As(err, new(*referenceError)) {
			return r.report(oc, err, now)
		}
		return ctrl.Result{}, fmt.Errorf("writing Secret %q: %w", st.SecretName, err)
	}
	if err := r.deleteStaleSecrets(ctx, oc); err != nil {
		return ctrl.Result{}, err
	}

	if issued {
		prev := meta.FindStatusCondition(st.Conditions, tokenatorv1.ConditionReady)
		wasReady := prev != nil && prev.Status == metav1.ConditionTrue
		issuedAt := tok.IssuedAt.Truncate(time.Second)
		expires := tok.ExpiresAt.Truncate(time.Second)
		st.TokenType = statusTokenType(tok.TokenType)
		st.ExpiresAt = &metav1.Time{Time: expires}
		st.LastRefreshTime = &metav1.Time{Time: issuedAt}
		st.RefreshAt = &metav1.Time{Time: schedule.RefreshTime(issuedAt, expires, refreshBefore(g.source.endpoint), r.Options.MinRequestInterval, string(oc.UID))}
		st.FailedAttempts = 0
		log.FromContext(ctx).Info("Token issued", "secret", st.SecretName, "expiresAt", st.ExpiresAt.UTC().Format(time.RFC3339),
			"refreshAt", st.RefreshAt.UTC().Format(time.RFC3339), "expirySource", tok.ExpirySource)
		// A client's first token, with nothing reported before it, is told by
		// its Ready condition alone: an Event each would double the writes of
		// a cold start.
		if renderErr == nil && prev != nil && (!wasReady || inputsChanged) {
			r.Recorder.Eventf(oc, nil, "Normal", tokenatorv1.ReasonTokenIssued, "IssueToken",
				eventTokenWritten, st.SecretName, st.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	renderMsg := ""
	if renderErr != nil {
		renderMsg = renderErr.Error()
	}
	r.setTokenHeld(oc, renderMsg, now)
	return requeueAt(st.RefreshAt.Time, now), nil
}

// maxStatusTokenType is the most characters of the token type that
// status.tokenType holds (the schema's maxLength); the Secret's token_type
// key holds it whole.
const maxStatusTokenType = 64

// statusTokenType is the token type t as status.tokenType holds it: its first
// maxStatusTokenType characters.
func statusTokenType(t string) string {
	n := 0
	for i := range t {
		if n == maxStatusTokenType {
			return t[:i]
		}
		n++
	}
	return t
}

// setTokenHeld sets Ready for a Secret that holds the current token:
// InvalidSpec when templates failed with it (renderMsg, as written in the
// Secret's render-error annotation), else TokenIssued, unless the latest
// request failed (its condition stays).
func (r *OAuthClientReconciler) setTokenHeld(oc *tokenatorv1.OAuthClient, renderMsg string, now time.Time) {
	st := &oc.Status
	switch {
	case renderMsg != "":
		r.setReady(oc, metav1.ConditionFalse, tokenatorv1.ReasonInvalidSpec, fmt.Sprintf("%s; %s", renderMsg, currentTokenNote(st, now)), now)
	case st.FailedAttempts == 0:
		r.setReady(oc, metav1.ConditionTrue, tokenatorv1.ReasonTokenIssued, validUntil(st.ExpiresAt), now)
	}
}

// busyRetryDelay is when a client whose request found no free slot comes back
// if no freed slot woke it first: 5 to 10 s, spread per client so that waiting
// clients do not return in step.
func busyRetryDelay(uid string, now time.Time) time.Duration {
	return 5*time.Second + schedule.Jitter(uid+now.Format(time.RFC3339Nano), 5*time.Second)
}

// hostLabel is the metrics label of a token endpoint host: the preset's name
// when the URL is a preset's, else the --allowed-token-hosts pattern it
// matches, else "other". A tenant's tokenURL never becomes a label value, so
// the series stay bounded by what the admin configured.
func (r *OAuthClientReconciler) hostLabel(ep *tokenatorv1.OAuthEndpoint, host string) string {
	if ep.TokenURL == "" && ep.Provider != "" && ep.Provider != tokenatorv1.ProviderGeneric {
		return string(ep.Provider)
	}
	if r.TokenHosts != nil {
		if pattern := r.TokenHosts.Pattern(host); pattern != "" {
			return pattern
		}
	}
	return metrics.HostOther
}

// specDefaultLifetime is spec.defaultLifetime, or 0 when unset: internal/oauth
// then applies its own default, oauth.DefaultLifetime.
func specDefaultLifetime(ep *tokenatorv1.OAuthEndpoint) time.Duration {
	if d := ep.DefaultLifetime; d != nil {
		return d.Duration
	}
	return 0
}

// requestFailed records a failed token request and schedules the retry.
func (r *OAuthClientReconciler) requestFailed(ctx context.Context, oc *tokenatorv1.OAuthClient, reqErr error, now time.Time) (ctrl.Result, error) {
	st := &oc.Status
	var retryAfter time.Duration
	var respErr *oauth.ResponseError
	if errors.As(reqErr, &respErr) {
		retryAfter = respErr.RetryAfter
	}
	previousFailure := st.LastFailureTime
	st.FailedAttempts++
	failedAt := now.Truncate(time.Second)
	st.LastFailureTime = &metav1.Time{Time: failedAt}
	delay := schedule.RetryDelay(st.FailedAttempts, r.Options.RetryBaseDelay, r.Options.RetryMaxDelay, retryAfter, string(oc.UID))
	st.RefreshAt = &metav1.Time{Time: failedAt.Add(delay)}
	msg := fmt.Sprintf(msgRequestFailed, reqErr, currentTokenNote(st, now))
	log.FromContext(ctx).Info("Token request failed", "error", reqErr.Error(), "failedAttempts", st.FailedAttempts,
		"retryAt", st.RefreshAt.UTC().Format(time.RFC3339))
	r.setReady(oc, metav1.ConditionFalse, tokenatorv1.ReasonTokenRequestFailed, msg, now)
	if warnExpiringSoon(st, previousFailure, now) {
		r.Recorder.Eventf(oc, nil, "Warning", tokenatorv1.ReasonTokenExpiringSoon, "IssueToken",
			eventExpiringSoon,
			st.SecretName, st.ExpiresAt.UTC().Format(time.RFC3339), st.RefreshAt.UTC().Format(time.RFC3339))
	}
	return requeueAt(st.RefreshAt.Time, now), nil
}

// exportMetrics publishes the state of oc.
func (r *OAuthClientReconciler) exportMetrics(oc *tokenatorv1.OAuthClient) {
	state := metrics.ClientState{Namespace: oc.Namespace, Name: oc.Name, ReadyStatus: string(metav1.ConditionUnknown),
		FailedAttempts: oc.Status.FailedAttempts}
	if c := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady); c != nil {
		state.ReadyStatus, state.ReadyReason = string(c.Status), c.Reason
	}
	if t := oc.Status.ExpiresAt; t != nil {
		state.ExpiresAt = &t.Time
	}
	if t := oc.Status.RefreshAt; t != nil && !oc.Spec.Suspend {
		state.RefreshAt = &t.Time
	}
	r.Metrics.SetClient(state)
}

// invalidSpec wraps a spec problem the schema could not catch. A retry cannot
// fix it: the next change of the OAuthClient or of what it references is awaited.
func invalidSpec(err error) error {
	return &referenceError{reason: tokenatorv1.ReasonInvalidSpec, message: err.Error()}
}

// report sets the condition of a problem gather or act found that no retry
// can fix (the next change of the OAuthClient or of what it references is
// awaited), or returns any other error for a retry with backoff.
func (r *OAuthClientReconciler) report(oc *tokenatorv1.OAuthClient, err error, now time.Time) (ctrl.Result, error) {
	var conflict *errSecretConflict
	if errors.As(err, &conflict) {
		r.setReady(oc, metav1.ConditionFalse, tokenatorv1.ReasonSecretConflict, conflict.Error(), now)
		return ctrl.Result{}, nil
	}
	var refErr *referenceError
	if errors.As(err, &refErr) {
		r.setReady(oc, metav1.ConditionFalse, refErr.reason, fmt.Sprintf("%s; %s", refErr.message, currentTokenNote(&oc.Status, now)), now)
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}

// setReady sets the Ready condition and emits a Warning Event when a failure
// condition is new or its reason changed, and at most once per
// warningInterval while only its message changes.
func (r *OAuthClientReconciler) setReady(oc *tokenatorv1.OAuthClient, status metav1.ConditionStatus, reason, message string, now time.Time) {
	prev := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
	changed := prev == nil || prev.Status != status || prev.Reason != reason || prev.Message != message
	meta.SetStatusCondition(&oc.Status.Conditions, metav1.Condition{
		Type:               tokenatorv1.ConditionReady,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: oc.Generation,
		LastTransitionTime: metav1.Time{Time: now.Truncate(time.Second)},
	})
	// Stalled marks what only a human can fix, so that kstatus (and the GitOps
	// tools built on it) report Failed rather than InProgress.
	if reason == tokenatorv1.ReasonInvalidSpec || reason == tokenatorv1.ReasonSecretConflict {
		meta.SetStatusCondition(&oc.Status.Conditions, metav1.Condition{
			Type:               tokenatorv1.ConditionStalled,
			Status:             metav1.ConditionTrue,
			Reason:             reason,
			Message:            message,
			ObservedGeneration: oc.Generation,
			LastTransitionTime: metav1.Time{Time: now.Truncate(time.Second)},
		})
	} else {
		meta.RemoveStatusCondition(&oc.Status.Conditions, tokenatorv1.ConditionStalled)
	}
	key := types.NamespacedName{Namespace: oc.Namespace, Name: oc.Name}
	switch {
	case status == metav1.ConditionTrue || reason == tokenatorv1.ReasonSuspended:
		r.warned.forget(key)
	case r.warned.due(key, reason, changed, now):
		r.Recorder.Eventf(oc, nil, "Warning", reason, "IssueToken", "%s", message)
	}
}

// currentTokenNote says what happens to the token already in the Secret.
func currentTokenNote(st *tokenatorv1.OAuthClientStatus, now time.Time) string {
	switch {
	case st.ExpiresAt == nil:
		return msgNoTokenYet
	case now.Before(st.ExpiresAt.Time):
		return fmt.Sprintf(msgPreviousValid, st.ExpiresAt.UTC().Format(time.RFC3339))
	default:
		return fmt.Sprintf(msgPreviousExpiry, st.ExpiresAt.UTC().Format(time.RFC3339))
	}
}

func validUntil(t *metav1.Time) string {
	return fmt.Sprintf(msgTokenValid, t.UTC().Format(time.RFC3339))
}

func refreshBefore(ep *tokenatorv1.OAuthEndpoint) time.Duration {
	if ep.RefreshBefore == nil {
		return 0
	}
	return ep.RefreshBefore.Duration
}

// requeueAt asks to come back at t, and never with a negative delay.
func requeueAt(t, now time.Time) ctrl.Result {
	d := t.Sub(now)
	if d < time.Second {
		d = time.Second
	}
	return ctrl.Result{RequeueAfter: d}
}

// Package controllers holds the OAuthClient reconciler: it requests tokens,
// writes them into derived Secrets and requests new ones before they expire.
package controllers

import (
	"context"
	"errors"
	"fmt"
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
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/inflight"
	"github.com/tokenator-dev/tokenator/controllers/refvalues"
	"github.com/tokenator-dev/tokenator/controllers/satoken"
	"github.com/tokenator-dev/tokenator/controllers/secret"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
	"github.com/tokenator-dev/tokenator/internal/metrics"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/presets"
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
	TokenHosts TokenHosts
	// Metrics records token requests and each client's state.
	Metrics *metrics.Metrics
	// Slots bound the token requests in flight per host and per namespace.
	Slots *slots.Limiter
	// Options tune the schedule.
	Options Options

	// writes remembers this process's status writes until the cache shows them.
	writes statusWrites
	// secrets writes and reads the derived Secrets.
	secrets *secret.Store
	// refs reads credentials and CA bundles, each version once.
	refs *refvalues.Reader
	// shared remembers the shared tokens of ClusterOAuthProviders.
	shared *sharedtoken.Tokens
	// saTokens keeps the ServiceAccount tokens of serviceAccountToken clients.
	saTokens satoken.Tokens
	// warned remembers the last Warning Event of each failing client.
	warned warnings
	// requests are the token requests in flight, off the workers, and the
	// outcomes not yet taken.
	requests inflight.Requests
	// apiAudiences are the API server's own audiences, refused for them.
	apiAudiences *satoken.APIAudiences
	// woken brings OAuthClients back to a worker (see wakeByChannel).
	woken chan event.TypedGenericEvent[*tokenatorv1.OAuthClient]
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
	r.secrets.Forget(key)
	r.warned.forget(key)
	r.requests.Forget(key.String())
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
// gathers the facts from the caches, plans (a pure function of those facts),
// and acts.
func (r *OAuthClientReconciler) reconcile(ctx context.Context, oc *tokenatorv1.OAuthClient) (ctrl.Result, error) {
	oc.Status.ObservedGeneration = oc.Generation
	f, g, err := r.gather(ctx, oc, r.Clock.Now())
	if err != nil {
		return ctrl.Result{}, err
	}
	p := decide(f, r.planOptions())
	log.FromContext(ctx).V(1).Info("Planned", "action", p.Action.String(), "why", p.Why)
	return r.act(ctx, oc, f, g, p)
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
// version once (refvalues.Reader). It is called before a request slot is taken, so
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

// busyRetryDelay is when a client whose request found no free slot comes back
// if no freed slot woke it first: 5 to 10 s, spread per client so that waiting
// clients do not return in step.
func busyRetryDelay(uid string, now time.Time) time.Duration {
	return 5*time.Second + schedule.Jitter(uid+now.Format(time.RFC3339Nano), 5*time.Second)
}

// hostLabel is the metrics label of a token endpoint host: the preset's name
// when the request goes to the preset's own host, else the
// --allowed-token-hosts pattern it matches, else "other" (a key file's
// token_uri that leads elsewhere is labelled by its own host). A tenant's
// tokenURL never becomes a label value, so the series stay bounded by what
// the admin configured.
func (r *OAuthClientReconciler) hostLabel(ep *tokenatorv1.OAuthEndpoint, host string) string {
	if ep.TokenURL == "" && ep.Provider != "" && ep.Provider != tokenatorv1.ProviderGeneric {
		preset, err := presets.Resolve(&tokenatorv1.OAuthEndpoint{Provider: ep.Provider, Environment: ep.Environment})
		if err == nil && preset.Hostname == host {
			return string(ep.Provider)
		}
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

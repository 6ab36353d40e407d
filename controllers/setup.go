package controllers

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/refvalues"
	"github.com/tokenator-dev/tokenator/controllers/satoken"
	"github.com/tokenator-dev/tokenator/controllers/secret"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
	"github.com/tokenator-dev/tokenator/internal/metrics"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/slots"
)

// Dependencies are what the controllers take from the manager's wiring.
type Dependencies struct {
	// HTTPClients holds the HTTP clients of the token requests, by reach.
	HTTPClients *oauth.HTTPClients
	// TokenHosts refuses the token hosts the operator may not call, and names
	// the allowed pattern a host matches; nil refuses none.
	TokenHosts TokenHosts
	// Options tune the controllers.
	Options Options
}

// TokenHosts refuses the token hosts the operator may not call, and names
// the allowed pattern a host matches (for the metrics).
type TokenHosts interface {
	CheckHost(host string) error
	Pattern(host string) string
}

// Setup registers the OAuthClient controller with mgr, and the
// ClusterOAuthProvider controller when the manager serves providers.
func Setup(ctx context.Context, mgr ctrl.Manager, d Dependencies) error {
	r, err := NewOAuthClientReconciler(ctx, mgr, d)
	if err != nil {
		return err
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the OAuthClient controller: %w", err)
	}
	if !servesProviders(&r.Options) {
		return nil
	}
	if err := NewClusterOAuthProviderReconciler(mgr, r).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ClusterOAuthProvider controller: %w", err)
	}
	return nil
}

// NewOAuthClientReconciler returns the OAuthClient reconciler of mgr with its
// caches (the metadata of references; the labels of Namespaces when it
// serves providers) and the field indexes of both controllers.
func NewOAuthClientReconciler(ctx context.Context, mgr ctrl.Manager, d Dependencies) (*OAuthClientReconciler, error) {
	o := d.Options
	if o.ClusterResourceNamespace == "" {
		o.ClusterResourceNamespace = ClusterResourceNamespaceDefault
	}
	refCache, err := cache.New(mgr.GetConfig(), referenceCacheOptions(mgr, &o))
	if err != nil {
		return nil, fmt.Errorf("creating the reference cache: %w", err)
	}
	if err := mgr.Add(refCache); err != nil {
		return nil, err
	}
	r := &OAuthClientReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), References: refCache,
		Recorder: mgr.GetEventRecorder("tokenator"), Clock: clock.RealClock{},
		HTTPClients: d.HTTPClients, TokenHosts: d.TokenHosts, Metrics: metrics.Default,
		Slots: newSlots(&o), Options: o, shared: &sharedtoken.Tokens{},
		secrets:      &secret.Store{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), References: refCache},
		refs:         refvalues.New(mgr.GetAPIReader(), refCache),
		apiAudiences: &satoken.APIAudiences{HTTPClient: mgr.GetHTTPClient(), Host: mgr.GetConfig().Host, TokenFile: satoken.InClusterTokenFile},
		woken:        make(chan event.TypedGenericEvent[*tokenatorv1.OAuthClient], wakeBuffer),
	}
	r.Slots.Wake = r.wakeByChannel
	if servesProviders(&o) {
		if r.NamespaceReader, err = newNamespaceCache(mgr); err != nil {
			return nil, err
		}
	}
	if err := registerIndexes(ctx, mgr.GetCache(), refCache, servesProviders(&o)); err != nil {
		return nil, err
	}
	return r, nil
}

// newSlots bounds the token requests in flight per host and per namespace
// (three quarters of the workers unless set).
func newSlots(o *Options) *slots.Limiter {
	perNamespace := o.MaxRequestsPerNamespace
	if perNamespace == 0 {
		perNamespace = max(1, o.MaxConcurrentReconciles*3/4)
	}
	return &slots.Limiter{PerHost: o.MaxRequestsPerHost, PerTenant: perNamespace}
}

// wakeBuffer is how many wake-ups wait for the controller; more are dropped,
// and their clients come back by their requeue.
const wakeBuffer = 1024

// wakeByChannel brings the OAuthClient of key ("namespace/name") back to a
// worker through the controller's channel source: a freed request slot, or
// a request that ended.
func (r *OAuthClientReconciler) wakeByChannel(key string) {
	ns, name, _ := strings.Cut(key, "/")
	select {
	case r.woken <- event.TypedGenericEvent[*tokenatorv1.OAuthClient]{Object: &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}:
	default:
		// The channel is full: the client comes back by its requeue.
	}
}

// The derived Secret's controller ownerReference sets blockOwnerDeletion: where
// the OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift,
// hardened clusters), that needs update on the owner's finalizers.
// +kubebuilder:rbac:groups=tokenator.dev,resources=oauthclients/finalizers,verbs=update

// SetupWithManager registers the reconciler's watches: its OAuthClients, the
// Secrets (derived and referenced), ConfigMaps and ServiceAccounts of its
// metadata cache, the wake-ups of its channel, and the providers.
func (r *OAuthClientReconciler) SetupWithManager(mgr ctrl.Manager) error {
	refCache, ok := r.References.(cache.Cache)
	if !ok {
		return fmt.Errorf("the reference reader is not a cache")
	}
	mapSecret := r.mapClusterResource(indexProviderSecretRefs, r.requestsForReference(indexSecretRefs))
	mapConfigMap := r.mapClusterResource(indexProviderConfigMapRefs, r.requestsForReference(indexConfigMapRefs))
	mapServiceAccount := r.mapClusterResource(indexProviderServiceAccountRefs, r.requestsForReference(indexServiceAccountRefs))
	b := r.watchProviders(ctrl.NewControllerManagedBy(mgr))
	return b.
		Named("oauthclient").
		For(&tokenatorv1.OAuthClient{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(source.Kind(refCache, metadataOnly("Secret"),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []ctrl.Request {
				return append(mapSecret(ctx, o), r.requestsForDerivedSecret(ctx, o)...)
			}))).
		WatchesRawSource(source.Channel(r.woken, &handler.TypedEnqueueRequestForObject[*tokenatorv1.OAuthClient]{})).
		WatchesRawSource(source.Kind(refCache, metadataOnly("ConfigMap"),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []ctrl.Request {
				return mapConfigMap(ctx, o)
			}))).
		WatchesRawSource(source.Kind(refCache, metadataOnly("ServiceAccount"),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []ctrl.Request {
				// A changed (or deleted) ServiceAccount's tokens are not reused.
				r.saTokens.Forget(o.Namespace, o.Name)
				return mapServiceAccount(ctx, o)
			}))).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles,
			SkipNameValidation:      ptr.To(r.Options.SkipNameValidation),
		}).
		Complete(r)
}

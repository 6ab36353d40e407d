package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/policy"
	"github.com/tokenator-dev/tokenator/controllers/secret"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
	"github.com/tokenator-dev/tokenator/internal/metrics"
)

// +kubebuilder:rbac:groups=tokenator.dev,resources=clusteroauthproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=tokenator.dev,resources=clusteroauthproviders/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tokenator.dev,resources=clusteroauthproviders/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// ClusterOAuthProviderReconciler keeps the status of ClusterOAuthProviders:
// whether they can be used, and how many OAuthClients use them. The token
// requests are the OAuthClient reconciler's.
type ClusterOAuthProviderReconciler struct {
	client.Client
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Clock is the time source.
	Clock clock.PassiveClock
	// Metrics records each provider's counts.
	Metrics *metrics.Metrics
	// check is the one check of whether a provider can be used, which the
	// OAuthClient reconciler makes for its clients too.
	check func(context.Context, *tokenatorv1.ClusterOAuthProvider) (labels.Selector, error)
	// references is the OAuthClient reconciler's metadata cache of Secrets,
	// ConfigMaps and ServiceAccounts; namespaces its cache of Namespace labels.
	references, namespaces cache.Cache
	// shared is the memory of shared tokens, which the OAuthClient reconciler
	// fills.
	shared *sharedtoken.Tokens
	// clusterResourceNamespace is where providers' references and shared
	// tokens are.
	clusterResourceNamespace string
	// skipNameValidation allows several managers in one process (tests).
	skipNameValidation bool
}

// Reconcile brings one ClusterOAuthProvider's status up to date.
func (r *ClusterOAuthProviderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &tokenatorv1.ClusterOAuthProvider{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.DeleteProvider(req.Name)
			// Its shared token Secrets go with it (garbage collector); what
			// this process remembers of them goes now.
			if err := r.forgetDeletedProviders(ctx); err != nil {
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := p.DeepCopy()
	st := &p.Status
	st.ObservedGeneration = p.Generation
	status, reason, message := metav1.ConditionTrue, tokenatorv1.ReasonProviderReady, msgProviderReady
	sel, err := r.check(ctx, p)
	if pr := problemOf(err); pr != nil {
		status, reason, message = metav1.ConditionFalse, pr.reason, pr.message
	} else if err != nil {
		return ctrl.Result{}, err
	}

	clients, err := clientsOfProvider(ctx, r, p.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	st.Clients = 0
	if sel != nil {
		n, err := r.allowedClients(ctx, p, clients)
		if err != nil {
			return ctrl.Result{}, err
		}
		st.Clients = int32(n)
	}
	shared, err := r.pruneSharedTokens(ctx, p, clients)
	if err != nil {
		return ctrl.Result{}, err
	}
	st.SharedTokens = int32(shared)
	r.Metrics.SetProvider(metrics.ProviderState{Name: p.Name, Clients: int(st.Clients), SharedTokens: int(st.SharedTokens),
		Ready: status == metav1.ConditionTrue, ReadyReason: reason})

	r.setProviderReady(p, status, reason, message)
	if !equality.Semantic.DeepEqual(before.Status, p.Status) {
		if err := r.Status().Patch(ctx, p, client.MergeFrom(before)); err != nil {
			return ctrl.Result{}, fmt.Errorf("updating status: %w", err)
		}
	}
	return ctrl.Result{}, nil
}

// setProviderReady sets p's Ready condition (and Stalled for what only a
// person can fix), and emits an Event when the condition changed: a Warning
// when the provider becomes unusable, a Normal one when it is usable again.
func (r *ClusterOAuthProviderReconciler) setProviderReady(p *tokenatorv1.ClusterOAuthProvider, status metav1.ConditionStatus, reason, message string) {
	prev := meta.FindStatusCondition(p.Status.Conditions, tokenatorv1.ConditionReady)
	changed := prev == nil || prev.Status != status || prev.Reason != reason || prev.Message != message
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: tokenatorv1.ConditionReady, Status: status,
		Reason: reason, Message: message, ObservedGeneration: p.Generation,
		LastTransitionTime: metav1.Time{Time: r.Clock.Now().Truncate(time.Second)}})
	// Stalled marks what only a person can fix (kstatus: Failed).
	if reason == tokenatorv1.ReasonInvalidSpec {
		meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: tokenatorv1.ConditionStalled, Status: metav1.ConditionTrue,
			Reason: reason, Message: message, ObservedGeneration: p.Generation,
			LastTransitionTime: metav1.Time{Time: r.Clock.Now().Truncate(time.Second)}})
	} else {
		meta.RemoveStatusCondition(&p.Status.Conditions, tokenatorv1.ConditionStalled)
	}
	if changed {
		if status == metav1.ConditionFalse {
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, reason, "CheckProvider", "%s", message)
		} else if prev != nil {
			r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, reason, "CheckProvider", "%s", message)
		}
	}
}

// allowedClients counts the OAuthClients that refer to p (items) and that it
// allows.
func (r *ClusterOAuthProviderReconciler) allowedClients(ctx context.Context, p *tokenatorv1.ClusterOAuthProvider, items []tokenatorv1.OAuthClient) (int, error) {
	sel, err := policy.Selector(p)
	if err != nil {
		return 0, nil
	}
	n := 0
	for i := range items {
		ns := namespaceMetadata()
		if err := r.namespaces.Get(ctx, types.NamespacedName{Name: items[i].Namespace}, ns); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return 0, err
		}
		if policy.Allows(p, sel, items[i].Namespace, ns.Labels, items[i].Spec.Scopes, items[i].Spec.Audience) == "" {
			n++
		}
	}
	return n, nil
}

// pruneSharedTokens deletes the shared token Secrets of p that no
// OAuthClient uses any more (every client that used its scopes and audience
// changed them, went to credentials of its own, or was deleted), forgets
// them in memory, and counts those left. A tenant who edits its scopes over
// and over therefore leaves no token behind: there are never more shared
// tokens than OAuthClients using p's central credentials. items are the
// OAuthClients that refer to p.
func (r *ClusterOAuthProviderReconciler) pruneSharedTokens(ctx context.Context, p *tokenatorv1.ClusterOAuthProvider, items []tokenatorv1.OAuthClient) (int, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := r.references.List(ctx, list, client.InNamespace(r.clusterResourceNamespace),
		client.MatchingFields{secret.IndexController: string(p.UID)}); err != nil {
		return 0, err
	}
	inUse := map[string]bool{}
	for i := range items {
		if oc := &items[i]; oc.Spec.CredentialsSecretRef == nil && oc.DeletionTimestamp == nil {
			inUse[sharedtoken.Key(policy.RequestedScopes(p, oc.Spec.Scopes), oc.Spec.Audience)] = true
		}
	}
	r.shared.ForgetUnused(p.UID, inUse)
	n := 0
	for i := range list.Items {
		s := &list.Items[i]
		if !metav1.IsControlledBy(s, p) {
			continue
		}
		sk, ok := s.Annotations[tokenatorv1.AnnotationSharedKey]
		if !ok || inUse[sk] {
			n++
			continue
		}
		// Deleted only at the version seen: a Secret written again since
		// (a client of that key came back) stays.
		err := r.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}},
			client.Preconditions{UID: &s.UID, ResourceVersion: &s.ResourceVersion})
		switch {
		case err == nil || apierrors.IsNotFound(err):
			log.FromContext(ctx).V(1).Info("Shared token no longer used: deleted", "secret", s.Name)
		case apierrors.IsConflict(err):
			n++
		default:
			return 0, fmt.Errorf("deleting shared token Secret %q: %w", s.Name, err)
		}
	}
	return n, nil
}

// forgetDeletedProviders drops what this process remembers of the shared
// tokens of providers that no longer exist.
func (r *ClusterOAuthProviderReconciler) forgetDeletedProviders(ctx context.Context) error {
	var list tokenatorv1.ClusterOAuthProviderList
	if err := r.List(ctx, &list); err != nil {
		return err
	}
	live := make(map[types.UID]bool, len(list.Items))
	for i := range list.Items {
		live[list.Items[i].UID] = true
	}
	r.shared.ForgetProvidersExcept(live)
	return nil
}

// NewClusterOAuthProviderReconciler returns the ClusterOAuthProvider
// reconciler of mgr, which shares the caches, indexes and host check of
// clients, the OAuthClient reconciler.
func NewClusterOAuthProviderReconciler(mgr ctrl.Manager, clients *OAuthClientReconciler) *ClusterOAuthProviderReconciler {
	refs, _ := clients.References.(cache.Cache)
	namespaces, _ := clients.NamespaceReader.(cache.Cache)
	return &ClusterOAuthProviderReconciler{Client: mgr.GetClient(), Recorder: clients.Recorder, Clock: clients.Clock,
		Metrics: clients.Metrics, check: clients.checkProviderUsable, references: refs, namespaces: namespaces,
		shared: clients.shared, clusterResourceNamespace: clients.Options.ClusterResourceNamespace,
		skipNameValidation: clients.Options.SkipNameValidation}
}

// SetupWithManager registers the reconciler's watches: its providers, the
// OAuthClients that refer to them, the references of the cluster resource
// namespace, and the labels of Namespaces.
func (r *ClusterOAuthProviderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("clusteroauthprovider").
		// Every change of a provider, its status included: a reconcile that
		// read a provider whose last status write had not reached the cache
		// yet may have found nothing to write; the event of that write brings
		// it back with the cache up to date. Providers are few and a
		// reconcile that finds nothing changed writes nothing.
		For(&tokenatorv1.ClusterOAuthProvider{}).
		Watches(&tokenatorv1.OAuthClient{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if ref := o.(*tokenatorv1.OAuthClient).Spec.ProviderRef; ref != nil {
				return providerRequests(ref.Name)
			}
			return nil
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{SkipNameValidation: ptr.To(r.skipNameValidation)})
	if c := r.references; c != nil {
		b = b.WatchesRawSource(source.Kind(c, metadataOnly("Secret"),
			handler.TypedEnqueueRequestsFromMapFunc(r.mapReference(indexProviderSecretRefs)))).
			WatchesRawSource(source.Kind(c, metadataOnly("ConfigMap"),
				handler.TypedEnqueueRequestsFromMapFunc(r.mapReference(indexProviderConfigMapRefs)))).
			WatchesRawSource(source.Kind(c, metadataOnly("ServiceAccount"),
				handler.TypedEnqueueRequestsFromMapFunc(r.mapReference(indexProviderServiceAccountRefs))))
	}
	if c := r.namespaces; c != nil {
		b = b.WatchesRawSource(source.Kind(c, namespaceMetadata(),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, _ *metav1.PartialObjectMetadata) []reconcile.Request {
				return r.allProviders(ctx)
			}), predicate.TypedLabelChangedPredicate[*metav1.PartialObjectMetadata]{}))
	}
	return b.Complete(r)
}

// providerRequests are the reconcile requests of the providers named.
func providerRequests(names ...string) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(names))
	for _, n := range names {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: n}})
	}
	return reqs
}

// allProviders are the reconcile requests of every provider: a Namespace's
// labels changed, which any provider's allowedNamespaces may select.
func (r *ClusterOAuthProviderReconciler) allProviders(ctx context.Context) []reconcile.Request {
	var list tokenatorv1.ClusterOAuthProviderList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	names := make([]string, 0, len(list.Items))
	for i := range list.Items {
		names = append(names, list.Items[i].Name)
	}
	return providerRequests(names...)
}

// mapReference maps a changed object of the cluster resource namespace to the
// providers that refer to it by index, or that control it (a shared token
// Secret).
func (r *ClusterOAuthProviderReconciler) mapReference(index string) func(context.Context, *metav1.PartialObjectMetadata) []reconcile.Request {
	crn := r.clusterResourceNamespace
	return func(ctx context.Context, o *metav1.PartialObjectMetadata) []reconcile.Request {
		if o.Namespace != crn {
			return nil
		}
		names := providersReferring(ctx, r, index, o.Name)
		if p := providerOfSecret(o); p != "" {
			names = append(names, p)
		}
		return providerRequests(names...)
	}
}

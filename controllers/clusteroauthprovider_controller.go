package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// Clients is the OAuthClient reconciler, whose caches, indexes and host
	// check this reconciler shares.
	Clients *OAuthClientReconciler
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// Metrics records each provider's counts.
	Metrics *metrics.Metrics
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
	_, sel, err := checkProvider(p, r.Clients.TokenHosts)
	if err == nil {
		reason, err = r.checkReferences(ctx, p)
	} else {
		reason = tokenatorv1.ReasonInvalidSpec
	}
	var refErr *referenceError
	switch {
	case errors.As(err, &refErr):
		status, message = metav1.ConditionFalse, refErr.message
	case err != nil && reason == tokenatorv1.ReasonInvalidSpec:
		status, message = metav1.ConditionFalse, err.Error()
	case err != nil:
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

// checkReferences checks that the objects p refers to exist in the cluster
// resource namespace: the central credentials, Secret or ServiceAccount
// (CredentialsNotFound), and the CA bundle (InvalidSpec); and that the
// ServiceAccount opted in to its audience (InvalidSpec).
func (r *ClusterOAuthProviderReconciler) checkReferences(ctx context.Context, p *tokenatorv1.ClusterOAuthProvider) (string, error) {
	crn := r.Clients.Options.ClusterResourceNamespace
	type ref struct{ kind, name, field, reason string }
	var refs []ref
	if c := p.Spec.CredentialsSecretRef; c != nil {
		refs = append(refs, ref{"Secret", c.Name, "spec.credentialsSecretRef", tokenatorv1.ReasonCredentialsNotFound})
	}
	if name := providerServiceAccount(p); name != "" {
		refs = append(refs, ref{"ServiceAccount", name, "spec.clientAssertion.serviceAccountName", tokenatorv1.ReasonCredentialsNotFound})
	}
	if t := p.Spec.TLS; t != nil {
		if t.CASecretRef != nil {
			refs = append(refs, ref{"Secret", t.CASecretRef.Name, "spec.tls.caSecretRef", tokenatorv1.ReasonInvalidSpec})
		}
		if t.CAConfigMapRef != nil {
			refs = append(refs, ref{"ConfigMap", t.CAConfigMapRef.Name, "spec.tls.caConfigMapRef", tokenatorv1.ReasonInvalidSpec})
		}
	}
	for _, ref := range refs {
		err := r.Clients.References.Get(ctx, types.NamespacedName{Namespace: crn, Name: ref.name}, metadataOnly(ref.kind))
		if apierrors.IsNotFound(err) {
			return ref.reason, &referenceError{reason: ref.reason, message: fmt.Sprintf(msgProviderRefNotFound, ref.field, ref.kind, ref.name, crn)}
		}
		if err != nil {
			return "", fmt.Errorf("reading %s %q: %w", ref.kind, ref.name, err)
		}
	}
	if providerServiceAccount(p) != "" {
		// The ServiceAccount must also have opted in to the audience, as for
		// any request of its token.
		src := &requestSource{endpoint: &p.Spec.OAuthEndpoint, endpointNamespace: crn, provider: p, shared: true}
		if _, err := r.Clients.serviceAccountVersion(ctx, src); err != nil {
			var refErr *referenceError
			if errors.As(err, &refErr) {
				return refErr.reason, err
			}
			return "", err
		}
	}
	return tokenatorv1.ReasonProviderReady, nil
}

// allowedClients counts the OAuthClients that refer to p (items) and that it
// allows.
func (r *ClusterOAuthProviderReconciler) allowedClients(ctx context.Context, p *tokenatorv1.ClusterOAuthProvider, items []tokenatorv1.OAuthClient) (int, error) {
	sel, err := providerSelector(p)
	if err != nil {
		return 0, nil
	}
	n := 0
	for i := range items {
		ns := namespaceMetadata()
		if err := r.Clients.NamespaceReader.Get(ctx, types.NamespacedName{Name: items[i].Namespace}, ns); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return 0, err
		}
		if allows(p, sel, items[i].Namespace, ns.Labels, items[i].Spec.Scopes, items[i].Spec.Audience) == "" {
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
	if err := r.Clients.References.List(ctx, list, client.InNamespace(r.Clients.Options.ClusterResourceNamespace),
		client.MatchingFields{indexController: string(p.UID)}); err != nil {
		return 0, err
	}
	inUse := map[string]bool{}
	for i := range items {
		if oc := &items[i]; oc.Spec.CredentialsSecretRef == nil && oc.DeletionTimestamp == nil {
			inUse[sharedKey(requestedScopes(p, oc.Spec.Scopes), oc.Spec.Audience)] = true
		}
	}
	r.Clients.shared.forgetUnused(p.UID, inUse)
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
	r.Clients.shared.forgetProvidersExcept(live)
	return nil
}

// SetupWithManager registers the reconciler and its watches; the OAuthClient
// reconciler (r.Clients) must be set up first. A manager that does not serve
// ClusterOAuthProviders (see servesProviders) runs no provider controller.
func (r *ClusterOAuthProviderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if !servesProviders(&r.Clients.Options) {
		return nil
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Metrics == nil {
		r.Metrics = r.Clients.Metrics
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("tokenator")
	}
	byName := func(names ...string) []reconcile.Request {
		reqs := make([]reconcile.Request, 0, len(names))
		for _, n := range names {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: n}})
		}
		return reqs
	}
	allProviders := func(ctx context.Context) []reconcile.Request {
		var list tokenatorv1.ClusterOAuthProviderList
		if err := r.List(ctx, &list); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
		}
		return reqs
	}
	crn := r.Clients.Options.ClusterResourceNamespace
	mapReference := func(index string) func(context.Context, *metav1.PartialObjectMetadata) []reconcile.Request {
		return func(ctx context.Context, o *metav1.PartialObjectMetadata) []reconcile.Request {
			if o.Namespace != crn {
				return nil
			}
			names := providersReferring(ctx, r, index, o.Name)
			if p := providerOfSecret(o); p != "" {
				names = append(names, p)
			}
			return byName(names...)
		}
	}
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
				return byName(ref.Name)
			}
			return nil
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{SkipNameValidation: ptr.To(r.Clients.Options.SkipNameValidation)})
	if c, ok := r.Clients.References.(cache.Cache); ok {
		b = b.WatchesRawSource(source.Kind(c, metadataOnly("Secret"),
			handler.TypedEnqueueRequestsFromMapFunc(mapReference(indexProviderSecretRefs)))).
			WatchesRawSource(source.Kind(c, metadataOnly("ConfigMap"),
				handler.TypedEnqueueRequestsFromMapFunc(mapReference(indexProviderConfigMapRefs)))).
			WatchesRawSource(source.Kind(c, metadataOnly("ServiceAccount"),
				handler.TypedEnqueueRequestsFromMapFunc(mapReference(indexProviderServiceAccountRefs))))
	}
	if c, ok := r.Clients.NamespaceReader.(cache.Cache); ok {
		b = b.WatchesRawSource(source.Kind(c, namespaceMetadata(),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, _ *metav1.PartialObjectMetadata) []reconcile.Request {
				return allProviders(ctx)
			}), predicate.TypedLabelChangedPredicate[*metav1.PartialObjectMetadata]{}))
	}
	return b.Complete(r)
}

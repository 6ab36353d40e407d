package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// providerServiceAccounts are the ServiceAccounts, in the cluster resource
// namespace, whose tokens a provider sends, each with the field that names
// it: the client assertion of serviceAccountToken, and the subject token of
// the tokenExchange grant (two uses of one ServiceAccount are two entries).
func providerServiceAccounts(p *tokenatorv1.ClusterOAuthProvider) []saUse {
	var uses []saUse
	if p.Spec.ClientAuthentication == tokenatorv1.ClientAuthenticationServiceAccountToken && p.Spec.ClientAssertion != nil {
		uses = append(uses, serviceAccountAssertion(p.Spec.ClientAssertion))
	}
	if te := p.Spec.TokenExchange; usesTokenExchange(&p.Spec.OAuthEndpoint) && te != nil {
		uses = append(uses, subjectTokenUse(te))
	}
	return slices.DeleteFunc(uses, func(u saUse) bool { return u.name == "" })
}

// providerServiceAccountNames are the names of providerServiceAccounts(p),
// without repeats: the values of indexProviderServiceAccountRefs.
func providerServiceAccountNames(p *tokenatorv1.ClusterOAuthProvider) []string {
	var names []string
	for _, u := range providerServiceAccounts(p) {
		if !slices.Contains(names, u.name) {
			names = append(names, u.name)
		}
	}
	return names
}

var namespaceGVK = corev1.SchemeGroupVersion.WithKind("Namespace")

// providerSecrets lists the Secrets of the cluster resource namespace p refers to.
func providerSecrets(p *tokenatorv1.ClusterOAuthProvider) []string {
	var names []string
	if c := p.Spec.CredentialsSecretRef; c != nil {
		names = append(names, c.Name)
	}
	if t := p.Spec.TLS; t != nil && t.CASecretRef != nil {
		names = append(names, t.CASecretRef.Name)
	}
	return names
}

func providerConfigMaps(p *tokenatorv1.ClusterOAuthProvider) []string {
	if t := p.Spec.TLS; t != nil && t.CAConfigMapRef != nil {
		return []string{t.CAConfigMapRef.Name}
	}
	return nil
}

// keepLabels is the transform of the Namespace cache: a Namespace's identity
// and labels, which allowedNamespaces selects on, and nothing else.
func keepLabels(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil
	}
	obj.SetManagedFields(nil)
	obj.SetAnnotations(nil)
	obj.SetOwnerReferences(nil)
	obj.SetFinalizers(nil)
	return in, nil
}

// newNamespaceCache is a cache of the Namespaces' labels, cluster-wide.
func newNamespaceCache(mgr ctrl.Manager) (cache.Cache, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		HTTPClient:       mgr.GetHTTPClient(),
		DefaultTransform: keepLabels,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the Namespace cache: %w", err)
	}
	return c, mgr.Add(c)
}

// namespaceMetadata is an empty metadata-only Namespace.
func namespaceMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(namespaceGVK)
	return m
}

// clientsOfProvider lists the OAuthClients that refer to the provider name.
func clientsOfProvider(ctx context.Context, c client.Reader, name string) ([]tokenatorv1.OAuthClient, error) {
	var list tokenatorv1.OAuthClientList
	if err := c.List(ctx, &list, client.MatchingFields{indexProviderRef: name}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// requestsOfProviders maps providers to the requests of their OAuthClients.
func (r *OAuthClientReconciler) requestsOfProviders(ctx context.Context, names ...string) []reconcile.Request {
	var reqs []reconcile.Request
	for _, name := range names {
		items, err := clientsOfProvider(ctx, r, name)
		if err != nil {
			continue
		}
		for i := range items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&items[i])})
		}
	}
	return reqs
}

// providersReferring lists the names of the providers that refer, through
// index, to an object of the cluster resource namespace.
func providersReferring(ctx context.Context, c client.Reader, index, name string) []string {
	var list tokenatorv1.ClusterOAuthProviderList
	if err := c.List(ctx, &list, client.MatchingFields{index: name}); err != nil {
		return nil
	}
	names := make([]string, 0, len(list.Items))
	for i := range list.Items {
		names = append(names, list.Items[i].Name)
	}
	return names
}

// providerOfSecret is the name of the ClusterOAuthProvider that controls a
// Secret (a shared token), or "".
func providerOfSecret(o client.Object) string {
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil && ref.Kind == "ClusterOAuthProvider" {
		return ref.Name
	}
	return ""
}

// mapClusterResource extends the map of a Secret, ConfigMap or ServiceAccount change: one of
// the cluster resource namespace reaches the OAuthClients of the providers
// that refer to it or, for a shared token, that hold it.
func (r *OAuthClientReconciler) mapClusterResource(index string, base func(context.Context, client.Object) []reconcile.Request) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		reqs := base(ctx, o)
		if !servesProviders(&r.Options) || o.GetNamespace() != r.Options.ClusterResourceNamespace {
			return reqs
		}
		names := providersReferring(ctx, r, index, o.GetName())
		if p := providerOfSecret(o); p != "" {
			names = append(names, p)
		}
		return append(reqs, r.requestsOfProviders(ctx, names...)...)
	}
}

// watchProviders adds, when this manager serves ClusterOAuthProviders, the
// watches that bring a provider's changes and its allowed namespaces' label
// changes to its OAuthClients within seconds: ClusterOAuthProviders mapped
// through the index of providerRef, and Namespaces (labels only) mapped to
// their OAuthClients that name a provider.
func (r *OAuthClientReconciler) watchProviders(b *builder.Builder) *builder.Builder {
	nsCache, ok := r.NamespaceReader.(cache.Cache)
	if !servesProviders(&r.Options) || !ok {
		return b
	}
	return b.Watches(&tokenatorv1.ClusterOAuthProvider{},
		handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.requestsOfProviders(ctx, o.GetName())
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Kind(nsCache, namespaceMetadata(),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, ns *metav1.PartialObjectMetadata) []reconcile.Request {
				var list tokenatorv1.OAuthClientList
				if err := r.List(ctx, &list, client.InNamespace(ns.Name)); err != nil {
					return nil
				}
				var reqs []reconcile.Request
				for i := range list.Items {
					if list.Items[i].Spec.ProviderRef != nil {
						reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
					}
				}
				return reqs
			}), predicate.TypedLabelChangedPredicate[*metav1.PartialObjectMetadata]{}))
}

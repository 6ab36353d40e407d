package controllers

import (
	"context"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/secret"
)

// The field indexes of the controllers, all registered by registerIndexes.
const (
	// indexSecretRefs, indexConfigMapRefs and indexServiceAccountRefs, on
	// OAuthClients, are the Secrets, ConfigMaps and ServiceAccounts (whose
	// tokens it sends as its client assertion or subject token) of its
	// namespace an OAuthClient refers to: a change of one maps back to the
	// OAuthClients that refer to it.
	indexSecretRefs         = "tokenator.dev/secret-refs"
	indexConfigMapRefs      = "tokenator.dev/configmap-refs"
	indexServiceAccountRefs = "tokenator.dev/serviceaccount-refs"
	// indexProviderRef, on OAuthClients, is spec.providerRef.name.
	indexProviderRef = "tokenator.dev/provider-ref"
	// indexProviderSecretRefs and indexProviderConfigMapRefs, on
	// ClusterOAuthProviders, are the names of the Secrets and ConfigMaps of
	// the cluster resource namespace they refer to.
	indexProviderSecretRefs    = "tokenator.dev/provider-secret-refs"
	indexProviderConfigMapRefs = "tokenator.dev/provider-configmap-refs"
	// indexProviderServiceAccountRefs, on ClusterOAuthProviders, are the
	// ServiceAccounts of the cluster resource namespace whose tokens a
	// provider sends: its client assertion (serviceAccountToken) and its
	// subject token (tokenExchange).
	indexProviderServiceAccountRefs = "tokenator.dev/provider-serviceaccount-refs"
)

// fieldIndex is one field index: of obj's informer in a cache, named field,
// its values extracted from an object.
type fieldIndex struct {
	obj     client.Object
	field   string
	extract client.IndexerFunc
	// namespaced indexes keep only the key of the object's own namespace
	// (indexNamespaced); the others are cluster-scoped objects.
	namespaced bool
	// references says the index is on the reconciler's metadata cache of
	// references, not the manager's.
	references bool
	// providers says the index serves ClusterOAuthProviders.
	providers bool
}

// fieldIndexes are every field index of the controllers.
var fieldIndexes = []fieldIndex{
	{obj: &tokenatorv1.OAuthClient{}, field: indexSecretRefs, namespaced: true, extract: func(o client.Object) []string {
		return referencedSecrets(o.(*tokenatorv1.OAuthClient))
	}},
	{obj: &tokenatorv1.OAuthClient{}, field: indexConfigMapRefs, namespaced: true, extract: func(o client.Object) []string {
		return referencedConfigMaps(o.(*tokenatorv1.OAuthClient))
	}},
	{obj: &tokenatorv1.OAuthClient{}, field: indexServiceAccountRefs, namespaced: true, extract: func(o client.Object) []string {
		return referencedServiceAccounts(o.(*tokenatorv1.OAuthClient))
	}},
	{obj: metadataOnly("Secret"), field: secret.IndexController, namespaced: true, references: true, extract: secret.IndexControllerValues},
	{obj: &tokenatorv1.OAuthClient{}, field: indexProviderRef, providers: true, extract: func(o client.Object) []string {
		if ref := o.(*tokenatorv1.OAuthClient).Spec.ProviderRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}},
	{obj: &tokenatorv1.ClusterOAuthProvider{}, field: indexProviderSecretRefs, providers: true, extract: func(o client.Object) []string {
		return providerSecrets(o.(*tokenatorv1.ClusterOAuthProvider))
	}},
	{obj: &tokenatorv1.ClusterOAuthProvider{}, field: indexProviderConfigMapRefs, providers: true, extract: func(o client.Object) []string {
		return providerConfigMaps(o.(*tokenatorv1.ClusterOAuthProvider))
	}},
	{obj: &tokenatorv1.ClusterOAuthProvider{}, field: indexProviderServiceAccountRefs, providers: true, extract: func(o client.Object) []string {
		return providerServiceAccountNames(o.(*tokenatorv1.ClusterOAuthProvider))
	}},
}

// registerIndexes adds the field indexes to the manager's cache and to refs,
// the reconciler's metadata cache of references; those of providers only
// when the manager serves them.
func registerIndexes(ctx context.Context, managerCache, refs cache.Cache, providers bool) error {
	for _, ix := range fieldIndexes {
		c := managerCache
		if ix.references {
			c = refs
		}
		var err error
		switch {
		case ix.providers && !providers:
			continue
		case ix.namespaced:
			err = indexNamespaced(ctx, c, ix.obj, ix.field, ix.extract)
		default:
			err = c.IndexField(ctx, ix.obj, ix.field, ix.extract)
		}
		if err != nil {
			return fmt.Errorf("indexing %s: %w", ix.field, err)
		}
	}
	return nil
}

// indexNamespaced adds to the informer of obj in c a field index that a List
// of the cache with client.InNamespace and client.MatchingFields{field: value}
// reads: the index controller-runtime's IndexField names "field:<field>",
// keyed "<namespace>/<value>". IndexField also keys every value of a
// namespaced object under all namespaces, for queries that span them; no
// query of these indexes does, and that second key doubles the index of every
// object (a set of one key per value). Tests that map a changed Secret,
// ConfigMap or ServiceAccount to its OAuthClients, and a derived Secret to the
// OAuthClient that controls it, show that the name and the keys are those the
// cache reads.
func indexNamespaced(ctx context.Context, c cache.Informers, obj client.Object, field string, extract client.IndexerFunc) error {
	inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	return inf.AddIndexers(toolscache.Indexers{"field:" + field: func(raw any) ([]string, error) {
		o, ok := raw.(client.Object)
		if !ok {
			return nil, fmt.Errorf("object of type %T is not an Object", raw)
		}
		vals := extract(o)
		keys := make([]string, len(vals))
		for i, v := range vals {
			keys[i] = o.GetNamespace() + "/" + v
		}
		return keys, nil
	}})
}

package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/policy"
)

// requestSource is where the inputs of an OAuthClient's token request come
// from: the endpoint (the OAuthClient's own, or its ClusterOAuthProvider's) and
// the namespaces its references resolve in. Everything after gather reads the
// endpoint from here, so that every client authentication method works the
// same through a provider as inline.
type requestSource struct {
	// endpoint is spec's OAuthEndpoint, or the provider's.
	endpoint *tokenatorv1.OAuthEndpoint
	// endpointNamespace is where endpoint's references (tls) resolve.
	endpointNamespace string
	// credentials names the credentials Secret, nil when none is used.
	credentials *tokenatorv1.CredentialsSecretReference
	// credentialsNamespace is where credentials resolves.
	credentialsNamespace string
	// provider is the ClusterOAuthProvider, nil for an inline endpoint.
	provider *tokenatorv1.ClusterOAuthProvider
	// client is the OAuthClient the request is for; nil for a shared token.
	client *tokenatorv1.OAuthClient
	// shared says the central credentials are used: the token is the
	// provider's shared token of the scopes and the OAuthClient's audience.
	shared bool
	// scopes are the scopes requested: the OAuthClient's, or the provider's
	// defaultScopes when it names none.
	scopes []string
}

// ownSource is the source of an OAuthClient with an inline endpoint.
func ownSource(oc *tokenatorv1.OAuthClient) *requestSource {
	return &requestSource{endpoint: &oc.Spec.OAuthEndpoint, endpointNamespace: oc.Namespace,
		credentials: oc.Spec.CredentialsSecretRef, credentialsNamespace: oc.Namespace, client: oc, scopes: oc.Spec.Scopes}
}

// endpointField names a field of the endpoint in messages: the OAuthClient's
// own spec field, or the provider's.
func (s *requestSource) endpointField(field string) string {
	if s.provider == nil {
		return field
	}
	return fmt.Sprintf(msgProviderField, s.provider.Name, field)
}

// credentialsField names the credentials reference in messages.
func (s *requestSource) credentialsField(field string) string {
	if !s.shared {
		return field
	}
	return s.endpointField(field)
}

// ClusterResourceNamespaceDefault is the cluster resource namespace when
// neither --cluster-resource-namespace nor the manager's own namespace is known.
const ClusterResourceNamespaceDefault = "tokenator-system"

// servesProviders reports whether this manager serves ClusterOAuthProviders:
// it watches every namespace, or the cluster resource namespace is among the
// ones it watches (it must read the providers' Secrets there).
func servesProviders(o *Options) bool {
	return len(o.Namespaces) == 0 || slices.Contains(o.Namespaces, o.ClusterResourceNamespace)
}

// resolveSource returns the request source of oc: its inline endpoint, or
// its ClusterOAuthProvider's once the provider is found usable and allows
// oc's namespace, scopes and audience. A provider that is missing or unusable
// is ProviderNotFound, one that refuses is ProviderRefused; no request is
// sent, with the central credentials nor with oc's own.
func (r *OAuthClientReconciler) resolveSource(ctx context.Context, oc *tokenatorv1.OAuthClient) (*requestSource, error) {
	ref := oc.Spec.ProviderRef
	if ref == nil {
		if r.Options.RequireProviderRef {
			return nil, invalidSpec(errors.New(msgProviderRefRequired))
		}
		return ownSource(oc), nil
	}
	notFound := func(format string, args ...any) error {
		return &referenceError{reason: tokenatorv1.ReasonProviderNotFound, message: fmt.Sprintf(format, args...)}
	}
	crn := r.Options.ClusterResourceNamespace
	if !servesProviders(&r.Options) {
		return nil, notFound(msgProvidersNotServed, crn)
	}
	p := &tokenatorv1.ClusterOAuthProvider{}
	if err := r.Get(ctx, types.NamespacedName{Name: ref.Name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notFound(msgProviderNotFound, ref.Name)
		}
		return nil, fmt.Errorf("reading ClusterOAuthProvider %q: %w", ref.Name, err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return nil, notFound(msgProviderNotFound, ref.Name)
	}
	sel, err := r.checkProviderUsable(ctx, p)
	if pr := problemOf(err); pr != nil {
		return nil, notFound(msgProviderNotReady, p.Name, pr.message)
	} else if err != nil {
		return nil, err
	}
	nsMeta := &metav1.PartialObjectMetadata{}
	nsMeta.SetGroupVersionKind(namespaceGVK)
	if err := r.NamespaceReader.Get(ctx, types.NamespacedName{Name: oc.Namespace}, nsMeta); err != nil {
		return nil, fmt.Errorf("reading Namespace %q: %w", oc.Namespace, err)
	}
	src, srcErr := providerSource(oc, p, crn)
	// A refusal comes before a problem of the source: a refused tenant learns
	// nothing of how the provider authenticates.
	if why := policy.Allows(p, sel, oc.Namespace, nsMeta.Labels, oc.Spec.Scopes, oc.Spec.Audience); why != "" {
		return nil, &referenceError{reason: tokenatorv1.ReasonProviderRefused, message: why}
	}
	if srcErr != nil {
		return nil, srcErr
	}
	src.scopes = policy.RequestedScopes(p, oc.Spec.Scopes)
	return src, nil
}

// providerSource is the request source of oc through p, but for its scopes:
// oc's own credentials, or p's central ones (a shared token).
func providerSource(oc *tokenatorv1.OAuthClient, p *tokenatorv1.ClusterOAuthProvider, crn string) (*requestSource, error) {
	saProvider := len(providerServiceAccounts(p)) > 0
	src := &requestSource{endpoint: &p.Spec.OAuthEndpoint, endpointNamespace: crn, provider: p}
	switch {
	case oc.Spec.CredentialsSecretRef != nil && saProvider:
		// The provider's ServiceAccount, in the cluster resource namespace,
		// is a central credential: it is not lent to a tenant's own client.
		return nil, invalidSpec(fmt.Errorf(msgSAProviderOwnCredentials, p.Name))
	case oc.Spec.CredentialsSecretRef != nil:
		src.credentials, src.credentialsNamespace, src.client = oc.Spec.CredentialsSecretRef, oc.Namespace, oc
	case p.Spec.CredentialsSecretRef != nil:
		src.credentials, src.credentialsNamespace, src.shared = p.Spec.CredentialsSecretRef, crn, true
	case saProvider:
		// The ServiceAccount and the inline clientID are the central
		// credentials.
		src.shared = true
	default:
		return nil, invalidSpec(fmt.Errorf(msgNoCentralCredentials, p.Name))
	}
	return src, nil
}

// observeProviderRequest counts a token request sent through a provider.
func (r *OAuthClientReconciler) observeProviderRequest(src *requestSource, err error) {
	if src.provider != nil {
		r.Metrics.ObserveProviderRequest(src.provider.Name, err)
	}
}

// checkProviderUsable is the one check of whether p can be used, for its
// Ready condition and for every OAuthClient that refers to it: its spec
// (checkProvider: InvalidSpec), and the objects it refers to in the cluster
// resource namespace: the central credentials, Secret or ServiceAccounts
// (of serviceAccountToken and of tokenExchange, each named by its field:
// CredentialsNotFound), and the CA bundle (InvalidSpec); and that each
// ServiceAccount opted in to its audience (InvalidSpec). A problem is
// returned as a *referenceError; it returns p's selector of namespaces.
func (r *OAuthClientReconciler) checkProviderUsable(ctx context.Context, p *tokenatorv1.ClusterOAuthProvider) (labels.Selector, error) {
	_, sel, err := policy.Check(p, r.TokenHosts)
	if err != nil {
		return nil, invalidSpec(err)
	}
	crn := r.Options.ClusterResourceNamespace
	type ref struct{ kind, name, field, reason string }
	var refs []ref
	if c := p.Spec.CredentialsSecretRef; c != nil {
		refs = append(refs, ref{"Secret", c.Name, "spec.credentialsSecretRef", tokenatorv1.ReasonCredentialsNotFound})
	}
	sas := providerServiceAccounts(p)
	for _, u := range sas {
		refs = append(refs, ref{"ServiceAccount", u.name, u.nameField, tokenatorv1.ReasonCredentialsNotFound})
	}
	if t := p.Spec.TLS; t != nil && t.CASecretRef != nil {
		refs = append(refs, ref{"Secret", t.CASecretRef.Name, "spec.tls.caSecretRef", tokenatorv1.ReasonInvalidSpec})
	}
	if t := p.Spec.TLS; t != nil && t.CAConfigMapRef != nil {
		refs = append(refs, ref{"ConfigMap", t.CAConfigMapRef.Name, "spec.tls.caConfigMapRef", tokenatorv1.ReasonInvalidSpec})
	}
	for _, ref := range refs {
		err := r.References.Get(ctx, types.NamespacedName{Namespace: crn, Name: ref.name}, metadataOnly(ref.kind))
		if apierrors.IsNotFound(err) {
			return sel, &referenceError{reason: ref.reason, message: fmt.Sprintf(msgProviderRefNotFound, ref.field, ref.kind, ref.name, crn)}
		}
		if err != nil {
			return sel, fmt.Errorf("reading %s %q: %w", ref.kind, ref.name, err)
		}
	}
	if len(sas) > 0 {
		// The ServiceAccounts must also have opted in to their audiences, as
		// for any request of their tokens.
		src := &requestSource{endpoint: &p.Spec.OAuthEndpoint, endpointNamespace: crn, provider: p, shared: true}
		if _, err := r.serviceAccountVersion(ctx, src); err != nil {
			return sel, err
		}
	}
	return sel, nil
}

package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/satoken"
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
	apiAuds, err := r.apiAudiences.Get(ctx)
	if err != nil {
		return nil, err
	}
	if satoken.IsAPIAudience(use.audience, apiAuds) {
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
	ns := src.serviceAccountNamespace()
	token, err := r.saTokens.Token(ctx, r.Client, r.Clock, ns, satoken.Version{UID: v.UID, OptIn: v.OptIn},
		satoken.Use{Name: use.name, Audience: use.audience, Lifetime: use.lifetime, Field: use.nameField})
	var notFound *satoken.NotFoundError
	if errors.As(err, &notFound) {
		return "", &referenceError{reason: tokenatorv1.ReasonCredentialsNotFound,
			message: fmt.Sprintf(msgRefNotFound, notFound.Field, "ServiceAccount", notFound.Name, notFound.Namespace)}
	}
	return token, err
}

package controllers

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/render"
	"github.com/tokenator-dev/tokenator/controllers/satoken"
	"github.com/tokenator-dev/tokenator/controllers/secret"
)

// ServiceAccountTokens exposes the reuse of ServiceAccount tokens to the
// tests, which run it against the suite's API server with a clock of their own.
type ServiceAccountTokens struct{ t satoken.Tokens }

// Token is a token of the ServiceAccount namespace/name (UID uid, opt-in
// annotation optIn) for audience and lifetime, reused or requested.
func (s *ServiceAccountTokens) Token(ctx context.Context, c client.Client, clk clock.PassiveClock,
	namespace, name string, uid types.UID, optIn, audience string, lifetime time.Duration) (string, error) {
	ca := &tokenatorv1.ClientAssertion{ServiceAccountName: name, Audience: audience}
	if lifetime > 0 {
		ca.Lifetime = &metav1.Duration{Duration: lifetime}
	}
	use := serviceAccountAssertion(ca)
	return s.t.Token(ctx, c, clk, namespace, satoken.Version{UID: uid, OptIn: optIn},
		satoken.Use{Name: use.name, Audience: use.audience, Lifetime: use.lifetime, Field: use.nameField})
}

// Forget drops the tokens kept of a ServiceAccount, as a change of it does.
func (s *ServiceAccountTokens) Forget(namespace, name string) { s.t.Forget(namespace, name) }

// Len is the number of tokens kept.
func (s *ServiceAccountTokens) Len() int { return s.t.Len() }

// TokenAudiences exposes the reading of the Pod's own token audiences.
var TokenAudiences = satoken.TokenAudiences

// StripServiceAccount exposes the transform of the ServiceAccount cache.
var StripServiceAccount = stripServiceAccount

// WriteStatus exposes the status write of a reconcile: oc's status, before
// being the OAuthClient as the reconcile read it.
func WriteStatus(ctx context.Context, c client.Client, oc, before *tokenatorv1.OAuthClient) error {
	return (&OAuthClientReconciler{Client: c}).writeStatus(ctx, oc, before)
}

// IndexControllerValues is the value of the index of Secrets by controller.
var IndexControllerValues = secret.IndexControllerValues

// ReferencedSecrets is the value of the index of OAuthClients by the Secrets
// they reference.
var ReferencedSecrets = referencedSecrets

// StripSecret exposes the transform of the Secret metadata cache, for the
// cluster resource namespace crn.
var StripSecret = stripSecret

// StripToIdentity exposes the transform of the ConfigMap metadata cache.
var StripToIdentity = stripToIdentity

// KeepNamespaceLabels exposes the transform of the Namespace cache.
var KeepNamespaceLabels = keepLabels

// MaxRenderError is the bound of a render error.
const MaxRenderError = render.MaxError

// StatusTokenType exposes the token type as status.tokenType holds it.
var StatusTokenType = statusTokenType

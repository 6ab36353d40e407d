package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/presets"
)

// gathered is what a reconcile knows of an OAuthClient before it decides,
// all of it read from the caches: the resolved endpoint, the parsed
// templates, the identity of the request the spec asks for, and the derived
// Secret with the token it holds.
type gathered struct {
	// source is where the request's inputs come from: the spec, or its
	// ClusterOAuthProvider.
	source *requestSource
	// endpoint is the source's endpoint resolved against its preset, its URL
	// parsed and checked once.
	endpoint presets.Endpoint
	// audience is spec.audience.
	audience string
	// templates are the parsed spec.secret.extraData.
	templates extraDataTemplates
	// hash identifies the token request (tokenRequestHash).
	hash string
	// existing is the metadata of the derived Secret under the current name,
	// nil when absent.
	existing *metav1.PartialObjectMetadata
	// holder is the derived Secret that holds the token the status describes
	// (under the current name, else under a previous one), nil when none does.
	holder *metav1.PartialObjectMetadata
}

// gather reads what the decision needs. A problem of the spec or of what it
// references is returned as a *referenceError or an *errSecretConflict, for
// report; a suspended OAuthClient needs nothing.
func (r *OAuthClientReconciler) gather(ctx context.Context, oc *tokenatorv1.OAuthClient) (*gathered, error) {
	g := &gathered{audience: oc.Spec.Audience}
	if oc.Spec.Suspend {
		return g, nil
	}
	var err error
	if g.source, err = r.resolveSource(ctx, oc); err != nil {
		return nil, err
	}
	if g.endpoint, err = presets.Resolve(g.source.endpoint); err != nil {
		return nil, invalidSpec(err)
	}
	if r.TokenHosts != nil {
		if err := r.TokenHosts.CheckHost(g.endpoint.Hostname); err != nil {
			return nil, invalidSpec(fmt.Errorf("%s: %w", g.source.endpointField("spec.tokenURL"), err))
		}
	}
	if g.templates, err = parseExtraData(oc.Spec.Secret.ExtraData); err != nil {
		return nil, invalidSpec(err)
	}
	refs, err := r.referenceVersions(ctx, g.source)
	if err != nil {
		return nil, err
	}
	g.hash = tokenRequestHash(requestSpec(oc, g.source), refs)

	if g.existing, err = r.getDerivedSecret(ctx, oc); err != nil {
		return nil, err
	}
	oc.Status.SecretName = derivedSecretName(oc)
	held, err := r.holdsToken(ctx, oc, g.existing)
	if err != nil {
		return nil, err
	}
	if held {
		g.holder = g.existing
	} else if g.existing == nil {
		// spec.secret.name changed: the Secret under the previous name may
		// still hold the token.
		previous, err := r.previousSecret(ctx, oc)
		if err != nil {
			return nil, err
		}
		if held, err = r.holdsToken(ctx, oc, previous); err != nil {
			return nil, err
		} else if held {
			g.holder = previous
		}
	}
	return g, nil
}

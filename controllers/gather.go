package controllers

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/render"
	"github.com/tokenator-dev/tokenator/controllers/secret"
	"github.com/tokenator-dev/tokenator/controllers/sharedtoken"
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
	templates render.Templates
	// hash identifies the token request (tokenRequestHash).
	hash string
	// existing is the metadata of the derived Secret under the current name,
	// nil when absent.
	existing *metav1.PartialObjectMetadata
	// holder is the derived Secret that holds the token the status describes
	// (under the current name, else under a previous one), nil when none does.
	holder *metav1.PartialObjectMetadata
	// sharedKey is the key of the shared token of a client of one (the
	// provider's UID and sharedSK, the shared key of its scopes and
	// audience), sharedName the name of its Secret.
	sharedKey, sharedSK, sharedName string
	// sharedScopes are the scopes of the shared token, as a set.
	sharedScopes []string
}

// gather reads what the plan needs, from the caches and this process's
// memory: a problem of the spec or of what it references is a fact
// (facts.Problem), and the error returned is one a retry may fix. A
// suspended OAuthClient needs nothing.
func (r *OAuthClientReconciler) gather(ctx context.Context, oc *tokenatorv1.OAuthClient, now time.Time) (facts, *gathered, error) {
	f := facts{Now: now, UID: string(oc.UID), Suspended: oc.Spec.Suspend, Status: &oc.Status,
		RefreshRequest: oc.Annotations[tokenatorv1.AnnotationRefreshRequestedAt]}
	if f.Suspended {
		return f, nil, nil
	}
	g, err := r.gatherRequest(ctx, oc)
	if f.Problem = problemOf(err); f.Problem != nil {
		return f, nil, nil
	}
	if err != nil {
		return f, nil, err
	}
	f.RequestHash, f.TokenHeld = g.hash, g.holder != nil
	if f.SecretUpToDate = secret.UpToDate(g.existing, oc); f.SecretUpToDate {
		f.RenderError = g.existing.Annotations[tokenatorv1.AnnotationRenderError]
	}
	if !g.source.shared {
		f.Outcome, f.InFlight, _ = r.requests.Answer(client.ObjectKeyFromObject(oc).String(), g.hash+"|"+f.RefreshRequest, now)
		return f, g, nil
	}
	err = r.gatherShared(ctx, &f, g, oc.Spec.Audience)
	return f, g, err
}

// gatherShared reads what is known of the shared token of g's scopes and
// audience: the request of it in flight or ended, the token the provider
// holds, its latest failure.
func (r *OAuthClientReconciler) gatherShared(ctx context.Context, f *facts, g *gathered, audience string) error {
	p := g.source.provider
	sk, scopes := sharedtoken.Key(g.source.scopes, audience), sharedtoken.Scopes(g.source.scopes)
	g.sharedKey, g.sharedSK, g.sharedName, g.sharedScopes = string(p.UID)+"/"+sk, sk, sharedtoken.SecretName(p.Name, sk), scopes
	f.Shared = &sharedFacts{Key: g.sharedKey}
	_, f.Shared.Failure = r.shared.Get(g.sharedKey)
	var ended bool
	if f.Outcome, f.InFlight, ended = r.requests.Answer(sharedRequestKey(g.sharedKey), g.hash, f.Now); f.Outcome != nil || f.InFlight {
		return nil
	} else if ended {
		// An outcome no client took in time, or of another request: the
		// in-flight mark goes with it, and a new request is made if needed.
		r.endShared(g.sharedKey, true)
	}
	var err error
	f.Shared.Token, err = r.currentShared(ctx, g.sharedKey, g.sharedName, g.hash, p, f.Now)
	return err
}

// gatherRequest resolves the request the spec asks for, and the derived
// Secret. A problem of the spec or of what it references is returned as a
// *referenceError or an *secret.ConflictError.
func (r *OAuthClientReconciler) gatherRequest(ctx context.Context, oc *tokenatorv1.OAuthClient) (*gathered, error) {
	g := &gathered{audience: oc.Spec.Audience}
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
	if g.templates, err = render.Parse(oc.Spec.Secret.ExtraData); err != nil {
		return nil, invalidSpec(err)
	}
	refs, err := r.referenceVersions(ctx, g.source)
	if err != nil {
		return nil, err
	}
	if sa, err := r.serviceAccountVersion(ctx, g.source); err != nil {
		return nil, err
	} else if sa != nil {
		refs = append(refs, *sa)
	}
	g.hash = tokenRequestHash(requestSpec(oc, g.source), refs)

	if g.existing, err = r.secrets.Get(ctx, oc); err != nil {
		return nil, err
	}
	held, err := r.secrets.Holds(ctx, oc, g.existing)
	if err != nil {
		return nil, err
	}
	if held {
		g.holder = g.existing
	} else if g.existing == nil {
		// spec.secret.name changed: the Secret under the previous name may
		// still hold the token.
		previous, err := r.secrets.Previous(ctx, oc)
		if err != nil {
			return nil, err
		}
		if held, err = r.secrets.Holds(ctx, oc, previous); err != nil {
			return nil, err
		} else if held {
			g.holder = previous
		}
	}
	return g, nil
}

package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/presets"
)

// The pure checks of a ClusterOAuthProvider: whether its spec can be used, and
// whether it allows a namespace and scopes. Both controllers use them: the
// provider's for its status, the OAuthClient's before any request.

// scopeMatches reports whether scope matches glob, where * stands for any run
// of characters (none included) and every other character for itself. The
// match is linear in len(glob)+len(scope) times the number of stars at worst
// (the greedy backtracking of one star at a time), and both are bounded by
// the CRD (256 characters).
func scopeMatches(glob, scope string) bool {
	parts := strings.Split(glob, "*")
	if len(parts) == 1 {
		return glob == scope
	}
	if !strings.HasPrefix(scope, parts[0]) {
		return false
	}
	scope = scope[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(scope, p)
		if i < 0 {
			return false
		}
		scope = scope[i+len(p):]
	}
	return len(scope) >= len(last) && strings.HasSuffix(scope, last)
}

// refusedScope returns the first of scopes that no glob of allowed matches,
// or "" when all are allowed; an empty allowed list allows every scope. It
// judges the scopes asked for one by one: that none is asked for is for
// scopeRefusal to judge.
func refusedScope(allowed, scopes []string) string {
	if len(allowed) == 0 {
		return ""
	}
	for _, s := range scopes {
		if !matchesAny(allowed, s) {
			return s
		}
	}
	return ""
}

// matchesAny reports whether a glob of globs matches s.
func matchesAny(globs []string, s string) bool {
	return slices.ContainsFunc(globs, func(g string) bool { return scopeMatches(g, s) })
}

// requestedScopes are the scopes requested through p for an OAuthClient that
// names scopes: its own, or p's defaultScopes when it names none.
func requestedScopes(p *tokenatorv1.ClusterOAuthProvider, scopes []string) []string {
	if len(scopes) == 0 {
		return p.Spec.DefaultScopes
	}
	return scopes
}

// scopeRefusal reports why p refuses the scopes an OAuthClient names, or ""
// when it allows them. With allowedScopes set, a request of no scope is
// refused: most identity providers answer it with every scope the client
// may have.
func scopeRefusal(p *tokenatorv1.ClusterOAuthProvider, scopes []string) string {
	requested := requestedScopes(p, scopes)
	if len(requested) == 0 && len(p.Spec.AllowedScopes) > 0 {
		return fmt.Sprintf(msgNoScopeRefused, p.Name)
	}
	if s := refusedScope(p.Spec.AllowedScopes, requested); s != "" {
		return fmt.Sprintf(msgScopeRefused, p.Name, s)
	}
	return ""
}

// audienceRefusal reports why p refuses the audience an OAuthClient names,
// or "" when it allows it: an audience must match a glob of
// allowedAudiences, and none is allowed when allowedAudiences is unset.
func audienceRefusal(p *tokenatorv1.ClusterOAuthProvider, audience string) string {
	switch {
	case audience == "":
		return ""
	case len(p.Spec.AllowedAudiences) == 0:
		return fmt.Sprintf(msgAudienceNotAllowed, p.Name)
	case !matchesAny(p.Spec.AllowedAudiences, audience):
		return fmt.Sprintf(msgAudienceRefused, p.Name, audience)
	}
	return ""
}

// providerSelector is the namespace selector of p.
func providerSelector(p *tokenatorv1.ClusterOAuthProvider) (labels.Selector, error) {
	if p.Spec.AllowedNamespaces == nil {
		return nil, fmt.Errorf("spec.allowedNamespaces is required")
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.AllowedNamespaces)
	if err != nil {
		return nil, fmt.Errorf("spec.allowedNamespaces: %w", err)
	}
	return sel, nil
}

// checkProvider checks what the schema cannot of a provider's spec: the
// endpoint resolves, its host is allowed, the namespace selector parses, and
// allowedScopes allows every scope of defaultScopes (globs with several *
// cannot be matched in CEL).
// It returns the resolved endpoint and the selector.
func checkProvider(p *tokenatorv1.ClusterOAuthProvider, hosts hostChecker) (presets.Endpoint, labels.Selector, error) {
	ep, err := presets.Resolve(&p.Spec.OAuthEndpoint)
	if err != nil {
		return presets.Endpoint{}, nil, err
	}
	if hosts != nil {
		if err := hosts.CheckHost(ep.Hostname); err != nil {
			return presets.Endpoint{}, nil, fmt.Errorf("spec.tokenURL: %w", err)
		}
	}
	sel, err := providerSelector(p)
	if err != nil {
		return presets.Endpoint{}, nil, err
	}
	if s := refusedScope(p.Spec.AllowedScopes, p.Spec.DefaultScopes); s != "" {
		return presets.Endpoint{}, nil, fmt.Errorf(msgDefaultScopeRefused, s)
	}
	return ep, sel, nil
}

// hostChecker refuses the token hosts the operator may not call
// (--allowed-token-hosts).
type hostChecker interface {
	CheckHost(host string) error
}

// allows reports why p refuses an OAuthClient of namespace ns (its labels
// nsLabels) that names scopes and audience, or "" when it allows it.
func allows(p *tokenatorv1.ClusterOAuthProvider, sel labels.Selector, ns string, nsLabels map[string]string, scopes []string, audience string) string {
	if !sel.Matches(labels.Set(nsLabels)) {
		return fmt.Sprintf(msgNamespaceRefused, p.Name, ns)
	}
	if why := scopeRefusal(p, scopes); why != "" {
		return why
	}
	return audienceRefusal(p, audience)
}

// sharedKey identifies the shared token of a set of scopes and an audience:
// the scopes as a set (order and repeats do not matter).
func sharedKey(scopes []string, audience string) string {
	set := slices.Clone(scopes)
	slices.Sort(set)
	set = slices.Compact(set)
	h := sha256.New()
	for _, s := range set {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	fmt.Fprintf(h, "|%d:%s", len(audience), audience)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// sharedSecretName is the name of the Secret, in the cluster resource
// namespace, that holds provider's shared token of key.
func sharedSecretName(provider, key string) string {
	name := provider
	// 253 characters in all: the provider's name is cut so that the key fits.
	if len(name) > 253-len("-shared-")-len(key) {
		name = strings.TrimRight(name[:253-len("-shared-")-len(key)], ".-")
	}
	return name + "-shared-" + key
}

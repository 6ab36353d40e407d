// Package policy holds the pure checks of a ClusterOAuthProvider: whether its
// spec can be used (Check), and whether it Allows an OAuthClient's namespace,
// scopes and audience (Allows). Both controllers use them: the provider's for
// its status, the OAuthClient's before any request.
package policy

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/presets"
)

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
// or "" when all are allowed; an empty allowed list Allows every scope. It
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

// RequestedScopes are the scopes requested through p for an OAuthClient that
// names scopes: its own, or p's defaultScopes when it names none.
func RequestedScopes(p *tokenatorv1.ClusterOAuthProvider, scopes []string) []string {
	if len(scopes) == 0 {
		return p.Spec.DefaultScopes
	}
	return scopes
}

// scopeRefusal reports why p refuses the scopes an OAuthClient names, or ""
// when it Allows them. With allowedScopes set, a request of no scope is
// refused: most identity providers answer it with every scope the client
// may have.
func scopeRefusal(p *tokenatorv1.ClusterOAuthProvider, scopes []string) string {
	requested := RequestedScopes(p, scopes)
	if len(requested) == 0 && len(p.Spec.AllowedScopes) > 0 {
		return fmt.Sprintf(msgNoScopeRefused, p.Name)
	}
	if s := refusedScope(p.Spec.AllowedScopes, requested); s != "" {
		return fmt.Sprintf(msgScopeRefused, p.Name, s)
	}
	return ""
}

// audienceRefusal reports why p refuses the audience an OAuthClient names,
// or "" when it Allows it: an audience must match a glob of
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

// Selector is the namespace selector of p.
func Selector(p *tokenatorv1.ClusterOAuthProvider) (labels.Selector, error) {
	if p.Spec.AllowedNamespaces == nil {
		return nil, fmt.Errorf("spec.allowedNamespaces is required")
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.AllowedNamespaces)
	if err != nil {
		return nil, fmt.Errorf("spec.allowedNamespaces: %w", err)
	}
	return sel, nil
}

// Check checks what the schema cannot of a provider's spec: the
// endpoint resolves, its host is allowed, the namespace selector parses, and
// allowedScopes Allows every scope of defaultScopes (globs with several *
// cannot be matched in CEL).
// It returns the resolved endpoint and the selector.
func Check(p *tokenatorv1.ClusterOAuthProvider, hosts HostChecker) (presets.Endpoint, labels.Selector, error) {
	ep, err := presets.Resolve(&p.Spec.OAuthEndpoint)
	if err != nil {
		return presets.Endpoint{}, nil, err
	}
	if hosts != nil {
		if err := hosts.CheckHost(ep.Hostname); err != nil {
			return presets.Endpoint{}, nil, fmt.Errorf("spec.tokenURL: %w", err)
		}
	}
	sel, err := Selector(p)
	if err != nil {
		return presets.Endpoint{}, nil, err
	}
	if s := refusedScope(p.Spec.AllowedScopes, p.Spec.DefaultScopes); s != "" {
		return presets.Endpoint{}, nil, fmt.Errorf(msgDefaultScopeRefused, s)
	}
	return ep, sel, nil
}

// HostChecker refuses the token hosts the operator may not call
// (--allowed-token-hosts).
type HostChecker interface {
	CheckHost(host string) error
}

// Allows reports why p refuses an OAuthClient of namespace ns (its labels
// nsLabels) that names scopes and audience, or "" when it Allows it.
func Allows(p *tokenatorv1.ClusterOAuthProvider, sel labels.Selector, ns string, nsLabels map[string]string, scopes []string, audience string) string {
	if !sel.Matches(labels.Set(nsLabels)) {
		return fmt.Sprintf(msgNamespaceRefused, p.Name, ns)
	}
	if why := scopeRefusal(p, scopes); why != "" {
		return why
	}
	return audienceRefusal(p, audience)
}

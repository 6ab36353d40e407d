package policy

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

func TestScopeMatches(t *testing.T) {
	for _, tt := range []struct {
		glob, scope string
		want        bool
	}{
		{"payroll", "payroll", true},
		{"payroll", "payroll2", false},
		{"payroll", "payrol", false},
		{"api.read*", "api.read", true},
		{"api.read*", "api.read.all", true},
		{"api.read*", "api.write", false},
		{"*", "anything", true},
		{"*", "", true},
		{"*.read", "api.read", true},
		{"*.read", "api.read.all", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false},
		{"a*bc*bc", "abcbc", true},
		{"a*bc*bc", "abc", false},
		{"ab*ba", "aba", false},
		{"**", "x", true},
		{"a.b", "aXb", false},
	} {
		if got := scopeMatches(tt.glob, tt.scope); got != tt.want {
			t.Errorf("scopeMatches(%q, %q) = %v, want %v", tt.glob, tt.scope, got, tt.want)
		}
	}
}

func TestRefusedScope(t *testing.T) {
	if s := refusedScope(nil, []string{"x"}); s != "" {
		t.Errorf("no allowedScopes Allows any scope; refused %q", s)
	}
	if s := refusedScope([]string{"api.*"}, []string{"api.read", "admin", "other"}); s != "admin" {
		t.Errorf("refused %q, want admin", s)
	}
}

// The allowlist has no side door: with allowedScopes set, naming no scope is
// refused (the identity provider would grant every scope of the client)
// unless defaultScopes are requested instead; an audience must match
// allowedAudiences, and none is allowed without them.
func TestAllows(t *testing.T) {
	provider := func(mutate func(*tokenatorv1.ClusterOAuthProviderSpec)) *tokenatorv1.ClusterOAuthProvider {
		p := &tokenatorv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "lucca"}}
		mutate(&p.Spec)
		return p
	}
	scoped := func(s *tokenatorv1.ClusterOAuthProviderSpec) { s.AllowedScopes = []string{"api.read*"} }
	withDefaults := func(s *tokenatorv1.ClusterOAuthProviderSpec) {
		scoped(s)
		s.DefaultScopes = []string{"api.read"}
	}
	audiences := func(s *tokenatorv1.ClusterOAuthProviderSpec) {
		s.AllowedAudiences = []string{"https://api.example.com/*"}
	}
	anything := func(*tokenatorv1.ClusterOAuthProviderSpec) {}
	for _, tt := range []struct {
		name     string
		spec     func(*tokenatorv1.ClusterOAuthProviderSpec)
		scopes   []string
		audience string
		want     string // a part of the refusal; "" when allowed
	}{
		{"no allowlist, no scope", anything, nil, "", ""},
		{"no allowlist, any scope", anything, []string{"admin"}, "", ""},
		{"allowed scope", scoped, []string{"api.read.all"}, "", ""},
		{"scope outside the allowlist", scoped, []string{"api.read", "admin"}, "", `ClusterOAuthProvider "lucca" does not allow scope "admin"`},
		{"no scope with allowedScopes", scoped, nil, "", "name at least one scope of allowedScopes"},
		{"empty scopes with allowedScopes", scoped, []string{}, "", "name at least one scope of allowedScopes"},
		{"no scope with defaultScopes", withDefaults, nil, "", ""},
		{"defaultScopes outside the allowlist", func(s *tokenatorv1.ClusterOAuthProviderSpec) {
			scoped(s)
			s.DefaultScopes = []string{"admin"}
		}, nil, "", `does not allow scope "admin"`},
		{"audience without allowedAudiences", anything, nil, "https://admin.example.com", "remove spec.audience"},
		{"audience without allowedAudiences, scopes allowed", withDefaults, []string{"api.read"}, "https://api.example.com/x", "remove spec.audience"},
		{"audience outside allowedAudiences", audiences, nil, "https://admin.example.com", `does not allow audience "https://admin.example.com"`},
		{"audience inside allowedAudiences", audiences, nil, "https://api.example.com/payroll", ""},
		{"any audience", func(s *tokenatorv1.ClusterOAuthProviderSpec) { s.AllowedAudiences = []string{"*"} }, nil, "anything", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Allows(provider(tt.spec), labels.Everything(), "team-a", nil, tt.scopes, tt.audience)
			switch {
			case tt.want == "" && got != "":
				t.Errorf("refused: %s", got)
			case tt.want != "" && (!strings.Contains(got, tt.want) || !strings.Contains(got, `ClusterOAuthProvider "lucca"`)):
				t.Errorf("got %q, want a refusal naming the provider with %q", got, tt.want)
			}
		})
	}
	// The namespace comes first.
	sel, _ := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}})
	if got := Allows(provider(scoped), sel, "team-a", nil, nil, ""); !strings.Contains(got, `does not allow namespace "team-a"`) {
		t.Errorf("got %q", got)
	}
}

// defaultScopes are what a client that names none requests; a provider's
// defaultScopes outside its allowedScopes make it unusable.
func TestRequestedAndDefaultScopes(t *testing.T) {
	p := &tokenatorv1.ClusterOAuthProvider{Spec: tokenatorv1.ClusterOAuthProviderSpec{
		OAuthEndpoint:     tokenatorv1.OAuthEndpoint{Provider: "lucca"},
		AllowedNamespaces: &metav1.LabelSelector{},
		AllowedScopes:     []string{"api.read*"},
		DefaultScopes:     []string{"api.read", "api.read.all"},
	}}
	if got := RequestedScopes(p, nil); !slices.Equal(got, p.Spec.DefaultScopes) {
		t.Errorf("no scope named: requested %v", got)
	}
	if got := RequestedScopes(p, []string{"api.read.x"}); !slices.Equal(got, []string{"api.read.x"}) {
		t.Errorf("scopes named: requested %v", got)
	}
	if _, _, err := Check(p, nil); err != nil {
		t.Errorf("defaultScopes inside allowedScopes: %v", err)
	}
	p.Spec.DefaultScopes = []string{"api.read", "admin"}
	if _, _, err := Check(p, nil); err == nil || err.Error() != `spec.defaultScopes: "admin" matches no glob of spec.allowedScopes` {
		t.Errorf("defaultScopes outside allowedScopes: %v", err)
	}
	p.Spec.AllowedScopes = nil
	if _, _, err := Check(p, nil); err != nil {
		t.Errorf("defaultScopes without allowedScopes: %v", err)
	}
}

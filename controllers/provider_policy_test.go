package controllers

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

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
		t.Errorf("no allowedScopes allows any scope; refused %q", s)
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
			got := allows(provider(tt.spec), labels.Everything(), "team-a", nil, tt.scopes, tt.audience)
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
	if got := allows(provider(scoped), sel, "team-a", nil, nil, ""); !strings.Contains(got, `does not allow namespace "team-a"`) {
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
	if got := requestedScopes(p, nil); !slices.Equal(got, p.Spec.DefaultScopes) {
		t.Errorf("no scope named: requested %v", got)
	}
	if got := requestedScopes(p, []string{"api.read.x"}); !slices.Equal(got, []string{"api.read.x"}) {
		t.Errorf("scopes named: requested %v", got)
	}
	if _, _, err := checkProvider(p, nil); err != nil {
		t.Errorf("defaultScopes inside allowedScopes: %v", err)
	}
	p.Spec.DefaultScopes = []string{"api.read", "admin"}
	if _, _, err := checkProvider(p, nil); err == nil || err.Error() != `spec.defaultScopes: "admin" matches no glob of spec.allowedScopes` {
		t.Errorf("defaultScopes outside allowedScopes: %v", err)
	}
	p.Spec.AllowedScopes = nil
	if _, _, err := checkProvider(p, nil); err != nil {
		t.Errorf("defaultScopes without allowedScopes: %v", err)
	}
}

func TestSharedKey(t *testing.T) {
	a := sharedKey([]string{"b", "a", "a"}, "aud")
	if b := sharedKey([]string{"a", "b"}, "aud"); a != b {
		t.Error("the scopes are a set: order and repeats do not change the key")
	}
	for _, other := range []string{sharedKey([]string{"a"}, "aud"), sharedKey([]string{"a", "b"}, ""), sharedKey([]string{"a b"}, "aud"),
		sharedKey([]string{"a", "b"}, "aud2")} {
		if other == a {
			t.Error("different scopes or audience share a key")
		}
	}
	long := strings.Repeat("p", 253)
	if n := sharedSecretName(long, a); len(n) > 253 || !strings.HasSuffix(n, "-shared-"+a) {
		t.Errorf("sharedSecretName of a long provider name: %q", n)
	}
}

// The metadata cache keeps a shared token's controller and annotations in the
// cluster resource namespace only: a tenant's Secret that names a
// ClusterOAuthProvider as its controller is stripped like any other.
func TestStripKeepsSharedTokensInTheClusterResourceNamespaceOnly(t *testing.T) {
	secret := func(ns string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns,
			Labels:      map[string]string{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue},
			Annotations: map[string]string{tokenatorv1.AnnotationRequestHash: "h", "other": strings.Repeat("x", 1000)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "tokenator.dev/v1alpha1", Kind: "ClusterOAuthProvider",
				Name: "p", UID: "u", Controller: ptr.To(true)}}}}
	}
	strip := stripSecret("tokenator-system")
	kept, _ := strip(secret("tokenator-system"))
	if m := kept.(*metav1.PartialObjectMetadata); len(m.OwnerReferences) != 1 || m.Annotations[tokenatorv1.AnnotationRequestHash] != "h" || len(m.Annotations) != 1 {
		t.Errorf("shared token in the cluster resource namespace: %+v", m.ObjectMeta)
	}
	stripped, _ := strip(secret("tenant"))
	if m := stripped.(*metav1.PartialObjectMetadata); len(m.OwnerReferences) != 0 || len(m.Annotations) != 0 {
		t.Errorf("a tenant's Secret kept %+v", m.ObjectMeta)
	}
}

// One request of a shared token in flight: the others wait in line and are
// woken when it ends, unless it ended without a request.
func TestSharedTokensInFlight(t *testing.T) {
	var s sharedTokens
	if !s.begin("k", "a") {
		t.Fatal("the first client does not begin")
	}
	if s.begin("k", "b") || s.begin("k", "c") || s.begin("k", "b") {
		t.Fatal("a second request of the same shared token began")
	}
	if !s.begin("other", "d") {
		t.Fatal("another shared token waits for this one")
	}
	if w := s.waiting("k"); !slices.Equal(w, []string{"b", "c"}) {
		t.Errorf("in line %v, want [b c], each once", w)
	}
	if w := s.end("k", false); len(w) != 0 {
		t.Errorf("woken without a request: %v", w)
	}
	if !s.begin("k", "b") {
		t.Fatal("the next client does not begin once the first ended")
	}
	if w := s.end("k", true); len(w) != 1 || w[0] != "c" {
		t.Errorf("woken %v, want [c] (b requested)", w)
	}
	if w := s.end("k", true); len(w) != 0 {
		t.Errorf("woken twice: %v", w)
	}
}

// What is remembered of shared tokens goes with the scopes no client uses
// and with deleted providers; a key with a request in flight stays.
func TestSharedTokensForget(t *testing.T) {
	var s sharedTokens
	s.put("p1/a", &sharedToken{})
	s.put("p1/b", &sharedToken{})
	s.fail("p1/c", &sharedFailure{})
	s.begin("p1/d", "ns/x")
	s.put("p2/a", &sharedToken{})
	s.forgetUnused("p1", map[string]bool{"a": true})
	if got := s.len(); got != 3 {
		t.Fatalf("%d keys after forgetUnused, want p1/a, p1/d (in flight) and p2/a", got)
	}
	if held, _ := s.get("p1/a"); held == nil {
		t.Error("p1/a, in use, was forgotten")
	}
	s.forgetProvidersExcept(map[types.UID]bool{"p1": true})
	if got := s.len(); got != 2 {
		t.Fatalf("%d keys after forgetProvidersExcept, want p1/a and p1/d", got)
	}
	s.end("p1/d", false)
	s.forgetProvidersExcept(nil)
	if got := s.len(); got != 0 {
		t.Fatalf("%d keys left once no provider is live", got)
	}
}

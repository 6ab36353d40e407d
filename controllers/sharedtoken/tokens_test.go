package sharedtoken

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestSharedKey(t *testing.T) {
	a := Key([]string{"b", "a", "a"}, "aud")
	if b := Key([]string{"a", "b"}, "aud"); a != b {
		t.Error("the scopes are a set: order and repeats do not change the key")
	}
	for _, other := range []string{Key([]string{"a"}, "aud"), Key([]string{"a", "b"}, ""), Key([]string{"a b"}, "aud"),
		Key([]string{"a", "b"}, "aud2")} {
		if other == a {
			t.Error("different scopes or audience share a key")
		}
	}
	long := strings.Repeat("p", 253)
	if n := SecretName(long, a); len(n) > 253 || !strings.HasSuffix(n, "-shared-"+a) {
		t.Errorf("SecretName of a long provider name: %q", n)
	}
}

// One request of a shared token in flight: the others wait in line and are
// woken when it ends, unless it ended without a request.
func TestSharedTokensInFlight(t *testing.T) {
	var s Tokens
	if !s.Begin("k", "a") {
		t.Fatal("the first client does not begin")
	}
	if s.Begin("k", "b") || s.Begin("k", "c") || s.Begin("k", "b") {
		t.Fatal("a second request of the same shared token began")
	}
	if !s.Begin("other", "d") {
		t.Fatal("another shared token waits for this one")
	}
	if w := s.Waiting("k"); !slices.Equal(w, []string{"b", "c"}) {
		t.Errorf("in line %v, want [b c], each once", w)
	}
	if w := s.End("k", false); len(w) != 0 {
		t.Errorf("woken without a request: %v", w)
	}
	if !s.Begin("k", "b") {
		t.Fatal("the next client does not begin once the first ended")
	}
	if w := s.End("k", true); len(w) != 1 || w[0] != "c" {
		t.Errorf("woken %v, want [c] (b requested)", w)
	}
	if w := s.End("k", true); len(w) != 0 {
		t.Errorf("woken twice: %v", w)
	}
}

// What is remembered of shared tokens goes with the scopes no client uses
// and with deleted providers; a key with a request in flight stays.
func TestSharedTokensForget(t *testing.T) {
	var s Tokens
	s.Put("p1/a", &Token{})
	s.Put("p1/b", &Token{})
	s.Fail("p1/c", &Failure{})
	s.Begin("p1/d", "ns/x")
	s.Put("p2/a", &Token{})
	s.ForgetUnused("p1", map[string]bool{"a": true})
	if got := s.Len(); got != 3 {
		t.Fatalf("%d keys after forgetUnused, want p1/a, p1/d (in flight) and p2/a", got)
	}
	if held, _ := s.Get("p1/a"); held == nil {
		t.Error("p1/a, in use, was forgotten")
	}
	s.ForgetProvidersExcept(map[types.UID]bool{"p1": true})
	if got := s.Len(); got != 2 {
		t.Fatalf("%d keys after forgetProvidersExcept, want p1/a and p1/d", got)
	}
	s.End("p1/d", false)
	s.ForgetProvidersExcept(nil)
	if got := s.Len(); got != 0 {
		t.Fatalf("%d keys left once no provider is live", got)
	}
}

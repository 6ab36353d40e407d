package controllers

import (
	"strings"
	"testing"
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
	if s := refusedScope([]string{"api.*"}, nil); s != "" {
		t.Errorf("no scope requested; refused %q", s)
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

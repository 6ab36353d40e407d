package sharedtoken

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Key identifies the shared token of a set of scopes and an audience:
// the scopes as a set (order and repeats do not matter).
func Key(scopes []string, audience string) string {
	h := sha256.New()
	for _, s := range Scopes(scopes) {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	fmt.Fprintf(h, "|%d:%s", len(audience), audience)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// SecretName is the name of the Secret, in the cluster resource
// namespace, that holds provider's shared token of key.
func SecretName(provider, key string) string {
	name := provider
	// 253 characters in all: the provider's name is cut so that the key fits.
	if len(name) > 253-len("-shared-")-len(key) {
		name = strings.TrimRight(name[:253-len("-shared-")-len(key)], ".-")
	}
	return name + "-shared-" + key
}

// Scopes are scopes as a set: sorted, without repeats.
func Scopes(scopes []string) []string {
	set := slices.Clone(scopes)
	slices.Sort(set)
	return slices.Compact(set)
}

package render

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// The messages of a failed render, which the Ready condition carries:
// docs/troubleshooting.md explains each (test/docs reads this file).
const (
	msgTemplateFailed = "spec.secret.extraData[%s]: rendering failed with the issued token"
	msgKeyLeftOut     = "; the key is left out of the Secret until the template is fixed"
	// msgMoreTemplatesFailed ends a render error that names some of the failed keys.
	msgMoreTemplatesFailed = "; and %d more extraData keys"
)

// SecretData renders the keys of the derived Secret for tok. A template that
// fails is left out, and the error names its key (never a value): the other
// keys, and the token, are still written.
func SecretData(tok *oauth.Token, tpls Templates) (map[string][]byte, error) {
	// RFC 3339 without fractional seconds: the time to the second, as in the
	// status.
	expiresAt := tok.ExpiresAt.UTC().Format(time.RFC3339)
	data := map[string][]byte{
		tokenatorv1.SecretKeyAccessToken:   []byte(tok.AccessToken),
		tokenatorv1.SecretKeyTokenType:     []byte(tok.TokenType),
		tokenatorv1.SecretKeyExpiresAt:     []byte(expiresAt),
		tokenatorv1.SecretKeyAuthorization: []byte("Bearer " + tok.AccessToken),
	}
	td := templateData{AccessToken: tok.AccessToken, TokenType: tok.TokenType, ExpiresAt: expiresAt, Scope: tok.Scope}
	var failed []string
	for _, key := range slices.Sorted(maps.Keys(tpls)) {
		v, err := render(tpls[key], td)
		if err != nil {
			// The error of a template that rendered the probe could name the
			// values: report the key and the bound alone.
			if overBound(err) {
				failed = append(failed, fmt.Sprintf("spec.secret.extraData[%s]: %v", key, boundError(err)))
			} else {
				failed = append(failed, fmt.Sprintf(msgTemplateFailed, key))
			}
			continue
		}
		data[key] = v
	}
	if len(failed) > 0 {
		return data, renderError(failed)
	}
	return data, nil
}

// MaxError bounds the render error, which the derived Secret's
// render-error annotation holds and the metadata cache keeps: room for the
// longest key's failure and a few more.
const MaxError = 512

// renderError names the failures of failed, as many as fit in
// MaxError bytes with the count of the others.
func renderError(failed []string) error {
	budget := MaxError - len(msgKeyLeftOut) - len(fmt.Sprintf(msgMoreTemplatesFailed, len(failed)))
	msg, n := failed[0], 1
	for ; n < len(failed) && len(msg)+len("; ")+len(failed[n]) <= budget; n++ {
		msg += "; " + failed[n]
	}
	if n < len(failed) {
		msg += fmt.Sprintf(msgMoreTemplatesFailed, len(failed)-n)
	}
	return errors.New(msg + msgKeyLeftOut)
}

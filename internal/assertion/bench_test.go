package assertion_test

import (
	"crypto"
	"crypto/elliptic"
	"strings"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/assertion"
)

// BenchmarkTokenRequestMaterial measures what the controller does for every
// token request of privateKeyJWT and secretJWT: parse the PEM key (not for a
// secret), make the signer and sign one assertion.
func BenchmarkTokenRequestMaterial(b *testing.B) {
	keys := map[string]crypto.Signer{"RS256": rsa2048(b), "ES256": ecKey(b, elliptic.P256()), "EdDSA": edKey(b)}
	for name, key := range keys {
		pemKey := pkcs8(b, key)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				k, err := assertion.ParsePrivateKey(pemKey, keyField)
				if err != nil {
					b.Fatal(err)
				}
				s, err := assertion.NewSigner(assertion.Config{ClientID: clientID, Audience: audience, Key: k})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Sign(time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("HS256", func(b *testing.B) {
		secret := []byte(strings.Repeat("k", 40))
		for b.Loop() {
			s, err := assertion.NewSigner(assertion.Config{ClientID: clientID, Audience: audience, Secret: secret})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Sign(time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as the SHA-1 thumbprint (RFC 7515 section 4.1.7)
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults and bounds of an assertion.
const (
	// DefaultLifetime is the lifetime of an assertion when none is set.
	DefaultLifetime = 5 * time.Minute
	// jtiBytes of randomness make the jti of each assertion.
	jtiBytes = 16
)

// The certificate thumbprint headers (RFC 7515 sections 4.1.7 and 4.1.8).
const (
	ThumbprintSHA1   = "x5t"
	ThumbprintSHA256 = "x5t#S256"
)

// MaxLifetime is the longest assertion signed: the bound of the
// clientAssertion and jwtBearer lifetimes, and what Google accepts (exp - iat
// at most one hour).
const MaxLifetime = time.Hour

// Config describes the assertions of one client.
type Config struct {
	// ClientID is the iss and sub claims of a client assertion (RFC 7523
	// section 2.2); required unless Issuer is set.
	ClientID string
	// Issuer, when set, makes the assertion an authorization grant (RFC 7523
	// section 2.1, the jwt-bearer grant): iss is Issuer, sub is Subject
	// (omitted when empty), and Scope, when set, is the scope claim (Google's
	// service account assertions carry the scopes so).
	Issuer, Subject, Scope string
	// Audience is the aud claim; required (the caller defaults it to the
	// token URL).
	Audience string
	// Lifetime is exp - iat; 0 means DefaultLifetime, and at most MaxLifetime.
	Lifetime time.Duration
	// Algorithm is the JWS alg; "" means the default of the key: RS256
	// (RSA), ES256, ES384 or ES512 (by curve), EdDSA (Ed25519), HS256 (a
	// secret).
	Algorithm string
	// KeyID is the kid header; "" means the RFC 7638 thumbprint of the
	// public key, and no kid for a secret.
	KeyID string
	// Thumbprint is "", ThumbprintSHA1 or ThumbprintSHA256: the header
	// computed from Certificate.
	Thumbprint string

	// Exactly one of Key (private_key_jwt) and Secret (client_secret_jwt).
	Key    crypto.Signer
	Secret []byte
	// Certificate is the leaf matching Key, for Thumbprint.
	Certificate *x509.Certificate

	// KeyField, SecretField and CertificateField describe where the key,
	// the secret and the certificate came from, for the errors;
	// ConfigField the configuration block (algorithm, thumbprint).
	KeyField, SecretField, CertificateField, ConfigField string
}

// Signer makes the signed assertions of one Config.
type Signer struct {
	signer          jose.Signer
	issuer, subject string
	audience, scope string
	lifetime        time.Duration
}

// NewSigner checks cfg (the key against the algorithm, the certificate
// against the key) and returns its Signer.
func NewSigner(cfg Config) (*Signer, error) {
	s := &Signer{issuer: cfg.ClientID, subject: cfg.ClientID, audience: cfg.Audience, lifetime: cfg.Lifetime}
	if cfg.Issuer != "" {
		s.issuer, s.subject, s.scope = cfg.Issuer, cfg.Subject, cfg.Scope
	}
	if s.issuer == "" || s.audience == "" {
		return nil, errorf(cfg.ConfigField, "the client id and the audience of the assertion are required")
	}
	if s.lifetime <= 0 {
		s.lifetime = DefaultLifetime
	}
	if s.lifetime > MaxLifetime {
		return nil, errorf(cfg.ConfigField, "an assertion lifetime of %s is over the %s bound", s.lifetime, MaxLifetime)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	var sk jose.SigningKey
	var err error
	switch {
	case cfg.Key != nil:
		sk, err = keySigning(cfg, opts)
	case len(cfg.Secret) > 0:
		sk, err = secretSigning(cfg, opts)
	default:
		err = errorf(cfg.ConfigField, "a private key or a client secret is required")
	}
	if err != nil {
		return nil, err
	}
	if s.signer, err = jose.NewSigner(sk, opts); err != nil {
		return nil, errorf(cfg.ConfigField, "the signer cannot be made for %s", sk.Algorithm)
	}
	return s, nil
}

// keySigning is the signing key of cfg.Key, and its headers (kid, and the
// certificate thumbprint when asked) set in opts.
func keySigning(cfg Config, opts *jose.SignerOptions) (jose.SigningKey, error) {
	alg, err := keyAlgorithm(cfg.Key, cfg.Algorithm, cfg.KeyField, cfg.ConfigField)
	if err != nil {
		return jose.SigningKey{}, err
	}
	kid := cfg.KeyID
	if kid == "" {
		tp, err := (&jose.JSONWebKey{Key: cfg.Key.Public()}).Thumbprint(crypto.SHA256)
		if err != nil {
			return jose.SigningKey{}, errorf(cfg.KeyField, "the key thumbprint cannot be computed")
		}
		kid = base64.RawURLEncoding.EncodeToString(tp)
	}
	opts.WithHeader(jose.HeaderKey("kid"), kid)
	if cfg.Thumbprint != "" {
		if err := thumbprintHeader(cfg, opts); err != nil {
			return jose.SigningKey{}, err
		}
	}
	return jose.SigningKey{Algorithm: alg, Key: cfg.Key}, nil
}

// thumbprintHeader sets the certificate thumbprint header cfg asks for.
func thumbprintHeader(cfg Config, opts *jose.SignerOptions) error {
	if cfg.Certificate == nil {
		return errorf(cfg.CertificateField, "a certificate is required for the %s header", cfg.Thumbprint)
	}
	if err := CheckCertificateKey(cfg.Certificate, cfg.Key, cfg.CertificateField, cfg.KeyField); err != nil {
		return err
	}
	switch cfg.Thumbprint {
	case ThumbprintSHA1:
		sum := sha1.Sum(cfg.Certificate.Raw) //nolint:gosec // see the import
		opts.WithHeader(jose.HeaderKey(ThumbprintSHA1), base64.RawURLEncoding.EncodeToString(sum[:]))
	case ThumbprintSHA256:
		sum := sha256.Sum256(cfg.Certificate.Raw)
		opts.WithHeader(jose.HeaderKey(ThumbprintSHA256), base64.RawURLEncoding.EncodeToString(sum[:]))
	default:
		return errorf(cfg.ConfigField, "certificateThumbprint %q: use x5t or x5t#S256", cfg.Thumbprint)
	}
	return nil
}

// secretSigning is the HMAC signing key of cfg.Secret, and its kid header
// when one is set.
func secretSigning(cfg Config, opts *jose.SignerOptions) (jose.SigningKey, error) {
	if cfg.Thumbprint != "" {
		return jose.SigningKey{}, errorf(cfg.ConfigField, "certificateThumbprint applies only to a private key")
	}
	alg := jose.SignatureAlgorithm(cfg.Algorithm)
	var minBytes int
	switch alg {
	case "", jose.HS256:
		alg, minBytes = jose.HS256, 32
	case jose.HS384:
		minBytes = 48
	case jose.HS512:
		minBytes = 64
	default:
		return jose.SigningKey{}, errorf(cfg.ConfigField, "algorithm %s does not sign with a client secret; use HS256, HS384 or HS512", alg)
	}
	if len(cfg.Secret) < minBytes {
		// RFC 7518 section 3.2: the key must be at least as long as the hash.
		return jose.SigningKey{}, errorf(cfg.SecretField, "a client secret of %d bytes is too short for %s; at least %d are required", len(cfg.Secret), alg, minBytes)
	}
	if cfg.KeyID != "" {
		opts.WithHeader(jose.HeaderKey("kid"), cfg.KeyID)
	}
	return jose.SigningKey{Algorithm: alg, Key: cfg.Secret}, nil
}

// Sign returns a new assertion issued at now: iss, sub (the client id for a
// client assertion; the issuer and the subject, when set, for a grant), aud,
// iat, exp = iat + lifetime, a random jti, unique to this assertion, and the
// scope claim when one is set.
func (s *Signer) Sign(now time.Time) (string, error) {
	jti := make([]byte, jtiBytes)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("making the assertion's jti: %w", err)
	}
	iat := now.Truncate(time.Second)
	claims := jwt.Claims{
		Issuer:   s.issuer,
		Subject:  s.subject,
		Audience: jwt.Audience{s.audience},
		IssuedAt: jwt.NewNumericDate(iat),
		Expiry:   jwt.NewNumericDate(iat.Add(s.lifetime)),
		ID:       base64.RawURLEncoding.EncodeToString(jti),
	}
	builder := jwt.Signed(s.signer).Claims(claims)
	if s.scope != "" {
		builder = builder.Claims(map[string]any{"scope": s.scope})
	}
	signed, err := builder.Serialize()
	if err != nil {
		// go-jose's errors name the algorithm or the key size, never the key.
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	return signed, nil
}

// keyAlgorithm is the algorithm for key: the one asked when the key fits it,
// else the key type's default.
func keyAlgorithm(key crypto.Signer, asked, keyField, configField string) (jose.SignatureAlgorithm, error) {
	var def jose.SignatureAlgorithm
	var fits []jose.SignatureAlgorithm
	kind := ""
	switch k := key.(type) {
	case *rsa.PrivateKey:
		def, fits, kind = jose.RS256, []jose.SignatureAlgorithm{jose.RS256, jose.PS256}, "an RSA key"
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			def = jose.ES256
		case elliptic.P384():
			def = jose.ES384
		case elliptic.P521():
			def = jose.ES512
		}
		fits, kind = []jose.SignatureAlgorithm{def}, "an EC key on "+k.Curve.Params().Name
	case ed25519.PrivateKey:
		def, fits, kind = jose.EdDSA, []jose.SignatureAlgorithm{jose.EdDSA}, "an Ed25519 key"
	default:
		return "", errorf(keyField, "unsupported key type %T", key)
	}
	if asked == "" {
		return def, nil
	}
	for _, alg := range fits {
		if string(alg) == asked {
			return alg, nil
		}
	}
	return "", errorf(keyField, "%s does not fit algorithm %s of %s; use %s", kind, asked, configField, joinAlgs(fits))
}

func joinAlgs(algs []jose.SignatureAlgorithm) string {
	s := ""
	for i, a := range algs {
		switch {
		case i == 0:
		case i == len(algs)-1:
			s += " or "
		default:
			s += ", "
		}
		s += string(a)
	}
	return s
}

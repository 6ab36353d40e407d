// Package assertion makes the JWT client assertions of private_key_jwt and
// client_secret_jwt (RFC 7523 section 2.2, OpenID Connect Core section 9)
// and reads the PEM keys and certificates they, and TLS client
// authentication (RFC 8705), need.
//
// Every error names where the material came from (the caller's description
// of the field) and never holds any of it: no key, no secret, no assertion.
package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinRSABits is the shortest RSA key accepted.
const MinRSABits = 2048

// Error is a problem of the key material, the client secret or the
// configuration: no retry can fix it. Its message names the field.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func errorf(field, format string, args ...any) error {
	return &Error{msg: field + ": " + fmt.Sprintf(format, args...)}
}

// ParsePrivateKey parses the first private key of a PEM text: PKCS#8
// ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY");
// other blocks (certificates, EC parameters) are skipped. An encrypted key,
// an RSA key shorter than MinRSABits, an EC key on a curve other than P-256,
// P-384 or P-521, and any other key type are refused. field describes where
// the PEM came from, for the error.
func ParsePrivateKey(pemBytes []byte, field string) (crypto.Signer, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errorf(field, "no PEM private key found (want PKCS#8 \"PRIVATE KEY\", PKCS#1 \"RSA PRIVATE KEY\" or SEC 1 \"EC PRIVATE KEY\")")
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, errorf(field, "the private key is encrypted; store it unencrypted in the Secret (the Secret is what protects it)")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			// The parser's message says what is malformed, not what the key is.
			return nil, errorf(field, "the %s block cannot be parsed", block.Type)
		}
		return checkKey(key, field)
	}
}

func checkKey(key any, field string) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return nil, errorf(field, "RSA key of %d bits; at least %d are required", bits, MinRSABits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return k, nil
		}
		return nil, errorf(field, "EC key on curve %s; use P-256, P-384 or P-521", k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, errorf(field, "unsupported key type %T; use RSA, EC (P-256, P-384, P-521) or Ed25519", key)
}

// ParseCertificates parses the PEM certificates of a text, the leaf first
// (as in a kubernetes.io/tls Secret's tls.crt); other blocks are skipped.
func ParseCertificates(pemBytes []byte, field string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errorf(field, "certificate %d cannot be parsed", len(certs)+1)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errorf(field, "no PEM certificate found")
	}
	return certs, nil
}

// CheckCertificateKey returns an error naming certField unless cert holds
// the public key of key.
func CheckCertificateKey(cert *x509.Certificate, key crypto.Signer, certField, keyField string) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return errorf(certField, "the certificate does not match the private key of %s", keyField)
	}
	return nil
}

// KeyPair parses a PEM certificate chain (leaf first) and its PEM private key
// into a TLS client certificate, with the checks of ParsePrivateKey and
// ParseCertificates, and that the leaf matches the key.
func KeyPair(certPEM, keyPEM []byte, certField, keyField string) (tls.Certificate, error) {
	key, err := ParsePrivateKey(keyPEM, keyField)
	if err != nil {
		return tls.Certificate{}, err
	}
	certs, err := ParseCertificates(certPEM, certField)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := CheckCertificateKey(certs[0], key, certField, keyField); err != nil {
		return tls.Certificate{}, err
	}
	pair := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		pair.Certificate = append(pair.Certificate, c.Raw)
	}
	return pair, nil
}

// IsError reports whether err is a problem of the material or configuration
// (an *Error).
func IsError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// KeyType names the kind of a client key made by NewClientKey.
type KeyType string

// The client key types.
const (
	RSA2048 KeyType = "rsa2048"
	P256    KeyType = "p256"
	P384    KeyType = "p384"
	P521    KeyType = "p521"
	Ed25519 KeyType = "ed25519"
)

// NewClientKey makes a private key of the given type; it panics on an
// unknown type.
func NewClientKey(kt KeyType) crypto.Signer {
	var key crypto.Signer
	var err error
	switch kt {
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case P256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case P521:
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		panic("oauthtest: unknown key type " + string(kt))
	}
	if err != nil {
		panic("oauthtest: generating a key: " + err.Error())
	}
	return key
}

// PrivateKeyPEM is key in PKCS#8 PEM, as in a kubernetes.io/tls Secret.
func PrivateKeyPEM(key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic("oauthtest: encoding a key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// SelfSignedClientCertificate is a self-signed client certificate of key
// for clientID (its common name), PEM, valid from an hour ago until
// notAfter (a day from now when zero): self_signed_tls_client_auth, or
// the certificate of an Entra ID certificate credential.
func SelfSignedClientCertificate(clientID string, key crypto.Signer, notAfter time.Time) []byte {
	der := clientCertificate(clientID, key, key, nil, false, notAfter)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// IssuedClientCertificate is a client certificate of key for clientID
// issued by a new intermediate CA, itself issued by a new root CA:
// chainPEM is the leaf then the intermediate (what a client sends, as
// cert-manager writes tls.crt), rootPEM the root, which the server trusts
// (tls_client_auth).
func IssuedClientCertificate(clientID string, key crypto.Signer) (chainPEM, rootPEM []byte) {
	rootKey, interKey := NewClientKey(P256), NewClientKey(P256)
	rootDER := clientCertificate("oauthtest client root "+randomHex(4), rootKey, rootKey, nil, true, time.Time{})
	root, _ := x509.ParseCertificate(rootDER)
	interDER := clientCertificate("oauthtest client intermediate "+randomHex(4), interKey, rootKey, root, true, time.Time{})
	inter, _ := x509.ParseCertificate(interDER)
	leafDER := clientCertificate(clientID, key, interKey, inter, false, time.Time{})
	chainPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: interDER})...)
	return chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})
}

func clientCertificate(cn string, key, signer crypto.Signer, parent *x509.Certificate, ca bool, notAfter time.Time) []byte {
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(randomBytes(16)),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"tokenator oauthtest"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
		tmpl.ExtKeyUsage = nil
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		panic(fmt.Sprintf("oauthtest: creating a client certificate: %v", err))
	}
	return der
}

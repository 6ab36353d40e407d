package controllers

import (
	"crypto/tls"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/assertion"
	"github.com/tokenator-dev/tokenator/internal/presets"
)

// readCredentialKeys takes from the credentials Secret s what method needs:
// the client ID (unless spec.clientID is set; optional for none), the client
// secret (post, basic, secretJWT; none for serviceAccountToken), the private
// key (privateKeyJWT, tls) and the certificate (tls, and privateKeyJWT with a
// certificate thumbprint), and the key of a jwtBearer grant. A
// missing key is CredentialsNotFound naming every missing key; a client ID
// or secret outside VSCHAR is CredentialsNotFound naming the key. The key
// and certificate are checked when used (clientAuthMaterial).
func readCredentialKeys(s *corev1.Secret, src *requestSource, method tokenatorv1.ClientAuthentication) (credentials, error) {
	ref := src.credentials
	c := credentials{clientID: src.endpoint.ClientID, secretName: s.Name}
	var missing []string
	type checked struct {
		key   string
		value []byte
	}
	var vschar []checked
	if c.clientID == "" {
		idKey := defaultString(ref.ClientIDKey, tokenatorv1.DefaultClientIDKey)
		id := credentialValue(s.Data, idKey)
		// none needs no client id: it is sent when the Secret has one.
		if len(id) == 0 && method != tokenatorv1.ClientAuthenticationNone {
			missing = append(missing, idKey)
		}
		vschar = append(vschar, checked{idKey, id})
		c.clientID = string(id)
	}
	missing = append(missing, readGrantKey(s, src, &c)...)
	switch method {
	case tokenatorv1.ClientAuthenticationPost, tokenatorv1.ClientAuthenticationBasic, tokenatorv1.ClientAuthenticationSecretJWT, "":
		secretKey := defaultString(ref.ClientSecretKey, tokenatorv1.DefaultClientSecretKey)
		secret := credentialValue(s.Data, secretKey)
		if len(secret) == 0 {
			missing = append(missing, secretKey)
		}
		vschar = append(vschar, checked{secretKey, secret})
		c.clientSecret = string(secret)
	case tokenatorv1.ClientAuthenticationServiceAccountToken, tokenatorv1.ClientAuthenticationNone:
		// The client ID only: the assertion is a ServiceAccount token, or
		// the grant is the credential.
	case tokenatorv1.ClientAuthenticationPrivateKeyJWT, tokenatorv1.ClientAuthenticationTLS:
		keyKey := defaultString(ref.PrivateKeyKey, tokenatorv1.DefaultPrivateKeyKey)
		if c.privateKey = s.Data[keyKey]; len(c.privateKey) == 0 {
			missing = append(missing, keyKey)
		}
		if method == tokenatorv1.ClientAuthenticationTLS || certificateThumbprint(src.endpoint) != "" {
			certKey := defaultString(ref.CertificateKey, tokenatorv1.DefaultCertificateKey)
			if c.certificate = s.Data[certKey]; len(c.certificate) == 0 {
				missing = append(missing, certKey)
			}
		}
	}
	if len(missing) > 0 {
		return credentials{}, &referenceError{reason: tokenatorv1.ReasonCredentialsNotFound,
			message: fmt.Sprintf(msgCredsNoKey, s.Name, missing)}
	}
	for _, kv := range vschar {
		if what := nonVSCHAR(kv.value); what != "" {
			return credentials{}, &referenceError{reason: tokenatorv1.ReasonCredentialsNotFound,
				message: fmt.Sprintf(msgCredsNotVSCHAR, s.Name, kv.key, what)}
		}
	}
	return c, nil
}

func certificateThumbprint(ep *tokenatorv1.OAuthEndpoint) tokenatorv1.CertificateThumbprint {
	if a := ep.ClientAssertion; a != nil {
		return a.CertificateThumbprint
	}
	return ""
}

// clientAuthMaterial is what a token request presents besides the client
// ID: a signed assertion (secretJWT, privateKeyJWT), or a TLS client
// certificate (tls). It lives for one request.
type clientAuthMaterial struct {
	assertion   string
	certificate *tls.Certificate
}

// clientAuthMaterial makes the material of one token request from the
// credentials just read: a new assertion, issued at now, for every request.
// A key, certificate or secret that cannot be used is InvalidSpec naming the
// field; nothing is sent then.
func (r *OAuthClientReconciler) clientAuthMaterial(src *requestSource, ep presets.Endpoint, c credentials, now time.Time) (clientAuthMaterial, error) {
	ref := src.credentials
	field := func(name, key, def string) string {
		return fmt.Sprintf(msgCredentialField, name, defaultString(key, def), c.secretName)
	}
	var keyField, certField, secretField string
	if ref != nil {
		keyField = field("privateKeyKey", ref.PrivateKeyKey, tokenatorv1.DefaultPrivateKeyKey)
		certField = field("certificateKey", ref.CertificateKey, tokenatorv1.DefaultCertificateKey)
		secretField = field("clientSecretKey", ref.ClientSecretKey, tokenatorv1.DefaultClientSecretKey)
	}
	switch ep.Method {
	case tokenatorv1.ClientAuthenticationServiceAccountToken:
		return clientAuthMaterial{assertion: c.clientAssertion}, nil
	case tokenatorv1.ClientAuthenticationTLS:
		pair, err := assertion.KeyPair(c.certificate, c.privateKey, certField, keyField)
		if err != nil {
			return clientAuthMaterial{}, materialError(err)
		}
		return clientAuthMaterial{certificate: &pair}, nil
	case tokenatorv1.ClientAuthenticationSecretJWT, tokenatorv1.ClientAuthenticationPrivateKeyJWT:
		cfg := assertion.Config{ClientID: c.clientID, Audience: ep.TokenURL, KeyField: keyField, SecretField: secretField,
			CertificateField: certField, ConfigField: src.endpointField("spec.clientAssertion")}
		if a := src.endpoint.ClientAssertion; a != nil {
			cfg.Audience = defaultString(a.Audience, ep.TokenURL)
			if a.Lifetime != nil {
				cfg.Lifetime = a.Lifetime.Duration
			}
			cfg.Algorithm, cfg.KeyID, cfg.Thumbprint = string(a.Algorithm), a.KeyID, string(a.CertificateThumbprint)
		}
		if ep.Method == tokenatorv1.ClientAuthenticationSecretJWT {
			cfg.Secret = []byte(c.clientSecret)
		} else {
			key, err := assertion.ParsePrivateKey(c.privateKey, keyField)
			if err != nil {
				return clientAuthMaterial{}, materialError(err)
			}
			cfg.Key = key
			if cfg.Thumbprint != "" {
				certs, err := assertion.ParseCertificates(c.certificate, certField)
				if err != nil {
					return clientAuthMaterial{}, materialError(err)
				}
				cfg.Certificate = certs[0]
			}
		}
		signer, err := assertion.NewSigner(cfg)
		if err != nil {
			return clientAuthMaterial{}, materialError(err)
		}
		signed, err := signer.Sign(now)
		if err != nil {
			return clientAuthMaterial{}, err
		}
		return clientAuthMaterial{assertion: signed}, nil
	}
	return clientAuthMaterial{}, nil
}

// materialError makes a problem of the key material InvalidSpec.
func materialError(err error) error {
	if assertion.IsError(err) {
		return invalidSpec(err)
	}
	return err
}

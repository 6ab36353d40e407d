package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/assertion"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/presets"
)

// The grants beyond client credentials: jwtBearer, whose assertion tokenator
// signs with the key of the credentials Secret (a PEM key, or a Google
// service account JSON key file), and tokenExchange, whose subject token is
// a ServiceAccount token obtained as for the serviceAccountToken method.

// defaultJWTBearerLifetime is the lifetime of a jwtBearer assertion when
// jwtBearer.lifetime is unset: the hour Google's client libraries ask for.
const defaultJWTBearerLifetime = time.Hour

// usesTokenRequest reports whether a token request of g needs a
// ServiceAccount token from the TokenRequest API first.
func usesTokenRequest(g *gathered) bool {
	return g.endpoint.Method == tokenatorv1.ClientAuthenticationServiceAccountToken || g.endpoint.Grant == tokenatorv1.GrantTokenExchange
}

// requestCredentials reads what a token request of g presents: the client
// credentials of its method, the key of a jwtBearer grant, and the subject
// token of a tokenExchange grant.
func (r *OAuthClientReconciler) requestCredentials(ctx context.Context, g *gathered) (credentials, error) {
	var c credentials
	var err error
	switch {
	case g.endpoint.Method == tokenatorv1.ClientAuthenticationServiceAccountToken:
		// A TokenRequest, or the ServiceAccount token kept from one.
		c, err = r.serviceAccountCredentials(ctx, g.source)
	case g.endpoint.Method == tokenatorv1.ClientAuthenticationNone && g.source.credentials == nil:
		// tokenExchange of a public client: the inline client id, if any.
		c = credentials{clientID: g.source.endpoint.ClientID}
	default:
		c, err = r.readCredentials(ctx, g.source, g.endpoint.Method)
	}
	if err == nil && c.grantKeyFile {
		err = r.readKeyFile(g, &c)
	}
	if err != nil || g.endpoint.Grant != tokenatorv1.GrantTokenExchange {
		return c, err
	}
	c.subjectToken, err = r.serviceAccountToken(ctx, g.source, subjectTokenUse(g.source.endpoint.TokenExchange))
	return c, err
}

// readGrantKey takes the jwtBearer key from the credentials Secret s into c,
// and returns the key's name when it is missing.
func readGrantKey(s *corev1.Secret, src *requestSource, c *credentials) (missing []string) {
	if presets.Grant(src.endpoint) != tokenatorv1.GrantJWTBearer {
		return nil
	}
	field, key, keyFile := presets.GrantKey(src.credentials, src.endpoint)
	c.grantKey, c.grantKeyFile = s.Data[key], keyFile
	c.grantKeyField = fmt.Sprintf(msgCredentialField, field, key, s.Name)
	if len(c.grantKey) == 0 {
		return []string{key}
	}
	return nil
}

// readKeyFile parses the service account key file read into c, before a
// request slot is taken, and makes its token_uri the token URL of g when
// spec.tokenURL is unset: the URL is held to what a spec's tokenURL is (an
// absolute https URL whose host --allowed-token-hosts allows; its address
// is checked by the same network guard when dialed), and the request slots
// are those of its host. A token_uri that cannot be used is InvalidSpec
// naming the key file, and nothing is sent.
func (r *OAuthClientReconciler) readKeyFile(g *gathered, c *credentials) error {
	sa, err := assertion.ParseServiceAccountKey(c.grantKey, c.grantKeyField)
	if err != nil {
		return materialError(err)
	}
	c.serviceKey = sa
	if sa.TokenURI == "" || g.source.endpoint.TokenURL != "" || sa.TokenURI == g.endpoint.TokenURL {
		return nil
	}
	u, err := url.Parse(sa.TokenURI)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
		return invalidSpec(fmt.Errorf(msgKeyFileTokenURI, c.grantKeyField, g.source.endpointField("spec.tokenURL"),
			errors.New("not an absolute https URL without user information")))
	}
	if r.TokenHosts != nil {
		if err := r.TokenHosts.CheckHost(u.Hostname()); err != nil {
			return invalidSpec(fmt.Errorf(msgKeyFileTokenURI, c.grantKeyField, g.source.endpointField("spec.tokenURL"), err))
		}
	}
	g.endpoint.TokenURL, g.endpoint.Host, g.endpoint.Hostname = sa.TokenURI, u.Host, u.Hostname()
	return nil
}

// jwtBearerSigner makes the Signer of src's jwtBearer assertions from the
// key read into c, for scopes (the scope claim, with scopeIn assertion). A
// key that cannot be used, or a missing issuer, is InvalidSpec naming the
// field.
func jwtBearerSigner(src *requestSource, ep presets.Endpoint, c credentials, scopes []string) (*assertion.Signer, error) {
	b := src.endpoint.JWTBearer
	if b == nil {
		b = &tokenatorv1.JWTBearer{}
	}
	cfg := assertion.Config{Issuer: b.Issuer, Subject: b.Subject, Audience: defaultString(b.Audience, ep.TokenURL),
		KeyID: b.KeyID, Lifetime: defaultJWTBearerLifetime, KeyField: c.grantKeyField, ConfigField: src.endpointField("spec.jwtBearer")}
	if b.Lifetime != nil {
		cfg.Lifetime = b.Lifetime.Duration
	}
	if ep.ScopeIn == tokenatorv1.ScopeInAssertion {
		cfg.Scope = strings.Join(scopes, " ")
	}
	if sa := c.serviceKey; sa != nil {
		cfg.Key, cfg.Issuer = sa.Key, defaultString(cfg.Issuer, sa.ClientEmail)
		cfg.KeyID = defaultString(cfg.KeyID, sa.PrivateKeyID)
	} else {
		key, err := assertion.ParsePrivateKey(c.grantKey, c.grantKeyField)
		if err != nil {
			return nil, materialError(err)
		}
		cfg.Key = key
	}
	if cfg.Issuer == "" {
		return nil, invalidSpec(fmt.Errorf(msgJWTBearerNoIssuer, src.endpointField("spec.jwtBearer.issuer")))
	}
	signer, err := assertion.NewSigner(cfg)
	if err != nil {
		return nil, materialError(err)
	}
	return signer, nil
}

// tokenRequest is the token request of g for scopes, from the inputs read
// and the client authentication material made for it: the grant's
// parameters (a new jwtBearer assertion, issued at now; the subject token)
// with the client authentication's. Nothing is sent when the assertion
// cannot be made (InvalidSpec).
func tokenRequest(g *gathered, in requestInputs, auth clientAuthMaterial, scopes []string, now time.Time) (oauth.Request, error) {
	ep := g.source.endpoint
	req := oauth.Request{
		TokenURL:        g.endpoint.TokenURL,
		Encoding:        g.endpoint.Encoding,
		ClientAuth:      g.endpoint.ClientAuth,
		ClientID:        in.creds.clientID,
		ClientSecret:    in.creds.clientSecret,
		ClientAssertion: auth.assertion,
		Grant:           g.endpoint.GrantType(),
		Scopes:          scopes,
		Audience:        g.audience,
		ExtraParameters: ep.ExtraParameters,
		ExtraHeaders:    ep.ExtraHeaders,
		DefaultLifetime: specDefaultLifetime(ep),
	}
	switch g.endpoint.Grant {
	case tokenatorv1.GrantJWTBearer:
		signer, err := jwtBearerSigner(g.source, g.endpoint, in.creds, scopes)
		if err != nil {
			return oauth.Request{}, err
		}
		if req.Assertion, err = signer.Sign(now); err != nil {
			return oauth.Request{}, err
		}
		if g.endpoint.ScopeIn == tokenatorv1.ScopeInAssertion {
			req.Scopes = nil
		}
	case tokenatorv1.GrantTokenExchange:
		req.SubjectToken, req.SubjectTokenType = in.creds.subjectToken, oauth.TokenTypeJWT
		req.RequestedTokenType = oauth.TokenTypeAccessToken
		if te := ep.TokenExchange; te != nil {
			req.RequestedTokenType = defaultString(te.RequestedTokenType, oauth.TokenTypeAccessToken)
			req.Resource = te.Resource
		}
	}
	return req, nil
}

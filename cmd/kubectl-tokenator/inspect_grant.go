package main

import (
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"io"

	jose "github.com/go-jose/go-jose/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/assertion"
	"github.com/tokenator-dev/tokenator/internal/presets"
)

// grantInfo is what inspect tells of how an OAuthClient asks for its token:
// the grant and the client authentication, and for jwtBearer the issuer and
// the key id of the assertion (read from the credentials Secret; the key is
// never printed), for tokenExchange the ServiceAccount of the subject token.
type grantInfo struct {
	Grant                string `json:"grant"`
	ClientAuthentication string `json:"clientAuthentication"`
	Issuer               string `json:"issuer,omitempty"`
	KeyID                string `json:"keyID,omitempty"`
	// Key says where the jwtBearer key is, or why it could not be read.
	Key                  string `json:"key,omitempty"`
	ServiceAccount       string `json:"serviceAccount,omitempty"`
	SubjectTokenAudience string `json:"subjectTokenAudience,omitempty"`
	// Provider names the ClusterOAuthProvider whose endpoint is used.
	Provider string `json:"provider,omitempty"`
}

// readGrant is the grantInfo of oc. With providerRef the endpoint, and so
// the grant, is the provider's: only its name is given.
func (i *inspectOptions) readGrant(ctx context.Context, oc *tokenatorv1.OAuthClient) *grantInfo {
	if ref := oc.Spec.ProviderRef; ref != nil {
		return &grantInfo{Provider: ref.Name}
	}
	ep, err := presets.Resolve(&oc.Spec.OAuthEndpoint)
	if err != nil {
		return nil
	}
	g := &grantInfo{Grant: string(ep.Grant), ClientAuthentication: string(ep.Method)}
	switch ep.Grant {
	case tokenatorv1.GrantTokenExchange:
		if te := oc.Spec.TokenExchange; te != nil {
			g.ServiceAccount, g.SubjectTokenAudience = te.ServiceAccountName, te.SubjectTokenAudience
		}
	case tokenatorv1.GrantJWTBearer:
		if b := oc.Spec.JWTBearer; b != nil {
			g.Issuer, g.KeyID = b.Issuer, b.KeyID
		}
		i.readGrantKey(ctx, oc, g)
	}
	return g
}

// readGrantKey fills the issuer and key id the assertion takes from the key
// of the credentials Secret: a key file's client_email and private_key_id,
// or a PEM key's RFC 7638 thumbprint.
func (i *inspectOptions) readGrantKey(ctx context.Context, oc *tokenatorv1.OAuthClient, g *grantInfo) {
	ref := oc.Spec.CredentialsSecretRef
	if ref == nil {
		return
	}
	_, key, keyFile := presets.GrantKey(ref, &oc.Spec.OAuthEndpoint)
	g.Key = fmt.Sprintf("Secret %s, key %s", ref.Name, key)
	cs, err := i.clientset()
	if err != nil {
		return
	}
	s, err := cs.CoreV1().Secrets(oc.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		g.Key += " (not readable: " + err.Error() + ")"
		return
	}
	var signer crypto.Signer
	if keyFile {
		sa, err := assertion.ParseServiceAccountKey(s.Data[key], key)
		if err != nil {
			g.Key += " (" + err.Error() + ")"
			return
		}
		g.Issuer, g.KeyID, signer = defaultTo(g.Issuer, sa.ClientEmail), defaultTo(g.KeyID, sa.PrivateKeyID), sa.Key
	} else if signer, err = assertion.ParsePrivateKey(s.Data[key], key); err != nil {
		g.Key += " (" + err.Error() + ")"
		return
	}
	if g.KeyID == "" {
		if tp, err := (&jose.JSONWebKey{Key: signer.Public()}).Thumbprint(crypto.SHA256); err == nil {
			g.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		}
	}
}

func defaultTo(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// printGrant prints g's lines.
func printGrant(w io.Writer, g *grantInfo) {
	if g == nil {
		return
	}
	if g.Provider != "" {
		fmt.Fprintf(w, "Grant:\tthe endpoint of ClusterOAuthProvider %s\n", printable(g.Provider))
		return
	}
	fmt.Fprintf(w, "Grant:\t%s\n", g.Grant)
	fmt.Fprintf(w, "Client authentication:\t%s\n", g.ClientAuthentication)
	for _, f := range []struct{ name, value string }{
		{"Assertion issuer", g.Issuer}, {"Assertion key ID", g.KeyID}, {"Assertion key", g.Key},
		{"Subject token", g.ServiceAccount}, {"Subject token audience", g.SubjectTokenAudience},
	} {
		if f.value != "" {
			fmt.Fprintf(w, "%s:\t%s\n", f.name, printable(f.value))
		}
	}
}

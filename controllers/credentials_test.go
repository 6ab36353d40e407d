package controllers_test

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/operator"
)

// Credentials as `kubectl create secret --from-file` leaves them (a trailing
// LF, or CRLF from a file written on Windows) are sent without the line end;
// a value that still holds a character outside RFC 6749's VSCHAR is
// CredentialsNotFound naming the key and the Secret, never the value, and no
// request is sent with it.
func TestCredentialsHygiene(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})

	// What the operator must refuse: the name of the key at fault, and the
	// pieces of the value, none of which may appear anywhere.
	inner := randomString("inner-")
	control := randomString("control-")
	latin := randomString("latin-")
	secretsMu.Lock()
	secretsSeen = append(secretsSeen, inner, control, latin)
	secretsMu.Unlock()
	refused := []struct {
		name, id, secret string
		key, what        string
		pieces           []string
	}{
		{"inner-newline", e.clientID, e.clientSecret[:8] + "\n" + inner, "client_secret", "a line break (CR or LF) before its end", []string{inner}},
		{"inner-cr", e.clientID + "\r" + inner, e.clientSecret, "client_id", "a line break (CR or LF) before its end", []string{inner}},
		{"control-char", e.clientID, control + "\x01", "client_secret", "a control character", []string{control}},
		{"tab", e.clientID, control + "\t", "client_secret", "a control character", []string{control}},
		{"non-ascii", latin + "é", e.clientSecret, "client_id", "a non-ASCII character", []string{latin}},
	}
	for _, tc := range refused {
		e.create(e.credentials(tc.name, tc.id, tc.secret))
		oc := e.oauthClient(tc.name)
		oc.Spec.CredentialsSecretRef.Name = tc.name
		e.create(oc)
	}
	for _, tc := range refused {
		got := e.waitMessage(tc.name, tokenatorv1.ReasonCredentialsNotFound, fmt.Sprintf(
			"spec.credentialsSecretRef: Secret %q key %q holds %s, outside RFC 6749 VSCHAR (printable ASCII)", tc.name, tc.key, tc.what))
		for _, p := range append(tc.pieces, e.clientSecret) {
			e.g.Expect(got).NotTo(ContainSubstring(p), tc.name)
		}
	}
	e.g.Expect(e.idp.Requests()).To(BeZero(), "no token request with refused credentials")

	// Trailing line ends go, and only those: the endpoint accepts exactly the
	// client's ID and secret.
	accepted := map[string]*corev1.Secret{
		"lf":          e.credentials("lf", e.clientID+"\n", e.clientSecret+"\n"),
		"crlf":        e.credentials("crlf", e.clientID+"\r\n", e.clientSecret+"\r\n"),
		"several-eol": e.credentials("several-eol", e.clientID, e.clientSecret+"\n\r\n\n"),
	}
	for name, s := range accepted {
		e.create(s)
		oc := e.oauthClient(name)
		oc.Spec.CredentialsSecretRef.Name = name
		e.create(oc)
	}
	for name := range accepted {
		e.waitReady(name)
		e.g.Expect(e.issuedToken(e.token(name+"-token"))).To(BeTrue(), name)
	}

	// A value that is only line ends is empty.
	e.create(e.credentials("only-eol", e.clientID, "\r\n"))
	oc := e.oauthClient("only-eol")
	oc.Spec.CredentialsSecretRef.Name = "only-eol"
	e.create(oc)
	e.waitMessage("only-eol", tokenatorv1.ReasonCredentialsNotFound, `Secret "only-eol" has no non-empty key ["client_secret"]`)
}

// With --credentials-selector, a credentials Secret without the labels is
// CredentialsNotFound and no request is sent; once labelled, it is used within
// seconds.
func TestCredentialsSelector(t *testing.T) {
	t.Parallel()
	sel := labels.SelectorFromSet(labels.Set{"tokenator.dev/credentials": "true"})
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.Lucca}, func(cfg *operator.Config) {
		cfg.Reconciler.CredentialsSelector = sel
	})
	e.create(e.oauthClient("api"))
	got := e.waitReason("api", tokenatorv1.ReasonCredentialsNotFound)
	e.g.Expect(metaReady(got).Message).To(ContainSubstring(
		`spec.credentialsSecretRef: Secret "creds" does not carry the labels the operator requires (--credentials-selector=tokenator.dev/credentials=true)`))
	e.g.Expect(e.idp.Requests()).To(BeZero(), "no token request with an unlabelled Secret")

	// Other labels, or the label with another value, do not do.
	creds := e.secret("creds")
	creds.Labels = map[string]string{"tokenator.dev/credentials": "false", "team": "shop"}
	e.g.Expect(k8s.Update(e.ctx, creds)).To(Succeed())
	e.g.Consistently(e.idp.Requests).WithTimeout(3 * testMinInterval).Should(BeZero())
	e.g.Expect(metaReady(e.get("api")).Reason).To(Equal(tokenatorv1.ReasonCredentialsNotFound))

	creds = e.secret("creds")
	creds.Labels["tokenator.dev/credentials"] = "true"
	e.g.Expect(k8s.Update(e.ctx, creds)).To(Succeed())

	// The CA Secret is held to the selector too: another Secret of the
	// namespace cannot be read through spec.tls.caSecretRef, and the message
	// tells nothing of its data.
	got = e.waitReason("api", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(metaReady(got).Message).To(HavePrefix(
		`spec.tls.caSecretRef: Secret "idp-ca" does not carry the labels the operator requires (--credentials-selector=tokenator.dev/credentials=true)`))
	e.g.Expect(e.idp.Requests()).To(BeZero(), "no token request with an unlabelled CA Secret")

	ca := e.secret("idp-ca")
	ca.Labels = map[string]string{"tokenator.dev/credentials": "true"}
	e.g.Expect(k8s.Update(e.ctx, ca)).To(Succeed())
	e.waitReady("api")
	e.g.Expect(e.issuedToken(e.token("api-token"))).To(BeTrue())
}

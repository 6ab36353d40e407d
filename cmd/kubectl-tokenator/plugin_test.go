package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// lines returns the lines of out that start with prefix, split in fields.
func rows(out, prefix string) [][]string {
	var r [][]string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			r = append(r, strings.Fields(l))
		}
	}
	return r
}

// A table with a line per OAuthClient: Ready, reason, expiry, next refresh,
// failures and the Secret; -o wide adds the message.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: time.Hour})
	e.oauthClient("alpha", "", nil)
	e.oauthClient("broken", "", func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.CredentialsSecretRef.Name = "missing"
		oc.Spec.Secret.Name = "broken-secret"
	})
	e.waitReason("alpha", tokenatorv1.ReasonTokenIssued)
	e.waitReason("broken", tokenatorv1.ReasonCredentialsNotFound)

	r := kt(t, "status", "-n", e.ns)
	e.g.Expect(r.err).NotTo(HaveOccurred())
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	e.g.Expect(lines).To(HaveLen(3))
	e.g.Expect(strings.Join(strings.Fields(lines[0]), " ")).To(Equal("NAME READY REASON EXPIRES IN NEXT REFRESH FAILED ATTEMPTS SECRET"))
	alpha := rows(r.out, "alpha ")
	e.g.Expect(alpha).To(HaveLen(1))
	// The token lives an hour: it expires in 59m or 60m, and is refreshed
	// after about 40m.
	e.g.Expect(alpha[0][:3]).To(Equal([]string{"alpha", "True", "TokenIssued"}))
	e.g.Expect(alpha[0][3]).To(MatchRegexp(`^(59|60)m$`))
	e.g.Expect(alpha[0][4:]).To(HaveLen(4))
	e.g.Expect(alpha[0][4]).To(Equal("in"))
	e.g.Expect(alpha[0][5]).To(MatchRegexp(`^[0-9]+m$`))
	e.g.Expect(alpha[0][6:]).To(Equal([]string{"0", "alpha-token"}))
	e.g.Expect(rows(r.out, "broken ")).To(Equal([][]string{{"broken", "False", "CredentialsNotFound", "<none>", "<none>", "0", "broken-secret"}}))

	r = kt(t, "status", "-n", e.ns, "-o", "wide")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(ContainSubstring("LAST REFRESH"))
	e.g.Expect(r.out).To(ContainSubstring("MESSAGE"))
	e.g.Expect(r.out).To(MatchRegexp(`alpha .*token valid until 20`))
	e.g.Expect(r.out).To(ContainSubstring(`spec.credentialsSecretRef: Secret "missing" not found in namespace "` + e.ns + `"`))

	// --context is honoured: the kubeconfig's current context reaches nothing.
	r = ktNoContext(t, "status", "-n", e.ns)
	e.g.Expect(r.err).To(HaveOccurred())
	e.g.Expect(r.errOut).To(ContainSubstring("127.0.0.1:1"))

	r = kt(t, "status", "-n", e.ns, "-o", "table")
	e.g.Expect(r.err).To(MatchError(ContainSubstring(`unknown output format "table"`)))
	r = kt(t, "status", "-n", e.ns, "nothere")
	e.g.Expect(r.err).To(MatchError(ContainSubstring(`"nothere" not found`)))
	e.g.Expect(r.errOut).To(Equal("error: " + r.err.Error() + "\n"))
	r = kt(t, "statuz")
	e.g.Expect(r.errOut).To(HavePrefix(`error: unknown command "statuz" for "kubectl tokenator"`))
}

// status NAME adds the message, the latest Events and the next step of the
// troubleshooting page.
func TestStatusOneClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.oauthClient("alpha", "", nil)
	e.oauthClient("broken", "", func(oc *tokenatorv1.OAuthClient) { oc.Spec.CredentialsSecretRef.Name = "missing" })
	e.waitReason("alpha", tokenatorv1.ReasonTokenIssued)
	e.waitReason("broken", tokenatorv1.ReasonCredentialsNotFound)

	// A first token comes with no Event; a renew writes one.
	r := kt(t, "status", "-n", e.ns, "alpha")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(ContainSubstring("\nEvents: <none>\n"))
	r = kt(t, "renew", "-n", e.ns, "alpha")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Eventually(func(g Gomega) {
		r = kt(t, "status", "-n", e.ns, "alpha")
		g.Expect(r.err).NotTo(HaveOccurred())
		g.Expect(r.out).To(MatchRegexp(`Normal +TokenIssued +Token written to Secret alpha-token, valid until 20`))
	}).WithTimeout(timeout).WithPolling(time.Second).Should(Succeed())
	e.g.Expect(r.out).To(MatchRegexp(`Message: +token valid until 20`))
	e.g.Expect(r.out).To(MatchRegexp(`Next refresh at: +20`))
	e.g.Expect(r.out).To(ContainSubstring("What next (TokenIssued):\n  The operator: refreshes at refreshAt.\n  You: nothing.\n"))
	e.g.Expect(r.out).NotTo(ContainSubstring("broken"))

	e.g.Eventually(func(g Gomega) {
		r = kt(t, "status", "-n", e.ns, "broken")
		g.Expect(r.err).NotTo(HaveOccurred())
		g.Expect(r.out).To(MatchRegexp(`Warning +CredentialsNotFound +spec.credentialsSecretRef: Secret "missing" not found`))
	}).WithTimeout(timeout).WithPolling(time.Second).Should(Succeed())
	e.g.Expect(r.out).To(ContainSubstring("What next (CredentialsNotFound):\n  The operator: waits for the Secret or key to appear (watched).\n" +
		"  You: create or fix the credentials Secret.\n  See " + troubleshootingURL + "#credentialsnotfound\n"))
}

// -A and -l select as kubectl does; -o json and -o yaml print the objects.
func TestStatusAllNamespacesSelectorAndJSON(t *testing.T) {
	t.Parallel()
	team := randomString("team-")
	a := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	b := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	labelled := func(oc *tokenatorv1.OAuthClient) { oc.Labels = map[string]string{"team": team} }
	a.oauthClient("one", "", labelled)
	a.oauthClient("other", "", nil)
	b.oauthClient("two", "", labelled)
	a.waitReason("one", tokenatorv1.ReasonTokenIssued)
	b.waitReason("two", tokenatorv1.ReasonTokenIssued)

	r := kt(t, "status", "-A", "-l", "team="+team)
	a.g.Expect(r.err).NotTo(HaveOccurred())
	a.g.Expect(strings.Fields(strings.SplitN(r.out, "\n", 2)[0])[:2]).To(Equal([]string{"NAMESPACE", "NAME"}))
	a.g.Expect(rows(r.out, a.ns)).To(HaveLen(1))
	a.g.Expect(rows(r.out, a.ns)[0][:4]).To(Equal([]string{a.ns, "one", "True", "TokenIssued"}))
	a.g.Expect(rows(r.out, b.ns)[0][:4]).To(Equal([]string{b.ns, "two", "True", "TokenIssued"}))
	a.g.Expect(r.out).NotTo(ContainSubstring("other"))

	r = kt(t, "status", "-A", "-l", "team="+team, "-o", "json")
	a.g.Expect(r.err).NotTo(HaveOccurred())
	var list struct {
		Kind  string                    `json:"kind"`
		Items []tokenatorv1.OAuthClient `json:"items"`
	}
	a.g.Expect(json.Unmarshal([]byte(r.out), &list)).To(Succeed())
	a.g.Expect(list.Kind).To(Equal("List"))
	var names []string
	for _, oc := range list.Items {
		names = append(names, oc.Namespace+"/"+oc.Name)
		a.g.Expect(oc.Status.SecretName).To(Equal(oc.Name + "-token"))
	}
	a.g.Expect(names).To(ConsistOf(a.ns+"/one", b.ns+"/two"))

	r = kt(t, "status", "-n", a.ns, "other", "-o", "yaml")
	a.g.Expect(r.err).NotTo(HaveOccurred())
	var one tokenatorv1.OAuthClient
	a.g.Expect(yaml.Unmarshal([]byte(r.out), &one)).To(Succeed())
	a.g.Expect(one.Kind).To(Equal("OAuthClient"))
	a.g.Expect(one.Name).To(Equal("other"))

	oldOne, oldTwo := a.token("one-token"), b.token("two-token")
	r = kt(t, "renew", "-A", "-l", "team="+team)
	a.g.Expect(r.err).NotTo(HaveOccurred())
	a.g.Expect(a.token("one-token")).NotTo(Equal(oldOne))
	a.g.Expect(b.token("two-token")).NotTo(Equal(oldTwo))
	a.g.Expect(r.out).NotTo(ContainSubstring("other"))
	r = kt(t, "renew", "-A", "one")
	a.g.Expect(r.err).To(MatchError("-A goes with --all or -l, not with names"))

	r = kt(t, "status", "-n", a.ns)
	a.g.Expect(r.err).NotTo(HaveOccurred())
	a.g.Expect(rows(r.out, "one ")).To(HaveLen(1))
	a.g.Expect(rows(r.out, "other ")).To(HaveLen(1))
	a.g.Expect(r.out).NotTo(ContainSubstring("two"))
}

// renew sets the annotation and returns once the Secret holds a new token.
func TestRenew(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.oauthClient("alpha", "", nil)
	e.oauthClient("beta", "", func(oc *tokenatorv1.OAuthClient) { oc.Labels = map[string]string{"renew": "yes"} })
	e.waitReason("alpha", tokenatorv1.ReasonTokenIssued)
	e.waitReason("beta", tokenatorv1.ReasonTokenIssued)
	oldAlpha, oldBeta := e.token("alpha-token"), e.token("beta-token")

	r := kt(t, "renew", "-n", e.ns, "alpha")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(ContainSubstring("oauthclient " + e.ns + "/alpha: new token in Secret alpha-token, valid until 20"))
	newAlpha := e.token("alpha-token")
	e.g.Expect(newAlpha).NotTo(Equal(oldAlpha))
	e.g.Expect(e.idp.Issued()).To(ContainElement(newAlpha))
	oc := e.get("alpha")
	e.g.Expect(oc.Annotations).To(HaveKey(tokenatorv1.AnnotationRefreshRequestedAt))
	e.g.Expect(oc.Status.LastHandledRefreshRequest).To(Equal(oc.Annotations[tokenatorv1.AnnotationRefreshRequestedAt]))
	e.g.Expect(e.token("beta-token")).To(Equal(oldBeta), "only the named client is renewed")

	r = kt(t, "renew", "-n", e.ns, "-l", "renew=yes")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(e.token("beta-token")).NotTo(Equal(oldBeta))
	e.g.Expect(e.token("alpha-token")).To(Equal(newAlpha), "only the selected client is renewed")

	r = kt(t, "renew", "-n", e.ns, "--all")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(ContainSubstring(e.ns + "/alpha: new token"))
	e.g.Expect(r.out).To(ContainSubstring(e.ns + "/beta: new token"))
	e.g.Expect(e.token("alpha-token")).NotTo(Equal(newAlpha))

	r = kt(t, "renew", "-n", e.ns)
	e.g.Expect(r.err).To(MatchError(ContainSubstring("name the OAuthClients to renew, or give --all or -l SELECTOR")))
}

// A refresh the endpoint refuses is reported with the Ready reason and
// message, and a non-zero exit.
func TestRenewReportsFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.oauthClient("alpha", "", nil)
	e.waitReason("alpha", tokenatorv1.ReasonTokenIssued)
	old := e.token("alpha-token")
	e.idp.SetFault(oauthtest.Fault{Status: 503})

	r := kt(t, "renew", "-n", e.ns, "alpha", "--timeout", "30s")
	e.g.Expect(r.err).To(MatchError("1 of 1 OAuthClients did not get a new token"))
	e.g.Expect(r.errOut).To(ContainSubstring("oauthclient " + e.ns + "/alpha: TokenRequestFailed: token request failed: token endpoint " + e.idp.URL() + " answered 503 Service Unavailable"))
	e.g.Expect(r.errOut).To(ContainSubstring("the Secret keeps the previous token, valid until"))
	e.g.Expect(r.errOut).To(ContainSubstring("#tokenrequestfailed"))
	e.g.Expect(e.token("alpha-token")).To(Equal(old))
}

// A request the operator does not act on in time (here the credentials are
// missing) ends at the timeout, with the Ready reason; a suspended client is
// refused at once.
func TestRenewTimeoutAndSuspended(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.oauthClient("broken", "", func(oc *tokenatorv1.OAuthClient) { oc.Spec.CredentialsSecretRef.Name = "missing" })
	e.oauthClient("paused", "", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Suspend = true })
	e.waitReason("broken", tokenatorv1.ReasonCredentialsNotFound)
	e.waitReason("paused", tokenatorv1.ReasonSuspended)

	r := kt(t, "renew", "-n", e.ns, "broken", "--timeout", "2s")
	e.g.Expect(r.err).To(MatchError("1 of 1 OAuthClients did not get a new token"))
	e.g.Expect(r.errOut).To(ContainSubstring(`oauthclient ` + e.ns + `/broken: no new token within 2s: Ready is False, CredentialsNotFound: spec.credentialsSecretRef: Secret "missing" not found`))

	// --wait=false only sets the annotation.
	r = kt(t, "renew", "-n", e.ns, "broken", "--wait=false")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(Equal("oauthclient " + e.ns + "/broken: new token requested\n"))
	first := e.get("broken").Annotations[tokenatorv1.AnnotationRefreshRequestedAt]
	e.g.Expect(first).NotTo(BeEmpty())
	r = kt(t, "renew", "-n", e.ns, "broken", "--wait=false")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(e.get("broken").Annotations[tokenatorv1.AnnotationRefreshRequestedAt]).NotTo(Equal(first), "each renew sets a new value")

	r = kt(t, "renew", "-n", e.ns, "paused")
	e.g.Expect(r.err).To(HaveOccurred())
	e.g.Expect(r.errOut).To(ContainSubstring("suspended: spec.suspend is true"))
	e.g.Expect(e.get("paused").Annotations).NotTo(HaveKey(tokenatorv1.AnnotationRefreshRequestedAt))
}

// inspect shows a JWT's header and claims, never the token or its signature.
func TestInspectJWT(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.JSONBody, Lifetime: time.Hour})
	e.oauthClient("jwt", tokenatorv1.EncodingJSON, nil)
	e.waitReason("jwt", tokenatorv1.ReasonTokenIssued)
	tok := e.token("jwt-token")

	r := kt(t, "inspect", "-n", e.ns, "jwt")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(MatchRegexp(`Format: +JWT`))
	e.g.Expect(r.out).To(MatchRegexp(`Header:\n  alg: +RS256\n  typ: +JWT\n`))
	e.g.Expect(r.out).To(MatchRegexp(`\n  sub: +""\n  aud: +client-[0-9a-f]+\n`))
	e.g.Expect(r.out).To(MatchRegexp(`\n  scopes: +\[\]\n`))
	e.g.Expect(r.out).To(MatchRegexp(`\n  exp: +20[-0-9T:]+Z \(in (59|60)m\)`))
	e.g.Expect(r.out).To(MatchRegexp(`\n  iat: +20[-0-9T:]+Z \([0-9]+s ago\)`))
	e.g.Expect(r.out).To(MatchRegexp(`Expires at: +20[-0-9T:]+Z \(in (59|60)m\)`))
	e.g.Expect(r.out).To(ContainSubstring("Length:"))
	e.g.Expect(r.out).NotTo(ContainSubstring("jti"), "claims other than the listed ones are not shown")
	expectNoToken(t, r, tok)
}

// The listed header parameters and claims are all shown; control characters
// are escaped.
func TestInspectJWTClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.oauthClient("crafted", "", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Suspend = true })
	e.waitReason("crafted", tokenatorv1.ReasonSuspended)
	seg := func(v any) string {
		b, err := json.Marshal(v)
		e.g.Expect(err).NotTo(HaveOccurred())
		return base64.RawURLEncoding.EncodeToString(b)
	}
	sig := base64.RawURLEncoding.EncodeToString([]byte(randomString("signature-")))
	exp := time.Now().Add(-time.Hour).Unix()
	tok := seg(map[string]any{"alg": "ES256", "kid": "key-7", "typ": "at+jwt"}) + "." +
		seg(map[string]any{"iss": "https://idp.example.com", "sub": "svc\x1b[31m", "aud": []string{"api", "billing"},
			"azp": "reporting", "scope": "orders.read orders.write", "iat": exp - 3600, "exp": exp, "email": "someone@example.com"}) + "." + sig
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "crafted-token"}, Data: map[string][]byte{
		tokenatorv1.SecretKeyAccessToken: []byte(tok), tokenatorv1.SecretKeyTokenType: []byte("Bearer"),
		tokenatorv1.SecretKeyExpiresAt:     []byte(time.Unix(exp, 0).UTC().Format(time.RFC3339)),
		tokenatorv1.SecretKeyAuthorization: []byte("Bearer " + tok),
	}})

	r := kt(t, "inspect", "-n", e.ns, "crafted")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	for _, want := range []string{
		`alg: +ES256`, `kid: +key-7`, `typ: +at\+jwt`,
		`iss: +https://idp.example.com`, `sub: +"svc\\x1b\[31m"`, `aud: +\["api","billing"\]`, `azp: +reporting`,
		`scope: +orders.read orders.write`, `iat: +20[-0-9T:]+Z \(120m ago\)`, `exp: +20[-0-9T:]+Z \(60m ago\)`,
		`Expires at: +20[-0-9T:]+Z \(60m ago\)`,
	} {
		e.g.Expect(r.out).To(MatchRegexp(want))
	}
	e.g.Expect(r.out).NotTo(ContainSubstring("someone@example.com"))
	e.g.Expect(r.out).NotTo(ContainSubstring("\x1b"))
	e.g.Expect(r.out).NotTo(ContainSubstring(sig))
	expectNoToken(t, r, tok)
}

// For an opaque token: its length and expiry, and the scope the endpoint granted.
func TestInspectOpaque(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: 30 * time.Minute, AllowedScopes: []string{"orders.read", "orders.write"}})
	e.oauthClient("opaque", "", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Scopes = []string{"orders.read", "orders.write"} })
	e.waitReason("opaque", tokenatorv1.ReasonTokenIssued)
	tok := e.token("opaque-token")

	r := kt(t, "inspect", "-n", e.ns, "opaque")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(MatchRegexp(`Format: +opaque \(not three dot-separated parts\)`))
	e.g.Expect(r.out).To(MatchRegexp(`Length: +43 characters`))
	e.g.Expect(r.out).To(MatchRegexp(`Expires at: +20[-0-9T:]+Z \(in (29|30)m\)`))
	e.g.Expect(r.out).To(MatchRegexp(`Token type: +Bearer`))
	e.g.Expect(r.out).To(MatchRegexp(`Scope granted: +orders.read orders.write\n`))
	e.g.Expect(r.out).NotTo(ContainSubstring("Claims"))
	expectNoToken(t, r, tok)
}

// expectNoToken fails when the output holds the token, its signature or any
// 16-character piece of either.
func expectNoToken(t *testing.T, r result, tok string) {
	t.Helper()
	g := NewWithT(t)
	g.Expect(len(tok)).To(BeNumerically(">=", 32))
	all := r.out + r.errOut
	secret := tok
	if parts := strings.Split(tok, "."); len(parts) == 3 {
		// The header and claims are shown decoded; their encoded form is no
		// secret, the signature is.
		secret = parts[2]
		g.Expect(all).NotTo(ContainSubstring(tok))
	}
	for i := 0; i+16 <= len(secret); i++ {
		g.Expect(all).NotTo(ContainSubstring(secret[i:i+16]), "a piece of the token at %d is printed", i)
	}
}

// The summary of status NAME says when the manager has not acted on the
// spec, or on the OAuthClient at all.
func TestSummary(t *testing.T) {
	g := NewWithT(t)
	expires := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	oc := &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "shop", Generation: 3}}
	var out strings.Builder
	g.Expect(printSummary(&out, oc)).To(Succeed())
	g.Expect(out.String()).To(Equal("\nMessage:          no Ready condition yet: is the manager running, and does it watch namespace shop?\n" +
		"Expires at:       <none>\nNext refresh at:  <none>\nLast refresh:     <none>\n"))

	oc.Status.ExpiresAt, oc.Status.LastFailureTime = &expires, &expires
	oc.Status.Conditions = []metav1.Condition{{Type: tokenatorv1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: tokenatorv1.ReasonTokenRequestFailed, Message: "token request failed", ObservedGeneration: 2}}
	out.Reset()
	g.Expect(printSummary(&out, oc)).To(Succeed())
	g.Expect(out.String()).To(Equal("\nMessage:          token request failed\n" +
		"Note:             the status is of generation 2, the spec is at 3: the manager has not acted on the latest change yet\n" +
		"Expires at:       2026-12-01T10:00:00Z\nNext refresh at:  <none>\nLast refresh:     <none>\nLast failure:     2026-12-01T10:00:00Z\n"))
}

func TestVersion(t *testing.T) {
	g := NewWithT(t)
	old := version
	version = "v9.8.7-test"
	defer func() { version = old }()
	r := kt(t, "version")
	g.Expect(r.err).NotTo(HaveOccurred())
	g.Expect(r.out).To(MatchRegexp(`^kubectl-tokenator v9\.8\.7-test \(go[0-9.]+, [a-z0-9]+/[a-z0-9]+\)\n$`))
}

// The next steps status prints are the tables of docs/troubleshooting.md:
// every Ready reason of an OAuthClient, and of a ClusterOAuthProvider.
func TestHintsMatchTroubleshooting(t *testing.T) {
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "troubleshooting.md"))
	g.Expect(err).NotTo(HaveOccurred())
	for _, c := range []struct {
		intro, you string
		table      hintTable
		reasons    []string
	}{
		{"What the operator does next depends on the reason:", "you", hints, []string{tokenatorv1.ReasonTokenIssued,
			tokenatorv1.ReasonCredentialsNotFound, tokenatorv1.ReasonTokenRequestFailed, tokenatorv1.ReasonSecretConflict,
			tokenatorv1.ReasonInvalidSpec, tokenatorv1.ReasonProviderNotFound, tokenatorv1.ReasonProviderRefused, tokenatorv1.ReasonSuspended}},
		{"What the operator does next for a ClusterOAuthProvider depends on the reason:", "you (the cluster admin)", providerHints,
			[]string{tokenatorv1.ReasonProviderReady, tokenatorv1.ReasonCredentialsNotFound, tokenatorv1.ReasonInvalidSpec}},
	} {
		_, after, ok := strings.Cut(string(raw), c.intro)
		g.Expect(ok).To(BeTrue(), "the table's introduction %q is on the page", c.intro)
		var doc [][]string
		for _, l := range strings.Split(strings.TrimSpace(after), "\n") {
			if !strings.HasPrefix(l, "|") {
				break
			}
			var cells []string
			for _, cell := range strings.Split(strings.Trim(l, "|"), "|") {
				cells = append(cells, strings.TrimSpace(cell))
			}
			doc = append(doc, cells)
		}
		g.Expect(len(doc)).To(BeNumerically(">", 2))
		g.Expect(doc[0]).To(Equal([]string{"reason", "the operator", c.you}))
		var code [][]string
		var reasons []string
		for _, h := range c.table.rows {
			code = append(code, []string{"`" + h.Reason + "`", h.Operator, h.You})
			reasons = append(reasons, h.Reason)
		}
		g.Expect(code).To(Equal(doc[2:]))
		// Every reason the operator writes has its row.
		g.Expect(reasons).To(ConsistOf(c.reasons))
	}
}

// A client of a ClusterOAuthProvider's shared token: status -o wide and the
// summary say where its token comes from, and renew writes its Secret again
// from the shared token without counting it as failed (a tenant does not
// renew a token other namespaces share).
func TestProviderSharedClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: time.Hour})
	name := e.provider(nil).Name
	e.create(&tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "shared"},
		Spec: tokenatorv1.OAuthClientSpec{ProviderRef: &tokenatorv1.ProviderReference{Name: name}, Scopes: []string{"api"}}})
	e.oauthClient("inline", "", nil)
	e.waitReason("shared", tokenatorv1.ReasonTokenIssued)
	e.waitReason("inline", tokenatorv1.ReasonTokenIssued)
	tok := e.token("shared-token")

	r := kt(t, "status", "-n", e.ns, "-o", "wide")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(ContainSubstring("SOURCE"))
	e.g.Expect(r.out).To(MatchRegexp(`shared .* coap/` + name + ` \(shared\) +token valid until`))
	e.g.Expect(r.out).To(MatchRegexp(`inline .* inline +token valid until`))
	r = kt(t, "status", "-n", e.ns, "shared")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(MatchRegexp(`Token from: +ClusterOAuthProvider ` + name + ` \(shared\)`))

	requests := e.idp.Requests()
	r = kt(t, "renew", "-n", e.ns, "shared")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(ContainSubstring("oauthclient " + e.ns + "/shared: Secret shared-token written again from the shared token of ClusterOAuthProvider " + name + ", valid until 20"))
	e.g.Expect(e.token("shared-token")).To(Equal(tok))
	e.g.Expect(e.idp.Requests()).To(Equal(requests), "a tenant's renew requests no shared token")
}

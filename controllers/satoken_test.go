package controllers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// saEnv is a test environment whose endpoint accepts its client with a
// ServiceAccount token of the test's namespace for audience, verified with
// the cluster's keys, and whose manager's TokenRequests are counted.
type saEnv struct {
	*testEnv
	fc       *federatedCredential
	requests *tokenRequestCounter
}

func newSAEnv(t *testing.T, cfg oauthtest.Config, sa, audience string) *saEnv {
	t.Helper()
	k := kubeIssuer(t)
	s := &saEnv{fc: &federatedCredential{issuer: k.issuer, audience: audience}, requests: &tokenRequestCounter{}}
	var clientID string
	cfg.VerifyAssertion = assertionVerifier(k.keys, &clientID, s.fc)
	s.testEnv = newEnvWrapped(t, cfg, nil, s.requests.wrap)
	clientID = s.clientID
	s.fc.subject = "system:serviceaccount:" + s.ns + ":" + sa
	return s
}

// serviceAccount creates a ServiceAccount that opts in to audiences
// (comma-separated); "" creates it without the annotation.
func (e *testEnv) serviceAccount(name, audiences string) {
	e.t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if audiences != "" {
		sa.Annotations = map[string]string{tokenatorv1.AnnotationTokenAudiences: audiences}
	}
	e.create(sa)
}

// annotateServiceAccount sets (or, with "", removes) the opt-in annotation.
func (e *testEnv) annotateServiceAccount(name, audiences string) {
	e.t.Helper()
	e.g.Eventually(func() error {
		sa := &corev1.ServiceAccount{}
		if err := k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, sa); err != nil {
			return err
		}
		if audiences == "" {
			delete(sa.Annotations, tokenatorv1.AnnotationTokenAudiences)
		} else {
			if sa.Annotations == nil {
				sa.Annotations = map[string]string{}
			}
			sa.Annotations[tokenatorv1.AnnotationTokenAudiences] = audiences
		}
		return k8s.Update(e.ctx, sa)
	}).WithTimeout(timeout).Should(Succeed())
}

// saClient is an OAuthClient of the test's endpoint that authenticates with
// a token of ServiceAccount sa for audience: clientID inline, no
// credentials Secret.
func (e *testEnv) saClient(name, sa, audience string) *tokenatorv1.OAuthClient {
	oc := e.oauthClient(name)
	oc.Spec.CredentialsSecretRef = nil
	oc.Spec.ClientAuthentication = tokenatorv1.ClientAuthenticationServiceAccountToken
	oc.Spec.ClientID = e.clientID
	oc.Spec.ClientAssertion = &tokenatorv1.ClientAssertion{ServiceAccountName: sa, Audience: audience}
	return oc
}

// readyMessage is the message of the Ready condition.
func readyMessage(oc *tokenatorv1.OAuthClient) string {
	if c := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// A serviceAccountToken OAuthClient gets a token with each body encoding:
// the ServiceAccount's token is sent as a jwt-bearer client assertion with
// the inline client_id and no client secret, and the endpoint verifies it
// with the cluster's published keys (iss, sub, aud, expiry). One
// TokenRequest is made.
func TestServiceAccountTokenEncodings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind     oauthtest.Kind
		encoding string
	}{{oauthtest.RFC6749, "application/x-www-form-urlencoded"}, {oauthtest.Luxclusif, "multipart/form-data"}, {oauthtest.JSONBody, "application/json"}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			audience := "https://idp.example.com/federation/" + string(tc.kind)
			e := newSAEnv(t, oauthtest.Config{Kind: tc.kind}, "workload", audience)
			e.serviceAccount("workload", "other.example.com, "+audience)
			e.create(e.saClient("sa", "workload", audience))
			oc := e.waitReady("sa")
			e.g.Expect(e.issuedToken(e.token(oc.Status.SecretName))).To(BeTrue())

			last := e.idp.LastRequest()
			e.g.Expect(last.ContentType).To(HavePrefix(tc.encoding))
			e.g.Expect(last.Params).To(HaveKeyWithValue("client_id", e.clientID))
			e.g.Expect(last.Params).To(HaveKeyWithValue("client_assertion_type", oauth.ClientAssertionTypeJWTBearer))
			e.g.Expect(last.Params).NotTo(HaveKey("client_secret"))
			e.g.Expect(last.BasicAuth).To(BeFalse())
			claims := jwtClaims(t, last.Params["client_assertion"])
			e.g.Expect(claims).To(HaveKeyWithValue("sub", "system:serviceaccount:"+e.ns+":workload"))
			e.g.Expect(claims).To(HaveKeyWithValue("aud", ConsistOf(audience)))
			e.g.Expect(claims["exp"].(float64) - claims["iat"].(float64)).To(BeNumerically("==", 600))
			e.g.Expect(e.requests.count()).To(Equal(1))
		})
	}
}

// jwtClaims decodes the payload of a JWT.
func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	return jwtPart(t, jwt, 1)
}

// jwtPart decodes part i (0 the header, 1 the payload) of a JWT.
func jwtPart(t *testing.T, jwt string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// A ServiceAccount that did not opt in, that did not list the audience, or
// an audience the API server accepts for itself (even listed), is
// InvalidSpec; a missing ServiceAccount is CredentialsNotFound; none of them
// makes a TokenRequest or reaches the endpoint. Annotating the
// ServiceAccount afterwards is noticed within seconds.
func TestServiceAccountTokenRefused(t *testing.T) {
	t.Parallel()
	const audience = "api://AzureADTokenExchange"
	e := newSAEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, "plain", audience)
	apiAudience := kubeIssuer(t).issuer

	e.serviceAccount("plain", "")
	e.serviceAccount("elsewhere", "https://other.example.com")
	e.serviceAccount("greedy", apiAudience+","+strings.TrimRight(apiAudience, "/"))
	e.create(e.saClient("no-opt-in", "plain", audience))
	e.create(e.saClient("not-listed", "elsewhere", audience))
	e.create(e.saClient("api-audience", "greedy", apiAudience))
	e.create(e.saClient("api-audience-no-slash", "greedy", strings.TrimRight(apiAudience, "/")))
	e.create(e.saClient("missing", "nobody", audience))

	oc := e.waitReason("no-opt-in", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(readyMessage(oc)).To(Equal(`spec.clientAssertion.serviceAccountName: ServiceAccount "plain" has no tokenator.dev/token-audiences annotation: it has not opted in to tokens requested by tokenator; no token has been issued yet`))
	oc = e.waitReason("not-listed", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(readyMessage(oc)).To(Equal(`spec.clientAssertion.audience: ServiceAccount "elsewhere" does not list "api://AzureADTokenExchange" in its tokenator.dev/token-audiences annotation; no token has been issued yet`))
	for _, name := range []string{"api-audience", "api-audience-no-slash"} {
		oc = e.waitReason(name, tokenatorv1.ReasonInvalidSpec)
		e.g.Expect(readyMessage(oc)).To(ContainSubstring("is an audience of the Kubernetes API server; tokenator never requests a ServiceAccount token the cluster itself would accept"))
	}
	oc = e.waitReason("missing", tokenatorv1.ReasonCredentialsNotFound)
	e.g.Expect(readyMessage(oc)).To(Equal(`spec.clientAssertion.serviceAccountName: ServiceAccount "nobody" not found in namespace "` + e.ns + `"; no token has been issued yet`))
	e.g.Expect(e.requests.count()).To(Equal(0))
	e.g.Expect(e.idp.Requests()).To(Equal(0))

	// The opt-in, added later, is seen through the ServiceAccount watch.
	e.annotateServiceAccount("plain", audience)
	e.waitReady("no-opt-in")
	e.g.Expect(e.requests.count()).To(Equal(1))
}

// The ServiceAccount token is reused while more than half its life is left:
// several access tokens, one TokenRequest, the same assertion each time. The
// client ID may come from a credentials Secret (whose client secret is not
// sent). A change of the ServiceAccount's opt-in is a new request (a new
// tokenRequestHash, a new ServiceAccount token). Once the ServiceAccount
// withdraws its opt-in, the refreshes stop: the OAuthClient is InvalidSpec,
// no TokenRequest is made and nothing is sent.
func TestServiceAccountTokenReusedAndOptInWithdrawn(t *testing.T) {
	t.Parallel()
	const audience = "https://idp.example.com/reuse"
	e := newSAEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: 3 * time.Second}, "workload", audience)
	e.serviceAccount("workload", audience)
	oc := e.saClient("sa", "workload", audience)
	oc.Spec.ClientID = ""
	oc.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "creds"}
	e.create(oc)
	first := e.waitReady("sa").Status.TokenRequestHash
	e.g.Eventually(func() int { return len(e.idp.Issued()) }).WithTimeout(timeout).WithPolling(poll).Should(BeNumerically(">=", 3))
	e.g.Expect(e.requests.count()).To(Equal(1))
	assertions := e.idp.Assertions()
	e.g.Expect(assertions).To(HaveEach(assertions[0]))
	last := e.idp.LastRequest()
	e.g.Expect(last.Params).To(HaveKeyWithValue("client_id", e.clientID))
	e.g.Expect(last.Params).NotTo(HaveKey("client_secret"))

	e.annotateServiceAccount("workload", audience+",https://idp.example.com/other")
	e.g.Eventually(func() string { return e.get("sa").Status.TokenRequestHash }).WithTimeout(timeout).WithPolling(poll).ShouldNot(Equal(first))
	e.g.Eventually(e.requests.count).WithTimeout(timeout).WithPolling(poll).Should(Equal(2))

	e.annotateServiceAccount("workload", "")
	e.waitReason("sa", tokenatorv1.ReasonInvalidSpec)
	sent := e.idp.Requests()
	e.g.Consistently(e.idp.Requests).WithTimeout(4 * time.Second).WithPolling(poll).Should(Equal(sent))
	e.g.Expect(e.requests.count()).To(Equal(2))
}

// serviceAccountClient is a test environment with the ServiceAccount
// "workload", opted in to the audience "aud", and a client of the API server
// whose transport wrap wraps.
func serviceAccountClient(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) (*testEnv, *corev1.ServiceAccount, client.Client) {
	t.Helper()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.serviceAccount("workload", "aud")
	sa := &corev1.ServiceAccount{}
	e.g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: "workload"}, sa)).To(Succeed())
	cfg := rest.CopyConfig(restConfig)
	cfg.Wrap(wrap)
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	e.g.Expect(err).NotTo(HaveOccurred())
	return e, sa, c
}

// The reuse rule, against the API server with a clock of the test's: the
// token is reused while more than half its life is left, then a new one is
// requested; a different opt-in, a replaced ServiceAccount (another UID) or
// a change of it (Forget) asks for a new one too.
func TestServiceAccountTokenReuseRule(t *testing.T) {
	t.Parallel()
	counter := &tokenRequestCounter{}
	e, sa, c := serviceAccountClient(t, counter.wrap)

	clk := clocktesting.NewFakePassiveClock(time.Now())
	var tokens controllers.ServiceAccountTokens
	get := func(optIn string, uid types.UID) string {
		t.Helper()
		tok, err := tokens.Token(context.Background(), c, clk, e.ns, "workload", uid, optIn, "aud", 0)
		e.g.Expect(err).NotTo(HaveOccurred())
		recordAssertion(tok)
		return tok
	}
	first := get("aud", sa.UID)
	e.g.Expect(counter.count()).To(Equal(1))
	clk.SetTime(clk.Now().Add(4 * time.Minute))
	e.g.Expect(get("aud", sa.UID)).To(Equal(first), "reused with 6 of 10 minutes left")
	e.g.Expect(counter.count()).To(Equal(1))
	clk.SetTime(clk.Now().Add(time.Minute + time.Second))
	second := get("aud", sa.UID)
	e.g.Expect(second).NotTo(Equal(first), "renewed with less than half its life left")
	e.g.Expect(counter.count()).To(Equal(2))
	e.g.Expect(get("aud", sa.UID)).To(Equal(second))
	e.g.Expect(get("aud,other", sa.UID)).NotTo(Equal(second), "another opt-in")
	e.g.Expect(get("aud,other", "another-uid")).NotTo(Equal(second), "another ServiceAccount")
	e.g.Expect(counter.count()).To(Equal(4))
	e.g.Expect(tokens.Len()).To(Equal(1))
	tokens.Forget(e.ns, "workload")
	e.g.Expect(tokens.Len()).To(Equal(0))
	get("aud,other", "another-uid")
	e.g.Expect(counter.count()).To(Equal(5))
}

// tokenRequestGate counts the TokenRequests a client sends and holds them
// until opened.
type tokenRequestGate struct {
	tokenRequestCounter
	open chan struct{}
}

func (g *tokenRequestGate) wrap(rt http.RoundTripper) http.RoundTripper {
	return g.tokenRequestCounter.wrap(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
			select {
			case <-g.open:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
		return rt.RoundTrip(r)
	}))
}

// One TokenRequest at a time per ServiceAccount, audience and lifetime: the
// callers that come while it is made share it, a caller that gives up stops
// waiting at once, and the caller that started it giving up fails none of
// the others. A caller of another version of the ServiceAccount (another
// UID) does not take a token requested for the first: it requests its own.
func TestServiceAccountTokenOneRequestPerKey(t *testing.T) {
	t.Parallel()
	gate := &tokenRequestGate{open: make(chan struct{})}
	e, sa, c := serviceAccountClient(t, gate.wrap)

	var tokens controllers.ServiceAccountTokens
	type result struct {
		tok string
		err error
	}
	call := func(ctx context.Context, uid types.UID) chan result {
		out := make(chan result, 1)
		go func() {
			tok, err := tokens.Token(ctx, c, clock.RealClock{}, e.ns, "workload", uid, "aud", "aud", 0)
			out <- result{tok, err}
		}()
		return out
	}
	starterCtx, cancelStarter := context.WithCancel(context.Background())
	starter := call(starterCtx, sa.UID)
	// The first request is held at the gate.
	time.Sleep(200 * time.Millisecond)
	quitterCtx, cancelQuitter := context.WithCancel(context.Background())
	quitter := call(quitterCtx, sa.UID)
	var sharers []chan result
	for range 5 {
		sharers = append(sharers, call(context.Background(), sa.UID))
	}
	other := call(context.Background(), "another-uid")
	// They wait for the first request (a slow machine may take longer to get
	// them there; a late one would find the kept token, or request its own).
	time.Sleep(500 * time.Millisecond)

	cancelQuitter()
	cancelStarter()
	for _, ch := range []chan result{quitter, starter} {
		select {
		case r := <-ch:
			e.g.Expect(r.err).To(MatchError(context.Canceled))
		case <-time.After(2 * time.Second):
			t.Fatal("a caller whose context ended still waits for the TokenRequest")
		}
	}
	close(gate.open)
	var shared string
	for _, ch := range sharers {
		r := <-ch
		e.g.Expect(r.err).NotTo(HaveOccurred())
		if shared == "" {
			shared = r.tok
		}
		e.g.Expect(r.tok).To(Equal(shared))
	}
	r := <-other
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.tok).NotTo(Equal(shared))
	e.g.Expect(gate.count()).To(Equal(2), "one TokenRequest for the ServiceAccount's UID, one for the other")
	e.g.Expect(tokens.Len()).To(Equal(1))
}

// The ServiceAccount cache keeps the identity and the opt-in annotation only.
func TestStripServiceAccount(t *testing.T) {
	g := NewWithT(t)
	in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "sa", Namespace: "ns", UID: "u", ResourceVersion: "7",
		Labels:          map[string]string{"a": "b"},
		Annotations:     map[string]string{tokenatorv1.AnnotationTokenAudiences: "x", "kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 1000)},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		OwnerReferences: []metav1.OwnerReference{{Name: "o"}}, Finalizers: []string{"f"}}}
	out, err := controllers.StripServiceAccount(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).ObjectMeta).To(Equal(metav1.ObjectMeta{Name: "sa", Namespace: "ns", UID: "u", ResourceVersion: "7",
		Annotations: map[string]string{tokenatorv1.AnnotationTokenAudiences: "x"}}))
}

// In a Pod, the audiences of the operator's own token are the API server's.
func TestTokenAudiences(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	write := func(payload string) string {
		f := filepath.Join(dir, "token")
		jwt := "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
		g.Expect(os.WriteFile(f, []byte(jwt+"\n"), 0o600)).To(Succeed())
		return f
	}
	auds, err := controllers.TokenAudiences(write(`{"aud":["https://kubernetes.default.svc.cluster.local","k3s"],"sub":"x"}`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(auds).To(Equal([]string{"https://kubernetes.default.svc.cluster.local", "k3s"}))
	auds, err = controllers.TokenAudiences(write(`{"aud":"https://kubernetes.default.svc"}`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(auds).To(Equal([]string{"https://kubernetes.default.svc"}))
	_, err = controllers.TokenAudiences(write(`{"sub":"x"}`))
	g.Expect(err).To(MatchError(ContainSubstring("no aud claim")))
	_, err = controllers.TokenAudiences(write(`{"aud":""}`))
	g.Expect(err).To(MatchError(ContainSubstring("no aud claim")))
	f := filepath.Join(dir, "opaque")
	g.Expect(os.WriteFile(f, []byte("opaque.token"), 0o600)).To(Succeed())
	_, err = controllers.TokenAudiences(f)
	g.Expect(err).To(MatchError(ContainSubstring("not a JWT")))
	_, err = controllers.TokenAudiences(filepath.Join(dir, "absent"))
	g.Expect(err).To(HaveOccurred())
	_, err = controllers.TokenAudiences("")
	g.Expect(err).To(HaveOccurred())
}

// A TokenRequest the API server refuses (here: the manager's role without
// serviceaccounts/token create) is a failed token request, retried with
// backoff, whose message names the ServiceAccount and carries the API
// server's answer; once the permission is granted, the next retry gets a
// token.
func TestServiceAccountTokenRequestRefused(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	raw, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(raw, role); err != nil {
		t.Fatal(err)
	}
	var without []rbacv1.PolicyRule
	for _, rule := range role.Rules {
		if !slices.Contains(rule.Resources, "serviceaccounts/token") {
			without = append(without, rule)
		}
	}
	if len(without) != len(role.Rules)-1 {
		t.Fatalf("config/rbac/role.yaml has no rule of its own for serviceaccounts/token: %+v", role.Rules)
	}
	user := randomString("tokenator-")
	role.ObjectMeta = metav1.ObjectMeta{Name: user}
	role.Rules = without
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: user, Namespace: "tokenator-system"}}}
	ctx := context.Background()
	if err := k8s.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k8s.Delete(ctx, binding)
		_ = k8s.Delete(ctx, role)
	})
	// The manager acts as that ServiceAccount (impersonation headers on its
	// connections to the API server).
	asManager := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Impersonate-User", "system:serviceaccount:tokenator-system:"+user)
			r.Header.Add("Impersonate-Group", "system:serviceaccounts")
			r.Header.Add("Impersonate-Group", "system:serviceaccounts:tokenator-system")
			r.Header.Add("Impersonate-Group", "system:authenticated")
			return rt.RoundTrip(r)
		})
	}
	const audience = "https://idp.example.com/refused"
	k := kubeIssuer(t)
	fc := &federatedCredential{issuer: k.issuer, audience: audience}
	var clientID string
	e := newEnvWrapped(t, oauthtest.Config{Kind: oauthtest.RFC6749, VerifyAssertion: assertionVerifier(k.keys, &clientID, fc)}, nil, asManager)
	clientID = e.clientID
	fc.subject = "system:serviceaccount:" + e.ns + ":workload"
	e.serviceAccount("workload", audience)
	e.create(e.saClient("sa", "workload", audience))

	oc := e.waitReason("sa", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(readyMessage(oc)).To(HavePrefix(`token request failed: requesting a token for ServiceAccount "workload": `))
	e.g.Expect(readyMessage(oc)).To(ContainSubstring("forbidden"))
	e.g.Expect(oc.Status.FailedAttempts).To(BeNumerically(">=", 1))
	e.g.Expect(e.idp.Requests()).To(Equal(0))

	e.g.Eventually(func() error {
		current := &rbacv1.ClusterRole{}
		if err := k8s.Get(ctx, types.NamespacedName{Name: user}, current); err != nil {
			return err
		}
		current.Rules = append(current.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}})
		return k8s.Update(ctx, current)
	}).WithTimeout(timeout).Should(Succeed())
	e.waitReady("sa")
	e.g.Expect(e.idp.Requests()).To(Equal(1))
}

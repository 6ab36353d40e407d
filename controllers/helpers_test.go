package controllers_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers"
	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/operator"
)

// testEnv is one test's namespace, token endpoint and manager.
type testEnv struct {
	t            *testing.T
	g            *WithT
	ctx          context.Context
	ns           string
	idp          *oauthtest.Server
	kind         oauthtest.Kind
	clientID     string
	clientSecret string
	stopManager  func()
	// configure adjusts the manager's configuration, at every (re)start.
	configure func(*operator.Config)
	// wrap, when set, wraps the manager's connections to the API server.
	wrap func(http.RoundTripper) http.RoundTripper
}

func randomString(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newEnv starts a token endpoint of the given kind that accepts one client,
// creates a namespace holding that client's credentials ("creds") and the
// endpoint's CA ("idp-ca"), and starts a manager for the namespace.
func newEnv(t *testing.T, cfg oauthtest.Config) *testEnv {
	t.Helper()
	return newEnvWith(t, cfg, nil)
}

// newEnvWith is newEnv with a manager configured by configure.
func newEnvWith(t *testing.T, cfg oauthtest.Config, configure func(*operator.Config)) *testEnv {
	t.Helper()
	return newEnvWrapped(t, cfg, configure, nil)
}

// newEnvWrapped is newEnvWith with the manager's API connections wrapped by wrap.
func newEnvWrapped(t *testing.T, cfg oauthtest.Config, configure func(*operator.Config), wrap func(http.RoundTripper) http.RoundTripper) *testEnv {
	t.Helper()
	requireControlPlane(t)
	e := &testEnv{t: t, g: NewWithT(t), ctx: context.Background(), kind: cfg.Kind,
		clientID: randomString("client-"), clientSecret: randomString("secret-"), configure: configure, wrap: wrap}
	if cfg.Clients == nil {
		cfg.Clients = map[string]string{}
	}
	cfg.Clients[e.clientID] = e.clientSecret
	e.idp = oauthtest.NewServer(cfg)
	secretsMu.Lock()
	secretsSeen = append(secretsSeen, e.clientSecret)
	endpoints = append(endpoints, e.idp)
	secretsMu.Unlock()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	e.g.Expect(k8s.Create(e.ctx, ns)).To(Succeed())
	e.ns = ns.Name
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "idp-ca"}, Data: map[string][]byte{"ca.crt": e.idp.CAPEM()}})
	e.create(e.credentials("creds", e.clientID, e.clientSecret))
	e.stopManager = e.startManager()
	t.Cleanup(func() { e.stopManager() })
	return e
}

func (e *testEnv) credentials(name, id, secret string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name},
		Data: map[string][]byte{"client_id": []byte(id), "client_secret": []byte(secret)}}
}

// testManagerConfig is the configuration of the tests' managers: no metrics
// or probes, short timings, and loopback token endpoints allowed.
func testManagerConfig(namespaces ...string) operator.Config {
	cfg := operator.DefaultConfig()
	cfg.MetricsBindAddress = "0"
	cfg.HealthProbeBindAddress = "0"
	cfg.TokenRequestTimeout = 2 * time.Second
	// The token endpoints of the tests listen on loopback, which the default
	// list denies.
	cfg.DeniedTokenNetworks = netguard.Without(netguard.DefaultDeniedNetworks, netguard.LoopbackNetworks...)
	cfg.Reconciler = controllers.Options{
		MinRequestInterval:      testMinInterval,
		RetryBaseDelay:          testRetryBase,
		RetryMaxDelay:           testRetryMax,
		MaxConcurrentReconciles: 2,
		Namespaces:              namespaces,
		SkipNameValidation:      true,
	}
	return cfg
}

// startManager runs a manager restricted to the test's namespace and returns a
// function that stops it and waits until it has stopped.
func (e *testEnv) startManager() func() {
	e.t.Helper()
	cfg := testManagerConfig(e.ns)
	if e.configure != nil {
		e.configure(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	apiConfig := restConfig
	if e.wrap != nil {
		apiConfig = rest.CopyConfig(restConfig)
		apiConfig.Wrap(e.wrap)
	}
	mgr, err := operator.NewManager(ctx, apiConfig, cfg)
	e.g.Expect(err).NotTo(HaveOccurred())
	return testutil.StartManager(e.t, ctx, cancel, mgr)
}

// create creates obj in the test's namespace.
func (e *testEnv) create(obj client.Object) {
	e.t.Helper()
	obj.SetNamespace(e.ns)
	e.g.Expect(k8s.Create(e.ctx, obj)).To(Succeed())
}

// oauthClient returns an OAuthClient for the test's endpoint, with the preset
// that matches its kind and the endpoint's URL and CA.
func (e *testEnv) oauthClient(name string) *tokenatorv1.OAuthClient {
	oc := &tokenatorv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: tokenatorv1.OAuthClientSpec{
			OAuthEndpoint: tokenatorv1.OAuthEndpoint{
				TokenURL: e.idp.URL(),
				TLS:      &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "idp-ca"}},
			},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "creds"},
		},
	}
	switch e.kind {
	case oauthtest.Lucca:
		oc.Spec.Provider = tokenatorv1.ProviderLucca
	case oauthtest.Luxclusif:
		oc.Spec.Provider = tokenatorv1.ProviderLuxclusif
		oc.Spec.Environment = tokenatorv1.EnvironmentSandbox
		oc.Spec.Scopes = []string{"buyback", "buyback.partner"}
	case oauthtest.JSONBody:
		oc.Spec.Encoding = tokenatorv1.EncodingJSON
	}
	return oc
}

func (e *testEnv) get(name string) *tokenatorv1.OAuthClient {
	e.t.Helper()
	oc := &tokenatorv1.OAuthClient{}
	e.g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, oc)).To(Succeed())
	return oc
}

// update applies mutate to the latest version of the OAuthClient, retrying on conflicts.
func (e *testEnv) update(name string, mutate func(*tokenatorv1.OAuthClient)) {
	e.t.Helper()
	e.g.Eventually(func() error {
		oc := e.get(name)
		mutate(oc)
		return k8s.Update(e.ctx, oc)
	}).WithTimeout(timeout).Should(Succeed())
}

// waitReason waits until the Ready condition of the current generation has the
// given reason, and returns the OAuthClient.
func (e *testEnv) waitReason(name, reason string) *tokenatorv1.OAuthClient {
	e.t.Helper()
	var oc *tokenatorv1.OAuthClient
	e.g.Eventually(func(g Gomega) {
		oc = &tokenatorv1.OAuthClient{}
		g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, oc)).To(Succeed())
		c := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil(), "no Ready condition")
		g.Expect(c.ObservedGeneration).To(Equal(oc.Generation))
		g.Expect(c.Reason).To(Equal(reason), "Ready condition: %s", c.Message)
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	return oc
}

// waitMessage waits until the Ready condition of name has reason and a
// message that contains want, and returns the message: a reason can show
// first with another message (a Secret created just before its OAuthClient
// may reach the reference cache after the first reconcile, "not found").
func (e *testEnv) waitMessage(name, reason, want string) string {
	e.t.Helper()
	var msg string
	e.g.Eventually(func(g Gomega) {
		oc := &tokenatorv1.OAuthClient{}
		g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, oc)).To(Succeed())
		c := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil(), "no Ready condition")
		g.Expect(c.Reason).To(Equal(reason), "Ready condition: %s", c.Message)
		msg = c.Message
		g.Expect(msg).To(ContainSubstring(want))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	return msg
}

func (e *testEnv) waitReady(name string) *tokenatorv1.OAuthClient {
	e.t.Helper()
	return e.waitReason(name, tokenatorv1.ReasonTokenIssued)
}

func (e *testEnv) secret(name string) *corev1.Secret {
	e.t.Helper()
	s := &corev1.Secret{}
	e.g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, s)).To(Succeed())
	return s
}

func (e *testEnv) token(secretName string) string {
	return string(e.secret(secretName).Data[tokenatorv1.SecretKeyAccessToken])
}

// waitNewToken waits until the derived Secret holds a token other than old.
func (e *testEnv) waitNewToken(secretName, old string) string {
	e.t.Helper()
	var tok string
	e.g.Eventually(func(g Gomega) {
		s := &corev1.Secret{}
		g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: secretName}, s)).To(Succeed())
		tok = string(s.Data[tokenatorv1.SecretKeyAccessToken])
		g.Expect(tok).NotTo(BeEmpty())
		g.Expect(tok).NotTo(Equal(old))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	return tok
}

// issuedToken reports whether the endpoint issued tok.
func (e *testEnv) issuedToken(tok string) bool {
	for _, t := range e.idp.Issued() {
		if t == tok {
			return true
		}
	}
	return false
}

// rotateClientSecret gives the test's client a new secret, at the endpoint
// (which then accepts only it) and in the credentials Secret "creds", and
// returns it; the leak scan looks for it too.
func (e *testEnv) rotateClientSecret() string {
	e.t.Helper()
	rotated := randomString("rotated-")
	secretsMu.Lock()
	secretsSeen = append(secretsSeen, rotated)
	secretsMu.Unlock()
	e.idp.SetClientSecret(e.clientID, rotated)
	creds := e.secret("creds")
	creds.Data["client_secret"] = []byte(rotated)
	e.g.Expect(k8s.Update(e.ctx, creds)).To(Succeed())
	return rotated
}

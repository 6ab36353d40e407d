package operator

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers"
	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// The manager's tests that need an API server run against a real
// kube-apiserver and etcd (envtest), started by the first of them.
var (
	controlPlane = &testutil.ControlPlane{
		CRDDir: filepath.Join("..", "config", "crd", "bases"),
		Scheme: NewScheme(),
	}
	// logs holds everything the managers logged, at debug level.
	logs testutil.SyncBuffer
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(&logs), zap.Level(zapcore.Level(-10))))
	code := m.Run()
	if err := controlPlane.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the test control plane: %v\n", err)
	}
	os.Exit(code)
}

const (
	// hostileTokenChars and hostileFieldChars shape the hostile answer: a
	// 400 whose JSON body holds an access_token of 960,000 characters and
	// error and error_description of 1,000, about 1 MB in all.
	hostileTokenChars = 960_000
	hostileFieldChars = 1000
	// maxStop bounds the time the manager takes to stop once its context is
	// cancelled, as on SIGTERM.
	maxStop = 5 * time.Second
)

// letters returns n pseudo-random letters and digits of the stream seed.
func letters(seed uint64, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// endpoint is a TLS token endpoint on loopback whose handler counts the
// requests it received and those still in flight.
type endpoint struct {
	*httptest.Server
	received, inFlight atomic.Int64
}

func startEndpoint(t *testing.T, answer func(http.ResponseWriter, *http.Request)) *endpoint {
	e := &endpoint{}
	e.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.received.Add(1)
		e.inFlight.Add(1)
		defer e.inFlight.Add(-1)
		answer(w, r)
	}))
	e.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.StartTLS()
	t.Cleanup(func() {
		e.CloseClientConnections()
		e.Close()
	})
	return e
}

// caSecret holds the endpoint's certificate as a CA bundle.
func (e *endpoint) caSecret(name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name},
		Data: map[string][]byte{"ca.crt": certificatePEM(e.Server)}}
}

// certificatePEM is the PEM of the certificate of a TLS test server.
func certificatePEM(ts *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
}

// oauthClient names the endpoint, trusting the CA of the Secret caName.
func (e *endpoint) oauthClient(name, caName string) *tokenatorv1.OAuthClient {
	return &tokenatorv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tokenatorv1.OAuthClientSpec{
			OAuthEndpoint: tokenatorv1.OAuthEndpoint{
				TokenURL: e.URL + "/token",
				TLS:      &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: caName}},
			},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "creds"},
		},
	}
}

// The manager stops within maxStop of the cancellation of its context (what
// SIGTERM does) while token requests are in flight: OAuthClients whose
// endpoint answers every request with a hostile 1 MB error body, which the
// manager keeps redacting and retrying, and OAuthClients whose endpoint never
// answers. Before that, each hostile answer becomes a TokenRequestFailed
// condition that quotes nothing of the token.
func TestManagerStopsPromptlyWithHostileAnswersInFlight(t *testing.T) {
	restConfig, k8s, err := controlPlane.Start()
	if err != nil {
		t.Fatal(err)
	}
	g := NewWithT(t)
	ctx := context.Background()

	token := letters(1, hostileTokenChars)
	body := fmt.Sprintf(`{"access_token":%q,"error":%q,"error_description":%q}`,
		token, letters(2, hostileFieldChars), letters(3, hostileFieldChars/2)+" "+token[500_000:500_000+hostileFieldChars/2-1])
	hostile := startEndpoint(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, body)
	})
	hanging := startEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		// Once the body is read, the server notices when the client goes
		// away.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "shutdown-"}}
	g.Expect(k8s.Create(ctx, ns)).To(Succeed())
	create := func(obj client.Object) {
		obj.SetNamespace(ns.Name)
		g.Expect(k8s.Create(ctx, obj)).To(Succeed())
	}
	create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data: map[string][]byte{"client_id": []byte("shutdown-client"), "client_secret": []byte("shutdown-secret-0123456789")}})
	create(hostile.caSecret("hostile-ca"))
	create(hanging.caSecret("hanging-ca"))
	const hostileClients, hangingClients = 6, 2
	for i := range hostileClients {
		create(hostile.oauthClient(fmt.Sprintf("hostile-%d", i), "hostile-ca"))
	}
	for i := range hangingClients {
		create(hanging.oauthClient(fmt.Sprintf("hanging-%d", i), "hanging-ca"))
	}

	cfg := DefaultConfig()
	cfg.MetricsBindAddress, cfg.HealthProbeBindAddress = "0", "0"
	cfg.DeniedTokenNetworks = netguard.Without(netguard.DefaultDeniedNetworks, netguard.LoopbackNetworks...)
	// The default request timeout (30 s) stays: the hanging requests are
	// still in flight when the manager is stopped. Failures are retried at
	// once, so that hostile answers keep coming.
	cfg.Reconciler = controllers.DefaultOptions()
	cfg.Reconciler.Namespaces = []string{ns.Name}
	cfg.Reconciler.SkipNameValidation = true
	cfg.Reconciler.MinRequestInterval = 100 * time.Millisecond
	cfg.Reconciler.RetryBaseDelay = 100 * time.Millisecond
	cfg.Reconciler.RetryMaxDelay = 200 * time.Millisecond
	mgrCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	mgr, err := NewManager(mgrCtx, restConfig, cfg)
	g.Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 1)
	started := time.Now()
	go func() { done <- mgr.Start(mgrCtx) }()

	for i := range hostileClients {
		name := fmt.Sprintf("hostile-%d", i)
		g.Eventually(func() *metav1.Condition {
			oc := &tokenatorv1.OAuthClient{}
			if k8s.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: name}, oc) != nil {
				return nil
			}
			return meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
		}).WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).Should(And(
			HaveField("Reason", tokenatorv1.ReasonTokenRequestFailed),
			HaveField("Message", ContainSubstring("400")),
			HaveField("Message", Not(ContainSubstring(token[500_000:500_000+8]))),
		), "the Ready condition of %s", name)
	}
	t.Logf("every hostile OAuthClient had its TokenRequestFailed condition %v after the manager started", time.Since(started).Round(time.Millisecond))
	g.Eventually(hanging.inFlight.Load).WithTimeout(10*time.Second).Should(BeEquivalentTo(hangingClients), "hanging requests in flight")
	// Retries of the hostile clients go on.
	g.Eventually(hostile.received.Load).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 3*hostileClients))

	stopping := time.Now()
	cancel()
	select {
	case err := <-done:
		g.Expect(err).NotTo(HaveOccurred())
		t.Logf("the manager stopped %v after its context was cancelled, with %d hostile answers received and %d hanging requests in flight",
			time.Since(stopping).Round(time.Millisecond), hostile.received.Load(), hangingClients)
	case <-time.After(maxStop):
		t.Fatalf("the manager did not stop within %v of the cancellation", maxStop)
	}
	// The requests were cancelled, not left running.
	g.Eventually(hanging.inFlight.Load).WithTimeout(maxStop).Should(BeZero(), "hanging requests in flight after the stop")
	if leaked := leakedWindow(logs.String(), token); leaked != "" {
		t.Errorf("the logs hold %q of the token", leaked)
	}
}

// leakedWindow returns 8 characters of secret found in text, ignoring case,
// or "". It indexes the 8-character windows of text (the logs), not of the
// secret.
func leakedWindow(text, secret string) string {
	text, secret = strings.ToLower(text), strings.ToLower(secret)
	windows := make(map[string]bool, len(text))
	for i := 0; i+8 <= len(text); i++ {
		windows[text[i:i+8]] = true
	}
	for i := 0; i+8 <= len(secret); i++ {
		if windows[secret[i:i+8]] {
			return secret[i : i+8]
		}
	}
	return ""
}

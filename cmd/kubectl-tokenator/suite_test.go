package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers"
	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/operator"
)

// The tests run the plugin's commands, in process, against a real
// kube-apiserver and etcd (envtest) and a manager of the operator that
// watches every namespace, each test in namespaces of its own with its own
// local token endpoint. The plugin reaches the API server through a
// kubeconfig file, as kubectl does.
var (
	controlPlane = &testutil.ControlPlane{
		CRDDir: filepath.Join("..", "..", "config", "crd", "bases"),
		Scheme: operator.NewScheme(),
	}
	k8s        client.Client
	kubeconfig string
	cacheDir   string
	startOnce  sync.Once
	startErr   error
	stopMgr    context.CancelFunc
	mgrDone    = make(chan error, 1)

	// Everything the commands printed, every client secret and every token
	// endpoint: the leak scan of TestMain looks for the secrets and tokens in
	// the output.
	mu        sync.Mutex
	printed   []string
	secrets   []string
	endpoints []*oauthtest.Server
)

// The context of the kubeconfig the tests name with --context; the current
// context points at a closed port, so that a command that ignored --context
// would fail.
const testContext = "envtest"

const (
	timeout = 30 * time.Second
	poll    = 100 * time.Millisecond
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	dir, err := os.MkdirTemp("", "kubectl-tokenator-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kubeconfig, cacheDir = filepath.Join(dir, "kubeconfig"), filepath.Join(dir, "cache")
	code := m.Run()
	if code == 0 && controlPlane.Started() {
		if leaks := scanForLeaks(); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: the plugin printed secrets or tokens:\n%s\n", strings.Join(leaks, "\n"))
			code = 1
		}
	}
	if stopMgr != nil {
		stopMgr()
		select {
		case <-mgrDone:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "the manager did not stop within 30s")
		}
	}
	for _, e := range endpoints {
		e.Close()
	}
	if err := controlPlane.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the test control plane: %v\n", err)
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// scanForLeaks looks for every client secret, every issued token and every
// JWT signature in what the commands printed.
func scanForLeaks() []string {
	mu.Lock()
	defer mu.Unlock()
	needles := append([]string(nil), secrets...)
	for _, e := range endpoints {
		for _, tok := range e.Issued() {
			needles = append(needles, tok)
			if parts := strings.Split(tok, "."); len(parts) == 3 {
				needles = append(needles, parts[2])
			}
		}
	}
	haystacks := map[string]string{}
	for i, p := range printed {
		haystacks[fmt.Sprintf("output %d", i)] = p
	}
	leaks := testutil.FindLeaks(needles, haystacks)
	fmt.Fprintf(os.Stderr, "leak scan: %d secrets, tokens and signatures looked for in %d outputs\n", len(needles), len(printed))
	return leaks
}

// requireEnv starts the control plane and the manager once, and writes the
// kubeconfig of the plugin.
func requireEnv(t *testing.T) {
	t.Helper()
	startOnce.Do(func() {
		var cfg *rest.Config
		if cfg, k8s, startErr = controlPlane.Start(); startErr != nil {
			return
		}
		if startErr = writeKubeconfig(cfg, kubeconfig); startErr != nil {
			return
		}
		startErr = startManager(cfg)
	})
	if startErr != nil {
		t.Fatal(startErr)
	}
}

// writeKubeconfig writes a kubeconfig whose context testContext reaches the
// API server of cfg, and whose current context reaches nothing.
func writeKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[testContext] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[testContext] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts[testContext] = &clientcmdapi.Context{Cluster: testContext, AuthInfo: testContext, Namespace: "default"}
	kc.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	kc.AuthInfos["nowhere"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["nowhere"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: "nowhere"}
	kc.CurrentContext = "nowhere"
	return clientcmd.WriteToFile(*kc, path)
}

// startManager runs the operator's manager on every namespace, with short
// timings and loopback token endpoints allowed.
func startManager(restConfig *rest.Config) error {
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := operator.NewManager(ctx, restConfig, managerConfig())
	if err != nil {
		cancel()
		return err
	}
	stopMgr = cancel
	go func() { mgrDone <- mgr.Start(ctx) }()
	return nil
}

// managerConfig is the configuration of the tests' managers: no metrics or
// probes, short timings, and loopback token endpoints allowed.
func managerConfig() operator.Config {
	cfg := operator.DefaultConfig()
	cfg.MetricsBindAddress = "0"
	cfg.HealthProbeBindAddress = "0"
	cfg.TokenRequestTimeout = 2 * time.Second
	cfg.DeniedTokenNetworks = netguard.Without(netguard.DefaultDeniedNetworks, netguard.LoopbackNetworks...)
	cfg.Reconciler = controllers.Options{
		MinRequestInterval:      time.Second,
		RetryBaseDelay:          time.Second,
		RetryMaxDelay:           4 * time.Second,
		MaxConcurrentReconciles: 4,
		SkipNameValidation:      true,
	}
	return cfg
}

// result is what a command printed and returned.
type result struct {
	out, errOut string
	err         error
}

// kt runs `kubectl tokenator ARGS` with the test kubeconfig and context.
func kt(t *testing.T, args ...string) result {
	t.Helper()
	return ktWith(t, kubeconfig, args...)
}

// ktWith runs `kubectl tokenator ARGS` with the context testContext of the
// kubeconfig file at path.
func ktWith(t *testing.T, path string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := newRootCommand(streams)
	cmd.SetArgs(append([]string{"--kubeconfig", path, "--context", testContext, "--cache-dir", cacheDir}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := execute(ctx, cmd, streams)
	mu.Lock()
	printed = append(printed, out.String(), errOut.String())
	mu.Unlock()
	t.Logf("kubectl tokenator %s\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

// env is one test's namespace and token endpoint, with the credentials
// Secret "creds" of the endpoint's one client and its CA in "idp-ca".
type env struct {
	t   *testing.T
	g   *WithT
	ctx context.Context
	ns  string
	idp *oauthtest.Server
}

func randomString(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func newEnv(t *testing.T, cfg oauthtest.Config) *env {
	t.Helper()
	requireEnv(t)
	e := &env{t: t, g: NewWithT(t), ctx: context.Background()}
	id, secret := randomString("client-"), randomString("secret-")
	cfg.Clients = map[string]string{id: secret}
	e.idp = oauthtest.NewServer(cfg)
	mu.Lock()
	secrets = append(secrets, secret)
	endpoints = append(endpoints, e.idp)
	mu.Unlock()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kt-"}}
	e.g.Expect(k8s.Create(e.ctx, ns)).To(Succeed())
	e.ns = ns.Name
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "idp-ca"}, Data: map[string][]byte{"ca.crt": e.idp.CAPEM()}})
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data: map[string][]byte{"client_id": []byte(id), "client_secret": []byte(secret)}})
	return e
}

func (e *env) create(obj client.Object) {
	e.t.Helper()
	obj.SetNamespace(e.ns)
	e.g.Expect(k8s.Create(e.ctx, obj)).To(Succeed())
}

// oauthClient creates an OAuthClient of the test's endpoint, adjusted by mutate.
func (e *env) oauthClient(name string, encoding tokenatorv1.Encoding, mutate func(*tokenatorv1.OAuthClient)) {
	e.t.Helper()
	oc := &tokenatorv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tokenatorv1.OAuthClientSpec{
			OAuthEndpoint: tokenatorv1.OAuthEndpoint{
				TokenURL: e.idp.URL(),
				Encoding: encoding,
				TLS:      &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "idp-ca"}},
			},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "creds"},
		},
	}
	if mutate != nil {
		mutate(oc)
	}
	e.create(oc)
}

func (e *env) get(name string) *tokenatorv1.OAuthClient {
	e.t.Helper()
	oc := &tokenatorv1.OAuthClient{}
	e.g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, oc)).To(Succeed())
	return oc
}

// waitReason waits until the Ready condition of the current generation has reason.
func (e *env) waitReason(name, reason string) *tokenatorv1.OAuthClient {
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

func (e *env) token(secretName string) string {
	e.t.Helper()
	s := &corev1.Secret{}
	e.g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: secretName}, s)).To(Succeed())
	return string(s.Data[tokenatorv1.SecretKeyAccessToken])
}

// ktNoContext runs a command with the test kubeconfig and its current context.
func ktNoContext(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := newRootCommand(streams)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cacheDir, "--request-timeout", "5s"}, args...))
	err := execute(context.Background(), cmd, streams)
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

// provider creates a ClusterOAuthProvider of the test's endpoint that allows
// the test's namespace, with central credentials and CA copied from the
// test's namespace into the manager's cluster resource namespace, adjusted by
// mutate; it is deleted when the test ends.
func (e *env) provider(mutate func(*tokenatorv1.ClusterOAuthProvider)) *tokenatorv1.ClusterOAuthProvider {
	e.t.Helper()
	crn := controllers.ClusterResourceNamespaceDefault
	if err := k8s.Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: crn}}); err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
	name := randomString("coap-")
	for _, n := range []string{"creds", "idp-ca"} {
		s := &corev1.Secret{}
		e.g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: n}, s)).To(Succeed())
		copied := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: crn, Name: name + "-" + n}, Data: s.Data}
		e.g.Expect(k8s.Create(e.ctx, copied)).To(Succeed())
		e.t.Cleanup(func() { _ = k8s.Delete(context.Background(), copied) })
	}
	p := &tokenatorv1.ClusterOAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tokenatorv1.ClusterOAuthProviderSpec{
			OAuthEndpoint: tokenatorv1.OAuthEndpoint{
				TokenURL: e.idp.URL(),
				TLS:      &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: name + "-idp-ca"}},
			},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: name + "-creds"},
			AllowedNamespaces:    &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": e.ns}},
		},
	}
	if mutate != nil {
		mutate(p)
	}
	e.g.Expect(k8s.Create(e.ctx, p)).To(Succeed())
	e.t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
	return p
}

//go:build e2e

// Package e2e runs the manager binary against a real kube-apiserver and etcd,
// installed from the rendered config/default and acting as the ServiceAccount
// the shipped manifests give it: every scenario passes with exactly the RBAC
// and admission policy shipped.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/internal/testutil/kcm"
	"github.com/tokenator-dev/tokenator/operator"
)

const repoRoot = "../.."

var (
	adminConfig   *rest.Config
	admin         client.Client
	managerBinary string
	workDir       string
	apiServerAddr string
	// controllerManager runs the garbage collector and the namespace
	// controller, as on a real cluster.
	controllerManager *kcm.Process
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run `make test-e2e`")
		return 1
	}
	var err error
	workDir, err = os.MkdirTemp("", "tokenator-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)

	managerBinary = filepath.Join(workDir, "manager")
	build := exec.Command("go", "build", "-o", managerBinary, "./cmd")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the manager: %v\n%s", err, out)
		return 1
	}

	env := &envtest.Environment{}
	// As on OpenShift and hardened clusters: setting blockOwnerDeletion on the
	// derived Secret's ownerReference needs update on oauthclients/finalizers.
	env.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	// The audiences a k3s API server accepts for itself, which the shipped
	// ServiceAccount token admission policy lists.
	env.ControlPlane.GetAPIServer().Configure().Set("api-audiences", strings.Join(apiServerAudiences, ","))
	if _, err := env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "starting the control plane: %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	adminConfig = user.Config()
	u, err := url.Parse(adminConfig.Host)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	apiServerAddr = u.Host
	scheme := operator.NewScheme()
	_ = apiextensionsv1.AddToScheme(scheme)
	admin, err = client.New(adminConfig, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := install(); err != nil {
		fmt.Fprintf(os.Stderr, "installing config/default: %v\n", err)
		return 1
	}
	// Started once the CRD is established, so that the garbage collector
	// watches OAuthClients from the start.
	controllerManager, err = kcm.Start(env, time.Minute)
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting kube-controller-manager: %v\n", err)
		return 1
	}
	defer controllerManager.Stop()

	code := m.Run()
	if code == 0 {
		if leaks := scanForLeaks(); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: secrets leaked:\n%s\n", strings.Join(leaks, "\n"))
			code = 1
		}
	}
	return code
}

// install applies the rendered config/default, but for the Deployment: the
// manager runs here as a process.
func install() error {
	objs, err := kustomizeBuild("config/default")
	if err != nil {
		return err
	}
	ctx := context.Background()
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			continue
		}
		if err := admin.Patch(ctx, o, client.Apply, client.FieldOwner("e2e"), client.ForceOwnership); err != nil {
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	established := false
	for !established && time.Now().Before(deadline) {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := admin.Get(ctx, types.NamespacedName{Name: "oauthclients.tokenator.dev"}, &crd); err == nil {
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !established {
		return fmt.Errorf("the CRD was not established")
	}
	// The API server enforces a new admission policy once it has seen it and
	// its binding: wait until it refuses the ServiceAccount a Secret of no
	// OAuthClient's (a dry run), and a token of its own for no audience.
	sa, err := client.New(impersonating(adminConfig), client.Options{Scheme: admin.Scheme()})
	if err != nil {
		return err
	}
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "policy-probe", Namespace: systemNamespace}}
	if err := waitRefused(deadline, "Secret", func() error { return sa.Create(ctx, probe.DeepCopy(), client.DryRunAll) }); err != nil {
		return err
	}
	manager := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tokenator-controller-manager", Namespace: systemNamespace}}
	return waitRefused(deadline, "ServiceAccount token", func() error {
		return sa.SubResource("token").Create(ctx, manager, &authenticationv1.TokenRequest{})
	})
}

// waitRefused calls try until the API server refuses it with a message of a
// tokenator admission policy.
func waitRefused(deadline time.Time, what string, try func() error) error {
	for time.Now().Before(deadline) {
		if err := try(); err != nil && strings.Contains(err.Error(), "tokenator may only") {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the %s admission policy is not enforced", what)
}

// secrets collects what must never leak.
var secrets []string
var endpoints []*oauthtest.Server

func scanForLeaks() []string {
	needles := append([]string(nil), secrets...)
	for _, e := range endpoints {
		needles = append(needles, e.Issued()...)
		needles = append(needles, e.Assertions()...)
	}
	ctx := context.Background()
	haystacks := map[string]string{"manager output": allOutputs.text(), "kube-controller-manager output": controllerManager.Output()}
	var evs eventsv1.EventList
	if err := admin.List(ctx, &evs); err == nil {
		for _, e := range evs.Items {
			haystacks["event "+e.Namespace+"/"+e.Name] = e.Note
		}
	}
	var ocs tokenatorv1.OAuthClientList
	if err := admin.List(ctx, &ocs); err == nil {
		for _, oc := range ocs.Items {
			haystacks["status "+oc.Namespace+"/"+oc.Name] = fmt.Sprintf("%+v", oc.Status)
		}
	}
	leaks := testutil.FindLeaks(needles, haystacks)
	fmt.Fprintf(os.Stderr, "leak scan: %d secrets and tokens looked for in %d KiB of debug-level manager output, %d Events and %d statuses\n",
		len(needles), len(haystacks["manager output"])/1024, len(evs.Items), len(ocs.Items))
	return leaks
}

const (
	timeout = 60 * time.Second
	poll    = 200 * time.Millisecond
)

// world is the namespace, endpoint and credentials of the scenario.
type world struct {
	t   *testing.T
	g   *WithT
	ctx context.Context
	ns  string
	idp *oauthtest.Server
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, g: NewWithT(t), ctx: context.Background()}
	secret := fmt.Sprintf("e2e-secret-%d", time.Now().UnixNano())
	secrets = append(secrets, secret)
	w.idp = oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{"e2e-client": secret}})
	endpoints = append(endpoints, w.idp)
	t.Cleanup(w.idp.Close)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-"}}
	w.g.Expect(admin.Create(w.ctx, ns)).To(Succeed())
	w.ns = ns.Name
	w.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data: map[string][]byte{"client_id": []byte("e2e-client"), "client_secret": []byte(secret)}})
	w.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "idp-ca"}, Data: map[string][]byte{"ca.crt": w.idp.CAPEM()}})
	return w
}

func (w *world) create(obj client.Object) {
	w.t.Helper()
	obj.SetNamespace(w.ns)
	w.g.Expect(admin.Create(w.ctx, obj)).To(Succeed())
}

func (w *world) oauthClient(name string) *tokenatorv1.OAuthClient {
	return &tokenatorv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tokenatorv1.OAuthClientSpec{
			OAuthEndpoint: tokenatorv1.OAuthEndpoint{
				TokenURL: w.idp.URL(),
				TLS:      &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "idp-ca"}},
			},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "creds"},
		},
	}
}

func (w *world) waitReason(name, reason string) *tokenatorv1.OAuthClient {
	w.t.Helper()
	oc := &tokenatorv1.OAuthClient{}
	w.g.Eventually(func(g Gomega) {
		g.Expect(admin.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: name}, oc)).To(Succeed())
		c := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(oc.Generation))
		g.Expect(c.Reason).To(Equal(reason), c.Message)
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	return oc
}

func (w *world) token(name string) string {
	s := &corev1.Secret{}
	w.g.Expect(admin.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: name}, s)).To(Succeed())
	return string(s.Data["access_token"])
}

func (w *world) waitNewToken(name, old string) {
	w.t.Helper()
	w.g.Eventually(func() string {
		s := &corev1.Secret{}
		if err := admin.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: name}, s); err != nil {
			return old
		}
		return string(s.Data["access_token"])
	}).WithTimeout(timeout).WithPolling(poll).ShouldNot(Or(Equal(old), BeEmpty()))
}

// TestOperator runs the scenarios in order against two managers with leader
// election, both reaching the API server through a proxy that the test cuts.
func TestOperator(t *testing.T) {
	w := newWorld(t)
	proxy, err := startProxy(apiServerAddr)
	w.g.Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := writeKubeconfig(workDir, "kubeconfig", "https://"+proxy.addr, adminConfig)
	w.g.Expect(err).NotTo(HaveOccurred())
	a := startManager(t, "a", kubeconfig)
	b := startManager(t, "b", kubeconfig)
	w.g.Eventually(func() bool { return a.isLeader() || b.isLeader() }).WithTimeout(timeout).Should(BeTrue(), "a leader is elected")
	follower := a
	if a.isLeader() {
		follower = b
	}

	t.Run("only the leader requests tokens", func(t *testing.T) {
		for _, name := range []string{"orders", "billing", "stock"} {
			w.create(w.oauthClient(name))
		}
		for _, name := range []string{"orders", "billing", "stock"} {
			w.waitReason(name, tokenatorv1.ReasonTokenIssued)
		}
		w.g.Consistently(w.idp.Requests).WithTimeout(3 * time.Second).Should(Equal(3))
		w.g.Expect(follower.isLeader()).To(BeFalse())
	})

	t.Run("scenarios with the shipped RBAC", func(t *testing.T) {
		tok := w.token("orders-token")
		w.g.Eventually(func() error {
			oc := &tokenatorv1.OAuthClient{}
			if err := admin.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: "orders"}, oc); err != nil {
				return err
			}
			oc.Annotations = map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: "e2e"}
			return admin.Update(w.ctx, oc)
		}).WithTimeout(timeout).Should(Succeed())
		w.waitNewToken("orders-token", tok)

		w.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "taken-token"}, Data: map[string][]byte{"k": []byte("v")}})
		w.create(w.oauthClient("taken"))
		w.waitReason("taken", tokenatorv1.ReasonSecretConflict)

		missing := w.oauthClient("nocreds")
		missing.Spec.CredentialsSecretRef.Name = "absent"
		w.create(missing)
		w.waitReason("nocreds", tokenatorv1.ReasonCredentialsNotFound)

		var evs eventsv1.EventList
		w.g.Expect(admin.List(w.ctx, &evs, client.InNamespace(w.ns))).To(Succeed())
		w.g.Expect(evs.Items).NotTo(BeEmpty(), "Events are written with the shipped RBAC")
	})

	t.Run("deletion with the garbage collector and the namespace controller", func(t *testing.T) { testDeletion(t, w) })

	t.Run("a ClusterOAuthProvider with central credentials, with the shipped RBAC", func(t *testing.T) {
		providerScenario(t, w)
	})

	t.Run("metrics over HTTPS with the shipped RBAC", func(t *testing.T) {
		// The manager reviews scrapers' tokens with the shipped metrics-auth
		// ClusterRole; a scraper needs the shipped metrics-reader ClusterRole.
		allowed := serviceAccountToken(w, "prometheus")
		notAllowed := serviceAccountToken(w, "someone")
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "e2e-prometheus-" + w.ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tokenator-metrics-reader"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: w.ns}}}
		w.g.Expect(admin.Create(w.ctx, binding)).To(Succeed())
		t.Cleanup(func() { _ = admin.Delete(context.Background(), binding) })
		for _, m := range []*managerProcess{a, b} {
			code, _ := scrapeMetrics(w.g, m.metricsAddr, "")
			w.g.Expect(code).To(Equal(http.StatusUnauthorized), m.name)
			code, _ = scrapeMetrics(w.g, m.metricsAddr, notAllowed)
			w.g.Expect(code).To(Equal(http.StatusForbidden), m.name)
			code, body := scrapeMetrics(w.g, m.metricsAddr, allowed)
			w.g.Expect(code).To(Equal(http.StatusOK), m.name)
			w.g.Expect(body).To(ContainSubstring("controller_runtime_"), m.name)
		}
	})

	t.Run("the API server away for a while", func(t *testing.T) {
		before := w.idp.Requests()
		statuses := map[string]string{}
		for _, name := range []string{"orders", "billing", "stock"} {
			statuses[name] = w.waitReason(name, tokenatorv1.ReasonTokenIssued).ResourceVersion
		}
		proxy.Cut()
		time.Sleep(15 * time.Second)
		w.g.Expect(a.running() && b.running()).To(BeTrue(), "the managers keep running while the API server is away")
		w.g.Expect(proxy.Restore()).To(Succeed())

		w.create(w.oauthClient("after-outage"))
		w.waitReason("after-outage", tokenatorv1.ReasonTokenIssued)
		w.g.Consistently(w.idp.Requests).WithTimeout(3*time.Second).Should(Equal(before+1), "no burst of token requests after the outage")
		for name, rv := range statuses {
			w.g.Expect(w.waitReason(name, tokenatorv1.ReasonTokenIssued).ResourceVersion).To(Equal(rv), "%s untouched", name)
		}
		w.g.Expect(a.running() && b.running()).To(BeTrue(), "both managers resumed")
	})

	t.Run("the leader killed: the other takes over", func(t *testing.T) {
		before := w.idp.Requests()
		holder := leaseHolder(w)
		leader, follower := a, b
		if b.holds(holder) {
			leader, follower = b, a
		}
		w.g.Expect(leader.holds(holder)).To(BeTrue(), "the lease holder %q is one of the managers", holder)
		leader.kill()
		w.create(w.oauthClient("after-failover"))
		// The lease (30s) must expire before the other manager takes over.
		w.waitReason("after-failover", tokenatorv1.ReasonTokenIssued)
		w.g.Expect(follower.holds(leaseHolder(w))).To(BeTrue(), "the other manager holds the lease")
		w.g.Consistently(w.idp.Requests).WithTimeout(3*time.Second).Should(Equal(before+1), "valid tokens are not requested again")
	})
}

// serviceAccountToken creates a ServiceAccount in the world's namespace and
// returns a token of it (TokenRequest).
func serviceAccountToken(w *world, name string) string {
	w.t.Helper()
	w.g.Expect(admin.Create(w.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns}})).To(Succeed())
	cs, err := kubernetes.NewForConfig(adminConfig)
	w.g.Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(w.ns).CreateToken(w.ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	w.g.Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// scrapeMetrics gets /metrics over HTTPS with a bearer token, if any.
func scrapeMetrics(g *WithT, addr, token string) (int, string) {
	code, body, err := testutil.ScrapeMetrics(addr, token)
	g.Expect(err).NotTo(HaveOccurred())
	return code, body
}

func leaseHolder(w *world) string {
	var lease coordinationv1.Lease
	w.g.Expect(admin.Get(w.ctx, types.NamespacedName{Namespace: systemNamespace, Name: "tokenator.tokenator.dev"}, &lease)).To(Succeed())
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// TestLeastPrivilege shows what the manager's ServiceAccount cannot do with the
// shipped RBAC and admission policy.
func TestLeastPrivilege(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sa, err := client.New(impersonating(adminConfig), client.Options{Scheme: admin.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-"}}
	g.Expect(admin.Create(ctx, ns)).To(Succeed())

	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-password", Namespace: ns.Name}, Data: map[string][]byte{"password": []byte("keep")}}
	g.Expect(admin.Create(ctx, foreign)).To(Succeed())

	denied := func(what string, err error, wantMsg string) {
		t.Helper()
		g.Expect(err).To(HaveOccurred(), "%s was allowed", what)
		g.Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "%s: %v", what, err)
		if wantMsg != "" {
			g.Expect(err.Error()).To(ContainSubstring(wantMsg), what)
		}
	}

	// Secrets it did not create: not changed, not deleted, not replaced.
	patch := []byte(`{"data":{"password":"cHduZWQ="}}`)
	denied("patching a foreign Secret", sa.Patch(ctx, foreign.DeepCopy(), client.RawPatch(types.MergePatchType, patch)), "tokenator may only")
	denied("deleting a foreign Secret", sa.Delete(ctx, foreign.DeepCopy()), "tokenator may only change or delete Secrets it created")
	denied("labelling a foreign Secret as its own", sa.Patch(ctx, foreign.DeepCopy(), client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"tokenator"}}}`))), "tokenator may only")
	denied("updating a foreign Secret", sa.Update(ctx, foreign.DeepCopy()), "")
	denied("creating an unlabelled Secret", sa.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns.Name}}),
		"tokenator may only write Opaque Secrets labelled app.kubernetes.io/managed-by=tokenator and controlled by an OAuthClient")
	var still corev1.Secret
	g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(foreign), &still)).To(Succeed())
	g.Expect(string(still.Data["password"])).To(Equal("keep"))
	g.Expect(still.Labels).To(BeEmpty())

	// Nothing else it does not need.
	oc := &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns.Name},
		Spec: tokenatorv1.OAuthClientSpec{OAuthEndpoint: tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/token"}, CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "c"}}}
	denied("creating an OAuthClient", sa.Create(ctx, oc.DeepCopy()), "")
	g.Expect(admin.Create(ctx, oc)).To(Succeed())
	oc.Spec.Audience = "changed"
	denied("changing an OAuthClient's spec", sa.Update(ctx, oc), "")
	denied("deleting an OAuthClient", sa.Delete(ctx, oc), "")
	denied("creating a ConfigMap", sa.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns.Name}}), "")
	denied("listing Pods", sa.List(ctx, &corev1.PodList{}), "")
	denied("creating a ServiceAccount", sa.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns.Name}}), "")
	// It may mint ServiceAccount tokens, but cannot opt a ServiceAccount in.
	denied("opting a ServiceAccount in to its tokens", sa.Patch(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns.Name}},
		client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"tokenator.dev/token-audiences":"api://x"}}}`))), "")

	// Secrets of its own are Opaque, labelled and controlled by an OAuthClient:
	// neither the label nor the ownerReference alone, which a tenant can add to
	// any Secret, and no other type.
	label := map[string]string{"app.kubernetes.io/managed-by": "tokenator"}
	owner := func(block bool) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: tokenatorv1.GroupVersion.String(), Kind: "OAuthClient", Name: oc.Name, UID: oc.UID,
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(block)}}
	}
	const ownMsg = "tokenator may only write Opaque Secrets labelled app.kubernetes.io/managed-by=tokenator and controlled by an OAuthClient"
	const createdMsg = "tokenator may only change or delete Secrets it created"
	saToken := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "minted", Namespace: ns.Name, Labels: label, OwnerReferences: owner(false),
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}}, Type: corev1.SecretTypeServiceAccountToken}
	denied("creating a ServiceAccount token Secret", sa.Create(ctx, saToken), ownMsg)
	for _, typ := range []corev1.SecretType{corev1.SecretTypeDockerConfigJson, corev1.SecretTypeTLS, corev1.SecretTypeBasicAuth, "example.com/custom"} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "typed", Namespace: ns.Name, Labels: label, OwnerReferences: owner(false)}, Type: typ}
		switch typ {
		case corev1.SecretTypeDockerConfigJson:
			s.Data = map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)}
		case corev1.SecretTypeTLS:
			s.Data = map[string][]byte{corev1.TLSCertKey: []byte("x"), corev1.TLSPrivateKeyKey: []byte("x")}
		case corev1.SecretTypeBasicAuth:
			s.Data = map[string][]byte{corev1.BasicAuthUsernameKey: []byte("x"), corev1.BasicAuthPasswordKey: []byte("x")}
		}
		denied("creating a "+string(typ)+" Secret", sa.Create(ctx, s), ownMsg)
	}
	denied("creating a labelled Secret without an ownerReference", sa.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: "x", Namespace: ns.Name, Labels: label}}), ownMsg)
	denied("creating an OAuthClient's Secret without the label", sa.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: "x", Namespace: ns.Name, OwnerReferences: owner(false)}}), ownMsg)
	denied("applying a ServiceAccount token Secret", sa.Patch(ctx, saToken.DeepCopy(), client.Apply, client.FieldOwner("tokenator")), ownMsg)

	// A tenant's Secrets that carry the label, or an OAuthClient's controller
	// ownerReference: not changed, not deleted, not adopted.
	tenantLabelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-labelled", Namespace: ns.Name, Labels: label},
		Data: map[string][]byte{"password": []byte("keep")}}
	tenantOwned := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-owned", Namespace: ns.Name, OwnerReferences: owner(false)},
		Data: map[string][]byte{"password": []byte("keep")}}
	for _, s := range []*corev1.Secret{tenantLabelled, tenantOwned} {
		g.Expect(admin.Create(ctx, s)).To(Succeed())
		denied("patching "+s.Name, sa.Patch(ctx, s.DeepCopy(), client.RawPatch(types.MergePatchType, patch)), "")
		denied("updating "+s.Name, sa.Update(ctx, s.DeepCopy()), "")
		denied("deleting "+s.Name, sa.Delete(ctx, s.DeepCopy()), createdMsg)
		denied("deleting "+s.Name+" with a UID precondition", sa.Delete(ctx, s.DeepCopy(), client.Preconditions{UID: &s.UID}), createdMsg)
	}
	// Completed to look like its own, the tenant's Secret is still not its own before.
	denied("adopting a tenant's OAuthClient-owned Secret", sa.Patch(ctx, tenantOwned.DeepCopy(), client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"tokenator"}}}`))), createdMsg)
	denied("adopting a tenant's labelled Secret", sa.Patch(ctx, tenantLabelled.DeepCopy(), client.RawPatch(types.MergePatchType,
		[]byte(fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":%q,"kind":"OAuthClient","name":%q,"uid":%q,"controller":true}]}}`,
			tokenatorv1.GroupVersion.String(), oc.Name, oc.UID)))), createdMsg)
	for _, s := range []*corev1.Secret{tenantLabelled, tenantOwned} {
		g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(s), &still)).To(Succeed())
		g.Expect(string(still.Data["password"])).To(Equal("keep"), s.Name)
		g.Expect(still.Labels).To(Equal(s.Labels), s.Name)
		g.Expect(still.OwnerReferences).To(HaveLen(len(s.OwnerReferences)), s.Name)
	}

	// What it needs, it can, as the manager does it: apply a Secret of its own
	// (blockOwnerDeletion: update on oauthclients/finalizers, which
	// OwnerReferencesPermissionEnforcement checks), apply it again, delete it
	// with a UID precondition.
	own := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "own-token", Namespace: ns.Name, Labels: label, OwnerReferences: owner(true)},
		Type:       corev1.SecretTypeOpaque, Data: map[string][]byte{"access_token": []byte("a")}}
	g.Expect(sa.Patch(ctx, own.DeepCopy(), client.Apply, client.FieldOwner("tokenator"))).To(Succeed())
	own.Data["access_token"] = []byte("b")
	g.Expect(sa.Patch(ctx, own.DeepCopy(), client.Apply, client.FieldOwner("tokenator"), client.ForceOwnership)).To(Succeed())
	// Its own Secret stays its own: dropping the label or the ownerReference is refused.
	denied("unlabelling its own Secret", sa.Patch(ctx, own.DeepCopy(), client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":null}}}`))), ownMsg)
	g.Expect(sa.Get(ctx, client.ObjectKeyFromObject(own), &still)).To(Succeed())
	g.Expect(string(still.Data["access_token"])).To(Equal("b"))
	g.Expect(sa.Delete(ctx, &still, client.Preconditions{UID: &still.UID})).To(Succeed())
}

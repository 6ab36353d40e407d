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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/operator"
	"github.com/tokenator-dev/tokenator/internal/testutil"
)

const repoRoot = "../.."

var (
	adminConfig   *rest.Config
	admin         client.Client
	managerBinary string
	workDir       string
	apiServerAddr string
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
	for time.Now().Before(deadline) {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := admin.Get(ctx, types.NamespacedName{Name: "oauthclients.tokenator.dev"}, &crd); err == nil {
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the CRD was not established")
}

// secrets collects what must never leak.
var secrets []string
var endpoints []*oauthtest.Server

func scanForLeaks() []string {
	needles := append([]string(nil), secrets...)
	for _, e := range endpoints {
		needles = append(needles, e.Issued()...)
	}
	ctx := context.Background()
	haystacks := map[string]string{"manager output": allOutputs.text()}
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
			TokenURL:             w.idp.URL(),
			CredentialsSecretRef: tokenatorv1.CredentialsSecretReference{Name: "creds"},
			TLS:                  &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "idp-ca"}},
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
		[]byte(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"tokenator"}}}`))), "tokenator may only change or delete Secrets it created")
	denied("updating a foreign Secret", sa.Update(ctx, foreign.DeepCopy()), "")
	denied("creating an unlabelled Secret", sa.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns.Name}}),
		"tokenator may only write Secrets labelled app.kubernetes.io/managed-by=tokenator")
	var still corev1.Secret
	g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(foreign), &still)).To(Succeed())
	g.Expect(string(still.Data["password"])).To(Equal("keep"))
	g.Expect(still.Labels).To(BeEmpty())

	// Nothing else it does not need.
	oc := &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns.Name},
		Spec: tokenatorv1.OAuthClientSpec{TokenURL: "https://idp.example.com/token", CredentialsSecretRef: tokenatorv1.CredentialsSecretReference{Name: "c"}}}
	denied("creating an OAuthClient", sa.Create(ctx, oc.DeepCopy()), "")
	g.Expect(admin.Create(ctx, oc)).To(Succeed())
	oc.Spec.Audience = "changed"
	denied("changing an OAuthClient's spec", sa.Update(ctx, oc), "")
	denied("deleting an OAuthClient", sa.Delete(ctx, oc), "")
	denied("creating a ConfigMap", sa.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns.Name}}), "")
	denied("listing Pods", sa.List(ctx, &corev1.PodList{}), "")
	denied("creating a ServiceAccount", sa.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns.Name}}), "")

	// What it needs, it can: a Secret of its own.
	own := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "own-token", Namespace: ns.Name,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "tokenator"}}}
	g.Expect(sa.Create(ctx, own)).To(Succeed())
	g.Expect(sa.Delete(ctx, own)).To(Succeed())
}

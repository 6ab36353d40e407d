package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/operator"
)

// The Lease check api looks for is the one the manager takes.
func TestLeaseName(t *testing.T) {
	NewWithT(t).Expect(leaseName).To(Equal(operator.DefaultConfig().LeaderElectionID))
}

// check api, against a control plane of its own: it fails before the CRDs
// are installed and before a manager runs, waits for both, and fails again
// once the manager stopped.
func TestCheckAPI(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	requireEnv(t)
	plane := &envtest.Environment{}
	cfg, err := plane.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = plane.Stop() })
	path := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(writeKubeconfig(cfg, path)).To(Succeed())
	check := func(args ...string) result { return ktWith(t, path, append([]string{"check", "api"}, args...)...) }

	r := check()
	g.Expect(r.err).To(MatchError("the API server does not serve tokenator.dev/v1alpha1: the CRDs are not installed (config/crd, or the chart's crds/)"))
	g.Expect(exitCode(r.err)).To(Equal(1))
	g.Expect(r.out).To(BeEmpty())
	start := time.Now()
	r = check("--wait", "1s", "--interval", "300ms")
	g.Expect(time.Since(start)).To(BeNumerically(">=", time.Second))
	g.Expect(r.err).To(MatchError("not ready after 1s: the API server does not serve tokenator.dev/v1alpha1: the CRDs are not installed (config/crd, or the chart's crds/)"))
	g.Expect(exitCode(r.err)).To(Equal(timeoutExitCode))

	// Both CRDs are needed.
	_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{ErrorIfPathMissing: true,
		Paths: []string{filepath.Join(controlPlane.CRDDir, "tokenator.dev_oauthclients.yaml")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		r = check()
		g.Expect(r.err).To(MatchError("the API server does not serve clusteroauthproviders.tokenator.dev: its CRD is not installed"))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{controlPlane.CRDDir}, ErrorIfPathMissing: true})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		r = check()
		g.Expect(r.err).To(MatchError(ContainSubstring("no manager runs: there is no leader election Lease tokenator-system/tokenator.tokenator.dev")))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	// The dry-run create is made in the namespace of -n.
	r = check("-n", "nothere")
	g.Expect(r.err).To(MatchError(ContainSubstring(`a dry-run create of an OAuthClient in namespace nothere was refused: namespaces "nothere" not found`)))

	// A manager started while check api waits: it succeeds.
	waited := make(chan result, 1)
	go func() { waited <- check("--wait", "90s", "--interval", "250ms") }()
	cs, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: defaultManagerNamespace}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	stop := startLeader(t, cfg)
	select {
	case r = <-waited:
	case <-time.After(2 * time.Minute):
		t.Fatal("check api --wait 90s did not return")
	}
	g.Expect(r.err).NotTo(HaveOccurred())
	g.Expect(r.out).To(MatchRegexp(`^The tokenator API is ready: manager \S+ holds the Lease tokenator-system/tokenator.tokenator.dev \(renewed [0-9]+s ago\)\n$`))
	r = check()
	g.Expect(r.err).NotTo(HaveOccurred())

	// Another namespace has no Lease; a Lease not renewed in time is no proof.
	r = check("--manager-namespace", "default")
	g.Expect(r.err).To(MatchError(ContainSubstring("no leader election Lease default/tokenator.tokenator.dev")))
	old := metav1.NewMicroTime(time.Now().Add(-time.Minute))
	_, err = cs.CoordinationV1().Leases("default").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: leaseName},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("gone"), LeaseDurationSeconds: ptr.To(int32(15)), RenewTime: &old}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	r = check("--manager-namespace", "default")
	g.Expect(r.err).To(MatchError(MatchRegexp(`^no manager runs: the leader election Lease default/tokenator.tokenator.dev was last renewed 6[0-9]s ago by gone, ` +
		`longer ago than its duration \(15s\)$`)))

	// The manager releases its Lease when it stops.
	stop()
	r = check()
	g.Expect(r.err).To(MatchError("no manager runs: no one holds the leader election Lease tokenator-system/tokenator.tokenator.dev (released when the manager stopped)"))
	r = check("--interval", "0s")
	g.Expect(r.err).To(MatchError("--interval must be positive"))
}

// startLeader runs a manager with leader election against cfg; stop stops
// it and waits until it has.
func startLeader(t *testing.T, cfg *rest.Config) (stop func()) {
	t.Helper()
	c := managerConfig()
	c.LeaderElection, c.LeaderElectionNS = true, defaultManagerNamespace
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := operator.NewManager(ctx, cfg, c)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stop = testutil.StartManager(t, ctx, cancel, mgr)
	t.Cleanup(stop)
	return stop
}

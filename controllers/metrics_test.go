package controllers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/operator"
)

// The manager's metrics endpoint serves token requests by host and result,
// each client's expiry and next refresh, and its Ready status. The host label
// is the --allowed-token-hosts pattern the host matched, never the tenant's
// host and port.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	addr := testutil.FreeLoopbackAddr(t)
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		c.MetricsBindAddress = addr
		c.AllowedTokenHosts = []string{"localhost"}
		c.MetricsSecure = false // --metrics-secure=false: plain HTTP, for local runs
	})
	host := "localhost"
	requests := fmt.Sprintf(`tokenator_token_requests_total{host=%q,reason="",result="success"}`, host)
	durations := fmt.Sprintf(`tokenator_token_request_duration_seconds_count{host=%q}`, host)
	var body string
	scrape := func(g Gomega) {
		resp, err := http.Get("http://" + addr + "/metrics")
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
	}
	// The registry is the process's: a run of this test before (go test
	// -count) left its requests counted.
	e.g.Eventually(scrape).WithTimeout(timeout).Should(Succeed())
	before, beforeDurations := counterValue(body, requests), counterValue(body, durations)

	oc := e.oauthClient("api")
	oc.Spec.TokenURL = strings.Replace(e.idp.URL(), "127.0.0.1", "localhost", 1)
	e.create(oc)
	st := e.waitReady("api").Status
	e.g.Eventually(func(g Gomega) {
		scrape(g)
		g.Expect(body).To(ContainSubstring(fmt.Sprintf("%s %d", requests, before+1)))
	}).WithTimeout(timeout).Should(Succeed())
	labels := fmt.Sprintf(`name="api",namespace=%q`, e.ns)
	for _, want := range []string{
		fmt.Sprintf("%s %d", durations, beforeDurations+1),
		fmt.Sprintf(`tokenator_token_expiration_timestamp_seconds{%s} %s`, labels, promFloat(st.ExpiresAt.Unix())),
		fmt.Sprintf(`tokenator_token_refresh_timestamp_seconds{%s} %s`, labels, promFloat(st.RefreshAt.Unix())),
		fmt.Sprintf(`tokenator_oauthclient_ready_status{condition="True",%s,reason="TokenIssued"} 1`, labels),
		fmt.Sprintf(`tokenator_oauthclient_failed_attempts{%s} 0`, labels),
	} {
		e.g.Expect(body).To(ContainSubstring(want))
	}
	e.g.Expect(body).NotTo(MatchRegexp(`tokenator_oauthclient_ready_status\{condition="(False|Unknown)",%s`, regexp.QuoteMeta(labels)), "only the current status has a series")
	// Other tests of the process may allow 127.0.0.1 as a host pattern, a
	// label of their own; a host with a port is never one.
	e.g.Expect(body).NotTo(MatchRegexp(`tokenator_token_request[a-z_]*\{host="[^"]*:[0-9]+"`), "a tenant's host and port are never a label")
	e.g.Expect(body).NotTo(ContainSubstring(e.clientSecret))
	e.g.Expect(body).NotTo(ContainSubstring(e.token("api-token")))

	// Deleted: its series go.
	e.g.Expect(k8s.Delete(e.ctx, e.get("api"))).To(Succeed())
	e.g.Eventually(func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}).WithTimeout(timeout).ShouldNot(ContainSubstring(labels))
}

// With --metrics-secure (the default), the metrics endpoint serves HTTPS and
// asks the API server about every scraper: no token is refused with 401, a
// ServiceAccount's token without RBAC with 403, and a ServiceAccount bound to
// the shipped metrics-reader ClusterRole reads the metrics.
func TestSecureMetricsEndpoint(t *testing.T) {
	t.Parallel()
	addr := testutil.FreeLoopbackAddr(t)
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		c.MetricsBindAddress = addr
		c.MetricsSecure = true
	})
	e.create(e.oauthClient("api"))
	e.waitReady("api")

	// The role config/rbac ships for scrapers, bound to one ServiceAccount.
	raw, err := os.ReadFile(filepath.Join("..", "config", "rbac", "metrics_reader_role.yaml"))
	e.g.Expect(err).NotTo(HaveOccurred())
	objs, err := testutil.DecodeObjects(raw)
	e.g.Expect(err).NotTo(HaveOccurred())
	e.g.Expect(objs).To(HaveLen(1))
	var reader rbacv1.ClusterRole
	e.g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, &reader)).To(Succeed())
	reader.Name = "metrics-reader-" + e.ns
	e.g.Expect(k8s.Create(e.ctx, &reader)).To(Succeed())
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: reader.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: e.ns}}}
	e.g.Expect(k8s.Create(e.ctx, binding)).To(Succeed())
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), binding)
		_ = k8s.Delete(context.Background(), &reader)
	})
	allowed := serviceAccountToken(e, "prometheus")
	notAllowed := serviceAccountToken(e, "someone")

	scrape := func(g Gomega, token string) (int, string) {
		code, body, err := testutil.ScrapeMetrics(addr, token)
		g.Expect(err).NotTo(HaveOccurred())
		return code, body
	}
	e.g.Eventually(func(g Gomega) {
		code, _ := scrape(g, "")
		g.Expect(code).To(Equal(http.StatusUnauthorized))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	// A token the API server does not know is refused too (controller-runtime
	// answers 500: the TokenReview says why it failed).
	code, body := scrape(e.g, "not-a-token")
	e.g.Expect(code).NotTo(Equal(http.StatusOK))
	e.g.Expect(body).NotTo(ContainSubstring("tokenator_"))
	code, body = scrape(e.g, notAllowed)
	e.g.Expect(code).To(Equal(http.StatusForbidden), body)
	e.g.Expect(body).NotTo(ContainSubstring("tokenator_"))
	code, body = scrape(e.g, allowed)
	e.g.Expect(code).To(Equal(http.StatusOK), body)
	e.g.Expect(body).To(ContainSubstring("tokenator_token_requests_total{"))
	e.g.Expect(body).To(ContainSubstring(fmt.Sprintf(`tokenator_oauthclient_ready_status{condition="True",name="api",namespace=%q,reason="TokenIssued"} 1`, e.ns)))

	// Plain HTTP gets no metrics from the HTTPS endpoint.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.g.Expect(string(b)).NotTo(ContainSubstring("tokenator_"))
	}
}

// serviceAccountToken creates a ServiceAccount in the test's namespace and
// returns a token of it from the API server's TokenRequest API.
func serviceAccountToken(e *testEnv, name string) string {
	e.t.Helper()
	e.g.Expect(k8s.Create(e.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}})).To(Succeed())
	cs, err := kubernetes.NewForConfig(restConfig)
	e.g.Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(e.ns).CreateToken(e.ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	e.g.Expect(err).NotTo(HaveOccurred())
	e.g.Expect(tr.Status.Token).NotTo(BeEmpty())
	return tr.Status.Token
}

// counterValue is the value of the series (its name and labels) in a
// scrape, 0 when absent.
func counterValue(body, series string) int {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.Atoi(v)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

func promFloat(v int64) string {
	return fmt.Sprintf("%g", float64(v))
}

// A token about to expire while refreshes keep failing: a Warning Event says so
// before it expires, and the metrics show the expiry with Ready=False.
func TestExpiringTokenWarning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.Lucca, Lifetime: 12 * time.Second})
	e.create(e.oauthClient("api"))
	st := e.waitReady("api").Status
	e.idp.SetFault(oauthtest.Fault{Status: 503})

	var warning eventsv1.Event
	e.g.Eventually(func(g Gomega) {
		var evs eventsv1.EventList
		g.Expect(k8s.List(e.ctx, &evs, client.InNamespace(e.ns))).To(Succeed())
		found := false
		for _, ev := range evs.Items {
			if ev.Reason == tokenatorv1.ReasonTokenExpiringSoon {
				warning, found = ev, true
			}
		}
		g.Expect(found).To(BeTrue())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	e.g.Expect(warning.Type).To(Equal("Warning"))
	e.g.Expect(warning.Note).To(ContainSubstring("expires at " + st.ExpiresAt.UTC().Format(time.RFC3339)))
	e.g.Expect(warning.EventTime.Time.Before(st.ExpiresAt.Time)).To(BeTrue(), "warned before expiry")
	oc := e.get("api")
	e.g.Expect(metaReady(oc).Reason).To(Equal(tokenatorv1.ReasonTokenRequestFailed))
	e.idp.ClearFault()
}

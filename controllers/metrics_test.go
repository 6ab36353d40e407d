package controllers_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/operator"
	"github.com/tokenator-dev/tokenator/internal/testutil"
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
	})
	oc := e.oauthClient("api")
	oc.Spec.TokenURL = strings.Replace(e.idp.URL(), "127.0.0.1", "localhost", 1)
	e.create(oc)
	st := e.waitReady("api").Status
	host := "localhost"

	var body string
	e.g.Eventually(func(g Gomega) {
		resp, err := http.Get("http://" + addr + "/metrics")
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		g.Expect(body).To(ContainSubstring(fmt.Sprintf(`tokenator_token_requests_total{host=%q,result="success"} 1`, host)))
	}).WithTimeout(timeout).Should(Succeed())
	labels := fmt.Sprintf(`name="api",namespace=%q`, e.ns)
	for _, want := range []string{
		fmt.Sprintf(`tokenator_token_request_duration_seconds_count{host=%q} 1`, host),
		fmt.Sprintf(`tokenator_token_expiration_timestamp_seconds{%s} %s`, labels, promFloat(st.ExpiresAt.Unix())),
		fmt.Sprintf(`tokenator_token_refresh_timestamp_seconds{%s} %s`, labels, promFloat(st.RefreshAt.Unix())),
		fmt.Sprintf(`tokenator_oauthclient_ready_status{condition="True",%s,reason="TokenIssued"} 1`, labels),
		fmt.Sprintf(`tokenator_oauthclient_ready_status{condition="False",%s,reason="TokenIssued"} 0`, labels),
		fmt.Sprintf(`tokenator_oauthclient_failed_attempts{%s} 0`, labels),
	} {
		e.g.Expect(body).To(ContainSubstring(want))
	}
	e.g.Expect(body).NotTo(MatchRegexp(`tokenator_token_request[a-z_]*\{host="127\.0\.0\.1`), "a tenant's host and port are never a label")
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

package controllers_test

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// eventCounts counts the Events of the test's namespace by type and reason.
func (e *testEnv) eventCounts() map[string]int {
	var evs eventsv1.EventList
	e.g.Expect(k8s.List(e.ctx, &evs, client.InNamespace(e.ns))).To(Succeed())
	counts := map[string]int{}
	for _, ev := range evs.Items {
		counts[ev.Type+"/"+ev.Reason]++
	}
	return counts
}

// Events tell what changed: one Warning for a failure however often it is
// retried, one Normal TokenIssued when a token is recovered or asked for,
// and none for a routine refresh.
func TestEventsWithoutRepeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: 4 * time.Second})
	e.idp.SetFault(oauthtest.Fault{Status: 500, Body: `{"error":"server_error"}`})
	e.create(e.oauthClient("api"))
	e.g.Eventually(func() int32 { return e.get("api").Status.FailedAttempts }).
		WithTimeout(timeout).WithPolling(poll).Should(BeNumerically(">=", 3))
	e.g.Expect(e.eventCounts()).To(Equal(map[string]int{"Warning/TokenRequestFailed": 1}), "one Warning for three identical failures")

	e.idp.ClearFault()
	e.waitReady("api")
	e.g.Eventually(e.eventCounts).WithTimeout(timeout).Should(Equal(map[string]int{
		"Warning/TokenRequestFailed": 1, "Normal/TokenIssued": 1}))

	// Routine refreshes of the 4-second tokens: new tokens, no new Event.
	tok := e.waitNewToken("api-token", e.token("api-token"))
	tok = e.waitNewToken("api-token", tok)
	e.g.Expect(e.eventCounts()).To(Equal(map[string]int{"Warning/TokenRequestFailed": 1, "Normal/TokenIssued": 1}))

	// A refresh asked for: one Event that says so.
	e.update("api", func(oc *tokenatorv1.OAuthClient) {
		oc.Annotations = map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: "now"}
	})
	e.g.Eventually(e.eventCounts).WithTimeout(timeout).Should(HaveKeyWithValue("Normal/TokenIssued", 2))

	// Credentials gone, then a conflicting Secret: one Warning each.
	e.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.CredentialsSecretRef.Name = "missing" })
	e.waitReason("api", tokenatorv1.ReasonCredentialsNotFound)
	e.g.Eventually(e.eventCounts).WithTimeout(timeout).Should(HaveKeyWithValue("Warning/CredentialsNotFound", 1))
}

// A client's first token, with no failure reported before it, emits no Event:
// Ready=True tells it, and a cold start of many clients writes no Event each.
// The next one asked for does.
func TestNoEventForFirstToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.create(e.oauthClient("api"))
	e.waitReady("api")
	e.update("api", func(oc *tokenatorv1.OAuthClient) {
		oc.Annotations = map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: "now"}
	})
	// Events are sent in order: once the second token's is there, a first
	// token's would be too.
	e.g.Eventually(e.eventCounts).WithTimeout(timeout).Should(HaveKey("Normal/TokenIssued"))
	e.g.Expect(e.eventCounts()).To(Equal(map[string]int{"Normal/TokenIssued": 1}))
}

// A failure whose message changes on every attempt (an endpoint that varies
// its error_description) writes one Warning, not one per retry; a change of
// reason writes the next.
func TestWarningOncePerReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	fault := func(i int) oauthtest.Fault {
		return oauthtest.Fault{Status: 400, Body: fmt.Sprintf(`{"error":"invalid_request","error_description":"attempt %d refused"}`, i)}
	}
	e.idp.SetFault(fault(0))
	e.create(e.oauthClient("api"))
	for i := 1; i <= 3; i++ {
		e.g.Eventually(func() int32 { return e.get("api").Status.FailedAttempts }).
			WithTimeout(timeout).WithPolling(poll).Should(BeNumerically(">=", i))
		e.idp.SetFault(fault(i))
	}
	e.g.Eventually(func() string { return metaReady(e.get("api")).Message }).
		WithTimeout(timeout).WithPolling(poll).ShouldNot(ContainSubstring("attempt 0 refused"))
	e.g.Expect(e.eventCounts()).To(Equal(map[string]int{"Warning/TokenRequestFailed": 1}),
		"one Warning for failures that differ only in their message")

	e.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.CredentialsSecretRef.Name = "missing" })
	e.waitReason("api", tokenatorv1.ReasonCredentialsNotFound)
	e.g.Eventually(e.eventCounts).WithTimeout(timeout).Should(Equal(map[string]int{
		"Warning/TokenRequestFailed": 1, "Warning/CredentialsNotFound": 1}))
}

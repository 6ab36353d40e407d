package controllers_test

import (
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// A failed refresh keeps the last token in the Secret, says Ready=False with
// the endpoint's error and until when the token stays valid, backs off with a
// growing delay and recovers without help once the endpoint is healthy.
func TestFailedRefreshKeepsTokenAndBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.create(e.oauthClient("api"))
	e.waitReady("api")
	tok := e.token("api-token")

	e.idp.SetFault(oauthtest.Fault{Status: 400, Body: `{"error":"invalid_client","error_description":"client disabled"}`})
	requestsBefore := e.idp.Requests()
	e.update("api", func(oc *tokenatorv1.OAuthClient) {
		oc.Annotations = map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: "1"}
	})
	oc := e.waitReason("api", tokenatorv1.ReasonTokenRequestFailed)
	msg := metaReady(oc).Message
	e.g.Expect(msg).To(ContainSubstring("400"))
	e.g.Expect(msg).To(ContainSubstring("invalid_client"))
	e.g.Expect(msg).To(ContainSubstring("client disabled"))
	e.g.Expect(msg).To(ContainSubstring("valid until " + oc.Status.ExpiresAt.UTC().Format(time.RFC3339)))
	e.g.Expect(e.token("api-token")).To(Equal(tok), "the Secret keeps the last token")

	// The retries back off: after a few seconds, failedAttempts has grown and
	// each retry is planned further from the failure than the one before.
	var delays []time.Duration
	e.g.Eventually(func(g Gomega) {
		st := e.get("api").Status
		if st.FailedAttempts > int32(len(delays)) {
			delays = append(delays, st.RefreshAt.Sub(st.LastFailureTime.Time))
		}
		g.Expect(st.FailedAttempts).To(BeNumerically(">=", 3))
	}).WithTimeout(timeout).WithPolling(50 * time.Millisecond).Should(Succeed())
	e.g.Expect(delays[len(delays)-1]).To(BeNumerically(">", delays[0]), "delays %v", delays)
	e.g.Expect(e.token("api-token")).To(Equal(tok))
	attempts := e.idp.Requests() - requestsBefore
	e.g.Expect(attempts).To(BeNumerically("<=", int(e.get("api").Status.FailedAttempts)+1), "one request per counted attempt")

	e.idp.ClearFault()
	e.waitNewToken("api-token", tok)
	st := e.waitReady("api").Status
	e.g.Expect(st.FailedAttempts).To(BeZero())
	e.g.Expect(st.LastFailureTime).NotTo(BeNil())
}

// 429 and 503 answers with Retry-After hold the next attempt back that long.
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	for _, status := range []int{429, 503} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, oauthtest.Config{Kind: oauthtest.JSONBody})
			e.idp.SetFault(oauthtest.Fault{Status: status, RetryAfter: "7"})
			e.create(e.oauthClient("api"))
			oc := e.waitReason("api", tokenatorv1.ReasonTokenRequestFailed)
			e.g.Expect(metaReady(oc).Message).To(ContainSubstring("no token has been issued yet"))
			st := oc.Status
			e.g.Expect(st.RefreshAt.Sub(st.LastFailureTime.Time)).To(Equal(7 * time.Second))
			e.g.Consistently(e.idp.Requests).WithTimeout(3*time.Second).Should(Equal(1), "no retry before Retry-After")
			e.idp.ClearFault()
			e.waitReady("api")
		})
	}
}

// A Secret of the derived Secret's name that is not ours is never touched; its
// deletion lets the OAuthClient proceed.
func TestSecretConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "api-token", Labels: map[string]string{"team": "other"}},
		Data: map[string][]byte{"password": []byte("keep-me")}}
	e.create(foreign)
	e.create(e.oauthClient("api"))
	oc := e.waitReason("api", tokenatorv1.ReasonSecretConflict)
	e.g.Expect(metaReady(oc).Message).To(ContainSubstring(`Secret "api-token" exists and is not controlled by this OAuthClient`))
	e.g.Consistently(func(g Gomega) {
		s := e.secret("api-token")
		g.Expect(s.Data).To(Equal(map[string][]byte{"password": []byte("keep-me")}))
		g.Expect(s.OwnerReferences).To(BeEmpty())
		g.Expect(s.Labels).To(Equal(map[string]string{"team": "other"}))
	}).WithTimeout(2 * time.Second).Should(Succeed())
	e.g.Expect(e.idp.Requests()).To(BeZero(), "no token is requested for a Secret that cannot be written")

	e.g.Expect(k8s.Delete(e.ctx, e.secret("api-token"))).To(Succeed())
	e.waitReady("api")

	// Same with a Secret that carries tokenator's label but that this
	// OAuthClient does not control.
	labelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other-token",
		Labels: map[string]string{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue}},
		Data: map[string][]byte{"access_token": []byte("someone-elses")}}
	e.create(labelled)
	e.create(e.oauthClient("other"))
	e.waitReason("other", tokenatorv1.ReasonSecretConflict)
	e.g.Expect(e.token("other-token")).To(Equal("someone-elses"))
}

// The credentials Secret missing, or a key of it: CredentialsNotFound, and the
// OAuthClient recovers within seconds once the credentials are there.
func TestCredentialsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.Luxclusif})
	oc := e.oauthClient("api")
	oc.Spec.CredentialsSecretRef.Name = "later"
	e.create(oc)
	got := e.waitReason("api", tokenatorv1.ReasonCredentialsNotFound)
	e.g.Expect(metaReady(got).Message).To(ContainSubstring(`Secret "later" not found`))

	creds := e.credentials("later", e.clientID, e.clientSecret)
	delete(creds.Data, "client_secret")
	e.create(creds)
	got = e.waitReason("api", tokenatorv1.ReasonCredentialsNotFound)
	e.g.Eventually(func() string { return metaReady(e.get("api")).Message }).WithTimeout(timeout).
		Should(ContainSubstring(`has no non-empty key ["client_secret"]`))
	_ = got

	creds = e.secret("later")
	creds.Data["client_secret"] = []byte(e.clientSecret)
	e.g.Expect(k8s.Update(e.ctx, creds)).To(Succeed())
	e.waitReady("api")
	tok := e.token("api-token")

	// Deleted: the token stays, Ready=False CredentialsNotFound; recreated:
	// a new token within seconds.
	e.g.Expect(k8s.Delete(e.ctx, e.secret("later"))).To(Succeed())
	got = e.waitReason("api", tokenatorv1.ReasonCredentialsNotFound)
	e.g.Expect(metaReady(got).Message).To(ContainSubstring("keeps the previous token"))
	e.g.Expect(e.token("api-token")).To(Equal(tok))
	e.create(e.credentials("later", e.clientID, e.clientSecret))
	e.waitNewToken("api-token", tok)
	e.waitReady("api")
}

// suspend: true stops token requests and leaves the Secret as it is.
func TestSuspend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.Lucca, Lifetime: 4 * time.Second})
	e.create(e.oauthClient("api"))
	e.waitReady("api")
	e.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Suspend = true })
	e.waitReason("api", tokenatorv1.ReasonSuspended)
	tok := e.token("api-token")
	requests := e.idp.Requests()
	// Past the refresh time of the 4-second token: nothing happens.
	e.g.Consistently(e.idp.Requests).WithTimeout(5 * time.Second).Should(Equal(requests))
	e.g.Expect(e.token("api-token")).To(Equal(tok))

	e.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Suspend = false })
	e.waitNewToken("api-token", tok)
	e.waitReady("api")
}

// What the schema cannot catch is reported as InvalidSpec with the field.
func TestInvalidSpec(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	tests := []struct {
		name   string
		mutate func(*tokenatorv1.OAuthClient)
		want   string
	}{
		{"bad template", func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.Secret.ExtraData = map[string]string{"header": "Bearer {{ .AccessToken "}
		}, "spec.secret.extraData[header]"},
		{"unknown template field", func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.Secret.ExtraData = map[string]string{"header": "{{ .RefreshToken }}"}
		}, "spec.secret.extraData[header]"},
		{"missing CA Secret", func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.TLS.CASecretRef.Name = "nope"
		}, `spec.tls.caSecretRef: Secret "nope" not found`},
		{"CA bundle without a certificate", func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.TLS.CASecretRef.Name = "creds"
			oc.Spec.TLS.CASecretRef.Key = "client_id"
			// Nothing of the key's value is told, not even its size.
		}, "spec.tls: invalid CA bundle: no PEM certificate could be parsed; "},
		{"missing CA key", func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.TLS.CASecretRef.Key = "tls.crt"
		}, `has no key "tls.crt"`},
		{"invalid label value for the Secret", func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.Secret.Labels = map[string]string{"team": "not a valid label value"}
		}, "spec.secret"},
		// The CRD lets these through; the request cannot be built. No retry.
		{"audience set twice", func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.Audience = "a"
			oc.Spec.ExtraParameters = map[string]string{"audience": "b"}
		}, `extra parameter "audience" conflicts with the audience field`},
		{"header value with a newline", func(oc *tokenatorv1.OAuthClient) {
			oc.Spec.ExtraHeaders = map[string]string{"X-Tenant": "shop\n"}
		}, `contains control characters`},
	}
	for i, tt := range tests {
		name := "bad-" + string(rune('a'+i))
		oc := e.oauthClient(name)
		tt.mutate(oc)
		e.create(oc)
		t.Run(tt.name, func(t *testing.T) {
			got := e.waitReason(name, tokenatorv1.ReasonInvalidSpec)
			e.g.Expect(metaReady(got).Message).To(ContainSubstring(tt.want))
			e.g.Expect(got.Status.FailedAttempts).To(BeZero(), "no retry loop for a spec error")
		})
	}
}

// A restarted manager requests no token for clients whose token is valid and
// whose spec and credentials did not change, and writes nothing.
func TestRestartRequestsNoNewToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.JSONBody})
	for _, name := range []string{"a", "b", "c"} {
		e.create(e.oauthClient(name))
	}
	for _, name := range []string{"a", "b", "c"} {
		e.waitReady(name)
	}
	requests := e.idp.Requests()
	before := map[string]string{}
	for _, name := range []string{"a", "b", "c"} {
		before[name] = e.get(name).ResourceVersion
		before[name+"-token"] = e.secret(name + "-token").ResourceVersion
	}

	e.stopManager()
	e.stopManager = e.startManager()
	// Give the new manager time to sync and reconcile everything.
	e.g.Consistently(e.idp.Requests).WithTimeout(4 * time.Second).Should(Equal(requests))
	for _, name := range []string{"a", "b", "c"} {
		e.g.Expect(e.get(name).ResourceVersion).To(Equal(before[name]), "status of %s not rewritten", name)
		e.g.Expect(e.secret(name+"-token").ResourceVersion).To(Equal(before[name+"-token"]), "Secret of %s not rewritten", name)
	}
	// The new manager is at work: a change is acted on.
	tok := e.token("a-token")
	e.update("a", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Audience = "restarted" })
	e.waitNewToken("a-token", tok)
	e.g.Expect(e.idp.Requests()).To(Equal(requests + 1))
}

func metaReady(oc *tokenatorv1.OAuthClient) metav1.Condition {
	for _, c := range oc.Status.Conditions {
		if c.Type == tokenatorv1.ConditionReady {
			return c
		}
	}
	return metav1.Condition{}
}

package controllers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// faultCase is one way a token endpoint fails.
type faultCase struct {
	name string
	// on switches the fault on, after a token was issued; off makes the
	// endpoint healthy again (or, for a wrong CA bundle, is the user's fix).
	on, off func(t *testing.T, e *testEnv, f *faultClient)
	// want are substrings of the Ready message: what tells the user what to fix.
	want []string
	// seen counts the attempts as the endpoint sees them: requests, or
	// connections when the TLS handshake fails first; nil when the endpoint
	// cannot see them (a closed port).
	seen func(s *oauthtest.Server) int
	// retryAfter is the Retry-After the endpoint sends; 0 when none.
	retryAfter time.Duration
	// namesURL: the message names the token URL (answers other than 2xx
	// only give the status).
	namesURL bool
}

// faultClient is one OAuthClient of the table, with its own endpoint.
type faultClient struct {
	faultCase
	oc       string // the OAuthClient's name
	idp      *oauthtest.Server
	caSecret string
	token    string // the token issued before the fault
	issued   tokenatorv1.OAuthClientStatus
	seen0    int // f.seen before the fault
	logged0  int // failed requests logged before the fault
	// delays are the observed refreshAt-lastFailureTime, by failedAttempts.
	delays map[int32]time.Duration
	// badRetryTimes lists statuses whose refreshAt was not after lastFailureTime.
	badRetryTimes []string
}

func requests(s *oauthtest.Server) int    { return s.Requests() }
func connections(s *oauthtest.Server) int { return s.Connections() }

// refresh asks for a new token through the annotation.
func refresh(t *testing.T, e *testEnv, f *faultClient) {
	t.Helper()
	e.update(f.oc, func(oc *tokenatorv1.OAuthClient) {
		if oc.Annotations == nil {
			oc.Annotations = map[string]string{}
		}
		oc.Annotations[tokenatorv1.AnnotationRefreshRequestedAt] = "fault-" + time.Now().Format(time.RFC3339Nano)
	})
}

// setCA replaces the PEM bundle of f's CA Secret.
func setCA(t *testing.T, e *testEnv, f *faultClient, pem []byte) {
	t.Helper()
	e.g.Eventually(func() error {
		s := e.secret(f.caSecret)
		s.Data["ca.crt"] = pem
		return k8s.Update(e.ctx, s)
	}).WithTimeout(timeout).Should(Succeed())
}

// otherCA is the CA certificate of an endpoint the OAuthClient never talks to.
func otherCA() []byte {
	s := oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749})
	defer s.Close()
	return s.CAPEM()
}

var faultCases = []faultCase{
	{
		name: "unreachable",
		on: func(t *testing.T, e *testEnv, f *faultClient) {
			f.idp.Down()
			refresh(t, e, f)
		},
		off: func(t *testing.T, e *testEnv, f *faultClient) {
			if err := f.idp.Up(); err != nil {
				t.Fatalf("the endpoint cannot listen again: %v", err)
			}
		},
		want:     []string{"connect: connection refused", "requesting token from https://"},
		namesURL: true,
	},
	{
		name: "hanging",
		on: func(t *testing.T, e *testEnv, f *faultClient) {
			// Far past the test managers' 2s TokenRequestTimeout.
			f.idp.SetFault(oauthtest.Fault{Delay: 10 * time.Minute})
			refresh(t, e, f)
		},
		off:      func(_ *testing.T, _ *testEnv, f *faultClient) { f.idp.ClearFault() },
		want:     []string{"Client.Timeout exceeded while awaiting headers"},
		namesURL: true,
		seen:     requests,
	},
	{
		name: "html",
		on: func(t *testing.T, e *testEnv, f *faultClient) {
			f.idp.SetFault(oauthtest.Fault{Status: 200, ContentType: "text/html; charset=utf-8",
				Body: "<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>"})
			refresh(t, e, f)
		},
		off:      func(_ *testing.T, _ *testEnv, f *faultClient) { f.idp.ClearFault() },
		want:     []string{`answered 200 OK with Content-Type "text/html"`, "invalid token response: body is HTML or XML, not a JSON object"},
		namesURL: true,
		seen:     requests,
	},
	{
		name: "garbage",
		on: func(t *testing.T, e *testEnv, f *faultClient) {
			f.idp.SetFault(oauthtest.Fault{Status: 200, ContentType: "application/octet-stream", Body: "\x00\x01\x02garbage\xff\xfe"})
			refresh(t, e, f)
		},
		off:      func(_ *testing.T, _ *testEnv, f *faultClient) { f.idp.ClearFault() },
		want:     []string{`answered 200 OK with Content-Type "application/octet-stream"`, "invalid token response: body is not a JSON object"},
		namesURL: true,
		seen:     requests,
	},
	{
		name: "5xx storm",
		on: func(t *testing.T, e *testEnv, f *faultClient) {
			f.idp.SetFault(oauthtest.Fault{Statuses: []int{500, 502, 503}, ContentType: "text/html", Body: "<html>upstream error</html>"})
			refresh(t, e, f)
		},
		off:      func(_ *testing.T, _ *testEnv, f *faultClient) { f.idp.ClearFault() },
		want:     []string{"token request failed: token endpoint https://", " answered 50"},
		seen:     requests,
		namesURL: true,
	},
	{
		name: "429 Retry-After",
		on: func(t *testing.T, e *testEnv, f *faultClient) {
			f.idp.SetFault(oauthtest.Fault{Status: 429, RetryAfter: "3", Body: `{"error":"slow_down","error_description":"rate limit exceeded"}`})
			refresh(t, e, f)
		},
		off:        func(_ *testing.T, _ *testEnv, f *faultClient) { f.idp.ClearFault() },
		want:       []string{" answered 429 Too Many Requests: slow_down: rate limit exceeded (retry after 3s)"},
		seen:       requests,
		namesURL:   true,
		retryAfter: 3 * time.Second,
	},
	{
		// spec.tls names a CA bundle that does not hold the endpoint's CA,
		// as after a provider changes CA or a wrong bundle is applied. The
		// change of the bundle itself asks for a new token; the fix is the
		// right bundle, acted on at once.
		name: "unknown CA",
		on: func(t *testing.T, e *testEnv, f *faultClient) {
			setCA(t, e, f, otherCA())
		},
		off: func(t *testing.T, e *testEnv, f *faultClient) {
			setCA(t, e, f, f.idp.CAPEM())
		},
		want:     []string{"tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		namesURL: true,
		seen:     connections,
	},
	{
		// The endpoint's certificate expires; the provider renews it and the
		// operator recovers by itself.
		name: "expired certificate",
		on: func(t *testing.T, e *testEnv, f *faultClient) {
			if err := f.idp.SetCertificateNotAfter(time.Now().Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			refresh(t, e, f)
		},
		off: func(t *testing.T, _ *testEnv, f *faultClient) {
			if err := f.idp.SetCertificateNotAfter(time.Now().Add(24 * time.Hour)); err != nil {
				t.Fatal(err)
			}
		},
		want:     []string{"tls: failed to verify certificate: x509: certificate has expired or is not yet valid"},
		namesURL: true,
		seen:     connections,
	},
}

// Every fault of a token endpoint, on an OAuthClient that holds a token:
// Ready=False TokenRequestFailed with a message that names the cause, one
// request per counted attempt, retries that back off (each planned in
// status.refreshAt after lastFailureTime), the last token kept in the Secret,
// and a new token without help once the endpoint is healthy. The cases run
// side by side in one namespace, each with its own endpoint.
func TestEndpointFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})

	var fcs []*faultClient
	for i, c := range faultCases {
		f := &faultClient{faultCase: c, delays: map[int32]time.Duration{}}
		f.oc = fmt.Sprintf("fault-%d", i)
		f.caSecret = f.oc + "-ca"
		f.idp = oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.RFC6749, Clients: map[string]string{e.clientID: e.clientSecret}})
		secretsMu.Lock()
		endpoints = append(endpoints, f.idp)
		secretsMu.Unlock()
		e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: f.caSecret}, Data: map[string][]byte{"ca.crt": f.idp.CAPEM()}})
		oc := e.oauthClient(f.oc)
		oc.Spec.TokenURL = f.idp.URL()
		oc.Spec.TLS.CASecretRef.Name = f.caSecret
		e.create(oc)
		fcs = append(fcs, f)
	}
	for _, f := range fcs {
		e.waitReady(f.oc)
		f.token = e.token(f.oc + "-token")
		e.g.Expect(f.token).NotTo(BeEmpty())
		f.issued = e.get(f.oc).Status
	}

	// The faults, all at once.
	start := time.Now()
	for _, f := range fcs {
		if f.seen != nil {
			f.seen0 = f.seen(f.idp)
		}
		f.logged0 = failedRequestsLogged(e.ns, f.oc)
		f.on(t, e, f)
	}

	// Watch the retries until every client failed at least three times in a
	// row, noting the retry delay planned after each failure.
	const wantFailures = 3
	e.g.Eventually(func(g Gomega) {
		var list tokenatorv1.OAuthClientList
		g.Expect(k8s.List(e.ctx, &list, client.InNamespace(e.ns))).To(Succeed())
		byName := map[string]*tokenatorv1.OAuthClient{}
		for i := range list.Items {
			byName[list.Items[i].Name] = &list.Items[i]
		}
		// Note every client's status before asserting on any.
		for _, f := range fcs {
			oc := byName[f.oc]
			if oc == nil {
				continue
			}
			st := oc.Status
			if st.FailedAttempts > 0 && st.LastFailureTime != nil && st.RefreshAt != nil {
				if !st.RefreshAt.After(st.LastFailureTime.Time) {
					f.badRetryTimes = append(f.badRetryTimes, fmt.Sprintf("attempt %d: refreshAt %s, lastFailureTime %s", st.FailedAttempts, st.RefreshAt, st.LastFailureTime))
				}
				f.delays[st.FailedAttempts] = st.RefreshAt.Sub(st.LastFailureTime.Time)
			}
		}
		for _, f := range fcs {
			g.Expect(byName).To(HaveKey(f.oc))
			g.Expect(byName[f.oc].Status.FailedAttempts).To(BeNumerically(">=", wantFailures), "%s: failedAttempts", f.name)
		}
	}).WithTimeout(2 * timeout).WithPolling(poll).Should(Succeed())

	for _, f := range fcs {
		t.Run(f.name, func(t *testing.T) {
			g := NewWithT(t)
			seen1 := 0
			if f.seen != nil {
				seen1 = f.seen(f.idp) - f.seen0
			}
			logged1 := failedRequestsLogged(e.ns, f.oc) - f.logged0
			oc := e.get(f.oc)
			elapsed := time.Since(start)
			seen2 := 0
			if f.seen != nil {
				seen2 = f.seen(f.idp) - f.seen0
			}
			logged2 := failedRequestsLogged(e.ns, f.oc) - f.logged0
			st := oc.Status
			ready := meta.FindStatusCondition(st.Conditions, tokenatorv1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			t.Logf("%d failed attempts in %s (endpoint saw %d, manager logged %d); retry delays %v; message: %s",
				st.FailedAttempts, elapsed.Round(100*time.Millisecond), seen2, logged2, f.delays, ready.Message)

			// What the user reads.
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(tokenatorv1.ReasonTokenRequestFailed))
			g.Expect(ready.Message).To(HavePrefix("token request failed: "))
			for _, w := range f.want {
				g.Expect(ready.Message).To(ContainSubstring(w))
			}
			if f.namesURL {
				g.Expect(ready.Message).To(ContainSubstring(f.idp.URL()), "the message names the endpoint")
			}
			g.Expect(ready.Message).To(HaveSuffix("; the Secret keeps the previous token, valid until " + st.ExpiresAt.UTC().Format(time.RFC3339)))

			// The last token is kept, and so is its place in status.
			g.Expect(e.token(f.oc + "-token")).To(Equal(f.token))
			g.Expect(st.ExpiresAt.Equal(f.issued.ExpiresAt)).To(BeTrue(), "expiresAt %s, was %s", st.ExpiresAt, f.issued.ExpiresAt)
			g.Expect(st.LastRefreshTime.Equal(f.issued.LastRefreshTime)).To(BeTrue(), "lastRefreshTime %s, was %s", st.LastRefreshTime, f.issued.LastRefreshTime)

			// One request per attempt: every attempt is counted in status
			// and logged, and the endpoint saw no more. The counts were read
			// just before and just after the status; one attempt may be in
			// flight, or logged and not yet in status.
			g.Expect(logged1).To(BeNumerically(">=", st.FailedAttempts-1))
			g.Expect(logged2).To(BeNumerically(">=", st.FailedAttempts))
			g.Expect(st.FailedAttempts).To(BeNumerically(">=", logged1-1))
			if f.seen != nil {
				g.Expect(seen1).To(BeNumerically("<=", st.FailedAttempts+1), "attempts the endpoint saw")
				g.Expect(seen2).To(BeNumerically(">=", st.FailedAttempts), "attempts the endpoint saw")
			}
			// Bounded: the retries back off, so few attempts fit in the window.
			g.Expect(int(st.FailedAttempts)).To(BeNumerically("<=", maxAttempts(elapsed, f.retryAfter)),
				"attempts in %s", elapsed)

			// The retry time is in status, after the failure, and grows as
			// the backoff says (base 1s, max 4s, jitter ±20%, whole seconds),
			// or follows Retry-After.
			g.Expect(f.badRetryTimes).To(BeEmpty())
			g.Expect(st.RefreshAt.After(st.LastFailureTime.Time)).To(BeTrue())
			g.Expect(len(f.delays)).To(BeNumerically(">=", 2), "retry delays observed: %v", f.delays)
			for attempt, d := range f.delays {
				lo, hi := retryDelayBounds(attempt, f.retryAfter)
				g.Expect(d).To(And(BeNumerically(">=", lo), BeNumerically("<=", hi)), "retry delay after failure %d", attempt)
			}

			// kubectl describe shows a Warning Event with the cause.
			g.Eventually(func(g Gomega) {
				var evs eventsv1.EventList
				g.Expect(k8s.List(e.ctx, &evs, client.InNamespace(e.ns))).To(Succeed())
				var notes []string
				for _, ev := range evs.Items {
					if ev.Regarding.Name == f.oc && ev.Reason == tokenatorv1.ReasonTokenRequestFailed && ev.Type == corev1.EventTypeWarning {
						notes = append(notes, ev.Note)
					}
				}
				g.Expect(notes).To(ContainElement(ContainSubstring(f.want[0])))
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		})
	}

	// Healthy again: a new token, Ready, failedAttempts back to 0, without
	// anything else done to the OAuthClient.
	for _, f := range fcs {
		f.off(t, e, f)
	}
	for _, f := range fcs {
		t.Run(f.name+" recovers", func(t *testing.T) {
			g := NewWithT(t)
			tok := e.waitNewToken(f.oc+"-token", f.token)
			g.Expect(f.idp.Issued()).To(ContainElement(tok))
			st := e.waitReady(f.oc).Status
			g.Expect(st.FailedAttempts).To(BeZero())
			g.Expect(st.LastFailureTime).NotTo(BeNil())
			g.Expect(st.LastRefreshTime.Time).NotTo(BeTemporally("<", st.LastFailureTime.Time))
			g.Expect(e.token(f.oc + "-token")).To(Equal(tok))
		})
	}
}

// retryDelayBounds are the shortest and longest retry delays the test
// managers plan after the n-th consecutive failure: 1s, 2s, then 4s, each
// ±20% and rounded to whole seconds, or Retry-After when it is longer.
func retryDelayBounds(n int32, retryAfter time.Duration) (lo, hi time.Duration) {
	base := testRetryBase
	for i := int32(1); i < n && base < testRetryMax; i++ {
		base *= 2
	}
	base = min(base, testRetryMax)
	lo = max((base * 8 / 10).Round(time.Second), time.Second)
	hi = max((base * 12 / 10).Round(time.Second), time.Second)
	return max(lo, retryAfter), max(hi, retryAfter)
}

// maxAttempts is the most attempts that fit in a window: after the first,
// each retry waits for its delay, less up to 1s because failure times are
// stored in whole seconds.
func maxAttempts(window, retryAfter time.Duration) int {
	n := 1
	var at time.Duration
	for {
		lo, _ := retryDelayBounds(int32(n), retryAfter)
		at += max(lo-time.Second, 0)
		if at > window {
			return n
		}
		n++
	}
}

// failedRequestsLogged counts the "Token request failed" lines that the
// managers logged for one OAuthClient: one per failed token request.
func failedRequestsLogged(namespace, name string) int {
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, `"msg":"Token request failed"`) {
			continue
		}
		var entry struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Namespace == namespace && entry.Name == name {
			n++
		}
	}
	return n
}

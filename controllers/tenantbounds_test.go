package controllers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// An opt-in annotation over 4 KiB or 32 audiences is not read: the
// OAuthClients of the ServiceAccount are InvalidSpec, saying which bound,
// and no TokenRequest is made, even when the audience is listed. Once the
// annotation is within the bounds, the token follows within seconds.
func TestServiceAccountOptInOverBound(t *testing.T) {
	t.Parallel()
	const audience = "https://idp.example.com/bounded"
	e := newSAEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, "large", audience)
	var many []string
	for i := range 32 {
		many = append(many, fmt.Sprintf("https://other-%d.example.com", i))
	}
	e.serviceAccount("large", audience+","+strings.Repeat("x", 4096))
	e.serviceAccount("many", strings.Join(append(many, audience), ","))
	e.create(e.saClient("large", "large", audience))
	e.create(e.saClient("many", "many", audience))

	oc := e.waitReason("large", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(readyMessage(oc)).To(Equal(`spec.clientAssertion.serviceAccountName: the tokenator.dev/token-audiences annotation of ServiceAccount "large" is over 4 KiB; tokenator reads at most 4 KiB and 32 audiences; no token has been issued yet`))
	oc = e.waitReason("many", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(readyMessage(oc)).To(ContainSubstring(`the tokenator.dev/token-audiences annotation of ServiceAccount "many" is over 32 audiences`))
	e.g.Expect(e.requests.count()).To(Equal(0))
	e.g.Expect(e.idp.Requests()).To(Equal(0))

	e.annotateServiceAccount("large", audience)
	e.waitReady("large")
	e.g.Expect(e.requests.count()).To(Equal(1))
}

// A token type of any length is written whole to the Secret's token_type
// key; status.tokenType holds its first 64 characters, so that the status
// write succeeds.
func TestLongTokenType(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	tokenType := strings.Repeat("T", 100)
	e.idp.SetFault(oauthtest.Fault{Status: 200,
		Body: fmt.Sprintf(`{"access_token":"long-type-token","token_type":%q,"expires_in":3600}`, tokenType)})
	e.create(e.oauthClient("api"))
	oc := e.waitReady("api")
	e.g.Expect(oc.Status.TokenType).To(Equal(tokenType[:64]))
	e.g.Expect(string(e.secret(oc.Status.SecretName).Data[tokenatorv1.SecretKeyTokenType])).To(Equal(tokenType))
}

// A refresh-requested-at value over 128 bytes asks for a new token like any
// other, and is recorded as its SHA-256; another long value asks again.
func TestLongRefreshRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.create(e.oauthClient("api"))
	e.waitReady("api")
	for i, v := range []string{strings.Repeat("1", 200<<10), strings.Repeat("2", 200<<10)} {
		sent := e.idp.Requests()
		e.update("api", func(oc *tokenatorv1.OAuthClient) {
			oc.Annotations = map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: v}
		})
		sum := sha256.Sum256([]byte(v))
		e.g.Eventually(func() string { return e.get("api").Status.LastHandledRefreshRequest }).
			WithTimeout(timeout).WithPolling(poll).Should(Equal("sha256:"+hex.EncodeToString(sum[:])), "request %d", i)
		e.g.Expect(e.idp.Requests()).To(Equal(sent+1), "request %d", i)
		e.waitReady("api")
	}
}

// The manager's annotations on a derived Secret are not trusted past the
// size it writes: a shape hash or render error someone made longer makes the
// Secret be written again from the token it holds (no new token), and a long
// render error is not shown as the OAuthClient's.
func TestDerivedSecretAnnotationsOverBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.create(e.oauthClient("api"))
	oc := e.waitReady("api")
	sent := e.idp.Requests()
	e.g.Eventually(func() error {
		s := e.secret(oc.Status.SecretName)
		s.Annotations[tokenatorv1.AnnotationShapeHash] = strings.Repeat("0", 1024)
		s.Annotations[tokenatorv1.AnnotationRenderError] = "the template of the tenant failed " + strings.Repeat("!", 4096)
		return k8s.Update(e.ctx, s)
	}).WithTimeout(timeout).Should(Succeed())

	hash := regexp.MustCompile(`^[0-9a-f]{64}$`)
	e.g.Eventually(func() string {
		s := &corev1.Secret{}
		if err := k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: oc.Status.SecretName}, s); err != nil {
			return err.Error()
		}
		return s.Annotations[tokenatorv1.AnnotationShapeHash]
	}).WithTimeout(timeout).WithPolling(poll).Should(MatchRegexp(hash.String()), "the shape hash is written again")
	e.g.Consistently(func() string { return readyMessage(e.get("api")) }).WithTimeout(3 * time.Second).WithPolling(poll).
		ShouldNot(ContainSubstring("the template of the tenant failed"))
	e.waitReady("api")
	e.g.Expect(e.idp.Requests()).To(Equal(sent))
}

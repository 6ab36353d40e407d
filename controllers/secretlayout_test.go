package controllers_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// A change of spec.secret alone (labels, annotations, extraData, name) writes
// the Secret again from the token it holds: no new token is requested.
func TestSecretLayoutChangeKeepsToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.create(e.oauthClient("api"))
	got := e.waitReady("api")
	tok := e.token("api-token")
	requests := e.idp.Requests()
	// A Secret with nothing of spec.secret is created, not applied.
	e.g.Expect(e.secret("api-token").ManagedFields).To(ConsistOf(And(
		HaveField("Manager", "tokenator-"+string(got.UID)), HaveField("Operation", metav1.ManagedFieldsOperationUpdate))))

	e.update("api", func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.Secret.Labels = map[string]string{"team": "payments"}
		oc.Spec.Secret.Annotations = map[string]string{"example.com/owner": "payments"}
		oc.Spec.Secret.ExtraData = map[string]string{"header": "{{ .TokenType }} {{ .AccessToken }}"}
	})
	e.g.Eventually(func(g Gomega) {
		s := &corev1.Secret{}
		g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: "api-token"}, s)).To(Succeed())
		g.Expect(s.Labels).To(HaveKeyWithValue("team", "payments"))
		g.Expect(s.Annotations).To(HaveKeyWithValue("example.com/owner", "payments"))
		g.Expect(string(s.Data["header"])).To(Equal("Bearer " + tok))
		g.Expect(string(s.Data["access_token"])).To(Equal(tok))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	// A label removed from the spec goes from the Secret.
	e.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Secret.Labels = nil })
	e.g.Eventually(func() map[string]string { return e.secret("api-token").Labels }).
		WithTimeout(timeout).ShouldNot(HaveKey("team"))
	// So do annotations and extraData keys; what every write sets stays.
	e.update("api", func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.Secret.Annotations = nil
		oc.Spec.Secret.ExtraData = nil
	})
	e.g.Eventually(func(g Gomega) {
		s := e.secret("api-token")
		g.Expect(s.Annotations).NotTo(HaveKey("example.com/owner"))
		g.Expect(s.Data).NotTo(HaveKey("header"))
		g.Expect(s.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "tokenator"))
		g.Expect(string(s.Data["access_token"])).To(Equal(tok))
		g.Expect(metav1.IsControlledBy(s, got)).To(BeTrue())
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	// Renamed: the same token under the new name, the old Secret deleted.
	e.update("api", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Secret.Name = "api-credentials-v2" })
	e.g.Eventually(func() error {
		return k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: "api-credentials-v2"}, &corev1.Secret{})
	}).WithTimeout(timeout).Should(Succeed())
	e.g.Expect(e.token("api-credentials-v2")).To(Equal(tok))
	e.g.Eventually(func() bool {
		err := k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: "api-token"}, &corev1.Secret{})
		return apierrors.IsNotFound(err)
	}).WithTimeout(timeout).Should(BeTrue(), "the Secret under the previous name is deleted")
	e.g.Expect(e.waitReady("api").Status.SecretName).To(Equal("api-credentials-v2"))
	e.g.Expect(e.idp.Requests()).To(Equal(requests), "token requests after layout changes")
}

// A template that renders the placeholder values but fails with the real
// token makes the OAuthClient InvalidSpec naming the key; the token is written
// under the other keys and kept, and fixing the template needs no new token.
func TestKeyFailingWithTheRealTokenIsLeftOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	oc := e.oauthClient("api")
	oc.Spec.Secret.ExtraData = map[string]string{
		"prefix": `{{ if eq .AccessToken "probe" }}ok{{ else }}{{ slice .AccessToken 0 100000 }}{{ end }}`,
		"header": "Bearer {{ .AccessToken }}",
	}
	e.create(oc)
	got := e.waitReason("api", tokenatorv1.ReasonInvalidSpec)
	msg := metaReady(got).Message
	e.g.Expect(msg).To(HavePrefix("spec.secret.extraData[prefix]: rendering failed with the issued token; the key is left out of the Secret until the template is fixed"))
	e.g.Expect(got.Status.ExpiresAt).NotTo(BeNil(), "the token is recorded")
	s := e.secret("api-token")
	tok := string(s.Data["access_token"])
	e.g.Expect(e.issuedToken(tok)).To(BeTrue())
	e.g.Expect(s.Data).NotTo(HaveKey("prefix"))
	e.g.Expect(string(s.Data["header"])).To(Equal("Bearer " + tok))
	e.g.Expect(msg).NotTo(ContainSubstring(tok))
	e.g.Expect(e.idp.Requests()).To(Equal(1))

	e.update("api", func(oc *tokenatorv1.OAuthClient) {
		oc.Spec.Secret.ExtraData["prefix"] = `{{ slice .AccessToken 0 4 }}`
	})
	e.waitReady("api")
	e.g.Eventually(func() string { return string(e.secret("api-token").Data["prefix"]) }).
		WithTimeout(timeout).Should(Equal(tok[:4]))
	e.g.Expect(e.token("api-token")).To(Equal(tok))
	e.g.Expect(e.idp.Requests()).To(Equal(1))
}

// Two OAuthClients created at once that name the same new Secret: one gets
// the Secret, the other SecretConflict, and the Secret stays the first's: a
// watch of the namespace's Secrets never sees it change controller.
func TestTwoClientsOneSecretName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	wc, err := client.NewWithWatch(restConfig, client.Options{})
	e.g.Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(e.ctx, &corev1.SecretList{}, client.InNamespace(e.ns))
	e.g.Expect(err).NotTo(HaveOccurred())
	defer w.Stop()
	var mu sync.Mutex
	controllers := map[string]map[string]bool{} // Secret name -> controllers seen
	go func() {
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*corev1.Secret)
			if !ok {
				continue
			}
			if ref := metav1.GetControllerOf(s); ref != nil {
				mu.Lock()
				if controllers[s.Name] == nil {
					controllers[s.Name] = map[string]bool{}
				}
				controllers[s.Name][ref.Name] = true
				mu.Unlock()
			}
		}
	}()
	for round := range 10 {
		secretName := fmt.Sprintf("shared-%d", round)
		a, b := e.oauthClient(fmt.Sprintf("a-%d", round)), e.oauthClient(fmt.Sprintf("b-%d", round))
		a.Spec.Secret.Name, b.Spec.Secret.Name = secretName, secretName
		a.Namespace, b.Namespace = e.ns, e.ns
		done := make(chan error, 2)
		go func() { done <- k8s.Create(e.ctx, a) }()
		go func() { done <- k8s.Create(e.ctx, b) }()
		e.g.Expect(<-done).To(Succeed())
		e.g.Expect(<-done).To(Succeed())

		var winner, loser string
		e.g.Eventually(func(g Gomega) {
			reasons := map[string]string{}
			for _, name := range []string{a.Name, b.Name} {
				oc := &tokenatorv1.OAuthClient{}
				g.Expect(k8s.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, oc)).To(Succeed())
				c := metaReady(oc)
				g.Expect(c).NotTo(BeNil())
				reasons[c.Reason] = name
			}
			g.Expect(reasons).To(HaveKey(tokenatorv1.ReasonTokenIssued))
			g.Expect(reasons).To(HaveKey(tokenatorv1.ReasonSecretConflict))
			winner, loser = reasons[tokenatorv1.ReasonTokenIssued], reasons[tokenatorv1.ReasonSecretConflict]
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		s := e.secret(secretName)
		owner := metav1.GetControllerOf(s)
		e.g.Expect(owner).NotTo(BeNil())
		e.g.Expect(owner.Name).To(Equal(winner), "round %d: the Secret's controller", round)
		e.g.Expect(s.OwnerReferences).To(HaveLen(1))
		// Some time later it is still the winner's.
		e.g.Consistently(func() string { return metav1.GetControllerOf(e.secret(secretName)).Name }).
			WithTimeout(1500 * time.Millisecond).Should(Equal(winner))
		e.g.Expect(metaReady(e.get(loser)).Reason).To(Equal(tokenatorv1.ReasonSecretConflict))
		mu.Lock()
		seen := controllers[secretName]
		mu.Unlock()
		e.g.Expect(seen).To(Equal(map[string]bool{winner: true}), "round %d: controllers the Secret has had", round)
	}
}

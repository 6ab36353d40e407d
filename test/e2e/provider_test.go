//go:build e2e

package e2e

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	. "github.com/onsi/gomega"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// providerScenario: a ClusterOAuthProvider with central credentials in the
// operator's namespace (the cluster resource namespace by default) serves two
// namespaces with one shared token, under the shipped RBAC and admission
// policy; the tenants' namespaces hold no credentials.
func providerScenario(t *testing.T, w *world) {
	creds := &corev1.Secret{}
	w.g.Expect(admin.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: "creds"}, creds)).To(Succeed())
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "e2e-central", Namespace: systemNamespace}, Data: creds.Data},
		{ObjectMeta: metav1.ObjectMeta{Name: "e2e-idp-ca", Namespace: systemNamespace}, Data: map[string][]byte{"ca.crt": w.idp.CAPEM()}},
	} {
		w.g.Expect(admin.Create(w.ctx, s)).To(Succeed())
	}
	p := &tokenatorv1.ClusterOAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-central"},
		Spec: tokenatorv1.ClusterOAuthProviderSpec{
			OAuthEndpoint: tokenatorv1.OAuthEndpoint{
				TokenURL: w.idp.URL(),
				TLS:      &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "e2e-idp-ca"}},
			},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "e2e-central"},
			AllowedNamespaces:    &metav1.LabelSelector{MatchLabels: map[string]string{"tokenator.dev/e2e": "allowed"}},
			AllowedScopes:        []string{"shop.*"},
		},
	}
	w.g.Expect(admin.Create(w.ctx, p)).To(Succeed())

	var tenants []string
	for range 2 {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "team-",
			Labels: map[string]string{"tokenator.dev/e2e": "allowed"}}}
		w.g.Expect(admin.Create(w.ctx, ns)).To(Succeed())
		tenants = append(tenants, ns.Name)
	}
	before := w.idp.Requests()
	for _, ns := range tenants {
		oc := &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: ns},
			Spec: tokenatorv1.OAuthClientSpec{ProviderRef: &tokenatorv1.ProviderReference{Name: p.Name}, Scopes: []string{"shop.read"}}}
		w.g.Expect(admin.Create(w.ctx, oc)).To(Succeed())
	}
	var tokens []string
	for _, ns := range tenants {
		tw := &world{t: t, g: w.g, ctx: w.ctx, ns: ns, idp: w.idp}
		oc := tw.waitReason("shared", tokenatorv1.ReasonTokenIssued)
		w.g.Expect(oc.Status.TokenSource).To(Equal(tokenatorv1.TokenSourceShared))
		tokens = append(tokens, tw.token("shared-token"))
	}
	w.g.Expect(tokens[0]).NotTo(BeEmpty())
	w.g.Expect(tokens[1]).To(Equal(tokens[0]))
	w.g.Consistently(w.idp.Requests).WithTimeout(2*time.Second).Should(Equal(before+1), "one request for two namespaces")

	// The shared token is in the operator's namespace, owned by the provider;
	// the provider's status counts both clients.
	var shared corev1.SecretList
	w.g.Expect(admin.List(w.ctx, &shared, client.InNamespace(systemNamespace),
		client.MatchingLabels{tokenatorv1.LabelProvider: p.Name})).To(Succeed())
	w.g.Expect(shared.Items).To(HaveLen(1))
	w.g.Eventually(func(g Gomega) {
		cur := &tokenatorv1.ClusterOAuthProvider{}
		g.Expect(admin.Get(w.ctx, types.NamespacedName{Name: p.Name}, cur)).To(Succeed())
		g.Expect(cur.Status.Clients).To(BeEquivalentTo(2))
		g.Expect(cur.Status.SharedTokens).To(BeEquivalentTo(1))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

	// A namespace that loses its label is refused within seconds.
	w.g.Eventually(func() error {
		ns := &corev1.Namespace{}
		if err := admin.Get(w.ctx, types.NamespacedName{Name: tenants[1]}, ns); err != nil {
			return err
		}
		delete(ns.Labels, "tokenator.dev/e2e")
		return admin.Update(w.ctx, ns)
	}).WithTimeout(timeout).Should(Succeed())
	(&world{t: t, g: w.g, ctx: w.ctx, ns: tenants[1], idp: w.idp}).waitReason("shared", tokenatorv1.ReasonProviderRefused)

	// A shared token no client uses any more is deleted, which the shipped
	// RBAC and admission policy allow: the refused client goes, the other
	// asks for other scopes, and only the token of those scopes is left.
	w.g.Expect(admin.Delete(w.ctx, &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: tenants[1]}})).To(Succeed())
	w.g.Eventually(func() error {
		oc := &tokenatorv1.OAuthClient{}
		if err := admin.Get(w.ctx, types.NamespacedName{Namespace: tenants[0], Name: "shared"}, oc); err != nil {
			return err
		}
		oc.Spec.Scopes = []string{"shop.write"}
		return admin.Update(w.ctx, oc)
	}).WithTimeout(timeout).Should(Succeed())
	w.g.Eventually(func(g Gomega) {
		var list corev1.SecretList
		g.Expect(admin.List(w.ctx, &list, client.InNamespace(systemNamespace),
			client.MatchingLabels{tokenatorv1.LabelProvider: p.Name})).To(Succeed())
		g.Expect(list.Items).To(HaveLen(1))
		g.Expect(list.Items[0].Name).NotTo(Equal(shared.Items[0].Name), "the token of shop.read is deleted")
		cur := &tokenatorv1.ClusterOAuthProvider{}
		g.Expect(admin.Get(w.ctx, types.NamespacedName{Name: p.Name}, cur)).To(Succeed())
		g.Expect(cur.Status.SharedTokens).To(BeEquivalentTo(1))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	w.g.Expect(w.idp.Requests()).To(Equal(before+2), "one request for shop.write")
}

package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// providerEnv is a ClusterOAuthProvider that allows the namespace of e and
// scopes api.*, a client of its shared token in e ("shared"), a client it
// refuses in the namespace of other ("refused") and a client of a provider
// that does not exist ("lost").
type providerEnv struct {
	e, other *env
	p        *tokenatorv1.ClusterOAuthProvider
}

func newProviderEnv(t *testing.T) *providerEnv {
	t.Helper()
	pe := &providerEnv{
		e:     newEnv(t, oauthtest.Config{Kind: oauthtest.JSONBody, Lifetime: time.Hour}),
		other: newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}),
	}
	e := pe.e
	pe.p = e.provider(func(p *tokenatorv1.ClusterOAuthProvider) {
		p.Spec.Encoding = tokenatorv1.EncodingJSON
		p.Spec.AllowedScopes = []string{"api.*"}
	})
	ref := func(name string) tokenatorv1.OAuthClientSpec {
		return tokenatorv1.OAuthClientSpec{ProviderRef: &tokenatorv1.ProviderReference{Name: name}, Scopes: []string{"api.read"}}
	}
	e.create(&tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Spec: ref(pe.p.Name)})
	e.create(&tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "lost"}, Spec: ref(randomString("nothere-"))})
	pe.other.create(&tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "refused"}, Spec: ref(pe.p.Name)})
	e.waitReason("shared", tokenatorv1.ReasonTokenIssued)
	e.waitReason("lost", tokenatorv1.ReasonProviderNotFound)
	pe.other.waitReason("refused", tokenatorv1.ReasonProviderRefused)
	e.g.Eventually(func(g Gomega) {
		p := &tokenatorv1.ClusterOAuthProvider{}
		g.Expect(k8s.Get(e.ctx, types.NamespacedName{Name: pe.p.Name}, p)).To(Succeed())
		g.Expect([]int32{p.Status.Clients, p.Status.SharedTokens}).To(Equal([]int32{1, 1}))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	return pe
}

// status coap: a line per provider, and for one its message, what it
// allows, the OAuthClients that refer to it and what next; -o json|yaml
// print the objects.
func TestProviderStatus(t *testing.T) {
	t.Parallel()
	pe := newProviderEnv(t)
	e, name := pe.e, pe.p.Name

	r := kt(t, "status", "coap")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(strings.Join(strings.Fields(strings.SplitN(r.out, "\n", 2)[0]), " ")).To(Equal("NAME READY REASON CLIENTS SHARED TOKENS AGE"))
	e.g.Expect(rows(r.out, name+" ")).To(HaveLen(1))
	e.g.Expect(rows(r.out, name+" ")[0][:5]).To(Equal([]string{name, "True", "ProviderReady", "1", "1"}))

	r = kt(t, "status", "clusteroauthproviders", name, "-o", "wide")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(ContainSubstring("ALLOWED NAMESPACES"))
	e.g.Expect(r.out).To(MatchRegexp(name + ` +True +ProviderReady +1 +1 +\S+ +kubernetes.io/metadata.name=` + e.ns + ` +api\.\* +the provider can be used\n`))

	r = kt(t, "status", "coap", name)
	e.g.Expect(r.err).NotTo(HaveOccurred())
	for _, want := range []string{
		`Message: +the provider can be used\n`,
		`Endpoint: +` + e.idp.URL() + `\n`,
		`Credentials: +central, Secret ` + name + `-creds of the cluster resource namespace\n`,
		`Allowed namespaces: +kubernetes.io/metadata.name=` + e.ns + `\n`,
		`Allowed scopes: +api\.\*\n`,
		`Clients: +1 \(that refer to it and that it allows\)\n`,
		`Shared tokens: +1\n`,
		`\nOAuthClients using it:\n  NAMESPACE +NAME +READY +REASON +SOURCE\n`,
		`\n  ` + e.ns + ` +shared +True +TokenIssued +coap/` + name + ` \(shared\)\n`,
		`\n  ` + pe.other.ns + ` +refused +False +ProviderRefused +coap/` + name + `\n`,
	} {
		e.g.Expect(r.out).To(MatchRegexp(want))
	}
	e.g.Expect(r.out).NotTo(ContainSubstring("lost"))
	e.g.Expect(r.out).NotTo(ContainSubstring("Note:"))
	e.g.Expect(r.out).To(HaveSuffix("\nWhat next (ProviderReady):\n  The operator: counts the clients and shared tokens.\n  You: nothing.\n" +
		"  See " + troubleshootingURL + "#providernotfound\n"))

	r = kt(t, "status", "coap", name, "-o", "json")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	var p tokenatorv1.ClusterOAuthProvider
	e.g.Expect(json.Unmarshal([]byte(r.out), &p)).To(Succeed())
	e.g.Expect(p.Kind).To(Equal("ClusterOAuthProvider"))
	e.g.Expect(p.Status.Clients).To(Equal(int32(1)))
	r = kt(t, "status", "coap", "-o", "yaml")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	var list struct {
		Kind  string                             `json:"kind"`
		Items []tokenatorv1.ClusterOAuthProvider `json:"items"`
	}
	e.g.Expect(yaml.Unmarshal([]byte(r.out), &list)).To(Succeed())
	e.g.Expect(list.Kind).To(Equal("List"))
	e.g.Expect(list.Items).To(ContainElement(HaveField("ObjectMeta.Name", name)))

	r = kt(t, "status", "coap", "nothere")
	e.g.Expect(r.err).To(MatchError(ContainSubstring(`"nothere" not found`)))
	r = kt(t, "status", "coap", "-o", "table")
	e.g.Expect(r.err).To(MatchError(`unknown output format "table": use wide, json or yaml`))
}

// status of a client whose provider is missing, or refuses it, says what next.
func TestProviderHints(t *testing.T) {
	t.Parallel()
	pe := newProviderEnv(t)
	r := kt(t, "status", "-n", pe.e.ns, "lost")
	pe.e.g.Expect(r.err).NotTo(HaveOccurred())
	pe.e.g.Expect(r.out).To(ContainSubstring("\nWhat next (ProviderNotFound):\n" +
		"  The operator: waits for the ClusterOAuthProvider to be created or fixed (watched).\n" +
		"  You: fix spec.providerRef.name, or ask the cluster admin to create or fix the provider.\n" +
		"  See " + troubleshootingURL + "#providernotfound\n"))
	r = kt(t, "status", "-n", pe.other.ns, "refused")
	pe.e.g.Expect(r.err).NotTo(HaveOccurred())
	pe.e.g.Expect(r.out).To(ContainSubstring("\nWhat next (ProviderRefused):\n" +
		"  The operator: waits for a change of the provider, of the namespace's labels or of the spec (watched).\n" +
		"  You: request only allowed scopes, or ask the cluster admin to allow the namespace or the scope.\n" +
		"  See " + troubleshootingURL + "#providerrefused\n"))
}

// inspect coap tells what the provider's shared tokens say, never the tokens.
func TestProviderInspect(t *testing.T) {
	t.Parallel()
	pe := newProviderEnv(t)
	e, name := pe.e, pe.p.Name
	shared := &corev1.SecretList{}
	e.g.Expect(k8s.List(e.ctx, shared, client.InNamespace(controllers.ClusterResourceNamespaceDefault),
		client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(labels.Set{tokenatorv1.LabelProvider: name})})).To(Succeed())
	e.g.Expect(shared.Items).To(HaveLen(1))
	secret := shared.Items[0]
	tok := string(secret.Data[tokenatorv1.SecretKeyAccessToken])

	r := kt(t, "inspect", "coap", name)
	e.g.Expect(r.err).NotTo(HaveOccurred())
	for _, want := range []string{
		`^ClusterOAuthProvider: +` + name + `\nShared tokens: +1, in namespace tokenator-system\n\n`,
		`\nSecret: +` + secret.Name + `\n`,
		`\nIssued at: +20[-0-9T:]+Z \([0-9]+s ago\)\n`,
		`\nNext refresh at: +20[-0-9T:]+Z \(in [0-9]+m\)\n`,
		`\nExpires at: +20[-0-9T:]+Z \(in (59|60)m\)\n`,
		`\nFormat: +JWT \(signature not shown, not verified\)\nHeader:\n  alg: +RS256\n`,
		`\n  scopes: +\["api.read"\]\n`,
	} {
		e.g.Expect(r.out).To(MatchRegexp(want))
	}
	expectNoToken(t, r, tok)

	r = kt(t, "inspect", "coap", name, "-o", "json")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	var got providerInspection
	dec := json.NewDecoder(strings.NewReader(r.out))
	dec.DisallowUnknownFields()
	e.g.Expect(dec.Decode(&got)).To(Succeed())
	e.g.Expect(got.ClusterOAuthProvider).To(Equal(name))
	e.g.Expect(got.SharedTokens).To(HaveLen(1))
	st := got.SharedTokens[0]
	e.g.Expect(st.Secret).To(Equal(objectRef{Namespace: controllers.ClusterResourceNamespaceDefault, Name: secret.Name}))
	e.g.Expect(st.IssuedAt).To(Equal(secret.Annotations[tokenatorv1.AnnotationIssuedAt]))
	e.g.Expect(st.RefreshAt).To(Equal(secret.Annotations[tokenatorv1.AnnotationRefreshAt]))
	e.g.Expect(st.Token.Format).To(Equal("JWT"))
	e.g.Expect(st.Token.Length).To(Equal(len(tok)))
	var scopes []string
	e.g.Expect(json.Unmarshal(st.Token.Claims["scopes"], &scopes)).To(Succeed())
	e.g.Expect(scopes).To(Equal([]string{"api.read"}))
	expectNoToken(t, r, tok)

	r = kt(t, "inspect", "coap", name, "--cluster-resource-namespace", pe.other.ns, "-o", "yaml")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(Equal("clusterOAuthProvider: " + name + "\nsharedTokens: []\n"))
	r = kt(t, "inspect", "coap", name, "--cluster-resource-namespace", pe.other.ns)
	e.g.Expect(r.out).To(MatchRegexp(`Shared tokens: +none in namespace ` + pe.other.ns + ` \(`))
	r = kt(t, "inspect", "coap", "nothere")
	e.g.Expect(r.err).To(MatchError(ContainSubstring(`"nothere" not found`)))
}

// A user who may not list OAuthClients in every namespace is told which
// part of the provider's clients is shown.
func TestProviderClientsOfRestrictedUser(t *testing.T) {
	t.Parallel()
	pe := newProviderEnv(t)
	e, name := pe.e, pe.p.Name
	user := randomString("viewer-")
	rbac := func(objs ...client.Object) {
		for _, o := range objs {
			e.g.Expect(k8s.Create(e.ctx, o)).To(Succeed())
			t.Cleanup(func() { _ = k8s.Delete(context.Background(), o) })
		}
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	// The user reads every provider, and the OAuthClients of e's namespace.
	rbac(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{tokenatorv1.GroupVersion.Group}, Resources: []string{"oauthclients"}, Verbs: []string{"get", "list"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user + "-coap"}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "coap-" + user}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "coap-" + user}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{tokenatorv1.GroupVersion.Group}, Resources: []string{"clusteroauthproviders"}, Verbs: []string{"get", "list"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: e.ns}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user}})

	r := kt(t, "--as", user, "status", "coap", name, "-n", e.ns)
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(MatchRegexp(`\n  ` + e.ns + ` +shared +True +TokenIssued`))
	e.g.Expect(r.out).NotTo(ContainSubstring("refused"))
	e.g.Expect(r.out).To(ContainSubstring("\n  Note: you may not list the OAuthClients of every namespace, nor list namespaces: only namespace " +
		e.ns + " is shown\n"))

	// With namespaces listed, each namespace is tried.
	rbac(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "ns-" + user}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ns-" + user}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "ns-" + user}})
	e.g.Eventually(func(g Gomega) {
		r = kt(t, "--as", user, "status", "coap", name)
		g.Expect(r.err).NotTo(HaveOccurred())
		g.Expect(r.out).To(MatchRegexp(`\n  Note: you may not list the OAuthClients of [0-9]+ of [0-9]+ namespaces: theirs are not shown\n`))
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	e.g.Expect(r.out).To(MatchRegexp(`\n  ` + e.ns + ` +shared +True +TokenIssued`))
	e.g.Expect(r.out).NotTo(ContainSubstring("refused"))
}

package docs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// The tenant-written maps of the spec hold at most 32 entries, keys of at most
// 253 and values of at most 4096 characters: all of them at their bounds at
// once are accepted, one past any bound is refused with the message a user
// sees. The ClusterOAuthProvider shares the endpoint's bounds.
func TestCRDBoundsTenantMaps(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	ctx := context.Background()
	ns := newNamespace(t, "bounds-")

	// fields are the bounded maps of an OAuthClient, with the start of
	// their message.
	fields := []struct {
		path, message string
		of            func(*tokenatorv1.OAuthClient) *map[string]string
	}{
		{"spec.extraParameters", "extraParameters keys may be at most 253 and values at most 4096 characters",
			func(o *tokenatorv1.OAuthClient) *map[string]string { return &o.Spec.ExtraParameters }},
		{"spec.extraHeaders", "extraHeaders names may be at most 253 and values at most 4096 characters",
			func(o *tokenatorv1.OAuthClient) *map[string]string { return &o.Spec.ExtraHeaders }},
		{"spec.secret.labels", "labels keys may be at most 253 and values at most 4096 characters",
			func(o *tokenatorv1.OAuthClient) *map[string]string { return &o.Spec.Secret.Labels }},
		{"spec.secret.annotations", "annotations keys may be at most 253 and values at most 4096 characters",
			func(o *tokenatorv1.OAuthClient) *map[string]string { return &o.Spec.Secret.Annotations }},
		{"spec.secret.extraData", "extraData templates may be at most 4096 characters",
			func(o *tokenatorv1.OAuthClient) *map[string]string { return &o.Spec.Secret.ExtraData }},
	}
	valid := func() *tokenatorv1.OAuthClient { return validClient(ns.Name) }

	t.Run("every map at its bounds", func(t *testing.T) {
		g := NewWithT(t)
		oc := valid()
		for _, f := range fields {
			*f.of(oc) = boundedMap(32, 253, 4096)
		}
		g.Expect(k8s.Create(ctx, oc)).To(Succeed())
		for _, f := range fields {
			m := *f.of(oc)
			g.Expect(m).To(HaveLen(32), f.path)
			g.Expect(m).To(HaveKeyWithValue(boundedKey(0, 253), strings.Repeat("v", 4096)), f.path)
		}
	})

	for _, f := range fields {
		for _, over := range []struct {
			name string
			m    map[string]string
			want string
		}{
			{"33 entries", boundedMap(33, 8, 8), "must have at most 32 items"},
			{"a key of 254 characters", boundedMap(1, 254, 8), f.message},
			{"a value of 4097 characters", boundedMap(1, 8, 4097), f.message},
		} {
			if f.path == "spec.secret.extraData" && strings.HasPrefix(over.name, "a key") {
				over.want = "extraData keys must be valid Secret keys"
			}
			t.Run(f.path+" with "+over.name, func(t *testing.T) {
				g := NewWithT(t)
				oc := valid()
				*f.of(oc) = over.m
				err := k8s.Create(ctx, oc)
				g.Expect(err).To(HaveOccurred(), "the API server accepted %s with %s", f.path, over.name)
				g.Expect(err.Error()).To(ContainSubstring(f.path))
				g.Expect(err.Error()).To(ContainSubstring(over.want))
			})
		}
	}

	t.Run("ClusterOAuthProvider", func(t *testing.T) {
		g := NewWithT(t)
		p := &tokenatorv1.ClusterOAuthProvider{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "coap-"},
			Spec: tokenatorv1.ClusterOAuthProviderSpec{
				OAuthEndpoint:     tokenatorv1.OAuthEndpoint{Provider: "lucca", ExtraHeaders: boundedMap(32, 253, 4096)},
				AllowedNamespaces: &metav1.LabelSelector{},
			},
		}
		g.Expect(k8s.Create(ctx, p)).To(Succeed())
		t.Cleanup(func() { _ = k8s.Delete(ctx, p) })

		p = p.DeepCopy()
		p.ObjectMeta = metav1.ObjectMeta{GenerateName: "coap-"}
		p.Spec.ExtraParameters = boundedMap(1, 8, 4097)
		err := k8s.Create(ctx, p)
		if err == nil {
			_ = k8s.Delete(ctx, p)
		}
		g.Expect(err).To(HaveOccurred())
		g.Expect(err.Error()).To(ContainSubstring("spec.extraParameters"))
		g.Expect(err.Error()).To(ContainSubstring("extraParameters keys may be at most 253 and values at most 4096 characters"))
	})
}

// status.tokenType holds at most 64 characters, and
// status.lastHandledRefreshRequest 128: a status write past either is
// refused.
func TestCRDBoundsStatus(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	ctx := context.Background()
	g := NewWithT(t)
	ns := newNamespace(t, "bounds-")
	oc := validClient(ns.Name)
	g.Expect(k8s.Create(ctx, oc)).To(Succeed())

	oc.Status.TokenType = strings.Repeat("t", 64)
	oc.Status.LastHandledRefreshRequest = strings.Repeat("r", 128)
	g.Expect(k8s.Status().Update(ctx, oc)).To(Succeed())

	long := oc.DeepCopy()
	long.Status.TokenType += "t"
	err := k8s.Status().Update(ctx, long)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("status.tokenType: Too long: may not be more than 64"))

	long = oc.DeepCopy()
	long.Status.LastHandledRefreshRequest += "r"
	err = k8s.Status().Update(ctx, long)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("status.lastHandledRefreshRequest: Too long: may not be more than 128"))
}

// boundedMap has n entries whose keys have keyLen characters and whose
// values have valueLen: valid keys of every map of the spec (Secret keys,
// header names, label and annotation keys).
func boundedMap(n, keyLen, valueLen int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[boundedKey(i, keyLen)] = strings.Repeat("v", valueLen)
	}
	return m
}

// boundedKey is the i-th key of keyLen characters of boundedMap.
func boundedKey(i, keyLen int) string {
	prefix := fmt.Sprintf("k%d-", i)
	return prefix + strings.Repeat("x", keyLen-len(prefix))
}

// validClient is a valid OAuthClient of namespace ns, of a generated name.
func validClient(ns string) *tokenatorv1.OAuthClient {
	return &tokenatorv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "oac-", Namespace: ns},
		Spec: tokenatorv1.OAuthClientSpec{
			OAuthEndpoint:        tokenatorv1.OAuthEndpoint{TokenURL: "https://idp.example.com/oauth2/token"},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "creds"},
		},
	}
}

package controllers_test

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers"
	"github.com/tokenator-dev/tokenator/internal/operator"
)

// The manager's cache keeps of an OAuthClient its spec, its status and the
// metadata a reconcile reads; labels, other annotations, owner references,
// finalizers and managed fields go.
func TestCacheStripsOAuthClients(t *testing.T) {
	g := NewWithT(t)
	var transform func(any) (any, error)
	for obj, by := range controllers.CacheOptions(nil).ByObject {
		if _, ok := obj.(*tokenatorv1.OAuthClient); ok {
			transform = by.Transform
		}
	}
	g.Expect(transform).NotTo(BeNil())
	now := metav1.Now()
	kept := metav1.ObjectMeta{Name: "api", Namespace: "ns", UID: "u", ResourceVersion: "7", Generation: 3,
		CreationTimestamp: now, DeletionTimestamp: &now, DeletionGracePeriodSeconds: ptr.To[int64](0),
		Annotations: map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: "2026-01-01T00:00:00Z"}}
	in := &tokenatorv1.OAuthClient{ObjectMeta: *kept.DeepCopy(),
		Spec:   tokenatorv1.OAuthClientSpec{Scopes: []string{"read"}},
		Status: tokenatorv1.OAuthClientStatus{SecretName: "api-token", ExpiresAt: &now, TokenRequestHash: "h"}}
	in.Labels = map[string]string{"app": "x"}
	in.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = strings.Repeat("x", 1000)
	in.OwnerReferences = []metav1.OwnerReference{{Name: "o"}}
	in.Finalizers = []string{"f"}
	in.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	want := in.DeepCopy()
	want.ObjectMeta = kept

	out, err := transform(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(want))

	// Without annotations of tokenator's, none is kept.
	in = &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "b", Annotations: map[string]string{"a": "b"}}}
	out, err = transform(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(client.Object).GetAnnotations()).To(BeNil())
}

// The status is written with an update at the resourceVersion read; when the
// OAuthClient changed since, the same status is written with a merge patch,
// and the change stays.
func TestWriteStatusAfterAConcurrentChange(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	oc := &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "ns"},
		Spec: tokenatorv1.OAuthClientSpec{Scopes: []string{"read"}}}
	c := fake.NewClientBuilder().WithScheme(operator.NewScheme()).WithObjects(oc).WithStatusSubresource(oc).Build()
	read := &tokenatorv1.OAuthClient{}
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(oc), read)).To(Succeed())

	// Unchanged since it was read: the update is enough.
	before := read.DeepCopy()
	read.Status.SecretName = "api-token"
	g.Expect(controllers.WriteStatus(ctx, c, read, before)).To(Succeed())

	// Changed since it was read: the update conflicts, the merge patch writes.
	before = read.DeepCopy()
	edited := read.DeepCopy()
	edited.Spec.Scopes = []string{"write"}
	g.Expect(c.Update(ctx, edited)).To(Succeed())
	read.Status.TokenType = "Bearer"
	g.Expect(controllers.WriteStatus(ctx, c, read, before)).To(Succeed())

	got := &tokenatorv1.OAuthClient{}
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(oc), got)).To(Succeed())
	g.Expect(got.Status.SecretName).To(Equal("api-token"))
	g.Expect(got.Status.TokenType).To(Equal("Bearer"))
	g.Expect(got.Spec.Scopes).To(Equal([]string{"write"}))
}

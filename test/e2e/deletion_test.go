//go:build e2e

package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// holdFinalizer keeps a deleted object until the test removes it, so that the
// test sees what waits for it.
const holdFinalizer = "e2e.tokenator.dev/hold"

// testDeletion checks what docs/lifecycle.md says about the derived Secret when
// its OAuthClient or namespace is deleted, with the garbage collector and the
// namespace controller of kube-controller-manager doing the deleting.
func testDeletion(t *testing.T, w *world) {
	t.Run("an OAuthClient deleted: the garbage collector deletes its Secret", func(t *testing.T) {
		oc, s := w.issued("gc-background")
		ref := metav1.GetControllerOfNoCopy(s)
		w.g.Expect(ref).NotTo(BeNil())
		w.g.Expect(ref.UID).To(Equal(oc.UID))
		w.g.Expect(ref.BlockOwnerDeletion).To(Equal(ptr.To(true)))

		w.g.Expect(admin.Delete(w.ctx, oc)).To(Succeed())
		w.waitGone(oc)
		w.waitGone(s)
	})

	t.Run("foreground deletion: the OAuthClient waits for its Secret (blockOwnerDeletion)", func(t *testing.T) {
		oc, s := w.issued("gc-foreground")
		// A Secret of the test's, owned by the OAuthClient without
		// blockOwnerDeletion: deleted too, but not waited for.
		other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gc-foreground-other", Namespace: w.ns,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: tokenatorv1.GroupVersion.String(), Kind: "OAuthClient",
				Name: oc.Name, UID: oc.UID, BlockOwnerDeletion: ptr.To(false)}}}}
		w.g.Expect(admin.Create(w.ctx, other)).To(Succeed())
		w.setFinalizers(s, holdFinalizer)
		w.setFinalizers(other, holdFinalizer)

		w.g.Expect(admin.Delete(w.ctx, oc, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(Succeed())
		// The garbage collector deletes both dependents, which the finalizer keeps.
		for _, dep := range []*corev1.Secret{s, other} {
			w.g.Eventually(func(g Gomega) {
				got := &corev1.Secret{}
				g.Expect(admin.Get(w.ctx, client.ObjectKeyFromObject(dep), got)).To(Succeed())
				g.Expect(got.DeletionTimestamp).NotTo(BeNil())
			}).WithTimeout(timeout).WithPolling(poll).Should(Succeed(), "%s is deleted", dep.Name)
		}
		// The OAuthClient stays while its Secret does.
		w.g.Consistently(func(g Gomega) {
			got := &tokenatorv1.OAuthClient{}
			g.Expect(admin.Get(w.ctx, client.ObjectKeyFromObject(oc), got)).To(Succeed())
			g.Expect(got.DeletionTimestamp).NotTo(BeNil())
			g.Expect(got.Finalizers).To(ContainElement(metav1.FinalizerDeleteDependents))
		}).WithTimeout(3*time.Second).WithPolling(poll).Should(Succeed(), "the OAuthClient waits for its Secret")

		// Its Secret gone, the OAuthClient goes, while the other Secret,
		// without blockOwnerDeletion, is still there.
		w.setFinalizers(s)
		w.waitGone(s)
		w.waitGone(oc)
		w.g.Expect(admin.Get(w.ctx, client.ObjectKeyFromObject(other), &corev1.Secret{})).To(Succeed())
		w.setFinalizers(other)
		w.waitGone(other)
	})

	t.Run("orphan deletion: the Secret stays, and is no longer tokenator's", func(t *testing.T) {
		oc, s := w.issued("gc-orphan")
		w.g.Expect(admin.Delete(w.ctx, oc, client.PropagationPolicy(metav1.DeletePropagationOrphan))).To(Succeed())
		w.waitGone(oc)
		// The garbage collector removes the ownerReference; the token stays.
		w.g.Eventually(func(g Gomega) {
			got := &corev1.Secret{}
			g.Expect(admin.Get(w.ctx, client.ObjectKeyFromObject(s), got)).To(Succeed())
			g.Expect(got.OwnerReferences).To(BeEmpty())
			g.Expect(got.Data).To(Equal(s.Data))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		// An OAuthClient of the same name does not take it over.
		w.create(w.oauthClient("gc-orphan"))
		w.waitReason("gc-orphan", tokenatorv1.ReasonSecretConflict)
	})

	t.Run("a namespace deleted: the OAuthClient and its Secret go", func(t *testing.T) {
		other := newWorld(t)
		oc, s := other.issued("gc-namespace")
		ns := &corev1.Namespace{}
		w.g.Expect(admin.Get(w.ctx, types.NamespacedName{Name: other.ns}, ns)).To(Succeed())
		w.g.Expect(admin.Delete(w.ctx, ns)).To(Succeed())
		// The namespace controller removes the namespace once it is empty.
		w.waitGone(ns)
		w.g.Expect(apierrors.IsNotFound(admin.Get(w.ctx, client.ObjectKeyFromObject(oc), &tokenatorv1.OAuthClient{}))).To(BeTrue())
		w.g.Expect(apierrors.IsNotFound(admin.Get(w.ctx, client.ObjectKeyFromObject(s), &corev1.Secret{}))).To(BeTrue())
	})
}

// issued creates an OAuthClient, waits for its token and returns it with its
// derived Secret.
func (w *world) issued(name string) (*tokenatorv1.OAuthClient, *corev1.Secret) {
	w.t.Helper()
	w.create(w.oauthClient(name))
	oc := w.waitReason(name, tokenatorv1.ReasonTokenIssued)
	s := &corev1.Secret{}
	w.g.Expect(admin.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: oc.Status.SecretName}, s)).To(Succeed())
	w.g.Expect(s.Data["access_token"]).NotTo(BeEmpty())
	return oc, s
}

// setFinalizers replaces the finalizers of obj.
func (w *world) setFinalizers(obj client.Object, finalizers ...string) {
	w.t.Helper()
	w.g.Eventually(func() error {
		if err := admin.Get(w.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		obj.SetFinalizers(finalizers)
		return admin.Update(w.ctx, obj)
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
}

// waitGone waits until obj no longer exists.
func (w *world) waitGone(obj client.Object) {
	w.t.Helper()
	probe := obj.DeepCopyObject().(client.Object)
	w.g.Eventually(func() bool {
		return apierrors.IsNotFound(admin.Get(w.ctx, client.ObjectKeyFromObject(obj), probe))
	}).WithTimeout(timeout).WithPolling(poll).Should(BeTrue(), "%T %s is deleted", obj, obj.GetName())
}

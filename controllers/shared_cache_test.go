package controllers

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// The metadata cache keeps a shared token's controller and annotations in the
// cluster resource namespace only: a tenant's Secret that names a
// ClusterOAuthProvider as its controller is stripped like any other.
func TestStripKeepsSharedTokensInTheClusterResourceNamespaceOnly(t *testing.T) {
	secret := func(ns string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns,
			Labels:      map[string]string{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue},
			Annotations: map[string]string{tokenatorv1.AnnotationRequestHash: "h", "other": strings.Repeat("x", 1000)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "tokenator.dev/v1alpha1", Kind: "ClusterOAuthProvider",
				Name: "p", UID: "u", Controller: ptr.To(true)}}}}
	}
	strip := stripSecret("tokenator-system")
	kept, _ := strip(secret("tokenator-system"))
	if m := kept.(*metav1.PartialObjectMetadata); len(m.OwnerReferences) != 1 || m.Annotations[tokenatorv1.AnnotationRequestHash] != "h" || len(m.Annotations) != 1 {
		t.Errorf("shared token in the cluster resource namespace: %+v", m.ObjectMeta)
	}
	stripped, _ := strip(secret("tenant"))
	if m := stripped.(*metav1.PartialObjectMetadata); len(m.OwnerReferences) != 0 || len(m.Annotations) != 0 {
		t.Errorf("a tenant's Secret kept %+v", m.ObjectMeta)
	}
}

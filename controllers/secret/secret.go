// Package secret writes and reads the derived Secrets of OAuthClients: their
// name, their data and annotations (Desired), whether one still holds the token
// the status describes (Store.Holds), and the writes (Store.Apply, DeleteStale).
package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// Name is spec.secret.name, else "<metadata.name>-token".
func Name(oc *tokenatorv1.OAuthClient) string {
	if oc.Spec.Secret.Name != "" {
		return oc.Spec.Secret.Name
	}
	return oc.Name + DefaultSuffix
}

// DefaultSuffix makes the default derived Secret name of an
// OAuthClient from its own.
const DefaultSuffix = "-token"

// IsDefaultName reports whether s has the default derived Secret name of
// the OAuthClient that controls it, ref.
func IsDefaultName(s metav1.Object, ref *metav1.OwnerReference) bool {
	return ref.Kind == "OAuthClient" && s.GetName() == ref.Name+DefaultSuffix
}

// MaxScopeAnnotation bounds the scope kept on the derived Secret: a longer one
// is not kept, and templates that use .Scope see "" when they are rendered again
// without a new token.
const MaxScopeAnnotation = 4096

// DataHash is a SHA-256 over the keys and values of a Secret's data. It is stored
// on the derived Secret to notice an edit; it reveals nothing of the token.
func DataHash(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%d:%s%d:", len(k), k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ShapeHash is a SHA-256 over what spec.secret asks of a derived Secret
// besides its name: labels, annotations and extraData templates. The same
// token written with the same shape gives the same Secret.
func ShapeHash(secret *tokenatorv1.SecretTemplate) string {
	h := sha256.New()
	for _, m := range []map[string]string{secret.Labels, secret.Annotations, secret.ExtraData} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(m[k]), m[k])
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ConflictError: the derived Secret's name is taken by a Secret this
// OAuthClient does not control.
type ConflictError struct{ Name string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf(msgConflict, e.Name)
}

// Desired is the derived Secret oc asks for, holding data; renderErr
// says which templates failed (their keys are left out of data).
func Desired(oc *tokenatorv1.OAuthClient, data map[string][]byte, scope string, renderErr error) *corev1ac.SecretApplyConfiguration {
	labels := map[string]string{}
	for k, v := range oc.Spec.Secret.Labels {
		labels[k] = v
	}
	labels[tokenatorv1.LabelManagedBy] = tokenatorv1.ManagedByValue
	annotations := map[string]string{}
	for k, v := range oc.Spec.Secret.Annotations {
		if !strings.HasPrefix(k, "tokenator.dev/") {
			annotations[k] = v
		}
	}
	annotations[tokenatorv1.AnnotationShapeHash] = ShapeHash(&oc.Spec.Secret)
	annotations[tokenatorv1.AnnotationDataHash] = DataHash(data)
	if renderErr != nil {
		annotations[tokenatorv1.AnnotationRenderError] = renderErr.Error()
	}
	// Written even when empty: every write sets the same annotations but
	// those of spec.secret and the render error (see createsCleanly).
	if len(scope) > MaxScopeAnnotation {
		scope = ""
	}
	annotations[tokenatorv1.AnnotationScope] = scope

	gvk := tokenatorv1.GroupVersion.WithKind("OAuthClient")
	return corev1ac.Secret(Name(oc), oc.Namespace).
		WithType(corev1.SecretTypeOpaque).
		WithLabels(labels).
		WithAnnotations(annotations).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(gvk.GroupVersion().String()).
			WithKind(gvk.Kind).
			WithName(oc.Name).
			WithUID(oc.UID).
			WithController(true).
			WithBlockOwnerDeletion(true)).
		WithData(data)
}

// UpToDate reports whether existing, a derived Secret that holds the token,
// already is what oc asks for: the same name and shape.
func UpToDate(existing *metav1.PartialObjectMetadata, oc *tokenatorv1.OAuthClient) bool {
	return existing != nil && existing.Name == Name(oc) &&
		existing.Annotations[tokenatorv1.AnnotationShapeHash] == ShapeHash(&oc.Spec.Secret)
}

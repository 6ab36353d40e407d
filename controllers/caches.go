package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/render"
)

// CacheOptions are the manager's cache options: managed fields are dropped
// from every cached object, and of an OAuthClient the metadata no reconcile
// reads (see stripOAuthClient). The manager's cache holds no Secret: derived
// and referenced Secrets alike are watched as metadata in the reconciler's own
// cache (see stripToIdentity), and ClientOptions makes every Secret read go to
// the API server.
func CacheOptions(namespaces []string) cache.Options {
	opts := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject:         map[client.Object]cache.ByObject{&tokenatorv1.OAuthClient{}: {Transform: stripOAuthClient}},
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// stripOAuthClient is the transform of the cache of OAuthClients: it keeps
// the spec, the status and the metadata a reconcile reads (identity,
// generation, resourceVersion, deletionTimestamp and the
// tokenator.dev/refresh-requested-at annotation, bounded by
// boundedRefreshRequest), and drops labels, the other annotations (kubectl's
// last-applied annotation holds a copy of the spec; a tenant may add any
// tokenator.dev/ key), owner references, finalizers and managed fields. The
// status is kept whole: it is the base of the status merge patch. Update
// events compare transformed objects, so a change of a dropped annotation does
// not wake the OAuthClient either.
func stripOAuthClient(in any) (any, error) {
	oc, ok := in.(*tokenatorv1.OAuthClient)
	if !ok {
		return in, nil
	}
	var keep map[string]string
	if v, ok := oc.Annotations[tokenatorv1.AnnotationRefreshRequestedAt]; ok {
		keep = map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: boundedRefreshRequest(v)}
	}
	oc.Annotations = keep
	oc.Labels = nil
	oc.OwnerReferences = nil
	oc.Finalizers = nil
	oc.ManagedFields = nil
	return oc, nil
}

// maxRefreshRequest is the longest tokenator.dev/refresh-requested-at value
// kept as it is (kubectl tokenator renew writes an RFC 3339 time, date +%s a
// number).
const maxRefreshRequest = 128

// boundedRefreshRequest is the refresh-requested-at value v as the cache
// keeps it, and status.lastHandledRefreshRequest records it: v itself up to
// maxRefreshRequest bytes, else "sha256:" and the SHA-256 of v in hex, 71
// bytes, so that any change of a long value still asks for a new token.
func boundedRefreshRequest(v string) string {
	if len(v) <= maxRefreshRequest {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ClientOptions are the manager's client options: Secrets are never read
// through a cache, so that no read can start an informer that would hold the
// data of every Secret of the cluster.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// stripToIdentity is the transform of the metadata cache of ConfigMaps (and
// the default of the reference cache): it keeps what identifies a version of
// an object, nothing a tenant writes besides its name. No labels, no
// annotations (kubectl's last-applied annotation can hold an object's data),
// no owner references, no managed fields.
func stripToIdentity(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil
	}
	obj.SetManagedFields(nil)
	obj.SetAnnotations(nil)
	obj.SetLabels(nil)
	obj.SetOwnerReferences(nil)
	obj.SetFinalizers(nil)
	return in, nil
}

// stripSecret returns the transform of the metadata cache of Secrets, crn
// being the cluster resource namespace: stripToIdentity, and of a Secret
// controlled by an OAuthClient (a derived Secret) or, in the cluster resource
// namespace only, by a ClusterOAuthProvider (a shared token), that controller
// reference, the managed-by label and the annotations the manager wrote and a
// reconcile reads (keptAnnotations).
//
// Anyone who may write a Secret in a namespace may give it such a controller
// reference, the label and those annotations, so what is kept is bounded, not
// trusted: the annotations are kept only of a Secret that carries the
// managed-by label the manager always writes, and only when each is within
// the size the manager writes; else none is. A derived Secret without its
// shape hash is written again from the token it holds (see upToDate), as one
// the manager did not write that way should be. What a kept annotation says
// reaches only the OAuthClient its controller reference names, of the
// Secret's own namespace.
func stripSecret(crn string) func(any) (any, error) {
	return func(in any) (any, error) {
		obj, err := meta.Accessor(in)
		if err != nil {
			return in, nil
		}
		ref := keptController(obj, crn)
		var keep, labels map[string]string
		if ref != nil && obj.GetLabels()[tokenatorv1.LabelManagedBy] == tokenatorv1.ManagedByValue {
			keep = boundedAnnotations(obj.GetAnnotations(), keptAnnotations[ref.Kind])
			// Kept so that the transform, which the informer may apply to
			// an object it already transformed, keeps the same.
			labels = map[string]string{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue}
		}
		if _, err := stripToIdentity(in); err != nil {
			return in, err
		}
		obj.SetAnnotations(keep)
		obj.SetLabels(labels)
		if ref != nil {
			obj.SetOwnerReferences([]metav1.OwnerReference{*ref})
		}
		return in, nil
	}
}

// keptController is the controller reference of obj that the cache keeps, a
// copy bounded to what names an object: an OAuthClient's, or a
// ClusterOAuthProvider's in the cluster resource namespace crn; nil for any
// other.
func keptController(obj metav1.Object, crn string) *metav1.OwnerReference {
	ref := metav1.GetControllerOfNoCopy(obj)
	switch {
	case ref == nil || keptAnnotations[ref.Kind] == nil:
		return nil
	case !strings.HasPrefix(ref.APIVersion, tokenatorv1.GroupVersion.Group+"/") || len(ref.APIVersion) > maxOwnerField:
		return nil
	case len(ref.Name) > maxOwnerField || len(ref.UID) > maxOwnerField:
		// No object has such a name or UID.
		return nil
	case ref.Kind == "ClusterOAuthProvider" && (crn == "" || obj.GetNamespace() != crn):
		return nil
	}
	return &metav1.OwnerReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Controller: ptr.To(true)}
}

// maxOwnerField bounds the name, UID and apiVersion of a kept controller
// reference: the longest object name.
const maxOwnerField = 253

// boundedAnnotations are the annotations of bounds found in all, or nil when
// one of them is longer than its bound.
func boundedAnnotations(all map[string]string, bounds map[string]int) map[string]string {
	var keep map[string]string
	for k, limit := range bounds {
		v, ok := all[k]
		if !ok {
			continue
		}
		if len(v) > limit {
			return nil
		}
		if keep == nil {
			keep = map[string]string{}
		}
		keep[k] = v
	}
	return keep
}

// keptAnnotations are the annotations the metadata cache keeps of a Secret
// controlled by an OAuthClient (a derived Secret) or by a
// ClusterOAuthProvider (a shared token), by the kind of its controller, with
// the longest value the manager writes of each.
var keptAnnotations = map[string]map[string]int{
	"OAuthClient": {tokenatorv1.AnnotationShapeHash: hashAnnotationBound, tokenatorv1.AnnotationRenderError: render.MaxError},
	"ClusterOAuthProvider": {tokenatorv1.AnnotationSharedKey: hashAnnotationBound, tokenatorv1.AnnotationRequestHash: hashAnnotationBound,
		tokenatorv1.AnnotationIssuedAt: hashAnnotationBound, tokenatorv1.AnnotationExpiresAt: hashAnnotationBound,
		tokenatorv1.AnnotationRefreshAt: hashAnnotationBound},
}

// hashAnnotationBound bounds the hashes (SHA-256 in hex at most) and RFC 3339
// times the manager writes in annotations.
const hashAnnotationBound = 64

// referenceCacheOptions are the options of the reconciler's metadata cache
// of Secrets, ConfigMaps and ServiceAccounts: each kind with its transform.
func referenceCacheOptions(mgr ctrl.Manager, o *Options) cache.Options {
	opts := cache.Options{
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		HTTPClient:       mgr.GetHTTPClient(),
		DefaultTransform: stripToIdentity,
		ByObject: map[client.Object]cache.ByObject{
			metadataOnly("Secret"): {Transform: stripSecret(o.ClusterResourceNamespace)},
			// ServiceAccounts keep their opt-in annotation (serviceAccountToken).
			metadataOnly("ServiceAccount"): {Transform: stripServiceAccount},
		},
	}
	if len(o.Namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range o.Namespaces {
			opts.DefaultNamespaces[n] = cache.Config{}
		}
	}
	return opts
}

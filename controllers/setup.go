package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/metrics"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/slots"
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
	"OAuthClient": {tokenatorv1.AnnotationShapeHash: hashAnnotationBound, tokenatorv1.AnnotationRenderError: maxRenderError},
	"ClusterOAuthProvider": {tokenatorv1.AnnotationSharedKey: hashAnnotationBound, tokenatorv1.AnnotationRequestHash: hashAnnotationBound,
		tokenatorv1.AnnotationIssuedAt: hashAnnotationBound, tokenatorv1.AnnotationExpiresAt: hashAnnotationBound,
		tokenatorv1.AnnotationRefreshAt: hashAnnotationBound},
}

// hashAnnotationBound bounds the hashes (SHA-256 in hex at most) and RFC 3339
// times the manager writes in annotations.
const hashAnnotationBound = 64

// indexNamespaced adds to the informer of obj in c a field index that a List
// of the cache with client.InNamespace and client.MatchingFields{field: value}
// reads: the index controller-runtime's IndexField names "field:<field>",
// keyed "<namespace>/<value>". IndexField also keys every value of a
// namespaced object under all namespaces, for queries that span them; no
// query of these indexes does, and that second key doubles the index of every
// object (a set of one key per value). Tests that map a changed Secret,
// ConfigMap or ServiceAccount to its OAuthClients, and a derived Secret to the
// OAuthClient that controls it, show that the name and the keys are those the
// cache reads.
func indexNamespaced(ctx context.Context, c cache.Informers, obj client.Object, field string, extract client.IndexerFunc) error {
	inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	return inf.AddIndexers(toolscache.Indexers{"field:" + field: func(raw any) ([]string, error) {
		o, ok := raw.(client.Object)
		if !ok {
			return nil, fmt.Errorf("object of type %T is not an Object", raw)
		}
		vals := extract(o)
		keys := make([]string, len(vals))
		for i, v := range vals {
			keys[i] = o.GetNamespace() + "/" + v
		}
		return keys, nil
	}})
}

// indexControllerValues is the value of the index of Secrets by controller:
// the UID of the OAuthClient or ClusterOAuthProvider that controls a Secret.
// A derived Secret of the default name, the one of most OAuthClients, is
// left out: staleSecrets reads it by name, and an index key costs a set
// of its own.
func indexControllerValues(o client.Object) []string {
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil && !defaultSecretName(o, ref) {
		return []string{string(ref.UID)}
	}
	return nil
}

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

// The derived Secret's controller ownerReference sets blockOwnerDeletion: where
// the OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift,
// hardened clusters), that needs update on the owner's finalizers.
// +kubebuilder:rbac:groups=tokenator.dev,resources=oauthclients/finalizers,verbs=update

// SetupWithManager registers the reconciler, its indexes and its watches.
func (r *OAuthClientReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Options.ClusterResourceNamespace == "" {
		r.Options.ClusterResourceNamespace = ClusterResourceNamespaceDefault
	}
	if r.HTTPClients == nil {
		r.HTTPClients = oauth.NewHTTPClients(oauth.HTTPOptions{})
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Slots == nil {
		perNamespace := r.Options.MaxRequestsPerNamespace
		if perNamespace == 0 {
			perNamespace = max(1, r.Options.MaxConcurrentReconciles*3/4)
		}
		r.Slots = &slots.Limiter{PerHost: r.Options.MaxRequestsPerHost, PerTenant: perNamespace}
	}
	// A freed request slot wakes the next client in line through this channel.
	woken := make(chan event.TypedGenericEvent[*tokenatorv1.OAuthClient], 1024)
	r.Slots.Wake = func(key string) {
		ns, name, _ := strings.Cut(key, "/")
		select {
		case woken <- event.TypedGenericEvent[*tokenatorv1.OAuthClient]{Object: &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}:
		default:
			// The channel is full: the client comes back by its requeue.
		}
	}
	if r.Metrics == nil {
		r.Metrics = metrics.Default
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("tokenator")
	}

	if err := indexNamespaced(ctx, mgr.GetCache(), &tokenatorv1.OAuthClient{}, indexSecretRefs, func(o client.Object) []string {
		return referencedSecrets(o.(*tokenatorv1.OAuthClient))
	}); err != nil {
		return fmt.Errorf("indexing Secret references: %w", err)
	}
	if err := indexNamespaced(ctx, mgr.GetCache(), &tokenatorv1.OAuthClient{}, indexConfigMapRefs, func(o client.Object) []string {
		return referencedConfigMaps(o.(*tokenatorv1.OAuthClient))
	}); err != nil {
		return fmt.Errorf("indexing ConfigMap references: %w", err)
	}
	if err := indexNamespaced(ctx, mgr.GetCache(), &tokenatorv1.OAuthClient{}, indexServiceAccountRefs, func(o client.Object) []string {
		return referencedServiceAccounts(o.(*tokenatorv1.OAuthClient))
	}); err != nil {
		return fmt.Errorf("indexing ServiceAccount references: %w", err)
	}
	if r.apiAudiences == nil {
		r.apiAudiences = &apiAudiences{httpClient: mgr.GetHTTPClient(), host: mgr.GetConfig().Host, tokenFile: inClusterTokenFile}
	}

	// Secrets (derived and referenced) and ConfigMaps are watched as bare
	// metadata in a cache of their own. A derived Secret's changes reach its
	// OAuthClient through its controller reference and its name (see
	// requestsForDerivedSecret), and through the index of the Secrets it
	// references when spec.secret.name sets the name.
	refCache, err := cache.New(mgr.GetConfig(), referenceCacheOptions(mgr, &r.Options))
	if err != nil {
		return fmt.Errorf("creating the reference cache: %w", err)
	}
	if err := indexNamespaced(ctx, refCache, metadataOnly("Secret"), indexController, indexControllerValues); err != nil {
		return fmt.Errorf("indexing Secrets by controller: %w", err)
	}
	if err := mgr.Add(refCache); err != nil {
		return err
	}
	if r.References == nil {
		r.References = refCache
	}
	r.refs = newRefValues(r.APIReader, r.References)

	mapSecret := r.mapClusterResource(indexProviderSecretRefs, r.requestsForReference(indexSecretRefs))
	mapConfigMap := r.mapClusterResource(indexProviderConfigMapRefs, r.requestsForReference(indexConfigMapRefs))
	mapServiceAccount := r.mapClusterResource(indexProviderServiceAccountRefs, r.requestsForReference(indexServiceAccountRefs))

	b, err := r.watchProviders(ctx, mgr, ctrl.NewControllerManagedBy(mgr))
	if err != nil {
		return err
	}
	return b.
		Named("oauthclient").
		For(&tokenatorv1.OAuthClient{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(source.Kind(refCache, metadataOnly("Secret"),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []ctrl.Request {
				return append(mapSecret(ctx, o), r.requestsForDerivedSecret(ctx, o)...)
			}))).
		WatchesRawSource(source.Channel(woken, &handler.TypedEnqueueRequestForObject[*tokenatorv1.OAuthClient]{})).
		WatchesRawSource(source.Kind(refCache, metadataOnly("ConfigMap"),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []ctrl.Request {
				return mapConfigMap(ctx, o)
			}))).
		WatchesRawSource(source.Kind(refCache, metadataOnly("ServiceAccount"),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []ctrl.Request {
				// A changed (or deleted) ServiceAccount's tokens are not reused.
				r.saTokens.forget(o.Namespace, o.Name)
				return mapServiceAccount(ctx, o)
			}))).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles,
			SkipNameValidation:      ptr.To(r.Options.SkipNameValidation),
		}).
		Complete(r)
}

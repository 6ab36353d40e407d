package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/metrics"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// CacheOptions are the manager's cache options: Secrets are cached only when
// they are derived Secrets (labelled as managed by tokenator), and managed
// fields are dropped from every cached object.
func CacheOptions(namespaces []string) cache.Options {
	opts := cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue})},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// stripToIdentity keeps only what identifies a version of an object: the
// metadata cache of referenced Secrets and ConfigMaps holds no labels,
// annotations (kubectl's last-applied annotation can hold a Secret's data) or
// managed fields.
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

// The derived Secret's controller ownerReference sets blockOwnerDeletion: where
// the OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift,
// hardened clusters), that needs update on the owner's finalizers.
// +kubebuilder:rbac:groups=tokenator.dev,resources=oauthclients/finalizers,verbs=update

// SetupWithManager registers the reconciler, its indexes and its watches.
func (r *OAuthClientReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.HTTPClients == nil {
		r.HTTPClients = oauth.NewHTTPClients(oauth.HTTPOptions{})
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.HostLimiter == nil {
		r.HostLimiter = oauth.NewHostLimiter(r.Options.MaxRequestsPerHost)
	}
	if r.Metrics == nil {
		r.Metrics = metrics.Default
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("tokenator")
	}

	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &tokenatorv1.OAuthClient{}, indexSecretRefs, func(o client.Object) []string {
		return referencedSecrets(o.(*tokenatorv1.OAuthClient))
	}); err != nil {
		return fmt.Errorf("indexing Secret references: %w", err)
	}
	if err := indexer.IndexField(ctx, &tokenatorv1.OAuthClient{}, indexConfigMapRefs, func(o client.Object) []string {
		return referencedConfigMaps(o.(*tokenatorv1.OAuthClient))
	}); err != nil {
		return fmt.Errorf("indexing ConfigMap references: %w", err)
	}

	// Referenced Secrets and ConfigMaps are watched as bare metadata in a cache
	// of their own: the manager's Secret cache holds only derived Secrets.
	refOpts := cache.Options{
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		HTTPClient:       mgr.GetHTTPClient(),
		DefaultTransform: stripToIdentity,
	}
	if ns := r.Options.Namespaces; len(ns) > 0 {
		refOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range ns {
			refOpts.DefaultNamespaces[n] = cache.Config{}
		}
	}
	refCache, err := cache.New(mgr.GetConfig(), refOpts)
	if err != nil {
		return fmt.Errorf("creating the reference cache: %w", err)
	}
	if err := mgr.Add(refCache); err != nil {
		return err
	}
	if r.References == nil {
		r.References = refCache
	}

	mapSecret := r.requestsForReference(indexSecretRefs)
	mapConfigMap := r.requestsForReference(indexConfigMapRefs)

	return ctrl.NewControllerManagedBy(mgr).
		Named("oauthclient").
		For(&tokenatorv1.OAuthClient{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		WatchesRawSource(source.Kind(refCache, metadataOnly("Secret"),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []ctrl.Request {
				return mapSecret(ctx, o)
			}))).
		WatchesRawSource(source.Kind(refCache, metadataOnly("ConfigMap"),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []ctrl.Request {
				return mapConfigMap(ctx, o)
			}))).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles,
			SkipNameValidation:      ptr.To(r.Options.SkipNameValidation),
		}).
		Complete(r)
}

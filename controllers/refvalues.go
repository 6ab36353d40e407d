package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Bounds of the memory of referenced values: at most maxRefValues objects of
// at most maxRefValueBytes each (32 MiB in all), room for a private key with
// a certificate chain and its CA (a cert-manager Secret of an RSA 4096 key
// and three certificates is about 12 KiB); a larger object is read from the
// API server every time it is needed.
const (
	maxRefValues     = 1024
	maxRefValueBytes = 32 << 10
)

// refValues reads the credentials Secrets and CA bundles of token requests,
// and reads each version of each object once: the metadata cache tells the
// version an object is at, and a version already read is answered from
// memory. A routine refresh thus costs no read at all; a changed Secret or
// ConfigMap (a rotated client secret, a renewed CA) is read again at its next
// use. Only small objects are kept (their data and labels, no annotations),
// and at most maxRefValues of them.
type refValues struct {
	api  client.Reader
	meta client.Reader
	lru  *lru.Cache
}

type refKey struct {
	kind string
	key  client.ObjectKey
}

func newRefValues(api, meta client.Reader) *refValues {
	return &refValues{api: api, meta: meta, lru: lru.New(maxRefValues)}
}

// Get reads a Secret or ConfigMap into obj, from memory when the metadata
// cache shows the version remembered, else from the API server.
func (v *refValues) Get(ctx context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	var kind string
	switch obj.(type) {
	case *corev1.Secret:
		kind = "Secret"
	case *corev1.ConfigMap:
		kind = "ConfigMap"
	default:
		return fmt.Errorf("refValues reads Secrets and ConfigMaps, not %T", obj)
	}
	k := refKey{kind, key}
	meta := metadataOnly(kind)
	if err := v.meta.Get(ctx, key, meta); err == nil {
		if kept, ok := v.lru.Get(k); ok && sameVersion(kept.(client.Object), meta) {
			copyInto(kept.(client.Object), obj)
			return nil
		}
	}
	if err := v.api.Get(ctx, key, obj); err != nil {
		v.lru.Remove(k)
		return err
	}
	if kept := trimmed(obj); kept != nil {
		v.lru.Add(k, kept)
	} else {
		v.lru.Remove(k)
	}
	return nil
}

func sameVersion(a client.Object, b *metav1.PartialObjectMetadata) bool {
	return a.GetUID() == b.UID && a.GetResourceVersion() == b.ResourceVersion
}

// trimmed is a copy of obj with only what a token request reads (identity,
// labels, data), or nil when that is over maxRefValueBytes.
func trimmed(obj client.Object) client.Object {
	size := 0
	for k, v := range obj.GetLabels() {
		size += len(k) + len(v)
	}
	meta := metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID(),
		ResourceVersion: obj.GetResourceVersion(), Labels: obj.GetLabels()}
	switch o := obj.(type) {
	case *corev1.Secret:
		for k, v := range o.Data {
			size += len(k) + len(v)
		}
		if size > maxRefValueBytes {
			return nil
		}
		return (&corev1.Secret{ObjectMeta: meta, Type: o.Type, Data: o.Data}).DeepCopy()
	case *corev1.ConfigMap:
		for k, v := range o.Data {
			size += len(k) + len(v)
		}
		for k, v := range o.BinaryData {
			size += len(k) + len(v)
		}
		if size > maxRefValueBytes {
			return nil
		}
		return (&corev1.ConfigMap{ObjectMeta: meta, Data: o.Data, BinaryData: o.BinaryData}).DeepCopy()
	}
	return nil
}

// copyInto deep-copies kept into obj, of the same type.
func copyInto(kept, obj client.Object) {
	switch o := obj.(type) {
	case *corev1.Secret:
		kept.(*corev1.Secret).DeepCopyInto(o)
	case *corev1.ConfigMap:
		kept.(*corev1.ConfigMap).DeepCopyInto(o)
	}
}

// Package refvalues reads the credentials Secrets and CA bundles of token
// requests, each version of each object once.
package refvalues

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Bounds of the memory of referenced values: objects of at most
// MaxValueBytes each, MaxBytes in all, each counted with
// ValueOverhead for its metadata and the bookkeeping; a larger object is
// read from the API server every time it is needed. MaxValueBytes is room
// for a private key with a certificate chain and its CA (a cert-manager
// Secret of an RSA 4096 key and three certificates is about 12 KiB, one with
// a trust bundle in ca.crt more). 64 MiB holds the credentials of some 50,000
// OAuthClients (about 1.2 KiB each, counted), or some 2,000 key Secrets at
// the largest, so that a routine refresh reads nothing at that scale either.
const (
	MaxValueBytes = 32 << 10
	MaxBytes      = 64 << 20
	ValueOverhead = 1 << 10
)

// Reader reads the credentials Secrets and CA bundles of token requests,
// and reads each version of each object once: the metadata cache tells the
// version an object is at, and a version already read is answered from
// memory. A routine refresh thus costs no read at all; a changed Secret or
// ConfigMap (a rotated client secret, a renewed CA) is read again at its next
// use. Only small objects are kept (their data and labels, no annotations),
// the least recently used going first past MaxBytes.
type Reader struct {
	api  client.Reader
	meta client.Reader
	kept *sizedLRU
}

type refKey struct {
	kind string
	key  client.ObjectKey
}

// New returns the Reader of api (the API server) and meta (the metadata
// cache, which tells the version of an object).
func New(api, meta client.Reader) *Reader {
	return &Reader{api: api, meta: meta, kept: newSizedLRU(MaxBytes)}
}

// sizedLRU is a least-recently-used map bounded by the sum of its values'
// sizes.
type sizedLRU struct {
	mu    sync.Mutex
	lru   *lru.Cache
	bytes int // the sum of the sizes kept
	limit int
}

type sized struct {
	value any
	size  int
}

func newSizedLRU(limit int) *sizedLRU {
	c := &sizedLRU{limit: limit}
	// Called by lru with c.mu held (every change of c.lru is made under it).
	c.lru = lru.NewWithEvictionFunc(0, func(_ lru.Key, v any) { c.bytes -= v.(sized).size })
	return c
}

func (c *sizedLRU) get(k any) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.lru.Get(k)
	if !ok {
		return nil, false
	}
	return v.(sized).value, true
}

// add keeps v, of the given size, under k, then drops the least recently
// used values until the sizes fit the limit.
func (c *sizedLRU) add(k, v any, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(k)
	c.lru.Add(k, sized{v, size})
	c.bytes += size
	for c.bytes > c.limit && c.lru.Len() > 0 {
		c.lru.RemoveOldest()
	}
}

func (c *sizedLRU) remove(k any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(k)
}

// size is the sum of the sizes kept.
func (c *sizedLRU) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Get reads a Secret or ConfigMap into obj, from memory when the metadata
// cache shows the version remembered, else from the API server.
func (v *Reader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	var kind string
	switch obj.(type) {
	case *corev1.Secret:
		kind = "Secret"
	case *corev1.ConfigMap:
		kind = "ConfigMap"
	default:
		return fmt.Errorf("refvalues reads Secrets and ConfigMaps, not %T", obj)
	}
	k := refKey{kind, key}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	var opts []client.GetOption
	if err := v.meta.Get(ctx, key, meta); err == nil {
		if kept, ok := v.kept.get(k); ok && sameVersion(kept.(client.Object), meta) {
			copyInto(kept.(client.Object), obj)
			return nil
		}
		// A version at least as new as the one the metadata cache shows: the
		// API server answers from its watch cache, without a read of etcd.
		opts = append(opts, &client.GetOptions{Raw: &metav1.GetOptions{ResourceVersion: meta.ResourceVersion}})
	}
	if err := v.api.Get(ctx, key, obj, opts...); err != nil {
		v.kept.remove(k)
		return err
	}
	if kept, size := trimmed(obj); kept != nil {
		v.kept.add(k, kept, size+ValueOverhead)
	} else {
		v.kept.remove(k)
	}
	return nil
}

func sameVersion(a client.Object, b *metav1.PartialObjectMetadata) bool {
	return a.GetUID() == b.UID && a.GetResourceVersion() == b.ResourceVersion
}

// trimmed is a copy of obj with only what a token request reads (identity,
// labels, data) and the size of its labels and data, or nil when that is over
// MaxValueBytes.
func trimmed(obj client.Object) (client.Object, int) {
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
		if size > MaxValueBytes {
			return nil, 0
		}
		return (&corev1.Secret{ObjectMeta: meta, Type: o.Type, Data: o.Data}).DeepCopy(), size
	case *corev1.ConfigMap:
		for k, v := range o.Data {
			size += len(k) + len(v)
		}
		for k, v := range o.BinaryData {
			size += len(k) + len(v)
		}
		if size > MaxValueBytes {
			return nil, 0
		}
		return (&corev1.ConfigMap{ObjectMeta: meta, Data: o.Data, BinaryData: o.BinaryData}).DeepCopy(), size
	}
	return nil, 0
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

// Size is the sum of the sizes of the values kept.
func (v *Reader) Size() int { return v.kept.size() }

package controllers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers"
	"github.com/tokenator-dev/tokenator/operator"
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

// oauthClientTransform is the transform of the manager's OAuthClient cache.
func oauthClientTransform(t *testing.T) func(any) (any, error) {
	t.Helper()
	for obj, by := range controllers.CacheOptions(nil).ByObject {
		if _, ok := obj.(*tokenatorv1.OAuthClient); ok {
			return by.Transform
		}
	}
	t.Fatal("no OAuthClient transform")
	return nil
}

// hostileMeta is the metadata a tenant can write on any of its objects, at
// its largest: 240 KiB of annotations under the given keys (within the API
// server's 256 KiB), labels, owner references, finalizers and managed fields.
func hostileMeta(name string, annotations ...string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name, Namespace: "tenant", UID: "4b2f3c1e-7d4a-4e0b-9c1f-2a3b4c5d6e7f", ResourceVersion: "123456",
		Annotations: map[string]string{}, Labels: map[string]string{}}
	for _, k := range annotations {
		m.Annotations[k] = strings.Repeat("a", 240<<10/len(annotations))
	}
	for i := range 64 {
		m.Labels[fmt.Sprintf("tenant.example.com/label-%d", i)] = strings.Repeat("l", 63)
		m.Finalizers = append(m.Finalizers, fmt.Sprintf("tenant.example.com/finalizer-%d", i))
		m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap",
			Name: strings.Repeat("o", 253), UID: types.UID(fmt.Sprint(i))})
	}
	m.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{}}`)}}}
	return m
}

// keptBytes is the size of the metadata a transform kept of obj beyond its
// name and namespace, as JSON.
func keptBytes(t *testing.T, obj any) int {
	t.Helper()
	m := obj.(metav1.Object)
	meta := metav1.ObjectMeta{UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(), Generation: m.GetGeneration(),
		GenerateName: m.GetGenerateName(), Labels: m.GetLabels(), Annotations: m.GetAnnotations(),
		OwnerReferences: m.GetOwnerReferences(), Finalizers: m.GetFinalizers(), ManagedFields: m.GetManagedFields()}
	b, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// derivedSecretOf is the metadata of a Secret controlled by the OAuthClient
// api, with the managed-by label when labelled, and the given annotations.
func derivedSecretOf(labelled bool, annotations map[string]string) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "api-token", Namespace: "tenant", UID: "u", ResourceVersion: "7",
		Annotations: annotations,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "tokenator.dev/v1alpha1", Kind: "OAuthClient", Name: "api", UID: "oc-uid",
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}}}
	if labelled {
		m.Labels = map[string]string{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue}
	}
	return m
}

// Whatever a tenant writes in the metadata of an object the manager caches,
// the transform keeps about 1 KiB of it beyond its name and namespace (a
// ServiceAccount's opt-in up to its 4 KiB bound); each transform is given
// the hostile metadata with the annotations it reads.
func TestCacheKeepsLittleOfHostileObjects(t *testing.T) {
	hash := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name      string
		transform func(any) (any, error)
		in        func() any
		max       int
	}{
		{"OAuthClient", oauthClientTransform(t), func() any {
			m := hostileMeta("api", tokenatorv1.AnnotationRefreshRequestedAt, "tokenator.dev/refresh-requested-at-2", "tokenator.dev/x")
			return &tokenatorv1.OAuthClient{ObjectMeta: m}
		}, 1024},
		{"ServiceAccount", controllers.StripServiceAccount, func() any {
			return &metav1.PartialObjectMetadata{ObjectMeta: hostileMeta("sa", tokenatorv1.AnnotationTokenAudiences)}
		}, 1024},
		{"ServiceAccount at the bounds", controllers.StripServiceAccount, func() any {
			m := hostileMeta("sa")
			m.Annotations[tokenatorv1.AnnotationTokenAudiences] = strings.Repeat("a", 4096)
			return &metav1.PartialObjectMetadata{ObjectMeta: m}
		}, 4096 + 1024},
		{"Secret controlled by an OAuthClient", controllers.StripSecret("tokenator-system"), func() any {
			m := hostileMeta("api-token", tokenatorv1.AnnotationRenderError, tokenatorv1.AnnotationShapeHash)
			m.Labels[tokenatorv1.LabelManagedBy] = tokenatorv1.ManagedByValue
			m.OwnerReferences = append(m.OwnerReferences, derivedSecretOf(true, nil).OwnerReferences...)
			return &metav1.PartialObjectMetadata{ObjectMeta: m}
		}, 1024},
		{"Secret at the bounds", controllers.StripSecret("tokenator-system"), func() any {
			m := hostileMeta("api-token")
			m.Annotations = map[string]string{tokenatorv1.AnnotationShapeHash: hash,
				tokenatorv1.AnnotationRenderError: strings.Repeat("e", controllers.MaxRenderError)}
			m.Labels[tokenatorv1.LabelManagedBy] = tokenatorv1.ManagedByValue
			m.OwnerReferences = append(m.OwnerReferences, derivedSecretOf(true, nil).OwnerReferences...)
			return &metav1.PartialObjectMetadata{ObjectMeta: m}
		}, 1024},
		{"Secret controlled by a ClusterOAuthProvider", controllers.StripSecret("tenant"), func() any {
			m := hostileMeta("shared", tokenatorv1.AnnotationRequestHash, tokenatorv1.AnnotationIssuedAt)
			m.Labels[tokenatorv1.LabelManagedBy] = tokenatorv1.ManagedByValue
			m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "tokenator.dev/v1alpha1", Kind: "ClusterOAuthProvider",
				Name: strings.Repeat("p", 10000), UID: "u", Controller: ptr.To(true)}}
			return &metav1.PartialObjectMetadata{ObjectMeta: m}
		}, 1024},
		{"ConfigMap", controllers.StripToIdentity, func() any {
			m := hostileMeta("ca", tokenatorv1.AnnotationShapeHash)
			m.Labels[tokenatorv1.LabelManagedBy] = tokenatorv1.ManagedByValue
			m.OwnerReferences = append(m.OwnerReferences, derivedSecretOf(true, nil).OwnerReferences...)
			return &metav1.PartialObjectMetadata{ObjectMeta: m}
		}, 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in()
			before := keptBytes(t, in)
			out, err := tc.transform(in)
			if err != nil {
				t.Fatal(err)
			}
			if n := keptBytes(t, out); n > tc.max {
				t.Errorf("kept %d bytes of %d, want at most %d; annotations kept: %v", n, before, tc.max, slices.Sorted(maps.Keys(out.(metav1.Object).GetAnnotations())))
			}
		})
	}
}

// A Namespace keeps its labels, which allowedNamespaces selects on, and
// nothing else a tenant may write.
func TestCacheStripsNamespaces(t *testing.T) {
	g := NewWithT(t)
	m := hostileMeta("team-a", "tokenator.dev/x", "other")
	m.Namespace = ""
	labels := maps.Clone(m.Labels)
	out, err := controllers.KeepNamespaceLabels(&metav1.PartialObjectMetadata{ObjectMeta: m})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).ObjectMeta).To(Equal(metav1.ObjectMeta{Name: "team-a", UID: m.UID,
		ResourceVersion: m.ResourceVersion, Labels: labels}))
}

// A refresh-requested-at value up to 128 bytes is kept as it is; a longer
// one as its SHA-256, so that each new value is still a new request.
func TestCacheBoundsRefreshRequest(t *testing.T) {
	g := NewWithT(t)
	transform := oauthClientTransform(t)
	kept := func(v string) string {
		out, err := transform(&tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "api",
			Annotations: map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: v, "tokenator.dev/other": "x"}}})
		g.Expect(err).NotTo(HaveOccurred())
		a := out.(client.Object).GetAnnotations()
		g.Expect(a).To(HaveLen(1))
		return a[tokenatorv1.AnnotationRefreshRequestedAt]
	}
	at := strings.Repeat("1", 128)
	g.Expect(kept(at)).To(Equal(at))
	g.Expect(kept("")).To(Equal(""))
	long := strings.Repeat("1", 129)
	sum := sha256.Sum256([]byte(long))
	g.Expect(kept(long)).To(Equal("sha256:" + hex.EncodeToString(sum[:])))
	g.Expect(kept(strings.Repeat("1", 240<<10))).To(HavePrefix("sha256:"))
	g.Expect(kept(strings.Repeat("1", 240<<10))).NotTo(Equal(kept(strings.Repeat("2", 240<<10))))
	g.Expect(len(kept(strings.Repeat("1", 240<<10)))).To(Equal(71))
}

// The annotations of a Secret controlled by an OAuthClient are kept only
// when it carries the managed-by label and each is within what the manager
// writes; the controller reference is kept bounded, and only to a kind of
// tokenator's.
func TestCacheBoundsDerivedSecrets(t *testing.T) {
	g := NewWithT(t)
	strip := controllers.StripSecret("tokenator-system")
	hash := strings.Repeat("0", 64)
	annotations := func(o any, err error) map[string]string {
		g.Expect(err).NotTo(HaveOccurred())
		return o.(*metav1.PartialObjectMetadata).Annotations
	}
	mine := map[string]string{tokenatorv1.AnnotationShapeHash: hash, tokenatorv1.AnnotationRenderError: "spec.secret.extraData[a]: failed",
		tokenatorv1.AnnotationDataHash: hash, "other": "x"}
	g.Expect(annotations(strip(derivedSecretOf(true, maps.Clone(mine))))).To(Equal(map[string]string{
		tokenatorv1.AnnotationShapeHash: hash, tokenatorv1.AnnotationRenderError: "spec.secret.extraData[a]: failed"}))
	g.Expect(annotations(strip(derivedSecretOf(false, maps.Clone(mine))))).To(BeNil(), "without the managed-by label")
	for _, over := range []map[string]string{
		{tokenatorv1.AnnotationShapeHash: hash + "0"},
		{tokenatorv1.AnnotationShapeHash: hash, tokenatorv1.AnnotationRenderError: strings.Repeat("e", controllers.MaxRenderError+1)},
	} {
		g.Expect(annotations(strip(derivedSecretOf(true, over)))).To(BeNil(), "over a bound: none kept")
	}
	at := map[string]string{tokenatorv1.AnnotationShapeHash: hash, tokenatorv1.AnnotationRenderError: strings.Repeat("e", controllers.MaxRenderError)}
	g.Expect(annotations(strip(derivedSecretOf(true, maps.Clone(at))))).To(Equal(at), "at the bounds")

	out, err := strip(derivedSecretOf(true, nil))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).OwnerReferences).To(Equal([]metav1.OwnerReference{{APIVersion: "tokenator.dev/v1alpha1",
		Kind: "OAuthClient", Name: "api", UID: "oc-uid", Controller: ptr.To(true)}}))
	long := derivedSecretOf(true, maps.Clone(at))
	long.OwnerReferences[0].Name = strings.Repeat("n", 254)
	out, err = strip(long)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).OwnerReferences).To(BeEmpty(), "a name no OAuthClient has")
	g.Expect(out.(*metav1.PartialObjectMetadata).Annotations).To(BeNil())
	other := derivedSecretOf(true, maps.Clone(at))
	other.OwnerReferences[0].APIVersion = "example.com/v1"
	out, err = strip(other)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*metav1.PartialObjectMetadata).OwnerReferences).To(BeEmpty(), "another group's OAuthClient")
}

// An opt-in over 4 KiB or 32 audiences is not kept; the marker that takes
// its place says which bound, and a tenant cannot set the marker itself.
func TestCacheBoundsOptIn(t *testing.T) {
	g := NewWithT(t)
	kept := func(v string, extra map[string]string) map[string]string {
		a := map[string]string{tokenatorv1.AnnotationTokenAudiences: v}
		maps.Copy(a, extra)
		out, err := controllers.StripServiceAccount(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "sa", Annotations: a}})
		g.Expect(err).NotTo(HaveOccurred())
		return out.(*metav1.PartialObjectMetadata).Annotations
	}
	auds := func(n int) string {
		var list []string
		for i := range n {
			list = append(list, fmt.Sprintf(" aud-%d ", i))
		}
		return strings.Join(list, ",")
	}
	marker := tokenatorv1.AnnotationTokenAudiences + "-over-bound"
	g.Expect(kept(auds(32), nil)).To(Equal(map[string]string{tokenatorv1.AnnotationTokenAudiences: auds(32)}))
	g.Expect(kept(auds(32)+",,", nil)).To(HaveKey(tokenatorv1.AnnotationTokenAudiences), "empty items do not count")
	g.Expect(kept(auds(33), nil)).To(Equal(map[string]string{marker: "32 audiences"}))
	atSize := strings.Repeat("a", 4096)
	g.Expect(kept(atSize, nil)).To(Equal(map[string]string{tokenatorv1.AnnotationTokenAudiences: atSize}))
	g.Expect(kept(atSize+"a", nil)).To(Equal(map[string]string{marker: "4 KiB"}))
	g.Expect(kept("aud", map[string]string{marker: "4 KiB"})).To(Equal(map[string]string{tokenatorv1.AnnotationTokenAudiences: "aud"}))

	// The marker alone, as the informer may transform a transformed
	// object again: kept when it names a bound, dropped otherwise.
	alone := func(v string) map[string]string {
		out, err := controllers.StripServiceAccount(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "sa",
			Annotations: map[string]string{marker: v}}})
		g.Expect(err).NotTo(HaveOccurred())
		return out.(*metav1.PartialObjectMetadata).Annotations
	}
	g.Expect(alone("32 audiences")).To(Equal(map[string]string{marker: "32 audiences"}))
	g.Expect(alone(strings.Repeat("x", 240<<10))).To(BeNil())
}

// Every transform keeps the same of an object it already transformed: the
// informer may transform an object twice.
func TestCacheTransformsAreIdempotent(t *testing.T) {
	hash := strings.Repeat("0", 64)
	shared := derivedSecretOf(true, map[string]string{tokenatorv1.AnnotationRequestHash: hash, tokenatorv1.AnnotationIssuedAt: "2026-01-01T00:00:00Z"})
	shared.Namespace = "tokenator-system"
	shared.OwnerReferences[0].Kind = "ClusterOAuthProvider"
	for _, tc := range []struct {
		name      string
		transform func(any) (any, error)
		in        client.Object
	}{
		{"OAuthClient", oauthClientTransform(t), &tokenatorv1.OAuthClient{ObjectMeta: hostileMeta("api", tokenatorv1.AnnotationRefreshRequestedAt)}},
		{"OAuthClient with a short refresh request", oauthClientTransform(t), &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "api",
			Annotations: map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: "1"}}}},
		{"ServiceAccount", controllers.StripServiceAccount, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "sa",
			Annotations: map[string]string{tokenatorv1.AnnotationTokenAudiences: "a,b"}, Labels: map[string]string{"a": "b"}}}},
		{"ServiceAccount over a bound", controllers.StripServiceAccount, &metav1.PartialObjectMetadata{ObjectMeta: hostileMeta("sa", tokenatorv1.AnnotationTokenAudiences)}},
		{"derived Secret", controllers.StripSecret("tokenator-system"), derivedSecretOf(true, map[string]string{tokenatorv1.AnnotationShapeHash: hash,
			tokenatorv1.AnnotationRenderError: "e", "other": "x"})},
		{"shared token", controllers.StripSecret("tokenator-system"), shared},
		{"ConfigMap", controllers.StripToIdentity, &metav1.PartialObjectMetadata{ObjectMeta: hostileMeta("ca", "x")}},
		{"Namespace", controllers.KeepNamespaceLabels, &metav1.PartialObjectMetadata{ObjectMeta: hostileMeta("team-a", "x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			once, err := tc.transform(tc.in)
			g.Expect(err).NotTo(HaveOccurred())
			want := once.(client.Object).DeepCopyObject()
			twice, err := tc.transform(once)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(twice).To(Equal(want))
		})
	}
	// What is kept of the derived Secret and the shared token: their
	// annotations (the rest is TestCacheBoundsDerivedSecrets').
	g := NewWithT(t)
	out, err := controllers.StripSecret("tokenator-system")(shared)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(client.Object).GetAnnotations()).To(HaveLen(2))
}

// boundedKeyName is a Secret key of 253 characters.
func boundedKeyName(i int) string {
	p := fmt.Sprintf("k%d-", i)
	return p + strings.Repeat("x", 253-len(p))
}

// status.tokenType holds the first 64 characters of the token type.
func TestStatusTokenType(t *testing.T) {
	g := NewWithT(t)
	g.Expect(controllers.StatusTokenType("Bearer")).To(Equal("Bearer"))
	g.Expect(controllers.StatusTokenType(strings.Repeat("é", 64))).To(Equal(strings.Repeat("é", 64)))
	g.Expect(controllers.StatusTokenType(strings.Repeat("é", 65))).To(Equal(strings.Repeat("é", 64)))
	g.Expect(controllers.StatusTokenType(strings.Repeat("t", 1<<20))).To(HaveLen(64))
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

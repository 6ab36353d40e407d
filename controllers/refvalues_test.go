package controllers

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// sizedLRU keeps values while their sizes fit its limit, dropping the least
// recently used first; a value added again replaces its size.
func TestSizedLRU(t *testing.T) {
	c := newSizedLRU(100)
	c.add("a", 1, 40)
	c.add("b", 2, 40)
	if _, ok := c.get("a"); !ok { // a is now the most recently used
		t.Fatal("a dropped below the limit")
	}
	c.add("c", 3, 40) // 120 > 100: b goes, not a
	if _, ok := c.get("b"); ok {
		t.Error("b kept past the limit")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.get(k); !ok {
			t.Errorf("%s dropped", k)
		}
	}
	if got := c.size(); got != 80 {
		t.Errorf("size %d, want 80", got)
	}
	c.add("a", 4, 10) // replaced: 10 + 40
	if v, _ := c.get("a"); v != 4 || c.size() != 50 {
		t.Errorf("after replacing a: value %v, size %d; want 4, 50", v, c.size())
	}
	c.remove("c")
	if c.size() != 10 {
		t.Errorf("after removing c: size %d, want 10", c.size())
	}
	c.add("big", 5, 101) // alone over the limit: not kept, and nothing else either
	if _, ok := c.get("big"); ok || c.size() != 0 {
		t.Errorf("a value over the limit kept (size %d)", c.size())
	}
}

// fakeSecrets answers Gets of Secrets (whole, or as metadata) from a map, and
// records the resourceVersion each whole read asked for.
type fakeSecrets struct {
	client.Reader
	objs  map[client.ObjectKey]*corev1.Secret
	reads []string // the resourceVersion option of each whole read
}

func (f *fakeSecrets) Get(_ context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	s, ok := f.objs[key]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		o.ObjectMeta = *s.ObjectMeta.DeepCopy()
	case *corev1.Secret:
		rv := ""
		for _, opt := range opts {
			if g, ok := opt.(*client.GetOptions); ok && g.Raw != nil {
				rv = g.Raw.ResourceVersion
			}
		}
		f.reads = append(f.reads, rv)
		s.DeepCopyInto(o)
	}
	return nil
}

// A key Secret of 32 KiB (a private key, its chain and a trust bundle in
// ca.crt, as cert-manager writes them) is kept within the total bound: it is
// read once per version, at the version the metadata cache shows, also when it
// is a ClusterOAuthProvider's central credentials in another namespace.
// Larger ones are read every time.
func TestRefValuesKeepKeySecrets(t *testing.T) {
	const crn = "tokenator-system"
	key := client.ObjectKey{Namespace: crn, Name: "central-tls"}
	data := map[string][]byte{"tls.key": make([]byte, 3<<10), "tls.crt": make([]byte, 8<<10), "client_id": []byte("id")}
	used := len("tls.key") + 3<<10 + len("tls.crt") + 8<<10 + len("client_id") + 2
	data["ca.crt"] = make([]byte, maxRefValueBytes-used-len("ca.crt"))
	api := &fakeSecrets{objs: map[client.ObjectKey]*corev1.Secret{key: {
		ObjectMeta: metav1.ObjectMeta{Namespace: crn, Name: key.Name, UID: "u1", ResourceVersion: "7"}, Data: data}}}
	r := &OAuthClientReconciler{refs: newRefValues(api, api)}
	src := &requestSource{
		endpoint:    &tokenatorv1.OAuthEndpoint{ClientAuthentication: tokenatorv1.ClientAuthenticationTLS},
		credentials: &tokenatorv1.CredentialsSecretReference{Name: key.Name}, credentialsNamespace: crn, shared: true,
	}
	for range 3 {
		c, err := r.readCredentials(context.Background(), src, tokenatorv1.ClientAuthenticationTLS)
		if err != nil {
			t.Fatal(err)
		}
		if c.clientID != "id" || len(c.privateKey) != 3<<10 || len(c.certificate) != 8<<10 {
			t.Fatalf("credentials read: client ID %q, key %d bytes, certificate %d bytes", c.clientID, len(c.privateKey), len(c.certificate))
		}
	}
	if want := []string{"7"}; !slices.Equal(api.reads, want) {
		t.Errorf("reads of a %d-byte key Secret over 3 requests: %q, want %q", maxRefValueBytes, api.reads, want)
	}
	if got, want := r.refs.kept.size(), maxRefValueBytes+refValueOverhead; got != want {
		t.Errorf("size kept %d, want %d", got, want)
	}

	// A new version is read once more; one byte over the bound is read every time.
	s := api.objs[key]
	s.ResourceVersion = "8"
	s.Data["ca.crt"] = append(s.Data["ca.crt"], 0)
	api.reads = nil
	for range 2 {
		if _, err := r.readCredentials(context.Background(), src, tokenatorv1.ClientAuthenticationTLS); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"8", "8"}; !slices.Equal(api.reads, want) {
		t.Errorf("reads of a Secret over the bound: %q, want %q", api.reads, want)
	}
	if got := r.refs.kept.size(); got != 0 {
		t.Errorf("size kept %d after a Secret outgrew the bound, want 0", got)
	}
}

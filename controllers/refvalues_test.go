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
	"github.com/tokenator-dev/tokenator/controllers/refvalues"
)

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
	data["ca.crt"] = make([]byte, refvalues.MaxValueBytes-used-len("ca.crt"))
	api := &fakeSecrets{objs: map[client.ObjectKey]*corev1.Secret{key: {
		ObjectMeta: metav1.ObjectMeta{Namespace: crn, Name: key.Name, UID: "u1", ResourceVersion: "7"}, Data: data}}}
	r := &OAuthClientReconciler{refs: refvalues.New(api, api)}
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
		t.Errorf("reads of a %d-byte key Secret over 3 requests: %q, want %q", refvalues.MaxValueBytes, api.reads, want)
	}
	if got, want := r.refs.Size(), refvalues.MaxValueBytes+refvalues.ValueOverhead; got != want {
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
	if got := r.refs.Size(); got != 0 {
		t.Errorf("size kept %d after a Secret outgrew the bound, want 0", got)
	}
}

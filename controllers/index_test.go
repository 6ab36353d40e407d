package controllers_test

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers"
)

// The derived Secret of the default name, the one of most OAuthClients, has
// no key in either index (it is found by its name); a Secret of another name
// or another controller, and a spec.secret.name, do.
func TestIndexesLeaveOutTheDefaultDerivedSecret(t *testing.T) {
	controlled := func(name, kind, owner string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: tokenatorv1.GroupVersion.String(), Kind: kind,
				Name: owner, UID: "uid-1", Controller: ptr.To(true)}}}}
	}
	for _, c := range []struct {
		secret *metav1.PartialObjectMetadata
		want   []string
	}{
		{controlled("api-token", "OAuthClient", "api"), nil},
		{controlled("api-credentials-v2", "OAuthClient", "api"), []string{"uid-1"}},
		{controlled("api-token", "OAuthClient", "other"), []string{"uid-1"}},
		{controlled("lucca-token", "ClusterOAuthProvider", "lucca"), []string{"uid-1"}},
		{&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "api-token"}}, nil},
	} {
		if got := controllers.IndexControllerValues(c.secret); !slices.Equal(got, c.want) {
			t.Errorf("Secret %s, owners %v: index values %v, want %v", c.secret.Name, c.secret.OwnerReferences, got, c.want)
		}
	}

	oc := &tokenatorv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "api"},
		Spec: tokenatorv1.OAuthClientSpec{CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: "creds"}}}
	if got, want := controllers.ReferencedSecrets(oc), []string{"creds"}; !slices.Equal(got, want) {
		t.Errorf("default derived Secret name: referenced Secrets %v, want %v", got, want)
	}
	oc.Spec.Secret.Name = "api-credentials-v2"
	if got, want := controllers.ReferencedSecrets(oc), []string{"api-credentials-v2", "creds"}; !slices.Equal(got, want) {
		t.Errorf("spec.secret.name set: referenced Secrets %v, want %v", got, want)
	}
}

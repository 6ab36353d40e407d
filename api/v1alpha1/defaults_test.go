package v1alpha1

import (
	"os"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// The CRD's defaults of the key fields are the constants the controller falls
// back to.
func TestCRDKeyDefaults(t *testing.T) {
	raw, err := os.ReadFile("../../config/crd/bases/tokenator.dev_oauthclients.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != GroupVersion.Version {
		t.Fatalf("CRD versions %d, want only %s", len(crd.Spec.Versions), GroupVersion.Version)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	for _, tt := range []struct {
		path []string
		want string
	}{
		{[]string{"credentialsSecretRef", "clientIDKey"}, DefaultClientIDKey},
		{[]string{"credentialsSecretRef", "clientSecretKey"}, DefaultClientSecretKey},
		{[]string{"tls", "caSecretRef", "key"}, DefaultCAKey},
		{[]string{"tls", "caConfigMapRef", "key"}, DefaultCAKey},
	} {
		s := spec
		for _, p := range tt.path {
			s = s.Properties[p]
		}
		var got string
		if s.Default != nil {
			_ = yaml.Unmarshal(s.Default.Raw, &got)
		}
		if got != tt.want {
			t.Errorf("spec.%s: CRD default %q, want %q", strings.Join(tt.path, "."), got, tt.want)
		}
	}
}

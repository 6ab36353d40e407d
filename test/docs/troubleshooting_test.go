package docs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// troubleshootingFragments are pieces of the messages the operator writes in
// Ready conditions and Events; docs/troubleshooting.md must explain each.
var troubleshootingFragments = []string{
	// What the Secret holds.
	"no token has been issued yet",
	"the Secret keeps the previous token, valid until",
	"the Secret holds the previous token, expired since",
	// Reasons other than TokenRequestFailed.
	"token valid until",
	"token requests are suspended; the Secret is left as it is",
	"exists and is not controlled by this OAuthClient; delete it or choose another spec.secret.name",
	"spec.credentialsSecretRef: Secret",
	"has no non-empty key",
	"outside RFC 6749 VSCHAR (printable ASCII)",
	"a line break (CR or LF) before its end", "a control character", "a non-ASCII character",
	"does not carry the labels the operator requires (--credentials-selector=",
	"not found in namespace",
	"spec.tls.caSecretRef", "spec.tls.caConfigMapRef", "has no key",
	"invalid CA bundle: no PEM certificate could be parsed from",
	"spec.secret.extraData[KEY]: rendering failed with the issued token",
	"the key is left out of the Secret until the template is fixed",
	"the template's functions would build over 262144 bytes",
	"* widths and precisions are not allowed",
	"widths and precisions are limited to 999",
	"with a 66-byte token",
	"call is not available",
	"spec.secret: the API server refused the Secret",
	"--allowed-token-hosts", "--denied-token-networks",
	"is in the denied network", "(NAT64), which is in the denied network", "(6to4)", "(Teredo)",
	// Token requests: the faults of TestEndpointFaults and the unit tests.
	"token request failed: ",
	"token endpoint URL answered",
	"; redirects are not followed",
	"(retry after",
	"invalid token response",
	"body is HTML or XML, not a JSON object",
	"body is not a JSON object",
	"token response too large",
	"no access_token; the body is an OAuth error response",
	"the token is already expired",
	"connect: connection refused",
	"no such host",
	"Client.Timeout exceeded while awaiting headers",
	"Client.Timeout or context cancellation while reading body",
	"x509: certificate signed by unknown authority",
	"x509: certificate has expired or is not yet valid",
	"http: server gave HTTP response to HTTPS client",
	"server response headers exceeded 65536 bytes",
	"preparing token request: invalid token request",
	// Events.
	"Token written to Secret",
	"and refreshing it keeps failing",
	// Conditions.
	"Stalled",
}

// docs/troubleshooting.md explains every Ready reason, every CEL validation
// message of the CRD, and the operator's messages.
func TestTroubleshootingCoversMessages(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, reason := range []string{tokenatorv1.ReasonTokenIssued, tokenatorv1.ReasonCredentialsNotFound,
		tokenatorv1.ReasonTokenRequestFailed, tokenatorv1.ReasonSecretConflict, tokenatorv1.ReasonInvalidSpec,
		tokenatorv1.ReasonSuspended} {
		if !strings.Contains(doc, "\n### "+reason+"\n") {
			t.Errorf("no section ### %s", reason)
		}
	}
	if !strings.Contains(doc, tokenatorv1.ReasonTokenExpiringSoon) {
		t.Errorf("the %s Event is not explained", tokenatorv1.ReasonTokenExpiringSoon)
	}
	for _, f := range troubleshootingFragments {
		if !strings.Contains(doc, f) {
			t.Errorf("the message fragment %q is not explained", f)
		}
	}

	crd := &apiextensionsv1.CustomResourceDefinition{}
	raw, err = os.ReadFile(filepath.Join(repoRoot, "config", "crd", "bases", "tokenator.dev_oauthclients.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, crd); err != nil {
		t.Fatal(err)
	}
	var messages []string
	for _, v := range crd.Spec.Versions {
		if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			messages = append(messages, celMessages(v.Schema.OpenAPIV3Schema)...)
		}
	}
	if len(messages) < 10 {
		t.Fatalf("found only %d validation messages in the CRD", len(messages))
	}
	for _, m := range messages {
		if !strings.Contains(doc, m) {
			t.Errorf("the CRD validation message %q is not explained", m)
		}
	}
}

// celMessages collects the x-kubernetes-validations messages of a schema.
func celMessages(s *apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	for _, r := range s.XValidations {
		if r.Message != "" {
			out = append(out, r.Message)
		}
	}
	for _, p := range s.Properties {
		out = append(out, celMessages(&p)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		out = append(out, celMessages(s.Items.Schema)...)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		out = append(out, celMessages(s.AdditionalProperties.Schema)...)
	}
	return out
}

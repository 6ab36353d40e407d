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

// libraryFragments are pieces of messages that Go's standard library, not
// this repository, writes into a TokenRequestFailed message: the faults of
// TestEndpointFaults and of the internal/oauth unit tests. The operator's own
// messages are read from the code (messageFormats).
var libraryFragments = []string{
	"connect: connection refused",
	"no such host",
	"Client.Timeout exceeded while awaiting headers",
	"Client.Timeout or context cancellation while reading body",
	"x509: certificate signed by unknown authority",
	"x509: certificate has expired or is not yet valid",
	"http: server gave HTTP response to HTTPS client",
	"server response headers exceeded 65536 bytes",
}

// notInConditions are messages of the scanned files that never reach a
// condition or an Event, with the reason; each must still be in the code.
var notInConditions = map[string]string{
	"%w: the oauth.Client has no HTTPClient": "a programming error: the controller always gives one",
	"%q is neither a CIDR nor an address":    "a flag error (--denied-token-networks): the manager does not start",
	"allowed token host %q is not a valid pattern: %s; use a host name (idp.example.com), an IP address, or *. and a host name (*.example.com: one label of any name)": "a flag error (--allowed-token-hosts): the manager does not start",
	"it is empty":                              "a flag error, within the one above",
	"it is longer than 253 characters":         "a flag error, within the one above",
	"it has an empty label":                    "a flag error, within the one above",
	"label %q is longer than 63 characters":    "a flag error, within the one above",
	"%q is not allowed in a host name":         "a flag error, within the one above",
	`"*" may only be the whole leftmost label`: "a flag error, within the one above",
	"making the assertion's jti: %w":           "crypto/rand failing: the reconcile is retried, the condition is left as it is",
	"signing the client assertion: %w":         "a key that passed the checks and cannot sign: the reconcile is retried, the condition is left as it is",
}

// messageFormats returns the formats of the messages the code writes in Ready
// conditions and Events, keyed by where they are: every constant of
// controllers/messages.go and of the subpackages' messages, the template
// errors of controllers/render, and the errors
// of internal/oauth, internal/netguard and internal/assertion that a
// TokenRequestFailed or InvalidSpec message carries.
func messageFormats(t *testing.T) map[string]string {
	t.Helper()
	all := map[string]string{}
	for _, f := range []string{"messages.go", "policy/messages.go", "render/secretdata.go", "satoken/messages.go", "secret/messages.go", "sharedtoken/message.go"} {
		for name, v := range constantStrings(t, filepath.Join(repoRoot, "controllers", f)) {
			all[f+" "+name] = v
		}
	}
	add := func(m map[string]string) {
		for k, v := range m {
			all[k] = v
		}
	}
	for _, f := range []string{"render.go", "funcs.go"} {
		add(errorFormats(t, filepath.Join(repoRoot, "controllers", "render", f)))
	}
	for _, f := range []string{"errors.go", "response.go", "client.go", "httpclient.go"} {
		add(errorFormats(t, filepath.Join(repoRoot, "internal", "oauth", f), "invalidResponse", "wrap", "WriteString"))
	}
	add(errorFormats(t, filepath.Join(repoRoot, "internal", "netguard", "guard.go")))
	// The problems of key material and client assertions, after msgCredentialField.
	for _, f := range []string{"keys.go", "signer.go", "servicekey.go"} {
		add(errorFormats(t, filepath.Join(repoRoot, "internal", "assertion", f), "errorf"))
	}
	if len(all) < 40 {
		t.Fatalf("found only %d message formats in the code", len(all))
	}
	return all
}

// docs/troubleshooting.md explains every Ready reason, every CEL validation
// message of the CRD, and every message the code writes in a condition or an
// Event: a message added or changed in the code and not in the page fails.
func TestTroubleshootingCoversMessages(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, reason := range []string{tokenatorv1.ReasonTokenIssued, tokenatorv1.ReasonCredentialsNotFound,
		tokenatorv1.ReasonTokenRequestFailed, tokenatorv1.ReasonSecretConflict, tokenatorv1.ReasonInvalidSpec,
		tokenatorv1.ReasonSuspended, tokenatorv1.ReasonProviderNotFound, tokenatorv1.ReasonProviderRefused} {
		if !strings.Contains(doc, "\n### "+reason+"\n") {
			t.Errorf("no section ### %s", reason)
		}
	}
	if !strings.Contains(doc, tokenatorv1.ConditionStalled) {
		t.Errorf("the %s condition is not explained", tokenatorv1.ConditionStalled)
	}
	if !strings.Contains(doc, tokenatorv1.ReasonTokenExpiringSoon) {
		t.Errorf("the %s Event is not explained", tokenatorv1.ReasonTokenExpiringSoon)
	}
	for _, f := range libraryFragments {
		if !strings.Contains(doc, f) {
			t.Errorf("the message fragment %q is not explained", f)
		}
	}
	used := map[string]bool{}
	for where, format := range messageFormats(t) {
		if _, ok := notInConditions[format]; ok {
			used[format] = true
			continue
		}
		for _, f := range fragments(format) {
			if !strings.Contains(doc, f) {
				t.Errorf("%s: %q, of the message %q, is not explained", where, f, format)
			}
		}
	}
	for format := range notInConditions {
		if !used[format] {
			t.Errorf("notInConditions lists %q, which the code no longer writes", format)
		}
	}

	var messages []string
	for _, file := range []string{"tokenator.dev_oauthclients.yaml", "tokenator.dev_clusteroauthproviders.yaml"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		raw, err = os.ReadFile(filepath.Join(repoRoot, "config", "crd", "bases", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, crd); err != nil {
			t.Fatal(err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
				messages = append(messages, celMessages(v.Schema.OpenAPIV3Schema)...)
			}
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

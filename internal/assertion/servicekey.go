package assertion

import (
	"bytes"
	"crypto"
	"encoding/json"
	"net/url"
)

// ServiceAccountKey is what a Google service account JSON key file (as
// `gcloud iam service-accounts keys create` writes it) holds for the
// jwt-bearer grant: the issuer, the key and its id, and the token URL.
type ServiceAccountKey struct {
	// ClientEmail is the service account: the iss claim.
	ClientEmail string
	// PrivateKeyID is the kid header: Google finds the public key by it.
	PrivateKeyID string
	// TokenURI is the token endpoint the key is for.
	TokenURI string
	// Key is the private key.
	Key crypto.Signer
}

// serviceAccountKeyFile is the JSON key file; its other members (project_id,
// client_id, auth_uri, ...) are not needed.
type serviceAccountKeyFile struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

// ParseServiceAccountKey reads a Google service account JSON key file. The
// type must be service_account, client_email and private_key must be set,
// and the key is held to the checks of ParsePrivateKey. field describes where
// the file came from, for the errors, which name the members at fault and
// never their values.
func ParseServiceAccountKey(data []byte, field string) (*ServiceAccountKey, error) {
	var f serviceAccountKeyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		// The decoder's message may quote the file: it is not passed on.
		return nil, errorf(field, "not a JSON service account key file, as gcloud iam service-accounts keys create writes")
	}
	if f.Type != "service_account" {
		return nil, errorf(field, "the key file's type is not service_account (a user or external account file cannot sign)")
	}
	var missing []string
	for _, m := range []struct{ name, value string }{{"client_email", f.ClientEmail}, {"private_key", f.PrivateKey}} {
		if m.value == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return nil, errorf(field, "the key file has no %v", missing)
	}
	if f.TokenURI != "" {
		if u, err := url.Parse(f.TokenURI); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			return nil, errorf(field, "the key file's token_uri is not an absolute https URL")
		}
	}
	key, err := ParsePrivateKey([]byte(f.PrivateKey), field+" (private_key)")
	if err != nil {
		return nil, err
	}
	return &ServiceAccountKey{ClientEmail: f.ClientEmail, PrivateKeyID: f.PrivateKeyID, TokenURI: f.TokenURI, Key: key}, nil
}

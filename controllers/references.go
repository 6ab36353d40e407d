package controllers

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers/secret"
	"github.com/tokenator-dev/tokenator/internal/assertion"
)

// referencedSecrets lists the Secrets an OAuthClient depends on: its credentials,
// its CA bundle, and the derived Secret's name when spec.secret.name sets it
// (so that deleting a conflicting Secret of that name is noticed). A derived
// Secret of the default name, <OAuthClient>-token, is mapped back to its
// OAuthClient by name (see requestsForDerivedSecret): most OAuthClients keep
// the default, and an index key costs a set of its own.
func referencedSecrets(oc *tokenatorv1.OAuthClient) []string {
	var names []string
	if oc.Spec.Secret.Name != "" {
		names = append(names, oc.Spec.Secret.Name)
	}
	if ref := oc.Spec.CredentialsSecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	if oc.Spec.TLS != nil && oc.Spec.TLS.CASecretRef != nil {
		names = append(names, oc.Spec.TLS.CASecretRef.Name)
	}
	return names
}

func referencedConfigMaps(oc *tokenatorv1.OAuthClient) []string {
	if oc.Spec.TLS != nil && oc.Spec.TLS.CAConfigMapRef != nil {
		return []string{oc.Spec.TLS.CAConfigMapRef.Name}
	}
	return nil
}

// requestsForReference maps a Secret or ConfigMap to the OAuthClients of its
// namespace that reference it through the given index.
func (r *OAuthClientReconciler) requestsForReference(index string) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		var list tokenatorv1.OAuthClientList
		if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index: obj.GetName()}); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return reqs
	}
}

// requestsForDerivedSecret maps a Secret to the OAuthClient whose derived
// Secret it is or may be: the OAuthClient that controls it, and the one whose
// default derived Secret name (<OAuthClient>-token) it has, which a Secret of
// another owner may take (SecretConflict).
func (r *OAuthClientReconciler) requestsForDerivedSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil && ref.Kind == "OAuthClient" &&
		strings.HasPrefix(ref.APIVersion, tokenatorv1.GroupVersion.Group+"/") {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}})
	}
	// A derived Secret controlled by its OAuthClient under the default name,
	// the common case, is mapped by its controller reference alone, without
	// reading the OAuthClient again.
	if name, ok := strings.CutSuffix(obj.GetName(), secret.DefaultSuffix); ok && name != "" && (len(reqs) == 0 || reqs[0].Name != name) {
		oc := &tokenatorv1.OAuthClient{}
		key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}
		if err := r.Get(ctx, key, oc); err == nil && oc.Spec.Secret.Name == "" {
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
		}
	}
	return reqs
}

// objectVersion identifies one version of a referenced object without its content.
type objectVersion struct {
	Kind            string    `json:"kind"`
	Name            string    `json:"name"`
	UID             types.UID `json:"uid"`
	ResourceVersion string    `json:"resourceVersion"`
	// OptIn is a ServiceAccount's tokenator.dev/token-audiences annotation.
	OptIn string `json:"optIn,omitempty"`
	// Subject is the ServiceAccount of the subject token (tokenExchange)
	// when the client assertion's (serviceAccountToken) is the version
	// itself.
	Subject *objectVersion `json:"subject,omitempty"`
}

// referenceError is a missing referenced object, reported with reason.
type referenceError struct {
	reason  string
	message string
}

func (e *referenceError) Error() string { return e.message }

// referenceVersions reads, from the metadata cache, the versions of the objects
// the token request depends on.
func (r *OAuthClientReconciler) referenceVersions(ctx context.Context, src *requestSource) ([]objectVersion, error) {
	type ref struct {
		kind, name, field, reason, namespace string
	}
	var refs []ref
	if c := src.credentials; c != nil {
		refs = append(refs, ref{"Secret", c.Name, src.credentialsField("spec.credentialsSecretRef"), tokenatorv1.ReasonCredentialsNotFound, src.credentialsNamespace})
	}
	if t := src.endpoint.TLS; t != nil {
		if t.CASecretRef != nil {
			refs = append(refs, ref{"Secret", t.CASecretRef.Name, src.endpointField("spec.tls.caSecretRef"), tokenatorv1.ReasonInvalidSpec, src.endpointNamespace})
		}
		if t.CAConfigMapRef != nil {
			refs = append(refs, ref{"ConfigMap", t.CAConfigMapRef.Name, src.endpointField("spec.tls.caConfigMapRef"), tokenatorv1.ReasonInvalidSpec, src.endpointNamespace})
		}
	}
	versions := make([]objectVersion, 0, len(refs))
	for _, ref := range refs {
		meta := metadataOnly(ref.kind)
		err := r.References.Get(ctx, types.NamespacedName{Namespace: ref.namespace, Name: ref.name}, meta)
		if apierrors.IsNotFound(err) {
			return nil, &referenceError{reason: ref.reason, message: fmt.Sprintf(msgRefNotFound, ref.field, ref.kind, ref.name, ref.namespace)}
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s %q: %w", ref.kind, ref.name, err)
		}
		versions = append(versions, objectVersion{Kind: ref.kind, Name: ref.name, UID: meta.UID, ResourceVersion: meta.ResourceVersion})
	}
	return versions, nil
}

// metadataOnly returns an empty metadata-only object of a core kind (Secret,
// ConfigMap), for the reference cache and its watches.
func metadataOnly(kind string) *metav1.PartialObjectMetadata {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	return meta
}

// credentials are what the client authenticates with, read with the
// uncached reader at the moment of a token request and never stored: the
// client ID, and the client secret, private key or certificate its method
// needs (readCredentialKeys).
type credentials struct {
	clientID, clientSecret string
	// privateKey and certificate are PEM (privateKeyJWT, tls).
	privateKey, certificate []byte
	// secretName is the credentials Secret's name, for the messages.
	secretName string
	// clientAssertion is the ServiceAccount token sent as client_assertion
	// (serviceAccountToken).
	clientAssertion string
	// grantKey is the key that signs a jwtBearer assertion: a PEM key, or a
	// service account JSON key file (grantKeyFile); grantKeyField names it.
	grantKey      []byte
	grantKeyFile  bool
	grantKeyField string
	// serviceKey is the key file parsed (readKeyFile).
	serviceKey *assertion.ServiceAccountKey
	// subjectToken is the ServiceAccount token sent as subject_token
	// (tokenExchange).
	subjectToken string
}

func (r *OAuthClientReconciler) readCredentials(ctx context.Context, src *requestSource, method tokenatorv1.ClientAuthentication) (credentials, error) {
	ref := src.credentials
	if ref == nil {
		return credentials{}, invalidSpec(fmt.Errorf("spec.credentialsSecretRef is required for clientAuthentication %q", src.endpoint.ClientAuthentication))
	}
	var s corev1.Secret
	err := r.refs.Get(ctx, types.NamespacedName{Namespace: src.credentialsNamespace, Name: ref.Name}, &s)
	if apierrors.IsNotFound(err) {
		return credentials{}, &referenceError{reason: tokenatorv1.ReasonCredentialsNotFound,
			message: fmt.Sprintf(msgCredsNotFound, ref.Name, src.credentialsNamespace)}
	}
	if err != nil {
		return credentials{}, fmt.Errorf("reading credentials Secret %q: %w", ref.Name, err)
	}
	// The labels are checked before any key is looked at: a Secret the operator
	// may not use tells nothing about its data.
	if sel := r.Options.CredentialsSelector; sel != nil && !sel.Empty() && !sel.Matches(labels.Set(s.Labels)) {
		return credentials{}, &referenceError{reason: tokenatorv1.ReasonCredentialsNotFound,
			message: fmt.Sprintf(msgCredsNotSelected, ref.Name, sel)}
	}
	return readCredentialKeys(&s, src, method)
}

// credentialValue is the value of a credentials key without its trailing CR
// and LF, which `kubectl create secret --from-file` keeps from the file. Only
// those go: any other character is part of the value.
func credentialValue(data map[string][]byte, key string) []byte {
	return bytes.TrimRight(data[key], "\r\n")
}

// nonVSCHAR describes the first character of v outside RFC 6749's VSCHAR
// (%x20-7E), the characters of a client ID or secret, or returns "". It names
// the kind of character, never the character or its position.
func nonVSCHAR(v []byte) string {
	for _, c := range v {
		switch {
		case c == '\r' || c == '\n':
			return msgLineBreak
		case c < 0x20 || c == 0x7f:
			return msgControlCharacter
		case c > 0x7f:
			return msgNonASCII
		}
	}
	return ""
}

// readCABundle returns the PEM bundle configured in spec.tls, or nil: the
// Secret's bundle, then the ConfigMap's, read from the API server.
func (r *OAuthClientReconciler) readCABundle(ctx context.Context, src *requestSource) ([]byte, error) {
	t := src.endpoint.TLS
	if t == nil {
		return nil, nil
	}
	var bundle []byte
	if ref := t.CASecretRef; ref != nil {
		var s corev1.Secret
		pem, err := r.readCAKey(ctx, src.endpointNamespace, src.endpointField("spec.tls.caSecretRef"), "Secret", ref, &s, func(key string) ([]byte, bool) {
			v, ok := s.Data[key]
			return v, ok
		})
		if err != nil {
			return nil, err
		}
		bundle = append(append(bundle, pem...), '\n')
	}
	if ref := t.CAConfigMapRef; ref != nil {
		var cm corev1.ConfigMap
		pem, err := r.readCAKey(ctx, src.endpointNamespace, src.endpointField("spec.tls.caConfigMapRef"), "ConfigMap", ref, &cm, func(key string) ([]byte, bool) {
			v, ok := cm.Data[key]
			return []byte(v), ok
		})
		if err != nil {
			return nil, err
		}
		bundle = append(bundle, pem...)
	}
	return bundle, nil
}

// readCAKey reads obj, named by ref, and returns the value of ref's key.
func (r *OAuthClientReconciler) readCAKey(ctx context.Context, namespace, field, kind string, ref *tokenatorv1.KeySelector,
	obj client.Object, value func(key string) ([]byte, bool)) ([]byte, error) {
	err := r.refs.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, obj)
	if apierrors.IsNotFound(err) {
		return nil, &referenceError{reason: tokenatorv1.ReasonInvalidSpec, message: fmt.Sprintf(msgRefNotFound, field, kind, ref.Name, namespace)}
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %q: %w", kind, ref.Name, err)
	}
	// A CA Secret is held to the credentials selector like a credentials
	// Secret: a Secret the operator may not use tells nothing about its data.
	if sel := r.Options.CredentialsSelector; kind == "Secret" && sel != nil && !sel.Empty() && !sel.Matches(labels.Set(obj.GetLabels())) {
		return nil, &referenceError{reason: tokenatorv1.ReasonInvalidSpec, message: fmt.Sprintf(msgCANotSelected, field, ref.Name, sel)}
	}
	key := defaultString(ref.Key, tokenatorv1.DefaultCAKey)
	pem, ok := value(key)
	if !ok {
		return nil, &referenceError{reason: tokenatorv1.ReasonInvalidSpec, message: fmt.Sprintf(msgRefNoKey, field, kind, ref.Name, key)}
	}
	return pem, nil
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

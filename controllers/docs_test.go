package controllers_test

import (
	"crypto"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/presets"
	"github.com/tokenator-dev/tokenator/internal/schedule"
	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// providerPages maps each page of docs/providers to the local endpoint that
// behaves like its provider. A new page must be added here to be tested.
var providerPages = map[string]oauthtest.Kind{
	"lucca.md":     oauthtest.Lucca,
	"luxclusif.md": oauthtest.Luxclusif,
	"json-body.md": oauthtest.JSONBody,
	"generic.md":   oauthtest.RFC6749,
	"okta.md":      oauthtest.RFC6749,
	"entra-id.md":  oauthtest.RFC6749,
	"keycloak.md":  oauthtest.RFC6749,
	"google.md":    oauthtest.Google,
}

// docExample is the complete example of a documentation page.
type docExample struct {
	page        string
	kind        oauthtest.Kind
	credentials *corev1.Secret
	client      *tokenatorv1.OAuthClient
	workloads   []client.Object // Deployments and CronJobs that read the token
	keys        []string        // the derived Secret's keys, as the page lists them
}

// The complete ```yaml example of each docs/providers page (a credentials
// Secret, an OAuthClient and a Deployment) works as written against a local
// endpoint that behaves like the page's provider: only tokenURL and the CA are
// swapped in. The derived Secret has the keys the page lists, the Deployment is
// accepted by the API server and reads that Secret, every other spec snippet of
// the page is accepted by the API server, and the page's status snippet matches
// what the operator writes.
func TestProviderPagesExamples(t *testing.T) {
	t.Parallel()
	requireControlPlane(t)
	pages, err := filepath.Glob(filepath.Join("..", "docs", "providers", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, page := range pages {
		name := filepath.Base(page)
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		// A serviceAccountToken section has an example of its own, tested by
		// TestServiceAccountTokenProviderPages; a page of nothing else is
		// tested there only.
		md := string(raw)
		if heading, ok := serviceAccountSections[name]; ok {
			if _, md = markdownSection(md, heading); !strings.Contains(md, "```yaml") {
				found[name] = true
				continue
			}
		}
		kind, ok := providerPages[name]
		if !ok {
			t.Errorf("%s: no local endpoint for this page; add it to providerPages", page)
			continue
		}
		found[name] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			blocks := testutil.FencedBlocks(t, md, "yaml")

			// The complete example is the one block made of several documents.
			var example []string
			var fragments []string
			for _, b := range blocks {
				if docs := testutil.YAMLDocuments(b); len(docs) > 1 {
					g.Expect(example).To(BeNil(), "%s: more than one multi-document ```yaml block", name)
					example = docs
				} else {
					fragments = append(fragments, b)
				}
			}
			g.Expect(example).To(HaveLen(3), "%s: the complete example is one ```yaml block of three documents: Secret, OAuthClient, Deployment", name)
			ex := &docExample{page: name, kind: kind, keys: keyTable(t, md)}
			for _, doc := range example {
				switch obj := decodeDocObject(t, doc).(type) {
				case *corev1.Secret:
					g.Expect(ex.credentials).To(BeNil(), "more than one Secret")
					ex.credentials = obj
				case *tokenatorv1.OAuthClient:
					g.Expect(ex.client).To(BeNil(), "more than one OAuthClient")
					ex.client = obj
				case *appsv1.Deployment:
					g.Expect(ex.workloads).To(BeEmpty(), "more than one Deployment")
					ex.workloads = append(ex.workloads, obj)
				default:
					t.Fatalf("%s: the complete example may only hold a Secret, an OAuthClient and a Deployment, not a %T", name, obj)
				}
			}
			g.Expect(ex.credentials).NotTo(BeNil(), "no credentials Secret")
			g.Expect(ex.client).NotTo(BeNil(), "no OAuthClient")
			g.Expect(ex.workloads).To(HaveLen(1), "no Deployment")

			e, got := runDocExample(t, ex)

			// Every other ```yaml block is a spec the API server accepts (and
			// that resolves to this page's provider), or the status to expect.
			statuses := 0
			for i, b := range fragments {
				var frag struct {
					Spec   *tokenatorv1.OAuthClientSpec   `json:"spec,omitempty"`
					Status *tokenatorv1.OAuthClientStatus `json:"status,omitempty"`
				}
				e.g.Expect(yaml.UnmarshalStrict([]byte(b), &frag)).To(Succeed(), "%s: ```yaml block %q", name, b)
				e.g.Expect((frag.Spec == nil) != (frag.Status == nil)).To(BeTrue(),
					"%s: a ```yaml snippet holds either spec: or status:, got %q", name, b)
				if frag.Spec != nil {
					e.g.Expect(frag.Spec.CredentialsSecretRef != nil && frag.Spec.CredentialsSecretRef.Name != "").To(BeTrue(), "%s: spec snippet %q names no credentials Secret", name, b)
					checkPreset(e.g, kind, frag.Spec)
					oc := &tokenatorv1.OAuthClient{
						ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("snippet-%d", i), Namespace: e.ns},
						Spec:       *frag.Spec,
					}
					e.g.Expect(k8s.Create(e.ctx, oc, client.DryRunAll)).To(Succeed(), "%s: spec snippet %q", name, b)
				} else {
					statuses++
					checkStatusSnippet(e.g, frag.Status, got, ex.client.Spec.RefreshBefore)
				}
			}
			e.g.Expect(statuses).To(Equal(1), "%s: the page shows the status to expect in one ```yaml status: snippet", name)
		})
	}
	for name := range providerPages {
		if !found[name] {
			t.Errorf("docs/providers/%s is missing", name)
		}
	}
}

// The getting-started page's credentials command, OAuthClient and workloads
// work as written, its commands name the objects it creates, and the refresh it
// shows gives a new token.
func TestGettingStartedExample(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join("..", "docs", "getting-started.md"))
	g.Expect(err).NotTo(HaveOccurred())
	md := string(raw)
	commands := shellCommands(t, md)

	ex := &docExample{page: "getting-started.md", kind: oauthtest.Lucca, keys: keyTable(t, md)}
	for _, cmd := range commands {
		if strings.Contains(cmd, " create secret generic ") {
			g.Expect(ex.credentials).To(BeNil(), "more than one kubectl create secret generic command")
			ex.credentials = secretFromKubectl(t, cmd)
		}
	}
	g.Expect(ex.credentials).NotTo(BeNil(), "no kubectl create secret generic command")
	for _, b := range testutil.FencedBlocks(t, md, "yaml") {
		docs := testutil.YAMLDocuments(b)
		g.Expect(docs).To(HaveLen(1), "every ```yaml block of getting-started.md is one complete object")
		switch obj := decodeDocObject(t, docs[0]).(type) {
		case *tokenatorv1.OAuthClient:
			g.Expect(ex.client).To(BeNil(), "more than one OAuthClient")
			ex.client = obj
		case *appsv1.Deployment, *batchv1.CronJob:
			ex.workloads = append(ex.workloads, obj)
		default:
			t.Fatalf("unexpected %T in getting-started.md", obj)
		}
	}
	g.Expect(ex.client).NotTo(BeNil(), "no OAuthClient")
	g.Expect(ex.workloads).To(ContainElement(BeAssignableToTypeOf(&appsv1.Deployment{})), "no Deployment")

	e, got := runDocExample(t, ex)

	// The commands name the objects the page creates.
	var waited, annotated, read bool
	for _, cmd := range commands {
		f := strings.Fields(cmd)
		if len(f) < 2 || f[0] != "kubectl" {
			continue
		}
		if i := slices.Index(f, "-n"); i >= 0 && i+1 < len(f) && f[i+1] != "tokenator-system" {
			e.g.Expect(f[i+1]).To(Equal(ex.client.Namespace), "namespace of %q", cmd)
		}
		switch {
		case slices.Contains(f, "wait"):
			waited = true
			e.g.Expect(f).To(ContainElement("--for=condition=Ready"), cmd)
			e.g.Expect(f).To(ContainElement("oauthclient/"+ex.client.Name), cmd)
		case slices.Contains(f, "annotate"):
			annotated = true
			e.g.Expect(cmd).To(ContainSubstring("annotate oauthclient "+ex.client.Name+" "+tokenatorv1.AnnotationRefreshRequestedAt+"="), cmd)
			e.g.Expect(f).To(ContainElement("--overwrite"), cmd)
		case slices.Contains(f, "get") && slices.Contains(f, "secret"):
			read = true
			e.g.Expect(f[slices.Index(f, "secret")+1]).To(Equal(got.Status.SecretName), cmd)
		}
	}
	e.g.Expect([]bool{waited, annotated, read}).To(Equal([]bool{true, true, true}), "kubectl wait, annotate and get secret commands")

	// The refresh the page shows gives a new token.
	old := e.token(got.Status.SecretName)
	e.update(ex.client.Name, func(oc *tokenatorv1.OAuthClient) {
		if oc.Annotations == nil {
			oc.Annotations = map[string]string{}
		}
		oc.Annotations[tokenatorv1.AnnotationRefreshRequestedAt] = fmt.Sprint(time.Now().Unix())
	})
	e.g.Expect(e.issuedToken(e.waitNewToken(got.Status.SecretName, old))).To(BeTrue())
}

// runDocExample applies the example's credentials and OAuthClient in a fresh
// namespace against a local endpoint of the example's kind, swapping in only
// the endpoint's URL and CA, waits for Ready and checks the request, the
// derived Secret and the workloads.
func runDocExample(t *testing.T, ex *docExample) (*testEnv, *tokenatorv1.OAuthClient) {
	t.Helper()
	g := NewWithT(t)
	creds, oc := ex.credentials, ex.client
	g.Expect(oc.Name).NotTo(BeEmpty())
	g.Expect(creds.Name).To(Equal(oc.Spec.CredentialsSecretRef.Name), "%s: the OAuthClient names the example's credentials Secret", ex.page)
	for _, w := range ex.workloads {
		g.Expect(w.GetNamespace()).To(Equal(oc.Namespace), "%s: %s is in the OAuthClient's namespace", ex.page, w.GetName())
	}
	g.Expect(creds.Namespace).To(Equal(oc.Namespace), "%s: the credentials are in the OAuthClient's namespace", ex.page)
	ep := checkPreset(g, ex.kind, &oc.Spec)

	ref := oc.Spec.CredentialsSecretRef
	id := oc.Spec.ClientID
	if id == "" {
		id = credentialValue(creds, defaultKey(ref.ClientIDKey, "client_id"))
	}
	if ep.Method != tokenatorv1.ClientAuthenticationNone {
		g.Expect(id).NotTo(BeEmpty(), "%s: no client ID in spec.clientID or the credentials Secret", ex.page)
	}
	cfg := oauthtest.Config{Kind: ex.kind, Clients: map[string]string{}}
	creds = creds.DeepCopy()
	switch {
	case ep.Grant == tokenatorv1.GrantJWTBearer:
		cfg.ServiceAccountKeys = []oauthtest.ServiceAccountKey{docServiceAccountKey(g, ex.page, creds, ref)}
	case ep.Method == tokenatorv1.ClientAuthenticationPrivateKeyJWT, ep.Method == tokenatorv1.ClientAuthenticationTLS:
		// A page cannot ship a key: the example's placeholders are replaced
		// by a new key, and a certificate where the example has one.
		keyKey := defaultKey(ref.PrivateKeyKey, tokenatorv1.DefaultPrivateKeyKey)
		certKey := defaultKey(ref.CertificateKey, tokenatorv1.DefaultCertificateKey)
		g.Expect(credentialValue(creds, keyKey)).To(ContainSubstring("PRIVATE KEY-----"), "%s: the credentials Secret has no PEM key under %q", ex.page, keyKey)
		key := oauthtest.NewClientKey(oauthtest.RSA2048)
		replace := func(k string, v []byte) {
			delete(creds.StringData, k)
			if creds.Data == nil {
				creds.Data = map[string][]byte{}
			}
			creds.Data[k] = v
		}
		replace(keyKey, keyMaterial(oauthtest.PrivateKeyPEM(key)))
		if ep.Method == tokenatorv1.ClientAuthenticationTLS {
			g.Expect(credentialValue(creds, certKey)).To(ContainSubstring("BEGIN CERTIFICATE"), "%s: no PEM certificate under %q", ex.page, certKey)
			chain, root := oauthtest.IssuedClientCertificate(id, key)
			replace(certKey, chain)
			cfg.ClientCertificates = map[string][]byte{id: root}
			cfg.ClientAuth = "tls"
		} else {
			if credentialValue(creds, certKey) != "" {
				replace(certKey, oauthtest.SelfSignedClientCertificate(id, key, time.Time{}))
			}
			cfg.ClientKeys = map[string]crypto.PublicKey{id: key.Public()}
			cfg.ClientAuth = "assertion"
		}
	default:
		secret := credentialValue(creds, defaultKey(ref.ClientSecretKey, "client_secret"))
		g.Expect(secret).NotTo(BeEmpty(), "%s: no client secret in the credentials Secret", ex.page)
		secretsMu.Lock()
		secretsSeen = append(secretsSeen, secret)
		secretsMu.Unlock()
		cfg.Clients[id] = secret
		if ex.kind != oauthtest.JSONBody {
			cfg.ClientAuth = string(ep.ClientAuth) // refuse the other methods
		}
	}
	if a := oc.Spec.ClientAssertion; a != nil && a.Audience != "" {
		cfg.AssertionAudience = a.Audience
	}
	e := newEnv(t, cfg)

	e.create(creds)
	oc = oc.DeepCopy()
	oc.Spec.TokenURL = e.idp.URL()
	if oc.Spec.TLS == nil {
		oc.Spec.TLS = &tokenatorv1.TLSConfig{}
	}
	oc.Spec.TLS.CASecretRef = &tokenatorv1.KeySelector{Name: "idp-ca"}
	e.create(oc)
	got := e.waitReady(oc.Name)

	req := e.idp.LastRequest()
	e.g.Expect(req.BasicAuth).To(Equal(ep.ClientAuth == oauth.ClientAuthBasic))
	e.g.Expect(req.Params["client_id"] + req.BasicUser).To(Equal(id))
	switch ep.ClientAuth {
	case oauth.ClientAuthAssertion:
		e.g.Expect(req.Params).To(HaveKeyWithValue("client_assertion_type", oauth.ClientAssertionTypeJWTBearer))
		e.g.Expect(req.Params).NotTo(HaveKey("client_secret"))
		if tp := certificateThumbprintOf(oc); tp != "" {
			h, _ := assertionsOf(e.idp, id)
			e.g.Expect(h).NotTo(BeEmpty())
			e.g.Expect(h[len(h)-1].ExtraHeaders).To(HaveKey(jose.HeaderKey(tp)), "%s: the assertion carries %s", ex.page, tp)
		}
	case oauth.ClientAuthTLS:
		e.g.Expect(req.ClientCertificates).To(HaveLen(2), "%s: the chain is sent", ex.page)
		e.g.Expect(req.Params).NotTo(HaveKey("client_secret"))
	}
	if ep.ScopeIn == tokenatorv1.ScopeInAssertion {
		e.g.Expect(req.Params).NotTo(HaveKey("scope"))
		e.g.Expect(jwtClaims(t, req.Params["assertion"])).To(HaveKeyWithValue("scope", strings.Join(oc.Spec.Scopes, " ")))
	} else if len(oc.Spec.Scopes) > 0 {
		e.g.Expect(req.Params).To(HaveKeyWithValue("scope", strings.Join(oc.Spec.Scopes, " ")))
	} else {
		e.g.Expect(req.Params).NotTo(HaveKey("scope"))
	}
	if oc.Spec.Audience != "" {
		e.g.Expect(req.Params).To(HaveKeyWithValue("audience", oc.Spec.Audience))
	}
	for k, v := range oc.Spec.ExtraParameters {
		e.g.Expect(req.Params).To(HaveKeyWithValue(k, v))
	}

	// The derived Secret: the name the example expects, the keys the page lists.
	wantName := oc.Spec.Secret.Name
	if wantName == "" {
		wantName = oc.Name + "-token"
	}
	e.g.Expect(got.Status.SecretName).To(Equal(wantName))
	derived := e.secret(got.Status.SecretName)
	e.g.Expect(e.issuedToken(string(derived.Data[tokenatorv1.SecretKeyAccessToken]))).To(BeTrue())
	var keys []string
	for k := range derived.Data {
		keys = append(keys, k)
	}
	e.g.Expect(keys).To(ConsistOf(ex.keys), "%s: the derived Secret's keys and the page's key table", ex.page)
	for k, v := range oc.Spec.Secret.Labels {
		e.g.Expect(derived.Labels).To(HaveKeyWithValue(k, v))
	}

	// The workloads: valid for the API server (server-side dry run: there are
	// no kubelets), and reading the derived Secret, and only it.
	for _, w := range ex.workloads {
		w = w.DeepCopyObject().(client.Object)
		w.SetNamespace(e.ns)
		e.g.Expect(k8s.Create(e.ctx, w, client.DryRunAll)).To(Succeed(), "%s: %T %s", ex.page, w, w.GetName())
		checkReadsSecret(e.g, ex.page+": "+w.GetName(), podSpecOf(e.g, w), derived)
	}
	return e, got
}

// checkPreset checks that spec resolves to what the page's provider expects,
// and returns the resolved endpoint.
func checkPreset(g Gomega, kind oauthtest.Kind, spec *tokenatorv1.OAuthClientSpec) presets.Endpoint {
	ep, err := presets.Resolve(&spec.OAuthEndpoint)
	g.Expect(err).NotTo(HaveOccurred())
	switch kind {
	case oauthtest.Lucca:
		g.Expect(ep.TokenURL).To(Equal(presets.LuccaTokenURL))
		g.Expect(ep.Encoding).To(Equal(oauth.EncodingForm))
	case oauthtest.Luxclusif:
		g.Expect(ep.TokenURL).To(BeElementOf(presets.LuxclusifSandboxTokenURL, presets.LuxclusifProductionTokenURL))
		g.Expect(ep.Encoding).To(Equal(oauth.EncodingMultipart))
		g.Expect(strings.Join(spec.Scopes, " ")).To(BeElementOf("buyback buyback.partner", "buyback buyback.buyer"))
	case oauthtest.JSONBody:
		u, err := url.Parse(ep.TokenURL)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(u.Path).To(Equal("/api/oauth/token"))
		g.Expect(ep.Encoding).To(Equal(oauth.EncodingJSON))
		g.Expect(ep.ClientAuth).To(Equal(oauth.ClientAuthPost))
	case oauthtest.RFC6749:
		g.Expect(ep.Encoding).To(Equal(oauth.EncodingForm))
	case oauthtest.Google:
		g.Expect(ep.TokenURL).To(Equal(presets.GoogleTokenURL))
		g.Expect(ep.Encoding).To(Equal(oauth.EncodingForm))
		g.Expect(ep.Grant).To(Equal(tokenatorv1.GrantJWTBearer))
		g.Expect(ep.ScopeIn).To(Equal(tokenatorv1.ScopeInAssertion))
	}
	return ep
}

// checkStatusSnippet compares the status a page shows with the one the
// operator wrote: the same Secret, token type and Ready condition, the same
// lifetime, a consistent message, and a refresh time the schedule can give.
func checkStatusSnippet(g Gomega, doc *tokenatorv1.OAuthClientStatus, got *tokenatorv1.OAuthClient, refreshBefore *metav1.Duration) {
	g.Expect(doc.SecretName).To(Equal(got.Status.SecretName))
	g.Expect(doc.TokenType).To(Equal(got.Status.TokenType))
	g.Expect(doc.FailedAttempts).To(Equal(got.Status.FailedAttempts))
	ready := meta.FindStatusCondition(doc.Conditions, tokenatorv1.ConditionReady)
	g.Expect(ready).NotTo(BeNil(), "no Ready condition in the status snippet")
	gotReady := meta.FindStatusCondition(got.Status.Conditions, tokenatorv1.ConditionReady)
	g.Expect(ready.Status).To(Equal(gotReady.Status))
	g.Expect(ready.Reason).To(Equal(gotReady.Reason))
	g.Expect(doc.ExpiresAt).NotTo(BeNil())
	g.Expect(doc.LastRefreshTime).NotTo(BeNil())
	g.Expect(doc.RefreshAt).NotTo(BeNil())
	prefix := "token valid until "
	g.Expect(gotReady.Message).To(HavePrefix(prefix))
	g.Expect(ready.Message).To(Equal(prefix + doc.ExpiresAt.UTC().Format(time.RFC3339)))

	lifetime := doc.ExpiresAt.Sub(doc.LastRefreshTime.Time)
	gotLifetime := got.Status.ExpiresAt.Sub(got.Status.LastRefreshTime.Time)
	g.Expect(lifetime).To(BeNumerically("~", gotLifetime, 2*time.Second), "token lifetime")
	for _, st := range []*tokenatorv1.OAuthClientStatus{doc, &got.Status} {
		life := st.ExpiresAt.Sub(st.LastRefreshTime.Time)
		until := life * 2 / 3
		if rb := refreshBefore; rb != nil && rb.Duration > 0 && rb.Duration < life {
			until = life - rb.Duration
		}
		jitter := min(time.Duration(float64(until)*schedule.RefreshJitterFraction), schedule.MaxRefreshJitter)
		g.Expect(st.RefreshAt.Sub(st.LastRefreshTime.Time)).To(And(
			BeNumerically(">=", until-jitter-time.Second), BeNumerically("<=", until)),
			"refreshAt %s for a token issued at %s", st.RefreshAt.UTC(), st.LastRefreshTime.UTC())
	}
}

// checkReadsSecret checks that a pod spec reads the derived Secret (through a
// volume, mounted without subPath so that refreshes reach it, or environment
// variables), no other Secret, and only keys it has.
func checkReadsSecret(g Gomega, what string, ps *corev1.PodSpec, derived *corev1.Secret) {
	type ref struct{ where, name, key string }
	var refs []ref
	secretVolumes := map[string]bool{}
	for _, v := range ps.Volumes {
		var sources []ref
		if s := v.Secret; s != nil {
			sources = append(sources, ref{"volume " + v.Name, s.SecretName, ""})
			for _, it := range s.Items {
				sources = append(sources, ref{"volume " + v.Name, s.SecretName, it.Key})
			}
		}
		if p := v.Projected; p != nil {
			for _, src := range p.Sources {
				if s := src.Secret; s != nil {
					sources = append(sources, ref{"volume " + v.Name, s.Name, ""})
					for _, it := range s.Items {
						sources = append(sources, ref{"volume " + v.Name, s.Name, it.Key})
					}
				}
			}
		}
		if len(sources) > 0 {
			secretVolumes[v.Name] = false
			refs = append(refs, sources...)
		}
	}
	for _, c := range append(slices.Clone(ps.InitContainers), ps.Containers...) {
		for _, env := range c.Env {
			if env.ValueFrom != nil && env.ValueFrom.SecretKeyRef != nil {
				refs = append(refs, ref{"env " + env.Name, env.ValueFrom.SecretKeyRef.Name, env.ValueFrom.SecretKeyRef.Key})
			}
		}
		for _, from := range c.EnvFrom {
			if from.SecretRef != nil {
				refs = append(refs, ref{"envFrom", from.SecretRef.Name, ""})
			}
		}
		for _, m := range c.VolumeMounts {
			if _, ok := secretVolumes[m.Name]; ok {
				secretVolumes[m.Name] = true
				g.Expect(m.SubPath+m.SubPathExpr).To(BeEmpty(), "%s: container %s mounts the token with subPath, which refreshes never reach", what, c.Name)
			}
		}
	}
	g.Expect(refs).NotTo(BeEmpty(), "%s reads no Secret", what)
	for _, r := range refs {
		g.Expect(r.name).To(Equal(derived.Name), "%s: %s reads Secret %q, not the one the OAuthClient writes", what, r.where, r.name)
		if r.key != "" {
			g.Expect(derived.Data).To(HaveKey(r.key), "%s: %s reads key %q", what, r.where, r.key)
		}
	}
	for name, mounted := range secretVolumes {
		g.Expect(mounted).To(BeTrue(), "%s: volume %s is mounted by no container", what, name)
	}
}

func podSpecOf(g Gomega, obj client.Object) *corev1.PodSpec {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template.Spec
	case *batchv1.CronJob:
		return &w.Spec.JobTemplate.Spec.Template.Spec
	}
	g.Expect(obj).To(BeNil(), "not a workload")
	return nil
}

// decodeDocObject decodes one YAML document strictly into the type its kind
// names; apiVersion must be the kind's.
func decodeDocObject(t *testing.T, doc string) client.Object {
	t.Helper()
	var probe struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal([]byte(doc), &probe); err != nil {
		t.Fatalf("a ```yaml document does not parse: %v\n%s", err, doc)
	}
	var obj client.Object
	var apiVersion string
	switch probe.Kind {
	case "Secret":
		obj, apiVersion = &corev1.Secret{}, "v1"
	case "OAuthClient":
		obj, apiVersion = &tokenatorv1.OAuthClient{}, tokenatorv1.GroupVersion.String()
	case "Deployment":
		obj, apiVersion = &appsv1.Deployment{}, "apps/v1"
	case "CronJob":
		obj, apiVersion = &batchv1.CronJob{}, "batch/v1"
	default:
		t.Fatalf("unexpected kind %q in a ```yaml document:\n%s", probe.Kind, doc)
	}
	if probe.APIVersion != apiVersion {
		t.Fatalf("%s has apiVersion %q, want %q", probe.Kind, probe.APIVersion, apiVersion)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		t.Fatalf("%s %q: %v", probe.Kind, obj.GetName(), err)
	}
	return obj
}

func certificateThumbprintOf(oc *tokenatorv1.OAuthClient) string {
	if a := oc.Spec.ClientAssertion; a != nil {
		return string(a.CertificateThumbprint)
	}
	return ""
}

func credentialValue(s *corev1.Secret, key string) string {
	if v, ok := s.StringData[key]; ok {
		return v
	}
	return string(s.Data[key])
}

// keyTable returns the first column of the page's one Markdown table whose
// first header cell is "key": the derived Secret's keys.
func keyTable(t *testing.T, md string) []string {
	t.Helper()
	lines := strings.Split(md, "\n")
	cell := func(line string) (string, bool) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			return "", false
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "|"), "|")
		return strings.Trim(strings.TrimSpace(first), "`"), true
	}
	var keys []string
	tables := 0
	for i := 0; i+1 < len(lines); i++ {
		if c, ok := cell(lines[i]); !ok || c != "key" || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|---") {
			continue
		}
		tables++
		for i += 2; i < len(lines); i++ {
			c, ok := cell(lines[i])
			if !ok {
				break
			}
			keys = append(keys, c)
		}
	}
	if tables != 1 || len(keys) == 0 {
		t.Fatalf("want one table of the derived Secret's keys (first header cell \"key\"), found %d tables and keys %q", tables, keys)
	}
	return keys
}

var lineContinuation = regexp.MustCompile(`\\\n\s*`)

// shellCommands returns the commands of the ```sh blocks, continuation lines joined.
func shellCommands(t *testing.T, md string) []string {
	t.Helper()
	var cmds []string
	for _, b := range testutil.FencedBlocks(t, md, "sh") {
		for _, line := range strings.Split(lineContinuation.ReplaceAllString(b, ""), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				cmds = append(cmds, line)
			}
		}
	}
	return cmds
}

// secretFromKubectl builds the Secret a `kubectl create secret generic`
// command creates.
func secretFromKubectl(t *testing.T, cmd string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{StringData: map[string]string{}}
	f := strings.Fields(cmd)
	for i := 0; i < len(f); i++ {
		switch arg := f[i]; {
		case arg == "generic" && i+1 < len(f):
			i++
			s.Name = f[i]
		case (arg == "-n" || arg == "--namespace") && i+1 < len(f):
			i++
			s.Namespace = f[i]
		case strings.HasPrefix(arg, "--namespace="):
			s.Namespace = strings.TrimPrefix(arg, "--namespace=")
		case strings.HasPrefix(arg, "--from-literal="):
			k, v, ok := strings.Cut(strings.TrimPrefix(arg, "--from-literal="), "=")
			if !ok {
				t.Fatalf("cannot read %q in %q", arg, cmd)
			}
			s.StringData[k] = strings.Trim(v, `'"`)
		}
	}
	if s.Name == "" || len(s.StringData) == 0 {
		t.Fatalf("cannot read the Secret of %q", cmd)
	}
	return s
}

// README.md links every page of docs/ and the chart's README, and every
// relative link of README.md, docs/ and the chart's README names a file that
// exists.
func TestReadmeLinksEveryDoc(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..")
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	providers, err := filepath.Glob(filepath.Join(root, "docs", "providers", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	chart := filepath.Join(root, "charts", "tokenator", "README.md")
	readme := filepath.Join(root, "README.md")
	link := regexp.MustCompile(`\]\(([^)\s#]+)(#[^)\s]*)?\)`)
	linked := map[string]bool{}
	for _, page := range append(append([]string{readme, chart}, pages...), providers...) {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(raw), -1) {
			target := m[1]
			if u, err := url.Parse(target); err != nil || u.Scheme != "" || strings.ContainsAny(target, "[]*") {
				continue
			}
			path := filepath.Clean(filepath.Join(filepath.Dir(page), target))
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links %s, which does not exist", page, target)
			}
			if page == readme {
				linked[path] = true
			}
		}
	}
	for _, page := range append(append([]string{chart}, pages...), providers...) {
		if !linked[filepath.Clean(page)] {
			t.Errorf("README.md does not link %s", page)
		}
	}
}

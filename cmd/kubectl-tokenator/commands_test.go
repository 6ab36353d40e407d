package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// inspect -o json|yaml prints the documented shape: the OAuthClient, the
// Secret and what the token says, never the token.
func TestInspectOutput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.JSONBody, Lifetime: time.Hour})
	e.oauthClient("jwt", tokenatorv1.EncodingJSON, nil)
	e.waitReason("jwt", tokenatorv1.ReasonTokenIssued)
	tok := e.token("jwt-token")

	r := kt(t, "inspect", "-n", e.ns, "jwt", "-o", "json")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	var got inspection
	dec := json.NewDecoder(strings.NewReader(r.out))
	dec.DisallowUnknownFields()
	e.g.Expect(dec.Decode(&got)).To(Succeed())
	e.g.Expect(got.OAuthClient).To(Equal(objectRef{Namespace: e.ns, Name: "jwt"}))
	e.g.Expect(got.Secret).To(Equal(objectRef{Namespace: e.ns, Name: "jwt-token"}))
	e.g.Expect(got.Token.Type).To(Equal("Bearer"))
	e.g.Expect(got.Token.Format).To(Equal("JWT"))
	e.g.Expect(got.Token.NotJWT).To(BeEmpty())
	e.g.Expect(got.Token.Length).To(Equal(len(tok)))
	exp, err := time.Parse(time.RFC3339, got.Token.ExpiresAt)
	e.g.Expect(err).NotTo(HaveOccurred())
	e.g.Expect(time.Until(exp)).To(BeNumerically("~", time.Hour, 2*time.Minute))
	e.g.Expect(got.Token.Header).To(HaveKeyWithValue("alg", json.RawMessage(`"RS256"`)))
	e.g.Expect(got.Token.Claims).To(HaveKey("exp"))
	e.g.Expect(got.Token.Claims).To(HaveKey("aud"))
	e.g.Expect(got.Token.Claims).NotTo(HaveKey("jti"), "claims other than the listed ones are not shown")
	expectNoToken(t, r, tok)

	r = kt(t, "inspect", "-n", e.ns, "jwt", "-o", "yaml")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	var fromYAML inspection
	e.g.Expect(yaml.UnmarshalStrict([]byte(r.out), &fromYAML)).To(Succeed())
	e.g.Expect(fromYAML.Token.Length).To(Equal(len(tok)))
	e.g.Expect(r.out).To(ContainSubstring("format: JWT\n"))
	expectNoToken(t, r, tok)

	r = kt(t, "inspect", "-n", e.ns, "jwt", "-o", "wide")
	e.g.Expect(r.err).To(MatchError(`unknown output format "wide": use json or yaml`))
	e.g.Expect(r.out).To(BeEmpty())
}

// version -o json|yaml has kubectl version's clientVersion shape.
func TestVersionOutput(t *testing.T) {
	g := NewWithT(t)
	r := kt(t, "version", "-o", "json")
	g.Expect(r.err).NotTo(HaveOccurred())
	var v versionInfo
	dec := json.NewDecoder(strings.NewReader(r.out))
	dec.DisallowUnknownFields()
	g.Expect(dec.Decode(&v)).To(Succeed())
	g.Expect(v.ClientVersion.GitVersion).To(Equal(version))
	g.Expect(v.ClientVersion.GoVersion).To(HavePrefix("go"))
	g.Expect(v.ClientVersion.Compiler).To(Equal("gc"))
	g.Expect(v.ClientVersion.Platform).To(MatchRegexp(`^[a-z0-9]+/[a-z0-9]+$`))
	g.Expect(r.out).To(HavePrefix("{\n    \"clientVersion\": {\n"))

	r = kt(t, "version", "-o", "yaml")
	g.Expect(r.err).NotTo(HaveOccurred())
	g.Expect(r.out).To(MatchRegexp(`^clientVersion:\n  compiler: gc\n  gitVersion: \S+\n  goVersion: go\S+\n  platform: \S+/\S+\n$`))

	r = kt(t, "version", "-o", "xml")
	g.Expect(r.err).To(MatchError(`unknown output format "xml": use json or yaml`))
}

// completion prints cobra's scripts for kubectl-tokenator, and kubectl's
// plugin completion script.
func TestCompletionScripts(t *testing.T) {
	g := NewWithT(t)
	for shell, want := range map[string]string{
		"bash":    "complete -o default -F __start_kubectl-tokenator kubectl-tokenator",
		"zsh":     "#compdef kubectl-tokenator",
		"fish":    "complete -c kubectl-tokenator ",
		"kubectl": "kubectl tokenator __complete \"$@\"\n",
	} {
		r := kt(t, "completion", shell)
		g.Expect(r.err).NotTo(HaveOccurred(), shell)
		g.Expect(r.out).To(ContainSubstring(want), shell)
	}
	g.Expect(kt(t, "completion", "kubectl").out).To(HavePrefix("#!/usr/bin/env sh\n"))
	r := kt(t, "completion", "tcsh")
	g.Expect(r.err).To(MatchError(ContainSubstring(`unknown shell "tcsh"`)))
	r = kt(t, "completion")
	g.Expect(r.err).To(MatchError(ContainSubstring("accepts 1 arg(s), received 0")))

	// The shells and the output formats complete without the API server.
	g.Expect(complete(t, "completion", "")).To(Equal([]string{"bash", "zsh", "fish", "kubectl"}))
	g.Expect(complete(t, "status", "-o", "")).To(Equal([]string{"wide", "json", "yaml"}))
	g.Expect(complete(t, "inspect", "-o", "")).To(Equal([]string{"json", "yaml"}))
}

// complete runs cobra's __complete for args, the last being the word to
// complete, and returns the completions without descriptions.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	r := kt(t, append([]string{"__completeNoDesc"}, args...)...)
	NewWithT(t).Expect(r.err).NotTo(HaveOccurred())
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	// The last line is the directive (":4": no file completion).
	NewWithT(t).Expect(lines[len(lines)-1]).To(HavePrefix(":"))
	return lines[:len(lines)-1]
}

// Names of OAuthClients and ClusterOAuthProviders complete from the API
// server; an OAuthClient named coap is reached after --.
func TestCompletionNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	for _, n := range []string{"alpha", "alpine", "beta", "coap"} {
		e.oauthClient(n, "", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Suspend = true })
	}
	p := e.provider(nil)

	e.g.Expect(complete(t, "status", "-n", e.ns, "")).To(ContainElements("alpha", "alpine", "beta", "coap"))
	e.g.Expect(complete(t, "status", "-n", e.ns, "al")).To(Equal([]string{"alpha", "alpine"}))
	e.g.Expect(complete(t, "status", "-n", e.ns, "alpha", "al")).To(Equal([]string{"alpine"}), "a name given is not offered again")
	e.g.Expect(complete(t, "renew", "-n", e.ns, "b")).To(Equal([]string{"beta"}))
	e.g.Expect(complete(t, "suspend", "-n", e.ns, "b")).To(Equal([]string{"beta"}))
	e.g.Expect(complete(t, "resume", "-n", e.ns, "alp")).To(Equal([]string{"alpha", "alpine"}))
	e.g.Expect(complete(t, "inspect", "-n", e.ns, "alph")).To(Equal([]string{"alpha"}))
	e.g.Expect(complete(t, "inspect", "-n", e.ns, "alpha", "")).To(BeEmpty(), "inspect takes one name")
	e.g.Expect(complete(t, "status", "coap", p.Name[:10])).To(ContainElement(p.Name))
	e.g.Expect(complete(t, "inspect", "coap", p.Name)).To(Equal([]string{p.Name}))
	e.g.Expect(complete(t, "inspect", "coap", p.Name, "")).To(BeEmpty())

	// An OAuthClient named like the subcommand is named after --.
	e.waitReason("coap", tokenatorv1.ReasonSuspended)
	r := kt(t, "status", "-n", e.ns, "--", "coap")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(rows(r.out, "coap ")).To(HaveLen(1))
	e.g.Expect(r.out).To(ContainSubstring("What next (Suspended)"))
}

// suspend and resume set spec.suspend with a merge patch and say what
// changed; a client already in the state asked for is left as it is.
func TestSuspendResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749, Lifetime: time.Hour})
	e.oauthClient("alpha", "", nil)
	e.oauthClient("beta", "", func(oc *tokenatorv1.OAuthClient) { oc.Labels = map[string]string{"pause": "yes"} })
	e.waitReason("alpha", tokenatorv1.ReasonTokenIssued)
	e.waitReason("beta", tokenatorv1.ReasonTokenIssued)

	r := kt(t, "suspend", "-n", e.ns, "alpha")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(MatchRegexp(`^oauthclient ` + e.ns + `/alpha: suspended \(spec.suspend: false -> true\): no token is requested, ` +
		`the Secret alpha-token keeps its token, valid until 20[-0-9T:]+Z\n$`))
	e.g.Expect(e.get("alpha").Spec.Suspend).To(BeTrue())
	e.g.Expect(e.get("beta").Spec.Suspend).To(BeFalse(), "only the named client is suspended")
	e.waitReason("alpha", tokenatorv1.ReasonSuspended)
	r = kt(t, "status", "-n", e.ns, "alpha")
	e.g.Expect(r.out).To(ContainSubstring("What next (Suspended):\n  The operator: nothing.\n  You: set spec.suspend: false.\n"))

	r = kt(t, "suspend", "-n", e.ns, "alpha")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(Equal("oauthclient " + e.ns + "/alpha: already suspended, left as it is\n"))

	requests := e.idp.Requests()
	r = kt(t, "resume", "-n", e.ns, "alpha")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(Equal("oauthclient " + e.ns + "/alpha: resumed (spec.suspend: true -> false): " +
		"a token is requested at once if the current one is due or expired\n"))
	e.g.Expect(e.get("alpha").Spec.Suspend).To(BeFalse())
	e.waitReason("alpha", tokenatorv1.ReasonTokenIssued)
	e.g.Expect(e.idp.Requests()).To(Equal(requests), "the token held is not due: none is requested")

	r = kt(t, "resume", "-n", e.ns, "alpha")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(Equal("oauthclient " + e.ns + "/alpha: not suspended, nothing to resume\n"))

	r = kt(t, "suspend", "-n", e.ns, "-l", "pause=yes")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(HavePrefix("oauthclient " + e.ns + "/beta: suspended"))
	e.g.Expect(r.out).NotTo(ContainSubstring("alpha"))
	r = kt(t, "suspend", "-n", e.ns, "--all")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(r.out).To(MatchRegexp(`(?m)^oauthclient ` + e.ns + `/alpha: suspended`))
	e.g.Expect(r.out).To(ContainSubstring("oauthclient " + e.ns + "/beta: already suspended, left as it is\n"))
	r = kt(t, "resume", "-n", e.ns, "--all")
	e.g.Expect(r.err).NotTo(HaveOccurred())
	e.g.Expect(strings.Count(r.out, ": resumed (spec.suspend: true -> false)")).To(Equal(2))
	e.g.Expect(e.get("beta").Spec.Suspend).To(BeFalse())

	r = kt(t, "suspend", "-n", e.ns)
	e.g.Expect(r.err).To(MatchError("name the OAuthClients to suspend, or give --all or -l SELECTOR (one of the three)"))
	r = kt(t, "resume", "-A", "alpha")
	e.g.Expect(r.err).To(MatchError("-A goes with --all or -l, not with names"))
	r = kt(t, "resume", "-n", e.ns, "nothere")
	e.g.Expect(r.err).To(MatchError(ContainSubstring(`"nothere" not found`)))
}

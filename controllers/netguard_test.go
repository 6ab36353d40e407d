package controllers_test

import (
	"net/netip"
	"testing"

	. "github.com/onsi/gomega"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/netguard/netguardtest"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/operator"
)

// --allowed-token-hosts: a tokenURL naming another host is InvalidSpec, and
// the endpoint receives nothing.
func TestAllowedTokenHosts(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		c.AllowedTokenHosts = []string{"*.idp.example.com", "localhost"}
	})
	e.create(e.oauthClient("api"))
	oc := e.waitReason("api", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(metaReady(oc).Message).To(ContainSubstring(`spec.tokenURL: host "127.0.0.1" is not in the operator's --allowed-token-hosts (*.idp.example.com,localhost)`))
	e.g.Expect(e.idp.Requests()).To(BeZero())
}

// --denied-token-networks: a token host that resolves into a denied network is
// refused at connect time, and the endpoint receives nothing. The default list
// denies loopback.
func TestDeniedTokenNetworks(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		c.DeniedTokenNetworks = operator.DefaultConfig().DeniedTokenNetworks
	})
	e.create(e.oauthClient("api"))
	oc := e.waitReason("api", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(metaReady(oc).Message).To(ContainSubstring("address 127.0.0.1 is in the denied network 127.0.0.0/8"))
	e.g.Expect(e.idp.Requests()).To(BeZero())
}

// privateIdP is an identity provider's host name that the stub resolver of
// privateNetworkDialer answers with a private address, and its token URL.
const (
	privateIdP      = "idp.team-b.test"
	privateTokenURL = "https://" + privateIdP + ":8443/token"
	privateDialed   = "10.0.0.5:8443"
	privateRefusal  = "dial tcp " + privateDialed + ": token endpoint address 10.0.0.5 is in a private network (10.0.0.0/8): " +
		"an OAuthClient's own tokenURL may not reach private networks; use a ClusterOAuthProvider for an in-cluster IdP, " +
		"or start the manager with --allow-private-token-networks"
)

// privateNetworkDialer makes the manager's token dialer resolve privateIdP to
// 10.0.0.5 and record, without connecting, every address that passes the
// network guard: no test connects outside loopback.
func privateNetworkDialer(c *operator.Config) (*netguardtest.DNS, *netguardtest.Recorder) {
	dns := netguardtest.Table(map[string][]netip.Addr{privateIdP: {netip.MustParseAddr("10.0.0.5")}})
	rec := &netguardtest.Recorder{}
	c.TokenDialer = netguardtest.Dialer(dns, rec)
	return dns, rec
}

// An OAuthClient's own tokenURL that resolves to a private address is refused
// at connect time, with a message that names the two ways out, and nothing is
// dialed; a ClusterOAuthProvider's endpoint at the same address is dialed,
// for its clients' own credentials and for its shared token alike.
func TestPrivateTokenNetworks(t *testing.T) {
	var dns *netguardtest.DNS
	var rec *netguardtest.Recorder
	e := newProviderEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749}, 1, func(c *operator.Config) {
		dns, rec = privateNetworkDialer(c)
	})

	own := e.oauthClient("own")
	own.Spec.TokenURL = privateTokenURL
	own.Spec.ExtraHeaders = map[string]string{"X-Tenant": "b"}
	e.create(own)
	oc := e.waitReason("own", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(metaReady(oc).Message).To(ContainSubstring(privateRefusal))
	e.g.Expect(dns.Queries()).NotTo(BeZero(), "the name was resolved: the address connected to is what is checked")
	e.g.Expect(rec.Dialed()).To(BeEmpty(), "nothing passed the guard")

	name := randomString("p-")
	p := e.provider(name)
	p.Spec.TokenURL = privateTokenURL
	e.createProvider(p)
	tenant := e.tenant(0)
	e.label(tenant.ns, allowLabel(name), "allowed")
	tenant.create(tenant.credentials("tenant-creds", e.clientID, e.clientSecret))
	ownCreds := providerClient("own-credentials", name)
	ownCreds.Spec.CredentialsSecretRef = &tokenatorv1.CredentialsSecretReference{Name: "tenant-creds"}
	tenant.create(ownCreds)
	tenant.create(providerClient("shared", name))
	for _, n := range []string{"own-credentials", "shared"} {
		oc := tenant.waitReason(n, tokenatorv1.ReasonTokenRequestFailed)
		e.g.Expect(metaReady(oc).Message).To(And(
			ContainSubstring("dial tcp "+privateDialed+": "+netguardtest.ErrNotConnecting.Error()),
			Not(ContainSubstring("private network"))), "%s: the provider's endpoint is dialed", n)
	}
	e.g.Expect(rec.Dialed()).To(HaveEach(privateDialed))
	e.g.Expect(rec.Dialed()).NotTo(BeEmpty())
	e.g.Expect(metaReady(e.get("own")).Message).To(ContainSubstring(privateRefusal), "the own endpoint is still refused")
	e.g.Expect(e.idp.Requests()).To(BeZero())
}

// --allow-private-token-networks: an OAuthClient's own tokenURL may reach
// private networks, as a ClusterOAuthProvider's endpoint may.
func TestAllowPrivateTokenNetworks(t *testing.T) {
	t.Parallel()
	var rec *netguardtest.Recorder
	e := newEnvWith(t, oauthtest.Config{Kind: oauthtest.RFC6749}, func(c *operator.Config) {
		_, rec = privateNetworkDialer(c)
		c.AllowPrivateTokenNetworks = true
	})
	own := e.oauthClient("own")
	own.Spec.TokenURL = privateTokenURL
	e.create(own)
	oc := e.waitReason("own", tokenatorv1.ReasonTokenRequestFailed)
	e.g.Expect(metaReady(oc).Message).To(ContainSubstring("dial tcp " + privateDialed + ": " + netguardtest.ErrNotConnecting.Error()))
	e.g.Expect(rec.Dialed()).To(HaveEach(privateDialed))
	e.g.Expect(rec.Dialed()).NotTo(BeEmpty())
}

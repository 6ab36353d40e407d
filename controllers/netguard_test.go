package controllers_test

import (
	"testing"

	. "github.com/onsi/gomega"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/operator"
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

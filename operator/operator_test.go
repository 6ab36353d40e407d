package operator

import (
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/tokenator-dev/tokenator/controllers"
	"github.com/tokenator-dev/tokenator/internal/netguard"
)

// The manager's namespace, the default of --cluster-resource-namespace:
// POD_NAMESPACE, else the ServiceAccount's namespace file, else
// tokenator-system.
func TestManagerNamespace(t *testing.T) {
	t.Setenv("POD_NAMESPACE", " platform ")
	if got := ManagerNamespace(); got != "platform" {
		t.Errorf("with POD_NAMESPACE: %q, want platform", got)
	}
	t.Setenv("POD_NAMESPACE", "")
	if _, err := os.Stat(serviceAccountNamespaceFile); err == nil {
		t.Skip("running in a pod: the ServiceAccount's namespace file exists")
	}
	if got := ManagerNamespace(); got != controllers.ClusterResourceNamespaceDefault {
		t.Errorf("without POD_NAMESPACE: %q, want %s", got, controllers.ClusterResourceNamespaceDefault)
	}
}

// The guard of OAuthClients' own endpoints refuses the private networks
// unless AllowPrivateTokenNetworks; the providers' guard never does. Both
// keep the denied networks.
func TestGuardsByReach(t *testing.T) {
	private, metadata := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("169.254.169.254")
	for _, allow := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.AllowPrivateTokenNetworks = allow
		own, provider, err := newGuards(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := own.CheckAddr(private); (err == nil) != allow {
			t.Errorf("allow=%v: own endpoint at %s: %v", allow, private, err)
		}
		if err := provider.CheckAddr(private); err != nil {
			t.Errorf("allow=%v: provider endpoint at %s: %v", allow, private, err)
		}
		for _, g := range []*netguard.Guard{own, provider} {
			if err := g.CheckAddr(metadata); !errors.Is(err, netguard.ErrRefused) {
				t.Errorf("allow=%v: %s: %v, want it denied", allow, metadata, err)
			}
			if g.Dialer == nil {
				t.Errorf("allow=%v: a guard without a dialer", allow)
			}
		}
	}
}

package testutil

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControlPlane is a test suite's kube-apiserver and etcd (envtest, from the
// binaries in KUBEBUILDER_ASSETS), started by the first test that needs one,
// so that the suite's other tests run without it.
type ControlPlane struct {
	// CRDDir holds the CRDs to install.
	CRDDir string
	// Scheme is the scheme of the client.
	Scheme *runtime.Scheme
	// Refuse, when set and returning an error, keeps the control plane from
	// starting (fuzz workers, which are killed when the fuzz time ends).
	Refuse func() error

	once   sync.Once
	env    *envtest.Environment
	config *rest.Config
	client client.Client
	err    error
}

// Start starts the control plane once, and returns its configuration and a
// client; the error of the first start is returned to every caller.
func (c *ControlPlane) Start() (*rest.Config, client.Client, error) {
	c.once.Do(c.start)
	return c.config, c.client, c.err
}

func (c *ControlPlane) start() {
	if c.Refuse != nil {
		if c.err = c.Refuse(); c.err != nil {
			return
		}
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		c.err = errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd into bin/k8s")
		return
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{c.CRDDir}, ErrorIfCRDPathMissing: true}
	// envtest starts the API server with a service account issuer at its own
	// URL, so service account issuer discovery is on
	// (/.well-known/openid-configuration, /openid/v1/jwks). The JWKS URI the
	// discovery document advertises is built from the external host, which
	// otherwise defaults to the machine's first network address: loopback
	// keeps the tests that verify ServiceAccount tokens with the published
	// keys on loopback.
	env.ControlPlane.GetAPIServer().Configure().Set("external-hostname", "127.0.0.1")
	cfg, err := env.Start()
	if err != nil {
		c.err = fmt.Errorf("starting the test control plane: %w", err)
		return
	}
	c.env, c.config = env, cfg
	if c.client, err = client.New(cfg, client.Options{Scheme: c.Scheme}); err != nil {
		c.err = fmt.Errorf("creating a client: %w", err)
	}
}

// Started reports whether the control plane runs.
func (c *ControlPlane) Started() bool { return c.env != nil }

// Stop stops the control plane if it was started.
func (c *ControlPlane) Stop() error {
	if c.env == nil {
		return nil
	}
	return c.env.Stop()
}

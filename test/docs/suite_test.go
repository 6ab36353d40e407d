// Package docs_test checks what the repository ships besides the code against
// the code and the API server: the docs (every YAML block meant to be applied,
// the troubleshooting page), the kustomize bundles of config/ and the CRD's
// validation.
//
// Tests that read files only need nothing; tests that apply objects start a
// real kube-apiserver and etcd on first use (KUBEBUILDER_ASSETS, built by
// hack/build-control-plane.sh), and kustomize tests need KUSTOMIZE. No manager
// runs here: examples that must reach a token are tested in controllers.
package docs_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenator-dev/tokenator/internal/operator"
)

// repoRoot is the repository's root, relative to this package's directory
// (where go test runs).
var repoRoot = filepath.Join("..", "..")

// k8s is a client of the test API server.
var k8s client.Client

// The control plane is started on first use, by requireControlPlane: a run of
// tests that need none starts no kube-apiserver and needs no
// KUBEBUILDER_ASSETS.
var (
	controlPlaneOnce sync.Once
	controlPlane     *envtest.Environment
	controlPlaneErr  error
)

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	code := m.Run()
	if controlPlane != nil {
		if err := controlPlane.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the test control plane: %v\n", err)
		}
	}
	os.Exit(code)
}

// requireControlPlane starts the package's kube-apiserver and etcd, with the
// CRD of config/crd, if no test has yet, and sets k8s; it fails
// t when they cannot start.
func requireControlPlane(t testing.TB) {
	t.Helper()
	controlPlaneOnce.Do(startControlPlane)
	if controlPlaneErr != nil {
		t.Fatal(controlPlaneErr)
	}
}

func startControlPlane() {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		controlPlaneErr = errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd into bin/k8s")
		return
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		controlPlaneErr = fmt.Errorf("starting the test control plane: %w", err)
		return
	}
	controlPlane = env
	k8s, err = client.New(cfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		controlPlaneErr = fmt.Errorf("creating a client: %w", err)
	}
}

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
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/operator"
)

// repoRoot is the repository's root, relative to this package's directory
// (where go test runs).
var repoRoot = filepath.Join("..", "..")

// k8s is a client of the test API server.
var k8s client.Client

// The control plane is started on first use, by requireControlPlane: a run of
// tests that need none starts no kube-apiserver and needs no
// KUBEBUILDER_ASSETS.
var controlPlane = &testutil.ControlPlane{
	CRDDir: filepath.Join(repoRoot, "config", "crd", "bases"),
	Scheme: operator.NewScheme(),
}

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	code := m.Run()
	if err := controlPlane.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the test control plane: %v\n", err)
	}
	os.Exit(code)
}

// requireControlPlane starts the package's kube-apiserver and etcd, with the
// CRD of config/crd, if no test has yet, and sets k8s; it fails
// t when they cannot start.
func requireControlPlane(t testing.TB) {
	t.Helper()
	startOnce.Do(func() { _, k8s, startErr = controlPlane.Start() })
	if startErr != nil {
		t.Fatal(startErr)
	}
}

// newNamespace creates a namespace of a name generated from prefix, for one
// test's objects.
func newNamespace(t testing.TB, prefix string) *corev1.Namespace {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

// startOnce sets the suite's client (and configuration) once, from the
// control plane.
var (
	startOnce sync.Once
	startErr  error
)

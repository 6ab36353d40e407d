// Package chart_test tests the Helm chart in charts/tokenator: helm lint, helm
// template with several value sets, checks of the rendered objects against the
// generated manifests (CRDs, RBAC) and the manager's flags, and server-side apply
// (dry run) of everything rendered to a real kube-apiserver (envtest), where the
// pod template must also pass the restricted Pod Security Standard; and helm
// install, upgrade and uninstall against that API server.
//
// It needs HELM (the helm binary, built by hack/build-helm.sh into bin/helm) and
// KUBEBUILDER_ASSETS (kube-apiserver and etcd, built by hack/build-control-plane.sh).
package chart_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/tokenator-dev/tokenator/internal/testutil"
)

var (
	// k8s is a client of the test API server, with restConfig; kubeConfig
	// is a kubeconfig of it, for helm.
	k8s        client.Client
	restConfig *rest.Config
	kubeConfig []byte
	// helmBin is the helm binary named by $HELM.
	helmBin string
)

// Paths, relative to this package's directory (where go test runs).
var (
	repoRoot = filepath.Join("..", "..")
	chartDir = filepath.Join(repoRoot, "charts", "tokenator")
)

func TestMain(m *testing.M) {
	var missing []string
	if os.Getenv("HELM") == "" {
		missing = append(missing, "HELM is not set: run the tests with `make test`, or build helm with hack/build-helm.sh and set HELM=$PWD/bin/helm")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		missing = append(missing, "KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or build the control plane with hack/build-control-plane.sh and set KUBEBUILDER_ASSETS=$PWD/bin/k8s")
	}
	if len(missing) > 0 {
		fmt.Fprintln(os.Stderr, strings.Join(missing, "\n"))
		os.Exit(1)
	}
	var err error
	if helmBin, err = exec.LookPath(os.Getenv("HELM")); err != nil {
		fmt.Fprintf(os.Stderr, "HELM=%s is not an executable (give an absolute path): %v\n", os.Getenv("HELM"), err)
		os.Exit(1)
	}
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))

	// The Prometheus Operator's CRDs (testdata/crds), so that the chart's
	// ServiceMonitor, PodMonitor and PrometheusRule are checked against their
	// real schemas.
	// The chart's own CRDs are applied by the tests, like every rendered object.
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("testdata", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	restConfig, err = env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the test control plane: %v\n", err)
		os.Exit(1)
	}
	code := 1
	kubeConfig = env.KubeConfig
	if k8s, err = client.New(restConfig, client.Options{}); err != nil {
		fmt.Fprintf(os.Stderr, "creating a client: %v\n", err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the test control plane: %v\n", err)
	}
	os.Exit(code)
}

// helm runs the helm binary with a private home, and returns its standard
// output. Its kubeconfig names no cluster: see helmCluster.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runHelm(t, t.TempDir(), args...)
}

// helmCluster runs helm as helm does, against the test API server.
func helmCluster(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "kubeconfig"), kubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return runHelm(t, home, args...)
}

func runHelm(t *testing.T, home string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// valuesFile writes values into a file for helm --values.
func valuesFile(t *testing.T, values map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	// Not in t.TempDir(): helm splits --values at commas, which test names hold.
	dir, err := os.MkdirTemp("", "chart-values-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	f := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// templateArgs are the arguments of helm template for release "tk".
func templateArgs(t *testing.T, namespace string, values map[string]any) []string {
	args := []string{"template", "tk", chartDir, "--namespace", namespace}
	if values != nil {
		args = append(args, "--values", valuesFile(t, values))
	}
	return args
}

// render runs helm template and decodes every object it prints.
func render(t *testing.T, namespace string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, templateArgs(t, namespace, values)...)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, []byte(out))
}

// decodeAll decodes a stream of YAML documents, skipping empty ones.
func decodeAll(t *testing.T, b []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := testutil.DecodeObjects(b)
	if err != nil {
		t.Fatalf("decoding YAML: %v", err)
	}
	return objs
}

// readFile reads a file given relative to the repository root.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ensureNamespace creates a namespace for real, once.
func ensureNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// applyDryRun applies an object with server-side apply in dry-run mode: the API
// server decodes, defaults, validates (schema, unknown fields, admission) and
// stores nothing.
func applyDryRun(ctx context.Context, u *unstructured.Unstructured) error {
	return k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
		client.FieldOwner("chart-test"), client.ForceOwnership, client.DryRunAll)
}

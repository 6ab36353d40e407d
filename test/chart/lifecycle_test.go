package chart_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// The release of TestChartHelmLifecycle: the names of docs/installation.md.
const (
	lifecycleRelease   = "tokenator"
	lifecycleNamespace = "tokenator-system"
)

// TestChartHelmLifecycle runs helm against the test API server: the upgrade
// from a release whose CRDs Helm did not create (the chart's crds/ before),
// which Helm refuses until the commands of docs/installation.md adopt them;
// an upgrade that changes a CRD; an uninstall that keeps the CRDs and the
// OAuthClients; the first install that cannot create ClusterOAuthProviders
// with their CRDs, and an uninstall with crds.keep=false that deletes them.
// Not parallel: it creates and deletes the CRDs, which other tests apply.
func TestChartHelmLifecycle(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	release := func(verb string, chart string, args ...string) (string, error) {
		return helmCluster(t, append([]string{verb, lifecycleRelease, chart, "--namespace", lifecycleNamespace}, args...)...)
	}

	// Before: the CRDs as Helm installed them from crds/, with no ownership
	// metadata, an OAuthClient, and a release of the chart without the CRDs'
	// template.
	crds := decodeAll(t, readFile(t, "config/crd/bases/tokenator.dev_oauthclients.yaml"))
	crds = append(crds, decodeAll(t, readFile(t, "config/crd/bases/tokenator.dev_clusteroauthproviders.yaml"))...)
	for _, crd := range crds {
		// As the previous upgrade instructions applied them.
		g.Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(crd.DeepCopy()), client.FieldOwner("kubectl"))).To(Succeed(), crd.GetName())
	}
	waitEstablished(t, crds)
	ensureNamespace(t, "lifecycle-app", nil)
	oc := decodeAll(t, []byte(`
apiVersion: tokenator.dev/v1alpha1
kind: OAuthClient
metadata: {name: kept, namespace: lifecycle-app}
spec: {tokenURL: "https://idp.example.com/token", credentialsSecretRef: {name: creds}, suspend: true}
`))[0]
	g.Expect(k8s.Create(ctx, oc)).To(Succeed())
	_, err := release("install", copyChart(t, func(dir string) error { return os.Remove(filepath.Join(dir, "templates", "crds.yaml")) }),
		"--create-namespace")
	g.Expect(err).NotTo(HaveOccurred())

	// helm upgrade refuses CRDs it did not create ...
	_, err = release("upgrade", chartDir)
	g.Expect(err).To(MatchError(And(ContainSubstring("CustomResourceDefinition"), ContainSubstring("invalid ownership metadata"),
		ContainSubstring("meta.helm.sh/release-name"))))
	// ... until docs/installation.md's commands give them the release's.
	adoptCRDsAsDocumented(t, g, crds)
	_, err = release("upgrade", chartDir)
	g.Expect(err).NotTo(HaveOccurred())
	for _, crd := range crds {
		var got apiextensionsv1.CustomResourceDefinition
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: crd.GetName()}, &got)).To(Succeed())
		g.Expect(got.Annotations).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
		g.Expect(got.Labels).To(HaveKeyWithValue("app.kubernetes.io/instance", lifecycleRelease))
	}
	checkKept(t, g, oc)

	// helm upgrade carries a change of a CRD. The first change conflicts
	// with kubectl, which applied the CRDs before: docs/installation.md says
	// to run that upgrade with --force-conflicts; the next ones need none.
	_, err = release("upgrade", copyChart(t, addPrinterColumn("Lifecycle")))
	g.Expect(err).To(MatchError(ContainSubstring(`conflict with "kubectl"`)))
	g.Expect(string(readFile(t, "docs/installation.md"))).To(And(ContainSubstring(`conflict with "kubectl"`), ContainSubstring("--force-conflicts")))
	_, err = release("upgrade", copyChart(t, addPrinterColumn("Lifecycle")), "--force-conflicts")
	g.Expect(err).NotTo(HaveOccurred())
	checkPrinterColumn(t, g, "Lifecycle")
	_, err = release("upgrade", copyChart(t, addPrinterColumn("Lifecycle2")))
	g.Expect(err).NotTo(HaveOccurred())
	checkPrinterColumn(t, g, "Lifecycle2")

	// helm uninstall keeps the CRDs (crds.keep), and so the OAuthClients.
	_, err = helmCluster(t, "uninstall", lifecycleRelease, "--namespace", lifecycleNamespace)
	g.Expect(err).NotTo(HaveOccurred())
	checkKept(t, g, oc)

	// A first install cannot create ClusterOAuthProviders along with their
	// CRD, as values.yaml says; it creates nothing. Then, in an upgrade, it can.
	deleteCRDs(t, crds)
	provider := []string{"--values", valuesFile(t, map[string]any{"clusterOAuthProviders": []any{map[string]any{"name": "lifecycle",
		"spec": map[string]any{"tokenURL": "https://idp.example.com/token", "allowedNamespaces": map[string]any{}}}}})}
	_, err = release("install", chartDir, provider...)
	g.Expect(err).To(MatchError(And(ContainSubstring(`no matches for kind "ClusterOAuthProvider"`), ContainSubstring("ensure CRDs are installed first"))))
	for _, crd := range crds {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: crd.GetName()}, &apiextensionsv1.CustomResourceDefinition{}))).To(BeTrue())
	}
	_, err = release("install", chartDir)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = release("upgrade", chartDir, provider...)
	g.Expect(err).NotTo(HaveOccurred())
	p := &unstructured.Unstructured{}
	p.SetAPIVersion("tokenator.dev/v1alpha1")
	p.SetKind("ClusterOAuthProvider")
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "lifecycle"}, p)).To(Succeed())

	// With crds.keep=false, helm uninstall deletes the CRDs.
	_, err = release("upgrade", chartDir, "--set", "crds.keep=false")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = helmCluster(t, "uninstall", lifecycleRelease, "--namespace", lifecycleNamespace)
	g.Expect(err).NotTo(HaveOccurred())
	waitDeleted(t, crds)
}

// adoptCRDsAsDocumented runs the `kubectl label crd` and `kubectl annotate
// crd` commands of docs/installation.md, as patches: they must name every CRD.
func adoptCRDsAsDocumented(t *testing.T, g Gomega, crds []*unstructured.Unstructured) {
	t.Helper()
	var commands []string
	for _, block := range testutil.FencedBlocks(t, string(readFile(t, "docs/installation.md")), "sh") {
		for _, cmd := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
			if strings.HasPrefix(cmd, "kubectl label crd ") || strings.HasPrefix(cmd, "kubectl annotate crd ") {
				commands = append(commands, cmd)
			}
		}
	}
	g.Expect(commands).To(HaveLen(2), "docs/installation.md labels and annotates the CRDs")
	for _, cmd := range commands {
		fields := strings.Fields(cmd)
		field := map[string]string{"label": "labels", "annotate": "annotations"}[fields[1]]
		var names []string
		metadata := map[string]any{}
		for _, f := range fields[3:] {
			if k, v, ok := strings.Cut(f, "="); ok && !strings.HasPrefix(f, "--") {
				metadata[k] = v
			} else if !strings.HasPrefix(f, "--") {
				names = append(names, f)
			}
		}
		for _, crd := range crds {
			g.Expect(names).To(ContainElement(crd.GetName()), "%s", cmd)
		}
		g.Expect(metadata).NotTo(BeEmpty(), "%s", cmd)
		patch, err := yaml.Marshal(map[string]any{"metadata": map[string]any{field: metadata}})
		g.Expect(err).NotTo(HaveOccurred())
		for _, name := range names {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			crd.Name = name
			g.Expect(k8s.Patch(context.Background(), crd, client.RawPatch(types.MergePatchType, mustJSON(t, patch)))).To(Succeed(), "%s", cmd)
		}
	}
}

// mustJSON converts YAML to JSON.
func mustJSON(t *testing.T, y []byte) []byte {
	t.Helper()
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// copyChart copies the chart into a temporary directory, changes the copy
// with change, and returns its path.
func copyChart(t *testing.T, change func(dir string) error) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tokenator")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	if err := change(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// addPrinterColumn adds a printer column to the OAuthClient CRD of a chart
// copy, as a new version of the chart would change it.
func addPrinterColumn(name string) func(dir string) error {
	return func(dir string) error {
		file := filepath.Join(dir, "files", "crds", "tokenator.dev_oauthclients.yaml")
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		crd := map[string]any{}
		if err := yaml.Unmarshal(b, &crd); err != nil {
			return err
		}
		versions, _, _ := unstructured.NestedSlice(crd, "spec", "versions")
		v := versions[0].(map[string]any)
		v["additionalPrinterColumns"] = append(v["additionalPrinterColumns"].([]any),
			map[string]any{"name": name, "type": "string", "jsonPath": ".metadata.name", "priority": int64(1)})
		if err := unstructured.SetNestedSlice(crd, versions, "spec", "versions"); err != nil {
			return err
		}
		if b, err = yaml.Marshal(crd); err != nil {
			return err
		}
		return os.WriteFile(file, b, 0o600)
	}
}

// checkPrinterColumn checks that the OAuthClient CRD has a printer column.
func checkPrinterColumn(t *testing.T, g Gomega, name string) {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	g.ExpectWithOffset(1, k8s.Get(context.Background(), client.ObjectKey{Name: "oauthclients.tokenator.dev"}, &crd)).To(Succeed())
	g.ExpectWithOffset(1, crd.Spec.Versions[0].AdditionalPrinterColumns).To(ContainElement(HaveField("Name", name)))
}

// checkKept checks that an object still exists, the same one (its UID).
func checkKept(t *testing.T, g Gomega, u *unstructured.Unstructured) {
	t.Helper()
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(u.GroupVersionKind())
	g.ExpectWithOffset(1, k8s.Get(context.Background(), client.ObjectKeyFromObject(u), got)).To(Succeed())
	g.ExpectWithOffset(1, got.GetUID()).To(Equal(u.GetUID()))
}

// waitEstablished waits until the CRDs are served.
func waitEstablished(t *testing.T, crds []*unstructured.Unstructured) {
	t.Helper()
	for _, crd := range crds {
		NewWithT(t).Eventually(func(g Gomega) {
			var got apiextensionsv1.CustomResourceDefinition
			g.Expect(k8s.Get(context.Background(), client.ObjectKey{Name: crd.GetName()}, &got)).To(Succeed())
			g.Expect(got.Status.Conditions).To(ContainElement(And(
				HaveField("Type", apiextensionsv1.Established), HaveField("Status", apiextensionsv1.ConditionTrue))))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	}
}

// deleteCRDs deletes the CRDs and waits until they are gone.
func deleteCRDs(t *testing.T, crds []*unstructured.Unstructured) {
	t.Helper()
	for _, crd := range crds {
		if err := k8s.Delete(context.Background(), crd.DeepCopy()); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	waitDeleted(t, crds)
}

// waitDeleted waits until the CRDs are gone.
func waitDeleted(t *testing.T, crds []*unstructured.Unstructured) {
	t.Helper()
	for _, crd := range crds {
		NewWithT(t).Eventually(func() bool {
			err := k8s.Get(context.Background(), client.ObjectKey{Name: crd.GetName()}, &apiextensionsv1.CustomResourceDefinition{})
			return apierrors.IsNotFound(err)
		}).WithTimeout(60*time.Second).Should(BeTrue(), "%s is deleted", crd.GetName())
	}
}

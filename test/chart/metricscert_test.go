package chart_test

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// The example of docs/operations.md that gives the metrics endpoint a
// cert-manager certificate works: rendered for release tokenator in
// tokenator-system, the manager reads the certificate from the directory where
// the Certificate's Secret is mounted, the ServiceMonitor checks it with the
// Secret's CA and a name of the certificate that is the metrics Service's, and
// the API server accepts every object. values.yaml shows the same mount.
func TestChartMetricsCertExample(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	const ns = "tokenator-system"
	var values map[string]any
	var cert *unstructured.Unstructured
	for _, b := range mustBlocks(t, "docs/operations.md") {
		switch {
		case b.Lang == "yaml" && strings.Contains(b.Text, "--metrics-cert-dir"):
			g.Expect(yaml.Unmarshal([]byte(b.Text), &values)).To(Succeed())
		case b.Lang == "yaml" && strings.Contains(b.Text, "kind: Certificate"):
			cert = decodeAll(t, []byte(b.Text))[0]
		}
	}
	g.Expect(values).NotTo(BeNil(), "docs/operations.md has the Helm values of the metrics certificate")
	g.Expect(cert).NotTo(BeNil(), "docs/operations.md has the cert-manager Certificate")
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	g.Expect(cert.GetNamespace()).To(Equal(ns))

	values["fullnameOverride"] = "tokenator" // release tokenator
	r := rendered(render(t, ns, values))
	d := checkDeployment(g, r, managerFlags(t))
	c := d.Spec.Template.Spec.Containers[0]
	dir := flagValue(c.Args, "metrics-cert-dir")
	g.Expect(dir).NotTo(BeEmpty())
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == dir {
			mount = &c.VolumeMounts[i]
		}
	}
	g.Expect(mount).NotTo(BeNil(), "a volume is mounted at --metrics-cert-dir %s", dir)
	g.Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(And(HaveField("Name", mount.Name),
		HaveField("Secret.SecretName", secretName))), "the mounted volume is the Certificate's Secret")

	var svc corev1.Service
	typed(g, r.one(g, "Service"), &svc)
	sm := r.one(g, "ServiceMonitor")
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	tls := endpoints[0].(map[string]any)["tlsConfig"].(map[string]any)
	g.Expect(tls).NotTo(HaveKeyWithValue("insecureSkipVerify", true), "the certificate is checked")
	g.Expect(tls).To(HaveKeyWithValue("serverName", svc.Name+"."+ns+".svc"))
	g.Expect(dnsNames).To(ContainElement(tls["serverName"]), "the certificate names the server the scrape checks")
	caName, _, _ := unstructured.NestedString(tls, "ca", "secret", "name")
	g.Expect(caName).To(Equal(secretName))

	ensureNamespace(t, ns, nil)
	for _, u := range r {
		g.Expect(applyDryRun(context.Background(), u)).To(Succeed(), "%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	}

	// values.yaml's comment shows the same mount and flag.
	chartValues := string(readFile(t, "charts/tokenator/values.yaml"))
	g.Expect(chartValues).To(And(ContainSubstring("mountPath: "+dir), ContainSubstring("--metrics-cert-dir="+dir),
		ContainSubstring("secretName: "+secretName)))
}

// mustBlocks returns the fenced blocks of a Markdown page of the repository.
func mustBlocks(t *testing.T, page string) []testutil.Block {
	t.Helper()
	blocks, err := testutil.MarkdownBlocks(string(readFile(t, page)))
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	return blocks
}

package chart_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// rendered is what helm template printed for one value set.
type rendered []*unstructured.Unstructured

func (r rendered) kinds() map[string]int {
	m := map[string]int{}
	for _, u := range r {
		m[u.GetKind()]++
	}
	return m
}

func (r rendered) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range r {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// one returns the only object of a kind.
func (r rendered) one(g Gomega, kind string) *unstructured.Unstructured {
	objs := r.all(kind)
	g.Expect(objs).To(HaveLen(1), "one %s", kind)
	return objs[0]
}

// find returns the object of a kind, namespace and name, or nil.
func (r rendered) find(kind, namespace, name string) *unstructured.Unstructured {
	for _, u := range r {
		if u.GetKind() == kind && u.GetNamespace() == namespace && u.GetName() == name {
			return u
		}
	}
	return nil
}

// typed converts an object, failing on any field the Go type does not know.
func typed(g Gomega, u *unstructured.Unstructured, out any) {
	g.ExpectWithOffset(1, runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true)).
		To(Succeed(), "%s %s", u.GetKind(), u.GetName())
}

// generatedRules are the rules of config/rbac/role.yaml, which controller-gen
// generates from the +kubebuilder:rbac markers.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	objs := decodeAll(t, readFile(t, "config/rbac/role.yaml"))
	if len(objs) != 1 || objs[0].GetKind() != "ClusterRole" {
		t.Fatalf("config/rbac/role.yaml: want one ClusterRole, got %d objects", len(objs))
	}
	var role rbacv1.ClusterRole
	typed(NewWithT(t), objs[0], &role)
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

// managerFlags are the flags cmd/main.go defines (flag.XxxVar and flag.Xxx
// calls) and the zap flags of controller-runtime it binds.
func managerFlags(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot, "cmd", "main.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "flag" {
			return true
		}
		i := 0
		if strings.HasSuffix(sel.Sel.Name, "Var") {
			i = 1
		}
		if len(call.Args) > i {
			if lit, ok := call.Args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if name, err := strconv.Unquote(lit.Value); err == nil {
					flags[name] = true
				}
			}
		}
		return true
	})
	for _, name := range []string{"metrics-bind-address", "health-probe-bind-address", "leader-elect", "namespaces"} {
		if !flags[name] {
			t.Fatalf("found no --%s in cmd/main.go (flags found: %v): update managerFlags to how cmd/main.go defines its flags", name, flags)
		}
	}
	fs := flag.NewFlagSet("zap", flag.ContinueOnError)
	(&zap.Options{}).BindFlags(fs)
	fs.VisitAll(func(f *flag.Flag) { flags[f.Name] = true })
	return flags
}

// chartCase is one value set of the chart.
type chartCase struct {
	name      string
	namespace string // the release namespace
	values    map[string]any
	// kinds counts the rendered objects by kind.
	kinds map[string]int
	check func(t *testing.T, g Gomega, r rendered, d *appsv1.Deployment)
}

const (
	// fullname is the objects' name prefix for release "tk".
	fullname = "tk-tokenator"
	digest   = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

var baseKinds = map[string]int{
	"CustomResourceDefinition": 2, "ServiceAccount": 1, "ClusterRole": 5, "ClusterRoleBinding": 2,
	"Role": 1, "RoleBinding": 1, "Service": 1, "Deployment": 1,
	"ValidatingAdmissionPolicy": 2, "ValidatingAdmissionPolicyBinding": 2,
}

func withKinds(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range baseKinds {
		out[k] = v
	}
	for k, v := range m {
		if v == 0 {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func chartCases() []chartCase {
	return []chartCase{
		{
			name:      "defaults",
			namespace: "tokenator-system",
			kinds:     baseKinds,
			check: func(t *testing.T, g Gomega, r rendered, d *appsv1.Deployment) {
				c := d.Spec.Template.Spec.Containers[0]
				g.Expect(c.Args).To(Equal([]string{
					"--metrics-bind-address=:8443",
					"--metrics-secure=true",
					"--health-probe-bind-address=:8081",
					"--leader-elect=true",
					"--leader-election-namespace=tokenator-system",
					"--concurrent-reconciles=16",
					"--zap-log-level=info",
					"--zap-encoder=json",
				}))
				g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(1))
				g.Expect(c.Image).To(Equal("ghcr.io/tokenator-dev/tokenator:v0.1.0"))
				g.Expect(c.ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
				g.Expect(c.Resources.Requests).To(HaveKeyWithValue(corev1.ResourceMemory, resource.MustParse("64Mi")))
				g.Expect(c.Resources.Limits).To(HaveKeyWithValue(corev1.ResourceMemory, resource.MustParse("256Mi")))
				g.Expect(d.Spec.Template.Spec.ServiceAccountName).To(Equal(fullname))
				g.Expect(d.Spec.Template.Spec.PriorityClassName).To(BeEmpty())
				g.Expect(d.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "Helm"))
				g.Expect(d.Labels).To(HaveKeyWithValue("helm.sh/chart", "tokenator-0.1.0"))
				g.Expect(d.Labels).To(HaveKeyWithValue("app.kubernetes.io/version", "v0.1.0"))

				var svc corev1.Service
				typed(g, r.one(g, "Service"), &svc)
				g.Expect(svc.Name).To(Equal(fullname + "-metrics"))
				g.Expect(svc.Spec.Ports).To(ConsistOf(HaveField("Port", BeEquivalentTo(8443))))
				checkMetricsAuthRBAC(g, r, "tokenator-system")
				g.Expect(r.find("ClusterRoleBinding", "", fullname+"-manager")).NotTo(BeNil())
				editor := r.find("ClusterRole", "", fullname+"-oauthclient-editor")
				g.Expect(editor).NotTo(BeNil())
				g.Expect(editor.GetLabels()).To(HaveKeyWithValue("rbac.authorization.k8s.io/aggregate-to-edit", "true"))
				g.Expect(r.find("ClusterRole", "", fullname+"-oauthclient-viewer").GetLabels()).
					To(HaveKeyWithValue("rbac.authorization.k8s.io/aggregate-to-view", "true"))
			},
		},
		{
			name:      "two replicas with PDB, ServiceMonitor and PrometheusRule",
			namespace: "tokenator-ha",
			values: map[string]any{
				"replicas":            2,
				"leaderElection":      map[string]any{"enabled": false}, // forced on with 2 replicas
				"podDisruptionBudget": map[string]any{"enabled": true},
				"serviceMonitor":      map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
				"prometheusRule":      map[string]any{"enabled": true},
				"grafanaDashboard":    map[string]any{"enabled": true},
			},
			kinds: withKinds(map[string]int{"PodDisruptionBudget": 1, "ServiceMonitor": 1, "PrometheusRule": 1, "ConfigMap": 1,
				"ServiceAccount": 2, "Secret": 1, "ClusterRoleBinding": 3}),
			check: func(t *testing.T, g Gomega, r rendered, d *appsv1.Deployment) {
				g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(2))
				g.Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElements(
					"--leader-elect=true", "--leader-election-namespace=tokenator-ha"))

				var pdb policyv1.PodDisruptionBudget
				typed(g, r.one(g, "PodDisruptionBudget"), &pdb)
				g.Expect(pdb.Spec.MinAvailable).To(HaveValue(Equal(intstr.FromInt32(1))))
				g.Expect(pdb.Spec.Selector).To(Equal(d.Spec.Selector))

				var svc corev1.Service
				typed(g, r.one(g, "Service"), &svc)
				// The ServiceMonitor selects the metrics Service.
				endpoints := checkMonitor(g, r.one(g, "ServiceMonitor"), svc.Labels, "tokenator-ha", "endpoints")
				g.Expect(endpoints).To(HaveLen(1))
				g.Expect(endpoints[0]).To(And(
					HaveKeyWithValue("port", svc.Spec.Ports[0].Name),
					HaveKeyWithValue("path", "/metrics"),
					HaveKeyWithValue("honorLabels", true),
					// HTTPS with the scraper's ServiceAccount token: the
					// manager authenticates and authorizes the scrape.
					HaveKeyWithValue("scheme", "https"),
					Not(HaveKey("bearerTokenFile")),
					HaveKeyWithValue("tlsConfig", HaveKeyWithValue("insecureSkipVerify", true))))
				g.Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--metrics-secure=true"))
				checkScraper(g, r, endpoints[0].(map[string]any), "tokenator-ha", fullnameOf(r))

				// The chart's rules with the default values are those of config/prometheus.
				plain := decodeAll(t, readFile(t, "config/prometheus/prometheusrule.yaml"))
				g.Expect(plain).To(HaveLen(1))
				g.Expect(plain[0].GetKind()).To(Equal("PrometheusRule"))
				pr := r.one(g, "PrometheusRule")
				g.Expect(pr.Object["spec"]).To(Equal(plain[0].Object["spec"]),
					"charts/tokenator/templates/prometheusrule.yaml renders other rules than config/prometheus/prometheusrule.yaml")
				rules := alertRules(g, pr)
				g.Expect(rules).To(HaveLen(6))
				g.Expect(rules["TokenatorTokenExpiringWithoutRefresh"]).To(And(
					HaveKeyWithValue("expr", And(ContainSubstring("tokenator_token_expiration_timestamp_seconds"),
						ContainSubstring("time() < 300"), ContainSubstring("and on (namespace, name)"),
						ContainSubstring(`tokenator_oauthclient_ready_status{condition="False"`))),
					HaveKeyWithValue("labels", HaveKeyWithValue("severity", "critical"))))
				g.Expect(rules["TokenatorTokenRefreshFailing"]).To(And(
					HaveKeyWithValue("expr", ContainSubstring("(tokenator_oauthclient_failed_attempts) > 3")),
					HaveKeyWithValue("for", "10m")))
				g.Expect(rules["TokenatorOAuthClientNotReady"]).To(And(
					HaveKeyWithValue("expr", ContainSubstring(`tokenator_oauthclient_ready_status{condition="False"`)),
					HaveKeyWithValue("for", "15m")))

				// The Grafana dashboard, for the sidecar, in the release namespace.
				checkDashboard(t, g, r.one(g, "ConfigMap"), "tokenator-ha", map[string]string{"grafana_dashboard": "1"})
			},
		},
		{
			name:      "watched namespaces",
			namespace: "tokenator-ns",
			values:    map[string]any{"watchNamespaces": []string{"team-a", "team-b"}},
			// Roles and RoleBindings: the manager's in team-a, team-b and the
			// cluster resource namespace, the leader election's, the Events of
			// ClusterOAuthProviders in default.
			kinds: withKinds(map[string]int{"ClusterRole": 5, "ClusterRoleBinding": 2, "Role": 5, "RoleBinding": 5}),
			check: func(t *testing.T, g Gomega, r rendered, d *appsv1.Deployment) {
				// TokenReviews and SubjectAccessReviews are cluster-scoped: the
				// metrics endpoint keeps its ClusterRole.
				checkMetricsAuthRBAC(g, r, "tokenator-ns")
				// The cluster resource namespace (the release namespace) is
				// watched too, else no ClusterOAuthProvider is served.
				g.Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--namespaces=team-a,team-b,tokenator-ns"))
				g.Expect(r.find("ClusterRole", "", fullname+"-manager")).To(BeNil(), "no cluster-wide access to Secrets")
				g.Expect(r.find("ClusterRole", "", fullname+"-cluster-scoped")).NotTo(BeNil())
				g.Expect(r.find("Role", "default", fullname+"-cluster-events")).NotTo(BeNil())
				for _, ns := range []string{"team-a", "team-b", "tokenator-ns"} {
					g.Expect(r.find("Role", ns, fullname+"-manager")).NotTo(BeNil(), "Role in %s", ns)
					g.Expect(r.find("RoleBinding", ns, fullname+"-manager")).NotTo(BeNil(), "RoleBinding in %s", ns)
				}
			},
		},
		{
			name:      "custom values",
			namespace: "tokenator-custom",
			values: map[string]any{
				"fullnameOverride":        "tokenator",
				"metrics":                 map[string]any{"secure": false},
				"serviceMonitor":          map[string]any{"enabled": true},
				"image":                   map[string]any{"repository": "registry.example.com/tokenator", "tag": "v0.1.1", "pullPolicy": "Always"},
				"imagePullSecrets":        []any{map[string]any{"name": "regcred"}},
				"allowedTokenHosts":       []string{"*.example.com", "accounts.world.luccasoftware.com"},
				"deniedTokenNetworks":     []string{"10.0.0.0/8", "169.254.0.0/16"},
				"kubeAPI":                 map[string]any{"qps": 20.5, "burst": 40},
				"concurrentReconciles":    4,
				"maxRequestsPerHost":      2,
				"maxRequestsPerNamespace": 3,
				"tokenRequestTimeout":     "10s",
				"minRequestInterval":      "2s",
				"retryBaseDelay":          "1s",
				"retryMaxDelay":           "1m",
				"logLevel":                "debug",
				"logEncoding":             "console",
				"extraArgs":               []string{"--enable-http2"},
				"env":                     []any{map[string]any{"name": "GOMEMLIMIT", "value": "200MiB"}},
				"serviceAccount":          map[string]any{"name": "tokenator-manager", "annotations": map[string]any{"example.com/role": "x"}},
				"rbac":                    map[string]any{"aggregateToDefaultRoles": false},
				"podAnnotations":          map[string]any{"example.com/scrape": "true"},
				"podLabels":               map[string]any{"team": "platform"},
				"priorityClassName":       "tokenator-critical",
				"nodeSelector":            map[string]any{"kubernetes.io/os": "linux"},
				"tolerations":             []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}},
				"affinity": map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
					"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{map[string]any{
						"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64", "arm64"}}}}}}}},
				"topologySpreadConstraints": []any{map[string]any{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
					"whenUnsatisfiable": "ScheduleAnyway", "labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "tokenator"}}}},
				"resources": map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "100Mi"}, "limits": map[string]any{"memory": "300Mi"}},
				"prometheusRule": map[string]any{"enabled": true, "expiringSeconds": 600, "failedAttemptsThreshold": 5,
					"failedAttemptsFor": "5m", "notReadyFor": "30m", "providerNotReadyFor": "20m", "managerAbsentFor": "5m",
					"runbookBaseURL": "https://wiki.example.com/tokenator", "labels": map[string]any{"role": "alerts"},
					"additionalAlertLabels": map[string]any{"team": "platform"}},
			},
			kinds: withKinds(map[string]int{"ClusterRole": 1, "ClusterRoleBinding": 1, "PrometheusRule": 1, "ServiceMonitor": 1}),
			check: func(t *testing.T, g Gomega, r rendered, d *appsv1.Deployment) {
				pod := d.Spec.Template.Spec
				c := pod.Containers[0]
				g.Expect(c.Args).To(Equal([]string{
					"--metrics-bind-address=:8443",
					"--metrics-secure=false",
					"--health-probe-bind-address=:8081",
					"--leader-elect=true",
					"--leader-election-namespace=tokenator-custom",
					"--kube-api-qps=20.5",
					"--kube-api-burst=40",
					"--concurrent-reconciles=4",
					"--max-requests-per-host=2",
					"--max-requests-per-namespace=3",
					"--allowed-token-hosts=*.example.com,accounts.world.luccasoftware.com",
					"--denied-token-networks=10.0.0.0/8,169.254.0.0/16",
					"--token-request-timeout=10s",
					"--min-request-interval=2s",
					"--retry-base-delay=1s",
					"--retry-max-delay=1m",
					"--zap-log-level=debug",
					"--zap-encoder=console",
					"--enable-http2",
				}))
				g.Expect(d.Name).To(Equal("tokenator"))
				g.Expect(c.Image).To(Equal("registry.example.com/tokenator:v0.1.1"))
				g.Expect(c.ImagePullPolicy).To(Equal(corev1.PullAlways))
				g.Expect(c.Env).To(ConsistOf(corev1.EnvVar{Name: "GOMEMLIMIT", Value: "200MiB"}))
				g.Expect(c.Resources.Requests).To(HaveKeyWithValue(corev1.ResourceCPU, resource.MustParse("50m")))
				g.Expect(pod.ImagePullSecrets).To(ConsistOf(corev1.LocalObjectReference{Name: "regcred"}))
				g.Expect(pod.ServiceAccountName).To(Equal("tokenator-manager"))
				g.Expect(r.one(g, "ServiceAccount").GetAnnotations()).To(HaveKeyWithValue("example.com/role", "x"))
				g.Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue("example.com/scrape", "true"))
				g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue("team", "platform"))
				g.Expect(d.Spec.Selector.MatchLabels).NotTo(HaveKey("team"), "pod labels stay out of the immutable selector")
				g.Expect(pod.PriorityClassName).To(Equal("tokenator-critical"))
				g.Expect(pod.NodeSelector).To(Equal(map[string]string{"kubernetes.io/os": "linux"}))
				g.Expect(pod.Tolerations).To(HaveLen(1))
				g.Expect(pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms).To(HaveLen(1))
				g.Expect(pod.TopologySpreadConstraints).To(HaveLen(1))
				g.Expect(r.find("ClusterRole", "", "tokenator-manager")).NotTo(BeNil())
				g.Expect(r.find("ClusterRole", "", "tokenator-oauthclient-editor")).To(BeNil())
				g.Expect(r.find("ClusterRole", "", "tokenator-metrics-auth")).To(BeNil(), "plain HTTP metrics review no tokens")
				endpoints, _, _ := unstructured.NestedSlice(r.one(g, "ServiceMonitor").Object, "spec", "endpoints")
				g.Expect(endpoints).To(ConsistOf(And(HaveKeyWithValue("scheme", "http"), Not(HaveKey("authorization")), Not(HaveKey("tlsConfig")))))
				g.Expect(r.find("Secret", "tokenator-custom", "tokenator-metrics-scraper-token")).To(BeNil(), "plain HTTP needs no token")

				pr := r.one(g, "PrometheusRule")
				g.Expect(pr.GetLabels()).To(HaveKeyWithValue("role", "alerts"))
				rules := alertRules(g, pr)
				g.Expect(rules["TokenatorTokenExpiringWithoutRefresh"]).To(HaveKeyWithValue("expr", ContainSubstring("time() < 600")))
				g.Expect(rules["TokenatorTokenRefreshFailing"]).To(And(
					HaveKeyWithValue("expr", HaveSuffix("> 5")), HaveKeyWithValue("for", "5m")))
				g.Expect(rules["TokenatorOAuthClientNotReady"]).To(HaveKeyWithValue("for", "30m"))
				g.Expect(rules["TokenatorClusterOAuthProviderNotReady"]).To(HaveKeyWithValue("for", "20m"))
				g.Expect(rules["TokenatorManagerAbsent"]).To(HaveKeyWithValue("for", "5m"))
				for name, rule := range rules {
					g.Expect(rule).To(HaveKeyWithValue("labels", HaveKeyWithValue("team", "platform")), name)
					g.Expect(rule).To(HaveKeyWithValue("annotations", HaveKeyWithValue("runbook_url",
						"https://wiki.example.com/tokenator#"+strings.ToLower(name))), name)
				}
			},
		},
		{
			name:      "metrics off, image digest, PDB with one replica",
			namespace: "tokenator-nometrics",
			values: map[string]any{
				"metrics":             map[string]any{"enabled": false},
				"image":               map[string]any{"digest": digest},
				"podDisruptionBudget": map[string]any{"enabled": true}, // ignored: it would block drains
				"leaderElection":      map[string]any{"enabled": false},
			},
			kinds: withKinds(map[string]int{"Service": 0, "ClusterRole": 3, "ClusterRoleBinding": 1}),
			check: func(t *testing.T, g Gomega, r rendered, d *appsv1.Deployment) {
				c := d.Spec.Template.Spec.Containers[0]
				g.Expect(c.Args).To(ContainElements("--metrics-bind-address=0", "--leader-elect=false"))
				g.Expect(strings.Join(c.Args, " ")).NotTo(ContainSubstring("--leader-election-namespace"))
				g.Expect(c.Ports).To(ConsistOf(HaveField("Name", "health")))
				g.Expect(c.Image).To(Equal("ghcr.io/tokenator-dev/tokenator@" + digest))
			},
		},
		{
			name:      "day two: PodMonitor, common labels, strategy, volumes, CRDs deleted on uninstall",
			namespace: "tokenator-daytwo",
			values: map[string]any{
				"crds":              map[string]any{"keep": false},
				"commonLabels":      map[string]any{"team": "platform", "cost-center": "42"},
				"podLabels":         map[string]any{"sidecar.istio.io/inject": "false"},
				"strategy":          map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": 1, "maxUnavailable": 0}},
				"podMonitor":        map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}, "interval": "1m"},
				"extraVolumes":      []any{map[string]any{"name": "scratch", "emptyDir": map[string]any{"sizeLimit": "16Mi"}}},
				"extraVolumeMounts": []any{map[string]any{"name": "scratch", "mountPath": "/scratch"}},
			},
			kinds: withKinds(map[string]int{"PodMonitor": 1, "ServiceAccount": 2, "Secret": 1, "ClusterRoleBinding": 3}),
			check: func(t *testing.T, g Gomega, r rendered, d *appsv1.Deployment) {
				for _, crd := range r.all("CustomResourceDefinition") {
					g.Expect(crd.GetAnnotations()).NotTo(HaveKey("helm.sh/resource-policy"), "crds.keep=false: helm uninstall deletes %s", crd.GetName())
				}
				g.Expect(d.Spec.Strategy.Type).To(Equal(appsv1.RollingUpdateDeploymentStrategyType))
				g.Expect(d.Spec.Strategy.RollingUpdate.MaxSurge).To(HaveValue(Equal(intstr.FromInt32(1))))
				g.Expect(d.Spec.Strategy.RollingUpdate.MaxUnavailable).To(HaveValue(Equal(intstr.FromInt32(0))))
				pod := d.Spec.Template
				g.Expect(pod.Labels).To(And(HaveKeyWithValue("team", "platform"), HaveKeyWithValue("sidecar.istio.io/inject", "false")))
				g.Expect(d.Spec.Selector.MatchLabels).NotTo(HaveKey("team"), "common labels stay out of the immutable selector")
				g.Expect(pod.Spec.Volumes).To(ConsistOf(HaveField("Name", "scratch")))
				g.Expect(pod.Spec.Containers[0].VolumeMounts).To(ConsistOf(corev1.VolumeMount{Name: "scratch", MountPath: "/scratch"}))

				// The PodMonitor selects the manager pods and scrapes their
				// metrics port, as the ServiceMonitor does the Service's.
				endpoints := checkMonitor(g, r.one(g, "PodMonitor"), pod.Labels, "tokenator-daytwo", "podMetricsEndpoints")
				g.Expect(endpoints).To(ConsistOf(And(
					HaveKeyWithValue("port", "metrics"), HaveKeyWithValue("path", "/metrics"), HaveKeyWithValue("interval", "1m"),
					HaveKeyWithValue("honorLabels", true), HaveKeyWithValue("scheme", "https"))))
				checkScraper(g, r, endpoints[0].(map[string]any), "tokenator-daytwo", fullnameOf(r))
				g.Expect(r.all("ServiceMonitor")).To(BeEmpty())
			},
		},
		{
			name:      "CRDs applied apart",
			namespace: "tokenator-nocrds",
			values:    map[string]any{"crds": map[string]any{"enabled": false}},
			kinds:     withKinds(map[string]int{"CustomResourceDefinition": 0}),
		},
	}
}

// checkMonitor checks a ServiceMonitor or PodMonitor: it carries the label
// release=kube-prometheus-stack of its values, and selects the objects of
// namespace that have labels (the metrics Service, the manager pods). It
// returns the monitor's endpoints, under field.
func checkMonitor(g Gomega, m *unstructured.Unstructured, labels map[string]string, namespace, field string) []any {
	g.ExpectWithOffset(1, m.GetLabels()).To(HaveKeyWithValue("release", "kube-prometheus-stack"))
	sel, _, _ := unstructured.NestedStringMap(m.Object, "spec", "selector", "matchLabels")
	g.ExpectWithOffset(1, sel).NotTo(BeEmpty())
	for k, v := range sel {
		g.ExpectWithOffset(1, labels).To(HaveKeyWithValue(k, v), "the %s selects its targets", m.GetKind())
	}
	nss, _, _ := unstructured.NestedStringSlice(m.Object, "spec", "namespaceSelector", "matchNames")
	g.ExpectWithOffset(1, nss).To(Equal([]string{namespace}))
	endpoints, _, _ := unstructured.NestedSlice(m.Object, "spec", field)
	return endpoints
}

// checkScraper checks the identity a ServiceMonitor's or PodMonitor's
// endpoint scrapes the HTTPS metrics with: the key "token" of a Secret the
// cluster fills with the token of a ServiceAccount (type
// kubernetes.io/service-account-token), in the release namespace, which a
// ClusterRoleBinding <fullname>-metrics-scraper lets get /metrics through the
// <fullname>-metrics-reader ClusterRole.
func checkScraper(g Gomega, r rendered, endpoint map[string]any, namespace, fullname string) {
	g.ExpectWithOffset(1, endpoint).To(HaveKeyWithValue("authorization", HaveKeyWithValue("type", "Bearer")))
	name, _, _ := unstructured.NestedString(endpoint, "authorization", "credentials", "name")
	key, _, _ := unstructured.NestedString(endpoint, "authorization", "credentials", "key")
	g.ExpectWithOffset(1, key).To(Equal("token"))
	var secret corev1.Secret
	u := r.find("Secret", namespace, name)
	g.ExpectWithOffset(1, u).NotTo(BeNil(), "the scraper's token Secret %s/%s", namespace, name)
	typed(g, u, &secret)
	g.ExpectWithOffset(1, secret.Type).To(Equal(corev1.SecretTypeServiceAccountToken))
	g.ExpectWithOffset(1, secret.Data).To(BeEmpty(), "the cluster fills the token in")
	sa := secret.Annotations[corev1.ServiceAccountNameKey]
	g.ExpectWithOffset(1, r.find("ServiceAccount", namespace, sa)).NotTo(BeNil(), "the scraper's ServiceAccount %s", sa)
	var b rbacv1.ClusterRoleBinding
	u = r.find("ClusterRoleBinding", "", fullname+"-metrics-scraper")
	g.ExpectWithOffset(1, u).NotTo(BeNil())
	typed(g, u, &b)
	g.ExpectWithOffset(1, b.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: fullname + "-metrics-reader"}))
	g.ExpectWithOffset(1, b.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: sa, Namespace: namespace}))
}

// alertRules returns the rules of a PrometheusRule by alert name.
func alertRules(g Gomega, pr *unstructured.Unstructured) map[string]map[string]any {
	groups, _, err := unstructured.NestedSlice(pr.Object, "spec", "groups")
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	rules := map[string]map[string]any{}
	for _, group := range groups {
		rs, _, _ := unstructured.NestedSlice(group.(map[string]any), "rules")
		for _, r := range rs {
			rule := r.(map[string]any)
			rules[rule["alert"].(string)] = rule
		}
	}
	return rules
}

// TestChartRendersAndApplies renders the chart with each value set, checks the
// objects, and applies all of them to the API server (server-side apply, dry
// run), the ServiceMonitor and PrometheusRule against the Prometheus Operator's
// CRDs (testdata/crds).
func TestChartRendersAndApplies(t *testing.T) {
	t.Parallel()
	wantRules := generatedRules(t)
	flags := managerFlags(t)
	for _, tc := range chartCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			r := rendered(render(t, tc.namespace, tc.values))
			g.Expect(r.kinds()).To(Equal(tc.kinds))
			watched, _ := tc.values["watchNamespaces"].([]string)
			roleNamespaces := []string{tc.namespace}
			if len(watched) > 0 {
				// The Events of ClusterOAuthProviders are in default.
				roleNamespaces = append(append(roleNamespaces, watched...), "default")
			}
			common, _ := tc.values["commonLabels"].(map[string]any)

			// Namespaced objects are in the release namespace, or for the
			// manager's Roles in the watched namespaces. Every object has the
			// release's labels and commonLabels.
			for _, u := range r {
				switch u.GetKind() {
				case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
					g.Expect(u.GetNamespace()).To(BeEmpty(), "%s %s", u.GetKind(), u.GetName())
				case "Role", "RoleBinding":
					g.Expect(roleNamespaces).To(ContainElement(u.GetNamespace()), "%s %s", u.GetKind(), u.GetName())
				default:
					g.Expect(u.GetNamespace()).To(Equal(tc.namespace), "%s %s", u.GetKind(), u.GetName())
				}
				g.Expect(u.GetLabels()).To(And(HaveKeyWithValue("app.kubernetes.io/instance", "tk"), HaveKeyWithValue("app.kubernetes.io/managed-by", "Helm")),
					"%s %s", u.GetKind(), u.GetName())
				for k, v := range common {
					g.Expect(u.GetLabels()).To(HaveKeyWithValue(k, v), "%s %s has commonLabels", u.GetKind(), u.GetName())
				}
			}

			d := checkDeployment(g, r, flags)
			checkRBAC(g, r, tc.namespace, d.Spec.Template.Spec.ServiceAccountName, wantRules)
			// The admission policies apply to the ServiceAccount the manager runs as.
			for _, vap := range r.all("ValidatingAdmissionPolicy") {
				conds, _, _ := unstructured.NestedSlice(vap.Object, "spec", "matchConditions")
				g.Expect(conds).To(HaveLen(1))
				g.Expect(conds[0].(map[string]any)["expression"]).To(Equal(fmt.Sprintf("request.userInfo.username == 'system:serviceaccount:%s:%s'",
					tc.namespace, d.Spec.Template.Spec.ServiceAccountName)))
			}
			checkMetricsService(g, r, d)
			if tc.check != nil {
				tc.check(t, g, r, d)
			}

			// The API server accepts every object.
			ctx := context.Background()
			for _, ns := range append([]string{tc.namespace}, watched...) {
				ensureNamespace(t, ns, nil)
			}
			for _, u := range r {
				g.Expect(applyDryRun(ctx, u)).To(Succeed(), "%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
			}
		})
	}
}

// checkDeployment checks what every value set must keep: the manager's flags
// exist, the security context passes the restricted Pod Security Standard, the
// probes, and leader election with more than one replica.
func checkDeployment(g Gomega, r rendered, flags map[string]bool) *appsv1.Deployment {
	var d appsv1.Deployment
	typed(g, r.one(g, "Deployment"), &d)
	for k, v := range d.Spec.Selector.MatchLabels {
		g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(k, v), "the selector selects the pods")
	}
	pod := d.Spec.Template.Spec
	g.Expect(pod.Containers).To(HaveLen(1))
	c := pod.Containers[0]
	g.Expect(c.Name).To(Equal("manager"))
	for _, arg := range c.Args {
		g.Expect(arg).To(HavePrefix("--"))
		name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		g.Expect(flags).To(HaveKey(name), "%s is not a flag of cmd/main.go", arg)
	}
	if *d.Spec.Replicas > 1 {
		g.Expect(c.Args).To(ContainElement("--leader-elect=true"), "leader election with more than one replica")
	}

	g.Expect(pod.SecurityContext).NotTo(BeNil())
	g.Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(pod.SecurityContext.RunAsUser).To(HaveValue(BeEquivalentTo(65532)))
	g.Expect(pod.SecurityContext.SeccompProfile).To(HaveValue(HaveField("Type", corev1.SeccompProfileTypeRuntimeDefault)))
	sc := c.SecurityContext
	g.Expect(sc).NotTo(BeNil())
	g.Expect(sc.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(sc.RunAsUser).To(HaveValue(BeEquivalentTo(65532)))
	g.Expect(sc.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	g.Expect(sc.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(sc.Capabilities).NotTo(BeNil())
	g.Expect(sc.Capabilities.Drop).To(Equal([]corev1.Capability{"ALL"}))
	g.Expect(sc.Capabilities.Add).To(BeEmpty())
	g.Expect(sc.Privileged).To(Or(BeNil(), HaveValue(BeFalse())))

	g.Expect(c.Ports).To(ContainElement(And(HaveField("Name", "health"), HaveField("ContainerPort", BeEquivalentTo(8081)))))
	g.Expect(c.Args).To(ContainElement("--health-probe-bind-address=:8081"))
	g.Expect(c.LivenessProbe).NotTo(BeNil())
	g.Expect(c.LivenessProbe.HTTPGet).To(HaveValue(And(HaveField("Path", "/healthz"), HaveField("Port", intstr.FromString("health")))))
	g.Expect(c.ReadinessProbe).NotTo(BeNil())
	g.Expect(c.ReadinessProbe.HTTPGet).To(HaveValue(And(HaveField("Path", "/readyz"), HaveField("Port", intstr.FromString("health")))))
	return &d
}

// checkRBAC checks that the manager's ClusterRole or Roles hold exactly the
// generated rules, that every binding binds a rendered role to the manager's
// ServiceAccount, and the leader election Role.
func checkRBAC(g Gomega, r rendered, namespace, serviceAccount string, want []rbacv1.PolicyRule) {
	if sas := r.all("ServiceAccount"); len(sas) > 0 {
		g.Expect(sas).To(ContainElement(WithTransform((*unstructured.Unstructured).GetName, Equal(serviceAccount))))
	}
	managerRoles := 0
	for _, kind := range []string{"ClusterRole", "Role"} {
		for _, u := range r.all(kind) {
			if !strings.HasSuffix(u.GetName(), "-manager") {
				continue
			}
			managerRoles++
			var role rbacv1.Role // same fields as a ClusterRole without aggregation
			typed(g, u, &role)
			g.Expect(role.Rules).To(Equal(want), "%s %s/%s holds other rules than config/rbac/role.yaml", kind, u.GetNamespace(), u.GetName())
		}
	}
	g.Expect(managerRoles).To(BeNumerically(">=", 1))

	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, u := range r.all(kind) {
			var b rbacv1.RoleBinding
			typed(g, u, &b)
			roleNS := u.GetNamespace()
			if b.RoleRef.Kind == "ClusterRole" {
				roleNS = ""
			}
			g.Expect(r.find(b.RoleRef.Kind, roleNS, b.RoleRef.Name)).NotTo(BeNil(), "%s %s binds a rendered role", kind, u.GetName())
			if u.GetName() == fullnameOf(r)+"-metrics-scraper" {
				continue // Prometheus's identity: checkScraper
			}
			g.Expect(b.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: serviceAccount, Namespace: namespace}))
		}
	}
	for _, u := range r.all("ClusterRoleBinding") {
		g.Expect(strings.TrimPrefix(u.GetName(), fullnameOf(r)+"-")).To(BeElementOf("manager", "metrics-auth", "cluster-scoped", "metrics-scraper"))
	}

	var le rbacv1.Role
	u := r.find("Role", namespace, fullnameOf(r)+"-leader-election")
	g.Expect(u).NotTo(BeNil(), "the leader election Role")
	typed(g, u, &le)
	g.Expect(le.Rules).To(ConsistOf(
		rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	))
}

// checkMetricsAuthRBAC checks the RBAC of the HTTPS metrics endpoint: the
// manager may review tokens and access, cluster-wide, and a metrics-reader
// ClusterRole lets a scraper get /metrics.
func checkMetricsAuthRBAC(g Gomega, r rendered, namespace string) {
	name := fullnameOf(r)
	var role rbacv1.ClusterRole
	u := r.find("ClusterRole", "", name+"-metrics-auth")
	g.Expect(u).NotTo(BeNil(), "the metrics-auth ClusterRole")
	typed(g, u, &role)
	g.Expect(role.Rules).To(ConsistOf(
		rbacv1.PolicyRule{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		rbacv1.PolicyRule{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	))
	var b rbacv1.ClusterRoleBinding
	u = r.find("ClusterRoleBinding", "", name+"-metrics-auth")
	g.Expect(u).NotTo(BeNil(), "the metrics-auth ClusterRoleBinding")
	typed(g, u, &b)
	g.Expect(b.RoleRef.Name).To(Equal(name + "-metrics-auth"))
	g.Expect(b.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: name, Namespace: namespace}))
	var reader rbacv1.ClusterRole
	u = r.find("ClusterRole", "", name+"-metrics-reader")
	g.Expect(u).NotTo(BeNil(), "the metrics-reader ClusterRole")
	typed(g, u, &reader)
	g.Expect(reader.Rules).To(Equal([]rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}))
}

// fullnameOf is the name of the Deployment, the prefix of the other names.
func fullnameOf(r rendered) string {
	for _, u := range r {
		if u.GetKind() == "Deployment" {
			return u.GetName()
		}
	}
	return ""
}

// checkMetricsService checks that the metrics Service selects the manager pods
// and targets their metrics port.
func checkMetricsService(g Gomega, r rendered, d *appsv1.Deployment) {
	svcs := r.all("Service")
	if len(svcs) == 0 {
		return
	}
	var svc corev1.Service
	typed(g, svcs[0], &svc)
	g.Expect(svc.Spec.Selector).NotTo(BeEmpty())
	for k, v := range svc.Spec.Selector {
		g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(k, v), "the metrics Service selects the manager pods")
	}
	g.Expect(svc.Spec.Ports).To(HaveLen(1))
	g.Expect(svc.Spec.Ports[0].TargetPort).To(Equal(intstr.FromString("metrics")))
	g.Expect(d.Spec.Template.Spec.Containers[0].Ports).To(ContainElement(And(
		HaveField("Name", "metrics"), HaveField("ContainerPort", svc.Spec.Ports[0].Port))))
	g.Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElement(
		"--metrics-bind-address=:" + strconv.Itoa(int(svc.Spec.Ports[0].Port))))
}

// TestChartCopiesOfGeneratedFiles fails when the chart's copies of generated
// manifests differ from config/: `make manifests` copies them.
func TestChartCopiesOfGeneratedFiles(t *testing.T) {
	t.Parallel()
	copies := map[string]string{
		"charts/tokenator/files/manager-role.yaml":        "config/rbac/role.yaml",
		"charts/tokenator/files/tokenator-dashboard.json": "config/grafana/tokenator-dashboard.json",
	}
	// Every generated CRD is in the chart, and nothing else.
	gen := generatedCRDFiles(t)
	chart, err := filepath.Glob(filepath.Join(chartDir, "files", "crds", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range chart {
		chart[i] = filepath.Base(chart[i])
	}
	NewWithT(t).Expect(chart).To(ConsistOf(gen), "charts/tokenator/files/crds holds the CRDs of config/crd/bases")
	for _, name := range gen {
		copies["charts/tokenator/files/crds/"+name] = "config/crd/bases/" + name
	}
	for copied, generated := range copies {
		if !bytes.Equal(readFile(t, copied), readFile(t, generated)) {
			t.Errorf("%s differs from %s: run `make manifests` (cp %s %s)", copied, generated, generated, copied)
		}
	}
}

// generatedCRDFiles lists the file names of config/crd/bases.
func generatedCRDFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot, "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	if len(names) < 2 {
		t.Fatalf("config/crd/bases holds %v", names)
	}
	return names
}

// TestChartRendersTheGeneratedCRDs: by default (crds.enabled, crds.keep) the
// chart renders each CRD of config/crd/bases as it is, with the release's
// labels and the annotation that keeps it on helm uninstall.
func TestChartRendersTheGeneratedCRDs(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	r := rendered(render(t, "tokenator-system", nil))
	names := generatedCRDFiles(t)
	g.Expect(r.all("CustomResourceDefinition")).To(HaveLen(len(names)))
	for _, name := range names {
		gen := decodeAll(t, readFile(t, "config/crd/bases/"+name))
		g.Expect(gen).To(HaveLen(1))
		crd := r.find("CustomResourceDefinition", "", gen[0].GetName())
		g.Expect(crd).NotTo(BeNil(), "the chart renders %s", gen[0].GetName())
		g.Expect(crd.Object["spec"]).To(Equal(gen[0].Object["spec"]), "%s is rendered as config/crd/bases/%s has it", crd.GetName(), name)
		g.Expect(crd.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
		for k, v := range gen[0].GetAnnotations() {
			g.Expect(crd.GetAnnotations()).To(HaveKeyWithValue(k, v))
		}
		g.Expect(crd.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/instance", "tk"))
	}
}

// TestChartLint runs helm lint, plain and --strict, also with each value set.
func TestChartLint(t *testing.T) {
	t.Parallel()
	if out, err := helm(t, "lint", chartDir); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(out, "0 chart(s) failed") {
		t.Fatalf("helm lint:\n%s", out)
	}
	for _, tc := range chartCases() {
		args := []string{"lint", "--strict", chartDir, "--namespace", tc.namespace}
		if tc.values != nil {
			args = append(args, "--values", valuesFile(t, tc.values))
		}
		if _, err := helm(t, args...); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestChartRejectsInconsistentValues: values that cannot work fail helm
// template with a message that says what to change. The schema refuses them
// first (TestChartRefusesBadValues); the templates check them too, for
// --skip-schema-validation.
func TestChartRejectsInconsistentValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{
			values: map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "metrics": map[string]any{"enabled": false}},
			want:   "serviceMonitor.enabled and podMonitor.enabled need metrics.enabled",
		},
		{
			values: map[string]any{"podMonitor": map[string]any{"enabled": true}, "metrics": map[string]any{"enabled": false}},
			want:   "serviceMonitor.enabled and podMonitor.enabled need metrics.enabled",
		},
		{
			values: map[string]any{"podMonitor": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true}},
			want:   "serviceMonitor.enabled and podMonitor.enabled: choose one",
		},
		{
			values: map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "rbac": map[string]any{"create": false}},
			want:   "metrics.scraper.secretName is required unless metrics.scraper.create and rbac.create",
		},
		{
			values: map[string]any{"serviceAccount": map[string]any{"create": false}},
			want:   "serviceAccount.name is required when serviceAccount.create is false",
		},
	} {
		_, err := helm(t, append(templateArgs(t, "tokenator-system", tc.values), "--skip-schema-validation")...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %v: want an error with %q, got %v", tc.values, tc.want, err)
		}
	}
}

// TestChartAdmissionPoliciesAreTheKustomizeOnes: the chart's admission
// policies are config/policy's, but for their names; rendered for the
// ServiceAccount config/policy names, with the default values, the specs are
// equal, and each binding names its policy.
func TestChartAdmissionPoliciesAreTheKustomizeOnes(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	const fullname = "tokenator-controller-manager"
	r := rendered(render(t, "tokenator-system", map[string]any{"fullnameOverride": fullname}))
	for file, template := range map[string]string{
		"secret_write_policy.yaml":  "secretwritepolicy.yaml",
		"token_request_policy.yaml": "tokenrequestpolicy.yaml",
	} {
		var plain *unstructured.Unstructured
		for _, u := range decodeAll(t, readFile(t, "config/policy/"+file)) {
			if u.GetKind() == "ValidatingAdmissionPolicy" {
				plain = u
			}
		}
		g.Expect(plain).NotTo(BeNil(), file)
		name := fullname + strings.TrimPrefix(plain.GetName(), "tokenator")
		vap := r.find("ValidatingAdmissionPolicy", "", name)
		g.Expect(vap).NotTo(BeNil(), "the chart renders the policy %s", name)
		g.Expect(vap.Object["spec"]).To(Equal(plain.Object["spec"]),
			"charts/tokenator/templates/%s holds another policy than config/policy/%s", template, file)
		b := r.find("ValidatingAdmissionPolicyBinding", "", name)
		g.Expect(b).NotTo(BeNil(), "the chart renders the binding %s", name)
		policy, _, _ := unstructured.NestedString(b.Object, "spec", "policyName")
		g.Expect(policy).To(Equal(name))
	}
}

// TestChartNotes: after an install, NOTES.txt tells the next step: apply an
// OAuthClient, list them in every namespace, and where the documentation is.
func TestChartNotes(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	out, err := helm(t, "install", "tk", chartDir, "--namespace", "tokenator-system", "--dry-run=client",
		"--set", "grafanaDashboard.enabled=true")
	g.Expect(err).NotTo(HaveOccurred())
	_, notes, ok := strings.Cut(out, "NOTES:\n")
	g.Expect(ok).To(BeTrue(), "helm install prints NOTES:\n%s", out)
	g.Expect(notes).To(And(
		ContainSubstring("kind: OAuthClient"),
		ContainSubstring("kubectl get oauthclients -A"),
		ContainSubstring("docs/troubleshooting.md"),
		ContainSubstring("https://github.com/tokenator-dev/tokenator/tree/main/docs"),
		ContainSubstring("ConfigMap tokenator-system/"+fullname+"-dashboard"),
		ContainSubstring("The CRDs, OAuthClient and ClusterOAuthProvider, are part of the release"),
		ContainSubstring("helm uninstall leaves them"),
	))
}

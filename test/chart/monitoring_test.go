package chart_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tokenator-dev/tokenator/internal/metrics"
)

// exportedSeries returns the series names the manager exports (histograms as
// their _bucket, _sum and _count series) with their label names.
func exportedSeries(t *testing.T) map[string][]string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.ObserveRequest("idp.example.com", time.Second, nil)
	now := time.Now()
	m.SetClient(metrics.ClientState{Namespace: "ns", Name: "client", ExpiresAt: &now, RefreshAt: &now, ReadyStatus: "True", ReadyReason: "TokenIssued"})
	m.SetProvider(metrics.ProviderState{Name: "provider", Ready: true, ReadyReason: "ProviderReady"})
	m.ObserveProviderRequest("provider", nil)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string][]string{}
	for _, f := range families {
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		if f.GetType().String() == "HISTOGRAM" {
			series[f.GetName()+"_bucket"] = append(slices.Clone(labels), "le")
			series[f.GetName()+"_sum"] = labels
			series[f.GetName()+"_count"] = labels
		} else {
			series[f.GetName()] = labels
		}
	}
	if len(series) < 6 {
		t.Fatalf("internal/metrics exports only %v", series)
	}
	return series
}

// The labels Prometheus adds to every series of a target scraped through the
// chart's ServiceMonitor (namespace is tokenator's own, kept by honorLabels).
var targetLabels = []string{"instance", "job", "pod", "namespace", "service", "endpoint", "container"}

var (
	metricName  = regexp.MustCompile(`\btokenator_[a-z_]+\b`)
	grouping    = regexp.MustCompile(`\b(?:by|without|on|ignoring)\s*\(([^)]*)\)`)
	selector    = regexp.MustCompile(`\b(tokenator_[a-z_]+)\s*\{([^}]*)\}`)
	matcherName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// checkExpr checks that a PromQL expression only names series the manager
// exports, selects them by their own labels, and groups by known labels.
func checkExpr(g Gomega, where, expr string, series map[string][]string) {
	names := metricName.FindAllString(expr, -1)
	g.Expect(names).NotTo(BeEmpty(), "%s: %s names no tokenator series", where, expr)
	known := slices.Clone(targetLabels)
	for _, n := range names {
		g.Expect(series).To(HaveKey(n), "%s: %s is not a series of internal/metrics", where, n)
		known = append(known, series[n]...)
	}
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		for _, l := range matcherName.FindAllStringSubmatch(m[2], -1) {
			g.Expect(append(slices.Clone(series[m[1]]), targetLabels...)).To(ContainElement(l[1]), "%s: %s has no label %s", where, m[1], l[1])
		}
	}
	for _, m := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				g.Expect(known).To(ContainElement(l), "%s: no series of %q has label %s", where, expr, l)
			}
		}
	}
	g.Expect(strings.Count(expr, "(")).To(Equal(strings.Count(expr, ")")), "%s: unbalanced parentheses", where)
}

// TestAlertRulesUseExportedMetrics checks config/prometheus's rules (which the
// chart renders too) against what internal/metrics exports.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	series := exportedSeries(t)
	objs := decodeAll(t, readFile(t, "config/prometheus/prometheusrule.yaml"))
	g.Expect(objs).To(HaveLen(1))
	rules := alertRules(g, objs[0])
	g.Expect(rules).To(HaveLen(6))
	runbooks := string(readFile(t, "docs/runbooks.md"))
	for name, rule := range rules {
		checkExpr(g, name, rule["expr"].(string), series)
		g.Expect(rule).To(HaveKeyWithValue("labels", HaveKey("severity")), name)
		g.Expect(rule).To(HaveKeyWithValue("annotations", And(HaveKey("summary"), HaveKey("description"))), name)
		// Every alert has a runbook: its section of docs/runbooks.md.
		g.Expect(rule["annotations"]).To(HaveKeyWithValue("runbook_url",
			"https://github.com/tokenator-dev/tokenator/blob/main/docs/runbooks.md#"+strings.ToLower(name)), name)
		g.Expect(runbooks).To(ContainSubstring("\n## "+name+"\n"), "docs/runbooks.md has no section for %s", name)
		_, err := time.ParseDuration(rule["for"].(string))
		g.Expect(err).NotTo(HaveOccurred(), name)
	}
}

// TestGrafanaDashboard checks config/grafana's dashboard: the panels the
// operators need, each on the dashboard's data source, with queries over the
// series the manager exports.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	series := exportedSeries(t)
	type target struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	}
	type panel struct {
		ID         int               `json:"id"`
		Type       string            `json:"type"`
		Title      string            `json:"title"`
		Datasource map[string]string `json:"datasource"`
		GridPos    map[string]int    `json:"gridPos"`
		Targets    []target          `json:"targets"`
	}
	var dash struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	g.Expect(json.Unmarshal(readFile(t, "config/grafana/tokenator-dashboard.json"), &dash)).To(Succeed())
	g.Expect(dash.UID).To(Equal("tokenator"))
	g.Expect(dash.Title).NotTo(BeEmpty())
	g.Expect(dash.SchemaVersion).To(BeNumerically(">=", 36))
	var vars []string
	for _, v := range dash.Templating.List {
		vars = append(vars, v.Name)
	}
	g.Expect(vars).To(ContainElements("datasource", "namespace"))

	titles := map[string]panel{}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		g.Expect(ids).NotTo(HaveKey(p.ID), "panel ids are unique")
		ids[p.ID] = true
		g.Expect(titles).NotTo(HaveKey(p.Title), "panel titles are unique")
		titles[p.Title] = p
		g.Expect(p.Datasource).To(HaveKeyWithValue("uid", "${datasource}"), p.Title)
		g.Expect(p.GridPos).To(And(HaveKey("w"), HaveKey("h"), HaveKey("x"), HaveKey("y")), p.Title)
		g.Expect(p.Targets).NotTo(BeEmpty(), p.Title)
		for _, tg := range p.Targets {
			checkExpr(g, p.Title, tg.Expr, series)
		}
	}
	for title, fragment := range map[string]string{
		"Token requests by host and result":  "sum by (host, result) (rate(tokenator_token_requests_total",
		"Token request duration p95 by host": "histogram_quantile(0.95, sum by (host, le) (rate(tokenator_token_request_duration_seconds_bucket",
		"Clients not Ready":                  "tokenator_oauthclient_ready_status",
		"Seconds until expiry by client":     "tokenator_token_expiration_timestamp_seconds",
		"Failed attempts by client":          "tokenator_oauthclient_failed_attempts",
		"Failed token requests by reason":    "sum by (host, reason) (rate(tokenator_token_requests_total{result=\"failure\"}",
		"ClusterOAuthProviders":              "tokenator_clusteroauthprovider_ready",
	} {
		g.Expect(titles).To(HaveKey(title))
		g.Expect(titles[title].Targets[0].Expr).To(ContainSubstring(fragment), title)
	}
}

// TestMonitoringCRDsValidate shows that the API server checks the
// ServiceMonitor and PrometheusRule against the real schemas of testdata/crds:
// an unknown field is refused.
func TestMonitoringCRDsValidate(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ensureNamespace(t, "monitoring-check", nil)
	sm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "ServiceMonitor",
		"metadata":   map[string]any{"name": "x", "namespace": "monitoring-check"},
		"spec": map[string]any{
			"selector":  map[string]any{},
			"endpoints": []any{map[string]any{"port": "metrics", "honourLabels": true}},
		},
	}}
	err := applyDryRun(context.Background(), sm)
	g.Expect(err).To(HaveOccurred(), "a misspelt field is refused")
	g.Expect(err.Error()).To(ContainSubstring("honourLabels"))

	objs := decodeAll(t, readFile(t, "config/prometheus/prometheusrule.yaml"))
	g.Expect(objs).To(HaveLen(1))
	ensureNamespace(t, objs[0].GetNamespace(), nil)
	g.Expect(applyDryRun(context.Background(), objs[0])).To(Succeed(), "config/prometheus/prometheusrule.yaml")
}

// TestKustomizeMetricsScrape checks config/prometheus's Service and
// ServiceMonitor, the scrape of kustomize installs: the API server accepts
// them, the Service selects the manager pods of config/manager on their metrics
// port, the ServiceMonitor selects the Service, and it scrapes as the chart's
// ServiceMonitor does with its default values (HTTPS, TLS, honorLabels, and
// the token of a scraper ServiceAccount bound to the metrics-reader
// ClusterRole of config/default: checkScraper).
func TestKustomizeMetricsScrape(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	var kz struct {
		Resources []string `json:"resources"`
	}
	g.Expect(yaml.Unmarshal(readFile(t, "config/prometheus/kustomization.yaml"), &kz)).To(Succeed())
	g.Expect(kz.Resources).To(ContainElements("service.yaml", "servicemonitor.yaml", "metricsscraper.yaml"))

	svc := decodeAll(t, readFile(t, "config/prometheus/service.yaml"))
	sm := decodeAll(t, readFile(t, "config/prometheus/servicemonitor.yaml"))
	scraper := rendered(decodeAll(t, readFile(t, "config/prometheus/metricsscraper.yaml")))
	g.Expect(svc).To(HaveLen(1))
	g.Expect(sm).To(HaveLen(1))
	g.Expect(svc[0].GetKind()).To(Equal("Service"))
	g.Expect(sm[0].GetKind()).To(Equal("ServiceMonitor"))
	for _, o := range append([]*unstructured.Unstructured{svc[0], sm[0]}, scraper...) {
		if o.GetNamespace() != "" {
			ensureNamespace(t, o.GetNamespace(), nil)
		}
		g.Expect(applyDryRun(context.Background(), o)).To(Succeed(), "config/prometheus: %s %s", o.GetKind(), o.GetName())
	}

	// The Service selects the manager's pods, in their namespace, on the
	// container port named in targetPort, which serves metrics.
	var dep *unstructured.Unstructured
	for _, o := range decodeAll(t, readFile(t, "config/manager/manager.yaml")) {
		if o.GetKind() == "Deployment" {
			dep = o
		}
	}
	g.Expect(dep).NotTo(BeNil(), "config/manager/manager.yaml has no Deployment")
	g.Expect(svc[0].GetNamespace()).To(Equal("tokenator-system"), "the namespace of config/default")
	podLabels, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "template", "metadata", "labels")
	selector, _, _ := unstructured.NestedStringMap(svc[0].Object, "spec", "selector")
	g.Expect(selector).NotTo(BeEmpty())
	for k, v := range selector {
		g.Expect(podLabels).To(HaveKeyWithValue(k, v), "the Service selects the manager pods")
	}
	ports, _, _ := unstructured.NestedSlice(svc[0].Object, "spec", "ports")
	g.Expect(ports).To(HaveLen(1))
	port := ports[0].(map[string]any)
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	containerPort := ""
	for _, p := range containers[0].(map[string]any)["ports"].([]any) {
		if p.(map[string]any)["name"] == port["targetPort"] {
			containerPort = fmt.Sprint(p.(map[string]any)["containerPort"])
		}
	}
	g.Expect(containerPort).NotTo(BeEmpty(), "no container port named %v", port["targetPort"])
	g.Expect(fmt.Sprint(port["port"])).To(Equal(containerPort))
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	g.Expect(args).To(ContainElement("--metrics-bind-address=:" + containerPort))

	// The ServiceMonitor selects the Service in its namespace, on its port.
	smSel, _, _ := unstructured.NestedStringMap(sm[0].Object, "spec", "selector", "matchLabels")
	g.Expect(smSel).NotTo(BeEmpty())
	for k, v := range smSel {
		g.Expect(svc[0].GetLabels()).To(HaveKeyWithValue(k, v), "the ServiceMonitor selects the Service")
	}
	nss, _, _ := unstructured.NestedStringSlice(sm[0].Object, "spec", "namespaceSelector", "matchNames")
	g.Expect(nss).To(Equal([]string{svc[0].GetNamespace()}))
	endpoints, _, _ := unstructured.NestedSlice(sm[0].Object, "spec", "endpoints")
	g.Expect(endpoints).To(HaveLen(1))
	ep := endpoints[0].(map[string]any)
	g.Expect(ep["port"]).To(Equal(port["name"]))

	// It scrapes as the chart's does.
	chartSM := rendered(render(t, "tokenator-system", map[string]any{"serviceMonitor": map[string]any{"enabled": true}})).one(g, "ServiceMonitor")
	chartEndpoints, _, _ := unstructured.NestedSlice(chartSM.Object, "spec", "endpoints")
	g.Expect(chartEndpoints).To(HaveLen(1))
	chartEP := chartEndpoints[0].(map[string]any)
	for _, k := range []string{"path", "scheme", "tlsConfig", "honorLabels", "interval", "scrapeTimeout"} {
		g.Expect(chartEP).To(HaveKey(k))
		g.Expect(ep[k]).To(Equal(chartEP[k]), "endpoint %s differs from the chart's ServiceMonitor", k)
	}
	g.Expect(chartEP).To(HaveKeyWithValue("authorization", HaveKeyWithValue("type", "Bearer")))
	g.Expect(ep).NotTo(HaveKey("bearerTokenFile"), "deprecated by the Prometheus Operator: authorization, as the chart")
	checkScraper(g, scraper, ep, svc[0].GetNamespace(), "tokenator")
	// The ClusterRole it binds is config/rbac's metrics-reader, named
	// tokenator-metrics-reader by config/default's name prefix.
	var prefix struct {
		NamePrefix string `json:"namePrefix"`
	}
	g.Expect(yaml.Unmarshal(readFile(t, "config/default/operator/kustomization.yaml"), &prefix)).To(Succeed())
	reader := decodeAll(t, readFile(t, "config/rbac/metrics_reader_role.yaml"))
	g.Expect(reader).To(HaveLen(1))
	g.Expect(reader[0].GetKind()).To(Equal("ClusterRole"))
	g.Expect(prefix.NamePrefix + reader[0].GetName()).To(Equal("tokenator-metrics-reader"))
	g.Expect(ep["scheme"]).To(Equal("https"))
	g.Expect(ep["honorLabels"]).To(BeTrue())
}

// TestOperationsDocQuotesShippedAlerts checks that docs/operations.md quotes
// each alert of config/prometheus/prometheusrule.yaml as shipped: a ```promql
// block whose comment names the alert, its severity and its for, followed by
// its expression.
func TestOperationsDocQuotesShippedAlerts(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	doc := string(readFile(t, "docs/operations.md"))
	start := strings.Index(doc, "\n## Alerts\n")
	g.Expect(start).To(BeNumerically(">=", 0), "docs/operations.md has no Alerts section")
	section := doc[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	// Each block: its comment lines, then the expression.
	blocks := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)```promql\n(.*?)```").FindAllStringSubmatch(section, -1) {
		lines := strings.Split(strings.TrimSuffix(m[1], "\n"), "\n")
		i := 0
		for i < len(lines) && strings.HasPrefix(lines[i], "#") {
			i++
		}
		g.Expect(i).To(BeNumerically(">", 0), "a ```promql block of the Alerts section names no alert: %q", m[1])
		blocks[lines[0]] = strings.Join(lines[i:], "\n")
	}

	objs := decodeAll(t, readFile(t, "config/prometheus/prometheusrule.yaml"))
	g.Expect(objs).To(HaveLen(1))
	groups, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "groups")
	alerts := 0
	for _, grp := range groups {
		for _, r := range grp.(map[string]any)["rules"].([]any) {
			rule := r.(map[string]any)
			name, _ := rule["alert"].(string)
			if name == "" {
				continue
			}
			alerts++
			severity := rule["labels"].(map[string]any)["severity"]
			prefix := fmt.Sprintf("# %s (%s, for %s)", name, severity, rule["for"])
			var expr string
			found := false
			for first, e := range blocks {
				if strings.HasPrefix(first, prefix) {
					expr, found = e, true
				}
			}
			if !found {
				t.Errorf("docs/operations.md quotes no ```promql block starting %q", prefix)
				continue
			}
			g.Expect(expr).To(Equal(strings.TrimSpace(rule["expr"].(string))), "docs/operations.md: the expression of %s differs from config/prometheus", name)
		}
	}
	g.Expect(alerts).To(BeNumerically(">", 0))
	g.Expect(blocks).To(HaveLen(alerts), "docs/operations.md quotes alerts config/prometheus does not ship")
}

// checkDashboard checks the Grafana dashboard ConfigMap: in its namespace,
// labelled for the Grafana sidecar, holding config/grafana's dashboard as it is.
func checkDashboard(t *testing.T, g Gomega, cm *unstructured.Unstructured, namespace string, labels map[string]string) {
	t.Helper()
	g.ExpectWithOffset(1, cm.GetNamespace()).To(Equal(namespace))
	g.ExpectWithOffset(1, cm.GetName()).To(Equal(fullname + "-dashboard"))
	for k, v := range labels {
		g.ExpectWithOffset(1, cm.GetLabels()).To(HaveKeyWithValue(k, v))
	}
	g.ExpectWithOffset(1, cm.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/instance", "tk"))
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	g.ExpectWithOffset(1, data).To(HaveLen(1))
	g.ExpectWithOffset(1, data["tokenator-dashboard.json"]).To(Equal(string(readFile(t, "config/grafana/tokenator-dashboard.json"))),
		"the ConfigMap holds config/grafana/tokenator-dashboard.json as it is")
}

// TestChartGrafanaDashboard: the dashboard ConfigMap is opt-in; it goes to
// grafanaDashboard.namespace with grafanaDashboard.labels, and the API server
// accepts it.
func TestChartGrafanaDashboard(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	g.Expect(rendered(render(t, "tokenator-system", nil)).all("ConfigMap")).To(BeEmpty(), "no dashboard by default")

	r := rendered(render(t, "tokenator-system", map[string]any{"grafanaDashboard": map[string]any{
		"enabled": true, "namespace": "grafana-dashboards", "labels": map[string]any{"dashboards": "tokenator", "grafana_dashboard": nil}}}))
	cm := r.one(g, "ConfigMap")
	checkDashboard(t, g, cm, "grafana-dashboards", map[string]string{"dashboards": "tokenator"})
	g.Expect(cm.GetLabels()).NotTo(HaveKey("grafana_dashboard"), "a null label drops the default one")
	ensureNamespace(t, "grafana-dashboards", nil)
	g.Expect(applyDryRun(context.Background(), cm)).To(Succeed())
}

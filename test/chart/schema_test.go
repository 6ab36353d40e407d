package chart_test

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// schema is charts/tokenator/values.schema.json, decoded.
func schema(t *testing.T) map[string]any {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal(readFile(t, "charts/tokenator/values.schema.json"), &s); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	return s
}

// resolve follows a local $ref ("#/definitions/name") of the schema.
func resolve(t *testing.T, root, node map[string]any) map[string]any {
	t.Helper()
	ref, ok := node["$ref"].(string)
	if !ok {
		return node
	}
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	if !ok {
		t.Fatalf("$ref %q: only #/definitions/ references are used", ref)
	}
	def, ok := root["definitions"].(map[string]any)[name].(map[string]any)
	if !ok {
		t.Fatalf("$ref %q names no definition", ref)
	}
	return resolve(t, root, def)
}

// TestChartSchemaCoversEveryValue: every value of values.yaml has a schema, and
// where the chart owns the keys (the schema lists properties) the schema allows
// no other key and lists no key values.yaml lacks, so that a misspelt value fails.
func TestChartSchemaCoversEveryValue(t *testing.T) {
	t.Parallel()
	root := schema(t)
	var values map[string]any
	if err := yaml.Unmarshal(readFile(t, "charts/tokenator/values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v map[string]any, s map[string]any)
	walk = func(path string, v map[string]any, s map[string]any) {
		props, owned := s["properties"].(map[string]any)
		if !owned {
			return // a free-form map, such as labels or affinity
		}
		if s["additionalProperties"] != false {
			t.Errorf("%s: the schema lists its keys but allows others: set additionalProperties: false", path)
		}
		for k, sub := range v {
			p := strings.TrimPrefix(path+"."+k, ".")
			ps, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("%s is in values.yaml but not in values.schema.json", p)
				continue
			}
			ps = resolve(t, root, ps)
			if m, ok := sub.(map[string]any); ok {
				walk(p, m, ps)
			}
		}
		for k := range props {
			if _, ok := v[k]; !ok && !(path == "" && k == "global") {
				t.Errorf("%s is in values.schema.json but not in values.yaml", strings.TrimPrefix(path+"."+k, "."))
			}
		}
	}
	walk("", values, root)
}

// pattern compiles the pattern of a definition of the schema (Helm matches
// them with Go's regexp package).
func pattern(t *testing.T, root map[string]any, name string) *regexp.Regexp {
	t.Helper()
	def := resolve(t, root, map[string]any{"$ref": "#/definitions/" + name})
	return regexp.MustCompile(def["pattern"].(string))
}

// TestChartSchemaPatterns: the CIDR pattern accepts what net/netip parses as a
// prefix, the Go duration pattern what time.ParseDuration parses, and both
// refuse the rest.
func TestChartSchemaPatterns(t *testing.T) {
	t.Parallel()
	root := schema(t)
	cidr := pattern(t, root, "cidr")
	for _, s := range []string{
		"0.0.0.0/0", "10.0.0.0/8", "192.168.1.7/32", "255.255.255.255/32", "169.254.0.0/16",
		"::/0", "::1/128", "fe80::/10", "fd00:ec2::/32", "fd20:ce::254/128", "2001:db8::/32",
		"2001:db8:0:0:0:0:0:1/128", "1::/16", "::ffff:0:0/96", "fc00::/7",
		"10.0.0.0", "10.0.0.0/33", "256.0.0.0/8", "10.0.0/8", "010.0.0.0/8", "10.0.0.0/08", "::/129",
		"2001:db8::1::/64", "fe80::/", "/8", "", " 10.0.0.0/8", "10.0.0.0/8,", "example.com/24", "fe80::%eth0/64",
		"1:2:3:4:5:6:7:8:9/64", "12345::/16",
	} {
		_, err := netip.ParsePrefix(s)
		if got, want := cidr.MatchString(s), err == nil; got != want {
			t.Errorf("cidr pattern matches %q: %v; netip.ParsePrefix accepts it: %v", s, got, want)
		}
	}

	dur := pattern(t, root, "goDuration")
	for _, s := range []string{
		"30s", "1m30s", "5m", "1h", "250ms", "1.5s", ".5s", "1us", "1µs", "2h45m0.5s", "0s",
		"30", "1 m", "-5s", "1d", "5S", "s", "1m30", "+1s", "1.s5",
	} {
		_, err := time.ParseDuration(s)
		want := err == nil && !strings.ContainsAny(s[:1], "+-") // a sign is refused: negative delays make no sense
		if got := dur.MatchString(s); got != want {
			t.Errorf("goDuration pattern matches %q: %v; want %v (time.ParseDuration: %v)", s, got, want, err)
		}
	}
	if !dur.MatchString("") {
		t.Error(`goDuration pattern refuses "", which keeps the manager's default`)
	}

	// The Prometheus Operator's pattern of durations, which its CRDs check.
	prom := pattern(t, root, "promDuration")
	for s, want := range map[string]bool{"30s": true, "1m30s": true, "1h": true, "2d": true, "0": true, "500ms": true,
		"1m30": false, "30 s": false, "1.5m": false, "-1m": false, "1s1m": false} {
		if got := prom.MatchString(s); got != want {
			t.Errorf("promDuration pattern matches %q: %v, want %v", s, got, want)
		}
	}
}

// TestChartRefusesBadValues: helm template (and so helm install and upgrade)
// fails on each bad value set, naming the value, as a JSON pointer, in its message.
func TestChartRefusesBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []string // in helm's output
	}{
		{"replicas a string", map[string]any{"replicas": "two"}, []string{"'/replicas'", "want integer"}},
		{"negative replicas", map[string]any{"replicas": -1}, []string{"'/replicas'", "minimum"}},
		{"pullPolicy not an enum value", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, []string{"'/image/pullPolicy'", "IfNotPresent"}},
		{"digest without sha256:", map[string]any{"image": map[string]any{"digest": strings.TrimPrefix(digest, "sha256:")}}, []string{"'/image/digest'"}},
		{"digest upper-case", map[string]any{"image": map[string]any{"digest": strings.ToUpper(digest)}}, []string{"'/image/digest'"}},
		{"logEncoding", map[string]any{"logEncoding": "text"}, []string{"'/logEncoding'", "console"}},
		{"logLevel word", map[string]any{"logLevel": "warn"}, []string{"'/logLevel'"}},
		{"logLevel zero", map[string]any{"logLevel": 0}, []string{"'/logLevel'"}},
		{"metrics service type", map[string]any{"metrics": map[string]any{"service": map[string]any{"type": "ExternalName"}}}, []string{"'/metrics/service/type'"}},
		{"metrics port 0", map[string]any{"metrics": map[string]any{"port": 0}}, []string{"'/metrics/port'", "minimum"}},
		{"health port too high", map[string]any{"health": map[string]any{"port": 65536}}, []string{"'/health/port'", "maximum"}},
		{"API server port 0", map[string]any{"networkPolicy": map[string]any{"apiServer": map[string]any{"ports": []int{443, 0}}}}, []string{"'/networkPolicy/apiServer/ports/1'"}},
		{"metrics enabled a string", map[string]any{"metrics": map[string]any{"enabled": "yes"}}, []string{"'/metrics/enabled'", "want boolean"}},
		{"token request timeout without a unit", map[string]any{"tokenRequestTimeout": "30"}, []string{"'/tokenRequestTimeout'"}},
		{"retry max delay in days", map[string]any{"retryMaxDelay": "1d"}, []string{"'/retryMaxDelay'"}},
		{"min request interval a number", map[string]any{"minRequestInterval": 5}, []string{"'/minRequestInterval'", "want string"}},
		{"negative retry base delay", map[string]any{"retryBaseDelay": "-5s"}, []string{"'/retryBaseDelay'"}},
		{"scrape interval", map[string]any{"serviceMonitor": map[string]any{"interval": "1m30"}}, []string{"'/serviceMonitor/interval'"}},
		{"empty scrape timeout", map[string]any{"serviceMonitor": map[string]any{"scrapeTimeout": ""}}, []string{"'/serviceMonitor/scrapeTimeout'"}},
		{"alert for", map[string]any{"prometheusRule": map[string]any{"failedAttemptsFor": "ten minutes"}}, []string{"'/prometheusRule/failedAttemptsFor'"}},
		{"not ready for", map[string]any{"prometheusRule": map[string]any{"notReadyFor": "1.5h"}}, []string{"'/prometheusRule/notReadyFor'"}},
		{"denied network not a CIDR", map[string]any{"deniedTokenNetworks": []string{"10.0.0.0/8", "10.0.0.1"}}, []string{"'/deniedTokenNetworks/1'"}},
		{"API server CIDR prefix too long", map[string]any{"networkPolicy": map[string]any{"apiServer": map[string]any{"cidrs": []string{"10.96.0.1/33"}}}}, []string{"'/networkPolicy/apiServer/cidrs/0'"}},
		{"ipBlock cidr", map[string]any{"networkPolicy": map[string]any{"tokenEndpoints": map[string]any{"ipBlocks": []any{map[string]any{"cidr": "any"}}}}}, []string{"'/networkPolicy/tokenEndpoints/ipBlocks/0/cidr'"}},
		{"ipBlock except", map[string]any{"networkPolicy": map[string]any{"tokenEndpoints": map[string]any{"ipBlocks": []any{map[string]any{"cidr": "::/0", "except": []string{"fc00::/129"}}}}}}, []string{"'/networkPolicy/tokenEndpoints/ipBlocks/0/except/0'"}},
		{"ipBlock misspelt", map[string]any{"networkPolicy": map[string]any{"tokenEndpoints": map[string]any{"ipBlocks": []any{map[string]any{"cidr": "0.0.0.0/0", "exclude": []string{"10.0.0.0/8"}}}}}}, []string{"'/networkPolicy/tokenEndpoints/ipBlocks/0'", "'exclude'"}},
		{"network policy without API server CIDRs", map[string]any{"networkPolicy": map[string]any{"enabled": true}}, []string{"'/networkPolicy/apiServer/cidrs'", "minItems"}},
		{"ServiceMonitor without metrics", map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "metrics": map[string]any{"enabled": false}}, []string{"'/metrics/enabled'"}},
		{"no ServiceAccount and no name", map[string]any{"serviceAccount": map[string]any{"create": false}}, []string{"'/serviceAccount/name'"}},
		{"unknown top-level key", map[string]any{"replicaCount": 2}, []string{"'replicaCount' not allowed"}},
		{"misspelt nested key", map[string]any{"image": map[string]any{"tagg": "v1"}}, []string{"'/image'", "'tagg' not allowed"}},
		{"misspelt probe key", map[string]any{"livenessProbe": map[string]any{"periodSecond": 5}}, []string{"'/livenessProbe'", "'periodSecond' not allowed"}},
		{"concurrentReconciles 0", map[string]any{"concurrentReconciles": 0}, []string{"'/concurrentReconciles'", "minimum"}},
		{"negative concurrentReconciles", map[string]any{"concurrentReconciles": -4}, []string{"'/concurrentReconciles'"}},
		{"concurrentReconciles a fraction", map[string]any{"concurrentReconciles": 1.5}, []string{"'/concurrentReconciles'"}},
		{"negative maxRequestsPerHost", map[string]any{"maxRequestsPerHost": -1}, []string{"'/maxRequestsPerHost'"}},
		{"maxRequestsPerNamespace a string", map[string]any{"maxRequestsPerNamespace": "8"}, []string{"'/maxRequestsPerNamespace'"}},
		{"negative qps", map[string]any{"kubeAPI": map[string]any{"qps": -1}}, []string{"'/kubeAPI/qps'"}},
		{"watched namespace not a name", map[string]any{"watchNamespaces": []string{"team-a", "Team_B"}}, []string{"'/watchNamespaces/1'"}},
		{"allowPrivateTokenNetworks a string", map[string]any{"allowPrivateTokenNetworks": "true"}, []string{"'/allowPrivateTokenNetworks'", "want boolean"}},
		{"allowed token host a URL", map[string]any{"allowedTokenHosts": []string{"https://idp.example.com/token"}}, []string{"'/allowedTokenHosts/0'"}},
		{"extra argument not a flag", map[string]any{"extraArgs": []string{"enable-http2"}}, []string{"'/extraArgs/0'"}},
		{"pod label not a string", map[string]any{"podLabels": map[string]any{"critical": true}}, []string{"'/podLabels/critical'", "want string"}},
		{"dashboard labels a list", map[string]any{"grafanaDashboard": map[string]any{"labels": []string{"grafana_dashboard"}}}, []string{"'/grafanaDashboard/labels'"}},
		{"dashboard namespace not a name", map[string]any{"grafanaDashboard": map[string]any{"namespace": "Monitoring"}}, []string{"'/grafanaDashboard/namespace'"}},
		{"env a map", map[string]any{"env": map[string]any{"GOMEMLIMIT": "200MiB"}}, []string{"'/env'", "want array"}},
		{"no API audiences", map[string]any{"tokenRequestPolicy": map[string]any{"apiAudiences": []string{}}}, []string{"'/tokenRequestPolicy/apiAudiences'", "minItems"}},
		{"an empty API audience", map[string]any{"tokenRequestPolicy": map[string]any{"apiAudiences": []string{"k3s", ""}}}, []string{"'/tokenRequestPolicy/apiAudiences/1'"}},
		{"API audiences a string", map[string]any{"tokenRequestPolicy": map[string]any{"apiAudiences": "k3s"}}, []string{"'/tokenRequestPolicy/apiAudiences'", "want array"}},
		{"crds.enabled a string", map[string]any{"crds": map[string]any{"enabled": "false"}}, []string{"'/crds/enabled'", "want boolean"}},
		{"misspelt crds key", map[string]any{"crds": map[string]any{"install": true}}, []string{"'/crds'", "'install' not allowed"}},
		{"common label overriding the chart's", map[string]any{"commonLabels": map[string]any{"app.kubernetes.io/name": "other"}}, []string{"'/commonLabels/app.kubernetes.io~1name'", "false schema"}},
		{"common label not a string", map[string]any{"commonLabels": map[string]any{"tier": 1}}, []string{"'/commonLabels/tier'", "want string"}},
		{"strategy type", map[string]any{"strategy": map[string]any{"type": "BlueGreen"}}, []string{"'/strategy/type'"}},
		{"misspelt strategy key", map[string]any{"strategy": map[string]any{"rollingUpdates": map[string]any{"maxSurge": 1}}}, []string{"'/strategy'"}},
		{"misspelt rolling update key", map[string]any{"strategy": map[string]any{"rollingUpdate": map[string]any{"maxSurges": 1}}}, []string{"'/strategy/rollingUpdate'"}},
		{"volume without a name", map[string]any{"extraVolumes": []any{map[string]any{"emptyDir": map[string]any{}}}}, []string{"'/extraVolumes/0'", "'name'"}},
		{"volume mount without a path", map[string]any{"extraVolumeMounts": []any{map[string]any{"name": "x"}}}, []string{"'/extraVolumeMounts/0'", "'mountPath'"}},
		{"PodMonitor without metrics", map[string]any{"podMonitor": map[string]any{"enabled": true}, "metrics": map[string]any{"enabled": false}}, []string{"'/metrics/enabled'"}},
		{"PodMonitor and ServiceMonitor", map[string]any{"podMonitor": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true}}, []string{"'not' failed"}},
		{"PodMonitor interval", map[string]any{"podMonitor": map[string]any{"interval": "1 m"}}, []string{"'/podMonitor/interval'"}},
		{"no scraper and no token Secret", map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "metrics": map[string]any{"scraper": map[string]any{"create": false}}}, []string{"'/metrics/scraper/secretName'", "minLength"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := helm(t, templateArgs(t, "tokenator-system", tc.values)...)
			if err == nil {
				t.Fatalf("values %v: helm template succeeded", tc.values)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("values %v: want an error with %q, got %v", tc.values, want, err)
				}
			}
			if !strings.Contains(err.Error(), "values don't meet the specifications of the schema") {
				t.Errorf("values %v: want the schema to refuse them, got %v", tc.values, err)
			}
		})
	}
}

// TestChartAcceptsGoodValues: the schema lets through values the manager
// accepts: integer log levels, IPv6 CIDRs, null request bounds, a numeric tag.
func TestChartAcceptsGoodValues(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	values := map[string]any{
		"logLevel":                  3,
		"image":                     map[string]any{"tag": 1.2},
		"maxRequestsPerHost":        0,
		"maxRequestsPerNamespace":   nil,
		"deniedTokenNetworks":       []string{"fd00::/8", "::1/128", "10.0.0.0/8"},
		"allowPrivateTokenNetworks": true,
		"tokenRequestTimeout":       "1m30s",
		"retryMaxDelay":             "",
		"networkPolicy": map[string]any{"enabled": true, "apiServer": map[string]any{"cidrs": []string{"fd00::1/128"}, "ports": []int{6443}},
			"dns": map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "169.254.20.10/32"}}}}},
		"serviceMonitor": map[string]any{"enabled": true, "interval": "1m", "scrapeTimeout": "30s",
			"tlsConfig": map[string]any{"ca": map[string]any{"secret": map[string]any{"name": "ca", "key": "ca.crt"}}, "serverName": "tokenator"}},
		"livenessProbe": map[string]any{"initialDelaySeconds": 0, "periodSeconds": 5, "failureThreshold": 6},
	}
	r := rendered(render(t, "tokenator-system", values))
	args := r.one(g, "Deployment").Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["args"]
	g.Expect(args).To(ContainElements("--zap-log-level=3", "--max-requests-per-host=0", "--token-request-timeout=1m30s",
		"--denied-token-networks=fd00::/8,::1/128,10.0.0.0/8", "--allow-private-token-networks"))
	g.Expect(slices.ContainsFunc(args.([]any), func(a any) bool { return strings.HasPrefix(a.(string), "--max-requests-per-namespace") })).To(BeFalse())
	if _, err := helm(t, "lint", "--strict", chartDir, "--values", valuesFile(t, values)); err != nil {
		t.Fatal(err)
	}
}

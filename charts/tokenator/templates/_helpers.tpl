{{/*
The chart name, overridable with nameOverride.
*/}}
{{- define "tokenator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: the release name, followed by the chart name unless the release
name already holds it. Truncated to 63 characters (DNS labels).
*/}}
{{- define "tokenator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The chart name and version, as in the helm.sh/chart label.
*/}}
{{- define "tokenator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The labels of every object: the chart's own, then commonLabels (which cannot
override them).
*/}}
{{- define "tokenator.labels" -}}
{{- include "tokenator.labelsWith" (dict "ctx" . "extra" dict) }}
{{- end }}

{{/*
The labels of every object and those of one kind of object, such as
serviceMonitor.labels: {ctx: ., extra: map}. The chart's labels win over the
extra ones, and those over commonLabels, so that no key is written twice.
*/}}
{{- define "tokenator.labelsWith" -}}
{{- $ctx := .ctx }}
{{- $own := dict
  "helm.sh/chart" (include "tokenator.chart" $ctx)
  "app.kubernetes.io/version" ($ctx.Chart.AppVersion | toString)
  "app.kubernetes.io/managed-by" $ctx.Release.Service
  "app.kubernetes.io/part-of" "tokenator" }}
{{- $own = merge $own (include "tokenator.selectorLabels" $ctx | fromYaml) }}
{{- toYaml (merge $own (.extra | default dict) ($ctx.Values.commonLabels | default dict)) }}
{{- end }}

{{/*
The labels selecting the manager pods.
*/}}
{{- define "tokenator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tokenator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/*
The manager's ServiceAccount.
*/}}
{{- define "tokenator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tokenator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The manager image: repository with a digest, else with the tag (default appVersion).
*/}}
{{- define "tokenator.image" -}}
{{- if .Values.image.digest }}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .Values.image.digest) }}
{{- fail (printf "image.digest must be sha256: followed by 64 lower-case hex digits, got %q" .Values.image.digest) }}
{{- end }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Whether leader election is on: always with more than one replica.
*/}}
{{- define "tokenator.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) }}true{{ else }}false{{ end }}
{{- end }}

{{/*
The manager's rules: those of files/manager-role.yaml, an exact copy of
config/rbac/role.yaml, which controller-gen generates from the +kubebuilder:rbac
markers (`make manifests` copies it). test/chart fails when they differ.
*/}}
{{- define "tokenator.managerRules" -}}
{{- $role := .Files.Get "files/manager-role.yaml" | fromYaml }}
{{- if not $role.rules }}
{{- fail "files/manager-role.yaml holds no rules: copy config/rbac/role.yaml into the chart (make manifests)" }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}

{{/*
The cluster resource namespace: where the Secrets and ConfigMaps of
ClusterOAuthProviders and their shared tokens are. The manager's default, when
--cluster-resource-namespace is not given, is the namespace it runs in.
*/}}
{{- define "tokenator.clusterResourceNamespace" -}}
{{- default .Release.Namespace .Values.clusterResourceNamespace }}
{{- end }}

{{/*
The namespaces the manager watches with watchNamespaces (--namespaces), one a
line: those listed, and the cluster resource namespace, without which a manager
that watches some namespaces serves no ClusterOAuthProvider. Empty without
watchNamespaces (the whole cluster).
*/}}
{{- define "tokenator.watchedNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- append .Values.watchNamespaces (include "tokenator.clusterResourceNamespace" .) | uniq | join "\n" }}
{{- end }}
{{- end }}

{{/*
The manager's rules on cluster-scoped resources (ClusterOAuthProviders, their
status and finalizers, Namespaces), with the verbs of files/manager-role.yaml:
a manager that watches some namespaces gets them from a ClusterRole, as Roles
cannot grant them. test/chart fails when the generated rules name another
cluster-scoped resource.
*/}}
{{- define "tokenator.clusterScopedRules" -}}
{{- $clusterScoped := list "namespaces" "clusteroauthproviders" "clusteroauthproviders/status" "clusteroauthproviders/finalizers" }}
{{- $rules := list }}
{{- range (.Files.Get "files/manager-role.yaml" | fromYaml).rules }}
{{- $resources := list }}
{{- range .resources }}
{{- if has . $clusterScoped }}
{{- $resources = append $resources . }}
{{- end }}
{{- end }}
{{- if $resources }}
{{- $rules = append $rules (dict "apiGroups" .apiGroups "resources" $resources "verbs" .verbs) }}
{{- end }}
{{- end }}
{{- toYaml $rules }}
{{- end }}

{{/*
Checks of the ServiceMonitor and PodMonitor values, for --skip-schema-validation.
*/}}
{{- define "tokenator.checkMonitors" -}}
{{- if not .Values.metrics.enabled }}
{{- fail "serviceMonitor.enabled and podMonitor.enabled need metrics.enabled" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.podMonitor.enabled }}
{{- fail "serviceMonitor.enabled and podMonitor.enabled: choose one, else every series is scraped twice" }}
{{- end }}
{{- if and .Values.metrics.secure (ne (include "tokenator.createScraper" .) "true") (not .Values.metrics.scraper.secretName) }}
{{- fail "metrics.scraper.secretName is required unless metrics.scraper.create and rbac.create: the Secret holding the token the Prometheus Operator scrapes with" }}
{{- end }}
{{- end }}

{{/*
Whether the chart creates the metrics scraper's ServiceAccount, token Secret
and binding: "true" for a ServiceMonitor or PodMonitor of the HTTPS endpoint,
with metrics.scraper.create and rbac.create.
*/}}
{{- define "tokenator.createScraper" -}}
{{- $v := .Values }}
{{- and $v.metrics.enabled $v.metrics.secure (or $v.serviceMonitor.enabled $v.podMonitor.enabled) $v.metrics.scraper.create $v.rbac.create | toString }}
{{- end }}

{{/*
The Secret whose key holds the scraper's bearer token.
*/}}
{{- define "tokenator.scraperSecretName" -}}
{{- default (printf "%s-metrics-scraper-token" (include "tokenator.fullname" .)) .Values.metrics.scraper.secretName }}
{{- end }}

{{/*
A scrape endpoint of the ServiceMonitor or PodMonitor, after its port:
{ctx: ., monitor: .Values.serviceMonitor or .Values.podMonitor}.
*/}}
{{- define "tokenator.scrapeEndpoint" -}}
{{- $v := .ctx.Values -}}
path: /metrics
{{- if $v.metrics.secure }}
# The manager authenticates and authorizes every scrape: the Prometheus
# Operator sends the token of metrics.scraper's Secret, whose ServiceAccount
# may get /metrics (the chart's metrics-reader ClusterRole).
scheme: https
authorization:
  type: Bearer
  credentials:
    name: {{ include "tokenator.scraperSecretName" .ctx }}
    key: {{ $v.metrics.scraper.secretKey }}
{{- with .monitor.tlsConfig }}
tlsConfig:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- else }}
scheme: http
{{- end }}
interval: {{ .monitor.interval }}
scrapeTimeout: {{ .monitor.scrapeTimeout }}
# tokenator's per-OAuthClient series carry the OAuthClient's namespace in a
# "namespace" label: keep it rather than the manager pod's namespace.
honorLabels: true
{{- with .monitor.relabelings }}
relabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .monitor.metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

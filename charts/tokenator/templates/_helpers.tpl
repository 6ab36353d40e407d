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
The standard labels of every object.
*/}}
{{- define "tokenator.labels" -}}
helm.sh/chart: {{ include "tokenator.chart" . }}
{{ include "tokenator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tokenator
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

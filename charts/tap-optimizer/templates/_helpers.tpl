{{/* Names, labels and the RBAC rule sets shared by the templates. */}}

{{- define "tap-optimizer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tap-optimizer.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "tap-optimizer.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "tap-optimizer.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "tap-optimizer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tap-optimizer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tap-optimizer.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tap-optimizer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tap-optimizer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tap-optimizer.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Several replicas elect a leader through a coordination.k8s.io Lease; one replica runs alone. */}}
{{- define "tap-optimizer.leaderElection" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/* The operator's configuration file (--config), rendered from the values. */}}
{{- define "tap-optimizer.config" -}}
namespace: {{ .Release.Namespace }}
gates:
  endpoints: {{ .Values.gates.endpoints | toJson }}
  {{- with .Values.gates.defaultEndpoint }}
  defaultEndpoint: {{ . | quote }}
  {{- end }}
  plans: {{ .Values.gates.plans | toJson }}
notifications:
  webhooks: {{ .Values.notifications.webhooks | toJson }}
targets:
  kinds: {{ .Values.targets.kinds | toJson }}
  instanceRefresh: {{ .Values.targets.instanceRefresh | default "Await" | quote }}
{{- end }}

{{/*
The entries of targets.kinds as [{group, resource}] (JSON), each checked against the kinds the
operator can change: files/targets/supported-kinds.yaml, generated from targets/allowed.py with
each kind's resource name (its CRD's plural, as the operator calls it).
*/}}
{{- define "tap-optimizer.targetKinds" -}}
{{- $supported := .Files.Get "files/targets/supported-kinds.yaml" | fromYaml }}
{{- $found := list }}
{{- range $index, $entry := .Values.targets.kinds }}
{{- $resource := dig $entry.apiVersion $entry.kind "" $supported }}
{{- if not $resource }}
{{- $listed := list }}
{{- range $apiVersion, $kinds := $supported }}
{{- range $kind, $_ := $kinds }}{{ $listed = append $listed (printf "%s %s" $apiVersion $kind) }}{{ end }}
{{- end }}
{{- fail (printf "targets.kinds[%d]: %s %s is not a kind the operator can change; supported: %s" $index $entry.apiVersion $entry.kind (join ", " $listed)) }}
{{- end }}
{{- $found = append $found (dict "group" (first (splitList "/" $entry.apiVersion)) "resource" $resource) }}
{{- end }}
{{- $found | toJson }}
{{- end }}

{{/* The Secrets the configured endpoints and webhooks name (all in the release namespace). */}}
{{- define "tap-optimizer.endpointSecrets" -}}
{{- $names := list }}
{{- range .Values.gates.endpoints }}
{{- range $provider, $settings := omit . "name" "namespaces" }}
{{- range $key := list "bearerTokenSecretRef" "caSecretRef" }}
{{- with (get $settings $key) }}{{ $names = append $names .name }}{{ end }}
{{- end }}
{{- end }}
{{- end }}
{{- range .Values.notifications.webhooks }}
{{- with .urlSecretRef }}{{ $names = append $names .name }}{{ end }}
{{- end }}
{{- $names | uniq | sortAlpha | toJson }}
{{- end }}

{{/*
Permissions every namespace the operator serves needs: exactly the calls of handlers.py,
cluster.py and kopf. Each rule says which code makes the call.
*/}}
{{- define "tap-optimizer.namespacedRules" -}}
# kopf watches plans and patches them (finalizer, progress annotations); handlers.py gets them.
- apiGroups: [optimization.tap.io]
  resources: [optimizationplans]
  verbs: [get, list, watch, patch]
# cluster.Cluster.write_plan_status
- apiGroups: [optimization.tap.io]
  resources: [optimizationplans/status]
  verbs: [patch]
# The targets, exactly the kinds of targets.kinds: read, and JSON-patched (lock, phase changes,
# rollback) by cluster.py.
{{- range include "tap-optimizer.targetKinds" . | fromJsonArray }}
- apiGroups: [{{ .group }}]
  resources: [{{ .resource }}]
  verbs: [get, patch]
{{- end }}
# Composed managed resources, read to see a phase Synced and Ready (cluster.get_composed).
{{- range $group, $plurals := .Files.Get "files/rbac/composed-resources.yaml" | fromYaml }}
- apiGroups: [{{ $group }}]
  resources:
    {{- toYaml $plurals | nindent 4 }}
  verbs: [get]
{{- end }}
{{- if .Values.gates.plans.allowSecretRefs }}
# A plan's own Prometheus token and CA bundle (gates.plans.allowSecretRefs; handlers._access reads
# them and uses only those labelled optimization.tap.io/gate-credential=true).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
# kopf.event / kopf.warn post core v1 Events.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* Cluster-scoped permissions: kopf's discovery and namespace observation, the dashboard's authentication. */}}
{{- define "tap-optimizer.clusterRules" -}}
# kopf notices CRDs appearing and going (it falls back to a one-time scan without this).
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
# The targets' CRDs, by name (targets.kinds): the fields their schemas make immutable.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  resourceNames:
    {{- range include "tap-optimizer.targetKinds" . | fromJsonArray }}
    - {{ .resource }}.{{ .group }}
    {{- end }}
  verbs: [get]
{{- if .Values.watchNamespaces }}
# kopf resolves the namespaces it serves from the namespace list.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- if and .Values.dashboard.enabled (eq .Values.dashboard.auth "kubernetes") }}
# /dashboard authenticates bearer tokens and authorizes each namespace's plans (webauth.py).
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
{{- end }}
{{- end }}

{{/* Permissions in the operator's own namespace: the endpoints' and webhooks' Secrets, by name; the leader's Lease. */}}
{{- define "tap-optimizer.ownRules" -}}
{{- $secrets := include "tap-optimizer.endpointSecrets" . | fromJsonArray }}
{{- if $secrets }}
# The configured endpoints' tokens and CA bundles and the webhooks' URLs, and no other Secret
# (handlers._access, handlers._read_secret).
- apiGroups: [""]
  resources: [secrets]
  resourceNames: {{ $secrets | toJson }}
  verbs: [get]
{{- end }}
{{- if include "tap-optimizer.leaderElection" . }}
# Leader election (leaderelection.py): the replicas share one Lease.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ include "tap-optimizer.fullname" . }}]
  verbs: [get, patch]
{{- end }}
{{- end }}

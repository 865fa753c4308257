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

{{/* Several replicas elect a leader through kopf peering; one replica runs standalone. */}}
{{- define "tap-optimizer.peering" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
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
# The target: read, and JSON-patched (lock, phase changes, rollback) by cluster.patch_platform.
- apiGroups: [platform.tap.io]
  resources: [tapplatforms]
  verbs: [get, patch]
# Composed managed resources, read to see a phase Synced and Ready (cluster.get_composed).
{{- range $group, $plurals := .Files.Get "files/rbac/composed-resources.yaml" | fromYaml }}
- apiGroups: [{{ $group }}]
  resources:
    {{- toYaml $plurals | nindent 4 }}
  verbs: [get]
{{- end }}
# Prometheus bearer token and CA bundle named by a plan (cluster.read_secret).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# kopf.event / kopf.warn post core v1 Events.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if and (include "tap-optimizer.peering" .) .Values.watchNamespaces }}
# kopf peering, per served namespace: watch the peers and keep ourselves alive in the object.
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [list, watch, patch]
{{- end }}
{{- end }}

{{/* Cluster-scoped permissions: kopf's discovery, namespace observation and cluster peering. */}}
{{- define "tap-optimizer.clusterRules" -}}
# kopf notices CRDs appearing and going (it falls back to a one-time scan without this).
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- if .Values.watchNamespaces }}
# kopf resolves the namespaces it serves from the namespace list.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- else if include "tap-optimizer.peering" . }}
# kopf peering across the cluster: watch the peers and keep ourselves alive in the object.
- apiGroups: [kopf.dev]
  resources: [clusterkopfpeerings]
  verbs: [list, watch, patch]
{{- end }}
{{- end }}

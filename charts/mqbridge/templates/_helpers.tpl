{{/* Chart name, at most 63 characters. */}}
{{- define "mqbridge.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name of the operator's objects: the release name if it contains the chart name. */}}
{{- define "mqbridge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mqbridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mqbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mqbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "mqbridge.labels" -}}
{{ include "mqbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "mqbridge.chart" . }}
{{- end -}}

{{- define "mqbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mqbridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mqbridge.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The namespaces the operator watches, comma-separated; empty: all of them (clusterWide). By
default only the release namespace: cluster-wide write access is an opt-in.
*/}}
{{- define "mqbridge.watchedNamespaces" -}}
{{- if not .Values.clusterWide -}}
{{- if .Values.watchNamespaces -}}{{ join "," .Values.watchNamespaces }}{{- else -}}{{ .Release.Namespace }}{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mqbridge.bridgeImage" -}}
{{- printf "%s:%s" .Values.bridgeImage.repository (.Values.bridgeImage.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
What the operator does in each watched namespace (or cluster-wide): read the two custom
resources, write their status, own the bridge objects, record events. Keep in step with
operator/k8s/paths.ts; test/integration/chart.test.ts checks the exact set.
*/}}
{{- define "mqbridge.operatorRules" -}}
- apiGroups: ["mqbridge.dev"]
  resources: ["mqttbridges", "topicbindings"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["mqbridge.dev"]
  resources: ["mqttbridges/status", "topicbindings/status"]
  verbs: ["get", "patch", "update"]
# Owned objects carry ownerReferences with blockOwnerDeletion: true; where the
# OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift, hardened clusters)
# setting that needs update on the owner's finalizers subresource.
- apiGroups: ["mqbridge.dev"]
  resources: ["mqttbridges/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["configmaps", "services", "serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# One Role and RoleBinding per bridge: its pods may get and watch their own ConfigMap. The API
# server lets the operator grant only what it holds itself (no bind or escalate verbs here).
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# Which bridge pods are ready and at which address, to ask each what config it runs
# (GET /configz) before a TopicBinding is reported Bound. No access to Pods themselves.
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
# Only to see which Secrets carry the opt-in label mqbridge.dev/allow-bridges=true (a bridge may
# mount only those). The operator requests metadata only; RBAC cannot restrict list to that.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["list", "watch"]
{{- end -}}

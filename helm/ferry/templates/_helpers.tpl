{{/*
Names, labels and small values every template shares.
*/}}

{{/* The chart's name (nameOverride). */}}
{{- define "ferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's base name for namespaced objects and cluster-scoped ones
(fullnameOverride; "ferry" when the release is called ferry).
*/}}
{{- define "ferry.fullname" -}}
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

{{/* name-version for helm.sh/chart. */}}
{{- define "ferry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of one component: (dict "ctx" $ "component" "controller").
*/}}
{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferry.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every object's labels: the selector labels plus version, managed-by, chart. */}}
{{- define "ferry.labels" -}}
{{ include "ferry.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: ferry
helm.sh/chart: {{ include "ferry.chart" .ctx }}
{{- end }}

{{/* A component's object name: (dict "ctx" $ "component" "controller") gives RELEASE-controller. */}}
{{- define "ferry.componentName" -}}
{{- printf "%s-%s" (include "ferry.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A component's ServiceAccount name: (dict "ctx" $ "component" "agent" "sa" .Values.agent.serviceAccount).
*/}}
{{- define "ferry.serviceAccountName" -}}
{{- if .sa.create }}
{{- default (include "ferry.componentName" .) .sa.name }}
{{- else }}
{{- default "default" .sa.name }}
{{- end }}
{{- end }}

{{/* An image reference: (dict "ctx" $ "image" .Values.agent.image); the tag defaults to appVersion. */}}
{{- define "ferry.image" -}}
{{- $tag := default .ctx.Chart.AppVersion .image.tag }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* The webhook's Service and the Secret holding its serving certificate. */}}
{{- define "ferry.webhookServiceName" -}}
{{- printf "%s-webhook" (include "ferry.componentName" (dict "ctx" . "component" "controller")) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ferry.webhookSecretName" -}}
{{- if eq .Values.webhook.certificates.mode "secret" }}
{{- .Values.webhook.certificates.secret.name }}
{{- else }}
{{- printf "%s-webhook-tls" (include "ferry.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The directory of a dir:// store URL (dir:///PATH gives /PATH), empty for s3://. */}}
{{- define "ferry.storeDir" -}}
{{- if hasPrefix "dir://" .Values.store.url }}
{{- trimPrefix "dir://" .Values.store.url | trimSuffix "/" }}
{{- end }}
{{- end }}

{{/*
The agent's --runc-root: where the node's runtime keeps the pod containers' runc state.
containerd: its runc handler's Root plus the CRI namespace; CRI-O: the handler's runtime_root.
*/}}
{{- define "ferry.runcRoot" -}}
{{- if eq .Values.agent.runtime "crio" }}
{{- .Values.agent.hostPaths.crio.runcRoot }}
{{- else }}
{{- printf "%s/%s" .Values.agent.hostPaths.containerd.runcRoot .Values.agent.hostPaths.containerd.namespace }}
{{- end }}
{{- end }}

{{/* "true" when dir is the state directory or below it (no mount of its own then). */}}
{{- define "ferry.underStateDir" -}}
{{- $state := trimSuffix "/" .ctx.Values.agent.hostPaths.stateDir }}
{{- if or (eq .dir $state) (hasPrefix (printf "%s/" $state) .dir) }}true{{ end }}
{{- end }}

{{/* The Secret holding the nodes' shared transfer key: the user's, or the chart's. */}}
{{- define "ferry.transferSecretName" -}}
{{- if .Values.transfer.existingSecret }}
{{- .Values.transfer.existingSecret }}
{{- else }}
{{- printf "%s-transfer-key" (include "ferry.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
The chart's name, and the release's full name (at most 63 characters: a
DNS label).
*/}}
{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portcullis.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Selector labels: what the Deployment, Service, PodDisruptionBudget select
pods by. app.kubernetes.io/name is also the Prometheus job name
(deploy/prometheus/prometheus.example.yml relabels it so).
*/}}
{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The port of a listen address (":8080", "0.0.0.0:8181", "[::]:9090").
*/}}
{{- define "portcullis.port" -}}
{{- splitList ":" . | last -}}
{{- end -}}

{{/*
The listeners, read from the configuration so that the ports can never
disagree with it. admin_listen must be written: its default is loopback,
which the kubelet's probes cannot reach.
*/}}
{{- define "portcullis.proxyPort" -}}
{{- include "portcullis.port" (default ":8080" .Values.config.server.listen) -}}
{{- end -}}

{{- define "portcullis.adminPort" -}}
{{- $admin := required "config.server.admin_listen must be set to the pod's address (e.g. \":9090\"): its default, 127.0.0.1:9090, is unreachable to the kubelet's probes and to Prometheus" .Values.config.server.admin_listen -}}
{{- $port := include "portcullis.port" $admin -}}
{{- $host := trimSuffix (printf ":%s" $port) $admin -}}
{{- if or (eq $host "localhost") (eq $host "[::1]") (hasPrefix "127." $host) -}}
{{- fail (printf "config.server.admin_listen %q is a loopback address, unreachable to the kubelet's probes and to Prometheus (config.example.yaml's is, for a laptop): write \":%s\"" $admin $port) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{- define "portcullis.decisionListen" -}}
{{- with .Values.config.decision }}{{ default "" .listen }}{{ end -}}
{{- end -}}

{{- define "portcullis.decisionGRPCListen" -}}
{{- with .Values.config.decision }}{{ default "" .grpc_listen }}{{ end -}}
{{- end -}}

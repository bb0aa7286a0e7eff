{{/*
Object names are the kit's own (hello, hello-admin, message-config-<hash>, ...), not
derived from the release name: the alerts, dashboards and runbooks select them by
these names. One release per namespace.
*/}}

{{/* Labels on every workload object (the kustomize tree's common labels). */}}
{{- define "hello.labels" -}}
{{ include "hello.labelsFor" (dict "ctx" . "component" "server") }}
{{- end -}}

{{/* The same with another app.kubernetes.io/component: (dict "ctx" $ "component" "metrics"). */}}
{{- define "hello.labelsFor" -}}
app.kubernetes.io/name: hello
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: hello
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end -}}

{{/* The only selector: never more, so NetworkPolicy peers and the HPA match every pod. */}}
{{- define "hello.selectorLabels" -}}
app.kubernetes.io/name: hello
{{- end -}}

{{/* repository:tag@digest (tag defaults to the chart's appVersion). */}}
{{- define "hello.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}:{{ $tag }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/* The MESSAGES value: one greeting per line, newline-terminated (like messages.txt). */}}
{{- define "hello.messages" -}}
{{- range .Values.messages }}{{ . }}
{{ end -}}
{{- end -}}

{{/*
message-config-<hash of its content>: a new name per change of the messages, so the
pod template changes and the pods roll (the variable is read at start only).
*/}}
{{- define "hello.messageConfigName" -}}
message-config-{{ include "hello.messages" . | sha256sum | trunc 10 }}
{{- end -}}

{{/* Ingress on and cert-manager issuing its certificate. */}}
{{- define "hello.certManager" -}}
{{- if and .Values.ingress.enabled .Values.ingress.tls.enabled .Values.ingress.tls.certManager.enabled -}}true{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "bulwark.labels" -}}
app.kubernetes.io/name: bulwark
app.kubernetes.io/part-of: bulwark
{{- range $k, $v := .Values.labels }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* Selector of bulwark's pods. */}}
{{- define "bulwark.selector" -}}
app.kubernetes.io/component: server
app.kubernetes.io/name: bulwark
{{- end -}}

{{/* The namespaceSelector that leaves out exempt namespaces. */}}
{{- define "bulwark.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
  - key: bulwark.dev/ignore
    operator: NotIn
    values: ["true"]
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
    {{- range .Values.webhook.exemptNamespaces }}
    - {{ . }}
    {{- end }}
    - {{ .Release.Namespace }}
{{- end -}}

{{/* clientConfig of a webhook; the argument is the path. */}}
{{- define "bulwark.clientConfig" -}}
clientConfig:
  {{- if .root.Values.webhook.caBundle }}
  caBundle: {{ .root.Values.webhook.caBundle | b64enc }}
  {{- end }}
  service:
    name: bulwark
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
{{- end -}}

{{/* Failure policy as the API spells it. */}}
{{- define "bulwark.failurePolicy" -}}
{{- if eq (lower .Values.webhook.failurePolicy) "fail" }}Fail{{ else }}Ignore{{ end }}
{{- end -}}

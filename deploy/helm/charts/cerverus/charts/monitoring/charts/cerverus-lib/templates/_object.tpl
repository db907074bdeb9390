{{/*
One Kubernetes object from its values entry. The template owns the structure: name,
namespace, labels, selectors, the pod template's labels, image, resources and ports, replicas,
autoscaling bounds, the workload's config and feature flags (its ConfigMaps' data); the rest of the object (probes, security contexts, volumes, policies'
rules) comes from the entry's `body`, as toYaml, the way widely used charts pass sub-objects.
Context: dict "object" <.Values.objects entry> "workload" <.Values.global.workloads entry>
"global" .Values.global.
*/}}
{{- define "cerverus-lib.object" -}}
{{- $o := .object -}}
{{- $w := .workload -}}
{{- $g := .global -}}
{{- $out := deepCopy (default (dict) $o.body) -}}
{{- include "cerverus-lib.prune" $out -}}
{{- $meta := dict "name" $o.name "namespace" (default $w.namespace $o.namespace) -}}
{{- $labels := deepCopy (default (dict) $o.labels) -}}
{{- if ne (toString $o.standardLabels) "false" -}}
{{- $labels = merge $labels (include "cerverus-lib.labels" (dict "workload" $w "global" $g) | fromYaml) -}}
{{- end -}}
{{- if $labels -}}{{- $_ := set $meta "labels" $labels -}}{{- end -}}
{{- $annotations := deepCopy (default (dict) $o.annotations) -}}
{{- /* A Job that Argo CD runs as a sync hook is a Helm hook too: after the first install's
objects exist (its ServiceAccount and secrets), and before the workloads on every upgrade. */ -}}
{{- $argoHook := get $annotations "argocd.argoproj.io/hook" -}}
{{- if eq $argoHook "PreSync" -}}
{{- $_ := set $annotations "helm.sh/hook" "post-install,pre-upgrade" -}}
{{- $_ := set $annotations "helm.sh/hook-delete-policy" "before-hook-creation" -}}
{{- else if eq $argoHook "PostSync" -}}
{{- $_ := set $annotations "helm.sh/hook" "post-install,post-upgrade" -}}
{{- $_ := set $annotations "helm.sh/hook-delete-policy" "before-hook-creation" -}}
{{- end -}}
{{- if $annotations -}}{{- $_ := set $meta "annotations" $annotations -}}{{- end -}}
{{- $_ := set $out "apiVersion" $o.apiVersion -}}
{{- $_ := set $out "kind" $o.kind -}}
{{- $_ := set $out "metadata" $meta -}}
{{- $selector := include "cerverus-lib.selectorLabels" $w | fromYaml -}}
{{- $pod := dict "workload" $w "global" $g "standardLabels" $o.podStandardLabels -}}
{{- if has $o.kind (list "Deployment" "StatefulSet" "Rollout") -}}
  {{- include "cerverus-lib.ensure" (dict "in" $out "key" "spec") -}}
  {{- include "cerverus-lib.default" (dict "in" $out.spec "key" "replicas" "value" $w.replicas) -}}
  {{- include "cerverus-lib.ensure" (dict "in" $out.spec "key" "selector") -}}
  {{- include "cerverus-lib.default" (dict "in" $out.spec.selector "key" "matchLabels" "value" $selector) -}}
  {{- include "cerverus-lib.podTemplate" (set $pod "template" $out.spec.template) -}}
{{- else if eq $o.kind "Job" -}}
  {{- include "cerverus-lib.podTemplate" (set $pod "template" $out.spec.template) -}}
{{- else if eq $o.kind "CronJob" -}}
  {{- include "cerverus-lib.podTemplate" (set $pod "template" $out.spec.jobTemplate.spec.template) -}}
{{- else if eq $o.kind "Service" -}}
  {{- include "cerverus-lib.default" (dict "in" $out.spec "key" "selector" "value" $selector) -}}
  {{- if and (eq $o.name $w.name) $w.ports (not (hasKey $out.spec "ports")) -}}
    {{- $ports := list -}}
    {{- range $p := $w.ports -}}
      {{- $port := dict "name" $p.name "port" $p.port "targetPort" $p.name "protocol" "TCP" -}}
      {{- with $p.appProtocol -}}{{- $_ := set $port "appProtocol" . -}}{{- end -}}
      {{- $ports = append $ports $port -}}
    {{- end -}}
    {{- $_ := set $out.spec "ports" $ports -}}
  {{- end -}}
{{- else if eq $o.kind "PodDisruptionBudget" -}}
  {{- include "cerverus-lib.ensure" (dict "in" $out.spec "key" "selector") -}}
  {{- include "cerverus-lib.default" (dict "in" $out.spec.selector "key" "matchLabels" "value" $selector) -}}
{{- else if eq $o.kind "ConfigMap" -}}
  {{- if and (eq $o.name $w.name) $w.config -}}
    {{- include "cerverus-lib.default" (dict "in" $out "key" "data" "value" (deepCopy $w.config)) -}}
  {{- else if and (eq $o.name (printf "%s-feature-flags" $w.name)) $w.featureFlags -}}
    {{- include "cerverus-lib.default" (dict "in" $out "key" "data" "value" (dict "flags.json" (toPrettyJson $w.featureFlags))) -}}
  {{- end -}}
{{- else if and (eq $o.kind "ScaledObject") $w.autoscaling -}}
  {{- include "cerverus-lib.default" (dict "in" $out.spec "key" "minReplicaCount" "value" $w.autoscaling.min) -}}
  {{- include "cerverus-lib.default" (dict "in" $out.spec "key" "maxReplicaCount" "value" $w.autoscaling.max) -}}
{{- end -}}
{{ toYaml $out }}
{{- end -}}

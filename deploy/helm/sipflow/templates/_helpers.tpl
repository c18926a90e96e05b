{{/* Names, labels and the few computed values every template shares. */}}

{{- define "sipflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sipflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains (include "sipflow.name" .) .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "sipflow.name" .) | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Kept short (40 above): StatefulSet pod names and their controller-revision label must fit 63. */}}

{{/* Labels of every object; objects of one role add sipflow.selectorLabels to sipflow.commonLabels. */}}
{{- define "sipflow.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "sipflow.labels" -}}
{{ include "sipflow.commonLabels" . }}
app.kubernetes.io/name: {{ include "sipflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one role; call with (dict "root" $ "component" "core" "dc" "DC1"). */}}
{{- define "sipflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sipflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- if .dc }}
sipflow.io/datacenter: {{ .dc }}
{{- end }}
{{- end -}}

{{/* DC1 -> dc1: the suffix of per-datacenter objects. */}}
{{- define "sipflow.dcSlug" -}}
{{- . | lower | replace "_" "-" -}}
{{- end -}}

{{- define "sipflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "sipflow.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- printf "%s-secrets" (include "sipflow.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "sipflow.namespace" -}}
{{- .Release.Namespace -}}
{{- end -}}

{{/* Headless Service of one DC's cores / Cassandra nodes; call with (dict "root" $ "dc" "DC1"). */}}
{{- define "sipflow.coreHeadless" -}}
{{- printf "%s-core-%s" (include "sipflow.fullname" .root) (include "sipflow.dcSlug" .dc) -}}
{{- end -}}
{{- define "sipflow.cassandraName" -}}
{{- printf "%s-cassandra-%s" (include "sipflow.fullname" .root) (include "sipflow.dcSlug" .dc) -}}
{{- end -}}

{{/* HOST:PORT of every core pod of one DC, comma-separated (edge --core). */}}
{{- define "sipflow.coreHosts" -}}
{{- $root := .root -}}
{{- $svc := include "sipflow.coreHeadless" . -}}
{{- $hosts := list -}}
{{- range $i := until (int .replicas) -}}
{{- $hosts = append $hosts (printf "%s-%d.%s.%s.svc.cluster.local:%d" $svc $i $svc $root.Release.Namespace (int $root.Values.core.udpPort)) -}}
{{- end -}}
{{- join "," $hosts -}}
{{- end -}}

{{/* Cassandra contact points of one DC (core --cassandra). */}}
{{- define "sipflow.cassandraHosts" -}}
{{- $root := .root -}}
{{- if $root.Values.cassandra.enabled -}}
{{- $svc := include "sipflow.cassandraName" . -}}
{{- $hosts := list -}}
{{- range $i := until (int .replicas) -}}
{{- $hosts = append $hosts (printf "%s-%d.%s.%s.svc.cluster.local:9042" $svc $i $svc $root.Release.Namespace) -}}
{{- end -}}
{{- join "," $hosts -}}
{{- else -}}
{{- $ext := get $root.Values.cassandra.external .dc -}}
{{- if not $ext -}}{{- fail (printf "cassandra.enabled is false: set cassandra.external.%s to its contact points" .dc) -}}{{- end -}}
{{- join "," $ext -}}
{{- end -}}
{{- end -}}

{{/* Seeds: pod 0 of every DC, plus extra seeds of other sites. */}}
{{- define "sipflow.cassandraSeeds" -}}
{{- $root := . -}}
{{- $seeds := list -}}
{{- range $dc := .Values.datacenters -}}
{{- $svc := include "sipflow.cassandraName" (dict "root" $root "dc" $dc.name) -}}
{{- $seeds = append $seeds (printf "%s-0.%s.%s.svc.cluster.local" $svc $svc $root.Release.Namespace) -}}
{{- end -}}
{{- join "," (concat $seeds .Values.cassandra.extraSeeds) -}}
{{- end -}}

{{/* NetworkTopologyStrategy replication for core --replication: DC1:3,DC2:3. */}}
{{- define "sipflow.replication" -}}
{{- $parts := list -}}
{{- range $dc := .Values.datacenters -}}
{{- $parts = append $parts (printf "%s:%d" $dc.name (int $.Values.core.replicationFactor)) -}}
{{- end -}}
{{- join "," $parts -}}
{{- end -}}

{{- define "sipflow.partitionerClass" -}}
{{- if eq .Values.cassandra.partitioner "murmur3" -}}org.apache.cassandra.dht.Murmur3Partitioner
{{- else if eq .Values.cassandra.partitioner "random" -}}org.apache.cassandra.dht.RandomPartitioner
{{- else -}}{{- fail "cassandra.partitioner must be murmur3 or random" -}}
{{- end -}}
{{- end -}}

{{/* rtpengine's ng address as seen from a core: loopback when both share the node's network. */}}
{{- define "sipflow.rtpengineNgHost" -}}
{{- if eq .Values.core.addressing "hostNetwork" -}}127.0.0.1{{- else -}}$(HOST_IP){{- end -}}
{{- end -}}

{{/* Environment every sipflow container gets: its addresses and the cluster secrets. */}}
{{- define "sipflow.commonEnv" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: HOST_IP
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
- name: SIPFLOW_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "sipflow.secretName" . }}
      key: secret
- name: SIPFLOW_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "sipflow.secretName" . }}
      key: admin-token
- name: SIPFLOW_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{/*
Readiness through /readyz. The admin server wants the bearer token everywhere but on /healthz and
an httpGet probe cannot read a Secret, so the probe asks from inside the container with node's fetch.
*/}}
{{- define "sipflow.readyzProbe" -}}
exec:
  command:
    - node
    - -e
    - {{ printf "fetch('http://127.0.0.1:%d/readyz',{headers:{authorization:'Bearer '+(process.env.SIPFLOW_ADMIN_TOKEN||'')},signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" (int .port) | quote }}
periodSeconds: 10
timeoutSeconds: 4
failureThreshold: 2
successThreshold: 1
{{- end -}}

{{- define "sipflow.healthzProbe" -}}
httpGet:
  path: /healthz
  port: {{ .port }}
periodSeconds: 10
timeoutSeconds: 3
failureThreshold: {{ .failureThreshold | default 3 }}
{{- end -}}

{{/*
The chart name, overridable.
*/}}
{{- define "blindvault.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name used as a prefix for every resource: at most 63 characters (DNS label).
Kept to 55 so that suffixes such as "-migrate" still fit.
*/}}
{{- define "blindvault.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "blindvault.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "blindvault.labels" -}}
helm.sh/chart: {{ include "blindvault.chart" . }}
{{ include "blindvault.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The labels that identify this release's pods (without a component).
*/}}
{{- define "blindvault.selectorLabels" -}}
app.kubernetes.io/name: {{ include "blindvault.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The server pods: what the Service, the PDB, the NetworkPolicy and the ServiceMonitor select.
The migration Job's pods carry component=migration instead, so they never receive traffic.
*/}}
{{- define "blindvault.serverSelectorLabels" -}}
{{ include "blindvault.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "blindvault.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "blindvault.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The migration Job's ServiceAccount: see migration.serviceAccountName in values.yaml.
*/}}
{{- define "blindvault.migrationServiceAccountName" -}}
{{- if .Values.migration.serviceAccountName }}
{{- .Values.migration.serviceAccountName }}
{{- else if .Values.serviceAccount.create }}
{{- "default" }}
{{- else }}
{{- include "blindvault.serviceAccountName" . }}
{{- end }}
{{- end }}

{{- define "blindvault.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The seconds a stopping pod gets: preStop sleep + drain + margin, unless set explicitly.
*/}}
{{- define "blindvault.terminationGracePeriodSeconds" -}}
{{- $drain := add (int .Values.preStopSleepSeconds) (int .Values.config.shutdownTimeoutSeconds) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $drain 10 }}
{{- else }}
{{- if le (int .Values.terminationGracePeriodSeconds) $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than preStopSleepSeconds + config.shutdownTimeoutSeconds (%d), or in-flight requests are killed" (int .Values.terminationGracePeriodSeconds) $drain) }}
{{- end }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
The non-secret settings as a map of environment variables: the ConfigMap's data, used by
both the release's ConfigMap and the migration hook's copy. Integers go through int64
because Helm reads numbers as float64 (10737418240 would otherwise print as 1.073741824e+10).
Unset (null / empty) settings are left out, so the server's own default applies.
*/}}
{{- define "blindvault.configData" -}}
{{- $c := .Values.config }}
{{- $env := dict }}
{{- $_ := set $env "BLINDVAULT_LISTEN" (printf "%s:%d" $c.listenHost (int .Values.containerPorts.http)) }}
{{- if .Values.metrics.separatePort.enabled }}
{{- $_ := set $env "BLINDVAULT_METRICS_LISTEN" (printf "%s:%d" $c.listenHost (int .Values.metrics.separatePort.port)) }}
{{- end }}
{{- $_ := set $env "BLINDVAULT_STORAGE_URL" (required "config.storageUrl is required: s3://bucket[/prefix]" $c.storageUrl) }}
{{- with $c.s3.endpointUrl }}{{ $_ := set $env "AWS_ENDPOINT_URL" . }}{{ end }}
{{- with $c.s3.region }}{{ $_ := set $env "AWS_REGION" . }}{{ end }}
{{- with $c.s3.publicEndpointUrl }}{{ $_ := set $env "AWS_PUBLIC_ENDPOINT_URL" . }}{{ end }}
{{- $_ := set $env "AWS_ALLOW_HTTP" (ternary "true" "false" (eq (toString $c.s3.allowHttp) "true")) }}
{{- $_ := set $env "AWS_UNSIGNED_PAYLOAD" (ternary "true" "false" (eq (toString $c.s3.unsignedPayload) "true")) }}
{{- $ints := dict
    "BLINDVAULT_DATABASE_MAX_CONNECTIONS" $c.database.maxConnections
    "BLINDVAULT_MIN_KDF_ITERATIONS" $c.minKdfIterations
    "BLINDVAULT_ARGON2_M_KIB" $c.argon2.memoryKiB
    "BLINDVAULT_ARGON2_T" $c.argon2.iterations
    "BLINDVAULT_ARGON2_P" $c.argon2.parallelism
    "BLINDVAULT_ARGON2_CONCURRENCY" $c.argon2.concurrency
    "BLINDVAULT_ARGON2_QUEUE" $c.argon2.queue
    "BLINDVAULT_LOGIN_MAX_FAILURES_PER_ACCOUNT" $c.login.maxFailuresPerAccount
    "BLINDVAULT_LOGIN_MAX_FAILURES_PER_ADDRESS" $c.login.maxFailuresPerAddress
    "BLINDVAULT_MAX_JSON_VAULT_BYTES" $c.maxJsonVaultBytes
    "BLINDVAULT_MAX_VAULT_BYTES" $c.maxVaultBytes
    "BLINDVAULT_QUOTA_BYTES" $c.quotaBytes
    "BLINDVAULT_QUOTA_VAULTS" $c.quotaVaults
    "BLINDVAULT_CACHE_BYTES" $c.cacheBytes
    "BLINDVAULT_KEEP_REVISIONS" $c.keepRevisions
    "BLINDVAULT_BACKUP_KEEP" $c.backupKeep }}
{{- range $name, $value := $ints }}
{{- if not (kindIs "invalid" $value) }}
{{- $_ := set $env $name (toString (int64 $value)) }}
{{- end }}
{{- end }}
{{- $strings := dict
    "BLINDVAULT_DATABASE_MAX_LIFETIME" $c.database.maxLifetime
    "BLINDVAULT_DATABASE_ACQUIRE_TIMEOUT" $c.database.acquireTimeout
    "BLINDVAULT_REGISTRATION" $c.registration
    "BLINDVAULT_ACCESS_TTL" $c.accessTtl
    "BLINDVAULT_REFRESH_TTL" $c.refreshTtl
    "BLINDVAULT_LOGIN_FAILURE_WINDOW" $c.login.failureWindow
    "BLINDVAULT_DELETE_GRACE" $c.deleteGrace
    "BLINDVAULT_DIRECT_URL_TTL" $c.directUrlTtl
    "BLINDVAULT_UPLOAD_TIMEOUT" $c.uploadTimeout
    "BLINDVAULT_KEEP_FOR" $c.keepFor
    "BLINDVAULT_TRASH_FOR" $c.trashFor
    "BLINDVAULT_CHANGES_FOR" $c.changesFor
    "BLINDVAULT_AUDIT_FOR" $c.auditFor
    "BLINDVAULT_PUBLIC_URL" $c.publicUrl
    "BLINDVAULT_FEED_HEARTBEAT" $c.feedHeartbeat
    "BLINDVAULT_FEED_MAX_WAIT" $c.feedMaxWait
    "BLINDVAULT_SWEEP_INTERVAL" $c.sweepInterval
    "BLINDVAULT_LOG_FORMAT" $c.logFormat
    "RUST_LOG" $c.logLevel }}
{{- range $name, $value := $strings }}
{{- if $value }}
{{- $_ := set $env $name (toString $value) }}
{{- end }}
{{- end }}
{{- with $c.trustedProxies }}
{{- $_ := set $env "BLINDVAULT_TRUSTED_PROXIES" (join "," .) }}
{{- end }}
{{- $_ := set $env "BLINDVAULT_SHUTDOWN_TIMEOUT" (printf "%ds" (int $c.shutdownTimeoutSeconds)) }}
{{- toYaml $env }}
{{- end }}

{{/*
The secret settings, in the order they are injected: list of
{env, key (in the chart's Secret), value, existing name, existing key, required}.
*/}}
{{- define "blindvault.secretSpecs" -}}
{{- $s := .Values.secrets }}
{{- $specs := list
    (dict "env" "BLINDVAULT_DATABASE_URL" "key" "database-url" "path" "secrets.databaseUrl" "spec" $s.databaseUrl "required" true)
    (dict "env" "BLINDVAULT_JWT_SECRET" "key" "jwt-secret" "path" "secrets.jwtSecret" "spec" $s.jwtSecret "required" true)
    (dict "env" "BLINDVAULT_SECRETS_KEY" "key" "secrets-key" "path" "secrets.secretsKey" "spec" $s.secretsKey "required" true)
    (dict "env" "AWS_ACCESS_KEY_ID" "key" "aws-access-key-id" "path" "secrets.awsAccessKeyId" "spec" $s.awsAccessKeyId "required" false)
    (dict "env" "AWS_SECRET_ACCESS_KEY" "key" "aws-secret-access-key" "path" "secrets.awsSecretAccessKey" "spec" $s.awsSecretAccessKey "required" false) }}
{{- $out := list }}
{{- range $specs }}
{{- $existing := .spec.existingSecret | default dict }}
{{- if $existing.name }}
{{- if not $existing.key }}
{{- fail (printf "%s.existingSecret.key is required when %s.existingSecret.name is set" .path .path) }}
{{- end }}
{{- $out = append $out (dict "env" .env "secretName" $existing.name "secretKey" $existing.key "chartManaged" false) }}
{{- else if .spec.value }}
{{- $out = append $out (dict "env" .env "secretKey" .key "value" (toString .spec.value) "chartManaged" true) }}
{{- else if .required }}
{{- fail (printf "%s is required: set %s.value, or %s.existingSecret.name and .key" .env .path .path) }}
{{- end }}
{{- end }}
{{- toJson (dict "items" $out) }}
{{- end }}

{{/*
Checks that do not fit in the JSON schema.
*/}}
{{- define "blindvault.validate" -}}
{{- $jwt := .Values.secrets.jwtSecret }}
{{- if and (not $jwt.existingSecret.name) $jwt.value (lt (len (toString $jwt.value)) 32) }}
{{- fail "secrets.jwtSecret.value must be at least 32 bytes (e.g. openssl rand -hex 32)" }}
{{- end }}
{{- $sk := .Values.secrets.secretsKey }}
{{- if and (not $sk.existingSecret.name) $sk.value (not (regexMatch "^[A-Za-z0-9+/]{43}=?$" (toString $sk.value))) }}
{{- fail "secrets.secretsKey.value must be 32 bytes in base64 (openssl rand -base64 32)" }}
{{- end }}
{{- $db := .Values.secrets.databaseUrl }}
{{- if and (not $db.existingSecret.name) $db.value (not (regexMatch "^postgres(ql)?://" (toString $db.value))) }}
{{- fail "secrets.databaseUrl.value must be a postgres:// URL: the chart runs stateless replicas, which cannot share SQLite" }}
{{- end }}
{{- $akid := .Values.secrets.awsAccessKeyId }}
{{- $asak := .Values.secrets.awsSecretAccessKey }}
{{- if ne (or $akid.value $akid.existingSecret.name | empty) (or $asak.value $asak.existingSecret.name | empty) }}
{{- fail "secrets.awsAccessKeyId and secrets.awsSecretAccessKey must be set together (or both left empty to use the pod's identity)" }}
{{- end }}
{{- if and .Values.metrics.separatePort.enabled (eq (int .Values.metrics.separatePort.port) (int .Values.containerPorts.http)) }}
{{- fail "metrics.separatePort.port must differ from containerPorts.http" }}
{{- end }}
{{- end }}

{{/*
The chart-created Secret's data (base64), or nothing when every secret is an existingSecret.
*/}}
{{- define "blindvault.secretData" -}}
{{- range (include "blindvault.secretSpecs" . | fromJson).items }}
{{- if .chartManaged }}
{{ .secretKey }}: {{ .value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The env / envFrom of the blindvault container. Arguments: a dict with "root" (the chart
context), "configMap" and "secret" (the names of the ConfigMap and of the chart-managed
Secret to read: the release's own, or the migration hook's copies).
*/}}
{{- define "blindvault.containerEnv" -}}
{{- $root := .root }}
{{- $secretName := .secret }}
envFrom:
  - configMapRef:
      name: {{ .configMap }}
{{- with $root.Values.extraEnvFrom }}
{{ toYaml . | indent 2 }}
{{- end }}
env:
{{- range (include "blindvault.secretSpecs" $root | fromJson).items }}
  - name: {{ .env }}
    valueFrom:
      secretKeyRef:
        name: {{ ternary $secretName .secretName .chartManaged }}
        key: {{ .secretKey }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- end }}

{{/*
Pod-level settings shared by the server and the migration Job.
*/}}
{{- define "blindvault.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{ toYaml . }}
{{- end }}
{{- end }}

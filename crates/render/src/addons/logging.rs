//! Helm values of the tracing and logging charts (see [`super::CHARTS`]): the OpenTelemetry
//! Collector and Jaeger (cerverus-monitoring), Fluent Bit (node agents), OpenSearch and its
//! Dashboards (cerverus-logging). The objects around them (certificates, policies, the index
//! lifecycle bootstrap, monitors and alerts) are `kubernetes::{tracing, logging}`.
//!
//! Decisions, with their reasons:
//! - **Jaeger 4.x is Jaeger v2**: one Deployment (collector + query) configured by `userconfig`
//!   (an OpenTelemetry Collector config). Its default is in-memory storage, lost on every restart
//!   and per replica; here it stores spans in the log store's OpenSearch (`traces-jaeger-*`
//!   indices, kept per the `traces` ISM policy), so replicas share one store and survive restarts.
//! - **Sampling** is decided at the head (Istio's tracing sampling percentage, the SDKs'
//!   parent-based ratio); the collector keeps every span it receives so traces stay whole.
//! - **OpenSearch security** stays on, with the log store's own certificates instead of the demo
//!   ones and no internal users: clients authenticate with client certificates (CN → role).
//!   OpenSearch Dashboards runs without its security plugin (it needs a user login); its server
//!   identity is read-only on the data, and who reaches Dashboards is decided by Kubernetes RBAC
//!   (port-forward into cerverus-logging: it has no Service outside the cluster).
//! - **vm.max_map_count**: every node sets 262144 in its user data (`terraform/modules/eks`
//!   `USER_DATA`), so no privileged sysctl init container; with `persistence.enableInitChown`
//!   off (the volume's group comes from `fsGroup`) every OpenSearch pod passes PSS restricted.

use cerverus_model::{Env, Platform};
use serde_json::{Value, json};

use super::{LOGGING_NAMESPACE, opensearch_service, otel_collector_service, restricted};
use crate::kubernetes::logging::{
    self as log, CLIENT_TLS_DIR, DEBUG_INDEX, DEFAULT_INDEX, ERROR_LINES_METRIC, FLUENT_BIT_HTTP_PORT,
    FLUENT_BIT_LOG_METRICS_PORT, FLUENT_BIT_LOG_METRICS_PORT_NAME, INDEX_KEY, Parser,
};
use crate::kubernetes::tracing::{
    OTLP_GRPC_PORT, OTLP_HTTP_PORT, PROMETHEUS_EXPORTER_PORT, PROMETHEUS_EXPORTER_PORT_NAME, ZIPKIN_PORT,
    jaeger_otlp_endpoint,
};

/// The collector image: the contrib distribution (its Prometheus and Zipkin components), at the
/// chart's appVersion (0.170.0 → 0.158.0). The chart requires `image.repository`.
pub const COLLECTOR_IMAGE: (&str, &str) = ("otel/opentelemetry-collector-contrib", "0.158.0");

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(_platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    match name {
        "opentelemetry-collector" => Some(collector(env)),
        "jaeger" => Some(jaeger(env)),
        "fluent-bit" => Some(fluent_bit(env)),
        "opensearch" => Some(opensearch(env)),
        "opensearch-dashboards" => Some(dashboards(env)),
        _ => None,
    }
}

fn prod(env: &Env) -> bool {
    env.is_production()
}

/// Pod security context for a restricted namespace, running as `uid`.
fn pod_security(uid: i64) -> Value {
    json!({"runAsNonRoot": true, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid, "seccompProfile": {"type": "RuntimeDefault"}})
}

/// Spread replicas over zones (and nodes).
fn zone_spread(labels: &[(&str, &str)]) -> Value {
    let match_labels: serde_json::Map<String, Value> =
        labels.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect();
    json!([
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": match_labels}},
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": match_labels}}
    ])
}

/// Where the collector's pod listens (the chart's `MY_POD_IP` env).
fn pod_ip(port: u16) -> String {
    format!("${{env:MY_POD_IP}}:{port}")
}

fn collector(env: &Env) -> Value {
    let svc = otel_collector_service();
    let port = |p: u16, app_protocol: Option<&str>| {
        let mut v = json!({"enabled": true, "containerPort": p, "servicePort": p, "protocol": "TCP"});
        if let Some(a) = app_protocol {
            v["appProtocol"] = json!(a);
        }
        v
    };
    json!({
        "fullnameOverride": svc.name,
        "mode": "deployment",
        "image": {"repository": COLLECTOR_IMAGE.0, "tag": COLLECTOR_IMAGE.1},
        "command": {"name": "otelcol-contrib"},
        "replicaCount": if prod(env) { 2 } else { 1 },
        "podDisruptionBudget": {"enabled": prod(env), "minAvailable": 1},
        "topologySpreadConstraints": zone_spread(&crate::kubernetes::tracing::COLLECTOR_POD),
        "podSecurityContext": pod_security(10001),
        "securityContext": restricted(),
        // The memory limiter works from the limit (GOMEMLIMIT too, `useGOMEMLIMIT`).
        "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        "ports": {
            "otlp": port(OTLP_GRPC_PORT, Some("grpc")),
            "otlp-http": port(OTLP_HTTP_PORT, None),
            "zipkin": port(ZIPKIN_PORT, None),
            "jaeger-compact": {"enabled": false},
            "jaeger-thrift": {"enabled": false},
            "jaeger-grpc": {"enabled": false},
            "metrics": {"enabled": true, "containerPort": 8888, "servicePort": 8888, "protocol": "TCP"},
            (PROMETHEUS_EXPORTER_PORT_NAME): port(PROMETHEUS_EXPORTER_PORT, None)
        },
        "config": {
            // The chart's defaults also define Jaeger and Prometheus receivers and a debug
            // exporter; null removes them (Helm drops null keys when it merges values).
            "receivers": {
                "jaeger": null,
                "prometheus": null,
                "otlp": {"protocols": {
                    "grpc": {"endpoint": pod_ip(OTLP_GRPC_PORT)},
                    "http": {"endpoint": pod_ip(OTLP_HTTP_PORT)}
                }},
                "zipkin": {"endpoint": pod_ip(ZIPKIN_PORT)}
            },
            "exporters": {
                "debug": null,
                // Jaeger's OTLP receiver, inside the namespace (plain gRPC: the hop never leaves
                // cerverus-monitoring, whose policies admit only its own pods).
                "otlp/jaeger": {
                    "endpoint": jaeger_otlp_endpoint(),
                    "tls": {"insecure": true},
                    "sending_queue": {"enabled": true, "queue_size": 5000},
                    "retry_on_failure": {"enabled": true, "max_elapsed_time": "300s"}
                },
                // Metrics pushed over OTLP (Airflow's `AIRFLOW__METRICS__OTEL_*`) become
                // Prometheus series here: `airflow.dagrun.duration.failed` →
                // `airflow_dagrun_duration_failed{dag_id,run_type}`, counters get `_total`.
                "prometheus": {
                    "endpoint": pod_ip(PROMETHEUS_EXPORTER_PORT),
                    "metric_expiration": "30m",
                    "resource_to_telemetry_conversion": {"enabled": false}
                }
            },
            "service": {"pipelines": {
                "logs": null,
                "traces": {"receivers": ["otlp", "zipkin"], "processors": ["memory_limiter", "batch"], "exporters": ["otlp/jaeger"]},
                "metrics": {"receivers": ["otlp"], "processors": ["memory_limiter", "batch"], "exporters": ["prometheus"]}
            }}
        }
    })
}

fn jaeger(env: &Env) -> Value {
    let os = opensearch_service();
    let id = log::jaeger_identity();
    let replicas = log::index_replicas(env);
    let index = |shards: u32| json!({"date_layout": "2006-01-02", "rollover_frequency": "day", "shards": shards, "replicas": replicas});
    let tls = CLIENT_TLS_DIR;
    json!({
        "jaeger": {
            "replicas": if prod(env) { 2 } else { 1 },
            // The chart's default is Recreate (for in-memory/Badger storage); with a shared
            // store a rolling update keeps traces flowing.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "podSecurityContext": pod_security(10001),
            "securityContext": restricted(),
            "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
            "topologySpreadConstraints": zone_spread(&crate::kubernetes::logging::JAEGER_POD),
            "extraVolumes": [{"name": "opensearch-client-tls", "secret": {"secretName": id.secret}}],
            "extraVolumeMounts": [{"name": "opensearch-client-tls", "mountPath": tls, "readOnly": true}]
        },
        "userconfig": {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"]}},
                "telemetry": {
                    "resource": {"service.name": "jaeger"},
                    "metrics": {"level": "detailed", "readers": [{"pull": {"exporter": {"prometheus": {"host": "0.0.0.0", "port": 8888}}}}]}
                }
            },
            "extensions": {
                "healthcheckv2": {"use_v2": true, "http": {"endpoint": "0.0.0.0:13133"}},
                "jaeger_query": {"storage": {"traces": "opensearch"}},
                "jaeger_storage": {"backends": {"opensearch": {"opensearch": {
                    "server_urls": [format!("https://{}.{}.svc:{}", os.name, os.namespace, os.port)],
                    // Re-read when cert-manager renews the client certificate.
                    "tls": {
                        "ca_file": format!("{tls}/ca.crt"),
                        "cert_file": format!("{tls}/tls.crt"),
                        "key_file": format!("{tls}/tls.key"),
                        "reload_interval": "1h"
                    },
                    // `traces-jaeger-span-YYYY-MM-DD`…: the `traces` ISM policy deletes them.
                    "indices": {"index_prefix": "traces", "spans": index(1), "services": index(1), "dependencies": index(1)}
                }}}}
            },
            "receivers": {"otlp": {"protocols": {
                "grpc": {"endpoint": format!("0.0.0.0:{OTLP_GRPC_PORT}")},
                "http": {"endpoint": format!("0.0.0.0:{OTLP_HTTP_PORT}")}
            }}},
            "processors": {"batch": {}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "opensearch"}}
        }
    })
}

/// One section of Fluent Bit's classic configuration.
struct Section {
    kind: &'static str,
    entries: Vec<(String, String)>,
}

impl Section {
    fn new(kind: &'static str) -> Self {
        Section { kind, entries: Vec::new() }
    }
    fn kv(mut self, k: &str, v: impl Into<String>) -> Self {
        self.entries.push((k.to_string(), v.into()));
        self
    }
}

/// Prints sections in Fluent Bit's classic format (`[KIND]`, then `key value` lines indented),
/// a blank line between sections and one newline at the end (a YAML literal block, `|`).
fn print(sections: &[Section]) -> String {
    let blocks: Vec<String> = sections
        .iter()
        .map(|s| {
            let width = s.entries.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            let mut out = format!("[{}]\n", s.kind);
            for (k, v) in &s.entries {
                out.push_str(&format!("    {k:width$} {v}\n"));
            }
            out
        })
        .collect();
    blocks.join("\n")
}

fn parser_section(p: &Parser) -> Section {
    let mut s = Section::new("PARSER").kv("Name", p.name).kv("Format", p.format);
    if let Some(r) = p.regex {
        s = s.kv("Regex", r);
    }
    if let Some(k) = p.time_key {
        s = s.kv("Time_Key", k).kv("Time_Keep", "On");
    }
    if let Some(f) = p.time_format {
        s = s.kv("Time_Format", f);
    }
    s
}

/// The index of the mesh's audit log (security class).
pub const MESH_AUDIT_INDEX: &str = "logs-security-mesh-audit";

/// The tag of the log-derived metrics (routed to the Prometheus exporter only).
const LOG_METRICS_TAG: &str = "cerverus_log_metrics";

/// The filter chain: Kubernetes metadata; then per route its parser and its index; debug lines of
/// applications to the debug index; everything unclaimed to the platform index; then the error
/// counter (after parsing, so `level` exists).
fn fluent_bit_filters(env: &Env) -> Vec<Section> {
    let mut f = vec![
        Section::new("FILTER")
            .kv("Name", "kubernetes")
            .kv("Match", "kube.*")
            .kv("Merge_Log", "Off")
            .kv("Keep_Log", "On")
            .kv("K8S-Logging.Parser", "Off")
            .kv("K8S-Logging.Exclude", "On")
            .kv("Labels", "On")
            .kv("Annotations", "Off"),
    ];
    for r in log::routes(env) {
        f.push(
            Section::new("FILTER")
                .kv("Name", "parser")
                .kv("Match_Regex", r.match_regex())
                .kv("Key_Name", "log")
                .kv("Parser", r.parser)
                .kv("Reserve_Data", "On"),
        );
        f.push(
            Section::new("FILTER")
                .kv("Name", "modify")
                .kv("Match_Regex", r.match_regex())
                .kv("Set", format!("{INDEX_KEY} {}", r.index)),
        );
    }
    // The mesh's audit log of the public API (Istio's `audit-log` provider writes it through the
    // sidecar, labelled `log_type: audit`) is a security record, not an access log.
    f.push(
        Section::new("FILTER")
            .kv("Name", "modify")
            .kv("Match", "kube.*")
            .kv("Condition", format!("Key_value_equals {INDEX_KEY} logs-access"))
            .kv("Condition", "Key_value_equals log_type audit")
            .kv("Set", format!("{INDEX_KEY} {MESH_AUDIT_INDEX}")),
    );
    f.push(
        Section::new("FILTER")
            .kv("Name", "modify")
            .kv("Match", "kube.*")
            .kv("Condition", format!("Key_value_matches {INDEX_KEY} ^logs-app-"))
            .kv("Condition", "Key_value_matches level ^(debug|DEBUG|Debug|trace|TRACE|Trace)$")
            .kv("Set", format!("{INDEX_KEY} {DEBUG_INDEX}")),
    );
    f.push(
        Section::new("FILTER")
            .kv("Name", "modify")
            .kv("Match", "kube.*")
            .kv("Add", format!("{INDEX_KEY} {DEFAULT_INDEX}")),
    );
    let metric = ERROR_LINES_METRIC.trim_start_matches("cerverus_logs_");
    f.push(
        Section::new("FILTER")
            .kv("Name", "log_to_metrics")
            .kv("Match", "kube.*")
            .kv("Tag", LOG_METRICS_TAG)
            .kv("Metric_mode", "counter")
            .kv("Metric_namespace", "cerverus")
            .kv("Metric_subsystem", "logs")
            .kv("Metric_name", metric)
            .kv("Metric_description", "Log lines at level error or above, per container")
            .kv("Kubernetes_mode", "On")
            .kv("Regex", "level ^(error|ERROR|Error|fatal|FATAL|Fatal|critical|CRITICAL|Critical)$"),
    );
    f
}

fn fluent_bit(env: &Env) -> Value {
    let os = opensearch_service();
    let id = log::fluent_bit_identity();
    let service = print(&[Section::new("SERVICE")
        .kv("Daemon", "Off")
        .kv("Flush", "1")
        .kv("Log_Level", "info")
        .kv("Parsers_File", "/fluent-bit/etc/parsers.conf")
        .kv("Parsers_File", "/fluent-bit/etc/conf/custom_parsers.conf")
        .kv("HTTP_Server", "On")
        .kv("HTTP_Listen", "0.0.0.0")
        .kv("HTTP_Port", FLUENT_BIT_HTTP_PORT.to_string())
        .kv("Health_Check", "On")]);
    // Offsets survive restarts in a database on the node (hostPath /var/log), so a restarted
    // agent neither re-ships nor skips lines.
    let inputs = print(&[Section::new("INPUT")
        .kv("Name", "tail")
        .kv("Path", "/var/log/containers/*.log")
        .kv("multiline.parser", "cri")
        .kv("Tag", "kube.*")
        .kv("DB", "/var/log/fluent-bit-tail.db")
        .kv("Mem_Buf_Limit", "50MB")
        .kv("Skip_Long_Lines", "On")
        .kv("Refresh_Interval", "10")]);
    let outputs = print(&[
        Section::new("OUTPUT")
            .kv("Name", "opensearch")
            .kv("Match", "kube.*")
            .kv("Host", format!("{}.{}.svc", os.name, os.namespace))
            .kv("Port", os.port.to_string())
            .kv("tls", "On")
            .kv("tls.verify", "On")
            .kv("tls.ca_file", format!("{CLIENT_TLS_DIR}/ca.crt"))
            .kv("tls.crt_file", format!("{CLIENT_TLS_DIR}/tls.crt"))
            .kv("tls.key_file", format!("{CLIENT_TLS_DIR}/tls.key"))
            .kv("Logstash_Format", "On")
            .kv("Logstash_Prefix", DEFAULT_INDEX)
            .kv("Logstash_Prefix_Key", format!("${INDEX_KEY}"))
            .kv("Logstash_DateFormat", "%Y.%m.%d")
            .kv("Suppress_Type_Name", "On")
            .kv("Replace_Dots", "On")
            .kv("Generate_ID", "On")
            .kv("Trace_Error", "On")
            .kv("Retry_Limit", "False"),
        Section::new("OUTPUT")
            .kv("Name", "prometheus_exporter")
            .kv("Match", LOG_METRICS_TAG)
            .kv("Host", "0.0.0.0")
            .kv("Port", FLUENT_BIT_LOG_METRICS_PORT.to_string()),
    ]);
    let parsers: Vec<Section> = log::parsers().iter().map(parser_section).collect();
    json!({
        "kind": "DaemonSet",
        // Runs as root to read every pod's log files (root-owned, 0640) and keep its offsets
        // under /var/log; no capability, no privilege escalation, read-only image.
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}],
        "testFramework": {"enabled": false},
        "extraPorts": [{"name": FLUENT_BIT_LOG_METRICS_PORT_NAME, "port": FLUENT_BIT_LOG_METRICS_PORT, "containerPort": FLUENT_BIT_LOG_METRICS_PORT, "protocol": "TCP"}],
        "extraVolumes": [{"name": "opensearch-client-tls", "secret": {"secretName": id.secret}}],
        "extraVolumeMounts": [{"name": "opensearch-client-tls", "mountPath": CLIENT_TLS_DIR, "readOnly": true}],
        // The chart's default also mounts /var/lib/docker/containers (Docker's log files);
        // EKS nodes run containerd, whose logs are under /var/log/pods.
        "daemonSetVolumes": [
            {"name": "varlog", "hostPath": {"path": "/var/log"}},
            {"name": "etcmachineid", "hostPath": {"path": "/etc/machine-id", "type": "File"}}
        ],
        "daemonSetVolumeMounts": [
            {"name": "varlog", "mountPath": "/var/log"},
            {"name": "etcmachineid", "mountPath": "/etc/machine-id", "readOnly": true}
        ],
        "config": {
            "service": service,
            "inputs": inputs,
            "filters": print(&fluent_bit_filters(env)),
            "outputs": outputs,
            "customParsers": print(&parsers)
        }
    })
}

/// OpenSearch's configuration file: TLS from the node certificate, client-certificate
/// authentication, the nodes' DN.
fn opensearch_yml() -> String {
    let dir = "certs";
    let node = log::node_identity();
    let lines = [
        format!("cluster.name: {}", OPENSEARCH_CLUSTER),
        "network.host: 0.0.0.0".to_string(),
        format!("plugins.security.ssl.transport.pemcert_filepath: {dir}/tls.crt"),
        format!("plugins.security.ssl.transport.pemkey_filepath: {dir}/tls.key"),
        format!("plugins.security.ssl.transport.pemtrustedcas_filepath: {dir}/ca.crt"),
        "plugins.security.ssl.transport.enforce_hostname_verification: false".to_string(),
        "plugins.security.ssl.http.enabled: true".to_string(),
        format!("plugins.security.ssl.http.pemcert_filepath: {dir}/tls.crt"),
        format!("plugins.security.ssl.http.pemkey_filepath: {dir}/tls.key"),
        format!("plugins.security.ssl.http.pemtrustedcas_filepath: {dir}/ca.crt"),
        "plugins.security.ssl.http.clientauth_mode: OPTIONAL".to_string(),
        format!("plugins.security.nodes_dn: [\"CN={}\"]", node.common_name),
        "plugins.security.allow_default_init_securityindex: true".to_string(),
        "plugins.security.audit.type: internal_opensearch".to_string(),
        "plugins.security.restapi.roles_enabled: [\"all_access\"]".to_string(),
        "plugins.security.system_indices.enabled: true".to_string(),
    ];
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// The cluster name: the chart's default, so its Service is `opensearch-cluster-master`
/// (`<clusterName>-<nodeGroup>`, [`super::opensearch_service`]).
pub const OPENSEARCH_CLUSTER: &str = "opensearch-cluster";
pub const OPENSEARCH_NODE_GROUP: &str = "master";

/// The security plugin's configuration: client certificates only (CN = user name), no internal
/// users, a role per client.
fn security_config() -> Value {
    let meta = |t: &str| json!({"type": t, "config_version": 2});
    let yaml = |v: &Value| serde_saphyr::to_string(v).unwrap_or_default();
    let config = json!({
        "_meta": meta("config"),
        "config": {"dynamic": {
            "http": {"anonymous_auth_enabled": false},
            "authc": {"clientcert_auth_domain": {
                "description": "Client certificates of the log store's CA; the CN is the user name",
                "http_enabled": true,
                "transport_enabled": false,
                "order": 0,
                "http_authenticator": {"type": "clientcert", "config": {"username_attribute": "cn"}, "challenge": false},
                "authentication_backend": {"type": "noop"}
            }}
        }}
    });
    let roles = json!({
        "_meta": meta("roles"),
        "cerverus_log_writer": {
            "cluster_permissions": ["cluster_monitor", "cluster_composite_ops", "indices:admin/template/get", "indices:admin/index_template/get"],
            "index_permissions": [{"index_patterns": ["logs-*"], "allowed_actions": ["create_index", "crud", "indices:admin/mapping/put"]}]
        },
        "cerverus_trace_store": {
            "cluster_permissions": ["cluster_monitor", "cluster_composite_ops", "indices:admin/template/*", "indices:admin/index_template/*"],
            "index_permissions": [{"index_patterns": ["traces-jaeger-*"], "allowed_actions": ["indices_all"]}]
        }
    });
    let users = |names: &[&str]| json!({"users": names});
    let mapping = json!({
        "_meta": meta("rolesmapping"),
        "all_access": users(&[log::bootstrap_identity().common_name]),
        "cerverus_log_writer": users(&[log::fluent_bit_identity().common_name]),
        "cerverus_trace_store": users(&[log::jaeger_identity().common_name]),
        "readall": users(&[log::dashboards_identity().common_name, log::grafana_identity().common_name]),
        "kibana_server": users(&[log::dashboards_identity().common_name])
    });
    json!({
        "config.yml": yaml(&config),
        "internal_users.yml": yaml(&json!({"_meta": meta("internalusers")})),
        "roles.yml": yaml(&roles),
        "roles_mapping.yml": yaml(&mapping),
        "action_groups.yml": yaml(&json!({"_meta": meta("actiongroups")})),
        "tenants.yml": yaml(&json!({"_meta": meta("tenants")})),
        "nodes_dn.yml": yaml(&json!({"_meta": meta("nodesdn")})),
        "allowlist.yml": yaml(&json!({"_meta": meta("allowlist"), "config": {"enabled": false}}))
    })
}

fn opensearch(env: &Env) -> Value {
    let nodes = log::opensearch_nodes(env);
    let node = log::node_identity();
    let heap = if prod(env) { "4g" } else { "1g" };
    let memory = if prod(env) { "8Gi" } else { "2Gi" };
    json!({
        "clusterName": OPENSEARCH_CLUSTER,
        "nodeGroup": OPENSEARCH_NODE_GROUP,
        "masterService": opensearch_service().name,
        "replicas": nodes,
        "roles": ["master", "ingest", "data", "remote_cluster_client"],
        "opensearchJavaOpts": format!("-Xms{heap} -Xmx{heap}"),
        "resources": {"requests": {"cpu": if prod(env) { "1" } else { "500m" }, "memory": memory}, "limits": {"memory": memory}},
        "persistence": {
            "enabled": true,
            "enableInitChown": false,
            "storageClass": "cerverus-gp3",
            "size": if prod(env) { "200Gi" } else { "30Gi" }
        },
        // One node per zone: losing a zone loses one copy of each shard, never two. Hard in
        // production, whose general pool keeps an on-demand node in every zone (min 3); soft
        // elsewhere, where a zone may have no node and the multi-zone group cannot be asked for
        // one in a given zone.
        "antiAffinity": if prod(env) { "hard" } else { "soft" },
        "antiAffinityTopologyKey": "topology.kubernetes.io/zone",
        // Prefer on-demand nodes: a spot reclaim restarts a node holding shards.
        "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "preference": {"matchExpressions": [{"key": "eks.amazonaws.com/capacityType", "operator": "In", "values": ["ON_DEMAND"]}]}
        }]},
        "sysctlInit": {"enabled": false},
        "sysctl": {"enabled": false},
        "podSecurityContext": {"fsGroup": 1000, "runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": true,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": false,
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "extraEnvs": [{"name": "DISABLE_INSTALL_DEMO_CONFIG", "value": "true"}],
        "secretMounts": [{"name": "node-tls", "secretName": node.secret, "path": "/usr/share/opensearch/config/certs"}],
        "config": {"opensearch.yml": opensearch_yml()},
        "securityConfig": {"enabled": true, "config": {"dataComplete": true, "data": security_config()}},
        "protocol": "https",
        // The HTTP port answers TLS only; a TCP check proves the node listens.
        "readinessProbe": {"tcpSocket": {"port": 9200}, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3},
        "maxUnavailable": 1
    })
}

fn dashboards(env: &Env) -> Value {
    let os = opensearch_service();
    let id = log::dashboards_identity();
    let dir = "/usr/share/opensearch-dashboards/certs";
    let yml = [
        "server.name: opensearch-dashboards".to_string(),
        "server.host: 0.0.0.0".to_string(),
        format!("opensearch.hosts: [\"https://{}.{}.svc:{}\"]", os.name, os.namespace, os.port),
        "opensearch.ssl.verificationMode: full".to_string(),
        format!("opensearch.ssl.certificateAuthorities: [\"{dir}/ca.crt\"]"),
        format!("opensearch.ssl.certificate: {dir}/tls.crt"),
        format!("opensearch.ssl.key: {dir}/tls.key"),
        "opensearch.ssl.alwaysPresentCertificate: true".to_string(),
    ]
    .join("\n");
    json!({
        "opensearchHosts": format!("https://{}.{}.svc:{}", os.name, LOGGING_NAMESPACE, os.port),
        "replicaCount": if prod(env) { 2 } else { 1 },
        "podSecurityContext": pod_security(1000),
        "securityContext": {
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": true,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": false,
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "serviceAccount": {"automountServiceAccountToken": false},
        "rbac": {"create": false},
        "secretMounts": [{"name": "opensearch-client-tls", "secretName": id.secret, "path": dir}],
        "config": {"opensearch_dashboards.yml": format!("{yml}\n")},
        // Its security plugin asks for a user login that no internal user can give; access is
        // Kubernetes RBAC (port-forward) and its identity on OpenSearch is read-only.
        "plugins": {"enabled": true, "installList": [], "removeList": ["securityDashboards"]},
        "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        "service": {"type": "ClusterIP"}
    })
}

//! Helm values of kube-prometheus-stack (see [`super::CHARTS`]): the Prometheus Operator,
//! Prometheus, Alertmanager and Grafana.
//!
//! Decisions, with their reasons:
//! - **Alertmanager routes by `severity`** (every alert of the platform carries it, see
//!   `kubernetes::alerting`): critical pages (PagerDuty), warning goes to Slack, info is kept for
//!   inhibition and dashboards only. A critical alert inhibits the warning and info alerts of the
//!   same `alertname` and `namespace` (the SLO fast burn inhibits the slow one).
//! - **Receiver credentials never sit in the values**: the Secret [`RECEIVERS_SECRET`] (an
//!   ExternalSecret from AWS Secrets Manager, rendered by `kubernetes::alerting`) is mounted into
//!   Alertmanager by `alertmanagerSpec.secrets` at `/etc/alertmanager/secrets/<name>/`, and the
//!   receivers read it with `routing_key_file` / `api_url_file`.
//! - **Grafana** gets its admin login from the Secret [`GRAFANA_ADMIN_SECRET`] (ExternalSecret),
//!   datasources for Prometheus and Alertmanager (the chart's sidecar), Jaeger and OpenSearch
//!   (client certificate of the log store's CA), and loads dashboards from ConfigMaps labelled
//!   `grafana_dashboard: "1"` in every namespace (`kubernetes::dashboards`).
//! - **Rules**: Prometheus selects every PrometheusRule in every namespace; the chart's default
//!   rules that `kubernetes::alerting` replaces (with the platform's labels, runbooks and unit
//!   tests) are disabled so nothing is paged twice.

use cerverus_model::{Env, Platform};
use serde_json::{Value, json};

use super::{KPS_FULLNAME, NODE_AGENTS_NAMESPACE, opensearch_service, restricted, scraped_namespaces};
use crate::kubernetes::alerting::REPLACED_DEFAULT_ALERTS;
use crate::kubernetes::logging::{CLIENT_TLS_DIR, grafana_identity};
use crate::kubernetes::network_policies::MONITORING_NAMESPACE;
use crate::kubernetes::tracing::{JAEGER_QUERY_PORT, JAEGER_SERVICE};

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    match name {
        "kube-prometheus-stack" => Some(kube_prometheus_stack(platform, env)),
        _ => None,
    }
}

/// Prometheus' data volume and what it keeps: retention by time, capped by size below the volume
/// so the TSDB never fills it (the operator passes `--storage.tsdb.retention.size`).
const PROMETHEUS_VOLUME_GIB: u32 = 50;

/// The Secret with the Alertmanager receivers' credentials, and its keys.
pub const RECEIVERS_SECRET: &str = "alertmanager-receivers";
pub const PAGERDUTY_KEY: &str = "pagerduty-routing-key";
pub const SLACK_KEY: &str = "slack-webhook-url";
/// The Secret with Grafana's admin login, and its keys (the chart's `admin.userKey/passwordKey`).
pub const GRAFANA_ADMIN_SECRET: &str = "grafana-admin";
pub const GRAFANA_ADMIN_KEYS: [&str; 2] = ["admin-user", "admin-password"];

/// Where Alertmanager finds a key of a Secret listed in `alertmanagerSpec.secrets` (the
/// operator mounts each at `/etc/alertmanager/secrets/<secret>/`).
pub fn alertmanager_secret_file(secret: &str, key: &str) -> String {
    format!("/etc/alertmanager/secrets/{secret}/{key}")
}

/// Secrets Manager secrets the platform services read (name, description), beside the
/// workloads' own: `<platform>/<env>/<name>`, synced by External Secrets.
pub fn platform_secrets() -> Vec<(&'static str, &'static str)> {
    vec![
        (RECEIVERS_SECRET, "Alertmanager receivers: PagerDuty routing key, Slack webhook URL"),
        (GRAFANA_ADMIN_SECRET, "Grafana admin login"),
    ]
}

/// Receiver names, by the severity they receive.
pub const PAGER_RECEIVER: &str = "pagerduty";
pub const CHAT_RECEIVER: &str = "slack";
pub const NULL_RECEIVER: &str = "null";

/// The Alertmanager configuration (`alertmanager.config`; the chart writes it into the
/// Alertmanager's Secret). `amtool check-config` judges it in `crates/cli/tests/alerting.rs`.
pub fn alertmanager_config(platform: &Platform) -> Value {
    let severity = |s: &str| json!([format!("severity = \"{s}\"")]);
    json!({
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": ["alertname", "namespace", "severity"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                // The chart's always-firing heartbeat and the info inhibitor go nowhere.
                {"receiver": NULL_RECEIVER, "matchers": ["alertname =~ \"Watchdog|InfoInhibitor\""]},
                {"receiver": PAGER_RECEIVER, "matchers": severity("critical"), "repeat_interval": "1h"},
                {"receiver": CHAT_RECEIVER, "matchers": severity("warning")},
                {"receiver": NULL_RECEIVER, "matchers": severity("info")}
            ]
        },
        "inhibit_rules": [
            {
                "source_matchers": ["severity = \"critical\""],
                "target_matchers": ["severity =~ \"warning|info\""],
                "equal": ["alertname", "namespace"]
            },
            {
                "source_matchers": ["severity = \"warning\""],
                "target_matchers": ["severity = \"info\""],
                "equal": ["alertname", "namespace"]
            },
            // kube-prometheus-stack's InfoInhibitor: info alerts are silent unless a warning or
            // critical alert fires in the same namespace.
            {
                "source_matchers": ["alertname = \"InfoInhibitor\""],
                "target_matchers": ["severity = \"info\""],
                "equal": ["namespace"]
            }
        ],
        "receivers": [
            {"name": NULL_RECEIVER},
            {
                "name": PAGER_RECEIVER,
                "pagerduty_configs": [{
                    "routing_key_file": alertmanager_secret_file(RECEIVERS_SECRET, PAGERDUTY_KEY),
                    "send_resolved": true,
                    "description": "{{ .CommonAnnotations.summary }}",
                    "links": [{"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"}]
                }]
            },
            {
                "name": CHAT_RECEIVER,
                "slack_configs": [{
                    "api_url_file": alertmanager_secret_file(RECEIVERS_SECRET, SLACK_KEY),
                    "channel": format!("#{}-alerts", platform.name),
                    "send_resolved": true,
                    "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.namespace }})",
                    "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }}\n{{ end }}"
                }]
            }
        ],
        "templates": ["/etc/alertmanager/config/*.tmpl"]
    })
}

/// Grafana's datasources besides the chart's Prometheus and Alertmanager: Jaeger's query API
/// and the log store.
fn grafana_datasources() -> Value {
    let os = opensearch_service();
    let tls = |file: &str| format!("$__file{{{CLIENT_TLS_DIR}/{file}}}");
    json!([
        {
            "name": "Jaeger",
            "uid": "jaeger",
            "type": "jaeger",
            "access": "proxy",
            "url": format!("http://{JAEGER_SERVICE}.{MONITORING_NAMESPACE}.svc:{JAEGER_QUERY_PORT}"),
            "editable": false
        },
        {
            "name": "OpenSearch",
            "uid": "opensearch",
            "type": "grafana-opensearch-datasource",
            "access": "proxy",
            // OpenSearch's security plugin serves HTTPS and authenticates clients by
            // certificate (CN grafana, read-only): the log store's CA issues it
            // (kubernetes::logging::grafana_identity), mounted at CLIENT_TLS_DIR.
            "url": format!("https://{}.{}.svc:{}", os.name, os.namespace, os.port),
            "editable": false,
            "jsonData": {
                "flavor": "opensearch",
                "version": "3.0.0",
                "database": "logs-*",
                "timeField": "@timestamp",
                "logMessageField": "log",
                "tlsAuth": true,
                "tlsAuthWithCACert": true
            },
            // Grafana expands $__file{…} in provisioning files: the PEMs are read from the mount.
            "secureJsonData": {
                "tlsCACert": tls("ca.crt"),
                "tlsClientCert": tls("tls.crt"),
                "tlsClientKey": tls("tls.key")
            }
        }
    ])
}

fn grafana(env: &Env) -> Value {
    let identity = grafana_identity();
    json!({
        "testFramework": {"enabled": false},
        "replicas": if env.is_production() { 2 } else { 1 },
        "admin": {
            "existingSecret": GRAFANA_ADMIN_SECRET,
            "userKey": GRAFANA_ADMIN_KEYS[0],
            "passwordKey": GRAFANA_ADMIN_KEYS[1]
        },
        // The OpenSearch datasource is a plugin, installed at start from grafana.com (Grafana's
        // egress to it is allowed by kubernetes::dashboards).
        "plugins": ["grafana-opensearch-datasource"],
        // The root filesystem is read-only (restricted()): plugin downloads and Grafana's other
        // temporary files need a writable /tmp.
        "extraEmptyDirMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "extraSecretMounts": [{
            "name": "opensearch-client-tls",
            "secretName": identity.secret,
            "mountPath": CLIENT_TLS_DIR,
            "readOnly": true
        }],
        "sidecar": {
            "dashboards": {
                "enabled": true,
                "label": "grafana_dashboard",
                "labelValue": "1",
                "searchNamespace": "ALL",
                "folderAnnotation": "grafana_folder",
                "provider": {"foldersFromFilesStructure": true}
            },
            "datasources": {
                "enabled": true,
                "defaultDatasourceEnabled": true,
                "alertmanager": {"enabled": true}
            }
        },
        "additionalDataSources": grafana_datasources(),
        // The chart's defaults already run as UID 472 without privileges; stated so a looser
        // default never slips in. Grafana writes its database and plugins to /var/lib/grafana
        // (an emptyDir without persistence), the sidecars to their emptyDir folders.
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 472,
            "runAsGroup": 472,
            "fsGroup": 472,
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "containerSecurityContext": restricted(),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
    })
}

/// kube-state-metrics no longer exports VerticalPodAutoscaler metrics itself (removed in 2.9):
/// its custom-resource state config does, as `kube_customresource_vpa_containerrecommendations_target`
/// (`kubernetes::dashboards::VPA_TARGET_METRIC`), which the autoscaling dashboard reads.
fn kube_state_metrics() -> Value {
    let recommendation = |resource: &str, unit: &str| {
        json!({
            "name": "vpa_containerrecommendations_target",
            "help": format!("VPA target recommendation for {resource}, per container."),
            "commonLabels": {"resource": resource, "unit": unit},
            "each": {"type": "Gauge", "gauge": {
                "path": ["status", "recommendation", "containerRecommendations"],
                "valueFrom": ["target", resource],
                "labelsFromPath": {"container": ["containerName"]}
            }}
        })
    };
    json!({
        "rbac": {"extraRules": [{
            "apiGroups": ["autoscaling.k8s.io"],
            "resources": ["verticalpodautoscalers"],
            "verbs": ["list", "watch"]
        }]},
        "customResourceState": {
            "enabled": true,
            "config": {
                "kind": "CustomResourceStateMetrics",
                "spec": {"resources": [{
                    "groupVersionKind": {"group": "autoscaling.k8s.io", "kind": "VerticalPodAutoscaler", "version": "v1"},
                    "labelsFromPath": {
                        "verticalpodautoscaler": ["metadata", "name"],
                        "namespace": ["metadata", "namespace"],
                        "target_kind": ["spec", "targetRef", "kind"],
                        "target_name": ["spec", "targetRef", "name"]
                    },
                    "metrics": [recommendation("cpu", "core"), recommendation("memory", "byte")]
                }]}
            }
        }
    })
}

fn kube_prometheus_stack(platform: &Platform, env: &Env) -> Value {
    let namespaces = scraped_namespaces(env);
    let selector =
        json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}]});
    let disabled: serde_json::Map<String, Value> =
        REPLACED_DEFAULT_ALERTS.iter().map(|a| (a.to_string(), Value::Bool(true))).collect();
    json!({
        "fullnameOverride": KPS_FULLNAME,
        "crds": {"enabled": true},
        "defaultRules": {"disabled": disabled},
        // EKS runs the control plane: etcd, the scheduler and the controller manager are not
        // reachable from the cluster, so their scrape targets would only ever be down.
        "kubeEtcd": {"enabled": false},
        "kubeControllerManager": {"enabled": false},
        "kubeScheduler": {"enabled": false},
        // EKS's kube-proxy binds its metrics to 127.0.0.1:10249 and the node security group lets
        // Prometheus reach only the kubelet (10250) and node-exporter (9100) on nodes, so the
        // target would be down forever and `KubeProxyDown` would fire.
        "kubeProxy": {"enabled": false},
        // node-exporter needs the host (network, PID, / mounted); it lives with the other node
        // agents so this namespace stays PSS restricted.
        "prometheus-node-exporter": {"namespaceOverride": NODE_AGENTS_NAMESPACE},
        "grafana": grafana(env),
        "kube-state-metrics": kube_state_metrics(),
        "alertmanager": {
            "config": alertmanager_config(platform),
            "alertmanagerSpec": {
                "replicas": if env.is_production() { 2 } else { 1 },
                "secrets": [RECEIVERS_SECRET],
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}}
            }
        },
        "prometheus": {
            "prometheusSpec": {
                "replicas": if env.is_production() { 2 } else { 1 },
                "retention": if env.is_production() { "30d" } else { "15d" },
                "retentionSize": format!("{}GB", PROMETHEUS_VOLUME_GIB * 85 / 100),
                // Without requests the namespace's LimitRange default (512 MiB limit) applies
                // and Prometheus is OOM-killed as soon as it holds a few hours of series.
                "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
                "storageSpec": {"volumeClaimTemplate": {"spec": {
                    "storageClassName": "cerverus-gp3",
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": format!("{PROMETHEUS_VOLUME_GIB}Gi")}}
                }}},
                // Select every ServiceMonitor/PodMonitor/rule in our namespaces, not only those
                // labelled with this Helm release (the charts' monitors carry their own labels).
                "serviceMonitorSelectorNilUsesHelmValues": false,
                "podMonitorSelectorNilUsesHelmValues": false,
                "ruleSelectorNilUsesHelmValues": false,
                "serviceMonitorNamespaceSelector": selector.clone(),
                "podMonitorNamespaceSelector": selector.clone(),
                // Every PrometheusRule (the workloads' SLO alerts live in their namespaces, the
                // add-ons' in theirs) of the same namespaces.
                "ruleSelector": {},
                "ruleNamespaceSelector": selector
            }
        }
    })
}

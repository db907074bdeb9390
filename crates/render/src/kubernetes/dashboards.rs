//! Grafana dashboards as code: one ConfigMap per dashboard in the monitoring namespace, labelled
//! `grafana_dashboard: "1"`, which kube-prometheus-stack's Grafana sidecar loads (it searches every
//! namespace for that label, `addons::observability`). Dashboards are `json!` values built from
//! the spec, deterministic; every panel query is PromQL that `crates/cli/tests/alerting.rs`
//! parses with `promql-parser`.
//!
//! - **Services (RED)**: per workload serving HTTP in the mesh, rate, errors and duration from
//!   the destination sidecar's Istio metrics.
//! - **SLOs**: per SLI (`kubernetes::alerting::slis`), error budget remaining over 30 days and
//!   the burn rate of each alerting window.
//! - **Platform**: nodes, pods, volumes (kube-state-metrics, node-exporter, kubelet).
//! - **Autoscaling**: HPAs (including KEDA's `keda-hpa-*`) against their bounds; VPA
//!   recommendations (kube-state-metrics custom-resource metrics, see the values).
//! - **Business**: what the workloads say about fraud detection. Assumed metric names (the
//!   applications must export them on their `metrics` port): `cerverus_alerts_emitted_total`
//!   (alerts-api, counter, label `severity`), `cerverus_fraud_score` (inference-service,
//!   histogram of scores in [0, 1]); `http_requests_total` and `cerverus_stream_lag_seconds` are
//!   the series the spec's KEDA triggers already read.
//!
//! Also here: Grafana's admin Secret (an ExternalSecret) and its egress to grafana.com, where
//! it downloads the OpenSearch datasource plugin at start.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::alerting::{self, BURN_WINDOWS, SliKind, num, serves_http_in_mesh, sli_record, slis};
use super::logging::GRAFANA_POD;
use super::network_policies::MONITORING_NAMESPACE;
use super::{Objects, labels};
use crate::RenderError;
use crate::addons::observability::{GRAFANA_ADMIN_KEYS, GRAFANA_ADMIN_SECRET};

/// The label (and value) the Grafana sidecar selects dashboard ConfigMaps by.
pub const DASHBOARD_LABEL: (&str, &str) = ("grafana_dashboard", "1");
/// The Prometheus datasource of kube-prometheus-stack's Grafana (`sidecar.datasources.uid`).
pub const PROMETHEUS_DATASOURCE_UID: &str = "prometheus";
/// Assumed business metrics (see the module documentation).
pub const ALERTS_EMITTED_METRIC: &str = "cerverus_alerts_emitted_total";
pub const FRAUD_SCORE_METRIC: &str = "cerverus_fraud_score";

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    alerting::platform_secret(platform, env, out, GRAFANA_ADMIN_SECRET, &GRAFANA_ADMIN_KEYS)?;
    render_grafana_egress(platform, out)?;
    for (name, dashboard) in dashboards(env) {
        let text = serde_json::to_string_pretty(&dashboard)
            .map_err(|e| RenderError::Yaml(format!("dashboard {name}"), e.to_string()))?;
        let mut l = labels::common(&platform.name);
        l.insert(DASHBOARD_LABEL.0.to_string(), DASHBOARD_LABEL.1.to_string());
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("dashboard-{name}")),
                namespace: Some(MONITORING_NAMESPACE.to_string()),
                labels: Some(l),
                annotations: Some(BTreeMap::from([("grafana_folder".to_string(), "Cerverus".to_string())])),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(format!("{name}.json"), text)])),
            ..Default::default()
        };
        out.add(Some(MONITORING_NAMESPACE), "ConfigMap", &format!("dashboard-{name}"), &cm)?;
    }
    Ok(())
}

/// Every dashboard of the environment: (name, Grafana dashboard JSON).
pub fn dashboards(env: &Env) -> Vec<(String, Value)> {
    vec![
        ("services-red".to_string(), services(env)),
        ("slos".to_string(), slos(env)),
        ("platform".to_string(), platform_dashboard()),
        ("autoscaling".to_string(), autoscaling()),
        ("business".to_string(), business()),
    ]
}

/// Every PromQL query of a dashboard (its panels' targets).
pub fn queries(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect()
}

/// A query and its legend.
struct Q<'a>(&'a str, String);

/// Panels laid out two per row, 12 × 8 each.
struct Layout {
    panels: Vec<Value>,
}

impl Layout {
    fn new() -> Self {
        Layout { panels: Vec::new() }
    }

    fn row(&mut self, title: &str) {
        let id = self.panels.len() + 1;
        let y = self.next_y();
        self.panels.push(json!({
            "id": id, "type": "row", "title": title, "collapsed": false,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []
        }));
    }

    fn next_y(&self) -> u64 {
        self.panels
            .iter()
            .map(|p| p["gridPos"]["y"].as_u64().unwrap_or(0) + p["gridPos"]["h"].as_u64().unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    fn panel(&mut self, title: &str, description: &str, unit: &str, queries: Vec<Q<'_>>) {
        let id = self.panels.len() + 1;
        // Two panels per row: the second of a pair sits beside the first.
        let (x, y) = match self.panels.last() {
            Some(last) if last["type"] != "row" && last["gridPos"]["x"] == 0 => {
                (12, last["gridPos"]["y"].as_u64().unwrap_or(0))
            }
            _ => (0, self.next_y()),
        };
        let targets: Vec<Value> = queries
            .into_iter()
            .enumerate()
            .map(|(i, Q(legend, expr))| {
                json!({
                    "refId": ((b'A' + i as u8) as char).to_string(),
                    "datasource": {"type": "prometheus", "uid": PROMETHEUS_DATASOURCE_UID},
                    "expr": expr,
                    "legendFormat": legend
                })
            })
            .collect();
        self.panels.push(json!({
            "id": id,
            "type": "timeseries",
            "title": title,
            "description": description,
            "datasource": {"type": "prometheus", "uid": PROMETHEUS_DATASOURCE_UID},
            "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": targets
        }));
    }

    fn dashboard(self, uid: &str, title: &str, tags: &[&str]) -> Value {
        json!({
            "uid": uid,
            "title": title,
            "tags": tags,
            "editable": false,
            "schemaVersion": 39,
            "version": 1,
            "time": {"from": "now-6h", "to": "now"},
            "refresh": "1m",
            "timezone": "utc",
            "templating": {"list": []},
            "annotations": {"list": []},
            "panels": self.panels
        })
    }
}

fn istio(workload: &str, namespace: &str, extra: &str) -> String {
    format!(
        "reporter=\"destination\",destination_workload=\"{workload}\",destination_workload_namespace=\"{namespace}\"{extra}"
    )
}

fn services(env: &Env) -> Value {
    let mut l = Layout::new();
    for w in env.workloads.iter().filter(|w| serves_http_in_mesh(env, w)) {
        let (name, ns) = (w.name(), w.namespace());
        l.row(&format!("{name} ({ns})"));
        l.panel(
            "Rate",
            "Requests per second received by the workload's sidecars, by response code class.",
            "reqps",
            vec![Q(
                "{{response_code}}",
                format!("sum by (response_code) (rate(istio_requests_total{{{}}}[5m]))", istio(name, ns, "")),
            )],
        );
        l.panel(
            "Errors",
            "Share of requests answered with a 5xx.",
            "percentunit",
            vec![Q(
                "5xx ratio",
                format!(
                    "sum(rate(istio_requests_total{{{}}}[5m])) / sum(rate(istio_requests_total{{{}}}[5m]))",
                    istio(name, ns, ",response_code=~\"5..\""),
                    istio(name, ns, "")
                ),
            )],
        );
        let quantile = |q: &str| {
            format!(
                "histogram_quantile({q}, sum by (le) (rate(istio_request_duration_milliseconds_bucket{{{}}}[5m])))",
                istio(name, ns, "")
            )
        };
        l.panel(
            "Duration",
            "Request duration at the sidecar: median, 95th and 99th percentile.",
            "ms",
            vec![Q("p50", quantile("0.5")), Q("p95", quantile("0.95")), Q("p99", quantile("0.99"))],
        );
        l.panel(
            "Requests by caller",
            "Requests per second by calling workload (unknown: from outside the mesh, e.g. the ingress gateway).",
            "reqps",
            vec![Q(
                "{{source_workload}}",
                format!("sum by (source_workload) (rate(istio_requests_total{{{}}}[5m]))", istio(name, ns, "")),
            )],
        );
    }
    l.dashboard("cerverus-services-red", "Cerverus / Services (RED)", &["cerverus", "red", "istio"])
}

fn slos(env: &Env) -> Value {
    let mut l = Layout::new();
    for w in &env.workloads {
        for sli in slis(env, w) {
            let budget = num(1.0 - sli.objective);
            let sel =
                format!("slo=\"{}\",workload=\"{}\",namespace=\"{}\"", sli.slo_label(), sli.workload, sli.namespace);
            let measured = match &sli.kind {
                SliKind::Availability => "requests without a 5xx".to_string(),
                SliKind::Latency { bucket_ms, .. } => format!("requests within {bucket_ms} ms"),
                SliKind::Uptime { .. } => "time the metrics endpoint answers".to_string(),
            };
            l.row(&format!("{} {} ({}%)", sli.workload, sli.slo_label(), num(sli.objective * 100.0)));
            l.panel(
                "Error budget remaining (30 days)",
                &format!(
                    "1 - (average 5-minute error ratio over 30 days / budget {budget}); SLI: {measured}. The average of \
                     5-minute ratios weighs quiet and busy periods alike."
                ),
                "percentunit",
                vec![Q("remaining", format!("1 - (avg_over_time({}{{{sel}}}[30d]) / {budget})", sli_record("5m")))],
            );
            l.panel(
                "Burn rate",
                "Error ratio divided by the budget, per alerting window: 1 spends the budget in exactly 30 days; \
                 the alerts page at 14.4 (1h) and 6 (6h), ticket at 3 (1d) and 1 (3d).",
                "none",
                BURN_WINDOWS.iter().map(|b| Q(b.long, format!("{}{{{sel}}} / {budget}", sli_record(b.long)))).collect(),
            );
        }
    }
    l.dashboard("cerverus-slos", "Cerverus / SLOs", &["cerverus", "slo"])
}

const APP_NAMESPACES: &str = "cerverus-.*";

fn platform_dashboard() -> Value {
    let mut l = Layout::new();
    l.row("Nodes");
    l.panel(
        "Nodes ready",
        "Nodes whose Ready condition is true, and all nodes.",
        "none",
        vec![
            Q("ready", "sum(kube_node_status_condition{condition=\"Ready\",status=\"true\"})".to_string()),
            Q("all", "count(kube_node_info)".to_string()),
        ],
    );
    l.panel(
        "Node pressure",
        "Nodes reporting memory, disk or PID pressure.",
        "none",
        vec![Q(
            "{{condition}}",
            "sum by (condition) (kube_node_status_condition{condition=~\"MemoryPressure|DiskPressure|PIDPressure\",status=\"true\"})"
                .to_string(),
        )],
    );
    l.panel(
        "CPU utilisation",
        "Busy share of each node's CPUs (node-exporter).",
        "percentunit",
        vec![Q("{{instance}}", "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m]))".to_string())],
    );
    l.panel(
        "Memory utilisation",
        "Share of each node's memory not available to new allocations (node-exporter).",
        "percentunit",
        vec![Q("{{instance}}", "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes".to_string())],
    );
    l.row("Pods");
    l.panel(
        "Pods by phase",
        "Pods of the Cerverus namespaces by phase.",
        "none",
        vec![Q("{{phase}}", format!("sum by (phase) (kube_pod_status_phase{{namespace=~\"{APP_NAMESPACES}\"}})"))],
    );
    l.panel(
        "Container restarts (1h)",
        "Restarts per pod over the last hour.",
        "none",
        vec![Q(
            "{{namespace}}/{{pod}}",
            format!(
                "sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total{{namespace=~\"{APP_NAMESPACES}\"}}[1h])) > 0"
            ),
        )],
    );
    l.row("Volumes");
    l.panel(
        "Volume usage",
        "Used share of each persistent volume claim (kubelet).",
        "percentunit",
        vec![Q(
            "{{namespace}}/{{persistentvolumeclaim}}",
            "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes".to_string(),
        )],
    );
    l.panel(
        "Days until full",
        "At the last 6 hours' pace; only volumes that are filling.",
        "d",
        vec![Q(
            "{{namespace}}/{{persistentvolumeclaim}}",
            "kubelet_volume_stats_available_bytes / -deriv(kubelet_volume_stats_available_bytes[6h]) / 86400 > 0"
                .to_string(),
        )],
    );
    l.dashboard("cerverus-platform", "Cerverus / Platform", &["cerverus", "platform"])
}

/// kube-state-metrics' custom-resource metric of VPA target recommendations (configured in the
/// kube-prometheus-stack values).
pub const VPA_TARGET_METRIC: &str = "kube_customresource_vpa_containerrecommendations_target";

fn autoscaling() -> Value {
    let mut l = Layout::new();
    let hpa = |m: &str| format!("{m}{{namespace=~\"{APP_NAMESPACES}\"}}");
    l.row("HorizontalPodAutoscalers (and KEDA's keda-hpa-*)");
    l.panel(
        "Current replicas",
        "Replicas each autoscaler runs now.",
        "none",
        vec![Q(
            "{{namespace}}/{{horizontalpodautoscaler}}",
            hpa("kube_horizontalpodautoscaler_status_current_replicas"),
        )],
    );
    l.panel(
        "Share of maximum",
        "Current replicas over the autoscaler's maximum: at 1 the autoscaler cannot add more.",
        "percentunit",
        vec![Q(
            "{{namespace}}/{{horizontalpodautoscaler}}",
            format!(
                "{} / on (namespace, horizontalpodautoscaler) {}",
                hpa("kube_horizontalpodautoscaler_status_current_replicas"),
                hpa("kube_horizontalpodautoscaler_spec_max_replicas")
            ),
        )],
    );
    l.panel(
        "Desired replicas",
        "What each autoscaler asks for, before its bounds.",
        "none",
        vec![Q(
            "{{namespace}}/{{horizontalpodautoscaler}}",
            hpa("kube_horizontalpodautoscaler_status_desired_replicas"),
        )],
    );
    l.row("VerticalPodAutoscalers");
    l.panel(
        "CPU recommendation",
        "VPA target CPU per container (cores).",
        "none",
        vec![Q(
            "{{namespace}}/{{verticalpodautoscaler}}/{{container}}",
            format!("{VPA_TARGET_METRIC}{{resource=\"cpu\",namespace=~\"{APP_NAMESPACES}\"}}"),
        )],
    );
    l.panel(
        "Memory recommendation",
        "VPA target memory per container.",
        "bytes",
        vec![Q(
            "{{namespace}}/{{verticalpodautoscaler}}/{{container}}",
            format!("{VPA_TARGET_METRIC}{{resource=\"memory\",namespace=~\"{APP_NAMESPACES}\"}}"),
        )],
    );
    l.dashboard("cerverus-autoscaling", "Cerverus / Autoscaling", &["cerverus", "hpa", "vpa"])
}

fn business() -> Value {
    let mut l = Layout::new();
    l.row("Fraud detection");
    l.panel(
        "Alerts emitted",
        &format!("Fraud alerts per minute by severity ({ALERTS_EMITTED_METRIC}, exported by alerts-api)."),
        "none",
        vec![Q("{{severity}}", format!("sum by (severity) (rate({ALERTS_EMITTED_METRIC}[5m])) * 60"))],
    );
    l.panel(
        "Fraud score distribution",
        &format!(
            "Median and 95th percentile of the scores inference-service returns ({FRAUD_SCORE_METRIC} histogram)."
        ),
        "none",
        vec![
            Q("p50", format!("histogram_quantile(0.5, sum by (le) (rate({FRAUD_SCORE_METRIC}_bucket[5m])))")),
            Q("p95", format!("histogram_quantile(0.95, sum by (le) (rate({FRAUD_SCORE_METRIC}_bucket[5m])))")),
        ],
    );
    l.panel(
        "Alerts API requests",
        "Requests per second the alerts API counts itself (the series its autoscaler reads).",
        "reqps",
        vec![Q(
            "requests",
            "sum(rate(http_requests_total{namespace=\"cerverus-system\",pod=~\"alerts-api-.*\"}[5m]))".to_string(),
        )],
    );
    l.panel(
        "Stream lag",
        "Worst lag of the stream processor (the series its autoscaler reads).",
        "s",
        vec![Q(
            "lag",
            "max(cerverus_stream_lag_seconds{namespace=\"cerverus-data\",pod=~\"stream-processor-.*\"})".to_string(),
        )],
    );
    l.dashboard("cerverus-business", "Cerverus / Business", &["cerverus", "business"])
}

/// Grafana installs the OpenSearch datasource plugin from grafana.com at start (HTTPS). Its
/// egress to OpenSearch is `kubernetes::logging`'s; Prometheus, Alertmanager and Jaeger are in
/// its own namespace (allowed there).
fn render_grafana_egress(platform: &Platform, out: &mut Objects) -> Result<(), RenderError> {
    let policy = NetworkPolicy {
        metadata: ObjectMeta {
            name: Some("grafana-plugins".to_string()),
            namespace: Some(MONITORING_NAMESPACE.to_string()),
            labels: Some(labels::common(&platform.name)),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(GRAFANA_POD.0.to_string(), GRAFANA_POD.1.to_string())])),
                ..Default::default()
            }),
            policy_types: Some(vec!["Egress".to_string()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: "0.0.0.0/0".to_string(),
                        except: Some(vec!["10.0.0.0/8".into(), "172.16.0.0/12".into(), "192.168.0.0/16".into()]),
                    }),
                    ..Default::default()
                }]),
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(443)),
                    protocol: Some("TCP".to_string()),
                    ..Default::default()
                }]),
            }]),
            ..Default::default()
        }),
    };
    out.add(Some(MONITORING_NAMESPACE), "NetworkPolicy", "grafana-plugins", &policy)
}

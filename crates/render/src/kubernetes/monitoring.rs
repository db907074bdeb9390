//! What Prometheus scrapes of the platform's own workloads:
//! - a PodMonitor per workload that exposes the `metrics` port. Without one,
//!   kube-prometheus-stack's Prometheus never collects the series the KEDA triggers query
//!   (request rate, stream lag), and those triggers read nothing. Every series gets `namespace`
//!   and `pod` from the target, which is what the autoscaling queries select on.
//! - a PodMonitor per meshed namespace for the Istio sidecars' Envoy statistics
//!   (`/stats/prometheus` on the `http-envoy-prom` port, 15090): `istio_requests_total` and
//!   `istio_request_duration_milliseconds` — the SLO, error-rate and latency alerts, the RED
//!   dashboards and the Rollouts' analyses read them. Istio's `prometheus.io/*` pod annotations
//!   mean nothing to the Prometheus Operator, so without this nothing scrapes them. Port 15090 is
//!   outside the sidecar's inbound capture (plain HTTP, no mTLS), and a NetworkPolicy per
//!   namespace lets Prometheus reach it.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::crd::Resource;
use super::crd::monitoring::{PodMetricsEndpoint, PodMonitorSpec, PodSelector, SelectorRequirement};
use super::network_policies::{MONITORING_NAMESPACE, PROMETHEUS_POD};
use super::{Objects, labels};
use crate::RenderError;

/// Scrape interval: KEDA polls every 15 s, and its `rate(...[2m])` queries then see eight samples
/// per window.
pub const SCRAPE_INTERVAL: &str = "15s";

/// The sidecars' PodMonitor in each meshed namespace.
pub const ENVOY_MONITOR: &str = "envoy-stats";
/// The istio-proxy container's Prometheus port: name and number.
pub const ENVOY_STATS_PORT_NAME: &str = "http-envoy-prom";
pub const ENVOY_STATS_PORT: i32 = 15090;
/// The label Istio's injector puts on every pod with a sidecar.
pub const SIDECAR_LABEL: &str = "security.istio.io/tlsMode";

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    for w in &env.workloads {
        let Some(port) = w.metrics_port() else { continue };
        let pm = Resource {
            api_version: "monitoring.coreos.com/v1",
            kind: "PodMonitor",
            metadata: ObjectMeta {
                name: Some(w.name().to_string()),
                namespace: Some(w.namespace().to_string()),
                labels: Some(labels::workload(w)),
                ..Default::default()
            },
            spec: PodMonitorSpec {
                selector: PodSelector { match_labels: labels::selector(w), ..Default::default() },
                namespace_selector: None,
                job_label: None,
                pod_metrics_endpoints: vec![PodMetricsEndpoint {
                    port: port.name.clone(),
                    path: "/metrics",
                    interval: SCRAPE_INTERVAL,
                    relabelings: Vec::new(),
                }],
            },
        };
        out.add(Some(w.namespace()), "PodMonitor", w.name(), &pm)?;
    }
    for ns in env.namespaces.iter().filter(|n| n.istio_injection) {
        render_envoy_monitor(platform, &ns.name, out)?;
    }
    Ok(())
}

fn render_envoy_monitor(platform: &Platform, ns: &str, out: &mut Objects) -> Result<(), RenderError> {
    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        labels: Some(labels::common(&platform.name)),
        ..Default::default()
    };
    let pm = Resource {
        api_version: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        metadata: meta(ENVOY_MONITOR),
        spec: PodMonitorSpec {
            selector: PodSelector {
                match_expressions: vec![SelectorRequirement {
                    key: SIDECAR_LABEL.to_string(),
                    operator: "Exists",
                    values: Vec::new(),
                }],
                ..Default::default()
            },
            namespace_selector: None,
            job_label: None,
            pod_metrics_endpoints: vec![PodMetricsEndpoint {
                port: ENVOY_STATS_PORT_NAME.to_string(),
                path: "/stats/prometheus",
                interval: SCRAPE_INTERVAL,
                relabelings: Vec::new(),
            }],
        },
    };
    out.add(Some(ns), "PodMonitor", ENVOY_MONITOR, &pm)?;
    let policy = NetworkPolicy {
        metadata: meta("allow-envoy-stats-scrape"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: SIDECAR_LABEL.to_string(),
                    operator: "Exists".to_string(),
                    values: None,
                }]),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".to_string()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            "kubernetes.io/metadata.name".to_string(),
                            MONITORING_NAMESPACE.to_string(),
                        )])),
                        ..Default::default()
                    }),
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            PROMETHEUS_POD.0.to_string(),
                            PROMETHEUS_POD.1.to_string(),
                        )])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(ENVOY_STATS_PORT)),
                    protocol: Some("TCP".to_string()),
                    ..Default::default()
                }]),
            }]),
            ..Default::default()
        }),
    };
    out.add(Some(ns), "NetworkPolicy", "allow-envoy-stats-scrape", &policy)
}

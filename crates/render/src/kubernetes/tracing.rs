//! The trace path and the collector's metrics: Istio's sidecars and the workloads send OTLP to
//! the OpenTelemetry Collector (`addons::otel_collector_service()`), which exports traces to
//! Jaeger over OTLP and exposes the metrics it receives (Airflow's OTel metrics) on a Prometheus
//! exporter that a PodMonitor scrapes.
//!
//! Policies: the collector admits OTLP (and Zipkin) from every namespace; every namespace that
//! runs workloads may send to it (its pods are default-deny on egress); the collector reaches
//! Jaeger inside cerverus-monitoring (the namespace's `allow-same-namespace`); Jaeger's storage
//! egress is in [`super::logging`].

use cerverus_model::{Env, Platform};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::crd::Resource;
use super::crd::monitoring::{PodMetricsEndpoint, PodMonitorSpec, PodSelector};
use super::network_policies::MONITORING_NAMESPACE;
use super::{Objects, labels};
use crate::RenderError;
use crate::addons::otel_collector_service;

/// The collector's pods (chart 0.170.0 selector labels: chart name and release name).
pub const COLLECTOR_POD: [(&str, &str); 2] =
    [("app.kubernetes.io/name", "opentelemetry-collector"), ("app.kubernetes.io/instance", "opentelemetry-collector")];
/// OTLP over gRPC: Istio's tracing provider and OTel SDKs.
pub const OTLP_GRPC_PORT: u16 = 4317;
/// OTLP over HTTP: Airflow's metrics exporter (`http://<host>:<port>/v1/metrics`).
pub const OTLP_HTTP_PORT: u16 = 4318;
/// Zipkin, for a proxy configured with Istio's Zipkin provider.
pub const ZIPKIN_PORT: u16 = 9411;
/// The collector's Prometheus exporter: metrics it receives over OTLP.
pub const PROMETHEUS_EXPORTER_PORT: u16 = 8889;
/// Container port name of the Prometheus exporter (chart `ports.<name>`).
pub const PROMETHEUS_EXPORTER_PORT_NAME: &str = "prom-exporter";
/// The collector's own telemetry (chart `ports.metrics`).
pub const COLLECTOR_METRICS_PORT_NAME: &str = "metrics";

/// Jaeger's Service (chart 4.11.1: `jaeger.fullname`, release `jaeger`) and its OTLP gRPC port,
/// where the collector exports traces.
pub const JAEGER_SERVICE: &str = "jaeger";
pub const JAEGER_OTLP_GRPC_PORT: u16 = 4317;
/// Jaeger's query UI/API (Grafana's Jaeger datasource).
pub const JAEGER_QUERY_PORT: u16 = 16686;

/// The collector's OTLP exporter endpoint for Jaeger (gRPC `host:port`).
pub fn jaeger_otlp_endpoint() -> String {
    format!("{JAEGER_SERVICE}.{MONITORING_NAMESPACE}.svc:{JAEGER_OTLP_GRPC_PORT}")
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    render_collector_policy(platform, out)?;
    render_sender_policies(platform, env, out)?;
    render_pod_monitor(platform, out)
}

fn meta(platform: &Platform, ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        labels: Some(labels::common(&platform.name)),
        ..Default::default()
    }
}

fn select(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    }
}

fn tcp(port: u16) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(port))),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// Ports senders use.
pub fn receiver_ports() -> [u16; 3] {
    [OTLP_GRPC_PORT, OTLP_HTTP_PORT, ZIPKIN_PORT]
}

fn render_collector_policy(platform: &Platform, out: &mut Objects) -> Result<(), RenderError> {
    let any_namespace = NetworkPolicyPeer { namespace_selector: Some(LabelSelector::default()), ..Default::default() };
    let p = NetworkPolicy {
        metadata: meta(platform, MONITORING_NAMESPACE, "opentelemetry-collector"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(select(&COLLECTOR_POD)),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![any_namespace]),
                ports: Some(receiver_ports().iter().map(|p| tcp(*p)).collect()),
            }]),
            ..Default::default()
        }),
    };
    out.add(Some(MONITORING_NAMESPACE), "NetworkPolicy", "opentelemetry-collector", &p)
}

/// Name of the egress policy to the collector in every namespace with workloads.
pub const SENDER_POLICY: &str = "allow-otel-collector";

/// Each namespace with workloads: every pod (the Istio sidecar sends its spans, the program its
/// OTLP traces and metrics) may reach the collector's receivers.
fn render_sender_policies(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let svc = otel_collector_service();
    let namespaces: std::collections::BTreeSet<&str> = env.workloads.iter().map(|w| w.namespace()).collect();
    for ns in namespaces {
        let p = NetworkPolicy {
            metadata: meta(platform, ns, SENDER_POLICY),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Egress".into()]),
                egress: Some(vec![NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(select(&[("kubernetes.io/metadata.name", svc.namespace)])),
                        pod_selector: Some(select(&COLLECTOR_POD)),
                        ..Default::default()
                    }]),
                    ports: Some(vec![tcp(OTLP_GRPC_PORT), tcp(OTLP_HTTP_PORT)]),
                }]),
                ..Default::default()
            }),
        };
        out.add(Some(ns), "NetworkPolicy", SENDER_POLICY, &p)?;
    }
    Ok(())
}

/// The collector's Prometheus exporter (the metrics it receives, Airflow's among them) and its
/// own telemetry.
fn render_pod_monitor(platform: &Platform, out: &mut Objects) -> Result<(), RenderError> {
    let pm = Resource {
        api_version: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        metadata: meta(platform, MONITORING_NAMESPACE, "opentelemetry-collector"),
        spec: PodMonitorSpec {
            selector: PodSelector {
                match_labels: COLLECTOR_POD.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                match_expressions: Vec::new(),
            },
            namespace_selector: None,
            job_label: None,
            pod_metrics_endpoints: vec![
                PodMetricsEndpoint {
                    port: PROMETHEUS_EXPORTER_PORT_NAME.into(),
                    path: "/metrics",
                    interval: "30s",
                    relabelings: Vec::new(),
                },
                PodMetricsEndpoint {
                    port: COLLECTOR_METRICS_PORT_NAME.into(),
                    path: "/metrics",
                    interval: "30s",
                    relabelings: Vec::new(),
                },
            ],
        },
    };
    out.add(Some(MONITORING_NAMESPACE), "PodMonitor", "opentelemetry-collector", &pm)
}

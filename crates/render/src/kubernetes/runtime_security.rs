//! Runtime security: what Falco and Falcosidekick need from the namespaces this bundle polices.
//! Both run in the node agents' namespace (default deny, `network_policies::render_system`);
//! Falcosidekick posts to Alertmanager in the monitoring namespace (default deny as well). The
//! rules are component entries `render_system` adds to those namespaces' policies:
//! - Falco → Falcosidekick (2801): inside the namespace, allowed by `allow-same-namespace`.
//! - Prometheus → Falco's metrics (8765, the chart's `falco-metrics` Service): [`node_agent_components`].
//! - Falcosidekick → Alertmanager (9093): egress here, ingress in [`alertmanager_ingress`].
//!
//! Falco needs nothing else on the network: the rules and the container plugin come from its
//! image (falcoctl off, `addons::runtime_security`), and the Kubernetes metadata collector is
//! off (pod name, namespace and labels come from the container runtime).

use cerverus_model::{Env, Platform};
use k8s_openapi::api::networking::v1::{
    NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Objects;
use super::network_policies::{MONITORING_NAMESPACE, PROMETHEUS_POD};
use crate::RenderError;
use crate::addons::{NODE_AGENTS_NAMESPACE, alertmanager_service};

/// Falco's pods (chart `falco`, release `falco`).
pub const FALCO_POD: (&str, &str) = ("app.kubernetes.io/name", "falco");
/// Falcosidekick's pods (chart `falcosidekick`, release `falcosidekick`).
pub const SIDEKICK_POD: (&str, &str) = ("app.kubernetes.io/name", "falcosidekick");
/// Alertmanager's pods (kube-prometheus-stack; the Prometheus Operator labels them).
pub const ALERTMANAGER_POD: (&str, &str) = ("app.kubernetes.io/name", "alertmanager");
/// Falco's webserver: health checks and, with `metrics.enabled`, Prometheus metrics.
pub const FALCO_METRICS_PORT: i32 = 8765;

/// Resources of one container: (cpu, memory, ephemeral-storage) requests and limits.
pub struct ContainerResources {
    pub requests: [&'static str; 3],
    pub limits: [&'static str; 3],
}

impl ContainerResources {
    /// As Helm values (`resources:`).
    pub fn values(&self) -> serde_json::Value {
        let side = |q: &[&str; 3]| serde_json::json!({"cpu": q[0], "memory": q[1], "ephemeral-storage": q[2]});
        serde_json::json!({"requests": side(&self.requests), "limits": side(&self.limits)})
    }
}

/// Falco's one container, on every node (no init containers: loader and falcoctl are off).
pub const FALCO_RESOURCES: ContainerResources =
    ContainerResources { requests: ["100m", "512Mi", "128Mi"], limits: ["1", "1Gi", "1Gi"] };

/// Falcosidekick's container.
pub const SIDEKICK_RESOURCES: ContainerResources =
    ContainerResources { requests: ["50m", "64Mi", "64Mi"], limits: ["500m", "256Mi", "256Mi"] };

/// Falcosidekick's replicas: two in production (alerts keep flowing through a node drain).
pub fn sidekick_replicas(env: &Env) -> u32 {
    if env.is_production() { 2 } else { 1 }
}

/// What Falco (one pod per node of the cluster at its largest) and Falcosidekick add to the node
/// agents' ResourceQuota: a Falco pod the quota refuses is a node without runtime detection.
#[derive(Debug, Default, Clone, Copy)]
pub struct QuotaShare {
    pub pods: u32,
    pub cpu_req: f64,
    pub cpu_lim: f64,
    pub mem_req: f64,
    pub mem_lim: f64,
    pub eph_req: f64,
    pub eph_lim: f64,
}

pub fn quota_share(env: &Env, max_nodes: u32) -> QuotaShare {
    let q = |s: &str| cerverus_model::quantity::parse(s).unwrap_or(0.0);
    let mut share = QuotaShare::default();
    for (r, pods) in [(&FALCO_RESOURCES, max_nodes), (&SIDEKICK_RESOURCES, sidekick_replicas(env))] {
        let n = f64::from(pods);
        share.pods += pods;
        share.cpu_req += n * q(r.requests[0]);
        share.mem_req += n * q(r.requests[1]);
        share.eph_req += n * q(r.requests[2]);
        share.cpu_lim += n * q(r.limits[0]);
        share.mem_lim += n * q(r.limits[1]);
        share.eph_lim += n * q(r.limits[2]);
    }
    share
}

/// (name, pod selector, ingress, egress), the shape of `render_system`'s component entries.
pub type Component = (&'static str, LabelSelector, Vec<NetworkPolicyIngressRule>, Vec<NetworkPolicyEgressRule>);

fn select(pair: (&str, &str)) -> LabelSelector {
    LabelSelector {
        match_labels: Some([(pair.0.to_string(), pair.1.to_string())].into_iter().collect()),
        ..Default::default()
    }
}

fn peer(ns: &str, pod: (&str, &str)) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(select(("kubernetes.io/metadata.name", ns))),
        pod_selector: Some(select(pod)),
        ..Default::default()
    }
}

fn tcp(port: i32) -> Option<Vec<NetworkPolicyPort>> {
    Some(vec![NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }])
}

/// Falco and Falcosidekick in the node agents' namespace.
pub fn node_agent_components() -> Vec<Component> {
    let alertmanager = i32::from(alertmanager_service().port);
    vec![
        (
            "falco",
            select(FALCO_POD),
            vec![NetworkPolicyIngressRule {
                from: Some(vec![peer(MONITORING_NAMESPACE, PROMETHEUS_POD)]),
                ports: tcp(FALCO_METRICS_PORT),
            }],
            vec![],
        ),
        (
            "falcosidekick",
            select(SIDEKICK_POD),
            vec![],
            vec![NetworkPolicyEgressRule {
                to: Some(vec![peer(MONITORING_NAMESPACE, ALERTMANAGER_POD)]),
                ports: tcp(alertmanager),
            }],
        ),
    ]
}

/// Alertmanager's ingress from Falcosidekick.
pub fn alertmanager_ingress() -> Vec<NetworkPolicyIngressRule> {
    vec![NetworkPolicyIngressRule {
        from: Some(vec![peer(NODE_AGENTS_NAMESPACE, SIDEKICK_POD)]),
        ports: tcp(i32::from(alertmanager_service().port)),
    }]
}

pub(super) fn render(_platform: &Platform, _env: &Env, _out: &mut Objects) -> Result<(), RenderError> {
    Ok(())
}

//! ResourceQuota and LimitRange per namespace that runs platform workloads.
//!
//! The quota is computed, not guessed: the sum over the namespace's workloads of requests and
//! limits at their maximum replica count plus the pods a rolling update adds on top (the
//! Deployment's `maxSurge`, rounded up as Kubernetes rounds it), plus one pod per Job/CronJob
//! (they run while a rollout is under way), plus 25% headroom for debugging — except GPUs, which
//! get exactly that need. A spec change that would not fit shows up as a quota diff.
//!
//! `istio-system` may hold one LoadBalancer Service (the ingress gateway's NLB) when the spec
//! exposes any workload publicly; every other namespace none.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform, quantity};
use cerverus_spec::Exposure;
use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Objects, labels};
use crate::RenderError;

/// Headroom over the computed need, in percent.
const HEADROOM_PERCENT: f64 = 25.0;

pub use cerverus_model::capacity::{DEPLOYMENT_MAX_SURGE_PERCENT, max_pods, max_replicas, surge_pods};

/// Namespace of the Istio ingress gateway, whose Service is a LoadBalancer.
pub const GATEWAY_NAMESPACE: &str = "istio-system";

/// LoadBalancer Services a namespace may create: the ingress gateway's, when anything is public.
pub fn load_balancers(env: &Env, namespace: &str) -> u32 {
    u32::from(namespace == GATEWAY_NAMESPACE && env.workloads.iter().any(|w| w.spec.exposure == Exposure::Public))
}

#[derive(Default)]
struct Totals {
    cpu_req: f64,
    cpu_lim: f64,
    mem_req: f64,
    mem_lim: f64,
    eph_req: f64,
    eph_lim: f64,
    gpu: u32,
    pods: u32,
    pvc_storage: f64,
    pvcs: u32,
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let mut per_ns: BTreeMap<&str, Totals> = BTreeMap::new();
    for w in &env.workloads {
        let t = per_ns.entry(w.namespace()).or_default();
        let n = f64::from(max_pods(w));
        let r = &w.spec.resources;
        let q = |s: &str| quantity::parse(s).unwrap_or(0.0);
        t.cpu_req += n * q(&r.requests.cpu);
        t.cpu_lim += n * q(&r.limits.cpu);
        t.mem_req += n * q(&r.requests.memory);
        t.mem_lim += n * q(&r.limits.memory);
        t.eph_req += n * q(&r.requests.ephemeral_storage);
        t.eph_lim += n * q(&r.limits.ephemeral_storage);
        // The istio-proxy injected into each pod of a meshed namespace.
        if let Some(p) = super::mesh::injected_proxy(env, w) {
            t.cpu_req += n * q(p.requests[0]);
            t.mem_req += n * q(p.requests[1]);
            t.eph_req += n * q(p.requests[2]);
            t.cpu_lim += n * q(p.limits[0]);
            t.mem_lim += n * q(p.limits[1]);
            t.eph_lim += n * q(p.limits[2]);
        }
        t.gpu += max_pods(w) * r.gpu;
        t.pods += max_pods(w);
        if let Some(st) = &w.spec.storage {
            t.pvc_storage += n * q(&st.size);
            t.pvcs += max_pods(w);
        }
    }
    // Namespaces of the platform's own components (no spec workloads) get a fixed envelope sized
    // for their charts; application namespaces get the computed one.
    let max_nodes: u32 = env.node_groups().iter().map(|g| g.max).sum();
    for ns in &env.namespaces {
        if !per_ns.contains_key(ns.name.as_str()) {
            let totals = if ns.name == crate::addons::NODE_AGENTS_NAMESPACE {
                let gpu_nodes: u32 = env.node_groups().iter().filter(|g| g.gpus_per_node > 0).map(|g| g.max).sum();
                let mut t = node_agents_envelope(max_nodes, gpu_nodes);
                // Falco on every node and Falcosidekick, with the resources their values set.
                let s = super::runtime_security::quota_share(env, max_nodes);
                t.pods += s.pods;
                t.cpu_req += s.cpu_req;
                t.cpu_lim += s.cpu_lim;
                t.mem_req += s.mem_req;
                t.mem_lim += s.mem_lim;
                t.eph_req += s.eph_req;
                t.eph_lim += s.eph_lim;
                t
            } else {
                let (cpu, mem) = platform_envelope(&ns.name);
                Totals {
                    cpu_req: cpu,
                    cpu_lim: cpu * 2.0,
                    mem_req: mem,
                    mem_lim: mem * 1.5,
                    eph_req: mem,
                    eph_lim: mem * 2.0,
                    pods: 60,
                    pvcs: 10,
                    pvc_storage: 500.0 * GIB,
                    ..Default::default()
                }
            };
            per_ns.insert(ns.name.as_str(), totals);
        }
    }
    for (ns, t) in per_ns {
        let grow = 1.0 + HEADROOM_PERCENT / 100.0;
        let mut hard = BTreeMap::from([
            ("requests.cpu".to_string(), cpu(t.cpu_req * grow)),
            ("limits.cpu".to_string(), cpu(t.cpu_lim * grow)),
            ("requests.memory".to_string(), bytes(t.mem_req * grow)),
            ("limits.memory".to_string(), bytes(t.mem_lim * grow)),
            ("requests.ephemeral-storage".to_string(), bytes(t.eph_req * grow)),
            ("limits.ephemeral-storage".to_string(), bytes(t.eph_lim * grow)),
            ("pods".to_string(), Quantity(((f64::from(t.pods) * grow).ceil() as u64).to_string())),
            ("services.loadbalancers".to_string(), Quantity(load_balancers(env, ns).to_string())),
            ("services.nodeports".to_string(), Quantity("0".into())),
        ]);
        // GPUs are the scarcest resource: no headroom, exactly what the spec asks for.
        // The annotation states the same number, so it cannot drift from the quota.
        let gpus = t.gpu;
        hard.insert("requests.nvidia.com/gpu".to_string(), Quantity(gpus.to_string()));
        hard.insert(
            "persistentvolumeclaims".to_string(),
            Quantity(((f64::from(t.pvcs) * grow).ceil() as u64).to_string()),
        );
        hard.insert("requests.storage".to_string(), bytes(t.pvc_storage * grow));
        let meta = |name: &str| ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            labels: Some(labels::common(&platform.name)),
            annotations: Some(BTreeMap::from([(
                "cerverus.io/derived-from".to_string(),
                format!(
                    "max replicas + rollout surge ({DEPLOYMENT_MAX_SURGE_PERCENT}% of max, rounded up) per Deployment + 1 pod per Job/CronJob, each with its Istio sidecar in a meshed namespace, +{HEADROOM_PERCENT}% headroom; GPUs: {gpus}, no headroom"
                ),
            )])),
            ..Default::default()
        };
        out.add(
            Some(ns),
            "ResourceQuota",
            "compute",
            &ResourceQuota {
                metadata: meta("compute"),
                spec: Some(ResourceQuotaSpec { hard: Some(hard), ..Default::default() }),
                ..Default::default()
            },
        )?;
        let q = |s: &str| Quantity(s.to_string());
        out.add(
            Some(ns),
            "LimitRange",
            "defaults",
            &LimitRange {
                metadata: ObjectMeta { annotations: None, ..meta("defaults") },
                spec: Some(LimitRangeSpec {
                    limits: vec![LimitRangeItem {
                        type_: "Container".into(),
                        default_request: Some(BTreeMap::from([
                            ("cpu".into(), q("100m")),
                            ("memory".into(), q("128Mi")),
                            ("ephemeral-storage".into(), q("128Mi")),
                        ])),
                        default: Some(BTreeMap::from([
                            ("cpu".into(), q("500m")),
                            ("memory".into(), q("512Mi")),
                            ("ephemeral-storage".into(), q("1Gi")),
                        ])),
                        max: Some(BTreeMap::from([("memory".into(), q("64Gi")), ("cpu".into(), q("16"))])),
                        ..Default::default()
                    }],
                }),
            },
        )?;
    }
    Ok(())
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Requests (cores, bytes) that platform namespaces may use, before headroom: Prometheus with its
/// retention, Alertmanager and Grafana; istiod and the gateways.
fn platform_envelope(ns: &str) -> (f64, f64) {
    match ns {
        "cerverus-monitoring" => (12.0, 48.0 * GIB),
        "istio-system" => (6.0, 12.0 * GIB),
        _ => (3.0, 6.0 * GIB),
    }
}

/// Node agents run one pod per node each — node-exporter and Fluent Bit everywhere, the device
/// plugin and the DCGM exporter on GPU nodes: two per node of the cluster at maximum size plus two
/// per GPU node. The charts of three of them set no resources, so each container gets this
/// namespace's LimitRange defaults (requests 100m / 128Mi / 128Mi ephemeral, limits 500m / 512Mi /
/// 1Gi); Fluent Bit's values ask the same requests and less memory limit, the rest from the
/// defaults. A DaemonSet pod the quota refuses is a node without its agent, so the envelope is
/// those defaults times the pods, not a guess.
fn node_agents_envelope(max_nodes: u32, gpu_nodes: u32) -> Totals {
    // Falco and Falcosidekick are added from their own values by the caller.
    let pods = 2 * max_nodes + 2 * gpu_nodes;
    let n = f64::from(pods);
    let mib = 1024.0 * 1024.0;
    Totals {
        cpu_req: 0.1 * n,
        cpu_lim: 0.5 * n,
        mem_req: 128.0 * mib * n,
        mem_lim: 512.0 * mib * n,
        eph_req: 128.0 * mib * n,
        eph_lim: GIB * n,
        pods,
        ..Default::default()
    }
}

/// Cores → millicores, rounded up.
fn cpu(cores: f64) -> Quantity {
    Quantity(format!("{}m", (cores * 1000.0).ceil() as u64))
}

/// Bytes → Mi, rounded up.
fn bytes(b: f64) -> Quantity {
    Quantity(format!("{}Mi", (b / (1024.0 * 1024.0)).ceil() as u64))
}

//! NetworkPolicies derived from the dependency graph.
//!
//! Every namespace that runs platform workloads gets a default deny (ingress and egress) and a
//! DNS allowance. Each workload then gets one policy whose rules are exactly its edges in the
//! graph, in both directions, plus the platform's own edges (Prometheus scraping the `metrics`
//! port, the Istio ingress gateway reaching public workloads, sidecars reaching istiod), each
//! of which is named in [`PlatformEdge`] so tests can tell them from declared dependencies.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_model::contracts::Destination;
use cerverus_model::{Env, Platform, SubnetTier, Target, Workload};
use cerverus_spec::Exposure;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Objects, labels};
use crate::RenderError;
use crate::addons::NODE_AGENTS_NAMESPACE;

/// Namespace label every namespace carries (set by the API server).
const NS_NAME: &str = "kubernetes.io/metadata.name";
/// Address ranges that are never "the internet" for egress rules.
const PRIVATE_RANGES: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// Edges the platform itself needs, not declared by any workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformEdge {
    /// Pods → kube-dns on 53/UDP and 53/TCP.
    Dns,
    /// Prometheus (in the monitoring namespace) → each workload's `metrics` port.
    MetricsScrape,
    /// Istio ingress gateway → public workloads' HTTP ports.
    IngressGateway,
    /// Sidecars → istiod (xDS and certificates) on 15012.
    MeshControlPlane,
}

impl PlatformEdge {
    pub fn annotation(self) -> &'static str {
        match self {
            PlatformEdge::Dns => "dns",
            PlatformEdge::MetricsScrape => "metrics-scrape",
            PlatformEdge::IngressGateway => "ingress-gateway",
            PlatformEdge::MeshControlPlane => "mesh-control-plane",
        }
    }
}

/// The namespace Prometheus runs in and the labels of its pods.
pub const MONITORING_NAMESPACE: &str = "cerverus-monitoring";
pub const PROMETHEUS_POD: (&str, &str) = ("app.kubernetes.io/name", "prometheus");
/// The Istio ingress gateway's namespace and pod label.
pub const GATEWAY_NAMESPACE: &str = "istio-system";
pub const GATEWAY_POD: (&str, &str) = ("istio", "ingressgateway");
pub const ISTIOD_POD: (&str, &str) = ("app", "istiod");
pub const ISTIOD_PORT: i32 = 15012;

pub(super) fn render(
    platform: &Platform,
    env: &Env,
    workloads: &[&Workload],
    out: &mut Objects,
) -> Result<(), RenderError> {
    let namespaces: BTreeSet<&str> = workloads.iter().map(|w| w.namespace()).collect();
    for ns in &namespaces {
        out.add(Some(ns), "NetworkPolicy", "default-deny", &default_deny(platform, ns))?;
        out.add(Some(ns), "NetworkPolicy", "allow-dns", &allow_dns(platform, ns))?;
        if env.namespace(ns).is_some_and(|n| n.istio_injection) {
            out.add(Some(ns), "NetworkPolicy", "allow-istiod", &allow_istiod(platform, ns))?;
        }
    }
    for w in workloads {
        out.add(Some(w.namespace()), "NetworkPolicy", w.name(), &workload_policy(env, workloads, w))?;
    }
    // The schema migration Job runs the pod of the role its contract names: it reaches what that
    // role reaches (the metadata database) and nothing reaches it.
    for w in workloads.iter().filter(|w| super::workloads::runs_migration(w)) {
        let mut p = workload_policy(env, workloads, w);
        let name = super::workloads::migration_job_name(w);
        p.metadata.name = Some(name.clone());
        if let Some(spec) = p.spec.as_mut() {
            spec.pod_selector = Some(LabelSelector {
                match_labels: Some(super::workloads::migration_selector(w)),
                ..Default::default()
            });
            spec.ingress = Some(Vec::new());
        }
        out.add(Some(w.namespace()), "NetworkPolicy", &name, &p)?;
    }
    Ok(())
}

fn ns_meta(platform: &Platform, ns: &str, name: &str, edge: Option<PlatformEdge>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        labels: Some(labels::common(&platform.name)),
        annotations: edge
            .map(|e| BTreeMap::from([("cerverus.io/platform-edge".to_string(), e.annotation().to_string())])),
        ..Default::default()
    }
}

fn select(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    }
}

fn peer_in(ns: &str, pod: Option<LabelSelector>) -> NetworkPolicyPeer {
    NetworkPolicyPeer { namespace_selector: Some(select(&[(NS_NAME, ns)])), pod_selector: pod, ..Default::default() }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort { port: Some(IntOrString::Int(port)), protocol: Some("TCP".into()), ..Default::default() }
}

fn default_deny(platform: &Platform, ns: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ns_meta(platform, ns, "default-deny", None),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ..Default::default()
        }),
    }
}

fn allow_dns(platform: &Platform, ns: &str) -> NetworkPolicy {
    let udp =
        NetworkPolicyPort { port: Some(IntOrString::Int(53)), protocol: Some("UDP".into()), ..Default::default() };
    NetworkPolicy {
        metadata: ns_meta(platform, ns, "allow-dns", Some(PlatformEdge::Dns)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![peer_in("kube-system", Some(select(&[("k8s-app", "kube-dns")])))]),
                ports: Some(vec![udp, tcp(53)]),
            }]),
            ..Default::default()
        }),
    }
}

fn allow_istiod(platform: &Platform, ns: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ns_meta(platform, ns, "allow-istiod", Some(PlatformEdge::MeshControlPlane)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![peer_in(GATEWAY_NAMESPACE, Some(select(&[ISTIOD_POD])))]),
                ports: Some(vec![tcp(ISTIOD_PORT)]),
            }]),
            ..Default::default()
        }),
    }
}

fn workload_selector(w: &Workload) -> LabelSelector {
    LabelSelector { match_labels: Some(labels::selector(w)), ..Default::default() }
}

fn workload_policy(env: &Env, workloads: &[&Workload], w: &Workload) -> NetworkPolicy {
    // Ingress: one rule per port, from every declared caller of that port.
    let mut by_port: BTreeMap<i32, Vec<NetworkPolicyPeer>> = BTreeMap::new();
    for e in env.graph.into_workload(w.name()) {
        let Some(port) = e.port else { continue };
        let Some(caller) = workloads.iter().find(|c| c.name() == e.from) else { continue };
        by_port.entry(i32::from(port)).or_default().push(peer_in(caller.namespace(), Some(workload_selector(caller))));
    }
    let mut ingress: Vec<NetworkPolicyIngressRule> = by_port
        .into_iter()
        .map(|(port, from)| NetworkPolicyIngressRule { from: Some(from), ports: Some(vec![tcp(port)]) })
        .collect();
    if w.spec.exposure == Exposure::Public {
        for p in w.serving_http_ports() {
            ingress.push(NetworkPolicyIngressRule {
                from: Some(vec![peer_in(GATEWAY_NAMESPACE, Some(select(&[GATEWAY_POD])))]),
                ports: Some(vec![tcp(i32::from(p.port))]),
            });
        }
    }
    if let Some(m) = w.metrics_port() {
        ingress.push(NetworkPolicyIngressRule {
            from: Some(vec![peer_in(MONITORING_NAMESPACE, Some(select(&[PROMETHEUS_POD])))]),
            ports: Some(vec![tcp(i32::from(m.port))]),
        });
    }

    // Egress: one rule per declared dependency.
    let data_subnets: Vec<String> = env.network.tier(SubnetTier::Data).map(|s| s.cidr.to_string()).collect();
    let internet = || NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: "0.0.0.0/0".into(),
            except: Some(PRIVATE_RANGES.iter().map(|s| s.to_string()).collect()),
        }),
        ..Default::default()
    };
    let mut egress = Vec::new();
    let mut s3 = false;
    for e in env.graph.from(w.name()) {
        match &e.to {
            Target::Workload { name, namespace, .. } => {
                let Some(callee) = workloads.iter().find(|c| c.name() == name) else { continue };
                let Some(port) = e.port else { continue };
                egress.push(NetworkPolicyEgressRule {
                    to: Some(vec![peer_in(namespace, Some(workload_selector(callee)))]),
                    ports: Some(vec![tcp(i32::from(port))]),
                });
            }
            Target::Postgres { .. } | Target::Redis { .. } => {
                let Some(port) = e.port else { continue };
                egress.push(NetworkPolicyEgressRule {
                    to: Some(
                        data_subnets
                            .iter()
                            .map(|c| NetworkPolicyPeer {
                                ip_block: Some(IPBlock { cidr: c.clone(), except: None }),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ports: Some(vec![tcp(i32::from(port))]),
                });
            }
            Target::External { .. } => {
                let Some(port) = e.port else { continue };
                // Through the egress gateway when the pod is in the mesh (`mesh.rs`).
                egress.push(super::mesh::external_egress(env, w, port));
            }
            // S3 is reached through the VPC gateway endpoint, whose routes point at S3's public
            // ranges; access itself is governed by the workload's IAM role.
            Target::Bucket { .. } => s3 = true,
        }
    }
    if s3 {
        egress.push(NetworkPolicyEgressRule { to: Some(vec![internet()]), ports: Some(vec![tcp(443)]) });
    }
    egress.extend(runtime_egress(env, w));
    egress.dedup();

    let mut meta = ObjectMeta {
        name: Some(w.name().to_string()),
        namespace: Some(w.namespace().to_string()),
        labels: Some(labels::workload(w)),
        ..Default::default()
    };
    meta.annotations = Some(BTreeMap::from([(
        "cerverus.io/derived-from".to_string(),
        "dependsOn edges of the platform spec, the workload's runtime contract and its IRSA role".to_string(),
    )]));
    NetworkPolicy {
        metadata: meta,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(workload_selector(w)),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(ingress),
            egress: Some(egress),
        }),
    }
}

/// Egress a workload needs because of how it runs, not because of what it declares:
///
/// - **STS** for pods with an IRSA role: the SDK's first call is `AssumeRoleWithWebIdentity`,
///   answered by the `sts` interface endpoint, whose ENIs sit in the private subnets (private
///   DNS resolves `sts.<region>.amazonaws.com` to them). The internet rule excludes 10.0.0.0/8,
///   so without this rule every AWS call of the pod fails at its first step.
/// - **The API server** for pods that call it (a mounted service-account token, or a runtime
///   contract that says so, e.g. the Airflow worker's KubernetesPodOperator): clients dial the
///   `kubernetes` Service's ClusterIP, which kube-proxy DNATs to the control plane's ENIs in the
///   private subnets. An enforcement point may see either address (the VPC CNI's eBPF agent
///   sees the packet before the DNAT), so both are allowed, on 443 only.
/// - **AWS APIs** a controller's contract names: the interface endpoints (private subnets) and
///   the public endpoints of services that have none.
///
/// DNS (53 UDP+TCP to kube-dns) is every namespace's `allow-dns` policy.
fn runtime_egress(env: &Env, w: &Workload) -> Vec<NetworkPolicyEgressRule> {
    let block =
        |cidr: String| NetworkPolicyPeer { ip_block: Some(IPBlock { cidr, except: None }), ..Default::default() };
    let private: Vec<NetworkPolicyPeer> =
        env.network.tier(SubnetTier::Private).map(|s| block(s.cidr.to_string())).collect();
    let mut rules = Vec::new();
    let aws_api = w.contract.is_some_and(|c| c.egress.iter().any(|e| e.destination() == Destination::AwsApi));
    let api_server = env.calls_kubernetes_api(w);
    if env.has_irsa(w) || aws_api || api_server {
        let mut to = private;
        if api_server {
            to.push(block(format!("{}/32", env.kubernetes_service_ip())));
        }
        rules.push(NetworkPolicyEgressRule { to: Some(to), ports: Some(vec![tcp(443)]) });
    }
    if aws_api {
        let internet = NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: "0.0.0.0/0".into(),
                except: Some(PRIVATE_RANGES.iter().map(|s| s.to_string()).collect()),
            }),
            ..Default::default()
        };
        rules.push(NetworkPolicyEgressRule { to: Some(vec![internet]), ports: Some(vec![tcp(443)]) });
    }
    rules
}

/// Policies of the platform's own namespaces (monitoring, node agents, the Istio control plane):
/// default deny, DNS, traffic inside the namespace, the Kubernetes API, and each component's
/// documented ports — so every namespace, not only the application ones, starts from deny.
pub(super) fn render_system(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let vpc = env.network.vpc_cidr.to_string();
    let from_vpc =
        || NetworkPolicyPeer { ip_block: Some(IPBlock { cidr: vpc.clone(), except: None }), ..Default::default() };
    let any_namespace =
        || NetworkPolicyPeer { namespace_selector: Some(LabelSelector::default()), ..Default::default() };
    let internet = || NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: "0.0.0.0/0".into(),
            except: Some(PRIVATE_RANGES.iter().map(|s| s.to_string()).collect()),
        }),
        ..Default::default()
    };
    let same_namespace = || NetworkPolicyPeer { pod_selector: Some(LabelSelector::default()), ..Default::default() };
    let ports = |ps: &[i32]| Some(ps.iter().map(|p| tcp(*p)).collect::<Vec<_>>());
    let with_workloads: BTreeSet<&str> = env.workloads.iter().map(|w| w.namespace()).collect();
    for ns in env.namespaces.iter().map(|n| n.name.as_str()).filter(|n| !with_workloads.contains(n)) {
        // (pod selector, ingress rules, egress rules) per component of the namespace.
        let components: Vec<(&str, LabelSelector, Vec<NetworkPolicyIngressRule>, Vec<NetworkPolicyEgressRule>)> =
            match ns {
                MONITORING_NAMESPACE => vec![
                    (
                        "prometheus",
                        select(&[PROMETHEUS_POD]),
                        vec![NetworkPolicyIngressRule {
                            // KEDA's Prometheus triggers, Kiali, Argo Rollouts' analysis runs.
                            from: Some(vec![
                                peer_in("keda", None),
                                super::mesh::kiali_peer(),
                                peer_in(super::rollouts::CONTROLLER_NAMESPACE, None),
                            ]),
                            ports: ports(&[9090]),
                        }],
                        vec![
                            // Scrapes every namespace's metrics ports (their own policies admit it)…
                            NetworkPolicyEgressRule { to: Some(vec![any_namespace()]), ports: None },
                            // …and the nodes: kubelet, node-exporter (host network).
                            NetworkPolicyEgressRule { to: Some(vec![from_vpc()]), ports: ports(&[10250, 9100]) },
                        ],
                    ),
                    (
                        "alertmanager",
                        select(&[("app.kubernetes.io/name", "alertmanager")]),
                        super::runtime_security::alertmanager_ingress(),
                        vec![NetworkPolicyEgressRule { to: Some(vec![internet()]), ports: ports(&[443]) }],
                    ),
                ],
                GATEWAY_NAMESPACE => super::mesh::istio_system_components(env),
                // Prometheus scrapes the node agents on their metrics ports, and nothing else
                // reaches them. node-exporter runs with hostNetwork (chart default), and a
                // NetworkPolicy does not apply to host-network pods: its rule is inert today
                // (Prometheus reaches it on the node's address, see its egress above) and holds
                // only if host networking is ever turned off. dcgm-exporter is a pod-network
                // pod, so its rule is what lets Prometheus in.
                NODE_AGENTS_NAMESPACE => NODE_AGENT_SCRAPES
                    .iter()
                    .map(|a| {
                        (
                            a.name,
                            select(&[a.pod]),
                            vec![NetworkPolicyIngressRule {
                                from: Some(vec![peer_in(MONITORING_NAMESPACE, Some(select(&[PROMETHEUS_POD])))]),
                                ports: ports(&[a.port]),
                            }],
                            vec![],
                        )
                    })
                    .chain(super::runtime_security::node_agent_components())
                    .collect(),
                _ => vec![],
            };
        out.add(Some(ns), "NetworkPolicy", "default-deny", &default_deny(platform, ns))?;
        out.add(Some(ns), "NetworkPolicy", "allow-dns", &allow_dns(platform, ns))?;
        out.add(
            Some(ns),
            "NetworkPolicy",
            "allow-same-namespace",
            &NetworkPolicy {
                metadata: ns_meta(platform, ns, "allow-same-namespace", None),
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(LabelSelector::default()),
                    policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                    ingress: Some(vec![NetworkPolicyIngressRule { from: Some(vec![same_namespace()]), ports: None }]),
                    egress: Some(vec![NetworkPolicyEgressRule { to: Some(vec![same_namespace()]), ports: None }]),
                }),
            },
        )?;
        out.add(
            Some(ns),
            "NetworkPolicy",
            "allow-kubernetes-api",
            &NetworkPolicy {
                metadata: ns_meta(platform, ns, "allow-kubernetes-api", None),
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(LabelSelector::default()),
                    policy_types: Some(vec!["Egress".into()]),
                    // The API server's ENIs sit in the VPC's private subnets; clients dial the
                    // `kubernetes` Service's ClusterIP, which an eBPF enforcer sees before
                    // kube-proxy DNATs it (see `runtime_egress`).
                    egress: Some(vec![NetworkPolicyEgressRule {
                        to: Some(vec![
                            from_vpc(),
                            NetworkPolicyPeer {
                                ip_block: Some(IPBlock {
                                    cidr: format!("{}/32", env.kubernetes_service_ip()),
                                    except: None,
                                }),
                                ..Default::default()
                            },
                        ]),
                        ports: ports(&[443]),
                    }]),
                    ..Default::default()
                }),
            },
        )?;
        for (name, policy) in api_server_ingress(platform, env, ns) {
            out.add(Some(ns), "NetworkPolicy", &name, &policy)?;
        }
        for (name, selector, ingress, egress) in components {
            let mut types = Vec::new();
            if !ingress.is_empty() {
                types.push("Ingress".to_string());
            }
            if !egress.is_empty() {
                types.push("Egress".to_string());
            }
            out.add(
                Some(ns),
                "NetworkPolicy",
                name,
                &NetworkPolicy {
                    metadata: ns_meta(platform, ns, name, None),
                    spec: Some(NetworkPolicySpec {
                        pod_selector: Some(selector),
                        policy_types: Some(types),
                        ingress: (!ingress.is_empty()).then_some(ingress),
                        egress: (!egress.is_empty()).then_some(egress),
                    }),
                },
            )?;
        }
    }
    render_keda_operator(platform, env, out)
}

/// A node agent Prometheus scrapes, with its pod label and metrics port as the pinned chart sets
/// them (`data/reference/helm/`: dcgm-exporter 4.1.1 `service.port` 9400, prometheus-node-exporter
/// 4.56.1 `service.port` 9100; both charts label their pods `app.kubernetes.io/name: <chart>`).
pub struct NodeAgentScrape {
    pub name: &'static str,
    pub pod: (&'static str, &'static str),
    pub port: i32,
}

pub const NODE_AGENT_SCRAPES: &[NodeAgentScrape] = &[
    NodeAgentScrape { name: "dcgm-exporter", pod: ("app.kubernetes.io/name", "dcgm-exporter"), port: 9400 },
    NodeAgentScrape { name: "node-exporter", pod: ("app.kubernetes.io/name", "prometheus-node-exporter"), port: 9100 },
];

/// A port of an add-on's pods that the Kubernetes API server dials: an admission webhook or an
/// aggregated API (`v1beta1.metrics.k8s.io`, `v1beta1.external.metrics.k8s.io`). The API server
/// calls it from the control plane's ENIs, which EKS places in the subnets the cluster is given
/// (the private ones, `modules/eks` `private_subnet_ids`), straight to the pod's port (not the
/// Service port). Ports and pod labels as the pinned chart sets them; the namespace is the
/// chart's, read from [`crate::addons::CHARTS`].
pub struct ApiServerCallee {
    pub chart: &'static str,
    pub component: &'static str,
    pub pod: (&'static str, &'static str),
    pub port: i32,
}

pub const API_SERVER_CALLEES: &[ApiServerCallee] = &[
    // kube-prometheus-stack 88.5.3: the operator serves its admission webhook itself
    // (`prometheusOperator.admissionWebhooks.deployment.enabled: false`) on `tls.internalPort`
    // 10250; its pods carry `app: <chart name>-operator` (also the Deployment's selector).
    ApiServerCallee {
        chart: "kube-prometheus-stack",
        component: "prometheus-operator",
        pod: ("app", "kube-prometheus-stack-operator"),
        port: 10250,
    },
    // keda 2.17.2 values: `webhooks.port` default 9443; `service.portHttpsTarget` 6443 is the
    // metrics API server's container port behind `v1beta1.external.metrics.k8s.io`.
    ApiServerCallee {
        chart: "keda",
        component: "keda-admission-webhooks",
        pod: ("app.kubernetes.io/name", "keda-admission-webhooks"),
        port: 9443,
    },
    ApiServerCallee {
        chart: "keda",
        component: "keda-operator-metrics-apiserver",
        pod: ("app.kubernetes.io/name", "keda-operator-metrics-apiserver"),
        port: 6443,
    },
    // metrics-server 3.12.2 values: `containerPort` 10250, behind `v1beta1.metrics.k8s.io`.
    ApiServerCallee {
        chart: "metrics-server",
        component: "metrics-server",
        pod: ("app.kubernetes.io/name", "metrics-server"),
        port: 10250,
    },
];

/// The namespace an add-on chart installs into, from the pinned add-on list.
pub fn chart_namespace(chart: &str) -> Option<&'static str> {
    crate::addons::CHARTS.iter().find(|c| c.chart == chart).map(|c| c.namespace)
}

/// Ingress from the control plane to every [`API_SERVER_CALLEES`] port whose chart installs into
/// `ns`, a namespace this bundle polices (default deny). Namespaces the bundle does not police
/// (kube-system, keda) need none — and get none: a policy selecting those pods would isolate
/// them and cut everything else that reaches them.
fn api_server_ingress(platform: &Platform, env: &Env, ns: &str) -> Vec<(String, NetworkPolicy)> {
    let private: Vec<NetworkPolicyPeer> = env
        .network
        .tier(SubnetTier::Private)
        .map(|s| NetworkPolicyPeer {
            ip_block: Some(IPBlock { cidr: s.cidr.to_string(), except: None }),
            ..Default::default()
        })
        .collect();
    API_SERVER_CALLEES
        .iter()
        .filter(|c| chart_namespace(c.chart) == Some(ns))
        .map(|c| {
            let name = format!("allow-api-server-to-{}", c.component);
            let policy = NetworkPolicy {
                metadata: ns_meta(platform, ns, &name, None),
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(select(&[c.pod])),
                    policy_types: Some(vec!["Ingress".into()]),
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        from: Some(private.clone()),
                        ports: Some(vec![tcp(c.port)]),
                    }]),
                    ..Default::default()
                }),
            };
            (name, policy)
        })
        .collect()
}

/// KEDA's namespace is the chart's, not policed by the bundle otherwise; once a Redis trigger
/// makes the operator dial ElastiCache, its pods get one egress policy listing everything its
/// runtime contract says it reaches (DNS, the API server, Prometheus, and the Redis stores the
/// workloads' queue triggers read — `autoscaling::queue_trigger`, on each store's port in the
/// data subnets), so selecting the pods isolates nothing they need.
pub(super) fn render_keda_operator(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    const NS: &str = "keda";
    let Some(contract) = cerverus_model::contracts::by_name("keda-operator") else { return Ok(()) };
    let redis_ports: BTreeSet<u16> = env
        .workloads
        .iter()
        .filter(|w| super::autoscaling::queue_trigger(platform, env, w).is_some())
        .flat_map(|w| env.redis_connections(&platform.name, w))
        .map(|r| r.port)
        .collect();
    if redis_ports.is_empty() {
        return Ok(());
    }
    let block =
        |cidr: String| NetworkPolicyPeer { ip_block: Some(IPBlock { cidr, except: None }), ..Default::default() };
    let mut egress = Vec::new();
    for e in &contract.egress {
        let port = i32::from(e.port);
        let rule = match e.destination() {
            Destination::Dns => NetworkPolicyEgressRule {
                to: Some(vec![peer_in("kube-system", Some(select(&[("k8s-app", "kube-dns")])))]),
                ports: Some(vec![
                    NetworkPolicyPort {
                        port: Some(IntOrString::Int(port)),
                        protocol: Some("UDP".into()),
                        ..Default::default()
                    },
                    tcp(port),
                ]),
            },
            Destination::KubeApiserver => {
                let mut to: Vec<NetworkPolicyPeer> =
                    env.network.tier(SubnetTier::Private).map(|s| block(s.cidr.to_string())).collect();
                to.push(block(format!("{}/32", env.kubernetes_service_ip())));
                NetworkPolicyEgressRule { to: Some(to), ports: Some(vec![tcp(port)]) }
            }
            Destination::Named("prometheus") => NetworkPolicyEgressRule {
                to: Some(vec![peer_in(MONITORING_NAMESPACE, Some(select(&[PROMETHEUS_POD])))]),
                ports: Some(vec![tcp(port)]),
            },
            Destination::Redis => NetworkPolicyEgressRule {
                to: Some(env.network.tier(SubnetTier::Data).map(|s| block(s.cidr.to_string())).collect()),
                ports: Some(redis_ports.iter().map(|p| tcp(i32::from(*p))).collect()),
            },
            _ => continue,
        };
        egress.push(rule);
    }
    let policy = NetworkPolicy {
        metadata: ns_meta(platform, NS, "keda-operator", None),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(select(&[("app.kubernetes.io/name", "keda-operator")])),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(egress),
            ..Default::default()
        }),
    };
    out.add(Some(NS), "NetworkPolicy", "keda-operator", &policy)
}

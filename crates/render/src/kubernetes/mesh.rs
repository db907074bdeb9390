//! The Istio mesh of one environment (sidecar mode with the Istio CNI node agent:
//! `docs/adr/0006-istio-sidecar-vs-ambient.md`): the public entry, the way out, per-service
//! traffic policy, and who may call whom.
//!
//! - **Public entry**: Gateway `istio-system/public` on the ingress gateway pods (behind an NLB,
//!   `addons/mesh.rs`): HTTPS per public host with cert-manager's Secret
//!   ([`tls_secret_name`]), HTTP only to redirect to HTTPS. Each public workload's VirtualService
//!   binds to it.
//! - **Way out**: `outboundTrafficPolicy: REGISTRY_ONLY` (istiod values) blocks every host not in
//!   the registry. Each declared external service gets a ServiceEntry and a VirtualService that
//!   sends its TLS (SNI passthrough) from the sidecar to the egress gateway and from there to the
//!   host. The platform's own non-mesh destinations (the data stores in the data subnets, AWS
//!   APIs through the VPC endpoints) are registered as well, or no workload could reach them.
//! - **Traffic policy**: a VirtualService and DestinationRule for every workload with an HTTP
//!   port that something reaches (the gateway or a declared caller): LEAST_REQUEST, connection
//!   pools, outlier detection, retries on failures where the request was never processed,
//!   timeouts from the latency SLO, `stable`/`canary` subsets for canary rollouts.
//! - **Security**: mTLS STRICT mesh-wide (the metrics port PERMISSIVE, as Prometheus is not in
//!   the mesh); per namespace an ALLOW-nothing AuthorizationPolicy and per workload ALLOW rules
//!   from the same dependency graph as the NetworkPolicies (callers' service-account
//!   principals); JWT on the public API; access and audit logs (Telemetry); local rate limiting
//!   on the public API's sidecar.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_model::capacity::{MESH_PROXY_CPU_REQUEST, MESH_PROXY_MEMORY_REQUEST};
use cerverus_model::{Env, Platform, SubnetTier, Target, Workload};
use cerverus_spec::{Exposure, RolloutStrategy};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::json;

use super::crd::Resource;
use super::crd::istio::*;
use super::network_policies::{GATEWAY_NAMESPACE, ISTIOD_POD, MONITORING_NAMESPACE, PROMETHEUS_POD};
use super::runtime_security::ContainerResources;
use super::{Objects, labels, rollouts};
use crate::RenderError;
use crate::addons::{otel_collector_service, prometheus_service};

/// Helm release (and so Service, ServiceAccount and `istio=` pod label) of the ingress gateway.
pub const INGRESS_GATEWAY: &str = "istio-ingressgateway";
/// Helm release of the egress gateway.
pub const EGRESS_GATEWAY: &str = "istio-egressgateway";
/// Pod label of the egress gateway (the gateway chart sets `istio: <release minus istio->`).
pub const EGRESS_GATEWAY_POD: (&str, &str) = ("istio", "egressgateway");
/// The Gateway resource public VirtualServices bind to (`istio-system/public`).
pub const PUBLIC_GATEWAY: &str = "public";
/// The Gateway resource on the egress gateway pods (`istio-system/egress`).
pub const EGRESS_GATEWAY_RESOURCE: &str = "egress";

/// The ingress gateway Service's ports and the pods' ports they target. The pods listen on
/// unprivileged ports (no `ip_unprivileged_port_start` sysctl, no root); istiod binds a Gateway
/// server on port 443 to the Service's target port 8443. The NLB targets the pod IPs on these.
pub const INGRESS_HTTP: (u16, u16) = (80, 8080);
pub const INGRESS_HTTPS: (u16, u16) = (443, 8443);
/// The gateway's readiness endpoint (pilot-agent), which the NLB health-checks.
pub const GATEWAY_STATUS_PORT: u16 = 15021;
pub const GATEWAY_READY_PATH: &str = "/healthz/ready";

/// Mesh config extension providers (istiod values), referenced by the Telemetry resources.
pub const TRACING_PROVIDER: &str = "otel";
pub const ACCESS_LOG_PROVIDER: &str = "envoy";
pub const AUDIT_LOG_PROVIDER: &str = "audit-log";
/// Share of requests traced (Telemetry `randomSamplingPercentage`).
const TRACE_SAMPLING_PERCENT: f64 = 10.0;

/// The identity provider whose tokens the public API accepts. The spec has no field for it (the
/// API's own `alerts-api-jwt` key signs nothing Istio could verify: a shared HMAC key cannot be
/// published as JWKS), so it is this platform-wide constant: the issuer the API's clients obtain
/// tokens from, whose JWKS istiod fetches (its NetworkPolicy allows HTTPS out for that).
pub const JWT_ISSUER: &str = "https://auth.cerverus.io";
pub const JWKS_URI: &str = "https://auth.cerverus.io/.well-known/jwks.json";
/// Header the validated token's subject is copied to (read by the audit log).
pub const JWT_SUBJECT_HEADER: &str = "x-jwt-sub";

/// Jaeger's query API (release `jaeger`, chart 4.x: one Service named after the release,
/// query on 16686), which Kiali links traces to.
pub const JAEGER_QUERY_PORT: u16 = 16686;
pub fn jaeger_query_url() -> String {
    format!("http://jaeger.{MONITORING_NAMESPACE}.svc:{JAEGER_QUERY_PORT}")
}

/// Name of the hostname suffix the Kubernetes Services resolve under.
const CLUSTER_DOMAIN: &str = "svc.cluster.local";

/// The Secret holding `host`'s TLS certificate, in the ingress gateway's namespace: written by
/// cert-manager's Certificate (`certificates.rs`), read by the Gateway's `credentialName`.
pub fn tls_secret_name(host: &str) -> String {
    format!("{}-tls", host.replace('.', "-"))
}

/// `cluster.local/ns/<ns>/sa/<sa>`: the SPIFFE identity of a pod's mTLS certificate.
pub fn principal(namespace: &str, service_account: &str) -> String {
    format!("cluster.local/ns/{namespace}/sa/{service_account}")
}

/// The ingress gateway pods' identity (the chart's ServiceAccount is named after the release).
pub fn ingress_gateway_principal() -> String {
    principal(GATEWAY_NAMESPACE, INGRESS_GATEWAY)
}

/// In-cluster host name of a workload's Service.
pub fn service_host(w: &Workload) -> String {
    format!("{}.{}.{CLUSTER_DOMAIN}", w.name(), w.namespace())
}

fn egress_gateway_host() -> String {
    format!("{EGRESS_GATEWAY}.{GATEWAY_NAMESPACE}.{CLUSTER_DOMAIN}")
}

/// The egress gateway pods' port behind Service port `port` (unprivileged, like the ingress).
pub fn egress_target_port(port: u16) -> u16 {
    if port < 1024 { port + 8000 } else { port }
}

/// Every port a declared external service is called on.
pub fn external_ports(env: &Env) -> BTreeSet<u16> {
    env.external_services.iter().map(|s| s.port).collect()
}

/// Whether `w`'s namespace has sidecar injection (the mesh applies to it).
pub fn in_mesh(env: &Env, w: &Workload) -> bool {
    env.in_mesh(w)
}

/// The `istio-proxy` injected into every meshed pod (istiod values `global.proxy.resources`:
/// the chart's defaults, with ephemeral storage). It is a container of the pod like any other:
/// the namespace's ResourceQuota must hold it once per pod, or a scale-out is refused for the
/// sidecar's share (`quotas.rs` adds [`injected_proxy`] per pod); the node pools too (the
/// model's capacity check counts the same requests, `cerverus_model::capacity`).
pub const PROXY_RESOURCES: ContainerResources = ContainerResources {
    requests: [MESH_PROXY_CPU_REQUEST, MESH_PROXY_MEMORY_REQUEST, "128Mi"],
    limits: ["2", "1Gi", "1Gi"],
};

/// The sidecar every pod of `w` carries, if it is in the mesh.
pub fn injected_proxy(env: &Env, w: &Workload) -> Option<&'static ContainerResources> {
    in_mesh(env, w).then_some(&PROXY_RESOURCES)
}

/// The HTTP port a workload's VirtualService routes to: the first serving HTTP port the ingress
/// gateway (public workloads) or a declared caller reaches; `None` when nothing reaches one.
pub fn routed_port(env: &Env, w: &Workload) -> Option<u16> {
    let reached: BTreeSet<u16> = env.graph.into_workload(w.name()).filter_map(|e| e.port).collect();
    w.serving_http_ports().find(|p| reached.contains(&p.port) || w.spec.exposure == Exposure::Public).map(|p| p.port)
}

/// Workloads served through the ingress gateway, with their host.
pub fn public_workloads(env: &Env) -> Vec<(&Workload, &str)> {
    env.workloads
        .iter()
        .filter(|w| w.spec.exposure == Exposure::Public && routed_port(env, w).is_some())
        .filter_map(|w| Some((w, w.spec.host.as_deref()?)))
        .collect()
}

fn meta(platform: &Platform, ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        labels: Some(labels::common(&platform.name)),
        ..Default::default()
    }
}

fn workload_meta(w: &Workload, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(w.namespace().to_string()),
        labels: Some(labels::workload(w)),
        ..Default::default()
    }
}

fn add<S: Serialize>(
    out: &mut Objects,
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: S,
) -> Result<(), RenderError> {
    let ns = metadata.namespace.clone();
    let name = metadata.name.clone().unwrap_or_default();
    out.add(ns.as_deref(), kind, &name, &Resource { api_version, kind, metadata, spec })
}

fn selector_of(w: &Workload) -> WorkloadSelector {
    WorkloadSelector { match_labels: labels::selector(w) }
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    mesh_wide(platform, out)?;
    ingress(platform, env, out)?;
    egress(platform, env, out)?;
    platform_destinations(platform, env, out)?;
    let meshed: Vec<&Workload> = env.workloads.iter().filter(|w| in_mesh(env, w)).collect();
    let namespaces: BTreeSet<&str> = meshed.iter().map(|w| w.namespace()).collect();
    for ns in namespaces {
        // ALLOW with no rules matches nothing: every request to the namespace is denied unless
        // a workload's own ALLOW policy below admits it.
        add(
            out,
            SECURITY,
            "AuthorizationPolicy",
            meta(platform, ns, "default-deny"),
            AuthorizationPolicySpec::default(),
        )?;
    }
    for w in meshed {
        if let Some(spec) = authorization(env, w) {
            add(out, SECURITY, "AuthorizationPolicy", workload_meta(w, w.name()), spec)?;
        }
        if let Some(m) = w.metrics_port() {
            // Prometheus is not in the mesh and scrapes in plaintext: only the metrics port
            // accepts it; the NetworkPolicy admits only Prometheus' pods there.
            let spec = PeerAuthenticationSpec {
                selector: Some(selector_of(w)),
                mtls: Mtls { mode: "STRICT" },
                port_level_mtls: BTreeMap::from([(m.port, Mtls { mode: "PERMISSIVE" })]),
            };
            add(out, SECURITY, "PeerAuthentication", workload_meta(w, &format!("{}-metrics", w.name())), spec)?;
        }
        if let Some(port) = routed_port(env, w) {
            add(out, NETWORKING, "VirtualService", workload_meta(w, w.name()), virtual_service(w, port))?;
            add(out, NETWORKING, "DestinationRule", workload_meta(w, w.name()), destination_rule(w))?;
        }
    }
    for (w, _) in public_workloads(env) {
        if in_mesh(env, w) {
            public_api(w, out)?;
        }
    }
    kiali_to_jaeger(platform, env, out)
}

/// Kiali links traces from Jaeger's query API in the monitoring namespace, whose pods are
/// default-deny: this admits Kiali there on the query port only (a policy selecting every pod of
/// the namespace adds to what each already allows; only Jaeger listens on that port).
fn kiali_to_jaeger(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    if env.namespace(MONITORING_NAMESPACE).is_none() {
        return Ok(());
    }
    let policy = NetworkPolicy {
        metadata: meta(platform, MONITORING_NAMESPACE, "allow-kiali"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![kiali_peer()]),
                ports: np_tcp([JAEGER_QUERY_PORT]),
            }]),
            ..Default::default()
        }),
    };
    out.add(Some(MONITORING_NAMESPACE), "NetworkPolicy", "allow-kiali", &policy)
}

/// mTLS STRICT, access logs and tracing for the whole mesh (policies in the root namespace).
fn mesh_wide(platform: &Platform, out: &mut Objects) -> Result<(), RenderError> {
    let pa = PeerAuthenticationSpec { selector: None, mtls: Mtls { mode: "STRICT" }, port_level_mtls: BTreeMap::new() };
    add(out, SECURITY, "PeerAuthentication", meta(platform, GATEWAY_NAMESPACE, "default"), pa)?;
    let telemetry = TelemetrySpec {
        selector: None,
        access_logging: vec![AccessLogging { providers: vec![ProviderRef { name: ACCESS_LOG_PROVIDER.into() }] }],
        tracing: vec![Tracing {
            providers: vec![ProviderRef { name: TRACING_PROVIDER.into() }],
            random_sampling_percentage: TRACE_SAMPLING_PERCENT,
        }],
    };
    add(out, TELEMETRY, "Telemetry", meta(platform, GATEWAY_NAMESPACE, "mesh-default"), telemetry)
}

/// The public Gateway: HTTPS per host with its certificate, HTTP redirected to HTTPS.
fn ingress(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let public = public_workloads(env);
    if public.is_empty() {
        return Ok(());
    }
    let hosts: BTreeSet<&str> = public.iter().map(|(_, h)| *h).collect();
    let mut servers: Vec<Server> = hosts
        .iter()
        .map(|h| Server {
            port: ServerPort {
                number: INGRESS_HTTPS.0,
                name: format!("https-{}", h.replace('.', "-")),
                protocol: "HTTPS",
            },
            hosts: vec![h.to_string()],
            tls: Some(ServerTls {
                mode: Some("SIMPLE"),
                credential_name: Some(tls_secret_name(h)),
                min_protocol_version: Some("TLSV1_2"),
                ..Default::default()
            }),
        })
        .collect();
    servers.push(Server {
        port: ServerPort { number: INGRESS_HTTP.0, name: "http-redirect".into(), protocol: "HTTP" },
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        tls: Some(ServerTls { https_redirect: Some(true), ..Default::default() }),
    });
    let spec = GatewaySpec { selector: BTreeMap::from([("istio".into(), "ingressgateway".into())]), servers };
    add(out, NETWORKING, "Gateway", meta(platform, GATEWAY_NAMESPACE, PUBLIC_GATEWAY), spec)
}

/// Declared external services: ServiceEntry, and sidecar → egress gateway → host (TLS
/// passthrough on SNI: the workloads speak TLS to the host themselves, so the certificate they
/// check is the host's own).
fn egress(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    if env.external_services.is_empty() {
        return Ok(());
    }
    let gateway_ref = format!("{GATEWAY_NAMESPACE}/{EGRESS_GATEWAY_RESOURCE}");
    let mut servers = Vec::new();
    for port in external_ports(env) {
        let hosts: Vec<String> =
            env.external_services.iter().filter(|s| s.port == port).flat_map(|s| s.hosts.iter().cloned()).collect();
        servers.push(Server {
            port: ServerPort { number: port, name: format!("tls-{port}"), protocol: "TLS" },
            hosts,
            tls: Some(ServerTls { mode: Some("PASSTHROUGH"), ..Default::default() }),
        });
    }
    let spec =
        GatewaySpec { selector: BTreeMap::from([(EGRESS_GATEWAY_POD.0.into(), EGRESS_GATEWAY_POD.1.into())]), servers };
    add(out, NETWORKING, "Gateway", meta(platform, GATEWAY_NAMESPACE, EGRESS_GATEWAY_RESOURCE), spec)?;
    let subsets =
        env.external_services.iter().map(|s| Subset { name: s.name.clone(), labels: BTreeMap::new() }).collect();
    let dr = DestinationRuleSpec { host: egress_gateway_host(), subsets, ..Default::default() };
    add(out, NETWORKING, "DestinationRule", meta(platform, GATEWAY_NAMESPACE, EGRESS_GATEWAY), dr)?;
    for s in &env.external_services {
        let se = ServiceEntrySpec {
            hosts: s.hosts.clone(),
            addresses: vec![],
            ports: vec![ServicePort { number: s.port, name: format!("tls-{}", s.port), protocol: "TLS" }],
            location: "MESH_EXTERNAL",
            resolution: "DNS",
            export_to: vec![],
        };
        add(out, NETWORKING, "ServiceEntry", meta(platform, GATEWAY_NAMESPACE, &s.name), se)?;
        let mut tls = vec![TlsRoute {
            match_: vec![TlsMatch { gateways: vec!["mesh".into()], port: s.port, sni_hosts: s.hosts.clone() }],
            route: vec![RouteDestination {
                destination: Destination {
                    host: egress_gateway_host(),
                    subset: Some(s.name.clone()),
                    port: PortSelector { number: s.port },
                },
                weight: None,
            }],
        }];
        for h in &s.hosts {
            tls.push(TlsRoute {
                match_: vec![TlsMatch {
                    gateways: vec![gateway_ref.clone()],
                    port: s.port,
                    sni_hosts: vec![h.clone()],
                }],
                route: vec![RouteDestination {
                    destination: Destination { host: h.clone(), subset: None, port: PortSelector { number: s.port } },
                    weight: None,
                }],
            });
        }
        let vs = VirtualServiceSpec {
            hosts: s.hosts.clone(),
            gateways: vec!["mesh".into(), gateway_ref.clone()],
            tls,
            ..Default::default()
        };
        add(out, NETWORKING, "VirtualService", meta(platform, GATEWAY_NAMESPACE, &format!("egress-{}", s.name)), vs)?;
    }
    Ok(())
}

/// Destinations outside the mesh that are the platform's own, not "external services": the
/// PostgreSQL and Redis stores (by the data subnets and the ports the graph declares, forwarded
/// to the address dialled) and the AWS APIs the pods reach through the VPC endpoints (STS for
/// IRSA, S3, Secrets Manager), by SNI. Without them REGISTRY_ONLY would cut every workload
/// off its database at its first connection.
fn platform_destinations(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let meshed = |from: &str| env.workload(from).is_some_and(|w| in_mesh(env, w));
    let store_ports: BTreeSet<u16> = env
        .graph
        .edges
        .iter()
        .filter(|e| matches!(e.to, Target::Postgres { .. } | Target::Redis { .. }) && meshed(&e.from))
        .filter_map(|e| e.port)
        .collect();
    if !store_ports.is_empty() {
        let host = format!("data-stores.{}.internal", env.cluster_name);
        let se = ServiceEntrySpec {
            hosts: vec![host.clone()],
            addresses: env.network.tier(SubnetTier::Data).map(|s| s.cidr.to_string()).collect(),
            ports: store_ports
                .iter()
                .map(|p| ServicePort { number: *p, name: format!("tcp-{p}"), protocol: "TCP" })
                .collect(),
            location: "MESH_EXTERNAL",
            resolution: "NONE",
            export_to: vec![],
        };
        add(out, NETWORKING, "ServiceEntry", meta(platform, GATEWAY_NAMESPACE, "data-stores"), se)?;
        add(
            out,
            NETWORKING,
            "DestinationRule",
            meta(platform, GATEWAY_NAMESPACE, "data-stores"),
            data_store_policy(host),
        )?;
    }
    let aws = env.workloads.iter().any(|w| {
        in_mesh(env, w) && (env.has_irsa(w) || env.graph.from(w.name()).any(|e| matches!(e.to, Target::Bucket { .. })))
    });
    if aws {
        let region = &platform.region;
        let se = ServiceEntrySpec {
            // Regional endpoints (STS, S3 path-style, the interface endpoints' private DNS) and
            // S3's virtual-hosted names, regional and the legacy global ones some SDKs still use
            // in us-east-1; `sts.amazonaws.com` is the global STS an SDK falls back to without
            // AWS_STS_REGIONAL_ENDPOINTS.
            hosts: vec![
                format!("*.{region}.amazonaws.com"),
                format!("*.s3.{region}.amazonaws.com"),
                "s3.amazonaws.com".to_string(),
                "*.s3.amazonaws.com".to_string(),
                "sts.amazonaws.com".to_string(),
            ],
            addresses: vec![],
            ports: vec![ServicePort { number: 443, name: "tls-443".into(), protocol: "TLS" }],
            location: "MESH_EXTERNAL",
            resolution: "NONE",
            export_to: vec![],
        };
        add(out, NETWORKING, "ServiceEntry", meta(platform, GATEWAY_NAMESPACE, "aws-apis"), se)?;
    }
    Ok(())
}

/// Idle time after which a sidecar closes a database or cache connection. Istio's default (1 h)
/// would close pooled connections that neither PostgreSQL (RDS) nor Redis (ElastiCache,
/// `timeout` 0) ever closes: the next query on one after a quiet night fails. A day is longer
/// than any pool keeps an unused connection.
pub const DATA_STORE_IDLE_TIMEOUT: &str = "24h";

/// The sidecars' TCP settings towards the data stores: the idle timeout above, and keepalives on
/// the proxy's socket, so a connection to a store that went away (a Multi-AZ failover moves the
/// endpoint's address) is found dead in minutes rather than at the next query.
fn data_store_policy(host: String) -> DestinationRuleSpec {
    let tcp = TcpPool {
        idle_timeout: Some(DATA_STORE_IDLE_TIMEOUT.into()),
        tcp_keepalive: Some(TcpKeepalive { time: "300s".into(), interval: "60s".into(), probes: 3 }),
        ..Default::default()
    };
    DestinationRuleSpec {
        host,
        traffic_policy: Some(TrafficPolicy {
            connection_pool: Some(ConnectionPool { tcp, http: None }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// ALLOW rules for `w`: each declared caller's principal on the port it calls (the graph's
/// `Target::Workload` edges — the NetworkPolicy's ingress rules come from the same edges), the
/// ingress gateway for a public workload (a valid JWT required except on its health paths),
/// and plaintext sources on the metrics port (Prometheus, outside the mesh; the NetworkPolicy
/// admits only Prometheus there, and `notPrincipals: ["*"]` keeps every mesh identity out).
fn authorization(env: &Env, w: &Workload) -> Option<AuthorizationPolicySpec> {
    let mut by_port: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    for e in env.graph.into_workload(w.name()) {
        let Some(port) = e.port else { continue };
        let Some(caller) = env.workload(&e.from) else { continue };
        by_port.entry(port).or_default().insert(principal(caller.namespace(), &caller.service_account));
    }
    let to =
        |port: u16| vec![AuthzTo { operation: AuthzOperation { ports: vec![port.to_string()], ..Default::default() } }];
    let mut rules: Vec<AuthzRule> = by_port
        .into_iter()
        .map(|(port, principals)| AuthzRule {
            from: vec![AuthzFrom {
                source: AuthzSource { principals: principals.into_iter().collect(), ..Default::default() },
            }],
            to: to(port),
        })
        .collect();
    if w.spec.exposure == Exposure::Public
        && let Some(port) = routed_port(env, w)
    {
        let gateway = || vec![ingress_gateway_principal()];
        rules.push(AuthzRule {
            from: vec![AuthzFrom {
                source: AuthzSource {
                    principals: gateway(),
                    request_principals: vec!["*".into()],
                    ..Default::default()
                },
            }],
            to: to(port),
        });
        let health = health_paths(w);
        if !health.is_empty() {
            rules.push(AuthzRule {
                from: vec![AuthzFrom { source: AuthzSource { principals: gateway(), ..Default::default() } }],
                to: vec![AuthzTo {
                    operation: AuthzOperation {
                        ports: vec![port.to_string()],
                        methods: vec!["GET".into()],
                        paths: health,
                    },
                }],
            });
        }
    }
    if let Some(m) = w.metrics_port() {
        rules.push(AuthzRule {
            from: vec![AuthzFrom { source: AuthzSource { not_principals: vec!["*".into()], ..Default::default() } }],
            to: vec![AuthzTo {
                operation: AuthzOperation {
                    ports: vec![m.port.to_string()],
                    methods: vec!["GET".into()],
                    ..Default::default()
                },
            }],
        });
    }
    (!rules.is_empty()).then_some(AuthorizationPolicySpec {
        selector: Some(selector_of(w)),
        action: Some("ALLOW"),
        rules,
    })
}

/// The HTTP paths of a workload's probes: what a load balancer or uptime check may call
/// without a token.
pub fn health_paths(w: &Workload) -> Vec<String> {
    let Some(p) = &w.spec.probes else { return vec![] };
    let paths: BTreeSet<String> =
        [&p.readiness, &p.liveness, &p.startup].into_iter().flatten().filter_map(|p| p.path.clone()).collect();
    paths.into_iter().collect()
}

/// Timeout of one request: ten times the latency objective, within 1–30 s; 15 s without one.
fn timeout_ms(w: &Workload) -> u32 {
    w.spec.slo.as_ref().and_then(|s| s.latency_p95_ms).map_or(15_000, |p95| (p95 * 10).clamp(1_000, 30_000))
}

/// Retried failures: the request never reached the application (connection refused or failed,
/// HTTP/2 stream refused) or was refused with gRPC `unavailable`, the status gRPC defines as
/// safe to retry; so a retry is safe for any method, idempotent or not. 5xx responses and gRPC
/// `cancelled` are not retried: the request may have had effects.
const RETRY_ON: &str = "connect-failure,refused-stream,unavailable";
const RETRY_ATTEMPTS: u32 = 2;

fn virtual_service(w: &Workload, port: u16) -> VirtualServiceSpec {
    let host = service_host(w);
    let dest = |subset: Option<&str>| Destination {
        host: host.clone(),
        subset: subset.map(str::to_string),
        port: PortSelector { number: port },
    };
    // Argo Rollouts owns these weights at run time (GitOps ignores them).
    let route = if w.spec.rollout == RolloutStrategy::Canary {
        vec![
            RouteDestination { destination: dest(Some(rollouts::STABLE_SUBSET)), weight: Some(100) },
            RouteDestination { destination: dest(Some(rollouts::CANARY_SUBSET)), weight: Some(0) },
        ]
    } else {
        vec![RouteDestination { destination: dest(None), weight: None }]
    };
    let timeout = timeout_ms(w);
    let mut hosts = vec![host.clone()];
    let mut gateways = vec!["mesh".to_string()];
    let mut matches = vec![HttpMatch { gateways: vec!["mesh".into()], port: Some(port) }];
    if w.spec.exposure == Exposure::Public
        && let Some(h) = &w.spec.host
    {
        let g = format!("{GATEWAY_NAMESPACE}/{PUBLIC_GATEWAY}");
        hosts.push(h.clone());
        gateways.push(g.clone());
        matches.push(HttpMatch { gateways: vec![g], port: None });
    }
    VirtualServiceSpec {
        hosts,
        gateways,
        http: vec![HttpRoute {
            name: rollouts::PRIMARY_ROUTE.to_string(),
            match_: matches,
            route,
            timeout: Some(format!("{timeout}ms")),
            // No per-try timeout: the retried conditions fail before the request reaches the
            // application, and a per-try timeout that expires is itself retried only under
            // `5xx`/`gateway-error`/`reset` (never here), so one shorter than `timeout` would
            // answer 504 to every request slower than it (the old timeout / 3 cut the public API
            // at 666 ms and inference at 333 ms against 2 s and 1 s budgets).
            retries: Some(HttpRetry {
                attempts: RETRY_ATTEMPTS,
                per_try_timeout: None,
                retry_on: RETRY_ON.to_string(),
            }),
        }],
        ..Default::default()
    }
}

fn destination_rule(w: &Workload) -> DestinationRuleSpec {
    let subsets = if w.spec.rollout == RolloutStrategy::Canary {
        // Argo Rollouts adds `rollouts-pod-template-hash` to each subset's labels at run time.
        [rollouts::STABLE_SUBSET, rollouts::CANARY_SUBSET]
            .iter()
            .map(|s| Subset { name: s.to_string(), labels: labels::selector(w) })
            .collect()
    } else {
        vec![]
    };
    DestinationRuleSpec {
        host: service_host(w),
        export_to: vec![],
        traffic_policy: Some(TrafficPolicy {
            // Fewest outstanding requests: latency-sensitive services with uneven request cost.
            load_balancer: Some(LoadBalancer { simple: "LEAST_REQUEST" }),
            connection_pool: Some(ConnectionPool {
                tcp: TcpPool { max_connections: Some(1024), connect_timeout: Some("2s".into()), ..Default::default() },
                // Beyond these each client proxy fails fast (503, counted by the error-rate
                // alerts) instead of queueing without bound behind a slow service.
                http: Some(HttpPool {
                    http1_max_pending_requests: 256,
                    http2_max_requests: 1024,
                    max_requests_per_connection: 0,
                    idle_timeout: "300s".into(),
                }),
            }),
            // A pod answering 5 errors in a row is taken out for 30 s (growing with repeats);
            // never more than half the pods, so a service-wide fault is not made worse.
            outlier_detection: Some(OutlierDetection {
                consecutive5xx_errors: 5,
                interval: "10s".into(),
                base_ejection_time: "30s".into(),
                max_ejection_percent: 50,
            }),
        }),
        subsets,
    }
}

/// JWT validation, rate limiting and the audit log of a public workload.
fn public_api(w: &Workload, out: &mut Objects) -> Result<(), RenderError> {
    let ra = RequestAuthenticationSpec {
        selector: selector_of(w),
        jwt_rules: vec![JwtRule {
            issuer: JWT_ISSUER.into(),
            jwks_uri: JWKS_URI.into(),
            audiences: w.spec.host.iter().cloned().collect(),
            forward_original_token: true,
            output_claim_to_headers: vec![ClaimToHeader { header: JWT_SUBJECT_HEADER.into(), claim: "sub".into() }],
        }],
    };
    add(out, SECURITY, "RequestAuthentication", workload_meta(w, &format!("{}-jwt", w.name())), ra)?;
    let telemetry = TelemetrySpec {
        selector: Some(selector_of(w)),
        // A workload's Telemetry replaces the mesh-wide access logging: keep the access log and
        // add the audit log.
        access_logging: vec![AccessLogging {
            providers: vec![
                ProviderRef { name: ACCESS_LOG_PROVIDER.into() },
                ProviderRef { name: AUDIT_LOG_PROVIDER.into() },
            ],
        }],
        tracing: vec![],
    };
    add(out, TELEMETRY, "Telemetry", workload_meta(w, &format!("{}-audit", w.name())), telemetry)?;
    let Some(port) = w.serving_http_ports().next().map(|p| p.port) else { return Ok(()) };
    let ef = EnvoyFilterSpec {
        workload_selector: EnvoyFilterSelector { labels: labels::selector(w) },
        config_patches: vec![EnvoyConfigPatch {
            apply_to: "HTTP_FILTER",
            match_: EnvoyPatchMatch {
                context: "SIDECAR_INBOUND",
                listener: EnvoyListenerMatch {
                    port_number: port,
                    filter_chain: EnvoyFilterChainMatch {
                        filter: EnvoyFilterMatch {
                            name: "envoy.filters.network.http_connection_manager",
                            sub_filter: EnvoySubFilterMatch { name: "envoy.filters.http.router" },
                        },
                    },
                },
            },
            patch: EnvoyPatch { operation: "INSERT_BEFORE", value: local_rate_limit(rate_limit_per_pod(w)) },
        }],
    };
    add(out, ENVOY_FILTER, "EnvoyFilter", workload_meta(w, &format!("{}-local-ratelimit", w.name())), ef)
}

/// Requests per second one pod admits: twice the per-pod request rate the autoscaler targets
/// (beyond that the autoscaler is already adding pods and the excess is abuse or a runaway
/// client); 100/s when the workload does not scale on its request rate.
pub fn rate_limit_per_pod(w: &Workload) -> u32 {
    w.spec
        .autoscaling
        .as_ref()
        .and_then(|a| a.custom.iter().find(|c| c.metric.contains("request")))
        .map_or(100, |c| (c.target_per_pod * 2.0).round().max(1.0) as u32)
}

/// Envoy's local rate limit filter (a token bucket per pod): 429 beyond `per_second`.
pub fn local_rate_limit(per_second: u32) -> serde_json::Value {
    let all = json!({"default_value": {"numerator": 100, "denominator": "HUNDRED"}});
    let mut enabled = all.clone();
    enabled["runtime_key"] = json!("local_rate_limit_enabled");
    let mut enforced = all;
    enforced["runtime_key"] = json!("local_rate_limit_enforced");
    json!({
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
            "type_url": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "value": {
                "stat_prefix": "http_local_rate_limiter",
                "token_bucket": {"max_tokens": per_second, "tokens_per_fill": per_second, "fill_interval": "1s"},
                "filter_enabled": enabled,
                "filter_enforced": enforced,
                "response_headers_to_add": [
                    {"append_action": "OVERWRITE_IF_EXISTS_OR_ADD", "header": {"key": "x-local-rate-limit", "value": "true"}}
                ]
            }
        }
    })
}

// ---- NetworkPolicy rules of the mesh (called from `network_policies.rs`) ----

fn np_select(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    }
}

fn np_peer(ns: &str, pod: Option<LabelSelector>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(np_select(&[("kubernetes.io/metadata.name", ns)])),
        pod_selector: pod,
        ..Default::default()
    }
}

fn np_block(cidr: String, except: Option<Vec<String>>) -> NetworkPolicyPeer {
    NetworkPolicyPeer { ip_block: Some(IPBlock { cidr, except }), ..Default::default() }
}

fn np_internet() -> NetworkPolicyPeer {
    np_block("0.0.0.0/0".into(), Some(vec!["10.0.0.0/8".into(), "172.16.0.0/12".into(), "192.168.0.0/16".into()]))
}

fn np_tcp(ports: impl IntoIterator<Item = u16>) -> Option<Vec<NetworkPolicyPort>> {
    Some(
        ports
            .into_iter()
            .map(|p| NetworkPolicyPort {
                port: Some(IntOrString::Int(i32::from(p))),
                protocol: Some("TCP".into()),
                ..Default::default()
            })
            .collect(),
    )
}

/// Pod label of Kiali (kiali-server chart).
pub const KIALI_POD: (&str, &str) = ("app.kubernetes.io/name", "kiali");
/// OpenTelemetry Collector pods (opentelemetry-collector chart's name label).
pub const OTEL_COLLECTOR_POD: (&str, &str) = ("app.kubernetes.io/name", "opentelemetry-collector");
/// The proxies' own metrics: pilot-agent's merged endpoint and Envoy's Prometheus listener.
/// Neither is intercepted by the sidecar, so Prometheus scrapes them in plaintext.
pub const PROXY_METRICS_PORTS: [u16; 2] = [15020, 15090];

/// Kiali, as a peer of Prometheus' ingress rule (it queries Prometheus for the mesh graph).
pub fn kiali_peer() -> NetworkPolicyPeer {
    np_peer(GATEWAY_NAMESPACE, Some(np_select(&[KIALI_POD])))
}

/// How a meshed pod reaches a declared external service on `port`: only through the egress
/// gateway pods, on the port they listen on behind the gateway Service's `port`. A pod outside
/// the mesh (no sidecar to route it) goes straight to the internet on `port`.
pub fn external_egress(env: &Env, w: &Workload, port: u16) -> NetworkPolicyEgressRule {
    if in_mesh(env, w) {
        NetworkPolicyEgressRule {
            to: Some(vec![np_peer(GATEWAY_NAMESPACE, Some(np_select(&[EGRESS_GATEWAY_POD])))]),
            ports: np_tcp([egress_target_port(port)]),
        }
    } else {
        NetworkPolicyEgressRule { to: Some(vec![np_internet()]), ports: np_tcp([port]) }
    }
}

/// A component of istio-system: (policy name, pods, ingress, egress).
pub type Component = (&'static str, LabelSelector, Vec<NetworkPolicyIngressRule>, Vec<NetworkPolicyEgressRule>);

/// The istio-system components' own traffic (the namespace also has default deny, DNS, the API
/// server and traffic inside the namespace — sidecars-to-istiod is the other namespaces'
/// `allow-istiod`).
pub fn istio_system_components(env: &Env) -> Vec<Component> {
    let any_namespace =
        || NetworkPolicyPeer { namespace_selector: Some(LabelSelector::default()), ..Default::default() };
    let vpc = || np_block(env.network.vpc_cidr.to_string(), None);
    let public_subnets: Vec<NetworkPolicyPeer> =
        env.network.tier(SubnetTier::Public).map(|s| np_block(s.cidr.to_string(), None)).collect();
    let prometheus = || np_peer(MONITORING_NAMESPACE, Some(np_select(&[PROMETHEUS_POD])));
    let otel = otel_collector_service();
    let to_otel = || NetworkPolicyEgressRule {
        to: Some(vec![np_peer(otel.namespace, Some(np_select(&[OTEL_COLLECTOR_POD])))]),
        ports: np_tcp([otel.port]),
    };
    let mut out: Vec<Component> = vec![
        (
            "istiod",
            np_select(&[ISTIOD_POD]),
            vec![
                // xDS (plaintext 15010, mTLS 15012) and monitoring (15014) from every proxy.
                NetworkPolicyIngressRule { from: Some(vec![any_namespace()]), ports: np_tcp([15010, 15012, 15014]) },
                // The API server calls the injection and validation webhooks.
                NetworkPolicyIngressRule { from: Some(vec![vpc()]), ports: np_tcp([15017]) },
            ],
            // The JWKS of the public API's token issuer (RequestAuthentication `jwksUri`), which
            // istiod fetches and hands to the proxies.
            vec![NetworkPolicyEgressRule { to: Some(vec![np_internet()]), ports: np_tcp([443]) }],
        ),
        (
            "ingress-gateway",
            np_select(&[("istio", "ingressgateway")]),
            vec![
                // The NLB (its nodes sit in the public subnets; client IPs are not preserved)
                // on the listener ports and the health check port.
                NetworkPolicyIngressRule {
                    from: Some(public_subnets),
                    ports: np_tcp([INGRESS_HTTP.1, INGRESS_HTTPS.1, GATEWAY_STATUS_PORT]),
                },
                NetworkPolicyIngressRule { from: Some(vec![prometheus()]), ports: np_tcp(PROXY_METRICS_PORTS) },
            ],
            // Public workloads in any namespace (their own policies admit only the gateway).
            vec![NetworkPolicyEgressRule { to: Some(vec![any_namespace()]), ports: None }],
        ),
        (
            "kiali",
            np_select(&[KIALI_POD]),
            vec![],
            vec![
                NetworkPolicyEgressRule { to: Some(vec![prometheus()]), ports: np_tcp([prometheus_service().port]) },
                NetworkPolicyEgressRule {
                    to: Some(vec![np_peer(MONITORING_NAMESPACE, None)]),
                    ports: np_tcp([JAEGER_QUERY_PORT]),
                },
            ],
        ),
    ];
    // The egress gateway: from the meshed pods that declare an external service, to the internet
    // on the external services' ports.
    let callers: Vec<NetworkPolicyPeer> = env
        .workloads
        .iter()
        .filter(|w| in_mesh(env, w) && env.graph.from(w.name()).any(|e| matches!(e.to, Target::External { .. })))
        .map(|w| {
            np_peer(
                w.namespace(),
                Some(LabelSelector { match_labels: Some(labels::selector(w)), ..Default::default() }),
            )
        })
        .collect();
    let ports = external_ports(env);
    if !ports.is_empty() {
        let mut ingress =
            vec![NetworkPolicyIngressRule { from: Some(prometheus_peer_list()), ports: np_tcp(PROXY_METRICS_PORTS) }];
        if !callers.is_empty() {
            ingress.insert(
                0,
                NetworkPolicyIngressRule {
                    from: Some(callers),
                    ports: np_tcp(ports.iter().map(|p| egress_target_port(*p))),
                },
            );
        }
        out.push((
            "egress-gateway",
            np_select(&[EGRESS_GATEWAY_POD]),
            ingress,
            vec![
                NetworkPolicyEgressRule { to: Some(vec![np_internet()]), ports: np_tcp(ports.iter().copied()) },
                to_otel(),
            ],
        ));
    }
    out
}

fn prometheus_peer_list() -> Vec<NetworkPolicyPeer> {
    vec![np_peer(MONITORING_NAMESPACE, Some(np_select(&[PROMETHEUS_POD])))]
}

//! Run-time facts of workloads that several renderers and the contract tests share: how a
//! workload reaches each Redis store (which Secret carries the endpoint and AUTH token, in which
//! form), which edges its runtime contract adds to the dependency graph, and whether it calls
//! AWS through IRSA.
//!
//! The contracts themselves are data (`data/runtime-contracts.json`, crate `cerverus-contracts`);
//! this module only relates them to an environment.

use cerverus_contracts::Destination;

use crate::graph::{Edge, Target};
use crate::{Env, Workload};

/// Environment variable that receives a Redis URL when the program has no contract saying
/// otherwise: the platform's convention for its own images (documented in the README).
pub const DEFAULT_REDIS_URL_ENV: &str = "REDIS_URL";

/// Keys of the Kubernetes Secret External Secrets assembles for a Redis store.
pub mod redis_keys {
    /// `rediss://:<token>@<host>:<port>/0?ssl_cert_reqs=required`: TLS (ElastiCache enforces
    /// in-transit encryption), AUTH token as the password, the server certificate verified.
    pub const URL: &str = "url";
    pub const HOST: &str = "host";
    pub const PORT: &str = "port";
    pub const TOKEN: &str = "token";
}

/// What a workload needs to reach one ElastiCache Redis store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConnection {
    /// The store's spec name.
    pub store: String,
    pub port: u16,
    /// The Kubernetes Secret (in the workload's namespace) holding [`redis_keys`].
    pub secret_name: String,
    /// Secrets Manager secret the `cache` Terraform module writes the AUTH token to (a plain
    /// string): `<store>-<env>/auth-token`, as `module "cache"` names the group `<store>-<env>`.
    pub auth_token_aws_name: String,
    /// Secrets Manager secret holding the primary endpoint as JSON `{"host": …, "port": …}`:
    /// `<platform>/<env>/redis/<store>`, beside the environment's other secrets.
    pub endpoint_aws_name: String,
    /// The environment variable the program reads the URL from.
    pub url_env: String,
}

impl Env {
    /// Redis stores `w` depends on, with how their connection reaches it.
    pub fn redis_connections(&self, platform_name: &str, w: &Workload) -> Vec<RedisConnection> {
        let stores: Vec<(&String, u16)> = self
            .graph
            .from(w.name())
            .filter_map(|e| match &e.to {
                Target::Redis { name } => Some((name, e.port.unwrap_or(6379))),
                _ => None,
            })
            .collect();
        let base = w.contract.and_then(|c| c.config.redis_url_env.clone()).unwrap_or(DEFAULT_REDIS_URL_ENV.into());
        stores
            .iter()
            .map(|(store, port)| RedisConnection {
                store: store.to_string(),
                port: *port,
                secret_name: format!("redis-{store}"),
                auth_token_aws_name: format!("{store}-{}/auth-token", self.name),
                endpoint_aws_name: format!("{platform_name}/{}/redis/{store}", self.name),
                // One store is the rule; with several, each URL variable names its store.
                url_env: if stores.len() == 1 {
                    base.clone()
                } else {
                    format!("{base}_{}", store.to_ascii_uppercase().replace('-', "_"))
                },
            })
            .collect()
    }

    /// Whether `w`'s service account has an IAM role (IRSA): its pods then call STS
    /// `AssumeRoleWithWebIdentity` before any other AWS API.
    pub fn has_irsa(&self, w: &Workload) -> bool {
        self.service_account_roles()
            .iter()
            .any(|r| r.namespace == w.namespace() && r.service_account == w.service_account)
    }

    /// Whether `w`'s pods call the Kubernetes API server: the spec says so (`usesKubernetesApi`,
    /// which also mounts the service-account token) or its runtime contract does.
    pub fn calls_kubernetes_api(&self, w: &Workload) -> bool {
        w.spec.uses_kubernetes_api
            || w.contract.is_some_and(|c| c.egress.iter().any(|e| e.destination() == Destination::KubeApiserver))
    }
}

/// Workload-to-workload edges a runtime contract requires: an egress entry naming another
/// component (`airflow-worker` on 8793 for the webserver's log fetching) becomes an edge to every
/// workload running that component, on its port with that number. Declared or not in the spec,
/// the program needs them, so the graph carries them and every renderer opens them alike.
pub fn contract_edges(workloads: &[Workload]) -> Vec<Edge> {
    let mut edges = Vec::new();
    for w in workloads {
        let Some(c) = w.contract else { continue };
        for e in &c.egress {
            let Destination::Named(component) = e.destination() else { continue };
            for t in workloads.iter().filter(|t| t.contract.is_some_and(|tc| tc.name == component)) {
                let Some(port) = t.spec.ports.iter().find(|p| p.port == e.port) else { continue };
                edges.push(Edge {
                    from: w.spec.name.clone(),
                    from_namespace: w.spec.namespace.clone(),
                    to: Target::Workload {
                        name: t.spec.name.clone(),
                        namespace: t.spec.namespace.clone(),
                        port_name: port.name.clone(),
                    },
                    port: Some(port.port),
                });
            }
        }
    }
    edges
}

impl Env {
    /// ClusterIP of the `kubernetes` Service. The cluster sets no `service_ipv4_cidr`, so EKS
    /// picks the Service range itself: 172.20.0.0/16 when the VPC is inside 10.0.0.0/8, else
    /// 10.100.0.0/16; the API server's Service takes the first address of it.
    pub fn kubernetes_service_ip(&self) -> std::net::Ipv4Addr {
        let ten: ipnet::Ipv4Net =
            ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 0, 0, 0), 8).unwrap_or_else(|_| ipnet::Ipv4Net::default());
        if ten.contains(&self.network.vpc_cidr) {
            std::net::Ipv4Addr::new(172, 20, 0, 1)
        } else {
            std::net::Ipv4Addr::new(10, 100, 0, 1)
        }
    }
}

/// Why a spec workload's liveness probe is not the health check its program's runtime contract
/// names (an Airflow worker probed with `jobs check --job-type LocalTaskJob`, which fails
/// whenever the worker is idle), or `None` when it is, or when there is no contract.
pub fn liveness_disagrees_with_contract(w: &cerverus_spec::Workload) -> Option<String> {
    use cerverus_contracts::HealthKind;
    let contract = cerverus_contracts::for_container(&w.image.repository, &w.command, &w.args)?;
    let health = contract.health.as_ref()?;
    let live = w.probes.as_ref().and_then(|p| p.liveness.as_ref())?;
    let port =
        |name: &Option<String>| name.as_ref().and_then(|n| w.ports.iter().find(|p| &p.name == n)).map(|p| p.port);
    let same = match health.kind {
        HealthKind::Exec => live.exec == health.command,
        HealthKind::Http => live.path == health.path && port(&live.port) == health.port,
        HealthKind::Tcp => live.path.is_none() && live.exec.is_empty() && port(&live.port) == health.port,
    };
    let want = match health.kind {
        HealthKind::Exec => format!("exec {:?}", health.command),
        HealthKind::Http => {
            format!("GET {} on port {}", health.path.as_deref().unwrap_or("/"), health.port.unwrap_or(0))
        }
        HealthKind::Tcp => format!("TCP on port {}", health.port.unwrap_or(0)),
    };
    (!same).then(|| {
        format!(
            "liveness probe of `{}` is not the health check of its program ({}): expected {want}",
            w.name, contract.name
        )
    })
}

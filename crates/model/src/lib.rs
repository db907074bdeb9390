//! The Cerverus platform, resolved: one [`Env`] per environment with every default applied,
//! every reference checked and resolved, subnets allocated and the dependency graph derived.
//!
//! Renderers read only this model. They never see the raw spec, so they never re-derive a fact
//! (and never disagree about one).

pub mod capacity;
pub mod cron;
pub mod derived;
pub mod graph;
pub mod keda;
pub mod network;
pub mod quantity;
mod resolve;
pub mod runtime;
pub mod support;

use std::collections::BTreeMap;

use cerverus_spec as spec;
use ipnet::Ipv4Net;

/// The runtime contracts, for renderers that read them through the model.
pub use cerverus_contracts as contracts;
pub use derived::break_glass_group;
pub use derived::{
    Capacity, GPU_ACCELERATOR_LABEL, GPU_PRESENT_LABEL, NodeGroup, ServiceAccountRole, split_capacity, split_even,
};
pub use derived::{developers_group, operators_group};
pub use graph::{DependencyGraph, Edge, Target};
pub use network::{Subnet, SubnetTier};
pub use resolve::resolve;
pub use runtime::RedisConnection;

/// The whole platform: what is common to all environments, and each environment resolved.
#[derive(Debug, Clone)]
pub struct Platform {
    /// Short name, prefix for cloud resource names.
    pub name: String,
    pub organization: String,
    pub owner: String,
    /// Tags for every AWS resource (spec tags plus `ManagedBy`, `Owner`).
    pub tags: BTreeMap<String, String>,
    pub region: String,
    pub dr_region: String,
    pub account_id: String,
    /// Environments in promotion order (dev, then staging, then prod; others by name).
    pub environments: Vec<Env>,
}

impl Platform {
    pub fn env(&self, name: &str) -> Option<&Env> {
        self.environments.iter().find(|e| e.name == name)
    }
}

/// One environment with its overrides applied.
#[derive(Debug, Clone)]
pub struct Env {
    pub name: String,
    pub cluster_name: String,
    pub kubernetes_version: String,
    pub endpoint: spec::EndpointAccess,
    pub log_types: Vec<spec::ControlPlaneLog>,
    pub log_retention_days: u32,
    pub ssh_key_name: Option<String>,
    pub admin_role_arns: Vec<String>,
    pub network: NetworkLayout,
    pub node_pools: Vec<spec::NodePool>,
    pub postgres: Vec<spec::Postgres>,
    pub redis: Vec<spec::Redis>,
    pub buckets: Vec<Bucket>,
    /// Declared recovery objectives (the same in every environment).
    pub recovery: spec::Recovery,
    pub external_services: Vec<spec::ExternalService>,
    pub namespaces: Vec<spec::Namespace>,
    pub workloads: Vec<Workload>,
    pub graph: DependencyGraph,
    /// Registry host for the platform's images (`<account>.dkr.ecr.<region>.amazonaws.com`).
    pub registry: String,
    /// EFS file system behind the `cerverus-efs` StorageClass, once known.
    pub efs_file_system_id: Option<String>,
}

impl Env {
    pub fn workload(&self, name: &str) -> Option<&Workload> {
        self.workloads.iter().find(|w| w.spec.name == name)
    }

    pub fn node_pool(&self, name: &str) -> Option<&spec::NodePool> {
        self.node_pools.iter().find(|p| p.name == name)
    }

    pub fn namespace(&self, name: &str) -> Option<&spec::Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    /// Whether `w`'s namespace has Istio sidecar injection: its pods carry an `istio-proxy`, which
    /// the pools, the quotas and the mesh policies all account for.
    pub fn in_mesh(&self, w: &Workload) -> bool {
        self.namespace(w.namespace()).is_some_and(|n| n.istio_injection)
    }

    /// Whether this is a production environment (stricter defaults apply).
    pub fn is_production(&self) -> bool {
        self.name == "prod" || self.name == "production"
    }
}

/// The VPC and its subnets.
#[derive(Debug, Clone)]
pub struct NetworkLayout {
    pub vpc_cidr: Ipv4Net,
    pub azs: Vec<String>,
    pub subnets: Vec<Subnet>,
    pub nat: spec::NatMode,
}

impl NetworkLayout {
    pub fn tier(&self, tier: SubnetTier) -> impl Iterator<Item = &Subnet> {
        self.subnets.iter().filter(move |s| s.tier == tier)
    }
}

/// An S3 bucket with its environment-specific name.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Globally unique bucket name: `<name>-<env>`.
    pub bucket_name: String,
    pub spec: spec::Bucket,
}

/// A workload with its overrides applied and its references resolved.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The spec's workload, with replicas and autoscaling bounds as this environment says.
    pub spec: spec::Workload,
    /// The Kubernetes ServiceAccount the pods run as.
    pub service_account: String,
    /// Full image reference: `<registry>/<repository>:<tag>@<digest>`.
    pub image_ref: String,
    pub secrets: Vec<Secret>,
    /// The runtime contract of the program this workload's container runs (selected by image
    /// repository and args), when there is one: how it reads config, where it writes, how it
    /// reports health, what it must reach. Renderers and checks both read it.
    pub contract: Option<&'static cerverus_contracts::Contract>,
}

impl Workload {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn namespace(&self) -> &str {
        &self.spec.namespace
    }

    /// The port Prometheus scrapes, by the platform's convention the one named `metrics`.
    pub fn metrics_port(&self) -> Option<&spec::Port> {
        self.spec.ports.iter().find(|p| p.name == METRICS_PORT)
    }

    /// HTTP ports that serve traffic (every HTTP port but the metrics port): what an ingress
    /// gateway may route to.
    pub fn serving_http_ports(&self) -> impl Iterator<Item = &spec::Port> {
        self.spec.ports.iter().filter(|p| p.protocol == spec::PortProtocol::Http && p.name != METRICS_PORT)
    }
}

/// Name of the port that exposes Prometheus metrics.
pub const METRICS_PORT: &str = "metrics";

/// The UID and GID application containers run as: non-root, above the range host users take.
/// The pods' `runAsUser`/`runAsGroup` and the images' `USER` are both this number.
pub const APP_UID: i64 = 10001;

/// A secret as it exists in AWS Secrets Manager and in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// The spec's name, also the Kubernetes Secret name.
    pub name: String,
    /// Secrets Manager name: `<platform>/<env>/<name>`.
    pub aws_name: String,
    pub keys: Vec<String>,
    pub rotation_days: Option<u32>,
}

//! The service dependency graph: who calls what, on which port.
//!
//! Derived once from the workloads' `dependsOn` and shared by every renderer, so the security
//! groups, NetworkPolicies, AuthorizationPolicies and IAM policies all say the same thing.

use cerverus_spec::BucketAccess;

/// What a dependency points at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Workload { name: String, namespace: String, port_name: String },
    Postgres { name: String },
    Redis { name: String },
    Bucket { name: String, access: BucketAccess },
    External { name: String, hosts: Vec<String> },
}

impl Target {
    /// A short label for messages and docs, e.g. `postgres/cerverus-db`.
    pub fn label(&self) -> String {
        match self {
            Target::Workload { name, port_name, .. } => format!("workload/{name}:{port_name}"),
            Target::Postgres { name } => format!("postgres/{name}"),
            Target::Redis { name } => format!("redis/{name}"),
            Target::Bucket { name, .. } => format!("bucket/{name}"),
            Target::External { name, .. } => format!("external/{name}"),
        }
    }
}

/// One declared call: `from` (a workload) reaches `to` on `port` over TCP.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub from_namespace: String,
    pub to: Target,
    /// TCP port on the target; `None` for S3 (reached through the VPC endpoint, governed by IAM).
    pub port: Option<u16>,
}

/// All edges of one environment, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyGraph {
    pub edges: Vec<Edge>,
}

impl DependencyGraph {
    pub fn new(mut edges: Vec<Edge>) -> Self {
        edges.sort();
        edges.dedup();
        DependencyGraph { edges }
    }

    /// Edges leaving `workload`.
    pub fn from<'a>(&'a self, workload: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.from == workload)
    }

    /// Edges arriving at workload `name`.
    pub fn into_workload<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| matches!(&e.to, Target::Workload { name: n, .. } if n == name))
    }

    /// Workloads that reach PostgreSQL store `name`.
    pub fn clients_of_postgres<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| matches!(&e.to, Target::Postgres { name: n } if n == name))
    }

    /// Workloads that reach Redis store `name`.
    pub fn clients_of_redis<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| matches!(&e.to, Target::Redis { name: n } if n == name))
    }
}

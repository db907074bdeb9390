//! The platform spec as Rust types.
//!
//! These types are the single definition of the spec language: serde reads them from YAML,
//! schemars derives the JSON Schema that editors use (`cerverus schema`), and the model crate
//! resolves them per environment. Every struct rejects unknown fields so that a typo is an error
//! with a location rather than a silently ignored setting.
//!
//! Field names are camelCase in YAML, like Kubernetes objects, because the people who write this
//! file also write manifests.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A whole platform: AWS account layout, network, cluster, data stores and workloads, with
/// per-environment overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlatformSpec {
    /// Spec language version. Only `cerverus.io/v1alpha1` exists today.
    pub api_version: ApiVersion,
    /// Always `Platform`.
    pub kind: SpecKind,
    pub metadata: Metadata,
    pub aws: Aws,
    pub network: Network,
    pub cluster: Cluster,
    #[serde(default)]
    pub data_stores: DataStores,
    /// What the platform promises after a failure: recovery point and time objectives per tier.
    /// Absent: the promises of the Velero tier schedules (critical 1h/1h, high 4h/4h, standard
    /// 24h/8h, batch 24h/24h).
    #[serde(default)]
    pub recovery: Recovery,
    /// Hosts outside the platform that workloads call (market-data APIs and the like).
    #[serde(default)]
    pub external_services: Vec<ExternalService>,
    pub namespaces: Vec<Namespace>,
    pub workloads: Vec<Workload>,
    /// Environments by name. Each one is a full copy of the platform with its overrides applied.
    pub environments: BTreeMap<String, Environment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "cerverus.io/v1alpha1")]
    V1Alpha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SpecKind {
    Platform,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// Short platform name, used as a prefix for cloud resource names (lowercase, digits, `-`).
    pub name: String,
    /// Organisation that owns the platform (goes into tags).
    pub organization: String,
    /// Team that answers for the platform (goes into tags and alert routing).
    pub owner: String,
    /// Tags applied to every AWS resource through the provider's `default_tags`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Aws {
    /// Primary region, e.g. `us-east-1`.
    pub region: String,
    /// Region that receives replicated backups and buckets for disaster recovery.
    pub dr_region: String,
    /// The 12-digit AWS account ID that hosts the platform (ECR registry host, ARNs).
    pub account_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Network {
    /// The VPC's IPv4 range, e.g. `10.0.0.0/16`.
    pub vpc_cidr: String,
    /// Number of availability zones to spread subnets across (2 to 6).
    #[serde(default = "default_az_count")]
    pub az_count: u8,
    /// Prefix length of each subnet per tier, used when subnets are allocated automatically.
    #[serde(default)]
    pub subnet_prefix: TierPrefixes,
    /// Explicit subnet CIDRs per tier (one per AZ, in AZ order). When absent, subnets are
    /// allocated from `vpcCidr` using `subnetPrefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<ExplicitSubnets>,
    /// NAT gateway layout: one per AZ (survives an AZ loss) or a single shared one (cheaper).
    #[serde(default)]
    pub nat: NatMode,
}

fn default_az_count() -> u8 {
    3
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TierPrefixes {
    /// Public subnets hold load balancers and NAT gateways.
    pub public: u8,
    /// Private subnets hold nodes and pods (the VPC CNI gives every pod a VPC address, so they
    /// are the largest).
    pub private: u8,
    /// Data subnets hold RDS and ElastiCache and have no route to the internet.
    pub data: u8,
}

impl Default for TierPrefixes {
    fn default() -> Self {
        TierPrefixes { public: 24, private: 19, data: 24 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExplicitSubnets {
    pub public: Vec<String>,
    pub private: Vec<String>,
    pub data: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NatMode {
    /// One NAT gateway (and Elastic IP) in every AZ.
    #[default]
    PerAz,
    /// A single NAT gateway shared by all AZs.
    Single,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cluster {
    /// EKS cluster name; defaults to `<metadata.name>-<environment>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kubernetes minor version, e.g. `"1.35"`.
    pub kubernetes_version: String,
    #[serde(default)]
    pub endpoint: EndpointAccess,
    /// Control-plane log types sent to CloudWatch.
    pub log_types: Vec<ControlPlaneLog>,
    /// Days to keep control-plane logs (a CloudWatch retention value, at least 365).
    #[serde(default = "default_log_retention")]
    pub log_retention_days: u32,
    pub node_pools: Vec<NodePool>,
    /// EC2 key pair for SSH to nodes. Absent (the default): no SSH; nodes are reached through SSM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key_name: Option<String>,
    /// IAM roles granted cluster-admin through EKS access entries (break-glass access).
    #[serde(default)]
    pub admin_role_arns: Vec<String>,
}

fn default_log_retention() -> u32 {
    365
}

/// Retention periods CloudWatch Logs accepts, in days.
pub const CLOUDWATCH_RETENTION_DAYS: &[u32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointAccess {
    /// Reachable from inside the VPC.
    pub private: bool,
    /// Reachable from the internet (restricted to `publicCidrs`).
    pub public: bool,
    /// CIDRs allowed to reach a public endpoint.
    #[serde(default)]
    pub public_cidrs: Vec<String>,
}

impl Default for EndpointAccess {
    fn default() -> Self {
        EndpointAccess { private: true, public: false, public_cidrs: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ControlPlaneLog {
    Api,
    Audit,
    Authenticator,
    ControllerManager,
    Scheduler,
}

impl ControlPlaneLog {
    /// The name EKS uses in `enabled_cluster_log_types`.
    pub fn eks_name(self) -> &'static str {
        match self {
            ControlPlaneLog::Api => "api",
            ControlPlaneLog::Audit => "audit",
            ControlPlaneLog::Authenticator => "authenticator",
            ControlPlaneLog::ControllerManager => "controllerManager",
            ControlPlaneLog::Scheduler => "scheduler",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodePool {
    /// Pool name; workloads refer to it with `nodePool`.
    pub name: String,
    /// Instance types, most preferred first. Several similar types keep spot capacity available.
    pub instance_types: Vec<String>,
    /// Node counts.
    pub scaling: Scaling,
    /// Percentage of nodes above `onDemandBase` that run on spot capacity (0 = all on-demand).
    #[serde(default)]
    pub spot_percentage: u8,
    /// Nodes that always run on-demand, whatever `spotPercentage` says.
    #[serde(default)]
    pub on_demand_base: u32,
    /// Node labels (also used by workloads' node selectors).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints that keep general workloads off specialised nodes.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// GPUs per node, when the pool's instance types carry them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<Gpu>,
    /// Root volume size in GiB.
    #[serde(default = "default_disk_gib")]
    pub disk_gib: u32,
    /// One node group per availability zone instead of one spanning all zones. For pools whose
    /// pods spread across zones with `DoNotSchedule` and fill a node each (GPU pools): Cluster
    /// Autoscaler can only pick the zone a new node lands in by picking a group, so a zone-blind
    /// group strands pods that must go to one particular zone. `balance-similar-node-groups`
    /// keeps the zonal groups the same size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_zone: bool,
}

fn default_disk_gib() -> u32 {
    50
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scaling {
    pub min: u32,
    pub desired: u32,
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Gpu {
    /// GPUs per node.
    pub per_node: u32,
    /// Accelerator model, for documentation and node labels (e.g. `nvidia-t4`).
    pub model: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataStores {
    #[serde(default)]
    pub postgres: Vec<Postgres>,
    #[serde(default)]
    pub redis: Vec<Redis>,
    #[serde(default)]
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Postgres {
    pub name: String,
    /// PostgreSQL engine version, e.g. `"17.6"`.
    pub engine_version: String,
    #[serde(default = "default_pg_port")]
    pub port: u16,
    pub instance_class: String,
    pub storage_gib: u32,
    /// Upper bound for storage autoscaling.
    pub max_storage_gib: u32,
    #[serde(default = "yes")]
    pub multi_az: bool,
    #[serde(default)]
    pub read_replicas: u32,
    #[serde(default = "default_backup_days")]
    pub backup_retention_days: u32,
    /// Replicate automated backups to the DR region.
    #[serde(default = "yes")]
    pub cross_region_backups: bool,
}

fn default_pg_port() -> u16 {
    5432
}
fn default_backup_days() -> u32 {
    7
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Redis {
    pub name: String,
    pub engine_version: String,
    #[serde(default = "default_redis_port")]
    pub port: u16,
    pub node_type: String,
    /// Replicas per shard (0 = no failover).
    #[serde(default)]
    pub replicas: u32,
}

fn default_redis_port() -> u16 {
    6379
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Bucket {
    /// Bucket name (the environment is appended to make it globally unique).
    pub name: String,
    /// What the bucket holds; sets the default lifecycle.
    pub class: DataClass,
    /// Lifecycle transitions and expiration.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Replicate to the DR region.
    #[serde(default)]
    pub replicate: bool,
    /// Expected volume the bucket holds in steady state, in GiB (all object versions), for the
    /// cost estimate of `cerverus simulate`. Absent: the bucket's storage is reported unpriced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_gib: Option<u64>,
}

/// Declared recovery objectives. A data store is held to the objective of the highest tier
/// among the workloads that depend on it; a stateful workload's volumes to its own tier's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Recovery {
    /// Objective per tier, for losing an availability zone and for restoring after data
    /// corruption or deletion.
    #[serde(default)]
    pub objectives: TierObjectives,
    /// Objective for losing the whole primary region (recovery in `aws.drRegion`), for every
    /// tier. Absent: region loss is reported but not judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_loss: Option<Objective>,
}

/// Recovery objective of each tier. A tier left out keeps its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TierObjectives {
    /// Default: RPO 60, RTO 60 minutes.
    #[serde(default = "default_critical_objective")]
    pub critical: Objective,
    /// Default: RPO 240, RTO 240 minutes.
    #[serde(default = "default_high_objective")]
    pub high: Objective,
    /// Default: RPO 1440, RTO 480 minutes.
    #[serde(default = "default_standard_objective")]
    pub standard: Objective,
    /// Default: RPO 1440, RTO 1440 minutes.
    #[serde(default = "default_batch_objective")]
    pub batch: Objective,
}

impl Default for TierObjectives {
    fn default() -> Self {
        TierObjectives {
            critical: default_critical_objective(),
            high: default_high_objective(),
            standard: default_standard_objective(),
            batch: default_batch_objective(),
        }
    }
}

impl TierObjectives {
    pub fn for_tier(&self, tier: Tier) -> Objective {
        match tier {
            Tier::Critical => self.critical,
            Tier::High => self.high,
            Tier::Standard => self.standard,
            Tier::Batch => self.batch,
        }
    }
}

fn default_critical_objective() -> Objective {
    Objective { rpo_minutes: 60, rto_minutes: 60 }
}
fn default_high_objective() -> Objective {
    Objective { rpo_minutes: 240, rto_minutes: 240 }
}
fn default_standard_objective() -> Objective {
    Objective { rpo_minutes: 1440, rto_minutes: 480 }
}
fn default_batch_objective() -> Objective {
    Objective { rpo_minutes: 1440, rto_minutes: 1440 }
}

/// A recovery objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Objective {
    /// Recovery point objective: at most this many minutes of data may be lost.
    pub rpo_minutes: u32,
    /// Recovery time objective: serving again within this many minutes.
    pub rto_minutes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DataClass {
    /// Raw ingested data (medallion bronze).
    Raw,
    /// Curated, processed data (medallion gold).
    Curated,
    /// ML features.
    Features,
    /// Backups and exports.
    Backup,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Lifecycle {
    /// Days until objects move to S3 Standard-IA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrequent_access_after_days: Option<u32>,
    /// Days until objects move to S3 Glacier Flexible Retrieval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glacier_after_days: Option<u32>,
    /// Days until objects are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_after_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExternalService {
    pub name: String,
    /// DNS names the workloads call.
    pub hosts: Vec<String>,
    #[serde(default = "default_https_port")]
    pub port: u16,
}

fn default_https_port() -> u16 {
    443
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Namespace {
    pub name: String,
    /// What runs here, for labels and docs.
    pub purpose: String,
    /// Pod Security Standard enforced in the namespace.
    pub pod_security: PodSecurityLevel,
    /// Label the namespace for Istio sidecar injection.
    #[serde(default)]
    pub istio_injection: bool,
    /// Why a level below `restricted` is needed, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PodSecurityLevel {
    Restricted,
    Baseline,
    Privileged,
}

impl PodSecurityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Restricted => "restricted",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Privileged => "privileged",
        }
    }
}

/// One service, worker or job of the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Workload {
    /// Name, unique in the platform (lowercase, digits, `-`).
    pub name: String,
    pub namespace: String,
    pub kind: WorkloadKind,
    /// The application this workload belongs to (`app.kubernetes.io/part-of`).
    pub part_of: String,
    /// What it does (`app.kubernetes.io/component` and docs).
    pub component: String,
    pub image: Image,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default)]
    pub ports: Vec<Port>,
    pub resources: Resources,
    /// Replica count when not autoscaled (and the starting point when autoscaled).
    #[serde(default = "one")]
    pub replicas: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// What this workload calls. The dependency graph, and every firewall rule derived from it,
    /// comes from here.
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
    /// Secrets by name; each becomes an AWS Secrets Manager secret and an ExternalSecret.
    #[serde(default)]
    pub secrets: Vec<SecretRef>,
    /// Plain configuration, rendered into a ConfigMap.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<Probes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
    #[serde(default)]
    pub exposure: Exposure,
    /// Public host name, for `exposure: public`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub node_pool: String,
    pub tier: Tier,
    #[serde(default)]
    pub rollout: RolloutStrategy,
    /// Cron schedule, for `kind: cronJob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Persistent volume per replica, for `kind: statefulSet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// Shared service account name; by default each workload gets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Whether the workload calls the Kubernetes API (mounts a service-account token).
    #[serde(default)]
    pub uses_kubernetes_api: bool,
    /// What it may do through the Kubernetes API, in its own namespace (needs
    /// `usesKubernetesApi`). Wildcards are not allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubernetes_rbac: Vec<RbacRule>,
    /// Egress bandwidth limit, e.g. `"100M"` (kubernetes.io/egress-bandwidth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_bandwidth: Option<String>,
    /// Feature flags the program reads at run time, `name: true|false` (no flag server). They
    /// become a ConfigMap `<workload>-feature-flags` mounted as a JSON file whose path the
    /// program finds in `FEATURE_FLAGS_FILE`: changing a flag needs no image rebuild and no
    /// restart — the kubelet refreshes the mounted file, eventually (about a minute).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_flags: BTreeMap<String, bool>,
}

fn one() -> u32 {
    1
}

/// One Kubernetes RBAC rule: verbs on resources of API groups (`""` is the core group).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RbacRule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    CronJob,
    Job,
}

impl WorkloadKind {
    /// Whether pods of this kind run continuously (and so have replicas, PDBs, probes).
    pub fn is_long_running(self) -> bool {
        matches!(self, WorkloadKind::Deployment | WorkloadKind::StatefulSet)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    /// Repository in the platform's ECR registry, e.g. `cerverus/alerts-api`.
    pub repository: String,
    pub tag: String,
    /// Content digest (`sha256:…`) the release pipeline pins; manifests reference it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Port {
    /// Port name (IANA-style, at most 15 characters), used by probes and dependencies.
    pub name: String,
    pub port: u16,
    #[serde(default)]
    pub protocol: PortProtocol,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PortProtocol {
    #[default]
    Http,
    Grpc,
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    pub requests: ResourceAmounts,
    pub limits: ResourceAmounts,
    /// GPUs per pod (`nvidia.com/gpu`).
    #[serde(default)]
    pub gpu: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceAmounts {
    /// Kubernetes CPU quantity, e.g. `"500m"`.
    pub cpu: String,
    /// Kubernetes memory quantity, e.g. `"512Mi"`.
    pub memory: String,
    /// Scratch space, e.g. `"1Gi"`.
    pub ephemeral_storage: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Autoscaling {
    pub min: u32,
    pub max: u32,
    /// Target average CPU utilisation, percent of requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u32>,
    /// Target average memory utilisation, percent of requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_percent: Option<u32>,
    /// Per-pod targets on custom Prometheus metrics.
    #[serde(default)]
    pub custom: Vec<CustomMetric>,
    /// Known peaks (market hours) to scale for ahead of time.
    #[serde(default)]
    pub schedules: Vec<ScaleSchedule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomMetric {
    /// Metric name as exposed to the autoscaler.
    pub metric: String,
    /// PromQL query the metric comes from.
    pub query: String,
    /// Target value per pod.
    pub target_per_pod: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScaleSchedule {
    pub name: String,
    /// IANA time zone, e.g. `America/New_York`.
    pub timezone: String,
    /// Cron expression for the start of the window.
    pub start: String,
    /// Cron expression for the end of the window.
    pub end: String,
    /// Minimum replicas inside the window.
    pub replicas: u32,
}

/// One thing a workload calls. Exactly one of `workload`, `postgres`, `redis`, `bucket` or
/// `external` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Dependency {
    /// Another workload, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The port of that workload, by name (defaults to its only port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// A PostgreSQL data store, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<String>,
    /// A Redis data store, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
    /// An S3 bucket, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Access to a bucket (`read` or `readWrite`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<BucketAccess>,
    /// An external service, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BucketAccess {
    Read,
    ReadWrite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRef {
    /// Secret name; stored in AWS Secrets Manager as `<platform>/<environment>/<name>`.
    pub name: String,
    /// Keys inside the secret that the workload reads (as environment variables).
    pub keys: Vec<String>,
    /// Days between automatic rotations (Secrets Manager), when the secret supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Probe>,
}

/// A probe: an HTTP GET on a named port, a TCP connect, or a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probe {
    /// HTTP path (with `port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Command run in the container (exit 0 = healthy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<String>,
    #[serde(default = "default_probe_period")]
    pub period_seconds: u32,
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
}

fn default_probe_period() -> u32 {
    10
}
fn default_failure_threshold() -> u32 {
    3
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Slo {
    /// Availability objective in percent, e.g. `99.9`.
    pub availability_percent: f64,
    /// 95th-percentile latency objective in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Exposure {
    /// Reachable from the internet through the ingress gateway.
    Public,
    /// Reachable from other workloads that declare it as a dependency.
    Internal,
    /// Not reachable at all (workers, jobs).
    #[default]
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Tier {
    /// Customer-facing, fraud alerts depend on it.
    Critical,
    /// Data freshness depends on it.
    High,
    /// Everything else that runs continuously.
    Standard,
    /// Batch work that may be pre-empted.
    Batch,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Critical => "critical",
            Tier::High => "high",
            Tier::Standard => "standard",
            Tier::Batch => "batch",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RolloutStrategy {
    #[default]
    Rolling,
    Canary,
    BlueGreen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Storage {
    /// Volume size, e.g. `"50Gi"`.
    pub size: String,
    /// StorageClass name.
    pub class: String,
    /// Where the volume is mounted in the container.
    pub mount_path: String,
}

/// Per-environment settings and overrides. Anything not named here is as the base spec says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Environment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<NatMode>,
    /// VPC range for this environment (environments get separate VPCs; keep them apart so they
    /// can be peered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointAccess>,
    #[serde(default)]
    pub node_pools: BTreeMap<String, NodePoolOverride>,
    #[serde(default)]
    pub postgres: BTreeMap<String, PostgresOverride>,
    #[serde(default)]
    pub redis: BTreeMap<String, RedisOverride>,
    #[serde(default)]
    pub workloads: BTreeMap<String, WorkloadOverride>,
    /// ID of the EFS file system behind the `cerverus-efs` StorageClass (the Terraform output of
    /// the environment, filled in after the first apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efs_file_system_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodePoolOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Scaling>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_percentage: Option<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostgresOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_az: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_gib: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_region_backups: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedisOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

//! Monthly cost of one environment at AWS public on-demand list prices
//! (`data/simulation/prices.json`), and the saving of its spot mix.
//!
//! What is priced, each as a line of the report (a stacked bar per [`Category`]):
//! - the EKS control plane (standard support; extended support is not modelled);
//! - every node group of `Env::node_groups()` at its first instance type (the type an on-demand
//!   group launches and Cluster Autoscaler models; a spot group's other types are priced the
//!   same), on-demand at list price, spot at a documented fraction of it — at `desired` (the
//!   month's estimate) and at `max` (the ceiling);
//! - each node's root volume (gp3, `diskGib`);
//! - NAT gateways by mode (none, single, one per AZ) with their public IPv4 addresses — hourly
//!   only: data processing ($ per GB) depends on traffic the spec does not declare;
//! - RDS PostgreSQL: instance class × 2 when Multi-AZ (primary and standby both bill) + read
//!   replicas; gp3 storage likewise; backup storage beyond the free allowance (an estimate);
//! - ElastiCache: node type × (1 + replicas);
//! - S3: `estimatedGib` per bucket, split over its lifecycle's storage classes;
//! - EBS volumes of the rendered StatefulSets' `volumeClaimTemplates` (their StorageClass's
//!   `type`), at the workload's replicas and at its autoscaler's maximum.
//!
//! Not priced, and said so in [`CostReport::notes`]: data transfer (internet egress, cross-AZ,
//! NAT data processing, S3 and RDS cross-region replication — traffic volumes are not in the
//! spec), DR-region copies, requests, load balancers, CloudWatch, KMS, Secrets Manager, and the
//! volumes add-on charts create. A price missing from the data is an [`Unpriced`] item and a
//! failing verdict, never a silent 0; a region missing from the data prices nothing.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cerverus_model::{Capacity, Env};
use cerverus_spec::NatMode;
use serde::{Deserialize, Serialize};

use crate::data::{self, Provenance};
use crate::objects::Workloads;
use crate::{Inputs, SimError, Verdict};

const FILE: &str = "data/simulation/prices.json";
const TEXT: &str = include_str!("../../../data/simulation/prices.json");

/// `data/simulation/prices.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceData {
    pub provenance: Provenance,
    pub hours_per_month: f64,
    pub assumptions: Assumptions,
    pub regions: BTreeMap<String, RegionPrices>,
}

/// The modelling assumptions, each with the sentence that justifies it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assumptions {
    pub spot_fraction_of_on_demand: f64,
    pub spot_basis: String,
    pub s3_horizon_days_without_expiry: u32,
    pub s3_basis: String,
    pub rds_backup_daily_change_fraction: f64,
    pub rds_backup_basis: String,
}

/// List prices of one region (USD).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    pub eks_cluster_hour: f64,
    pub ec2_on_demand_hour: BTreeMap<String, f64>,
    pub nat_gateway_hour: f64,
    pub nat_gateway_gb: f64,
    pub public_ipv4_hour: f64,
    pub ebs_gb_month: BTreeMap<String, f64>,
    pub rds_postgres_hour: BTreeMap<String, f64>,
    pub rds_gp3_gb_month: f64,
    pub rds_backup_gb_month: f64,
    pub elasticache_hour: BTreeMap<String, f64>,
    pub s3_gb_month: S3Prices,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Prices {
    pub standard: f64,
    pub standard_ia: f64,
    /// Glacier Instant Retrieval (`GLACIER_IR`): the backup class's archive.
    pub glacier_instant: f64,
    /// Glacier Flexible Retrieval (`GLACIER`).
    pub glacier_flexible: f64,
}

impl S3Prices {
    /// The price of an S3 storage class by its API name, for the classes the lifecycle uses.
    pub fn archive(&self, storage_class: &str) -> Option<f64> {
        match storage_class {
            "GLACIER_IR" => Some(self.glacier_instant),
            "GLACIER" => Some(self.glacier_flexible),
            _ => None,
        }
    }
}

static PRICES: OnceLock<Result<PriceData, String>> = OnceLock::new();

/// The compiled-in price data.
pub fn prices() -> Result<&'static PriceData, SimError> {
    data::cached(&PRICES, FILE, TEXT)
}

pub fn provenance() -> Result<Provenance, SimError> {
    Ok(prices()?.provenance.clone())
}

/// What a cost line is, for grouping (one colour of the stacked chart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    ControlPlane,
    Compute,
    Network,
    Database,
    Cache,
    ObjectStorage,
    BlockStorage,
}

/// One priced item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostLine {
    pub category: Category,
    /// What is priced: `node group general-spot`, `postgres cerverus-db`, …
    pub item: String,
    /// Monthly USD at the expected size (node groups at `desired`, workloads at their replicas).
    pub monthly: f64,
    /// Monthly USD at the ceiling (node groups at `max`, workloads at their autoscaler's max);
    /// equal to `monthly` for fixed items.
    pub monthly_at_max: f64,
    /// The arithmetic, for a person: `3 × m5.xlarge × $0.192/h × 730 h`.
    pub basis: String,
}

/// Something that should have a price and has none in the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unpriced {
    pub item: String,
    pub reason: String,
}

/// What the spot part of the node groups costs against the same nodes on-demand, at `desired`
/// and at `max` (with an on-demand base, spot nodes often appear only when a pool scales up).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpotSaving {
    /// Whether any node pool declares spot capacity (`spotPercentage` > 0).
    pub declared: bool,
    pub at_desired: SpotFigures,
    pub at_max: SpotFigures,
    /// The fraction of the on-demand price a spot node is priced at, and why.
    pub spot_fraction: f64,
    pub basis: String,
}

/// Spot figures at one size of the node groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SpotFigures {
    pub spot_nodes: u32,
    /// Monthly USD of the spot nodes at spot prices.
    pub spot_monthly: f64,
    /// Monthly USD of the same nodes on-demand.
    pub on_demand_equivalent_monthly: f64,
    /// `on_demand_equivalent_monthly - spot_monthly`.
    pub saving_monthly: f64,
    /// Saving as a percentage of the compute bill were every node on-demand.
    pub saving_percent_of_compute: f64,
}

/// The monthly cost of one environment.
#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    pub environment: String,
    pub region: String,
    /// Whether the data has prices for `region`; when not, nothing is priced.
    pub region_priced: bool,
    pub currency: &'static str,
    pub hours_per_month: f64,
    /// Every priced item, in category order.
    pub lines: Vec<CostLine>,
    /// Σ `monthly` per category (the stacked chart's segments).
    pub by_category: BTreeMap<Category, f64>,
    /// Σ `monthly`.
    pub total_monthly: f64,
    /// Σ `monthly_at_max`.
    pub total_monthly_at_max: f64,
    pub spot: SpotSaving,
    pub unpriced: Vec<Unpriced>,
    /// What is deliberately not priced, and why.
    pub notes: Vec<String>,
    pub prices_as_of: String,
}

impl CostReport {
    /// What is honestly judgeable without a budget: every item that should have a price has one
    /// (and the region is priced), and a declared spot mix costs less than the same nodes on-demand.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        let scenario = "cost".to_string();
        if !self.region_priced {
            out.push(Verdict {
                scenario: scenario.clone(),
                subject: format!("region {}", self.region),
                pass: false,
                detail: format!("unpriced region: {FILE} has no prices for {}", self.region),
            });
        }
        for u in &self.unpriced {
            out.push(Verdict {
                scenario: scenario.clone(),
                subject: u.item.clone(),
                pass: false,
                detail: format!("unpriced: {}", u.reason),
            });
        }
        if self.region_priced && self.unpriced.is_empty() {
            out.push(Verdict {
                scenario: scenario.clone(),
                subject: "total".into(),
                pass: true,
                detail: format!(
                    "every item priced: ${:.2}/month at desired size, ${:.2}/month at max (list prices as of {})",
                    self.total_monthly, self.total_monthly_at_max, self.prices_as_of
                ),
            });
        }
        if self.spot.declared {
            let (d, m) = (&self.spot.at_desired, &self.spot.at_max);
            out.push(Verdict {
                scenario,
                subject: "spot mix".into(),
                pass: m.saving_monthly > 0.0 && d.saving_monthly >= 0.0,
                detail: format!(
                    "at desired {} spot nodes save ${:.2}/month ({:.1} % of compute); at max {} spot nodes cost ${:.2} instead of ${:.2} on-demand, saving ${:.2}/month ({:.1} %)",
                    d.spot_nodes,
                    d.saving_monthly,
                    d.saving_percent_of_compute,
                    m.spot_nodes,
                    m.spot_monthly,
                    m.on_demand_equivalent_monthly,
                    m.saving_monthly,
                    m.saving_percent_of_compute
                ),
            });
        }
        out
    }
}

/// Price `inputs.env` at the list prices of its platform's region.
pub fn run(inputs: &Inputs<'_>, workloads: &Workloads) -> Result<CostReport, SimError> {
    let data = prices()?;
    let region = inputs.platform.region.clone();
    let mut b = Builder { lines: Vec::new(), unpriced: Vec::new(), hours: data.hours_per_month };
    let spot_fraction = data.assumptions.spot_fraction_of_on_demand;
    let mut spot = SpotSaving {
        // Declared by the spec (a pool with spotPercentage > 0), whether or not any spot group
        // results: an on-demand base that covers the pool's max leaves none, and the spot mix
        // verdict fails then instead of disappearing.
        declared: inputs.env.node_pools.iter().any(|p| p.spot_percentage > 0),
        at_desired: SpotFigures::default(),
        at_max: SpotFigures::default(),
        spot_fraction,
        basis: data.assumptions.spot_basis.clone(),
    };
    let region_prices = data.regions.get(&region);
    if let Some(p) = region_prices {
        b.nodes(inputs.env, p, spot_fraction, &mut spot);
        b.control_plane(p);
        b.nat(inputs.env, p);
        b.postgres(inputs.env, p, &data.assumptions);
        b.redis(inputs.env, p);
        b.buckets(inputs.env, p, &data.assumptions);
        b.volumes(inputs, workloads, p);
    }
    let mut lines = b.lines;
    lines.sort_by(|a, b| a.category.cmp(&b.category).then_with(|| a.item.cmp(&b.item)));
    let mut by_category = BTreeMap::new();
    for l in &lines {
        *by_category.entry(l.category).or_insert(0.0) += l.monthly;
    }
    let total_monthly = lines.iter().map(|l| l.monthly).sum();
    let total_monthly_at_max = lines.iter().map(|l| l.monthly_at_max).sum();
    let notes = notes(inputs.env, region_prices, &data.assumptions, &inputs.platform.dr_region);
    Ok(CostReport {
        environment: inputs.env.name.clone(),
        region,
        region_priced: region_prices.is_some(),
        currency: "USD",
        hours_per_month: data.hours_per_month,
        lines,
        by_category,
        total_monthly,
        total_monthly_at_max,
        spot,
        unpriced: b.unpriced,
        notes,
        prices_as_of: data.provenance.as_of.clone(),
    })
}

struct Builder {
    lines: Vec<CostLine>,
    unpriced: Vec<Unpriced>,
    hours: f64,
}

impl Builder {
    fn line(&mut self, category: Category, item: String, monthly: f64, monthly_at_max: f64, basis: String) {
        self.lines.push(CostLine { category, item, monthly, monthly_at_max, basis });
    }

    fn missing(&mut self, item: String, reason: String) {
        self.unpriced.push(Unpriced { item, reason });
    }

    fn control_plane(&mut self, p: &RegionPrices) {
        let m = p.eks_cluster_hour * self.hours;
        let basis = format!("1 cluster × ${}/h × {} h (standard support)", p.eks_cluster_hour, self.hours);
        self.line(Category::ControlPlane, "EKS control plane".into(), m, m, basis);
    }

    /// Node groups and their root volumes, and the spot figures.
    fn nodes(&mut self, env: &Env, p: &RegionPrices, spot_fraction: f64, spot: &mut SpotSaving) {
        // Every node on-demand, at desired and at max: the base of the saving percentages.
        let (mut all_od_desired, mut all_od_max) = (0.0, 0.0);
        let gp3 = p.ebs_gb_month.get("gp3").copied();
        for g in env.node_groups() {
            let item = format!("node group {}", g.name);
            let Some(itype) = g.instance_types.first() else {
                self.missing(item, "no instance type".into());
                continue;
            };
            let Some(&od) = p.ec2_on_demand_hour.get(itype) else {
                self.missing(item, format!("no on-demand price for instance type {itype}"));
                continue;
            };
            let (hourly, kind) = match g.capacity {
                Capacity::OnDemand => (od, "on-demand"),
                Capacity::Spot => (od * spot_fraction, "spot"),
            };
            let per_node = hourly * self.hours;
            let od_per_node = od * self.hours;
            let basis = format!("{} × {itype} {kind} × ${hourly:.4}/h × {} h (max {})", g.desired, self.hours, g.max);
            let (desired, max) = (f64::from(g.desired), f64::from(g.max));
            self.line(Category::Compute, item.clone(), desired * per_node, max * per_node, basis);
            all_od_desired += desired * od_per_node;
            all_od_max += max * od_per_node;
            if g.capacity == Capacity::Spot {
                for (f, n) in [(&mut spot.at_desired, g.desired), (&mut spot.at_max, g.max)] {
                    f.spot_nodes += n;
                    f.spot_monthly += f64::from(n) * per_node;
                    f.on_demand_equivalent_monthly += f64::from(n) * od_per_node;
                }
            }
            match gp3 {
                Some(price) => {
                    let per = f64::from(g.disk_gib) * price;
                    self.line(
                        Category::BlockStorage,
                        format!("root volumes {}", g.name),
                        desired * per,
                        max * per,
                        format!("{} × {} GiB gp3 × ${price}/GB-month", g.desired, g.disk_gib),
                    );
                }
                None => self.missing(format!("root volumes {}", g.name), "no gp3 price".into()),
            }
        }
        for (f, all) in [(&mut spot.at_desired, all_od_desired), (&mut spot.at_max, all_od_max)] {
            f.saving_monthly = f.on_demand_equivalent_monthly - f.spot_monthly;
            if all > 0.0 {
                f.saving_percent_of_compute = 100.0 * f.saving_monthly / all;
            }
        }
    }

    fn nat(&mut self, env: &Env, p: &RegionPrices) {
        let count = match env.network.nat {
            NatMode::PerAz => env.network.azs.len(),
            NatMode::Single => 1,
        };
        if count == 0 {
            return;
        }
        let hourly = p.nat_gateway_hour + p.public_ipv4_hour;
        let m = count as f64 * hourly * self.hours;
        let mode = match env.network.nat {
            NatMode::PerAz => "one per AZ",
            NatMode::Single => "single",
        };
        let basis = format!(
            "{count} × (${}/h gateway + ${}/h public IPv4) × {} h; data processing ${}/GB not priced",
            p.nat_gateway_hour, p.public_ipv4_hour, self.hours, p.nat_gateway_gb
        );
        self.line(Category::Network, format!("NAT gateways ({mode})"), m, m, basis);
    }

    fn postgres(&mut self, env: &Env, p: &RegionPrices, a: &Assumptions) {
        for db in &env.postgres {
            let item = format!("postgres {}", db.name);
            let Some(&hourly) = p.rds_postgres_hour.get(&db.instance_class) else {
                self.missing(item, format!("no RDS PostgreSQL price for instance class {}", db.instance_class));
                continue;
            };
            // Multi-AZ (one standby) bills the standby's compute and storage too.
            let az_factor = if db.multi_az { 2.0 } else { 1.0 };
            let replicas = f64::from(db.read_replicas);
            let instances = az_factor + replicas;
            let compute = instances * hourly * self.hours;
            let storage_gib = f64::from(db.storage_gib);
            let storage = instances * storage_gib * p.rds_gp3_gb_month;
            let max_storage = instances * f64::from(db.max_storage_gib) * p.rds_gp3_gb_month;
            self.line(
                Category::Database,
                format!("{item} instances"),
                compute,
                compute,
                format!(
                    "({} + {} read replicas) × {} × ${hourly}/h × {} h",
                    if db.multi_az { "primary + Multi-AZ standby" } else { "primary" },
                    db.read_replicas,
                    db.instance_class,
                    self.hours
                ),
            );
            self.line(
                Category::Database,
                format!("{item} storage"),
                storage,
                max_storage,
                format!(
                    "{instances} copies × {} GiB gp3 × ${}/GB-month (at max: {} GiB)",
                    db.storage_gib, p.rds_gp3_gb_month, db.max_storage_gib
                ),
            );
            // One full copy plus each retained day's changes; the first copy's worth is free.
            let backup_gib = storage_gib * a.rds_backup_daily_change_fraction * f64::from(db.backup_retention_days);
            let backup = backup_gib * p.rds_backup_gb_month;
            self.line(
                Category::Database,
                format!("{item} backup storage (estimate)"),
                backup,
                backup,
                format!(
                    "{} days × {:.0} % daily change × {} GiB beyond the free allowance × ${}/GB-month",
                    db.backup_retention_days,
                    a.rds_backup_daily_change_fraction * 100.0,
                    db.storage_gib,
                    p.rds_backup_gb_month
                ),
            );
        }
    }

    fn redis(&mut self, env: &Env, p: &RegionPrices) {
        for r in &env.redis {
            let item = format!("redis {}", r.name);
            let Some(&hourly) = p.elasticache_hour.get(&r.node_type) else {
                self.missing(item, format!("no ElastiCache price for node type {}", r.node_type));
                continue;
            };
            let nodes = 1 + r.replicas;
            let m = f64::from(nodes) * hourly * self.hours;
            let basis =
                format!("(1 primary + {} replicas) × {} × ${hourly}/h × {} h", r.replicas, r.node_type, self.hours);
            self.line(Category::Cache, item, m, m, basis);
        }
    }

    fn buckets(&mut self, env: &Env, p: &RegionPrices, a: &Assumptions) {
        for b in &env.buckets {
            let item = format!("bucket {}", b.bucket_name);
            let Some(gib) = b.spec.estimated_gib else {
                self.missing(item, "no estimatedGib declared for the bucket".into());
                continue;
            };
            let split = lifecycle_split(&b.spec.lifecycle, a.s3_horizon_days_without_expiry);
            let s3 = &p.s3_gb_month;
            // The Glacier transition's class is the renderer's per data class (backups: Instant Retrieval).
            let archive = crate::recovery::constants().and_then(|c| c.archive_class(b.spec.class));
            let (archive_name, archive_price) = match archive {
                Ok((storage, class)) => match s3.archive(storage) {
                    Some(price) => (class.name.clone(), price),
                    None => {
                        self.missing(item, format!("no S3 price for storage class {storage}"));
                        continue;
                    }
                },
                Err(e) => {
                    self.missing(item, e.to_string());
                    continue;
                }
            };
            let gib = gib as f64;
            let per_gib =
                split.standard * s3.standard + split.standard_ia * s3.standard_ia + split.glacier * archive_price;
            let m = gib * per_gib;
            let basis = format!(
                "{gib} GiB: {:.0} % Standard × ${}, {:.0} % Standard-IA × ${}, {:.0} % {archive_name} × ${archive_price} per GB-month",
                split.standard * 100.0,
                s3.standard,
                split.standard_ia * 100.0,
                s3.standard_ia,
                split.glacier * 100.0,
            );
            self.line(Category::ObjectStorage, item, m, m, basis);
        }
    }

    /// EBS volumes of the rendered StatefulSets' claim templates.
    fn volumes(&mut self, inputs: &Inputs<'_>, workloads: &Workloads, p: &RegionPrices) {
        let classes: BTreeMap<&str, &serde_json::Value> =
            inputs.k8s.iter().filter(|o| o.kind() == "StorageClass").map(|o| (o.name(), &o.value)).collect();
        for o in inputs.k8s.iter().filter(|o| o.kind() == "StatefulSet") {
            let ns = o.namespace().unwrap_or("default");
            let id = format!("{ns}/{}", o.name());
            // An autoscaled StatefulSet may leave `replicas` to its autoscaler, which keeps at least its minimum.
            let declared = o.value["spec"]["replicas"].as_u64().map(|r| r as f64);
            let w = workloads.get(&id);
            let replicas = match (declared, w) {
                (_, Some(w)) => f64::from(w.min_replicas().max(w.replicas)),
                (Some(r), None) => r,
                (None, None) => 1.0,
            };
            let max = w.map_or(replicas, |w| f64::from(w.max_replicas()).max(replicas));
            let templates = o.value["spec"]["volumeClaimTemplates"].as_array().cloned().unwrap_or_default();
            for t in templates {
                let claim = t["metadata"]["name"].as_str().unwrap_or("");
                let item = format!("volumes {id} ({claim})");
                let size =
                    t["spec"]["resources"]["requests"]["storage"].as_str().and_then(cerverus_model::quantity::parse);
                let Some(bytes) = size else {
                    self.missing(item, "claim template without a storage request".into());
                    continue;
                };
                let gb = bytes / 1024f64.powi(3);
                let class_name = t["spec"]["storageClassName"].as_str().unwrap_or("");
                let Some(class) = classes.get(class_name) else {
                    self.missing(item, format!("StorageClass `{class_name}` is not among the rendered objects"));
                    continue;
                };
                let volume_type = class["parameters"]["type"].as_str();
                let provisioner = class["provisioner"].as_str().unwrap_or("");
                let price = match (provisioner, volume_type) {
                    ("ebs.csi.aws.com", Some(t)) => p.ebs_gb_month.get(t).map(|price| (t, *price)),
                    _ => None,
                };
                let Some((vt, price)) = price else {
                    self.missing(
                        item,
                        format!(
                            "no price for StorageClass `{class_name}` ({provisioner} {})",
                            volume_type.unwrap_or("")
                        ),
                    );
                    continue;
                };
                self.line(
                    Category::BlockStorage,
                    item,
                    replicas * gb * price,
                    max * gb * price,
                    format!("{replicas} × {gb} GiB {vt} × ${price}/GB-month (at max {max} replicas)"),
                );
            }
        }
    }
}

/// Fractions of a bucket's volume in each storage class in steady state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassSplit {
    pub standard: f64,
    pub standard_ia: f64,
    pub glacier: f64,
}

/// Objects aged uniformly over `[0, horizon)` days (constant ingest; horizon = expiry, else
/// `default_horizon`): the share of each age band the lifecycle puts in each class.
pub fn lifecycle_split(l: &cerverus_spec::Lifecycle, default_horizon: u32) -> ClassSplit {
    let horizon = f64::from(l.expire_after_days.unwrap_or(default_horizon).max(1));
    let clamp = |d: Option<u32>| d.map_or(horizon, |d| f64::from(d).min(horizon));
    let glacier_from = clamp(l.glacier_after_days);
    let ia_from = clamp(l.infrequent_access_after_days).min(glacier_from);
    ClassSplit {
        standard: ia_from / horizon,
        standard_ia: (glacier_from - ia_from) / horizon,
        glacier: (horizon - glacier_from) / horizon,
    }
}

fn notes(env: &Env, p: Option<&RegionPrices>, a: &Assumptions, dr_region: &str) -> Vec<String> {
    let mut out = vec![
        "Data transfer is noted, not priced: internet egress, cross-AZ traffic and NAT data processing depend on traffic volumes the spec does not declare.".to_string(),
        a.spot_basis.clone(),
    ];
    if let Some(p) = p {
        out.push(format!(
            "NAT gateways also charge ${}/GB of data processed; S3 traffic uses the VPC gateway endpoint and does not pass through them.",
            p.nat_gateway_gb
        ));
    }
    if !env.buckets.is_empty() {
        out.push(a.s3_basis.clone());
    }
    if env.buckets.iter().any(|b| b.spec.replicate) {
        out.push(format!(
            "Replica buckets in {dr_region} (storage and inter-region replication transfer) are not priced."
        ));
    }
    if env.postgres.iter().any(|d| d.cross_region_backups) {
        out.push(format!(
            "RDS automated backups replicated to {dr_region} (snapshot copy transfer and storage there) are not priced."
        ));
    }
    if !env.postgres.is_empty() {
        out.push(a.rds_backup_basis.clone());
    }
    out.push(
        "Not priced: load balancers, CloudWatch, KMS, Secrets Manager, ECR, ElastiCache snapshots, EFS, and the volumes add-on charts (Prometheus, OpenSearch, …) create, which are not among the rendered objects.".to_string(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_price_data_parses() {
        let p = prices().expect("prices.json parses");
        assert!(p.regions.contains_key("us-east-1"));
        assert!(p.assumptions.spot_fraction_of_on_demand > 0.0 && p.assumptions.spot_fraction_of_on_demand < 1.0);
    }

    #[test]
    fn lifecycle_split_by_hand() {
        // Bronze: IA at 30, Glacier at 90, expiry 2555: 30/2555 Standard, 60/2555 IA, the rest Glacier.
        let l = cerverus_spec::Lifecycle {
            infrequent_access_after_days: Some(30),
            glacier_after_days: Some(90),
            expire_after_days: Some(2555),
        };
        let s = lifecycle_split(&l, 365);
        assert!((s.standard - 30.0 / 2555.0).abs() < 1e-12);
        assert!((s.standard_ia - 60.0 / 2555.0).abs() < 1e-12);
        assert!((s.glacier - 2465.0 / 2555.0).abs() < 1e-12);
        // No lifecycle: all Standard.
        let s = lifecycle_split(&cerverus_spec::Lifecycle::default(), 365);
        assert_eq!(s, ClassSplit { standard: 1.0, standard_ia: 0.0, glacier: 0.0 });
        // IA at 90 without expiry: 90/365 Standard, 275/365 IA.
        let l = cerverus_spec::Lifecycle { infrequent_access_after_days: Some(90), ..Default::default() };
        let s = lifecycle_split(&l, 365);
        assert!((s.standard - 90.0 / 365.0).abs() < 1e-12 && (s.standard_ia - 275.0 / 365.0).abs() < 1e-12);
    }
}

//! RPO / RTO per data store and per stateful tier, from the backup configuration, against the
//! objectives the spec declares (`recovery.objectives`, defaults = the Velero tiers' promises).
//!
//! **Subjects.** Each PostgreSQL store, Redis store and bucket of the environment, and each tier
//! whose StatefulSets keep volumes (the rendered StatefulSets' `volumeClaimTemplates`, backed up
//! by the rendered Velero Schedules).
//!
//! **Which objective.** A data store is held to the objective of the most critical tier among
//! the workloads that depend on it (`env.graph`): its failure takes all of them down. A store no
//! workload depends on has no objective and is reported, not judged. A stateful tier is held to
//! its own objective.
//!
//! **Failures.** Losing one availability zone; restoring after data corruption or deletion;
//! losing the region (recovery in `aws.drRegion`). The tier objectives judge the first two;
//! region loss is judged only against `recovery.regionLoss` when the spec declares one.
//!
//! **The model**, constants in `data/simulation/recovery.json`:
//! - PostgreSQL: Multi-AZ fails over to the synchronous standby (RPO 0, RTO the failover time);
//!   without it an AZ loss is a point-in-time restore. A restore replays transaction logs RDS
//!   uploads every 5 minutes (RPO 5 min) into a new instance (RTO: a base time plus a time per
//!   GiB, an estimate). Region loss restores from the backups replicated to the DR region (RPO:
//!   the log interval plus the copy lag) or loses the data when they are not replicated.
//! - Redis is a cache, rebuilt from its sources: judged on RTO only (its RPO is reported). With
//!   replicas, Multi-AZ automatic failover promotes one (asynchronous replication: the RPO is an
//!   estimate of the replication lag, seconds); without, a new cluster is created from the daily
//!   snapshot. The region's loss leaves an empty cache to create in the DR region.
//! - Buckets: S3 keeps every object in at least three AZs (an AZ loss loses nothing). Versioning
//!   undoes overwrites and deletes, judged at the worst case: the damaged object's last good
//!   version was archived by the lifecycle while current, so the RTO adds the archive class's
//!   retrieval (Glacier Flexible Retrieval: hours; Glacier Instant Retrieval, the backup class's:
//!   none) — the class per data class is the renderer's, in the data file. The RPO is 0 only for
//!   damage found before the rendered `noncurrent_version_expiration` deletes the old versions;
//!   the row says so rather than inventing an RPO for later discovery. Replication copies
//!   objects to the DR region without Replication Time Control, which promises no time: its RPO
//!   is an estimate. A bucket that is not replicated is lost with the region: the platform
//!   rebuilds it from the replicated buckets, which this model does not time — reported, not judged.
//! - Stateful tiers: EBS volumes live in one AZ, so an AZ loss or a corruption restores them
//!   from the newest completed Velero backup: RPO is the worst-case interval of the covering
//!   Schedule's cron plus a backup's duration (an estimate: the failure may come just before a
//!   backup completes), RTO a Velero restore (an estimate; the weekly restore verification
//!   measures it). EBS snapshots stay in their region, so a region loss loses the volumes unless
//!   a Schedule backs them up to the (replicated) bucket with file-system backup.
//! - Region loss also needs the platform rebuilt in the DR region; every region-loss RTO is at
//!   least that rebuild time (an estimate; the provisioning section computes the Terraform
//!   critical path).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cerverus_model::{Env, Target};
use cerverus_spec::{DataClass, Objective, Tier};
use serde::{Deserialize, Serialize};

use crate::data::{self, Provenance};
use crate::objects::Workloads;
use crate::{Inputs, SimError, Verdict};

pub const FILE: &str = "data/simulation/recovery.json";
const TEXT: &str = include_str!("../../../data/simulation/recovery.json");

/// `data/simulation/recovery.json`: minutes. `estimate_*` are engineering estimates, the rest
/// documented by AWS (see the file's sources).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryData {
    pub provenance: Provenance,
    pub rds_log_upload_minutes: f64,
    pub rds_multi_az_failover_minutes: f64,
    pub estimate_rds_restore_base_minutes: f64,
    pub estimate_rds_restore_minutes_per_100_gib: f64,
    pub estimate_rds_cross_region_copy_minutes: f64,
    pub elasticache_snapshot_interval_minutes: f64,
    pub estimate_elasticache_failover_minutes: f64,
    pub estimate_elasticache_replication_lag_minutes: f64,
    pub estimate_elasticache_create_minutes: f64,
    /// Not a bound: S3 Replication without Replication Time Control promises no time.
    pub estimate_s3_replication_minutes: f64,
    pub estimate_s3_version_restore_minutes: f64,
    pub estimate_velero_restore_minutes: f64,
    /// A Velero backup's duration, cron time → snapshots taken and the backup Completed.
    pub estimate_velero_backup_minutes: f64,
    pub estimate_cluster_rebuild_minutes: f64,
    /// The basis of the estimates above, by constant name.
    pub notes: BTreeMap<String, String>,
    /// Storage class of a bucket's Glacier transition per data class (`raw`, …), as rendered.
    pub bucket_archive_storage_class: BTreeMap<String, String>,
    /// What reading an archived object takes, per S3 storage class (`GLACIER`, `GLACIER_IR`).
    pub s3_archive_classes: BTreeMap<String, ArchiveClass>,
}

/// One S3 archive storage class.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveClass {
    pub name: String,
    /// Minutes before an archived object can be read (0: read directly, in milliseconds).
    pub retrieval_minutes: f64,
}

impl RecoveryData {
    /// The S3 storage class the renderer's Glacier transition uses for `class` (`GLACIER_IR` for
    /// backups, `GLACIER` otherwise), and what reading from it takes.
    pub fn archive_class(&self, class: DataClass) -> Result<(&str, &ArchiveClass), SimError> {
        let key = serde_json::to_value(class).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let storage = self
            .bucket_archive_storage_class
            .get(&key)
            .ok_or_else(|| SimError::Input(format!("{FILE}: no archive storage class for data class `{key}`")))?;
        let archive = self
            .s3_archive_classes
            .get(storage)
            .ok_or_else(|| SimError::Input(format!("{FILE}: storage class `{storage}` is not described")))?;
        Ok((storage.as_str(), archive))
    }
}

static DATA: OnceLock<Result<RecoveryData, String>> = OnceLock::new();

pub fn constants() -> Result<&'static RecoveryData, SimError> {
    data::cached(&DATA, FILE, TEXT)
}

pub fn provenance() -> Result<Provenance, SimError> {
    Ok(constants()?.provenance.clone())
}

/// What fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// One availability zone is lost.
    AzLoss,
    /// Data is corrupted or deleted and restored from backups.
    Restore,
    /// The primary region is lost; recovery in the DR region.
    RegionLoss,
}

impl Failure {
    pub const ALL: [Failure; 3] = [Failure::AzLoss, Failure::Restore, Failure::RegionLoss];

    pub fn name(self) -> &'static str {
        match self {
            Failure::AzLoss => "az-loss",
            Failure::Restore => "restore",
            Failure::RegionLoss => "region-loss",
        }
    }
}

/// What kind of subject a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    Postgres,
    Redis,
    Bucket,
    /// The volumes of one tier's StatefulSets, backed up by Velero.
    VeleroTier,
}

/// One subject under one failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryRow {
    /// `postgres/<name>`, `redis/<name>`, `bucket/<bucket name>`, `tier/<tier>`.
    pub subject: String,
    pub kind: StoreKind,
    /// The tier whose objective applies; `None` when no workload depends on the store.
    pub tier: Option<Tier>,
    pub failure: Failure,
    /// How it recovers.
    pub mechanism: String,
    /// Minutes of data lost at most; `None`: no copy survives (all data is lost).
    pub achieved_rpo_minutes: Option<f64>,
    /// Minutes until it serves again; `None`: not modelled (see `detail`).
    pub achieved_rto_minutes: Option<f64>,
    /// The objective it is held to, when there is one for this failure.
    pub declared: Option<Objective>,
    /// Whether the RPO is judged (not for a cache).
    pub rpo_judged: bool,
    /// `None`: reported, not judged (why in `detail`).
    pub pass: Option<bool>,
    pub detail: String,
}

/// RPO / RTO of every data store and stateful tier of one environment.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    pub environment: String,
    pub dr_region: String,
    /// Declared objective per tier (after defaults).
    pub objectives: BTreeMap<Tier, Objective>,
    /// Declared region-loss objective, when there is one.
    pub region_loss_objective: Option<Objective>,
    /// Worst-case interval of each rendered Velero Schedule, by name (minutes).
    pub schedules: BTreeMap<String, u32>,
    pub rows: Vec<RecoveryRow>,
}

impl RecoveryReport {
    /// One verdict per judged row: achieved RPO and RTO within the declared objective.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.rows
            .iter()
            .filter_map(|r| {
                r.pass.map(|pass| Verdict {
                    scenario: format!("recovery:{}", r.failure.name()),
                    subject: r.subject.clone(),
                    pass,
                    detail: r.detail.clone(),
                })
            })
            .collect()
    }
}

pub fn run(inputs: &Inputs<'_>, _workloads: &Workloads) -> Result<RecoveryReport, SimError> {
    let c = constants()?;
    let env = inputs.env;
    let objectives: BTreeMap<Tier, Objective> = [Tier::Critical, Tier::High, Tier::Standard, Tier::Batch]
        .into_iter()
        .map(|t| (t, env.recovery.objectives.for_tier(t)))
        .collect();
    let region_loss = env.recovery.region_loss;
    let schedules = velero_schedules(&inputs.k8s)?;
    let mut rows = Vec::new();
    let judge = |tier: Option<Tier>, failure: Failure| -> Option<Objective> {
        match failure {
            Failure::RegionLoss => tier.and(region_loss),
            _ => tier.map(|t| env.recovery.objectives.for_tier(t)),
        }
    };

    for db in &env.postgres {
        let tier = store_tier(env, |t| matches!(t, Target::Postgres { name } if name == &db.name));
        let restore = c.estimate_rds_restore_base_minutes
            + f64::from(db.storage_gib) / 100.0 * c.estimate_rds_restore_minutes_per_100_gib;
        let pitr = db.backup_retention_days > 0;
        for failure in Failure::ALL {
            let (mechanism, rpo, rto) = match failure {
                Failure::AzLoss if db.multi_az => (
                    "Multi-AZ: fails over to the synchronous standby".to_string(),
                    Some(0.0),
                    Some(c.rds_multi_az_failover_minutes),
                ),
                Failure::AzLoss | Failure::Restore if pitr => (
                    format!("point-in-time restore into a new instance ({} GiB)", db.storage_gib),
                    Some(c.rds_log_upload_minutes),
                    Some(restore),
                ),
                Failure::AzLoss | Failure::Restore => ("no automated backups".to_string(), None, None),
                Failure::RegionLoss if pitr && db.cross_region_backups => (
                    format!("restore from the automated backups replicated to {}", inputs.platform.dr_region),
                    Some(c.rds_log_upload_minutes + c.estimate_rds_cross_region_copy_minutes),
                    Some(restore.max(c.estimate_cluster_rebuild_minutes)),
                ),
                Failure::RegionLoss => {
                    ("automated backups are not replicated: lost with the region".to_string(), None, None)
                }
            };
            rows.push(row(
                format!("postgres/{}", db.name),
                StoreKind::Postgres,
                tier,
                failure,
                mechanism,
                rpo,
                rto,
                judge(tier, failure),
                true,
            ));
        }
    }

    for r in &env.redis {
        let tier = store_tier(env, |t| matches!(t, Target::Redis { name } if name == &r.name));
        for failure in Failure::ALL {
            let (mechanism, rpo, rto) = match failure {
                Failure::AzLoss if r.replicas > 0 => (
                    "Multi-AZ automatic failover to a replica (asynchronous replication: the writes the replica had not \
                     received are lost, seconds' worth; the RPO is an estimate)"
                        .to_string(),
                    Some(c.estimate_elasticache_replication_lag_minutes),
                    Some(c.estimate_elasticache_failover_minutes),
                ),
                Failure::AzLoss | Failure::Restore => (
                    "new cluster from the daily snapshot, or rebuilt from its sources".to_string(),
                    Some(c.elasticache_snapshot_interval_minutes),
                    Some(c.estimate_elasticache_create_minutes),
                ),
                Failure::RegionLoss => (
                    format!("no copy outside the region: an empty cache created in {}", inputs.platform.dr_region),
                    None,
                    Some(c.estimate_elasticache_create_minutes.max(c.estimate_cluster_rebuild_minutes)),
                ),
            };
            rows.push(row(
                format!("redis/{}", r.name),
                StoreKind::Redis,
                tier,
                failure,
                mechanism,
                rpo,
                rto,
                judge(tier, failure),
                false,
            ));
        }
    }

    let undo_days = noncurrent_version_expiration_days(inputs);
    for b in &env.buckets {
        let tier = store_tier(env, |t| matches!(t, Target::Bucket { name, .. } if name == &b.spec.name));
        let archived = match b.spec.lifecycle.glacier_after_days {
            Some(d) if d > 0 => Some((d, c.archive_class(b.spec.class)?)),
            _ => None,
        };
        for failure in Failure::ALL {
            let mut declared = judge(tier, failure);
            let mut unjudged = None;
            let (mechanism, rpo, rto) = match failure {
                Failure::AzLoss => ("S3 stores every object in at least three AZs".to_string(), Some(0.0), Some(0.0)),
                Failure::Restore => {
                    let mut m =
                        "versioning: the last good (noncurrent) version of each damaged object restored".to_string();
                    let mut rto = c.estimate_s3_version_restore_minutes;
                    // The lifecycle transitions current versions; one archived while current keeps
                    // its class when the damage makes it noncurrent: the worst case reads it from there.
                    if let Some((d, (storage, a))) = archived {
                        if a.retrieval_minutes > 0.0 {
                            rto += a.retrieval_minutes;
                            m.push_str(&format!(
                                "; worst case: an object older than {d} days sits in {} ({storage}) and must be retrieved \
                                 before it can be copied back: +{:.0} min",
                                a.name, a.retrieval_minutes
                            ));
                        } else {
                            m.push_str(&format!(
                                "; objects older than {d} days are in {} ({storage}), read in milliseconds: no retrieval step",
                                a.name
                            ));
                        }
                    }
                    match undo_days {
                        Some(n) => m.push_str(&format!(
                            "; RPO 0 only for damage found within {n} days: noncurrent versions expire after {n} days \
                             (noncurrent_version_expiration), so an overwrite or delete found later cannot be undone"
                        )),
                        None => m.push_str(
                            "; noncurrent_version_expiration not readable from the rendered Terraform: how long damage \
                             stays undoable is unknown",
                        ),
                    }
                    (m, Some(0.0), Some(rto))
                }
                Failure::RegionLoss if b.spec.replicate => (
                    format!(
                        "replicated to {} without Replication Time Control (no replication time promised: the RPO is an estimate)",
                        inputs.platform.dr_region
                    ),
                    Some(c.estimate_s3_replication_minutes),
                    Some(c.estimate_cluster_rebuild_minutes),
                ),
                Failure::RegionLoss => {
                    if declared.is_some() {
                        declared = None;
                        unjudged = Some(
                            "not replicated: derived data the platform rebuilds from the replicated buckets; the rebuild is not modelled",
                        );
                    }
                    ("not replicated: lost with the region".to_string(), None, None)
                }
            };
            let mut x = row(
                format!("bucket/{}", b.bucket_name),
                StoreKind::Bucket,
                tier,
                failure,
                mechanism,
                rpo,
                rto,
                declared,
                true,
            );
            if let Some(why) = unjudged {
                x.detail = format!("{why}; {}", x.detail);
            }
            rows.push(x);
        }
    }

    for (tier, cover) in stateful_tiers(&inputs.k8s, &schedules) {
        let subject = format!("tier/{}", tier.as_str());
        let members = cover.workloads.join(", ");
        for failure in Failure::ALL {
            let (mechanism, rpo, rto) = match (&cover.schedule, failure) {
                // Worst case: the failure comes just before a backup completes, so the newest
                // usable one started an interval plus a backup's duration ago.
                (Some((name, interval)), Failure::AzLoss | Failure::Restore) => (
                    format!(
                        "Velero restore of {members} from the newest completed backup of schedule {name} \
                         (every {interval} min at worst, + {:.0} min backup duration, an estimate)",
                        c.estimate_velero_backup_minutes
                    ),
                    Some(f64::from(*interval) + c.estimate_velero_backup_minutes),
                    Some(c.estimate_velero_restore_minutes),
                ),
                (None, Failure::AzLoss | Failure::Restore) => {
                    (format!("no Velero schedule snapshots the volumes of {members}"), None, None)
                }
                (_, Failure::RegionLoss) => (
                    format!("EBS snapshots of {members} stay in the region: volumes lost with it"),
                    None,
                    Some(c.estimate_cluster_rebuild_minutes),
                ),
            };
            rows.push(row(
                subject.clone(),
                StoreKind::VeleroTier,
                Some(tier),
                failure,
                mechanism,
                rpo,
                rto,
                judge(Some(tier), failure),
                true,
            ));
        }
    }

    Ok(RecoveryReport {
        environment: env.name.clone(),
        dr_region: inputs.platform.dr_region.clone(),
        objectives,
        region_loss_objective: region_loss,
        schedules: schedules.iter().map(|s| (s.name.clone(), s.interval)).collect(),
        rows,
    })
}

/// Build a row and judge it.
#[allow(clippy::too_many_arguments)]
fn row(
    subject: String,
    kind: StoreKind,
    tier: Option<Tier>,
    failure: Failure,
    mechanism: String,
    rpo: Option<f64>,
    rto: Option<f64>,
    declared: Option<Objective>,
    rpo_judged: bool,
) -> RecoveryRow {
    let show = |v: Option<f64>, lost: &str| v.map_or(lost.to_string(), |m| format!("{m:.0} min"));
    let achieved = format!("RPO {}, RTO {}", show(rpo, "all data"), show(rto, "not modelled"));
    let (pass, detail) = match declared {
        None => {
            let why = match (tier, failure) {
                (None, _) => "no workload depends on it: no objective applies",
                (Some(_), Failure::RegionLoss) => "no recovery.regionLoss objective declared",
                (Some(_), _) => "no objective applies",
            };
            (None, format!("{mechanism}: {achieved}; reported, not judged ({why})"))
        }
        Some(o) => {
            let rpo_ok = !rpo_judged || rpo.is_some_and(|m| m <= f64::from(o.rpo_minutes));
            let rto_ok = rto.is_some_and(|m| m <= f64::from(o.rto_minutes));
            let tier_name = tier.map_or("", Tier::as_str);
            let scope = if rpo_judged { "" } else { " (a cache: RTO only)" };
            (
                Some(rpo_ok && rto_ok),
                format!(
                    "{mechanism}: {achieved}; declared for {tier_name}: RPO {} min, RTO {} min{scope}",
                    o.rpo_minutes, o.rto_minutes
                ),
            )
        }
    };
    RecoveryRow {
        subject,
        kind,
        tier,
        failure,
        mechanism,
        achieved_rpo_minutes: rpo,
        achieved_rto_minutes: rto,
        declared,
        rpo_judged,
        pass,
        detail,
    }
}

/// `noncurrent_version_expiration_days` of the rendered storage module: the value the root's
/// module call passes as a number, else the module variable's default; `None` when neither is a
/// literal number (a reference this model does not evaluate).
fn noncurrent_version_expiration_days(inputs: &Inputs<'_>) -> Option<u32> {
    const VAR: &str = "noncurrent_version_expiration_days";
    let attr = |b: &cerverus_check::inventory::TfBlock, key: &str| {
        b.body.attributes().find(|a| a.key.as_str() == key).map(|a| a.expr.clone())
    };
    let number = |e: hcl::Expression| match e {
        hcl::Expression::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
        _ => None,
    };
    let is_storage = |b: &&cerverus_check::inventory::TfBlock| {
        b.kind == "module"
            && matches!(attr(b, "source"), Some(hcl::Expression::String(s)) if s.trim_end_matches('/').ends_with("modules/storage"))
    };
    if let Some(e) = inputs.terraform_root.iter().find(is_storage).and_then(|b| attr(b, VAR)) {
        return number(e);
    }
    let module = inputs.terraform_modules.get("storage")?;
    let var = module.iter().find(|b| b.kind == "variable" && b.labels.first().map(String::as_str) == Some(VAR))?;
    attr(var, "default").and_then(number)
}

/// The most critical tier among the workloads whose dependencies match `target`.
fn store_tier(env: &Env, target: impl Fn(&Target) -> bool) -> Option<Tier> {
    env.graph.edges.iter().filter(|e| target(&e.to)).filter_map(|e| env.workload(&e.from).map(|w| w.spec.tier)).min()
}

/// A rendered Velero Schedule, as far as the model needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct VeleroSchedule {
    pub name: String,
    /// Worst-case minutes between two runs of its cron.
    pub interval: u32,
    pub namespaces: Vec<String>,
    /// OR-ed `matchLabels` selectors.
    pub selectors: Vec<BTreeMap<String, String>>,
    pub snapshots_volumes: bool,
}

fn string_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default()
}

/// Every Velero Schedule among `objects`; a cron outside the calculator's forms is an input
/// error rather than a guessed interval.
pub fn velero_schedules(objects: &[cerverus_check::inventory::K8sObject]) -> Result<Vec<VeleroSchedule>, SimError> {
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| o.kind() == "Schedule" && o.value["apiVersion"] == "velero.io/v1") {
        let spec = &o.value["spec"];
        let cron = spec["schedule"].as_str().unwrap_or("");
        let interval = cerverus_model::cron::cron_interval_minutes(cron)
            .map_err(|e| SimError::Input(format!("{}: Velero Schedule `{}`: {e}", o.file, o.name())))?;
        let t = &spec["template"];
        let selectors = t["orLabelSelectors"]
            .as_array()
            .map(|a| a.iter().map(|s| string_map(&s["matchLabels"])).collect())
            .unwrap_or_else(|| vec![string_map(&t["labelSelector"]["matchLabels"])]);
        out.push(VeleroSchedule {
            name: o.name().to_string(),
            interval,
            namespaces: t["includedNamespaces"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_else(|| vec!["*".to_string()]),
            selectors,
            // Velero snapshots volumes unless told not to.
            snapshots_volumes: t["snapshotVolumes"].as_bool().unwrap_or(true),
        });
    }
    Ok(out)
}

/// The StatefulSets with volumes of one tier, and the best Schedule covering all of them.
#[derive(Debug, Clone)]
struct TierCover {
    workloads: Vec<String>,
    /// Name and interval of the Schedule meeting the tier's worst member; `None` when one member
    /// has no covering schedule.
    schedule: Option<(String, u32)>,
}

/// Labels of the claims a StatefulSet's controller creates from a claim template: the template's
/// labels overwritten by the StatefulSet's selector `matchLabels`.
fn claim_labels(ss: &serde_json::Value, template: &serde_json::Value) -> BTreeMap<String, String> {
    let mut l = string_map(&template["metadata"]["labels"]);
    l.extend(string_map(&ss["spec"]["selector"]["matchLabels"]));
    l
}

fn stateful_tiers(
    objects: &[cerverus_check::inventory::K8sObject],
    schedules: &[VeleroSchedule],
) -> BTreeMap<Tier, TierCover> {
    let mut out: BTreeMap<Tier, TierCover> = BTreeMap::new();
    for o in objects.iter().filter(|o| o.kind() == "StatefulSet") {
        let Some(templates) = o.value["spec"]["volumeClaimTemplates"].as_array().filter(|t| !t.is_empty()) else {
            continue;
        };
        let tier_label = o.value["spec"]["template"]["metadata"]["labels"]["cerverus.io/tier"]
            .as_str()
            .or(o.value["metadata"]["labels"]["cerverus.io/tier"].as_str());
        let Some(tier) = tier_label.and_then(parse_tier) else { continue };
        let ns = o.namespace().unwrap_or("default");
        // The member is covered by the fastest schedule that selects every claim of it.
        let best = schedules
            .iter()
            .filter(|s| s.snapshots_volumes && s.namespaces.iter().any(|n| n == ns || n == "*"))
            .filter(|s| {
                templates.iter().all(|t| {
                    let labels = claim_labels(&o.value, t);
                    s.selectors.iter().any(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
                })
            })
            .min_by_key(|s| s.interval)
            .map(|s| (s.name.clone(), s.interval));
        let entry =
            out.entry(tier).or_insert_with(|| TierCover { workloads: Vec::new(), schedule: Some((String::new(), 0)) });
        entry.workloads.push(format!("{ns}/{}", o.name()));
        // The tier is as good as its worst-covered member.
        entry.schedule = match (entry.schedule.take(), best) {
            (Some(cur), Some(b)) => Some(if b.1 >= cur.1 { b } else { cur }),
            _ => None,
        };
    }
    out
}

fn parse_tier(s: &str) -> Option<Tier> {
    [Tier::Critical, Tier::High, Tier::Standard, Tier::Batch].into_iter().find(|t| t.as_str() == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recovery_data_parses() {
        let c = constants().expect("recovery.json parses");
        assert_eq!(c.rds_log_upload_minutes, 5.0);
    }

    #[test]
    fn a_row_fails_when_achieved_exceeds_declared() {
        let o = Objective { rpo_minutes: 30, rto_minutes: 60 };
        let r = row(
            "tier/critical".into(),
            StoreKind::VeleroTier,
            Some(Tier::Critical),
            Failure::Restore,
            "m".into(),
            Some(60.0),
            Some(30.0),
            Some(o),
            true,
        );
        assert_eq!(r.pass, Some(false), "an hourly backup cannot meet a 30-minute RPO");
        let r = row(
            "redis/c".into(),
            StoreKind::Redis,
            Some(Tier::Critical),
            Failure::Restore,
            "m".into(),
            Some(1440.0),
            Some(15.0),
            Some(o),
            false,
        );
        assert_eq!(r.pass, Some(true), "a cache is judged on RTO only");
        let r = row(
            "x".into(),
            StoreKind::Postgres,
            Some(Tier::Critical),
            Failure::RegionLoss,
            "m".into(),
            None,
            Some(10.0),
            Some(o),
            true,
        );
        assert_eq!(r.pass, Some(false), "losing all data fails any RPO");
        let r = row("x".into(), StoreKind::Postgres, None, Failure::Restore, "m".into(), None, None, None, true);
        assert_eq!(r.pass, None);
    }
}

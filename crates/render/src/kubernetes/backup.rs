//! Backup and DR: Velero Schedules per criticality tier and for the platform's configuration,
//! a weekly restore verification per tier, and alerts on failed or late backups.
//!
//! Velero itself (chart values, storage and snapshot locations, IRSA) is `addons::backup`.
//!
//! **What each schedule promises.** A tier's promise is the objective the spec declares for it
//! (`recovery.objectives`, whose defaults are the RPO/RTO of the table [`POLICIES`]); the cron,
//! retention and severity are [`POLICIES`]'. Every Schedule carries its promise as annotations
//! (`cerverus.io/rpo`, `cerverus.io/rto`) next to the cron that keeps it. A tier's RPO is met
//! when the longest gap between two runs of its cron ([`cron_interval_minutes`]) is at most the
//! RPO; `crates/cli/tests/backup.rs` holds every stateful workload to that.
//!
//! **What is backed up.** A tier schedule takes, in the namespaces where that tier's workloads
//! run, every object labelled `cerverus.io/tier=<tier>` and the PersistentVolumeClaims of the
//! tier's StatefulSets (the StatefulSet controller gives each claim its volumeClaimTemplate's
//! labels plus the StatefulSet's selector labels, never the tier label), with EBS snapshots of
//! their volumes. `platform-config` takes every namespace's objects without volumes —
//! ConfigMaps, Secrets, cert-manager Certificates and their Secrets in `istio-system` and
//! `cert-manager`, RBAC, policies — so a cluster can be rebuilt from it when Git or Secrets
//! Manager cannot serve.
//!
//! **Application data** (RDS, Redis, S3) is not Velero's: [`application_data`] records the
//! recovery each data store gets from the Terraform (PITR, snapshots, versioning, replication).

use std::collections::{BTreeMap, BTreeSet};

use cerverus_model::{Env, Platform, SubnetTier, Workload};
use cerverus_spec::{DataClass, Tier, WorkloadKind};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, PodSecurityContext,
    PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile, SecurityContext, ServiceAccount, Volume,
    VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector as Selector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Objects;
use super::alerting::{self, AlertText, Severity};
use super::crd::Resource;
use super::crd::monitoring::{Rule, RuleGroup};
use super::crd::velero::{
    BackupSpec, JsonPatch, LabelSelector, ModifierConditions, ResourceModifierRef, ResourceModifierRule,
    ResourceModifiers, RestoreSpec, ScheduleSpec,
};
use super::network_policies::{MONITORING_NAMESPACE, PROMETHEUS_POD};
use super::promtool::{ExpAlert, InputSeries, TestGroup};
use super::{labels, yaml};
use crate::RenderError;

/// Velero's namespace (its chart's, see `addons::CHARTS`).
pub const VELERO_NAMESPACE: &str = "velero";
/// The BackupStorageLocation and VolumeSnapshotLocation the chart values create.
pub const STORAGE_LOCATION: &str = "default";
pub const SNAPSHOT_LOCATION: &str = "default";
/// The label every workload object carries with its tier (`labels::workload`).
pub const TIER_LABEL: &str = "cerverus.io/tier";
/// Annotations with what a Schedule promises (Go durations, as Velero writes them).
pub const RPO_ANNOTATION: &str = "cerverus.io/rpo";
pub const RTO_ANNOTATION: &str = "cerverus.io/rto";
/// Name of the schedule of the platform's configuration.
pub const PLATFORM_CONFIG: &str = "platform-config";
const TEAM: &str = "platform";
const RUNBOOK: &str = "backup-and-restore";

/// What a backup schedule takes and promises.
#[derive(Debug, Clone, Copy)]
pub struct BackupPolicy {
    /// The tier whose workloads it backs up; `None` for `platform-config`.
    pub tier: Option<Tier>,
    /// Recovery point objective: at most this much data is lost. For a tier, the default of
    /// the spec's `recovery.objectives` (`TierObjectives::default` equals it; the simulate tests
    /// hold them together), which is what the Schedule then promises.
    pub rpo_minutes: u32,
    /// Recovery time objective: restored within this long (the restore verification fails a
    /// restore slower than the promised one). For a tier, the default as for the RPO.
    pub rto_minutes: u32,
    /// Five-field cron in UTC; the longest gap between runs must not exceed the RPO.
    pub cron: &'static str,
    /// Retention of each backup.
    pub ttl_hours: u32,
    /// Severity of its failed/late alerts.
    pub severity: Severity,
    /// Day of the week (0 = Sunday) its weekly restore verification runs; `None`: no verification.
    pub verify_weekday: Option<u8>,
}

/// The schedule of each tier and of the platform configuration, with the tiers' default
/// promises. Minutes are staggered so the schedules do not start together.
///
/// | schedule | RPO | RTO | runs | kept |
/// |---|---|---|---|---|
/// | tier-critical | 1h | 1h | hourly | 7 days |
/// | tier-high | 4h | 4h | every 3h | 7 days |
/// | tier-standard | 24h | 8h | daily 01:30 | 14 days |
/// | tier-batch | 24h | 24h | daily 01:45 | 7 days |
/// | platform-config | 6h | 2h | every 6h | 30 days |
pub const POLICIES: &[BackupPolicy] = &[
    BackupPolicy {
        tier: Some(Tier::Critical),
        rpo_minutes: 60,
        rto_minutes: 60,
        cron: "5 * * * *",
        ttl_hours: 168,
        severity: Severity::Critical,
        verify_weekday: Some(1),
    },
    BackupPolicy {
        tier: Some(Tier::High),
        rpo_minutes: 240,
        rto_minutes: 240,
        cron: "15 */3 * * *",
        ttl_hours: 168,
        severity: Severity::Critical,
        verify_weekday: Some(2),
    },
    BackupPolicy {
        tier: Some(Tier::Standard),
        rpo_minutes: 1440,
        rto_minutes: 480,
        cron: "30 1 * * *",
        ttl_hours: 336,
        severity: Severity::Warning,
        verify_weekday: Some(3),
    },
    BackupPolicy {
        tier: Some(Tier::Batch),
        rpo_minutes: 1440,
        rto_minutes: 1440,
        cron: "45 1 * * *",
        ttl_hours: 168,
        severity: Severity::Warning,
        verify_weekday: Some(4),
    },
    BackupPolicy {
        tier: None,
        rpo_minutes: 360,
        rto_minutes: 120,
        cron: "50 */6 * * *",
        ttl_hours: 720,
        severity: Severity::Warning,
        verify_weekday: None,
    },
];

impl BackupPolicy {
    /// The Schedule's name: `tier-<tier>` or `platform-config`.
    pub fn schedule_name(&self) -> String {
        match self.tier {
            Some(t) => format!("tier-{}", t.as_str()),
            None => PLATFORM_CONFIG.to_string(),
        }
    }
}

/// The policy of a tier.
pub fn policy_for(tier: Tier) -> Option<&'static BackupPolicy> {
    POLICIES.iter().find(|p| p.tier == Some(tier))
}

/// A duration in minutes as Velero/Go prints one (`1h0m0s`, `30m0s`).
pub fn go_duration(minutes: u32) -> String {
    format!("{}h{}m0s", minutes / 60, minutes % 60)
}

/// A duration in minutes as PromQL writes a range (`4h`, `90m`).
fn prom_duration(minutes: u32) -> String {
    if minutes.is_multiple_of(60) { format!("{}h", minutes / 60) } else { format!("{minutes}m") }
}

/// The cron interval calculator lives in the model, where `cerverus simulate` reads it too.
pub use cerverus_model::cron::cron_interval_minutes;

/// One Schedule of an environment, as rendered.
#[derive(Debug, Clone)]
pub struct PlannedSchedule {
    pub policy: &'static BackupPolicy,
    /// What the schedule promises: the declared objective of its tier (`recovery.objectives`),
    /// the policy's own for `platform-config`. Its cron may not keep it: `cerverus simulate`
    /// judges that.
    pub rpo_minutes: u32,
    pub rto_minutes: u32,
    pub namespaces: Vec<String>,
    /// The tier's StatefulSets, whose claims the schedule selects by their selector labels.
    pub stateful: Vec<String>,
}

/// The environment's schedules: one per tier that has workloads, and `platform-config`.
pub fn schedules(env: &Env) -> Vec<PlannedSchedule> {
    let mut out = Vec::new();
    for policy in POLICIES {
        let Some(tier) = policy.tier else {
            out.push(PlannedSchedule {
                policy,
                rpo_minutes: policy.rpo_minutes,
                rto_minutes: policy.rto_minutes,
                namespaces: vec!["*".to_string()],
                stateful: Vec::new(),
            });
            continue;
        };
        let members: Vec<&Workload> = env.workloads.iter().filter(|w| w.spec.tier == tier).collect();
        if members.is_empty() {
            continue;
        }
        let namespaces: BTreeSet<String> = members.iter().map(|w| w.namespace().to_string()).collect();
        let stateful = members.iter().filter(|w| w.spec.storage.is_some()).map(|w| w.name().to_string()).collect();
        let objective = env.recovery.objectives.for_tier(tier);
        out.push(PlannedSchedule {
            policy,
            rpo_minutes: objective.rpo_minutes,
            rto_minutes: objective.rto_minutes,
            namespaces: namespaces.into_iter().collect(),
            stateful,
        });
    }
    out
}

pub(super) fn render(_platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let planned = schedules(env);
    for s in &planned {
        schedule(env, s, out)?;
    }
    restore_verification(env, &planned, out)?;
    network_policies(env, out)?;
    alerts(&planned, out)
}

fn velero_labels(component: &str) -> BTreeMap<String, String> {
    let mut l = labels::common("cerverus");
    l.insert("app.kubernetes.io/component".into(), component.into());
    l
}

fn schedule(env: &Env, s: &PlannedSchedule, out: &mut Objects) -> Result<(), RenderError> {
    let p = s.policy;
    let name = p.schedule_name();
    let template = match p.tier {
        Some(tier) => {
            let mut selectors = vec![LabelSelector {
                match_labels: BTreeMap::from([(TIER_LABEL.to_string(), tier.as_str().to_string())]),
            }];
            // A StatefulSet's claims carry its claim template's and selector's labels, not the
            // tier: select them by the selector labels, which every claim has.
            for name in &s.stateful {
                if let Some(w) = env.workload(name) {
                    selectors.push(LabelSelector { match_labels: labels::selector(w) });
                }
            }
            BackupSpec {
                included_namespaces: s.namespaces.clone(),
                or_label_selectors: selectors,
                include_cluster_resources: None,
                snapshot_volumes: true,
                volume_snapshot_locations: vec![SNAPSHOT_LOCATION.to_string()],
                ..base_template(p)
            }
        }
        None => BackupSpec {
            included_namespaces: s.namespaces.clone(),
            // Events are noise to restore; volumes belong to the tier schedules.
            excluded_resources: vec!["events".to_string(), "events.events.k8s.io".to_string()],
            include_cluster_resources: Some(true),
            snapshot_volumes: false,
            ..base_template(p)
        },
    };
    let mut annotations = BTreeMap::from([
        (RPO_ANNOTATION.to_string(), go_duration(s.rpo_minutes)),
        (RTO_ANNOTATION.to_string(), go_duration(s.rto_minutes)),
    ]);
    if let Some(t) = p.tier {
        annotations.insert("cerverus.io/tier".to_string(), t.as_str().to_string());
    }
    let obj = Resource {
        api_version: "velero.io/v1",
        kind: "Schedule",
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(VELERO_NAMESPACE.to_string()),
            labels: Some(velero_labels("backup-schedule")),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: ScheduleSpec {
            schedule: p.cron.to_string(),
            skip_immediately: false,
            use_owner_references_in_backup: false,
            template,
        },
    };
    out.add(Some(VELERO_NAMESPACE), "Schedule", &name, &obj)
}

fn base_template(p: &BackupPolicy) -> BackupSpec {
    BackupSpec {
        storage_location: STORAGE_LOCATION.to_string(),
        ttl: go_duration(p.ttl_hours * 60),
        default_volumes_to_fs_backup: false,
        ..Default::default()
    }
}

// ---- Restore verification ----

/// Image of the restore verification: kubectl with a POSIX shell (the Velero image has neither a
/// shell nor kubectl's waits). Pinned by digest; kubectl 1.35 matches the cluster's minor.
pub const RESTORE_VERIFY_IMAGE: &str =
    "docker.io/alpine/k8s:1.35.3@sha256:097aa60cbef561146757c7494468e9d7b04d843597ad1a1515ed09d0708c8014";
const VERIFY_NAME: &str = "restore-verify";
/// The ConfigMap of the verification restores' resource modifiers (see [`verify_modifiers`]).
pub const VERIFY_MODIFIERS: &str = "restore-verify-modifiers";
const VERIFY_LABEL: &str = "cerverus.io/restore-verify";
/// Where the Restore template is mounted.
const RESTORE_DIR: &str = "/etc/restore-verify";
/// A UID of no one: the image runs as root by default, restricted pods may not.
const VERIFY_UID: i64 = 65534;

/// The scratch namespace a tier's namespace is restored into.
pub fn scratch_namespace(tier: Tier, source: &str) -> String {
    format!("verify-{}-{source}", tier.as_str())
}

/// Resources a verification restores: the data (claims and their volumes) and the
/// configuration the tier's pods read — never Deployments or pods, which would start a second
/// copy of the application against the real databases and buckets.
const VERIFIED_RESOURCES: &[&str] = &["persistentvolumeclaims", "persistentvolumes", "configmaps"];

/// The verification script (POSIX sh, checked by shellcheck in `scripts/validate`): restore the
/// newest backup of the tier's schedule into scratch namespaces, fail if the restore does not
/// complete within the tier's RTO or a restored claim does not bind, then remove what it
/// restored. Each run first removes what a failed previous run left.
const VERIFY_SCRIPT: &str = r#"set -eu
cleanup() {
  for ns in $SCRATCH_NAMESPACES; do
    kubectl delete namespace "$ns" --ignore-not-found --wait=true --timeout=15m
  done
}
cleanup
kubectl -n velero delete restores.velero.io -l "cerverus.io/restore-verify=$TIER" --ignore-not-found --wait=true --timeout=15m
start=$(date +%s)
restore=$(kubectl create -f "$RESTORE_FILE" -o name)
echo "$restore: restoring the latest backup of schedule tier-$TIER into $SCRATCH_NAMESPACES"
phase=""
while :; do
  phase=$(kubectl -n velero get "$restore" -o jsonpath='{.status.phase}')
  case "$phase" in
    Completed|PartiallyFailed|Failed|FailedValidation) break ;;
  esac
  if [ $(( $(date +%s) - start )) -gt "$RTO_SECONDS" ]; then
    phase="still running at the RTO"
    break
  fi
  sleep 15
done
elapsed=$(( $(date +%s) - start ))
echo "$restore: $phase after ${elapsed}s (RTO ${RTO_SECONDS}s)"
status=0
if [ "$phase" != "Completed" ]; then
  kubectl -n velero get "$restore" -o jsonpath='{.status.errors} errors, {.status.warnings} warnings{"\n"}' || true
  status=1
fi
bound=0
if [ "$status" -eq 0 ]; then
  for ns in $SCRATCH_NAMESPACES; do
    if kubectl -n "$ns" get pvc -o name | grep -q .; then
      kubectl -n "$ns" wait pvc --all --for=jsonpath='{.status.phase}'=Bound --timeout=10m || status=1
    fi
    n=$(kubectl -n "$ns" get pvc -o jsonpath='{range .items[?(@.status.phase=="Bound")]}{.metadata.name}{"\n"}{end}' | grep -c . || true)
    bound=$((bound + n))
  done
  echo "$bound restored claims bound (at least $MIN_CLAIMS expected)"
  if [ "$bound" -lt "$MIN_CLAIMS" ]; then
    status=1
  fi
fi
cleanup
exit "$status"
"#;

/// The verification's volumes go when its scratch namespaces go. A restored PersistentVolume
/// keeps its class's reclaim policy, and a `Retain` class (`cerverus-io2`) would leave every
/// week's restored PV `Released` and its EBS volume (made from the snapshot) behind once the
/// scratch claims are deleted. Velero applies these patches to each restored object before
/// creating it, so the copies are `Delete` whatever the original's policy.
pub fn verify_modifiers() -> ResourceModifiers {
    ResourceModifiers {
        version: "v1",
        resource_modifier_rules: vec![ResourceModifierRule {
            conditions: ModifierConditions { group_resource: "persistentvolumes".into() },
            patches: vec![JsonPatch {
                operation: "replace",
                path: "/spec/persistentVolumeReclaimPolicy".into(),
                value: "Delete".into(),
            }],
        }],
    }
}

/// The claims a tier's restore must bring back at least: one per replica its StatefulSets
/// always run (autoscaled ones may have more claims from past scale-ups).
fn min_claims(env: &Env, s: &PlannedSchedule) -> u32 {
    s.stateful
        .iter()
        .filter_map(|n| env.workload(n))
        .filter(|w| w.spec.kind == WorkloadKind::StatefulSet)
        .map(|w| w.spec.autoscaling.as_ref().map_or(w.spec.replicas, |a| a.min))
        .sum()
}

fn restore_verification(env: &Env, planned: &[PlannedSchedule], out: &mut Objects) -> Result<(), RenderError> {
    let verified: Vec<(&PlannedSchedule, Tier, u8)> =
        planned.iter().filter_map(|s| Some((s, s.policy.tier?, s.policy.verify_weekday?))).collect();
    if verified.is_empty() {
        return Ok(());
    }
    let mut templates = BTreeMap::new();
    let mut scratch = BTreeSet::new();
    for (s, tier, _) in &verified {
        let mapping: BTreeMap<String, String> =
            s.namespaces.iter().map(|ns| (ns.clone(), scratch_namespace(*tier, ns))).collect();
        scratch.extend(mapping.values().cloned());
        let restore = Resource {
            api_version: "velero.io/v1",
            kind: "Restore",
            metadata: ObjectMeta {
                generate_name: Some(format!("verify-{}-", tier.as_str())),
                namespace: Some(VELERO_NAMESPACE.to_string()),
                labels: Some(BTreeMap::from([(VERIFY_LABEL.to_string(), tier.as_str().to_string())])),
                ..Default::default()
            },
            spec: RestoreSpec {
                schedule_name: s.policy.schedule_name(),
                included_namespaces: s.namespaces.clone(),
                included_resources: VERIFIED_RESOURCES.iter().map(|r| r.to_string()).collect(),
                namespace_mapping: mapping,
                restore_pvs: true,
                include_cluster_resources: None,
                resource_modifier: Some(ResourceModifierRef { kind: "configmap", name: VERIFY_MODIFIERS.into() }),
            },
        };
        let text =
            yaml::document(&restore).map_err(|e| RenderError::Yaml(format!("restore {tier:?}"), e.to_string()))?;
        templates.insert(format!("{}.yaml", tier.as_str()), text);
    }
    let meta = |name: &str, ns: Option<&str>| ObjectMeta {
        name: Some(name.to_string()),
        namespace: ns.map(str::to_string),
        labels: Some(velero_labels(VERIFY_NAME)),
        ..Default::default()
    };
    let ns = Some(VELERO_NAMESPACE);
    out.add(
        ns,
        "ConfigMap",
        VERIFY_NAME,
        &ConfigMap { metadata: meta(VERIFY_NAME, ns), data: Some(templates), ..Default::default() },
    )?;
    let modifiers = serde_saphyr::to_string(&verify_modifiers())
        .map_err(|e| RenderError::Yaml(VERIFY_MODIFIERS.to_string(), e.to_string()))?;
    out.add(
        ns,
        "ConfigMap",
        VERIFY_MODIFIERS,
        &ConfigMap {
            metadata: meta(VERIFY_MODIFIERS, ns),
            // Velero reads the rules from the ConfigMap's only data key.
            data: Some(BTreeMap::from([("modifiers.yaml".to_string(), modifiers)])),
            ..Default::default()
        },
    )?;
    out.add(
        ns,
        "ServiceAccount",
        VERIFY_NAME,
        &ServiceAccount { metadata: meta(VERIFY_NAME, ns), ..Default::default() },
    )?;
    rbac(&scratch, &meta, out)?;
    for (s, tier, weekday) in verified {
        let job = verify_cronjob(env, s, tier, weekday);
        let name = format!("{VERIFY_NAME}-{}", tier.as_str());
        let mut metadata = meta(&name, ns);
        // The same reason waives the token rule in the checker and in checkov.
        let reason = "the verification calls the Kubernetes API (creates a Restore, waits for it and for the restored claims, deletes the scratch namespaces) as ServiceAccount restore-verify, whose Role and ClusterRole hold only that";
        metadata.annotations = Some(BTreeMap::from([
            ("cerverus.io/skip".to_string(), format!("CV-K8S-013={reason}")),
            ("checkov.io/skip1".to_string(), format!("CKV_K8S_38={reason}")),
        ]));
        out.add(ns, "CronJob", &name, &CronJob { metadata, spec: Some(job), ..Default::default() })?;
    }
    Ok(())
}

/// Least privilege: Restores in Velero's namespace; reading claims (to see them bind); and
/// deleting exactly the scratch namespaces. Velero's server creates the scratch namespaces and
/// what it restores into them with its own rights.
fn rbac(
    scratch: &BTreeSet<String>,
    meta: &dyn Fn(&str, Option<&str>) -> ObjectMeta,
    out: &mut Objects,
) -> Result<(), RenderError> {
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str], names: Option<Vec<String>>| PolicyRule {
        api_groups: Some(groups.iter().map(|g| g.to_string()).collect()),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        resource_names: names,
        ..Default::default()
    };
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: VERIFY_NAME.into(),
        namespace: Some(VELERO_NAMESPACE.into()),
        ..Default::default()
    };
    let ns = Some(VELERO_NAMESPACE);
    let role = Role {
        metadata: meta(VERIFY_NAME, ns),
        rules: Some(vec![rule(&["velero.io"], &["restores"], &["create", "get", "list", "watch", "delete"], None)]),
    };
    out.add(ns, "Role", VERIFY_NAME, &role)?;
    let binding = RoleBinding {
        metadata: meta(VERIFY_NAME, ns),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: VERIFY_NAME.into(),
        },
        subjects: Some(vec![subject.clone()]),
    };
    out.add(ns, "RoleBinding", VERIFY_NAME, &binding)?;
    let cluster_name = format!("cerverus-{VERIFY_NAME}");
    let cluster_role = ClusterRole {
        metadata: meta(&cluster_name, None),
        rules: Some(vec![
            rule(&[""], &["namespaces"], &["get", "list", "watch", "delete"], Some(scratch.iter().cloned().collect())),
            rule(&[""], &["persistentvolumeclaims"], &["get", "list", "watch"], None),
        ]),
        ..Default::default()
    };
    out.add(None, "ClusterRole", &cluster_name, &cluster_role)?;
    let cluster_binding = ClusterRoleBinding {
        metadata: meta(&cluster_name, None),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: cluster_name.clone(),
        },
        subjects: Some(vec![subject]),
    };
    out.add(None, "ClusterRoleBinding", &cluster_name, &cluster_binding)
}

fn verify_cronjob(env: &Env, s: &PlannedSchedule, tier: Tier, weekday: u8) -> CronJobSpec {
    let rto_seconds = u64::from(s.rto_minutes) * 60;
    let scratch: Vec<String> = s.namespaces.iter().map(|ns| scratch_namespace(tier, ns)).collect();
    let env_var = |name: &str, value: String| EnvVar { name: name.into(), value: Some(value), ..Default::default() };
    let q = |s: &str| Quantity(s.to_string());
    let container = Container {
        name: "verify".into(),
        image: Some(RESTORE_VERIFY_IMAGE.into()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), VERIFY_SCRIPT.into()]),
        env: Some(vec![
            env_var("TIER", tier.as_str().to_string()),
            env_var("SCRATCH_NAMESPACES", scratch.join(" ")),
            env_var("RTO_SECONDS", rto_seconds.to_string()),
            env_var("MIN_CLAIMS", min_claims(env, s).to_string()),
            env_var("RESTORE_FILE", format!("{RESTORE_DIR}/{}.yaml", tier.as_str())),
            // kubectl keeps its discovery cache under $HOME; the root filesystem is read-only.
            env_var("HOME", "/tmp".into()),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".into(), q("50m")),
                ("memory".into(), q("64Mi")),
                ("ephemeral-storage".into(), q("64Mi")),
            ])),
            limits: Some(BTreeMap::from([
                ("cpu".into(), q("200m")),
                ("memory".into(), q("256Mi")),
                ("ephemeral-storage".into(), q("256Mi")),
            ])),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(VERIFY_UID),
            run_as_group: Some(VERIFY_UID),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "restore".into(),
                mount_path: RESTORE_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() },
        ]),
        ..Default::default()
    };
    let pod = PodSpec {
        service_account_name: Some(VERIFY_NAME.into()),
        automount_service_account_token: Some(true),
        restart_policy: Some("Never".into()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(VERIFY_UID),
            run_as_group: Some(VERIFY_UID),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
            ..Default::default()
        }),
        containers: vec![container],
        volumes: Some(vec![
            Volume {
                name: "restore".into(),
                config_map: Some(ConfigMapVolumeSource { name: VERIFY_NAME.into(), ..Default::default() }),
                ..Default::default()
            },
            Volume {
                name: "tmp".into(),
                empty_dir: Some(EmptyDirVolumeSource { size_limit: Some(q("128Mi")), ..Default::default() }),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    let mut pod_labels = velero_labels(VERIFY_NAME);
    pod_labels.insert(VERIFY_LABEL.into(), tier.as_str().into());
    CronJobSpec {
        // Weekly, after the night's daily backups.
        schedule: format!("0 5 * * {weekday}"),
        time_zone: Some("Etc/UTC".into()),
        concurrency_policy: Some("Forbid".into()),
        successful_jobs_history_limit: Some(1),
        failed_jobs_history_limit: Some(3),
        job_template: JobTemplateSpec {
            metadata: Some(ObjectMeta { labels: Some(pod_labels.clone()), ..Default::default() }),
            spec: Some(JobSpec {
                // A failed verification is a finding, not something to retry over it.
                backoff_limit: Some(0),
                // The RTO, plus cleanup time before and after.
                active_deadline_seconds: Some(i64::try_from(rto_seconds).unwrap_or(i64::MAX) + 3600),
                ttl_seconds_after_finished: Some(7 * 24 * 3600),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta { labels: Some(pod_labels), ..Default::default() }),
                    spec: Some(pod),
                },
                ..Default::default()
            }),
        },
        ..Default::default()
    }
}

// ---- Network policies of the velero namespace ----

/// Velero's server pods (the chart's labels).
const VELERO_POD: (&str, &str) = ("app.kubernetes.io/name", "velero");
/// The port of Velero's metrics (`http-monitoring`).
const VELERO_METRICS_PORT: i32 = 8085;

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort { port: Some(IntOrString::Int(port)), protocol: Some("TCP".into()), ..Default::default() }
}

fn block(cidr: String, except: Option<Vec<String>>) -> NetworkPolicyPeer {
    NetworkPolicyPeer { ip_block: Some(IPBlock { cidr, except }), ..Default::default() }
}

fn pods(pairs: &[(&str, &str)]) -> Selector {
    Selector {
        match_labels: Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    }
}

/// The namespace starts from deny. DNS for every pod; the verification reaches only the API
/// server (its endpoints in the private subnets and the `kubernetes` Service address); Velero's
/// server reaches the API server, STS (IRSA), S3 and EC2 — public AWS endpoints or interface
/// endpoints in the private subnets, on 443 — and Prometheus scrapes its metrics.
fn network_policies(env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let ns = Some(VELERO_NAMESPACE);
    let policy = |name: &str, selector: Selector, types: &[&str], ingress, egress| NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(VELERO_NAMESPACE.to_string()),
            labels: Some(velero_labels("network-policy")),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector),
            policy_types: Some(types.iter().map(|t| t.to_string()).collect()),
            ingress,
            egress,
        }),
    };
    let api_server: Vec<NetworkPolicyPeer> = env
        .network
        .tier(SubnetTier::Private)
        .map(|s| block(s.cidr.to_string(), None))
        .chain(std::iter::once(block(format!("{}/32", env.kubernetes_service_ip()), None)))
        .collect();
    let dns = NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(pods(&[("kubernetes.io/metadata.name", "kube-system")])),
            pod_selector: Some(pods(&[("k8s-app", "kube-dns")])),
            ..Default::default()
        }]),
        ports: Some(vec![
            NetworkPolicyPort { port: Some(IntOrString::Int(53)), protocol: Some("UDP".into()), ..Default::default() },
            tcp(53),
        ]),
    };
    out.add(
        ns,
        "NetworkPolicy",
        "default-deny",
        &policy("default-deny", Selector::default(), &["Ingress", "Egress"], None, None),
    )?;
    out.add(
        ns,
        "NetworkPolicy",
        "allow-dns",
        &policy("allow-dns", Selector::default(), &["Egress"], None, Some(vec![dns])),
    )?;
    let verify = policy(
        VERIFY_NAME,
        pods(&[("app.kubernetes.io/component", VERIFY_NAME)]),
        &["Egress"],
        None,
        Some(vec![NetworkPolicyEgressRule { to: Some(api_server.clone()), ports: Some(vec![tcp(443)]) }]),
    );
    out.add(ns, "NetworkPolicy", VERIFY_NAME, &verify)?;
    let private_ranges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].iter().map(|s| s.to_string()).collect();
    let mut aws = api_server;
    aws.push(block("0.0.0.0/0".into(), Some(private_ranges)));
    let server = policy(
        "velero-server",
        pods(&[VELERO_POD]),
        &["Ingress", "Egress"],
        Some(vec![NetworkPolicyIngressRule {
            from: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(pods(&[("kubernetes.io/metadata.name", MONITORING_NAMESPACE)])),
                pod_selector: Some(pods(&[PROMETHEUS_POD])),
                ..Default::default()
            }]),
            ports: Some(vec![tcp(VELERO_METRICS_PORT)]),
        }]),
        Some(vec![NetworkPolicyEgressRule { to: Some(aws), ports: Some(vec![tcp(443)]) }]),
    );
    out.add(ns, "NetworkPolicy", "velero-server", &server)
}

// ---- Alerts ----

/// Name of the PrometheusRule with the backup alerts.
pub const RULE_NAME: &str = "velero-backups";

/// Alerts per schedule: a failed, partially failed or invalid backup (Velero counts each in its
/// own counter, all labelled `schedule` and set to 0 for every Schedule it reconciles), and no
/// successful backup for 1.5 intervals (late, or Velero not reporting at all; Velero recomputes
/// `velero_backup_last_successful_timestamp` from the Backups it lists every minute, so a
/// restarted server reports it again). Plus failed restore verifications.
fn alerts(planned: &[PlannedSchedule], out: &mut Objects) -> Result<(), RenderError> {
    let mut rules = Vec::new();
    let mut tests = Vec::new();
    for s in planned {
        let p = s.policy;
        let name = p.schedule_name();
        // The calculator fails only on a cron outside its forms; POLICIES are held to them by
        // unit tests, so the RPO stands in rather than failing the render.
        let interval = cron_interval_minutes(p.cron).unwrap_or(s.rpo_minutes);
        let late_after = interval * 3 / 2;
        let sel = format!("schedule=\"{name}\"");
        let window = prom_duration(interval.max(60));
        let failed = alerting::alert(
            &format!("VeleroBackupFailed{}", camel(&name)),
            &format!(
                "increase(velero_backup_failure_total{{{sel}}}[{window}]) > 0 or increase(velero_backup_partial_failure_total{{{sel}}}[{window}]) > 0 or increase(velero_backup_validation_failure_total{{{sel}}}[{window}]) > 0"
            ),
            "",
            p.severity,
            TEAM,
            &AlertText {
                summary: &format!("Velero backup of schedule {name} failed"),
                description: &format!(
                    "A backup of {name} failed, partially failed or failed validation (e.g. its storage location unavailable) in the last {window}: its RPO of {} is at risk. `velero backup describe --details` on the newest backup of the schedule says why.",
                    go_duration(s.rpo_minutes)
                ),
                runbook: RUNBOOK,
            },
        );
        let late = alerting::alert(
            &format!("VeleroBackupLate{}", camel(&name)),
            &format!(
                "time() - velero_backup_last_successful_timestamp{{{sel}}} > {} or absent(velero_backup_last_successful_timestamp{{{sel}}})",
                late_after * 60
            ),
            "15m",
            p.severity,
            TEAM,
            &AlertText {
                summary: &format!("No successful Velero backup of {name} for {}", go_duration(late_after)),
                description: &format!(
                    "Schedule {name} runs `{}` and promises an RPO of {}; its last successful backup is older than {} (or Velero reports none).",
                    p.cron,
                    go_duration(s.rpo_minutes),
                    go_duration(late_after)
                ),
                runbook: RUNBOOK,
            },
        );
        tests.extend(backup_tests(&name, interval, late_after, &failed, &late));
        rules.push(failed);
        rules.push(late);
    }
    let verify = alerting::alert(
        "VeleroRestoreVerificationFailed",
        "kube_job_status_failed{namespace=\"velero\",job_name=~\"restore-verify-.*\"} > 0",
        "",
        Severity::Warning,
        TEAM,
        &AlertText {
            summary: "A weekly restore verification failed",
            description: "A restore of the latest backup of a tier into scratch namespaces did not complete within the tier's RTO, or its volumes did not bind: the backups may not be restorable. The Job's log says which.",
            runbook: RUNBOOK,
        },
    );
    tests.push(verify_tests(&verify));
    rules.push(verify);
    let groups = vec![RuleGroup { name: "velero-backups".into(), interval: None, rules }];
    // Cases span up to 61 hours (a daily schedule late by half a day): evaluated every 5 minutes,
    // which divides every `for:` and evaluation time here.
    alerting::add_rule_evaluated_every(
        out,
        VELERO_NAMESPACE,
        RULE_NAME,
        velero_labels("backup-alerts"),
        groups,
        tests,
        "5m",
    )
}

/// `tier-critical` → `TierCritical`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn exp(rule: &Rule, extra: &[(&str, &str)]) -> ExpAlert {
    let mut labels = rule.labels.clone();
    for (k, v) in extra {
        labels.insert((*k).to_string(), (*v).to_string());
    }
    ExpAlert { exp_labels: labels, exp_annotations: rule.annotations.clone() }
}

/// Fires: a failure counted; silent: the counter flat. Late fires: the last success stays at
/// the epoch; silent: it follows the clock.
fn backup_tests(schedule: &str, interval: u32, late_after: u32, failed: &Rule, late: &Rule) -> Vec<TestGroup> {
    let series = |metric: &str| format!("{metric}{{schedule=\"{schedule}\"}}");
    let failed_name = failed.alert.clone().unwrap_or_default();
    let late_name = late.alert.clone().unwrap_or_default();
    let span = interval + late_after + 60;
    vec![
        TestGroup::new(vec![
            InputSeries::new(series("velero_backup_failure_total"), "0x30 1x60"),
            InputSeries::new(series("velero_backup_partial_failure_total"), "0x90"),
            InputSeries::new(series("velero_backup_validation_failure_total"), "0x90"),
            InputSeries::new(series("velero_backup_last_successful_timestamp"), format!("0+60x{span}")),
        ])
        .expect("40m", &failed_name, vec![exp(failed, &[("schedule", schedule)])])
        .expect(&format!("{span}m"), &late_name, vec![]),
        TestGroup::new(vec![
            InputSeries::new(series("velero_backup_failure_total"), "0x90"),
            InputSeries::new(series("velero_backup_partial_failure_total"), "0x90"),
            InputSeries::new(series("velero_backup_validation_failure_total"), "0x90"),
            InputSeries::new(series("velero_backup_last_successful_timestamp"), format!("0x{span}")),
        ])
        .expect("40m", &failed_name, vec![])
        .expect(&format!("{span}m"), &late_name, vec![exp(late, &[("schedule", schedule)])]),
        // A backup refused at validation (storage location unavailable, bad spec) fails too.
        TestGroup::new(vec![
            InputSeries::new(series("velero_backup_failure_total"), "0x90"),
            InputSeries::new(series("velero_backup_partial_failure_total"), "0x90"),
            InputSeries::new(series("velero_backup_validation_failure_total"), "0x30 1x60"),
        ])
        .expect("40m", &failed_name, vec![exp(failed, &[("schedule", schedule)])]),
    ]
}

fn verify_tests(rule: &Rule) -> TestGroup {
    let name = rule.alert.clone().unwrap_or_default();
    TestGroup::new(vec![
        InputSeries::new(
            "kube_job_status_failed{namespace=\"velero\",job_name=\"restore-verify-high-29000000\"}",
            "0x10 1x10",
        ),
        InputSeries::new(
            "kube_job_status_failed{namespace=\"velero\",job_name=\"restore-verify-critical-29000000\"}",
            "0x20",
        ),
    ])
    .expect("5m", &name, vec![])
    .expect(
        "15m",
        &name,
        vec![exp(rule, &[("namespace", "velero"), ("job_name", "restore-verify-high-29000000")])],
    )
}

// ---- Application data ----

/// How a data store is recovered and what that gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRecovery {
    /// `postgres/<name>`, `redis/<name>`, `bucket/<name>`.
    pub store: String,
    pub mechanism: &'static str,
    /// Data lost at most, in minutes (0: none).
    pub rpo_minutes: u32,
    /// Time to serve again, in minutes.
    pub rto_minutes: u32,
    /// Whether a copy lives in the DR region.
    pub cross_region: bool,
}

/// What the Terraform gives each data store of `env` (`terraform/modules/database.rs`,
/// `storage.rs`):
/// - PostgreSQL: automated backups with point-in-time recovery — RDS ships transaction logs to
///   S3 every 5 minutes, so a restore to any second up to 5 minutes ago; a restore creates a new
///   instance (RTO 2h for a few hundred GiB). With `crossRegionBackups` the automated backups
///   are replicated to the DR region.
/// - Redis: a cache rebuilt from its sources; daily snapshots (7 kept) only shorten the warm-up.
/// - Buckets: versioned, so an overwrite or delete is undone from a noncurrent version (RPO 0);
///   `replicate` copies every object to the DR region (asynchronous, no time control: most
///   objects within 15 minutes).
pub fn application_data(env: &Env) -> Vec<DataRecovery> {
    let mut out = Vec::new();
    for p in &env.postgres {
        out.push(DataRecovery {
            store: format!("postgres/{}", p.name),
            mechanism: "RDS automated backups with point-in-time recovery",
            rpo_minutes: 5,
            rto_minutes: 120,
            cross_region: p.cross_region_backups,
        });
    }
    for r in &env.redis {
        out.push(DataRecovery {
            store: format!("redis/{}", r.name),
            mechanism: "cache: rebuilt from its sources; daily ElastiCache snapshots, 7 kept",
            rpo_minutes: 1440,
            rto_minutes: 30,
            cross_region: false,
        });
    }
    for b in &env.buckets {
        let backup = b.spec.class == DataClass::Backup;
        out.push(DataRecovery {
            store: format!("bucket/{}", b.bucket_name),
            mechanism: if backup {
                "Velero's backups: versioned, SSE-KMS; the recovery of the cluster itself"
            } else {
                "versioned: overwrites and deletes undone from noncurrent versions"
            },
            rpo_minutes: 0,
            rto_minutes: 60,
            cross_region: b.spec.replicate,
        });
    }
    out
}

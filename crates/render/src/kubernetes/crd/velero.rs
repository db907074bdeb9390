//! Velero custom resources (velero.io/v1): Schedule and Restore, limited to the fields the
//! platform sets. Field names follow the CRD schemas
//! (`/work/shared/schemas/crds/velero.io/schedule_v1.json`, `restore_v1.json`).

use std::collections::BTreeMap;

use serde::Serialize;

/// Schedule `spec`: a cron expression and the Backup every run creates.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// Cron expression (five fields, UTC: the Velero server's clock).
    pub schedule: String,
    /// `false`: the first backup is taken when the Schedule is created, not one interval later,
    /// so a new cluster is covered at once.
    pub skip_immediately: bool,
    /// `false`: backups outlive the Schedule (deleting a Schedule must not delete what it kept).
    pub use_owner_references_in_backup: bool,
    pub template: BackupSpec,
}

/// A Backup's `spec` (a Schedule's `template`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    pub included_namespaces: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excluded_resources: Vec<String>,
    /// Resources matching any of these selectors are backed up (Velero ORs them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub or_label_selectors: Vec<LabelSelector>,
    /// Cluster-scoped resources: `None` lets Velero take those the namespaced items need (the
    /// PersistentVolumes of backed-up claims); `Some(true)` takes all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_cluster_resources: Option<bool>,
    pub snapshot_volumes: bool,
    /// Never back pod volumes up through the node agent (file-system backup): volumes are
    /// snapshotted (see `addons::backup`).
    pub default_volumes_to_fs_backup: bool,
    pub storage_location: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volume_snapshot_locations: Vec<String>,
    /// How long the backup is kept (Go duration, e.g. `168h0m0s`).
    pub ttl: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
}

/// Restore `spec`: restore the newest completed backup of `scheduleName`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// Velero restores from the most recent successful backup of this Schedule.
    pub schedule_name: String,
    pub included_namespaces: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub included_resources: Vec<String>,
    /// Source namespace → namespace the restored objects land in.
    pub namespace_mapping: BTreeMap<String, String>,
    /// Create volumes from the backup's snapshots.
    #[serde(rename = "restorePVs")]
    pub restore_pvs: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_cluster_resources: Option<bool>,
    /// JSON patches applied to the restored objects before they are created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_modifier: Option<ResourceModifierRef>,
}

/// A Restore's `resourceModifier`: the ConfigMap in Velero's namespace holding the rules.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceModifierRef {
    /// `configmap`, the only kind Velero reads rules from.
    pub kind: &'static str,
    pub name: String,
}

/// The document Velero reads from a resource-modifier ConfigMap (its only data key).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceModifiers {
    /// `v1`.
    pub version: &'static str,
    pub resource_modifier_rules: Vec<ResourceModifierRule>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceModifierRule {
    pub conditions: ModifierConditions,
    pub patches: Vec<JsonPatch>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifierConditions {
    /// Resource (and group, if not core) the rule applies to, e.g. `persistentvolumes`.
    pub group_resource: String,
}

/// One RFC 6902 operation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonPatch {
    pub operation: &'static str,
    pub path: String,
    pub value: String,
}

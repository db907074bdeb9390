//! Helm values of the backup charts (see [`super::CHARTS`]): Velero 12.1.0 (Velero 1.18.1).
//!
//! Decisions, each with what it rests on:
//! - **Object store**: the environment's backups bucket (the spec bucket of class `backup`,
//!   `cerverus-backups-<env>`), prefix the cluster name, SSE-KMS with the storage module's key
//!   (`alias/<env>-s3`, the bucket's default key, on which the IRSA role has
//!   `kms:GenerateDataKey`/`kms:Decrypt`). The bucket is versioned and replicated to the DR
//!   region, so the backups survive the region.
//! - **Volumes**: native EBS snapshots through velero-plugin-for-aws (it handles volumes of the
//!   `ebs.csi.aws.com` driver since plugin 1.4). CSI snapshots (`features: EnableCSI`) would
//!   need the external snapshot-controller and the `snapshot.storage.k8s.io` CRDs, which EKS
//!   does not install and nothing here installs; the plugin needs neither. The PVs' StorageClasses
//!   encrypt with the account's default EBS key (`aws/ebs`), which EC2 lets every principal of
//!   the account use for snapshots and volumes made from them, so the role needs no KMS grant
//!   on it. Snapshots stay in the region: a regional disaster restores objects from the
//!   replicated bucket and volumes from the data stores' own copies, not from snapshots.
//! - **No node agent** (file-system backup): it runs privileged with hostPath mounts of the
//!   kubelet's pod directories, which would make `velero` a privileged namespace; snapshots
//!   cover every PV the platform has (all EBS).
//! - **Credentials**: IRSA (`<cluster>-velero-velero`, created by `terraform/env.rs` with the
//!   upstream plugin policy), no Secret.
//! - **CRD upgrade hook off** (`upgradeCRDs: false`): the chart ships its CRDs in `crds/`, which
//!   Argo CD applies on every sync, so they follow the chart version without the hook Job —
//!   a Job that copies a shell out of a kubectl image tagged after the cluster's version (not
//!   pinned) and runs the Velero binary as a shell script.
//! - **Schedules** are not chart values: they are typed Schedule objects with their RPO/RTO
//!   annotations in `kubernetes::backup` (the chart's `schedules` cannot carry annotations).

use cerverus_model::{Env, Platform};
use cerverus_spec::DataClass;
use serde_json::{Value, json};

use super::role;
use crate::kubernetes::backup::{SNAPSHOT_LOCATION, STORAGE_LOCATION, VELERO_NAMESPACE};

/// velero-plugin-for-aws for Velero 1.18.x: the plugin's 1.14 line is the one built against
/// Velero 1.18 (the plugin's compatibility table pairs plugin minor N+4 with Velero 1.N).
pub const AWS_PLUGIN_IMAGE: &str = "velero/velero-plugin-for-aws:v1.14.2";

/// The Velero server's ServiceAccount (the IRSA role is named after it).
pub const SERVICE_ACCOUNT: &str = "velero";

/// The UID Velero and its plugin run as: the images' users are named, not numeric, so a
/// restricted pod names one (files in both images are world-readable).
const VELERO_UID: i64 = 65532;

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    (name == "velero").then(|| velero(platform, env))
}

/// The environment's backups bucket (class `backup`), as Terraform names it.
pub fn backups_bucket(env: &Env) -> Option<String> {
    env.buckets.iter().find(|b| b.spec.class == DataClass::Backup).map(|b| b.bucket_name.clone())
}

/// The KMS key the storage module encrypts the buckets with (`alias/${var.name}-s3`, where the
/// environment root passes `name = var.environment`).
pub fn bucket_kms_alias(env: &Env) -> String {
    format!("alias/{}-s3", env.name)
}

fn container_security() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": VELERO_UID,
        "runAsGroup": VELERO_UID,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}
    })
}

fn velero(platform: &Platform, env: &Env) -> Value {
    let bucket = backups_bucket(env).unwrap_or_default();
    json!({
        "initContainers": [{
            "name": "velero-plugin-for-aws",
            "image": AWS_PLUGIN_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
            "securityContext": container_security(),
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"}
            }
        }],
        // fsGroup: the projected IRSA token is readable by the pod's group.
        "podSecurityContext": {
            "runAsNonRoot": true,
            "runAsUser": VELERO_UID,
            "runAsGroup": VELERO_UID,
            "fsGroup": VELERO_UID,
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "containerSecurityContext": container_security(),
        "priorityClassName": "system-cluster-critical",
        // Backups of a few hundred objects and EBS snapshot calls; restores are the peak.
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"}
        },
        "upgradeCRDs": false,
        "cleanUpCRDs": false,
        "deployNodeAgent": false,
        "backupsEnabled": true,
        "snapshotsEnabled": true,
        "credentials": {"useSecret": false},
        "serviceAccount": {"server": {
            "create": true,
            "name": SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role(platform, env, VELERO_NAMESPACE, SERVICE_ACCOUNT)}
        }},
        "configuration": {
            "backupStorageLocation": [{
                "name": STORAGE_LOCATION,
                "provider": "aws",
                "bucket": bucket,
                "prefix": env.cluster_name,
                "default": true,
                "accessMode": "ReadWrite",
                "config": {
                    "region": platform.region,
                    "kmsKeyId": bucket_kms_alias(env)
                }
            }],
            "volumeSnapshotLocation": [{
                "name": SNAPSHOT_LOCATION,
                "provider": "aws",
                "config": {"region": platform.region}
            }],
            "defaultBackupStorageLocation": STORAGE_LOCATION,
            "defaultVolumeSnapshotLocations": format!("aws:{SNAPSHOT_LOCATION}"),
            "logFormat": "json"
        },
        "metrics": {
            "enabled": true,
            "serviceMonitor": {"enabled": true}
        }
    })
}

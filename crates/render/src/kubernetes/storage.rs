//! StorageClasses: `cerverus-gp3` (default), `cerverus-io2` (databases), `cerverus-efs` (shared
//! files), `cerverus-s3` (Mountpoint for S3). Encrypted, bound where the pod lands; data that
//! outlives its claim (databases, shared files, S3) is retained. Only the EBS classes allow
//! volume expansion: the EBS CSI driver resizes volumes, while the EFS CSI driver has no
//! expansion (an EFS file system is elastic, capacity in a claim is ignored) and Mountpoint for
//! S3 has neither dynamic provisioning nor resize. A class that claims expansion its driver does
//! not implement leaves resized claims stuck in `Resizing` forever.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Objects, labels};
use crate::RenderError;

struct Class {
    name: &'static str,
    provisioner: &'static str,
    parameters: Vec<(&'static str, String)>,
    reclaim: &'static str,
    binding: &'static str,
    default: bool,
    purpose: &'static str,
}

/// Whether the CSI driver behind `provisioner` implements volume expansion
/// (`ControllerExpandVolume`): only the EBS driver among ours.
pub fn supports_expansion(provisioner: &str) -> bool {
    provisioner == "ebs.csi.aws.com"
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let mut classes = vec![
        Class {
            name: "cerverus-gp3",
            provisioner: "ebs.csi.aws.com",
            parameters: vec![("type", "gp3".into()), ("encrypted", "true".into()), ("fsType", "ext4".into())],
            reclaim: "Delete",
            binding: "WaitForFirstConsumer",
            default: true,
            purpose: "general purpose block storage (logs, caches, scratch that outlives a pod)",
        },
        Class {
            name: "cerverus-io2",
            provisioner: "ebs.csi.aws.com",
            parameters: vec![
                ("type", "io2".into()),
                ("iopsPerGB", "50".into()),
                ("allowAutoIOPSPerGBIncrease", "true".into()),
                ("encrypted", "true".into()),
                ("fsType", "ext4".into()),
            ],
            reclaim: "Retain",
            binding: "WaitForFirstConsumer",
            default: false,
            purpose: "high-IOPS block storage for databases; volumes are retained when their claim goes",
        },
        Class {
            name: "cerverus-s3",
            provisioner: "s3.csi.aws.com",
            parameters: vec![],
            reclaim: "Retain",
            binding: "Immediate",
            default: false,
            purpose: "S3 buckets mounted with Mountpoint (statically provisioned PersistentVolumes; the bucket is the data)",
        },
    ];
    if let Some(fs) = &env.efs_file_system_id {
        classes.push(Class {
            name: "cerverus-efs",
            provisioner: "efs.csi.aws.com",
            parameters: vec![
                ("provisioningMode", "efs-ap".into()),
                ("fileSystemId", fs.clone()),
                ("directoryPerms", "700".into()),
                ("basePath", "/cerverus".into()),
                ("ensureUniqueDirectory", "true".into()),
            ],
            reclaim: "Retain",
            binding: "Immediate",
            default: false,
            purpose: "shared files across pods and zones (EFS access points; encrypted at rest by the file system, in transit by the driver)",
        });
    }
    for c in classes {
        let mut annotations = BTreeMap::from([("cerverus.io/purpose".to_string(), c.purpose.to_string())]);
        if c.default {
            annotations.insert("storageclass.kubernetes.io/is-default-class".into(), "true".into());
        }
        let sc = StorageClass {
            metadata: ObjectMeta {
                name: Some(c.name.to_string()),
                labels: Some(labels::common(&platform.name)),
                annotations: Some(annotations),
                ..Default::default()
            },
            provisioner: c.provisioner.to_string(),
            parameters: (!c.parameters.is_empty())
                .then(|| c.parameters.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
            reclaim_policy: Some(c.reclaim.to_string()),
            volume_binding_mode: Some(c.binding.to_string()),
            allow_volume_expansion: supports_expansion(c.provisioner).then_some(true),
            mount_options: (c.provisioner == "efs.csi.aws.com").then(|| vec!["tls".to_string()]),
            ..Default::default()
        };
        out.add(None, "StorageClass", c.name, &sc)?;
    }
    Ok(())
}

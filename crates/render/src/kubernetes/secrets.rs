//! External Secrets: one ClusterSecretStore on AWS Secrets Manager (authenticated with the
//! External Secrets controller's IRSA role) and one ExternalSecret per secret a namespace's
//! workloads read. No secret value is ever in the bundle; the refresh interval carries rotations
//! into the cluster.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::crd::{
    AwsAuth, AwsJwtAuth, AwsProvider, ExternalSecretData, ExternalSecretSpec, ExternalSecretTarget, RemoteRef,
    Resource, SecretStoreProvider, SecretStoreSpec, ServiceAccountRef, StoreRef,
};
use super::{Objects, labels};
use crate::RenderError;

pub const STORE: &str = "aws-secrets-manager";
pub const ESO_NAMESPACE: &str = "external-secrets";
pub const ESO_ACCOUNT: &str = "external-secrets";

/// How often a secret is re-read: rotated secrets quickly, static ones hourly.
fn refresh(s: &Secret) -> &'static str {
    if s.rotation_days.is_some() { "15m" } else { "1h" }
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let store = Resource {
        api_version: "external-secrets.io/v1",
        kind: "ClusterSecretStore",
        metadata: ObjectMeta {
            name: Some(STORE.into()),
            labels: Some(labels::common(&platform.name)),
            ..Default::default()
        },
        spec: SecretStoreSpec {
            provider: SecretStoreProvider {
                aws: AwsProvider {
                    service: "SecretsManager",
                    region: platform.region.clone(),
                    auth: AwsAuth {
                        jwt: AwsJwtAuth {
                            service_account_ref: ServiceAccountRef {
                                name: ESO_ACCOUNT.into(),
                                namespace: ESO_NAMESPACE.into(),
                            },
                        },
                    },
                },
            },
        },
    };
    out.add(None, "ClusterSecretStore", STORE, &store)?;

    let mut per_ns: BTreeMap<(String, String), Secret> = BTreeMap::new();
    for w in &env.workloads {
        for s in &w.secrets {
            let e = per_ns.entry((w.namespace().to_string(), s.name.clone())).or_insert_with(|| s.clone());
            for k in &s.keys {
                if !e.keys.contains(k) {
                    e.keys.push(k.clone());
                }
            }
            e.rotation_days = e.rotation_days.or(s.rotation_days);
        }
    }
    for ((ns, name), s) in per_ns {
        let es = Resource {
            api_version: "external-secrets.io/v1",
            kind: "ExternalSecret",
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                labels: Some(labels::common(&platform.name)),
                ..Default::default()
            },
            spec: ExternalSecretSpec {
                refresh_interval: refresh(&s).into(),
                secret_store_ref: StoreRef { name: STORE.into(), kind: "ClusterSecretStore" },
                target: ExternalSecretTarget {
                    name: name.clone(),
                    creation_policy: "Owner",
                    deletion_policy: "Retain",
                },
                data: s
                    .keys
                    .iter()
                    .map(|k| ExternalSecretData {
                        secret_key: k.clone(),
                        remote_ref: RemoteRef { key: s.aws_name.clone(), property: k.clone() },
                    })
                    .collect(),
            },
        };
        out.add(Some(&ns), "ExternalSecret", &name, &es)?;
    }
    Ok(())
}

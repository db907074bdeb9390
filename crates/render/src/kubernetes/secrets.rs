//! External Secrets: one ClusterSecretStore on AWS Secrets Manager (authenticated with the
//! External Secrets controller's IRSA role) and one ExternalSecret per secret a namespace's
//! workloads read. No secret value is ever in the bundle; the refresh interval carries rotations
//! into the cluster.

use std::collections::BTreeMap;

use cerverus_model::runtime::redis_keys;
use cerverus_model::{Env, Platform, RedisConnection, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

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
        // A rotated PostgreSQL credential's URL is assembled from the rotation function's JSON
        // fields: `certificates::rotation` renders its ExternalSecret.
        if super::certificates::rotation::is_database_credential(env, &name) {
            continue;
        }
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
    render_redis(platform, env, out)
}

/// One ExternalSecret per namespace and Redis store its workloads use. ElastiCache enforces TLS
/// and AUTH, so a client needs the endpoint and the token; External Secrets reads both from
/// Secrets Manager and assembles them into the forms programs read (a `rediss://` URL, and
/// the parts), refreshed every 15 minutes so a rotated token arrives without a redeploy.
fn render_redis(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let mut per_ns: BTreeMap<(String, String), RedisConnection> = BTreeMap::new();
    for w in &env.workloads {
        for r in env.redis_connections(&platform.name, w) {
            per_ns.entry((w.namespace().to_string(), r.secret_name.clone())).or_insert(r);
        }
    }
    for ((ns, name), r) in per_ns {
        let remote = |secret_key: &str, key: &str, property: Option<&str>| TemplatedData {
            secret_key: secret_key.to_string(),
            remote_ref: OptionalPropertyRef { key: key.to_string(), property: property.map(str::to_string) },
        };
        let es = Resource {
            api_version: "external-secrets.io/v1",
            kind: "ExternalSecret",
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                labels: Some(labels::common(&platform.name)),
                ..Default::default()
            },
            spec: TemplatedExternalSecretSpec {
                refresh_interval: "15m",
                secret_store_ref: StoreRef { name: STORE.into(), kind: "ClusterSecretStore" },
                target: TemplatedTarget {
                    name: name.clone(),
                    creation_policy: "Owner",
                    deletion_policy: "Retain",
                    template: Template {
                        engine_version: "v2",
                        data: BTreeMap::from([
                            (
                                redis_keys::URL.to_string(),
                                // The token is alphanumeric today; urlquery keeps the URL valid
                                // whatever a rotation generates.
                                "rediss://:{{ .token | urlquery }}@{{ .host }}:{{ .port }}/0?ssl_cert_reqs=required"
                                    .to_string(),
                            ),
                            (redis_keys::HOST.to_string(), "{{ .host }}".to_string()),
                            (redis_keys::PORT.to_string(), "{{ .port }}".to_string()),
                            (redis_keys::TOKEN.to_string(), "{{ .token }}".to_string()),
                        ]),
                    },
                },
                data: vec![
                    // The cache module stores the token as a plain string: no property.
                    remote("token", &r.auth_token_aws_name, None),
                    remote("host", &r.endpoint_aws_name, Some("host")),
                    remote("port", &r.endpoint_aws_name, Some("port")),
                ],
            },
        };
        out.add(Some(&ns), "ExternalSecret", &name, &es)?;
    }
    Ok(())
}

/// An ExternalSecret whose target is rendered from a template (external-secrets.io/v1).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplatedExternalSecretSpec {
    refresh_interval: &'static str,
    secret_store_ref: StoreRef,
    target: TemplatedTarget,
    data: Vec<TemplatedData>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplatedTarget {
    name: String,
    creation_policy: &'static str,
    deletion_policy: &'static str,
    template: Template,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Template {
    engine_version: &'static str,
    data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplatedData {
    secret_key: String,
    remote_ref: OptionalPropertyRef,
}

/// A remote reference whose property is optional: a plain-string secret has none.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct OptionalPropertyRef {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    property: Option<String>,
}

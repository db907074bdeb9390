//! External Secrets Operator custom resources (external-secrets.io/v1) whose target Secret is
//! rendered from a template: the connection strings assembled from the JSON fields a rotation
//! function writes. Field names follow the CRD schema
//! (`/work/shared/schemas/crds/external-secrets.io/externalsecret_v1.json`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::StoreRef;

/// ExternalSecret `spec` with a templated target.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplatedExternalSecretSpec {
    pub refresh_interval: String,
    pub secret_store_ref: StoreRef,
    pub target: TemplatedTarget,
    pub data: Vec<PropertyData>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplatedTarget {
    pub name: String,
    pub creation_policy: &'static str,
    pub deletion_policy: &'static str,
    pub template: Template,
}

/// `engineVersion: v2` (Go templates with Sprig); the Secret holds exactly the keys of `data`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub engine_version: &'static str,
    pub data: BTreeMap<String, String>,
}

/// One field of a JSON secret, available to the template as `{{ .<secret_key> }}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyData {
    pub secret_key: String,
    pub remote_ref: PropertyRef,
}

#[derive(Debug, Clone, Serialize)]
pub struct PropertyRef {
    pub key: String,
    pub property: String,
}

//! Typed structs for the custom resources the platform renders, limited to the fields it uses.
//! Field names follow each CRD's OpenAPI schema (camelCase); tests validate the rendered objects
//! against the CRD JSON Schemas when `../shared/schemas/crds` is present.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

pub mod argocd;
pub mod cert_manager;
pub mod chaos;
pub mod external_secrets;
pub mod gatekeeper;
pub mod istio;
pub mod monitoring;
pub mod rollouts;
pub mod velero;

/// Any custom resource: `apiVersion`, `kind`, metadata and a typed spec.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource<S: Serialize> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: S,
}

// ---- External Secrets Operator (external-secrets.io/v1) ----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreSpec {
    pub provider: SecretStoreProvider,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreProvider {
    pub aws: AwsProvider,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsProvider {
    pub service: &'static str,
    pub region: String,
    pub auth: AwsAuth,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuth {
    pub jwt: AwsJwtAuth,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsJwtAuth {
    pub service_account_ref: ServiceAccountRef,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountRef {
    pub name: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSpec {
    pub refresh_interval: String,
    pub secret_store_ref: StoreRef,
    pub target: ExternalSecretTarget,
    pub data: Vec<ExternalSecretData>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreRef {
    pub name: String,
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTarget {
    pub name: String,
    pub creation_policy: &'static str,
    pub deletion_policy: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretData {
    pub secret_key: String,
    pub remote_ref: RemoteRef,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteRef {
    pub key: String,
    pub property: String,
}

// ---- KEDA (keda.sh/v1alpha1) ----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectSpec {
    pub scale_target_ref: ScaleTargetRef,
    pub min_replica_count: i32,
    pub max_replica_count: i32,
    pub polling_interval: i32,
    pub cooldown_period: i32,
    pub advanced: ScaledObjectAdvanced,
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectAdvanced {
    pub horizontal_pod_autoscaler_config: HpaConfig,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaConfig {
    pub behavior: k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerBehavior,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    #[serde(rename = "type")]
    pub type_: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_type: Option<&'static str>,
    pub metadata: BTreeMap<String, String>,
    /// The TriggerAuthentication (same namespace) the scaler takes credentials from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_ref: Option<AuthenticationRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthenticationRef {
    pub name: String,
}

/// keda.sh/v1alpha1 TriggerAuthentication: scaler parameters read from a Secret.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerAuthenticationSpec {
    pub secret_target_ref: Vec<SecretTargetRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretTargetRef {
    /// The scaler's parameter (`host`, `port`, `password` for Redis).
    pub parameter: &'static str,
    pub name: String,
    pub key: &'static str,
}

// ---- Vertical Pod Autoscaler (autoscaling.k8s.io/v1) ----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpaSpec {
    pub target_ref: VpaTargetRef,
    pub update_policy: VpaUpdatePolicy,
    pub resource_policy: VpaResourcePolicy,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpaTargetRef {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpaUpdatePolicy {
    pub update_mode: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpaResourcePolicy {
    pub container_policies: Vec<VpaContainerPolicy>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpaContainerPolicy {
    pub container_name: String,
    pub controlled_resources: Vec<&'static str>,
    pub min_allowed: BTreeMap<String, String>,
    pub max_allowed: BTreeMap<String, String>,
}

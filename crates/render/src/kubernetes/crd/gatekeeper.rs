//! Gatekeeper custom resources: `templates.gatekeeper.sh/v1` ConstraintTemplate, the constraints
//! it defines (`constraints.gatekeeper.sh/v1beta1`, kind from the template), and
//! `config.gatekeeper.sh/v1alpha1` Config (what Gatekeeper replicates into `data.inventory`
//! and which namespaces it ignores).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

/// `spec` of a ConstraintTemplate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintTemplateSpec {
    pub crd: TemplateCrd,
    pub targets: Vec<TemplateTarget>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateCrd {
    pub spec: TemplateCrdSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateCrdSpec {
    pub names: TemplateNames,
    pub validation: TemplateValidation,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateNames {
    /// The constraint kind this template defines.
    pub kind: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateValidation {
    /// Structural schema of the constraint's `spec.parameters` (the API server validates every
    /// constraint against it).
    #[serde(rename = "openAPIV3Schema")]
    pub open_api_v3_schema: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateTarget {
    /// Always `admission.k8s.gatekeeper.sh`.
    pub target: &'static str,
    /// Rego (v0 syntax) with `violation[{"msg": msg}]` rules.
    pub rego: String,
    /// Rego modules under `package lib.…` the template imports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub libs: Vec<String>,
}

/// `spec` of a constraint of any template's kind.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintSpec {
    /// `deny` (reject at admission and report in audit), `warn` or `dryrun`.
    pub enforcement_action: &'static str,
    #[serde(rename = "match")]
    pub match_: ConstraintMatch,
    pub parameters: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintMatch {
    pub kinds: Vec<MatchKinds>,
    /// Only these namespaces (the application namespaces).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchKinds {
    pub api_groups: Vec<&'static str>,
    pub kinds: Vec<&'static str>,
}

/// A Gatekeeper Config (must be named `config` in Gatekeeper's namespace to be read).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: ConfigSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSpec {
    #[serde(rename = "match")]
    pub match_: Vec<ConfigMatch>,
    pub sync: ConfigSync,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMatch {
    pub excluded_namespaces: Vec<String>,
    /// `*`, `audit`, `webhook`, `sync`, `mutation-webhook`.
    pub processes: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSync {
    pub sync_only: Vec<SyncKind>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncKind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
}

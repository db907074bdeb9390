//! Argo Rollouts (`argoproj.io/v1alpha1`): Rollout and AnalysisTemplate, limited to the fields
//! the platform renders. Field names follow the CRDs' OpenAPI schemas
//! (`../shared/schemas/crds/argoproj.io/{rollout,analysistemplate}_v1alpha1.json`).

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

pub const API_VERSION: &str = "argoproj.io/v1alpha1";

/// `Rollout.spec`: a Deployment's fields plus the update strategy Argo Rollouts carries out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Left out when an autoscaler owns the count (as on the Deployment it replaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    pub revision_history_limit: i32,
    pub progress_deadline_seconds: i32,
    /// Abort (and so roll back traffic) when the new version does not become available in time,
    /// rather than only marking the rollout degraded.
    pub progress_deadline_abort: bool,
    pub selector: LabelSelector,
    pub template: PodTemplateSpec,
    pub strategy: RolloutStrategy,
}

/// Exactly one of `canary` and `blueGreen`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    pub max_surge: IntOrString,
    pub max_unavailable: IntOrString,
    /// Scale the stable ReplicaSet down as the canary takes weight (total pods stay near the
    /// replica count instead of doubling at the last step).
    pub dynamic_stable_scale: bool,
    pub traffic_routing: TrafficRouting,
    pub steps: Vec<CanaryStep>,
    /// Background analysis over the whole canary, from `startingStep` on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysis>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrafficRouting {
    pub istio: IstioTrafficRouting,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioTrafficRouting {
    pub virtual_service: IstioVirtualService,
    pub destination_rule: IstioDestinationRule,
}

#[derive(Debug, Clone, Serialize)]
pub struct IstioVirtualService {
    pub name: String,
    /// HTTP routes (by name) whose weights the controller sets.
    pub routes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioDestinationRule {
    pub name: String,
    pub canary_subset_name: String,
    pub stable_subset_name: String,
}

/// One canary step: exactly one field set.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<RolloutPause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysis>,
}

/// A pause; without `duration` it waits for a person to promote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RolloutPause {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    pub templates: Vec<AnalysisTemplateRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisRunArgument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_step: Option<i32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    pub template_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnalysisRunArgument {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    /// The Service production traffic reaches; the controller points its selector at the
    /// active ReplicaSet (`rollouts-pod-template-hash`).
    pub active_service: String,
    /// The Service the new version answers on before promotion.
    pub preview_service: String,
    pub auto_promotion_enabled: bool,
    /// Seconds after the preview is ready before an automatic promotion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<i32>,
    /// Seconds the old ReplicaSet keeps running after the switch, so clients and proxies that
    /// still hold its endpoints drain (and a rollback is instant within that window).
    pub scale_down_delay_seconds: i32,
    pub abort_scale_down_delay_seconds: i32,
    pub pre_promotion_analysis: RolloutAnalysis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<RolloutAnalysis>,
}

/// `AnalysisTemplate.spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisArgument>,
    pub metrics: Vec<AnalysisMetric>,
}

/// A template argument, with a default when `value` is set.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisArgument {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisMetric {
    pub name: String,
    /// Time between measurements.
    pub interval: String,
    /// Wait before the first measurement, so the rate window covers the new version only.
    pub initial_delay: String,
    /// Measurements taken (an inline step finishes after them).
    pub count: i32,
    /// The run fails when more measurements than this fail.
    pub failure_limit: i32,
    /// The run is inconclusive (the rollout pauses for a person) when more than this are.
    pub inconclusive_limit: i32,
    pub consecutive_error_limit: i32,
    pub success_condition: String,
    pub failure_condition: String,
    pub provider: MetricProvider,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricProvider {
    pub prometheus: PrometheusMetric,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrometheusMetric {
    pub address: String,
    pub query: String,
    /// Seconds the query may take.
    pub timeout: i64,
}

//! Progressive delivery (issue 9): Argo Rollouts for workloads whose spec says `rollout: canary`
//! or `rollout: blueGreen`, their AnalysisTemplates on Prometheus, the blue-green preview
//! Service, and the feature-flag ConfigMaps workloads read as a mounted file.
//!
//! A canary/blue-green workload gets a `Rollout` *instead of* a Deployment, built from the very
//! Deployment `workloads.rs` renders (metadata, selector, replicas, pod template), so the pods
//! are the same hardened pods and every checker rule judges them alike. Services, the
//! PodDisruptionBudget and NetworkPolicies select the pods by the same labels; HPA, KEDA and
//! VPA target the Rollout through its scale subresource (`autoscaling.rs`).
//!
//! The analysis measures what users see, from Istio's own metrics (reported by the server-side
//! sidecar, `reporter="destination"`): success rate (non-5xx over all requests) and p95 latency,
//! against the workload's declared SLO. A measurement fails when the value misses the SLO;
//! "no traffic" (an empty result, NaN from 0/0) is neither success nor failure but
//! *inconclusive*: more than `INCONCLUSIVE_LIMIT` of those pause the rollout for a person —
//! no evidence is not good evidence. Failed measurements beyond `FAILURE_LIMIT` fail the run,
//! which aborts the Rollout: traffic goes back to the stable subset (canary) or the active
//! Service stays on / returns to the old ReplicaSet (blue-green).

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform, Workload};
use cerverus_spec::{RolloutStrategy as Strategy, WorkloadKind};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::crd::Resource;
use super::crd::rollouts::{
    API_VERSION, AnalysisMetric, AnalysisTemplateRef, AnalysisTemplateSpec, BlueGreenStrategy, CanaryStep,
    CanaryStrategy, IstioDestinationRule, IstioTrafficRouting, IstioVirtualService, MetricProvider, PrometheusMetric,
    RolloutAnalysis, RolloutPause, RolloutSpec, RolloutStrategy, TrafficRouting,
};
use super::{Objects, labels};
use crate::RenderError;

/// DestinationRule subsets Argo Rollouts' Istio traffic routing moves weight between (a canary
/// Rollout names them in `trafficRouting.istio.destinationRule`; `mesh.rs` renders them).
pub const STABLE_SUBSET: &str = "stable";
pub const CANARY_SUBSET: &str = "canary";
/// The VirtualService HTTP route a canary Rollout adjusts (`trafficRouting.istio.virtualService.routes`).
pub const PRIMARY_ROUTE: &str = "primary";

/// Service that a blue-green Rollout's preview ReplicaSet answers on.
pub fn preview_service_name(workload: &str) -> String {
    format!("{workload}-preview")
}

/// Namespace (and Helm release) of the Argo Rollouts controller, which runs the analyses: the
/// monitoring namespace's NetworkPolicy lets it query Prometheus.
pub const CONTROLLER_NAMESPACE: &str = "argo-rollouts";

/// Success-rate objective when a workload declares no SLO: 99 % of requests not 5xx.
const DEFAULT_AVAILABILITY_PERCENT: f64 = 99.0;
/// Time between two measurements of one analysis metric.
const INTERVAL: &str = "1m";
/// Measurements per analysis run (an inline canary step and a blue-green analysis end after them).
const COUNT: i32 = 5;
/// A run fails when more than this many measurements miss the SLO.
const FAILURE_LIMIT: i32 = 1;
/// A run is inconclusive (the Rollout pauses for a person) when more than this many
/// measurements saw no traffic.
const INCONCLUSIVE_LIMIT: i32 = 2;
/// Query errors (Prometheus unreachable) in a row that fail the run.
const CONSECUTIVE_ERROR_LIMIT: i32 = 3;
/// The rate window of every query: two scrapes at 30 s and room for one missed scrape.
const RATE_WINDOW: &str = "2m";

/// Where the feature-flag file is mounted, and its key in the ConfigMap.
pub const FEATURE_FLAGS_DIR: &str = "/etc/cerverus/feature-flags";
pub const FEATURE_FLAGS_KEY: &str = "flags.json";
/// The variable that tells the program where its feature-flag file is.
pub const FEATURE_FLAGS_ENV: &str = "FEATURE_FLAGS_FILE";

/// Whether Argo Rollouts (rather than a Deployment) runs `w`'s pods.
pub fn uses_rollout(w: &Workload) -> bool {
    w.spec.kind == WorkloadKind::Deployment && w.spec.rollout != Strategy::Rolling
}

/// `(apiVersion, kind)` of the object that owns `w`'s replicas, for scale targets.
pub fn scale_target(w: &Workload) -> Option<(&'static str, &'static str)> {
    uses_rollout(w).then_some((API_VERSION, "Rollout"))
}

/// The AnalysisTemplate of `w`: its SLO as Istio success-rate and p95-latency metrics.
pub fn analysis_template_name(w: &Workload) -> String {
    format!("{}-slo", w.name())
}

/// The ConfigMap holding `w`'s feature flags, when it declares any.
pub fn feature_flags_config_map_name(w: &Workload) -> Option<String> {
    (!w.spec.feature_flags.is_empty()).then(|| format!("{}-feature-flags", w.name()))
}

pub(super) fn render(_platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    for w in &env.workloads {
        let ns = w.namespace();
        if let Some(name) = feature_flags_config_map_name(w) {
            out.add(Some(ns), "ConfigMap", &name, &feature_flags(w, &name)?)?;
        }
        for t in analysis_templates(w) {
            let name = t.metadata.name.clone().unwrap_or_default();
            out.add(Some(ns), "AnalysisTemplate", &name, &t)?;
        }
    }
    Ok(())
}

/// The flags as one JSON object (sorted: the map is ordered), so a program reads them with any
/// JSON parser and a change is one line of diff.
fn feature_flags(w: &Workload, name: &str) -> Result<ConfigMap, RenderError> {
    let json = serde_json::to_string_pretty(&w.spec.feature_flags)
        .map_err(|e| RenderError::Yaml(format!("{}/configmap-{name}", w.namespace()), e.to_string()))?;
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(w.namespace().to_string()),
            labels: Some(labels::workload(w)),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(FEATURE_FLAGS_KEY.to_string(), json)])),
        ..Default::default()
    })
}

/// The Rollout that replaces `deployment` (what `workloads.rs` renders for `w`): same metadata,
/// selector, replicas and pod template, with the strategy the spec names.
pub(super) fn rollout(env: &Env, w: &Workload, deployment: Deployment) -> Resource<RolloutSpec> {
    let spec = deployment.spec.unwrap_or_default();
    let strategy = match w.spec.rollout {
        Strategy::BlueGreen => RolloutStrategy { blue_green: Some(blue_green(env, w)), ..Default::default() },
        Strategy::Canary | Strategy::Rolling => RolloutStrategy { canary: Some(canary(w)), ..Default::default() },
    };
    Resource {
        api_version: API_VERSION,
        kind: "Rollout",
        metadata: deployment.metadata,
        spec: RolloutSpec {
            replicas: spec.replicas,
            revision_history_limit: spec.revision_history_limit.unwrap_or(5),
            progress_deadline_seconds: spec.progress_deadline_seconds.unwrap_or(600),
            progress_deadline_abort: true,
            selector: spec.selector,
            template: spec.template,
            strategy,
        },
    }
}

fn analysis(w: &Workload) -> RolloutAnalysis {
    RolloutAnalysis {
        templates: vec![AnalysisTemplateRef { template_name: analysis_template_name(w) }],
        ..Default::default()
    }
}

/// Canary through Istio: the controller sets the weights of the `primary` route of the
/// workload's VirtualService between the DestinationRule's `stable` and `canary` subsets.
/// `dynamicStableScale` shrinks the stable ReplicaSet as the canary takes weight, so a rollout
/// at the autoscaler's ceiling needs the surge the capacity model counts (25 %), not a full
/// second set — hence weight steps of at most 25 %, the last at 75 % (promotion scales the
/// canary to 100 % while stable still runs 25 %). An analysis gates the step after 10 % and the
/// one after 50 %.
fn canary(w: &Workload) -> CanaryStrategy {
    let weight = |w: i32| CanaryStep { set_weight: Some(w), ..Default::default() };
    let pause =
        |d: &str| CanaryStep { pause: Some(RolloutPause { duration: Some(d.to_string()) }), ..Default::default() };
    let gate = || CanaryStep { analysis: Some(analysis(w)), ..Default::default() };
    CanaryStrategy {
        max_surge: IntOrString::String("25%".into()),
        max_unavailable: IntOrString::Int(0),
        dynamic_stable_scale: true,
        traffic_routing: TrafficRouting {
            istio: IstioTrafficRouting {
                virtual_service: IstioVirtualService {
                    name: w.name().to_string(),
                    routes: vec![PRIMARY_ROUTE.to_string()],
                },
                destination_rule: IstioDestinationRule {
                    name: w.name().to_string(),
                    canary_subset_name: CANARY_SUBSET.to_string(),
                    stable_subset_name: STABLE_SUBSET.to_string(),
                },
            },
        },
        steps: vec![
            weight(10),
            pause("2m"),
            gate(),
            weight(25),
            pause("5m"),
            weight(50),
            pause("5m"),
            gate(),
            weight(75),
            pause("5m"),
        ],
        analysis: None,
    }
}

/// Blue-green: the new ReplicaSet comes up behind the preview Service, is analysed there, and
/// production traffic switches to it on promotion — by hand in production, automatically
/// elsewhere after five minutes. After the switch the same analysis runs on the active Service
/// with real traffic; a failure aborts and the active Service goes back to the old ReplicaSet,
/// which is still up for `scaleDownDelaySeconds`.
fn blue_green(env: &Env, w: &Workload) -> BlueGreenStrategy {
    let production = env.is_production();
    BlueGreenStrategy {
        active_service: w.name().to_string(),
        preview_service: preview_service_name(w.name()),
        auto_promotion_enabled: !production,
        auto_promotion_seconds: (!production).then_some(300),
        scale_down_delay_seconds: 600,
        abort_scale_down_delay_seconds: 30,
        pre_promotion_analysis: RolloutAnalysis {
            templates: vec![AnalysisTemplateRef { template_name: preview_analysis_template_name(w) }],
            ..Default::default()
        },
        post_promotion_analysis: Some(analysis(w)),
    }
}

/// The AnalysisTemplate that measures a blue-green workload's preview Service.
pub fn preview_analysis_template_name(w: &Workload) -> String {
    format!("{}-preview-slo", w.name())
}

/// The preview Service of a blue-green workload: `active` (its Service) under the preview name.
/// Same ports and selector; Argo Rollouts adds `rollouts-pod-template-hash` to both selectors
/// itself, pointing each at its ReplicaSet.
pub(super) fn preview_service(w: &Workload, active: &Service) -> Option<Service> {
    if !uses_rollout(w) || w.spec.rollout != Strategy::BlueGreen {
        return None;
    }
    let mut s = active.clone();
    s.metadata.name = Some(preview_service_name(w.name()));
    Some(s)
}

/// Which requests a metric counts: the workload's own (canary, and blue-green after promotion),
/// or those sent to the preview Service (blue-green before promotion).
pub enum Scope {
    Workload,
    Preview,
}

fn selector(w: &Workload, scope: &Scope, extra: &str) -> String {
    let target = match scope {
        // Istio (≥ 1.22) names the workload of a Rollout's pods after the Rollout, not after
        // its ReplicaSet (istio/istio#49256): stable and canary pods both report it.
        Scope::Workload => {
            format!(r#"destination_workload="{}",destination_workload_namespace="{}""#, w.name(), w.namespace())
        }
        Scope::Preview => format!(
            r#"destination_service_name="{}",destination_service_namespace="{}""#,
            preview_service_name(w.name()),
            w.namespace()
        ),
    };
    format!(r#"{{reporter="destination",{target}{extra}}}"#)
}

/// Fraction of requests answered without a 5xx over the last [`RATE_WINDOW`].
pub fn success_rate_query(w: &Workload, scope: &Scope) -> String {
    format!(
        "sum(rate(istio_requests_total{}[{RATE_WINDOW}])) / sum(rate(istio_requests_total{}[{RATE_WINDOW}]))",
        selector(w, scope, r#",response_code!~"5..""#),
        selector(w, scope, "")
    )
}

/// 95th-percentile request duration in milliseconds over the last [`RATE_WINDOW`].
pub fn latency_p95_query(w: &Workload, scope: &Scope) -> String {
    format!(
        "histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{}[{RATE_WINDOW}])))",
        selector(w, scope, "")
    )
}

/// A measurement that is a number: one sample, not NaN (0/0 when there was no traffic).
const HAS_VALUE: &str = "len(result) == 1 && !isNaN(result[0])";

fn metric(name: &str, query: String, success: String, failure: String) -> AnalysisMetric {
    AnalysisMetric {
        name: name.to_string(),
        interval: INTERVAL.to_string(),
        initial_delay: "30s".to_string(),
        count: COUNT,
        failure_limit: FAILURE_LIMIT,
        inconclusive_limit: INCONCLUSIVE_LIMIT,
        consecutive_error_limit: CONSECUTIVE_ERROR_LIMIT,
        success_condition: success,
        failure_condition: failure,
        provider: MetricProvider {
            prometheus: PrometheusMetric { address: crate::addons::prometheus_service().url(), query, timeout: 30 },
        },
    }
}

/// The metrics judging `w` against its SLO: success rate ≥ `availabilityPercent` / 100, and,
/// when the SLO has one, p95 latency ≤ `latencyP95Ms` (an infinite p95 — every request in the
/// last bucket — fails).
fn slo_metrics(w: &Workload, scope: &Scope) -> Vec<AnalysisMetric> {
    let availability = w.spec.slo.as_ref().map_or(DEFAULT_AVAILABILITY_PERCENT, |s| s.availability_percent);
    // Printed with at most six decimals (99.9 % → 0.999, not 0.9990000000000001).
    let ratio = format!("{:.6}", availability / 100.0).trim_end_matches('0').trim_end_matches('.').to_string();
    let mut metrics = vec![metric(
        "success-rate",
        success_rate_query(w, scope),
        format!("{HAS_VALUE} && result[0] >= {ratio}"),
        format!("{HAS_VALUE} && result[0] < {ratio}"),
    )];
    if let Some(ms) = w.spec.slo.as_ref().and_then(|s| s.latency_p95_ms) {
        metrics.push(metric(
            "latency-p95",
            latency_p95_query(w, scope),
            format!("{HAS_VALUE} && result[0] <= {ms}"),
            format!("{HAS_VALUE} && result[0] > {ms}"),
        ));
    }
    metrics
}

fn template(w: &Workload, name: String, scope: &Scope) -> Resource<AnalysisTemplateSpec> {
    Resource {
        api_version: API_VERSION,
        kind: "AnalysisTemplate",
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(w.namespace().to_string()),
            labels: Some(labels::workload(w)),
            ..Default::default()
        },
        spec: AnalysisTemplateSpec { args: Vec::new(), metrics: slo_metrics(w, scope) },
    }
}

fn analysis_template(w: &Workload) -> Resource<AnalysisTemplateSpec> {
    template(w, analysis_template_name(w), &Scope::Workload)
}

/// AnalysisTemplates of `w`: its SLO on its own traffic and, for blue-green, on the preview's.
pub(super) fn analysis_templates(w: &Workload) -> Vec<Resource<AnalysisTemplateSpec>> {
    if !uses_rollout(w) {
        return Vec::new();
    }
    let mut out = vec![analysis_template(w)];
    if w.spec.rollout == Strategy::BlueGreen {
        out.push(template(w, preview_analysis_template_name(w), &Scope::Preview));
    }
    out
}

//! The load the surge offers, *not* capped at the autoscaler's max, and whether max covers it.
//!
//! [`super::surge_replicas`] is what the autoscaler settles on, clamped to `[min, max]`: with
//! min = max it says "no scale-up needed" at any traffic, which hides how much of the surge the
//! workload can serve. This module reports the uncapped figure beside it.
//!
//! **Baseline assumption.** The spec declares no normal load (no requests per second per
//! workload), so the only baseline the model has is its own fixed point
//! ([`super::metric`]'s load model): normal (1×) traffic is what the steady replicas serve with
//! every metric exactly at target. The surge's load is then `traffic × steady` pods at target,
//! and max replicas at target serve `max / steady` times normal traffic. Both are relative to
//! that assumption, not to a measured load: whether max is sufficient is therefore **reported,
//! not judged** (it never fails a verdict).
//!
//! **At max.** When the load exceeds max, the HPA's raw recommendation stays above max (the HPA
//! records the unclamped recommendation and only the normalisation clamps it to max), so it keeps
//! asking for more. A bounded per-pod metric (a utilisation ≤ 100 %) saturates at its bound
//! there: the HPA keeps asking for ⌈max × bound/target⌉, but the metric no longer shows how much
//! more load there is.

use serde::Serialize;

use super::metric::{Observed, Response, ceil, proposal};

/// The surge's uncapped demand for one workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Demand {
    /// Replicas that serve normal (1×) traffic with every metric at target: the baseline assumption.
    pub baseline_replicas: u32,
    pub traffic: f64,
    /// `traffic × baseline_replicas`: the surge's load in pods at target, not capped at max.
    pub pods_at_target: f64,
    /// … rounded up to whole pods.
    pub pods_needed: u32,
    pub max: u32,
    /// Whether max replicas cover `pods_needed`.
    pub max_covers: bool,
    /// Multiple of normal traffic that max replicas serve at target (`max / baseline_replicas`).
    pub max_serves_traffic: f64,
    /// The HPA's raw recommendation (largest over the metrics, before min/max) with max replicas
    /// all Ready under the surge; above max: the HPA keeps asking for more.
    pub recommendation_at_max: u32,
    /// Bounded per-pod metrics (a utilisation ≤ bound) that sit at their bound at max replicas.
    pub saturated_bounded_metrics: Vec<String>,
    /// The finding in a sentence (it goes into the verdict's detail).
    pub summary: String,
}

/// The demand of a workload with `baseline` steady replicas and `max` replicas under `traffic`;
/// `metrics`: each metric's name and response; `bound`: the data file's bound of a bounded
/// per-pod metric (100 %), for the sentence.
pub fn demand(
    baseline: u32,
    max: u32,
    traffic: f64,
    metrics: &[(String, Response)],
    tolerance: f64,
    bound: f64,
) -> Demand {
    let baseline = baseline.max(1);
    let max = max.max(1);
    let pods_at_target = traffic.max(0.0) * f64::from(baseline);
    let pods_needed = ceil(pods_at_target);
    let max_covers = max >= pods_needed;
    let max_serves_traffic = f64::from(max) / f64::from(baseline);
    let at_max =
        Observed { current: max, ready: max, seen_ready: max, demand: pods_at_target, steady: f64::from(baseline) };
    let recommendation_at_max = metrics.iter().map(|(_, r)| proposal(*r, at_max, tolerance)).max().unwrap_or(max);
    // A bounded per-pod figure shows min(bound/target, load per pod / target): at its bound once
    // the load per pod passes the bound.
    let per_pod = pods_at_target / f64::from(max);
    let saturated_bounded_metrics: Vec<String> = metrics
        .iter()
        .filter(|(_, r)| match r {
            Response::PerPodValue { cap: Some(c) } | Response::PerPodAverage { cap: Some(c) } => per_pod >= *c,
            _ => false,
        })
        .map(|(m, _)| m.clone())
        .collect();
    let base = format!(
        "uncapped demand: ×{} traffic asks for {} pods at target; at max {max} it serves about ×{} of normal traffic \
         under the baseline assumption (normal traffic = the {baseline} steady replicas at target)",
        num(traffic),
        num(pods_at_target),
        num(max_serves_traffic)
    );
    let summary = if max_covers {
        format!("{base}: max covers the surge")
    } else {
        let asks = if !saturated_bounded_metrics.is_empty() {
            format!(
                "; {} sits at its bound ({bound:.0}) at max, so the HPA keeps asking for {recommendation_at_max} replicas at max {max} \
                 while the metric no longer shows how much load is unserved",
                saturated_bounded_metrics.join(", ")
            )
        } else if recommendation_at_max > max {
            format!("; the HPA keeps asking for {recommendation_at_max} replicas at max {max}")
        } else {
            String::new()
        };
        format!(
            "{base}: max does not cover the surge — about {} pods' worth of load is not served at target{asks} \
             (reported, not judged: the spec declares no normal load)",
            num(pods_at_target - f64::from(max))
        )
    };
    Demand {
        baseline_replicas: baseline,
        traffic,
        pods_at_target,
        pods_needed,
        max,
        max_covers,
        max_serves_traffic,
        recommendation_at_max,
        saturated_bounded_metrics,
        summary,
    }
}

/// A number for a sentence: whole when it is whole, otherwise one decimal.
fn num(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 { format!("{:.0}", x.round()) } else { format!("{x:.1}") }
}

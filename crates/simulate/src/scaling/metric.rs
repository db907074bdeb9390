//! What one autoscaling metric proposes, as the HPA's replica calculator computes it
//! (`pkg/controller/podautoscaler/replica_calculator.go`), under a load model stated here.
//!
//! **Load model.** Load is measured in *pods at target*: at steady state the workload runs `c0`
//! replicas and every metric sits exactly at its target (the autoscaler's fixed point — the
//! assumption the whole section rests on). A surge multiplies the offered load by `k`, so the
//! demand is `D = k · c0` pods at target. What each metric then shows depends on its type:
//!
//! | metric | what the HPA computes | follows load? |
//! |---|---|---|
//! | `cpu`, `Utilization` or `AverageValue` (Resource) | per-pod usage `u = min(cap, D/R)` over the `R` ready pods; desired = ⌈u·R⌉; unready pods count as 0 % on a scale-up (`GetResourceReplicas`) | yes; CPU saturates at the container limit (`cap = limit / (target · request)`) |
//! | `memory` (Resource) | as CPU, but only the data file's `memory_load_share` of the usage grows with load (0: flat) | not with the default share 0 |
//! | External `AverageValue` on a total (`sum`/`count` query, a queue length) | desired = ⌈total / target⌉ = ⌈D⌉ (`GetExternalPerPodMetricReplicas`) | yes |
//! | External `Value` on a per-pod figure (`avg`/`max`/`min`) | desired = ⌈ready · value / target⌉ with value/target = `min(cap, D/R)` (`GetExternalMetricReplicas`) | yes, but a bounded figure (a utilisation ≤ 100 %) grows at most ×(100/target) per step, and not at all when 100/target ≤ 1 + tolerance |
//! | External `Value` on a total | desired = ⌈ready · k⌉: the total does not fall as pods are added | runs away to the maximum |
//! | External `AverageValue` on a per-pod figure | desired = ⌈value / target⌉, independent of the replica count | no: settles near √(k·c0) |
//! | KEDA `cron` | its `desiredReplicas` inside the window (the surge is assumed to fall inside it: market hours) | no (fixed) |
//!
//! Every proposal first checks the tolerance: within `|ratio − 1| ≤ tolerance` the HPA keeps the
//! current replica count.

use serde::Serialize;

use crate::objects::{ScalingMetric, Workload};

/// How a metric responds to load (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Response {
    /// `cpu`/`memory` Resource metric; `cap`: most a pod can show, in target units (CPU limit);
    /// `load_share`: the share of the usage that grows with load (1 for CPU; memory: the data file's).
    Resource { cap: Option<f64>, load_share: f64 },
    /// External `AverageValue` on a total.
    Total,
    /// External `Value` on a per-pod figure; `cap`: bound in target units (100 % / target).
    PerPodValue { cap: Option<f64> },
    /// External `Value` on a total.
    TotalValue,
    /// External `AverageValue` on a per-pod figure.
    PerPodAverage { cap: Option<f64> },
    /// KEDA cron trigger: these replicas inside its window.
    Schedule { replicas: u32 },
}

impl Response {
    /// Whether replicas follow the load through this metric at all (for the report).
    pub fn follows_load(self, tolerance: f64) -> bool {
        match self {
            Response::Resource { load_share, .. } if load_share <= 0.0 => false,
            Response::Resource { cap, .. } | Response::PerPodValue { cap } => cap.is_none_or(|c| c > 1.0 + tolerance),
            Response::Total | Response::TotalValue => true,
            Response::PerPodAverage { .. } | Response::Schedule { .. } => false,
        }
    }

    /// A sentence for the report.
    pub fn describe(self) -> String {
        match self {
            Response::Resource { load_share, .. } if load_share <= 0.0 => {
                "per-pod resource usage taken as flat under load (memory): proposes the current count".into()
            }
            Response::Resource { cap: Some(c), .. } => {
                format!("per-pod resource usage, follows load; saturates at {c:.2}× target (the container limit)")
            }
            Response::Resource { cap: None, .. } => "per-pod resource usage, follows load".into(),
            Response::Total => "a total divided by the replicas (AverageValue), follows load".into(),
            Response::PerPodValue { cap: Some(c) } => format!(
                "a per-pod figure with a Value target: desired = ⌈ready × value/target⌉; bounded, so at most ×{c:.2} per step"
            ),
            Response::PerPodValue { cap: None } => {
                "a per-pod figure with a Value target: desired = ⌈ready × value/target⌉, follows load".into()
            }
            Response::TotalValue => {
                "a total with a Value target: the total does not fall as pods are added, so it runs to the maximum".into()
            }
            Response::PerPodAverage { .. } => {
                "a per-pod figure with an AverageValue target: desired = ⌈value/target⌉, independent of the replica count (does not follow load)".into()
            }
            Response::Schedule { replicas } => format!("cron: {replicas} replicas inside its window (fixed)"),
        }
    }
}

/// The quantities a proposal is computed from, in pods at target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    /// Replicas the HPA's scale target has (spec; pods created, ready or not).
    pub current: u32,
    /// Pods ready now (`getReadyPodsCount`).
    pub ready: u32,
    /// Ready pods whose samples the metric value was computed from (lagged).
    pub seen_ready: u32,
    /// Offered load the metric sample reflects, in pods at target (lagged, ramped).
    pub demand: f64,
    /// Steady-state replicas (the load of 1× traffic, in pods at target).
    pub steady: f64,
}

/// Round up, forgiving floating-point noise (2 × 1.1 must be 2.2, not 2.2000000000000002 → 3).
pub fn ceil(x: f64) -> u32 {
    let r = x.round();
    let v = if (x - r).abs() < 1e-9 { r } else { x.ceil() };
    v.max(0.0).min(f64::from(u32::MAX)) as u32
}

fn within(ratio: f64, tolerance: f64) -> bool {
    (1.0 - ratio).abs() <= tolerance + 1e-12
}

/// The replica count one metric proposes (before min/max and behaviour).
pub fn proposal(r: Response, o: Observed, tolerance: f64) -> u32 {
    let seen = f64::from(o.seen_ready.max(1));
    let per_pod = |cap: Option<f64>| {
        let u = o.demand / seen;
        cap.map_or(u, |c| u.min(c))
    };
    match r {
        Response::Resource { cap, load_share } => {
            // GetResourceReplicas: ratio over the ready pods' samples; pods not ready (pending,
            // starting) are set aside and, on a scale-up, re-added at 0 % usage.
            let s = load_share.clamp(0.0, 1.0);
            let u = (1.0 - s) + s * per_pod(cap);
            let sum = u * seen;
            let unready = o.current > o.seen_ready;
            if !(unready && u > 1.0) {
                if within(u, tolerance) {
                    return o.current;
                }
                return ceil(sum);
            }
            let pods = f64::from(o.current.max(1));
            let new_ratio = sum / pods;
            if within(new_ratio, tolerance) || new_ratio < 1.0 {
                return o.current;
            }
            ceil(new_ratio * pods)
        }
        Response::Total => {
            let ratio = o.demand / f64::from(o.current.max(1));
            if within(ratio, tolerance) { o.current } else { ceil(o.demand) }
        }
        Response::PerPodValue { cap } => {
            let ratio = per_pod(cap);
            if o.current != 0 && within(ratio, tolerance) {
                return o.current;
            }
            ceil(ratio * f64::from(o.ready))
        }
        Response::TotalValue => {
            let ratio = o.demand / o.steady.max(1.0);
            if o.current != 0 && within(ratio, tolerance) {
                return o.current;
            }
            ceil(ratio * f64::from(o.ready))
        }
        Response::PerPodAverage { cap } => {
            let value = per_pod(cap);
            let ratio = value / f64::from(o.current.max(1));
            if within(ratio, tolerance) { o.current } else { ceil(value) }
        }
        Response::Schedule { replicas } => {
            let ratio = f64::from(replicas) / f64::from(o.current.max(1));
            if within(ratio, tolerance) { o.current } else { replicas }
        }
    }
}

/// Classify `m`, a metric of workload `w`; `bound`/`markers`: the bounded-percent rule of the
/// data file; `memory_share`: the share of memory use that follows load.
pub fn classify(w: &Workload, m: &ScalingMetric, bound: f64, markers: &[String], memory_share: f64) -> Response {
    let source = m.source.to_ascii_lowercase();
    let average = m.target_type != "Value";
    match source.as_str() {
        "cpu" => Response::Resource { cap: cpu_cap(w, m), load_share: 1.0 },
        "memory" => Response::Resource { cap: None, load_share: memory_share },
        "cron" => Response::Schedule { replicas: m.cron.as_ref().map_or(0, |c| c.2) },
        "pods" => Response::Resource { cap: None, load_share: 1.0 },
        _ => {
            // A Prometheus query says by its top-level aggregation whether it is a total or per
            // pod (cerverus_model::keda); any other scaler (a queue length, a lag, an object or
            // external metric of a plain HPA) reports a total.
            let per_pod = m
                .query
                .as_deref()
                .and_then(|q| cerverus_model::keda::prometheus_metric_type(q).ok())
                .is_some_and(|t| t == "Value");
            let bounded = {
                let text = format!("{} {}", m.query.as_deref().unwrap_or(""), m.source).to_ascii_lowercase();
                (per_pod && markers.iter().any(|k| text.contains(&k.to_ascii_lowercase())) && m.target > 0.0)
                    .then(|| bound / m.target)
            };
            match (per_pod, average) {
                (false, true) => Response::Total,
                (false, false) => Response::TotalValue,
                (true, false) => Response::PerPodValue { cap: bounded },
                (true, true) => Response::PerPodAverage { cap: bounded },
            }
        }
    }
}

/// Most CPU a pod can use, in target units: the application container's limit over its target
/// usage (`Utilization`: target % of its request; `AverageValue`: the target in cores). `None`
/// without a limit (the node's CPU is the bound then, far above any target).
fn cpu_cap(w: &Workload, m: &ScalingMetric) -> Option<f64> {
    let c = w.app_container()?;
    let res = c.resources.as_ref()?;
    let q = |map: &Option<
        std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| { map.as_ref().and_then(|m| m.get("cpu")).and_then(|q| cerverus_model::quantity::parse(&q.0)) };
    let limit = q(&res.limits)?;
    let target_cores =
        if m.target_type == "Utilization" { q(&res.requests).or(Some(limit))? * m.target / 100.0 } else { m.target };
    (target_cores > 0.0).then(|| limit / target_cores)
}

/// Replicas at steady state: the autoscaler's minimum, or a cron trigger's replicas when larger
/// (the surge is assumed to arrive inside the cron window: market hours); at least 1 (KEDA
/// activates a scaled-to-zero workload before the HPA scales it).
pub fn steady_replicas(w: &Workload) -> u32 {
    let Some(a) = &w.autoscaler else { return w.replicas };
    let cron = a.metrics.iter().filter_map(|m| m.cron.as_ref().map(|c| c.2)).max().unwrap_or(0);
    a.min.max(cron).max(1).min(a.max.max(1))
}

/// The replica count the autoscaler settles on when the load is `traffic` × steady: the HPA's
/// proposal (max over its metrics, clamped to [min, max]) iterated with every pod ready until it
/// stops changing. A proposal that oscillates (an `AverageValue` target on a per-pod figure can)
/// settles on the largest value of its cycle.
pub fn settle(w: &Workload, responses: &[Response], traffic: f64, tolerance: f64) -> u32 {
    let Some(a) = &w.autoscaler else { return w.replicas };
    let c0 = steady_replicas(w);
    let clamp = |n: u32| n.max(a.min).min(a.max.max(a.min));
    if responses.is_empty() {
        return clamp(c0);
    }
    let demand = traffic.max(0.0) * f64::from(c0);
    let mut n = c0;
    let mut seen = Vec::new();
    for _ in 0..64 {
        let o = Observed { current: n, ready: n, seen_ready: n, demand, steady: f64::from(c0) };
        let next = clamp(responses.iter().map(|r| proposal(*r, o, tolerance)).max().unwrap_or(n));
        if next == n {
            return n;
        }
        if let Some(pos) = seen.iter().position(|&x| x == next) {
            return seen[pos..].iter().copied().max().unwrap_or(next).max(n);
        }
        seen.push(n);
        n = next;
    }
    n
}

//! Autoscaler metric types that make the replica count independent of load.
//!
//! A KEDA `ScaledObject` trigger becomes an External metric of the HPA KEDA owns. Its
//! `metricType` (default `AverageValue` for every scaler but cpu/memory) decides the HPA formula:
//!
//! - `AverageValue`: desired = ceil(metric / target). The metric is taken as a **total** that the
//!   replicas share; the current replica count does not enter.
//! - `Value`: desired = ceil(current × metric / target). The metric is taken as a figure that
//!   **falls** as replicas are added (a per-pod average, a latency, a backlog being drained).
//!
//! So a per-pod figure (`avg`, `max`, `min`, `quantile`, a ratio of two totals) under
//! `AverageValue` caps replicas at ceil(max possible value / target) — GPU utilisation ≤ 100 with
//! target 70 can never ask for more than 2 — and a throughput total (`sum(rate(…))`, which adding
//! replicas does not reduce) under `Value` multiplies the replica count every cycle until
//! `maxReplicaCount` while load exceeds the target, and halves it to the floor when it does not.
//! `Utilization` is only defined for cpu/memory triggers: KEDA rejects it on any other scaler
//! (`ErrScalerUnsupportedUtilizationMetricType`), so the ScaledObject never becomes ready.

use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

use super::promql::{self, is_keda_scaler};
use super::{Sink, k8s::waivers};
use crate::inventory::Inventory;

/// A metric type whose HPA formula ignores (or runs away from) load.
pub const LOAD_INDEPENDENT: &str = "CV-SCALE-001";
/// `metricType: Utilization` on a trigger that has no utilisation.
pub const UTILIZATION_UNSUPPORTED: &str = "CV-SCALE-002";

/// What the number a query returns measures, from its outermost operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Figure {
    /// A per-series figure that does not grow with the work to share: `avg`, `max`, `min`,
    /// `quantile`, … (the aggregation's name), or a ratio of two vectors.
    PerPod(String),
    /// A total of a rate: the load itself, which more replicas do not reduce.
    ThroughputTotal,
    /// Anything else (a total of a gauge such as a queue length, a count, a bare selector).
    Other,
}

/// Functions that keep the meaning of their argument (`ceil(avg(x))` is still an average).
const TRANSPARENT: &[&str] = &["clamp", "clamp_min", "clamp_max", "round", "ceil", "floor", "abs", "scalar"];

fn is_rate(e: &Expr) -> bool {
    match e {
        Expr::Call(c) => matches!(c.func.name, "rate" | "irate" | "increase") || c.args.args.iter().any(|a| is_rate(a)),
        Expr::Paren(p) => is_rate(&p.expr),
        Expr::Binary(b) => is_rate(&b.lhs) || is_rate(&b.rhs),
        Expr::Aggregate(a) => is_rate(&a.expr),
        _ => false,
    }
}

/// Classify a query's result by its outermost operation, looking through parentheses, arithmetic
/// with a number, and functions that keep the meaning of their argument.
pub fn figure(e: &Expr) -> Figure {
    match e {
        Expr::Paren(p) => figure(&p.expr),
        Expr::Call(c) if TRANSPARENT.contains(&c.func.name) => {
            c.args.args.iter().find(|a| a.value_type() == ValueType::Vector).map_or(Figure::Other, |a| figure(a))
        }
        Expr::Binary(b) => {
            let (l, r) = (b.lhs.value_type(), b.rhs.value_type());
            match (l, r) {
                (ValueType::Vector, ValueType::Scalar) => figure(&b.lhs),
                (ValueType::Scalar, ValueType::Vector) => figure(&b.rhs),
                // A ratio of two vectors (`sum(busy) / sum(total)`) is a fraction: it does not
                // grow with the amount of work.
                (ValueType::Vector, ValueType::Vector) if b.op.to_string() == "/" => Figure::PerPod("a ratio".into()),
                _ => Figure::Other,
            }
        }
        Expr::Aggregate(a) => {
            let op = a.op.to_string().to_ascii_lowercase();
            match op.as_str() {
                "avg" | "max" | "min" | "quantile" | "stddev" | "stdvar" | "group" => Figure::PerPod(format!("`{op}`")),
                "sum" if is_rate(&a.expr) => Figure::ThroughputTotal,
                _ => Figure::Other,
            }
        }
        _ => Figure::Other,
    }
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    for o in inv.k8s.iter().filter(|o| is_keda_scaler(o)) {
        let w = waivers(o);
        let composite = o.value["spec"]["advanced"]["scalingModifiers"]["formula"].is_string();
        for (i, t) in o.value["spec"]["triggers"].as_array().into_iter().flatten().enumerate() {
            let kind = t["type"].as_str().unwrap_or("");
            let metric_type = t["metricType"].as_str().unwrap_or("AverageValue");
            let idx = i.to_string();
            // The metricType when written, else (KEDA's default) the query it applies to.
            let line = if t["metricType"].is_null() {
                o.line_of(&["spec", "triggers", &idx, "metadata", "query"])
            } else {
                o.line_of(&["spec", "triggers", &idx, "metricType"])
            };
            if metric_type == "Utilization" && !matches!(kind, "cpu" | "memory") {
                sink.report(
                    UTILIZATION_UNSUPPORTED,
                    &o.file,
                    line,
                    &o.id(),
                    format!(
                        "trigger {i} (`{kind}`) has `metricType: Utilization`, which KEDA supports only for cpu and memory; the scaler is rejected and the object never scales"
                    ),
                    &w,
                );
                continue;
            }
            // ScaledJob turns a metric into a number of Jobs with its own scaling strategy, not
            // through the HPA formulas above; with `advanced.scalingModifiers` the HPA sees only
            // the formula's composite metric, typed by `scalingModifiers.metricType`.
            if o.kind() != "ScaledObject" || kind != "prometheus" || composite {
                continue;
            }
            let Some(query) = t["metadata"]["query"].as_str() else { continue };
            // A query that does not parse is CV-PROM-001's finding.
            let Ok(expr) = promql::parse(query) else { continue };
            let threshold = t["metadata"]["threshold"].as_str().unwrap_or("the threshold");
            let message = match (metric_type, figure(&expr)) {
                ("AverageValue", Figure::PerPod(what)) => format!(
                    "trigger {i}: `{}` is a per-pod figure ({what}) but `metricType: AverageValue`{} makes the HPA compute ceil(value / {threshold}) without the current replica count: replicas follow the figure's size, not the load (a utilisation ≤ 100 with target 70 never asks for more than 2); use `metricType: Value`, or a total (`sum`) with AverageValue",
                    promql::one_line(query),
                    if t["metricType"].is_null() { " (KEDA's default)" } else { "" },
                ),
                ("Value", Figure::ThroughputTotal) => format!(
                    "trigger {i}: `{}` is a total rate, which adding replicas does not reduce, but `metricType: Value` makes the HPA compute ceil(replicas × value / {threshold}): above the target it multiplies replicas every cycle up to maxReplicaCount, below it shrinks them to the minimum; use `metricType: AverageValue` (value / target = replicas needed)",
                    promql::one_line(query)
                ),
                _ => continue,
            };
            sink.report(LOAD_INDEPENDENT, &o.file, line, &o.id(), message, &w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(q: &str) -> Figure {
        figure(&promql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}")))
    }

    #[test]
    fn figures() {
        assert_eq!(fig("avg(DCGM_FI_DEV_GPU_UTIL{namespace=\"ml\"})"), Figure::PerPod("`avg`".into()));
        assert_eq!(fig("max(lag) by (pod)"), Figure::PerPod("`max`".into()));
        assert_eq!(fig("ceil(avg(x) * 100)"), Figure::PerPod("`avg`".into()));
        assert_eq!(fig("sum(rate(busy[1m])) / sum(rate(total[1m]))"), Figure::PerPod("a ratio".into()));
        assert_eq!(fig("sum(rate(http_requests_total[2m]))"), Figure::ThroughputTotal);
        assert_eq!(fig("sum(airflow_executor_queued_tasks)"), Figure::Other);
        assert_eq!(fig("sum(x) / 1000"), Figure::Other);
        assert_eq!(fig("count(up)"), Figure::Other);
    }
}

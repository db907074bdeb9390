//! What KEDA's Prometheus scaler makes of a query: the spec's custom autoscaling metrics are
//! judged here, when the spec is resolved (a located error), and the renderer reads the same
//! answer for the ScaledObject's metric type.

/// How KEDA (through the HPA it owns) turns a Prometheus query into replicas, decided by the
/// query's top-level aggregation. KEDA needs exactly one series, so the query must aggregate at
/// the top without `by`/`without`.
///
/// - `sum`/`count` (a total over all pods): `AverageValue` — the HPA divides the total by the
///   current replica count and compares with the target, so desired = ⌈total / target⌉.
/// - `avg`/`max`/`min` (already per pod): `Value` — desired = ⌈current × value / target⌉.
///   `AverageValue` here would divide a per-pod figure by the replica count once more and make
///   desired = ⌈value / target⌉, independent of load (GPU utilisation ≤ 100 % over a target of
///   70 could never ask for more than 2 replicas).
pub fn prometheus_metric_type(query: &str) -> Result<&'static str, String> {
    use promql_parser::parser::{Expr, LabelModifier, parse};
    let mut expr = parse(query).map_err(|e| format!("does not parse as PromQL: {e}"))?;
    while let Expr::Paren(p) = expr {
        expr = *p.expr;
    }
    let Expr::Aggregate(agg) = expr else {
        return Err("has no top-level aggregation, so it may return several series (KEDA needs one)".into());
    };
    match &agg.modifier {
        None => {}
        Some(LabelModifier::Include(l)) if l.labels.is_empty() => {}
        Some(_) => {
            return Err("aggregates `by`/`without` labels, so it returns one series per group (KEDA needs one)".into());
        }
    }
    match agg.op.to_string().as_str() {
        "sum" | "count" => Ok("AverageValue"),
        "avg" | "max" | "min" => Ok("Value"),
        op => Err(format!("aggregates with `{op}`; use sum/count (a total) or avg/max/min (per pod)")),
    }
}

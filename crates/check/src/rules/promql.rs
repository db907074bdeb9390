//! PromQL in anyone's files: every query a consumer will send to Prometheus is parsed with a real
//! PromQL parser (`promql-parser`, the Prometheus grammar), and the queries whose consumer reads
//! one number (KEDA's Prometheus scaler, an Argo Rollouts analysis indexing `result[0]`) must not
//! return several series.
//!
//! Where queries are found: KEDA `ScaledObject`/`ScaledJob` triggers of type `prometheus`
//! (`metadata.query`), Prometheus-Operator `PrometheusRule` rules (`spec.groups[].rules[].expr`)
//! and Argo Rollouts `AnalysisTemplate`/`ClusterAnalysisTemplate`/`AnalysisRun` metrics
//! (`provider.prometheus.query`).

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr, LabelModifier, VectorMatchCardinality};
use serde_json::Value;

use super::{Sink, k8s::waivers};
use crate::inventory::{Inventory, K8sObject};

/// A query that does not parse.
pub const UNPARSABLE: &str = "CV-PROM-001";
/// A query that may return several series (or, for KEDA, a scalar) where its consumer reads one
/// series.
pub const SEVERAL_SERIES: &str = "CV-PROM-002";

/// Who reads a query's result, which decides what shape it must have.
#[derive(Debug, Clone, PartialEq)]
pub enum Consumer {
    /// A KEDA trigger: the scaler errors on more than one element ("returned multiple elements").
    /// `trigger` is the index in `spec.triggers`.
    Keda { trigger: usize },
    /// An alerting or recording rule: any number of series is fine.
    Rule,
    /// An Argo Rollouts analysis metric; its success/failure conditions, as written.
    Analysis { conditions: Vec<String> },
}

/// One PromQL query found in an object, with the path of the field that holds it.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub object: &'a K8sObject,
    pub path: Vec<String>,
    pub text: String,
    pub consumer: Consumer,
}

impl Query<'_> {
    pub fn line(&self) -> usize {
        let path: Vec<&str> = self.path.iter().map(String::as_str).collect();
        self.object.line_of(&path)
    }
}

fn api_group(o: &K8sObject) -> &str {
    o.value["apiVersion"].as_str().unwrap_or("").split('/').next().unwrap_or("")
}

/// KEDA objects that carry triggers.
pub fn is_keda_scaler(o: &K8sObject) -> bool {
    api_group(o) == "keda.sh" && matches!(o.kind(), "ScaledObject" | "ScaledJob")
}

/// Every PromQL query in the inventory.
pub fn queries(inv: &Inventory) -> Vec<Query<'_>> {
    let mut out = Vec::new();
    for o in &inv.k8s {
        let group = api_group(o);
        match o.kind() {
            "ScaledObject" | "ScaledJob" if group == "keda.sh" => {
                for (i, t) in o.value["spec"]["triggers"].as_array().into_iter().flatten().enumerate() {
                    if t["type"] == "prometheus"
                        && let Some(q) = t["metadata"]["query"].as_str()
                    {
                        out.push(Query {
                            object: o,
                            path: vec![
                                "spec".into(),
                                "triggers".into(),
                                i.to_string(),
                                "metadata".into(),
                                "query".into(),
                            ],
                            text: q.to_string(),
                            consumer: Consumer::Keda { trigger: i },
                        });
                    }
                }
            }
            "PrometheusRule" if group == "monitoring.coreos.com" => {
                for (g, group) in o.value["spec"]["groups"].as_array().into_iter().flatten().enumerate() {
                    for (r, rule) in group["rules"].as_array().into_iter().flatten().enumerate() {
                        // `expr` is an IntOrString in the CRD: a bare number is a valid query.
                        let text = match &rule["expr"] {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            _ => continue,
                        };
                        out.push(Query {
                            object: o,
                            path: vec![
                                "spec".into(),
                                "groups".into(),
                                g.to_string(),
                                "rules".into(),
                                r.to_string(),
                                "expr".into(),
                            ],
                            text,
                            consumer: Consumer::Rule,
                        });
                    }
                }
            }
            "AnalysisTemplate" | "ClusterAnalysisTemplate" | "AnalysisRun" if group == "argoproj.io" => {
                for (m, metric) in o.value["spec"]["metrics"].as_array().into_iter().flatten().enumerate() {
                    if let Some(q) = metric["provider"]["prometheus"]["query"].as_str() {
                        let conditions = ["successCondition", "failureCondition"]
                            .iter()
                            .filter_map(|k| metric[*k].as_str().map(str::to_string))
                            .collect();
                        out.push(Query {
                            object: o,
                            path: vec![
                                "spec".into(),
                                "metrics".into(),
                                m.to_string(),
                                "provider".into(),
                                "prometheus".into(),
                                "query".into(),
                            ],
                            text: q.to_string(),
                            consumer: Consumer::Analysis { conditions },
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Replace Argo Rollouts `{{args.x}}` / `{{ ... }}` placeholders so the query can be parsed:
/// inside a string literal they become a plain word (a label value may be a regular expression,
/// where `{{` would not compile); after `[` or `:` (a range or subquery step) a duration;
/// elsewhere a metric name, which parses wherever the argument could (a selector, a number
/// operand, a function argument).
fn untemplate(q: &str) -> String {
    if !q.contains("{{") {
        return q.to_string();
    }
    let mut out = String::with_capacity(q.len());
    let mut quote: Option<char> = None;
    let mut rest = q;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{")
            && let Some(end) = rest.find("}}")
        {
            let prev = out.trim_end().chars().last();
            let duration = quote.is_none() && matches!(prev, Some('[') | Some(':'));
            out.push_str(if duration { "5m" } else { "argo_template_argument" });
            rest = &rest[end + 2..];
            continue;
        }
        match (quote, c) {
            (None, '"' | '\'' | '`') => quote = Some(c),
            (Some(open), _) if c == open && !out.ends_with('\\') => quote = None,
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Parse a query the way Prometheus would (after removing Argo Rollouts placeholders).
pub fn parse(query: &str) -> Result<Expr, String> {
    parser::parse(&untemplate(query))
}

/// How many series an expression can return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Series {
    /// A scalar (a number literal, `scalar(…)`, `time()`).
    Scalar,
    /// At most one series.
    One,
    /// At most one series per distinct value of these labels (`sum by (pod) (…)`).
    By(BTreeSet<String>),
    /// Any number: a selector returns every series that matches it.
    Many,
    /// A range vector (`x[5m]`, a subquery): not a sample at all.
    Range,
}

impl Series {
    pub fn is_single(&self) -> bool {
        matches!(self, Series::Scalar | Series::One)
    }

    fn by(labels: BTreeSet<String>) -> Series {
        if labels.is_empty() { Series::One } else { Series::By(labels) }
    }
}

/// What the result of a whole query is: a range vector at the top is `Range`.
pub fn result_series(e: &Expr) -> Series {
    if e.value_type() == ValueType::Matrix { Series::Range } else { series(e) }
}

/// Series an expression returns, counting a range vector as the series it spans.
///
/// Limits (documented in the rule): a selector is always `Many` (nothing in PromQL says a metric
/// has one series, and the checker does not know the metric's labels); `a or b` of two single
/// series is taken as one, which holds for the usual `sum(…) or vector(0)` because both sides have
/// the empty label set.
pub fn series(e: &Expr) -> Series {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Series::Scalar,
        Expr::VectorSelector(_) => Series::Many,
        Expr::MatrixSelector(m) => series(&Expr::VectorSelector(m.vs.clone())),
        Expr::Subquery(s) => series(&s.expr),
        Expr::Paren(p) => series(&p.expr),
        Expr::Unary(u) => series(&u.expr),
        Expr::Extension(_) => Series::Many,
        Expr::Aggregate(a) => aggregate(a),
        Expr::Call(c) => call(c),
        Expr::Binary(b) => binary(b),
    }
}

fn labels(l: &LabelModifier) -> BTreeSet<String> {
    l.labels().labels.iter().cloned().collect()
}

/// Labels every selector in `e` fixes to one value with an `=` matcher (`x{app="a"}` fixes
/// `app`): grouping by them splits nothing. `None` when `e` selects nothing.
fn pinned(e: &Expr) -> Option<BTreeSet<String>> {
    let both = |a: Option<BTreeSet<String>>, b: Option<BTreeSet<String>>| match (a, b) {
        (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
        (a, b) => a.or(b),
    };
    match e {
        Expr::VectorSelector(v) => Some(
            v.matchers
                .matchers
                .iter()
                .filter(|m| matches!(m.op, MatchOp::Equal) && !m.value.is_empty())
                .map(|m| m.name.clone())
                .collect(),
        ),
        Expr::MatrixSelector(m) => pinned(&Expr::VectorSelector(m.vs.clone())),
        Expr::Subquery(s) => pinned(&s.expr),
        Expr::Paren(p) => pinned(&p.expr),
        Expr::Unary(u) => pinned(&u.expr),
        Expr::Aggregate(a) => pinned(&a.expr),
        // label_replace/label_join may rewrite a pinned label: trust nothing below them.
        Expr::Call(c) if matches!(c.func.name, "label_replace" | "label_join") => Some(BTreeSet::new()),
        Expr::Call(c) => c.args.args.iter().map(|a| pinned(a)).fold(None, both),
        Expr::Binary(b) => both(pinned(&b.lhs), pinned(&b.rhs)),
        _ => None,
    }
}

fn aggregate(a: &parser::AggregateExpr) -> Series {
    let inner = match (series(&a.expr), pinned(&a.expr)) {
        // `sum by (app) (x{app="a"})` is one series: the selector fixes what it groups by.
        (Series::By(have), Some(fixed)) => Series::by(have.difference(&fixed).cloned().collect()),
        (s, _) => s,
    };
    let fixed = pinned(&a.expr).unwrap_or_default();
    let labels = |m: &LabelModifier| -> BTreeSet<String> { labels(m).difference(&fixed).cloned().collect() };
    let op = a.op.to_string().to_ascii_lowercase();
    // `topk(1, x)` keeps one series per group, `topk(3, x)` three: only k ≤ 1 is single.
    let k_is_one = || matches!(a.param.as_deref(), Some(Expr::NumberLiteral(n)) if n.val <= 1.0);
    let grouped = |inner: Series| match &a.modifier {
        None => Series::One,
        Some(m @ LabelModifier::Include(_)) => match inner {
            Series::One | Series::Scalar => Series::One,
            Series::By(have) => Series::by(labels(m).intersection(&have).cloned().collect()),
            _ => Series::by(labels(m)),
        },
        Some(m @ LabelModifier::Exclude(_)) => match inner {
            Series::One | Series::Scalar => Series::One,
            Series::By(have) => Series::by(have.difference(&labels(m)).cloned().collect()),
            _ => Series::Many,
        },
    };
    match op.as_str() {
        "topk" | "bottomk" | "limitk" if k_is_one() => grouped(inner),
        "topk" | "bottomk" | "limitk" | "limit_ratio" | "count_values" => {
            if inner.is_single() {
                Series::One
            } else {
                Series::Many
            }
        }
        _ => grouped(inner),
    }
}

fn call(c: &parser::Call) -> Series {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    match name {
        "scalar" | "time" | "pi" => return Series::Scalar,
        "vector" | "absent" | "absent_over_time" => return Series::One,
        "histogram_quantile" => {
            // The buckets' `le` label is consumed: `histogram_quantile(0.9, sum by (le) (…))` is one series.
            return match args.get(1).map(|a| series(a)) {
                Some(Series::By(mut l)) => {
                    l.remove("le");
                    Series::by(l)
                }
                Some(s) => s,
                None => Series::Many,
            };
        }
        _ => {}
    }
    // Everything else keeps the series of its vector argument (date functions without one read
    // `vector(time())`).
    let vectors: Vec<Series> = args
        .iter()
        .filter(|a| !matches!(a.value_type(), ValueType::Scalar | ValueType::String))
        .map(|a| series(a))
        .collect();
    match vectors.into_iter().next() {
        Some(s) => s,
        None if c.func.return_type == ValueType::Scalar => Series::Scalar,
        None => Series::One,
    }
}

fn binary(b: &parser::BinaryExpr) -> Series {
    let (l, r) = (series(&b.lhs), series(&b.rhs));
    match (&l, &r) {
        (Series::Scalar, Series::Scalar) => return Series::Scalar,
        (Series::Scalar, _) => return r,
        (_, Series::Scalar) => return l,
        _ => {}
    }
    let op = b.op.to_string().to_ascii_lowercase();
    match op.as_str() {
        // Set operators: `and`/`unless` filter the left side; `or` adds the right side's series
        // whose label sets the left lacks.
        "and" | "unless" => l,
        "or" => match (&l, &r) {
            (Series::One, Series::One) => Series::One,
            (Series::By(a), Series::By(b)) if a == b => l,
            _ => Series::Many,
        },
        _ => match b.modifier.as_ref().map(|m| &m.card) {
            Some(VectorMatchCardinality::ManyToOne(_)) => l,
            Some(VectorMatchCardinality::OneToMany(_)) => r,
            // One-to-one: each side's series is matched at most once, so the result has no more
            // series than the smaller side.
            _ if l == Series::One || r == Series::One => Series::One,
            _ => l,
        },
    }
}

/// Conditions that walk the whole result (`all(result, …)`, `len(result)`) are written for
/// several series; `result[0]` or `result` as a number reads one arbitrary series.
fn conditions_expect_one(conditions: &[String]) -> bool {
    const ITERATING: &[&str] = &["all(", "any(", "none(", "one(", "filter(", "map(", "len(", "count("];
    !conditions.is_empty() && !conditions.iter().any(|c| ITERATING.iter().any(|f| c.contains(f)))
}

fn describe(s: &Series) -> String {
    match s {
        Series::By(l) => {
            format!("returns one series per value of {}", l.iter().map(String::as_str).collect::<Vec<_>>().join(", "))
        }
        Series::Range => "returns a range vector, not a sample".to_string(),
        _ => "returns every series its selector matches (no aggregation to one series)".to_string(),
    }
}

/// A query on one line, for a message.
pub fn one_line(q: &str) -> String {
    q.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    for q in queries(inv) {
        let o = q.object;
        let w = waivers(o);
        let expr = match parse(&q.text) {
            Ok(e) => e,
            Err(e) => {
                sink.report(
                    UNPARSABLE,
                    &o.file,
                    q.line(),
                    &o.id(),
                    format!("`{}` at {} is not valid PromQL: {}", one_line(&q.text), q.path.join("."), e.trim()),
                    &w,
                );
                continue;
            }
        };
        let one_required = match &q.consumer {
            Consumer::Keda { .. } => true,
            Consumer::Analysis { conditions } => conditions_expect_one(conditions),
            Consumer::Rule => false,
        };
        let s = result_series(&expr);
        // KEDA decodes `data.result` as a list of series (`[{metric, value}]`); a scalar or
        // string result is `[time, "value"]` and fails to decode.
        if matches!(q.consumer, Consumer::Keda { .. }) && s == Series::Scalar {
            sink.report(
                SEVERAL_SERIES,
                &o.file,
                q.line(),
                &o.id(),
                format!(
                    "`{}` returns a scalar, not a one-series vector; KEDA's prometheus scaler decodes the result as a list of series and fails on a scalar (\"cannot unmarshal number\"): wrap it in `vector(…)`",
                    one_line(&q.text)
                ),
                &w,
            );
            continue;
        }
        if one_required && !s.is_single() {
            let reader = match &q.consumer {
                Consumer::Keda { trigger } => format!(
                    "KEDA's prometheus scaler (trigger {trigger}) fails with \"returned multiple elements\" when more than one series comes back"
                ),
                _ => "the analysis condition reads one value (`result[0]`), an arbitrary one of several series"
                    .to_string(),
            };
            sink.report(
                SEVERAL_SERIES,
                &o.file,
                q.line(),
                &o.id(),
                format!("`{}` {}; {reader}", one_line(&q.text), describe(&s)),
                &w,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(q: &str) -> Series {
        result_series(&parse(q).unwrap_or_else(|e| panic!("{q}: {e}")))
    }

    #[test]
    fn cardinality_of_common_shapes() {
        let one = [
            "sum(rate(http_requests_total{app=\"a\"}[2m]))",
            "sum by () (rate(x[1m]))",
            "sum(rate(x[1m])) by ()",
            "vector(1)",
            "scalar(sum(x))",
            "sum(x) / sum(y)",
            "sum(x) / count(y) * 100",
            "sum(x) or vector(0)",
            "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))",
            "max(DCGM_FI_DEV_GPU_UTIL{namespace=\"ml\"})",
            "topk(1, sum by (pod) (x))",
            "sum by (app) (rate(x{app=\"a\"}[1m]))",
            "sum by (app, env) (x{app=\"a\", env=\"prod\"}) / sum by (app) (y{app=\"a\"})",
            "sum(x) and on() vector(1)",
            "1 + 2",
            "sum(x) - sum(x offset 1h)",
        ];
        for q in one {
            assert!(card(q).is_single(), "{q}: {:?}", card(q));
        }
        let several = [
            "sum(rate(x[1m])) by (pod)",
            "sum by (app) (rate(x{app=~\"a|b\"}[1m]))",
            "sum by (app) (x{app=\"a\"} or y)",
            "max(lag) by (pod)",
            "avg(DCGM_FI_DEV_GPU_UTIL{pod=~\"inference-.*\"}) by (pod)",
            "x",
            "rate(x[1m])",
            "x{pod=\"a\"}",
            "histogram_quantile(0.99, sum by (le, pod) (rate(h_bucket[5m])))",
            "histogram_quantile(0.99, rate(h_bucket[5m]))",
            "topk(3, x)",
            "count_values(\"v\", x)",
            "x[5m]",
            "sum(x) or sum by (pod) (y)",
            "avg(x) without (pod)",
            "rate(x[1m]) / on() group_left sum(y)",
        ];
        for q in several {
            assert!(!card(q).is_single(), "{q}: {:?}", card(q));
        }
        assert_eq!(card("x[5m]"), Series::Range);
    }

    #[test]
    fn argo_placeholders_are_parsed_in_context() {
        for q in [
            "sum(rate(x{service=~\"{{args.service-name}}\"}[5m]))",
            "sum(rate(x[{{args.window}}]))",
            "sum(x) > {{ args.threshold }}",
        ] {
            assert!(parse(q).is_ok(), "{q} -> {}", untemplate(q));
        }
    }

    #[test]
    fn parse_errors_carry_the_parser_message() {
        let e = parse("sum(rate(x[1m])").expect_err("unclosed");
        assert!(!e.is_empty());
        assert!(parse("sum(x) by (pod").is_err());
        assert!(parse("rate(x)").is_err(), "rate of an instant vector is a type error");
    }
}

//! Helm values against the pinned chart version's own values.yaml / values.schema.json.
//!
//! Helm merges user values into the chart's defaults and renders templates that read the keys
//! they know; a key no template reads is dropped without a word. So a typo, or a key from another
//! chart version (`deleteSqsMsgIfNodeNotFound` in aws-node-termination-handler 0.21.0), is a
//! setting that silently does not happen. Which chart and version a values file is for comes from
//! the chart list next to it (`charts.yaml`, see `helm_inventory`); what the chart has comes from
//! the reference data (`helm_reference`). Where the chart ships a `values.schema.json`, Helm
//! validates the merged values against it and refuses to install on an error: that is checked
//! too, on the same merge.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Sink, parse_comment_waivers};
use crate::helm_inventory::{ValuesDoc, ValuesFile};
use crate::helm_reference::{ChartRef, HelmReference, Lookup};
use crate::inventory::Inventory;

/// A values key the pinned chart version does not have.
pub const UNKNOWN_KEY: &str = "CV-HELM-001";
/// A values file whose chart version cannot be judged (no pin, no reference data).
pub const NOT_JUDGED: &str = "CV-HELM-002";
/// Values the chart's own values.schema.json rejects.
pub const SCHEMA_REJECTS: &str = "CV-HELM-003";

/// Istio keeps its defaults here; users set the same keys at the top level, and the chart's
/// profile template fails on `defaults.`.
const ISTIO_FORBIDDEN: &[&str] = &["_internal_defaults_do_not_set", "defaults"];

enum Verdict {
    Map,
    Open,
    /// Not a key; when it went to a subchart, that subchart and the path inside it.
    Unknown(Option<(Arc<ChartRef>, Vec<String>)>),
    /// The key belongs to a subchart the reference data does not have.
    NotJudged(String),
}

fn verdict(reference: &HelmReference, chart: &ChartRef, path: &[String]) -> Verdict {
    match chart.lookup(path) {
        Lookup::Map => return Verdict::Map,
        Lookup::Open => return Verdict::Open,
        Lookup::Unknown => {}
    }
    let sub = |dep_chart: &str, range: &str| {
        reference.resolve_dependency(dep_chart, range).and_then(|v| reference.get(dep_chart, &v)).and_then(Result::ok)
    };
    // `global.*` is passed to every subchart.
    if path[0] == "global" {
        for dep in &chart.dependencies {
            if let Some(c) = sub(&dep.chart, &dep.version)
                && !matches!(verdict(reference, &c, path), Verdict::Unknown(_) | Verdict::NotJudged(_))
            {
                return verdict(reference, &c, path);
            }
        }
    }
    if let Some(dep) = chart.dependencies.iter().find(|d| d.key == path[0]) {
        if path.len() == 1 {
            return Verdict::Map;
        }
        return match sub(&dep.chart, &dep.version) {
            Some(c) => match verdict(reference, &c, &path[1..]) {
                Verdict::Unknown(None) => Verdict::Unknown(Some((c, path[1..].to_vec()))),
                v => v,
            },
            None => Verdict::NotJudged(format!(
                "`{}` goes to subchart {} {} of {} {}, which the reference data does not have",
                path.join("."),
                dep.chart,
                dep.version,
                chart.chart,
                chart.version
            )),
        };
    }
    Verdict::Unknown(None)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A sibling key in the chart's defaults that looks like what was meant.
fn suggestion(chart: &ChartRef, path: &[String]) -> Option<String> {
    let (last, parent) = path.split_last()?;
    let mut node = &chart.defaults;
    for seg in parent {
        node = node.get(seg)?;
    }
    node.as_object()?
        .keys()
        .map(|k| (distance(&k.to_ascii_lowercase(), &last.to_ascii_lowercase()), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k.clone())
}

struct Ctx<'a> {
    reference: &'a HelmReference,
    chart: &'a ChartRef,
    file: &'a ValuesFile,
    object: String,
    /// Paths already reported as unknown (the schema check does not repeat them).
    reported: BTreeSet<Vec<String>>,
}

fn walk(ctx: &mut Ctx<'_>, doc: &ValuesDoc, map: &Map<String, Value>, path: &[String], sink: &mut Sink<'_>) {
    let w = parse_comment_waivers(ctx.file.comments.iter().map(String::as_str));
    for (k, v) in map {
        let mut p = path.to_vec();
        p.push(k.clone());
        let line = doc.key_line(&p);
        if ctx.chart.istio_style && path.is_empty() && ISTIO_FORBIDDEN.contains(&k.as_str()) {
            sink.report(
                UNKNOWN_KEY,
                &ctx.file.file,
                line,
                &ctx.object,
                format!(
                    "`{k}` is where {} {} keeps its own defaults; set the same keys at the top level (the chart's profile template fails on `defaults.`)",
                    ctx.chart.chart, ctx.chart.version
                ),
                &w,
            );
            ctx.reported.insert(p);
            continue;
        }
        match verdict(ctx.reference, ctx.chart, &p) {
            Verdict::Map => {
                if let Value::Object(m) = v {
                    walk(ctx, doc, m, &p, sink);
                }
            }
            Verdict::Open => {}
            Verdict::NotJudged(why) => sink.report(NOT_JUDGED, &ctx.file.file, line, &ctx.object, why, &w),
            Verdict::Unknown(sub) => {
                let (owner, rel, via) = match &sub {
                    Some((c, rel)) => (
                        c.as_ref(),
                        rel.as_slice(),
                        format!(" (values under `{}` of {} {} go to it)", p[0], ctx.chart.chart, ctx.chart.version),
                    ),
                    None => (ctx.chart, p.as_slice(), String::new()),
                };
                let hint = suggestion(owner, rel).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                sink.report(
                    UNKNOWN_KEY,
                    &ctx.file.file,
                    line,
                    &ctx.object,
                    format!(
                        "`{}` is not a key of {}chart {} {}{via}: not in its values.yaml or values.schema.json, not under an open map, not read by its templates; Helm ignores it{hint}",
                        p.join("."),
                        if sub.is_some() { "sub" } else { "" },
                        owner.chart,
                        owner.version
                    ),
                    &w,
                );
                ctx.reported.insert(p);
            }
        }
    }
}

/// Helm's merge of user values into chart defaults: maps merge key by key, anything else
/// replaces, and a user `null` deletes the default.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

/// JSON-Schema check of defaults merged with the user's values, as `helm install` does. Only
/// errors at or above a path the user set are reported: the chart's own defaults are its business.
fn schema_check(ctx: &Ctx<'_>, doc: &ValuesDoc, sink: &mut Sink<'_>) {
    let Some(schema) = ctx.chart.schema.as_ref() else { return };
    let w = parse_comment_waivers(ctx.file.comments.iter().map(String::as_str));
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => {
            sink.report(
                NOT_JUDGED,
                &ctx.file.file,
                doc.key_line(&[]),
                &ctx.object,
                format!("values.schema.json of {} {} does not compile: {e}", ctx.chart.chart, ctx.chart.version),
                &w,
            );
            return;
        }
    };
    let mut merged = ctx.chart.raw_defaults.clone();
    merge(&mut merged, &doc.value);
    for e in validator.iter_errors(&merged) {
        let pointer = e.instance_path().as_str().to_string();
        let base: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
        let mut targets: Vec<Vec<String>> = Vec::new();
        if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } = e.kind() {
            for k in unexpected {
                let mut p = base.clone();
                p.push(k.clone());
                targets.push(p);
            }
        } else {
            targets.push(base.clone());
        }
        for p in targets {
            let user_set = doc
                .value
                .pointer(&format!(
                    "/{}",
                    p.iter().map(|s| s.replace('~', "~0").replace('/', "~1")).collect::<Vec<_>>().join("/")
                ))
                .is_some()
                || p.is_empty();
            if !user_set || ctx.reported.contains(&p) {
                continue;
            }
            sink.report(
                SCHEMA_REJECTS,
                &ctx.file.file,
                doc.key_line(&p),
                &ctx.object,
                format!(
                    "{} {}'s values.schema.json rejects the merged values at `{}`: {e}; `helm install` fails",
                    ctx.chart.chart,
                    ctx.chart.version,
                    if p.is_empty() { "/".to_string() } else { p.join(".") }
                ),
                &w,
            );
        }
    }
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    check_with(inv, HelmReference::embedded(), sink);
}

/// Judge the inventory's values files against `reference`.
pub fn check_with(inv: &Inventory, reference: &HelmReference, sink: &mut Sink<'_>) {
    for vf in &inv.helm.values {
        let w = parse_comment_waivers(vf.comments.iter().map(String::as_str));
        let object = format!("values/{}", vf.name);
        sink.check_waivers(&vf.file, 1, &object, &w);
        let first_line = vf.docs.first().map_or(1, |d| d.key_line(&[]));
        let Some(list) = inv.helm.list_for(&vf.file) else {
            sink.report(
                NOT_JUDGED,
                &vf.file,
                first_line,
                &object,
                "no charts.yaml in this file's directory or above pins the chart these values are for (check the directory that holds it): they cannot be judged against a chart version".to_string(),
                &w,
            );
            continue;
        };
        let Some(pin) = list.charts.iter().find(|c| c.name == vf.name) else {
            sink.report(
                NOT_JUDGED,
                &vf.file,
                first_line,
                &object,
                format!(
                    "{} pins no chart named `{}`: which chart version these values are for is unknown",
                    list.file, vf.name
                ),
                &w,
            );
            continue;
        };
        let chart = match reference.get(&pin.chart, &pin.version) {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                sink.report(NOT_JUDGED, &vf.file, first_line, &object, e, &w);
                continue;
            }
            None => {
                let stored = reference.versions(&pin.chart);
                // The chart list may name a stored version to judge these values against instead.
                let stand_in =
                    pin.checked_against.as_deref().and_then(|v| reference.get(&pin.chart, v)).and_then(Result::ok);
                sink.report(
                    NOT_JUDGED,
                    &vf.file,
                    first_line,
                    &object,
                    format!(
                        "chart {} {} (pinned at {}:{}) has no reference data, so these values cannot be judged against it ({}){}; add its Chart.yaml, values.yaml and values.schema.json under data/reference/helm/{}/{}/",
                        pin.chart,
                        pin.version,
                        list.file,
                        pin.line,
                        if stored.is_empty() { "no version stored".to_string() } else { format!("stored: {}", stored.join(", ")) },
                        match &stand_in {
                            Some(c) => format!("; judged against {} instead (`values_checked_against`)", c.version),
                            None => String::new(),
                        },
                        pin.chart,
                        pin.version
                    ),
                    &w,
                );
                match stand_in {
                    Some(c) => c,
                    None => continue,
                }
            }
        };
        let mut ctx = Ctx { reference, chart: &chart, file: vf, object: object.clone(), reported: BTreeSet::new() };
        for doc in &vf.docs {
            match &doc.value {
                Value::Object(m) => walk(&mut ctx, doc, m, &[], sink),
                Value::Null => {}
                _ => sink.report(
                    UNKNOWN_KEY,
                    &vf.file,
                    doc.key_line(&[]),
                    &object,
                    "Helm values must be a map of keys".to_string(),
                    &w,
                ),
            }
            schema_check(&ctx, doc, sink);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_helms() {
        let mut base = serde_json::json!({"a": {"b": 1, "c": 2}, "d": [1, 2], "e": 1});
        merge(&mut base, &serde_json::json!({"a": {"b": 3}, "d": [3], "e": null}));
        assert_eq!(base, serde_json::json!({"a": {"b": 3, "c": 2}, "d": [3]}));
    }

    #[test]
    fn suggestions_for_typos() {
        assert_eq!(distance("checktagbeforedraining", "checktagbeforedrainin"), 1);
        assert_eq!(distance("abc", "abc"), 0);
    }
}

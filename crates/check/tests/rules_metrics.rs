//! PromQL (CV-PROM-*), autoscaler metric semantics (CV-SCALE-*) and Helm values against the
//! pinned chart (CV-HELM-*): each rule fails on a fixture of the old, broken shape and passes on
//! the fixed one, at the line that holds the defect. Fixtures: `tests/fixtures/metrics/` and
//! `tests/fixtures/helm/`.

use std::path::{Path, PathBuf};

use cerverus_check::helm_reference::HelmReference;
use cerverus_check::inventory::{Inventory, load_text};
use cerverus_check::rules::{Sink, helm_values, promql, rule};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Load fixture files (or directories, recursively) under names relative to `tests/fixtures`.
fn load(rel: &[&str]) -> Inventory {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if dir.is_file() {
            out.push(dir.to_path_buf());
            return;
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            walk(&e, out);
        }
    }
    let mut inv = Inventory::default();
    for r in rel {
        let mut files = Vec::new();
        walk(&fixtures().join(r), &mut files);
        for f in files {
            let name = f.strip_prefix(fixtures()).unwrap_or(&f).display().to_string();
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
            load_text(&mut inv, &name, &text);
        }
    }
    inv
}

/// (rule, file, line) of every unwaived finding of the families under test.
fn found(inv: &Inventory) -> Vec<(String, String, usize)> {
    let report = cerverus_check::check_inventory(inv);
    assert!(report.findings.iter().all(|f| rule(&f.rule).is_some() || f.rule.starts_with("CV-META")));
    report
        .findings
        .into_iter()
        .filter(|f| f.waived.is_none() && ["CV-PROM", "CV-SCALE", "CV-HELM"].iter().any(|p| f.rule.starts_with(p)))
        .map(|f| (f.rule, f.file, f.line))
        .collect()
}

fn at(rule: &str, file: &str, line: usize) -> (String, String, usize) {
    (rule.to_string(), file.to_string(), line)
}

fn messages(inv: &Inventory, id: &str) -> Vec<String> {
    cerverus_check::check_inventory(inv).findings.into_iter().filter(|f| f.rule == id).map(|f| f.message).collect()
}

#[test]
fn promql_that_does_not_parse_is_reported_with_the_parsers_message_and_line() {
    let f = "metrics/promql-unparsable.bad.yaml";
    let inv = load(&[f]);
    // A block scalar is reported at its first line.
    assert_eq!(found(&inv), vec![at("CV-PROM-001", f, 15), at("CV-PROM-001", f, 28), at("CV-PROM-001", f, 45)]);
    let msgs = messages(&inv, "CV-PROM-001");
    assert!(msgs.iter().all(|m| m.contains("is not valid PromQL: ")), "{msgs:?}");
    assert!(
        msgs[1].contains("range vector") || msgs[1].contains("expected type"),
        "type error, not syntax: {}",
        msgs[1]
    );
    assert_eq!(found(&load(&["metrics/promql-unparsable.good.yaml"])), vec![]);
}

#[test]
fn several_series_where_one_is_required() {
    let f = "metrics/promql-several.bad.yaml";
    let inv = load(&[f]);
    assert_eq!(
        found(&inv),
        vec![at("CV-PROM-002", f, 18), at("CV-PROM-002", f, 24), at("CV-PROM-002", f, 30), at("CV-PROM-002", f, 45)]
    );
    let msgs = messages(&inv, "CV-PROM-002");
    assert!(
        msgs[0].contains("one series per value of pod") && msgs[0].contains("returned multiple elements"),
        "{}",
        msgs[0]
    );
    assert!(msgs[2].contains("returns a scalar") && msgs[2].contains("vector("), "{}", msgs[2]);
    assert!(msgs[3].contains("one series per value of pod"), "{}", msgs[3]);
    // Fixed: aggregated to one series, `by ()`, `or vector(0)`, a vector plus a scalar, ScaledJob,
    // per-pod alerts (any number is fine), analyses that iterate the result.
    assert_eq!(found(&load(&["metrics/promql-several.good.yaml"])), vec![]);
}

#[test]
fn metric_types_that_make_replicas_independent_of_load() {
    let f = "metrics/scale-load.bad.yaml";
    let inv = load(&[f]);
    // Explicit AverageValue on avg (its metricType line), KEDA's default on max (the query line,
    // as nothing else says it), Value on a total rate.
    assert_eq!(found(&inv), vec![at("CV-SCALE-001", f, 13), at("CV-SCALE-001", f, 21), at("CV-SCALE-001", f, 24)]);
    let msgs = messages(&inv, "CV-SCALE-001");
    assert!(msgs[0].contains("ceil(value / 70)"), "{}", msgs[0]);
    assert!(msgs[1].contains("KEDA's default"), "{}", msgs[1]);
    assert!(msgs[2].contains("maxReplicaCount"), "{}", msgs[2]);
    assert_eq!(found(&load(&["metrics/scale-load.good.yaml"])), vec![]);
}

#[test]
fn utilization_on_a_trigger_that_has_none() {
    let f = "metrics/scale-utilization.bad.yaml";
    assert_eq!(found(&load(&[f])), vec![at("CV-SCALE-002", f, 12)]);
    assert_eq!(found(&load(&["metrics/scale-utilization.good.yaml"])), vec![]);
}

#[test]
fn helm_values_keys_the_pinned_chart_does_not_have() {
    let inv = load(&["helm/bad"]);
    let nth = "helm/bad/prod/aws-node-termination-handler.values.yaml";
    let es = "helm/bad/prod/external-secrets.values.yaml";
    let ms = "helm/bad/prod/metrics-server.values.yaml";
    let mut got = found(&inv);
    got.sort();
    assert_eq!(
        got,
        vec![
            // A typo and a key only later releases have.
            at("CV-HELM-001", nth, 4),
            at("CV-HELM-001", nth, 5),
            // A typo in the parent chart, and one in a subchart's keys (grafana's own values).
            at("CV-HELM-001", "helm/bad/prod/kube-prometheus-stack.values.yaml", 4),
            at("CV-HELM-001", "helm/bad/prod/kube-prometheus-stack.values.yaml", 6),
            // The old bundle's metrics-server key.
            at("CV-HELM-001", ms, 5),
            // Judged against the stand-in version the chart list names.
            at("CV-HELM-001", "helm/bad/prod/vpa.values.yaml", 5),
            // No pin for this values file; a pinned version with no reference data.
            at("CV-HELM-002", "helm/bad/prod/orphan.values.yaml", 2),
            at("CV-HELM-002", "helm/bad/prod/vpa.values.yaml", 2),
            // external-secrets ships a schema: `replicaCount: two` fails `helm install`.
            at("CV-HELM-003", es, 2),
        ]
    );
    let msgs = messages(&inv, "CV-HELM-001");
    assert!(msgs.iter().any(|m| m.contains("did you mean `checkTagBeforeDraining`?")), "{msgs:?}");
    assert!(
        msgs.iter().any(|m| m.contains("`grafana.persistance` is not a key of subchart grafana 12.11.1")
            && m.contains("did you mean `persistence`?")),
        "{msgs:?}"
    );
    assert!(
        messages(&inv, "CV-HELM-002").iter().any(|m| m.contains("vpa 9.9.9")
            && m.contains("stored: 4.7.1")
            && m.contains("judged against 4.7.1 instead"))
    );
    assert!(msgs.iter().any(|m| m.contains("`updatr` is not a key of chart vpa 4.7.1") && m.contains("`updater`")));
    // Values with no chart list above them: which chart version they are for is unknown.
    let f = "helm/unpinned/metrics-server.values.yaml";
    assert_eq!(found(&load(&[f])), vec![at("CV-HELM-002", f, 2)]);
    // Fixed: the chart's own keys, open maps, template-only keys, a SecurityContext's fields,
    // dependency conditions, subcharts (grafana under kube-prometheus-stack, nfd under the
    // device plugin) and `global`.
    assert_eq!(found(&load(&["helm/good"])), vec![]);
}

#[test]
fn closed_schemas_and_istio_style_defaults() {
    let reference = HelmReference::from_dir(&fixtures().join("helm/reference")).expect("fixture reference");
    let inv = load(&["helm/closed"]);
    let mut findings = Vec::new();
    helm_values::check_with(&inv, &reference, &mut Sink { findings: &mut findings });
    let mut got: Vec<(String, String, usize)> =
        findings.iter().map(|f| (f.rule.clone(), f.file.clone(), f.line)).collect();
    got.sort();
    let c = "helm/closed/prod/collector.values.yaml";
    let i = "helm/closed/prod/istiod.values.yaml";
    assert_eq!(
        got,
        vec![
            at("CV-HELM-001", c, 5),
            at("CV-HELM-001", i, 8),
            at("CV-HELM-001", i, 10),
            // The enum; the unknown `replicas` is reported once, as CV-HELM-001.
            at("CV-HELM-003", c, 2),
        ],
        "{findings:#?}"
    );
    assert!(findings.iter().any(|f| f.message.contains("did you mean `autoscaleEnabled`?")));
}

#[test]
fn every_query_in_the_bundle_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes");
    let inv = cerverus_check::inventory::load(&[root]).expect("bundle loads");
    let queries = promql::queries(&inv);
    let keda = queries.iter().filter(|q| matches!(q.consumer, promql::Consumer::Keda { .. })).count();
    assert!(keda > 0, "the bundle's ScaledObjects carry Prometheus triggers");
    for q in &queries {
        // The parser itself, not the checker's wrapper: these carry no placeholders.
        if let Err(e) = promql_parser::parser::parse(&q.text) {
            panic!("{}:{} `{}`: {e}", q.object.file, q.line(), q.text);
        }
    }
}

#[test]
fn every_metrics_rule_is_catalogued_and_exercised() {
    // Each ID appears in a failing fixture above; this keeps the list and the catalogue in step.
    for id in
        ["CV-PROM-001", "CV-PROM-002", "CV-SCALE-001", "CV-SCALE-002", "CV-HELM-001", "CV-HELM-002", "CV-HELM-003"]
    {
        let r = rule(id).unwrap_or_else(|| panic!("{id} not in RULES"));
        assert!(!r.rationale.is_empty() && !r.remediation.is_empty() && !r.references.is_empty(), "{id}");
    }
}

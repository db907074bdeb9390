//! Metrics and alerts, end to end over the built bundle: every PrometheusRule ships with promtool
//! unit tests in which each alert fires and stays silent (and promtool passes them, where it is
//! installed); every declared SLO has its multi-window burn-rate alerts; every workload that
//! exposes metrics, and every meshed namespace's sidecars, are scraped; every PromQL query
//! (rules, dashboards, KEDA triggers, analyses) parses; the Alertmanager configuration passes
//! `amtool check-config` and routes by severity to receivers whose credentials are mounted
//! files; the dashboards are JSON the Grafana sidecar loads.
//!
//! Each judgement is a function applied to the bundle and to a broken variant that it must
//! reject (a rule without tests, an alert without a firing case, an SLO without its alerts, a
//! workload without its monitor, a query that does not parse, a receiver that does not exist).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use cerverus_bundle::Bundle;
use cerverus_render::kubernetes::alerting::BURN_WINDOWS;
use serde_json::Value;

fn bundle() -> (cerverus_model::Platform, Bundle) {
    cerverus::build_default().expect("default spec builds")
}

fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn text(b: &Bundle, path: &str) -> String {
    let bytes = b.get(path).unwrap_or_else(|| panic!("{path} not in bundle"));
    String::from_utf8(bytes.to_vec()).expect("utf8")
}

/// Every Kubernetes object of one environment: (path, object).
fn objects(b: &Bundle, env: &str) -> Vec<(String, Value)> {
    let prefix = format!("kubernetes/{env}/");
    b.iter()
        .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(".yaml"))
        .map(|(p, bytes)| (p.to_string(), yaml(std::str::from_utf8(bytes).expect("utf8"), p)))
        .collect()
}

fn kind<'a>(objs: &'a [(String, Value)], k: &str) -> impl Iterator<Item = &'a Value> {
    objs.iter().map(|(_, o)| o).filter(move |o| o["kind"] == k)
}

fn without(b: &Bundle, drop: impl Fn(&str) -> bool) -> Bundle {
    let mut out = Bundle::new();
    for (p, bytes) in b.iter().filter(|(p, _)| !drop(p)) {
        out.add(p, bytes).expect("unique paths");
    }
    out
}

fn replaced(b: &Bundle, path: &str, new: &str) -> Bundle {
    let mut out = without(b, |p| p == path);
    out.add(path, new).expect("unique paths");
    out
}

fn envs(p: &cerverus_model::Platform) -> Vec<String> {
    p.environments.iter().map(|e| e.name.clone()).collect()
}

fn alerts_of(rule: &Value) -> Vec<&Value> {
    rule["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter(|r| r.get("alert").is_some())
        .collect()
}

// ---- Every PrometheusRule has unit tests, each alert a firing and a silent case ----

/// A promtool series `metric{a="b", c="d"}`: its name and labels.
fn parse_series(text: &str) -> (String, BTreeMap<String, String>) {
    let (name, rest) = text.split_once('{').unwrap_or((text, ""));
    let mut labels = BTreeMap::new();
    let mut rest = rest.trim_end_matches('}');
    while let Some((key, after)) = rest.split_once("=\"") {
        let Some(end) = after.find('"') else { break };
        labels.insert(key.trim_matches(|c: char| c == ',' || c.is_whitespace()).to_string(), after[..end].to_string());
        rest = &after[end + 1..];
    }
    (name.trim().to_string(), labels)
}

/// Whether a firing case also proves silence (the harness's rule, `promtool_tests.py`): promtool
/// matches the expected alerts exactly, so a series of a metric whose other series raise the
/// expected alerts, but that no expected alert agrees with, stays silent by assertion.
fn silent_series(group: &Value, case: &Value) -> bool {
    let expected: Vec<BTreeMap<String, String>> = case["exp_alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            a["exp_labels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .collect();
    let mut covered: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for s in group["input_series"].as_array().into_iter().flatten() {
        let (name, labels) = parse_series(s["series"].as_str().unwrap_or(""));
        let hit = expected.iter().any(|e| {
            labels.keys().any(|k| e.contains_key(k)) && labels.iter().all(|(k, v)| e.get(k).is_none_or(|x| x == v))
        });
        covered.entry(name).or_default().push(hit);
    }
    covered.values().any(|hits| hits.iter().any(|h| *h) && !hits.iter().all(|h| *h))
}

/// Problems with the unit tests of every PrometheusRule of `env`.
fn rule_test_problems(b: &Bundle, env: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for rule in kind(&objects(b, env), "PrometheusRule") {
        let name = rule["metadata"]["name"].as_str().unwrap_or("?");
        let path = format!("promtool/{env}/{name}.test.yaml");
        let Some(bytes) = b.get(&path) else {
            problems.push(format!("{env}: PrometheusRule {name} has no unit tests ({path})"));
            continue;
        };
        let test = yaml(std::str::from_utf8(bytes).expect("utf8"), &path);
        if test["rule_files"] != serde_json::json!([format!("{name}.rules.yaml")]) {
            problems.push(format!("{path}: rule_files is {}, not [{name}.rules.yaml]", test["rule_files"]));
        }
        let (mut firing, mut silent) = (BTreeSet::new(), BTreeSet::new());
        for group in test["tests"].as_array().into_iter().flatten() {
            for case in group["alert_rule_test"].as_array().into_iter().flatten() {
                let alert = case["alertname"].as_str().unwrap_or("").to_string();
                if case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()) {
                    if silent_series(group, case) {
                        silent.insert(alert.clone());
                    }
                    firing.insert(alert);
                } else {
                    silent.insert(alert);
                }
            }
        }
        for a in alerts_of(rule) {
            let a = a["alert"].as_str().unwrap_or("?");
            if !firing.contains(a) {
                problems.push(format!("{path}: alert {a} has no case in which it fires"));
            }
            if !silent.contains(a) {
                problems.push(format!("{path}: alert {a} has no case in which it stays silent"));
            }
        }
    }
    problems
}

#[test]
fn every_prometheus_rule_has_tests_in_which_each_alert_fires_and_stays_silent() {
    let (p, b) = bundle();
    for env in envs(&p) {
        let rules = kind(&objects(&b, &env), "PrometheusRule").count();
        assert!(rules >= 5, "{env}: expected the SLO, service and platform rules, found {rules}");
        let problems = rule_test_problems(&b, &env);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
    // A rule whose test file is gone, and a test whose firing cases are gone, are caught.
    let gone = without(&b, |path| path == "promtool/prod/platform-alerts.test.yaml");
    assert!(rule_test_problems(&gone, "prod").iter().any(|p| p.contains("platform-alerts has no unit tests")));
    let path = "promtool/prod/platform-alerts.test.yaml";
    let mut test = yaml(&text(&b, path), path);
    for g in test["tests"].as_array_mut().into_iter().flatten() {
        for case in g["alert_rule_test"].as_array_mut().into_iter().flatten() {
            case["exp_alerts"] = serde_json::json!([]);
        }
    }
    let silenced = replaced(&b, path, &serde_json::to_string(&test).expect("json"));
    assert!(
        rule_test_problems(&silenced, "prod")
            .iter()
            .any(|p| p.contains("NodeUnderPressure has no case in which it fires"))
    );
}

#[test]
fn a_firing_case_proves_silence_only_for_series_no_expected_alert_agrees_with() {
    let group = serde_json::json!({"input_series": [
        {"series": "expiry{name=\"ten-days\", job=\"cm\"}", "values": "1"},
        {"series": "expiry{name=\"sixty-days\", job=\"cm\"}", "values": "1"}
    ]});
    let case = |names: &[&str]| serde_json::json!({"exp_alerts": names.iter().map(|n| serde_json::json!({"exp_labels": {"name": n}})).collect::<Vec<_>>()});
    assert!(silent_series(&group, &case(&["ten-days"])), "sixty-days is asserted silent");
    assert!(!silent_series(&group, &case(&["ten-days", "sixty-days"])), "both fire: nothing is silent");
    let aggregated = serde_json::json!({"exp_alerts": [{"exp_labels": {"job": "cm"}}]});
    assert!(!silent_series(&group, &aggregated), "an aggregate that covers every series proves no silence");
    assert_eq!(parse_series("up{job=\"a\",pod=\"b\"}").1.len(), 2);
}

/// Write a bundle to a directory.
fn materialise(b: &Bundle, dir: &Path) {
    for (p, bytes) in b.iter() {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
    }
}

fn harness() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/validators/promtool_tests.py")
}

fn on_path(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

/// Run the harness on a bundle: Some((passed, output)), or None when it cannot run here.
fn run_harness(b: &Bundle) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    materialise(b, dir.path());
    let out = Command::new("python3").arg(harness()).arg(dir.path()).output().ok()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    match out.status.code() {
        Some(0) => Some((true, text)),
        Some(1) => Some((false, text)),
        _ => {
            println!("SKIPPED: the promtool harness could not run: {text}");
            None
        }
    }
}

#[test]
fn promtool_passes_every_rule_file_and_unit_test() {
    if !on_path("promtool") || !on_path("python3") {
        println!("SKIPPED: promtool or python3 is not on PATH (Debian's prometheus package has promtool)");
        return;
    }
    let (_, b) = bundle();
    let Some((ok, out)) = run_harness(&b) else { return };
    assert!(ok, "promtool unit tests fail:\n{out}");
    // A wrong expectation (the platform alerts expected silent where they fire) fails promtool,
    // and a rule without its test file fails the harness.
    let path = "promtool/dev/platform-alerts.test.yaml";
    let mut test = yaml(&text(&b, path), path);
    for g in test["tests"].as_array_mut().into_iter().flatten() {
        for case in g["alert_rule_test"].as_array_mut().into_iter().flatten() {
            case["exp_alerts"] = serde_json::json!([]);
        }
    }
    // The broken variants keep only dev (the environment they break), to keep the run short.
    let dev = without(&b, |p| !(p.starts_with("kubernetes/dev/") || p.starts_with("promtool/dev/")));
    let wrong = replaced(&dev, path, &serde_json::to_string(&test).expect("json"));
    let (ok, out) = run_harness(&wrong).expect("harness ran once");
    assert!(!ok && out.contains("promtool test rules failed"), "a wrong expectation passed:\n{out}");
    let untested = without(&dev, |p| p == path);
    let (ok, out) = run_harness(&untested).expect("harness ran once");
    assert!(!ok && out.contains("has no unit tests"), "a rule without tests passed:\n{out}");
}

// ---- Every SLO has its burn-rate alerts, for every window pair ----

/// Problems: a workload with an `slo` whose availability (and declared latency, where it serves
/// requests) lacks a burn-rate alert for some window pair.
fn slo_problems(platform: &cerverus_model::Platform, b: &Bundle) -> Vec<String> {
    let mut problems = Vec::new();
    for env in &platform.environments {
        let objs = objects(b, &env.name);
        for w in &env.workloads {
            let Some(slo) = &w.spec.slo else { continue };
            let mut wanted = vec![("SLOAvailabilityBudgetBurn", slo.availability_percent)];
            if slo.latency_p95_ms.is_some() && cerverus_render::kubernetes::alerting::serves_http_in_mesh(env, w) {
                wanted.push(("SLOLatencyBudgetBurn", 95.0));
            }
            let alerts: Vec<&Value> = kind(&objs, "PrometheusRule")
                .filter(|r| r["metadata"]["namespace"] == w.namespace())
                .flat_map(alerts_of)
                .collect();
            for (alert, objective) in wanted {
                let budget = cerverus_render::kubernetes::alerting::num(1.0 - objective / 100.0);
                for bw in BURN_WINDOWS {
                    let found = alerts.iter().any(|a| {
                        let expr = a["expr"].as_str().unwrap_or("");
                        a["alert"] == alert
                            && a["labels"]["long_window"] == bw.long
                            && a["labels"]["short_window"] == bw.short
                            && expr.contains(&format!("workload=\"{}\"", w.name()))
                            && expr.contains(&format!("ratio_rate{}{{", bw.long))
                            && expr.contains(&format!("ratio_rate{}{{", bw.short))
                            && expr.contains(&format!("{budget})"))
                    });
                    if !found {
                        problems.push(format!(
                            "{}: {} has no {alert} alert for {}/{} at its budget {budget}",
                            env.name,
                            w.name(),
                            bw.long,
                            bw.short
                        ));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn every_slo_has_burn_rate_alerts_for_every_window_pair() {
    let (p, b) = bundle();
    let with_slo = p.environments.iter().flat_map(|e| &e.workloads).filter(|w| w.spec.slo.is_some()).count();
    assert!(with_slo >= 4, "the spec declares SLOs on four workloads per environment");
    let problems = slo_problems(&p, &b);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Without the alerts-api rule, its SLO has no alerts.
    let gone = without(&b, |path| path.ends_with("/prometheusrule-alerts-api-alerts.yaml"));
    assert!(slo_problems(&p, &gone).iter().any(|p| p.contains("alerts-api has no SLOAvailabilityBudgetBurn")));
    // The alerts come from the spec: an SLO declared on another workload gets its own.
    let spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../platform/cerverus.yaml"))
        .expect("spec");
    let variant = spec.replacen(
        "  - name: airflow-webserver\n",
        "  - name: airflow-webserver\n    slo: { availabilityPercent: 99.0, latencyP95Ms: 500 }\n",
        1,
    );
    assert_ne!(variant, spec, "the variant changes the spec");
    let loaded = cerverus_spec::load("variant.yaml", &variant).expect("variant loads");
    let (vp, vb) = cerverus::build_bundle("variant.yaml", &loaded, &[]).expect("variant builds");
    assert!(slo_problems(&vp, &vb).is_empty(), "{}", slo_problems(&vp, &vb).join("\n"));
    let rule = yaml(&text(&vb, "kubernetes/prod/cerverus-data/prometheusrule-airflow-webserver-alerts.yaml"), "rule");
    assert!(alerts_of(&rule).iter().any(
        |a| a["alert"] == "SLOLatencyBudgetBurn" && a["expr"].as_str().is_some_and(|e| e.contains("(14.4 * 0.05)"))
    ));
}

// ---- Every workload with metrics has a monitor; every meshed namespace's sidecars are scraped ----

fn matches(selector: &Value, labels: &Value) -> bool {
    let by_labels = selector["matchLabels"].as_object().into_iter().flatten().all(|(k, v)| labels[k] == *v);
    let by_expr = selector["matchExpressions"].as_array().into_iter().flatten().all(|e| match e["operator"].as_str() {
        Some("Exists") => labels.get(e["key"].as_str().unwrap_or("")).is_some(),
        _ => false,
    });
    by_labels && by_expr
}

/// Problems: a workload's `metrics` port or a meshed namespace's sidecars that no PodMonitor
/// in the namespace scrapes.
fn monitor_problems(platform: &cerverus_model::Platform, b: &Bundle) -> Vec<String> {
    let mut problems = Vec::new();
    for env in &platform.environments {
        let objs = objects(b, &env.name);
        let monitors =
            |ns: String| kind(&objs, "PodMonitor").filter(move |m| m["metadata"]["namespace"] == ns.as_str());
        for w in &env.workloads {
            let Some(port) = w.metrics_port() else { continue };
            let template = kind(&objs, "Deployment")
                .chain(kind(&objs, "StatefulSet"))
                .chain(kind(&objs, "Rollout"))
                .find(|o| o["metadata"]["name"] == w.name() && o["metadata"]["namespace"] == w.namespace())
                .map(|o| o["spec"]["template"]["metadata"]["labels"].clone());
            let Some(labels) = template else {
                problems.push(format!("{}: {} has no Deployment/StatefulSet/Rollout", env.name, w.name()));
                continue;
            };
            let scraped = monitors(w.namespace().to_string()).any(|m| {
                matches(&m["spec"]["selector"], &labels)
                    && m["spec"]["podMetricsEndpoints"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| e["port"] == port.name.as_str())
            });
            if !scraped {
                problems.push(format!("{}: no PodMonitor scrapes {}'s {} port", env.name, w.name(), port.name));
            }
        }
        let sidecar = serde_json::json!({"security.istio.io/tlsMode": "istio"});
        for ns in env.namespaces.iter().filter(|n| n.istio_injection) {
            let scraped = monitors(ns.name.clone()).any(|m| {
                matches(&m["spec"]["selector"], &sidecar)
                    && m["spec"]["podMetricsEndpoints"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| e["port"] == "http-envoy-prom" && e["path"] == "/stats/prometheus")
            });
            if !scraped {
                problems.push(format!("{}: no PodMonitor scrapes the sidecars of {}", env.name, ns.name));
            }
        }
    }
    problems
}

#[test]
fn every_workload_with_metrics_and_every_meshed_namespace_is_scraped() {
    let (p, b) = bundle();
    let problems = monitor_problems(&p, &b);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let gone = without(&b, |path| {
        path.ends_with("cerverus-data/podmonitor-stream-processor.yaml")
            || path.ends_with("cerverus-ml/podmonitor-envoy-stats.yaml")
    });
    let found = monitor_problems(&p, &gone);
    assert!(found.iter().any(|p| p.contains("stream-processor's metrics port")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("sidecars of cerverus-ml")), "{found:?}");
}

// ---- Every PromQL query parses ----

/// Every PromQL query of an environment: (where, query) from PrometheusRules, KEDA triggers,
/// Argo Rollouts analyses and the dashboards' panels.
fn promql_queries(b: &Bundle, env: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, o) in objects(b, env) {
        for a in o["spec"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        {
            if let Some(e) = a["expr"].as_str() {
                out.push((path.clone(), e.to_string()));
            }
        }
        for t in o["spec"]["triggers"].as_array().into_iter().flatten().filter(|t| t["type"] == "prometheus") {
            if let Some(q) = t["metadata"]["query"].as_str() {
                out.push((path.clone(), q.to_string()));
            }
        }
        for m in o["spec"]["metrics"].as_array().into_iter().flatten() {
            if let Some(q) = m["provider"]["prometheus"]["query"].as_str() {
                out.push((path.clone(), q.to_string()));
            }
        }
        if o["kind"] == "ConfigMap" && o["metadata"]["labels"]["grafana_dashboard"] == "1" {
            for (key, json) in o["data"].as_object().into_iter().flatten() {
                let dashboard: Value = serde_json::from_str(json.as_str().unwrap_or("")).unwrap_or(Value::Null);
                for q in cerverus_render::kubernetes::dashboards::queries(&dashboard) {
                    out.push((format!("{path} {key}"), q));
                }
            }
        }
    }
    out
}

fn unparsable(queries: &[(String, String)]) -> Vec<String> {
    queries
        .iter()
        .filter_map(|(w, q)| cerverus_check::rules::promql::parse(q).err().map(|e| format!("{w}: {e}: {q}")))
        .collect()
}

#[test]
fn every_promql_query_parses() {
    let (p, b) = bundle();
    for env in envs(&p) {
        let queries = promql_queries(&b, &env);
        let from_dashboards = queries.iter().filter(|(w, _)| w.contains("configmap-dashboard-")).count();
        assert!(from_dashboards >= 20, "{env}: only {from_dashboards} dashboard queries found");
        assert!(queries.iter().any(|(w, _)| w.contains("scaledobject-")), "{env}: no KEDA query found");
        let bad = unparsable(&queries);
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
    let broken = vec![("planted".to_string(), "sum(rate(istio_requests_total[5m]) by (pod)".to_string())];
    assert_eq!(unparsable(&broken).len(), 1, "a broken query must not parse");
}

// ---- Dashboards are JSON the Grafana sidecar loads ----

#[test]
fn dashboards_are_json_configmaps_the_grafana_sidecar_loads() {
    let (p, b) = bundle();
    for env in envs(&p) {
        let values = yaml(&text(&b, &format!("helm/addons/{env}/kube-prometheus-stack.values.yaml")), "values");
        let sidecar = &values["grafana"]["sidecar"]["dashboards"];
        assert_eq!(sidecar["enabled"], true);
        assert_eq!(sidecar["searchNamespace"], "ALL");
        let (label, value) =
            (sidecar["label"].as_str().expect("label"), sidecar["labelValue"].as_str().expect("value"));
        let objs = objects(&b, &env);
        let mut uids = BTreeSet::new();
        for cm in kind(&objs, "ConfigMap").filter(|c| c["metadata"]["labels"][label] == value) {
            for (key, json) in cm["data"].as_object().into_iter().flatten() {
                let d: Value =
                    serde_json::from_str(json.as_str().unwrap_or("")).unwrap_or_else(|e| panic!("{key}: {e}"));
                assert!(key.ends_with(".json"), "{key}: the sidecar loads *.json keys");
                assert!(d["panels"].as_array().is_some_and(|p| !p.is_empty()), "{key}: no panels");
                assert!(uids.insert(d["uid"].as_str().expect("uid").to_string()), "{key}: duplicate uid");
            }
        }
        let want: BTreeSet<String> = [
            "cerverus-services-red",
            "cerverus-slos",
            "cerverus-platform",
            "cerverus-autoscaling",
            "cerverus-business",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(uids, want, "{env}");
        // Datasources: Prometheus and Alertmanager from the chart's sidecar, Jaeger and OpenSearch.
        let ds = &values["grafana"]["sidecar"]["datasources"];
        assert_eq!(ds["defaultDatasourceEnabled"], true);
        assert_eq!(ds["alertmanager"]["enabled"], true);
        let extra: BTreeMap<String, String> = values["grafana"]["additionalDataSources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (d["type"].as_str().unwrap_or("").to_string(), d["url"].as_str().unwrap_or("").to_string()))
            .collect();
        assert_eq!(extra["jaeger"], "http://jaeger.cerverus-monitoring.svc:16686");
        let os = cerverus_render::addons::opensearch_service();
        assert_eq!(
            extra["grafana-opensearch-datasource"],
            format!("https://{}.{}.svc:{}", os.name, os.namespace, os.port)
        );
        assert_eq!(values["grafana"]["admin"]["existingSecret"], "grafana-admin");
        assert!(kind(&objs, "ExternalSecret").any(|e| e["metadata"]["name"] == "grafana-admin"));
    }
}

// ---- Alertmanager: amtool, routing by severity, credentials from mounted secrets ----

fn alertmanager_config(b: &Bundle, env: &str) -> Value {
    let values = yaml(&text(b, &format!("helm/addons/{env}/kube-prometheus-stack.values.yaml")), "values");
    values["alertmanager"]["config"].clone()
}

/// `amtool check-config` on a configuration: Some(passed, output), None when amtool is absent.
fn amtool(config: &Value) -> Option<(bool, String)> {
    if !on_path("amtool") {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alertmanager.yaml");
    std::fs::write(&path, serde_json::to_string_pretty(config).expect("json")).expect("write");
    let out = Command::new("amtool").arg("check-config").arg(&path).output().ok()?;
    Some((
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    ))
}

/// The receiver a route sends `severity` alerts to (first matching child route).
fn receiver_for(config: &Value, severity: &str) -> Option<String> {
    let m = format!("severity = \"{severity}\"");
    config["route"]["routes"]
        .as_array()?
        .iter()
        .find(|r| r["matchers"].as_array().is_some_and(|ms| ms.iter().any(|x| x == m.as_str())))
        .and_then(|r| r["receiver"].as_str().map(str::to_string))
}

#[test]
fn alertmanager_routes_by_severity_with_credentials_from_mounted_secrets() {
    let (p, b) = bundle();
    for env in envs(&p) {
        let config = alertmanager_config(&b, &env);
        match amtool(&config) {
            Some((ok, out)) => assert!(ok, "{env}: amtool check-config fails:\n{out}"),
            None => {
                println!("SKIPPED: amtool is not on PATH; the configuration was not checked by Alertmanager's parser")
            }
        }
        let receiver = |name: &str| {
            config["receivers"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["name"] == name)
                .cloned()
                .unwrap_or(Value::Null)
        };
        let pager = receiver(&receiver_for(&config, "critical").expect("critical route"));
        let chat = receiver(&receiver_for(&config, "warning").expect("warning route"));
        let info = receiver(&receiver_for(&config, "info").expect("info route"));
        assert!(
            info.as_object().is_some_and(|o| o.len() == 1),
            "{env}: info alerts go to a receiver with no integration"
        );
        let key_file = pager["pagerduty_configs"][0]["routing_key_file"].as_str().expect("routing_key_file");
        let url_file = chat["slack_configs"][0]["api_url_file"].as_str().expect("api_url_file");
        // Both files live in a Secret the operator mounts, and that Secret comes from an ExternalSecret.
        let values = yaml(&text(&b, &format!("helm/addons/{env}/kube-prometheus-stack.values.yaml")), "values");
        let objs = objects(&b, &env);
        for file in [key_file, url_file] {
            let secret = file
                .strip_prefix("/etc/alertmanager/secrets/")
                .and_then(|r| r.split('/').next())
                .expect("mounted path");
            assert!(
                values["alertmanager"]["alertmanagerSpec"]["secrets"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == secret))
            );
            let es = kind(&objs, "ExternalSecret").find(|e| e["metadata"]["name"] == secret).expect("ExternalSecret");
            let key = file.rsplit('/').next().expect("key");
            assert!(
                es["spec"]["data"].as_array().is_some_and(|d| d.iter().any(|x| x["secretKey"] == key)),
                "{secret}/{key}"
            );
        }
        // A critical alert inhibits the warning of the same alertname and namespace.
        assert!(config["inhibit_rules"].as_array().into_iter().flatten().any(|r| {
            r["source_matchers"] == serde_json::json!(["severity = \"critical\""])
                && r["target_matchers"][0].as_str().is_some_and(|t| t.contains("warning"))
                && r["equal"] == serde_json::json!(["alertname", "namespace"])
        }));
    }
    // A route to a receiver that does not exist is rejected by amtool.
    let mut broken = alertmanager_config(&b, "prod");
    broken["route"]["routes"][1]["receiver"] = "nobody".into();
    if let Some((ok, _)) = amtool(&broken) {
        assert!(!ok, "amtool accepted a route to an undefined receiver");
    }
    assert_eq!(receiver_for(&serde_json::json!({"route": {"routes": []}}), "critical"), None);
}

// ---- Alerts carry what Alertmanager and people need ----

fn convention_problems(b: &Bundle, env: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for rule in kind(&objects(b, env), "PrometheusRule") {
        let name = rule["metadata"]["name"].as_str().unwrap_or("?");
        for a in alerts_of(rule) {
            let alert = a["alert"].as_str().unwrap_or("?");
            if !matches!(a["labels"]["severity"].as_str(), Some("critical" | "warning" | "info")) {
                problems.push(format!("{name}/{alert}: severity {}", a["labels"]["severity"]));
            }
            if a["labels"]["team"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{name}/{alert}: no team"));
            }
            for k in ["summary", "description"] {
                if a["annotations"][k].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("{name}/{alert}: no {k}"));
                }
            }
            if !a["annotations"]["runbook_url"].as_str().is_some_and(|u| {
                u.starts_with("https://github.com/cerverus/platform/blob/main/docs/runbooks/") && u.ends_with(".md")
            }) {
                problems.push(format!("{name}/{alert}: runbook_url {}", a["annotations"]["runbook_url"]));
            }
        }
    }
    problems
}

#[test]
fn every_alert_has_severity_team_and_a_runbook() {
    let (p, b) = bundle();
    for env in envs(&p) {
        let problems = convention_problems(&b, &env);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
    let path = "kubernetes/prod/cerverus-monitoring/prometheusrule-platform-alerts.yaml";
    let broken = replaced(&b, path, &text(&b, path).replace("severity: warning", "severity: page"));
    assert!(!convention_problems(&broken, "prod").is_empty());
}

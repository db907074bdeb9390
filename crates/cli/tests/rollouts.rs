//! Progressive delivery: canary and blue-green workloads run as Argo Rollouts with the very pod
//! template of their Deployment, analysed against their SLO from Istio metrics (an analysis
//! that can fail), wired to the mesh objects, Services and autoscalers that exist in the bundle;
//! migrations run as PreSync hooks; feature flags come from a mounted ConfigMap; and the checker
//! judges a Rollout's pods exactly as it judges a Deployment's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cerverus_bundle::Bundle;
use cerverus_render::kubernetes::rollouts::{
    CANARY_SUBSET, FEATURE_FLAGS_DIR, FEATURE_FLAGS_ENV, FEATURE_FLAGS_KEY, PRIMARY_ROUTE, STABLE_SUBSET,
    preview_service_name,
};
use cerverus_spec::{RolloutStrategy, WorkloadKind};
use serde_json::{Value, json};

fn bundle() -> (cerverus_model::Platform, Bundle) {
    cerverus::build_default().expect("default spec builds")
}

/// Every Kubernetes object of `env`: (path, object).
fn objects(b: &Bundle, env: &str) -> Vec<(String, Value)> {
    let prefix = format!("kubernetes/{env}/");
    b.iter()
        .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(".yaml"))
        .map(|(p, bytes)| {
            let text = std::str::from_utf8(bytes).expect("utf8");
            let v: Value = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{p}: {e}"));
            (p.to_string(), v)
        })
        .collect()
}

fn find<'a>(objs: &'a [(String, Value)], kind: &str, ns: &str, name: &str) -> Vec<&'a Value> {
    objs.iter()
        .map(|(_, v)| v)
        .filter(|v| v["kind"] == kind && v["metadata"]["namespace"] == ns && v["metadata"]["name"] == name)
        .collect()
}

fn progressive(w: &cerverus_model::Workload) -> bool {
    w.spec.kind == WorkloadKind::Deployment && w.spec.rollout != RolloutStrategy::Rolling
}

/// Every `templateName` a Rollout's strategy names (steps, background, pre/post promotion).
fn template_names(rollout: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(n) = m.get("templateName").and_then(Value::as_str) {
                    out.push(n.to_string());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&rollout["spec"]["strategy"], &mut out);
    out
}

// ---- A small evaluator for the analysis conditions this bundle emits ----
//
// Argo Rollouts evaluates `successCondition`/`failureCondition` with expr-lang over `result`
// (the Prometheus vector's values). The bundle only emits conjunctions of these terms:
// `len(result) == N`, `!isNaN(result[0])`, `result[0] <op> <number>`. Anything else fails the
// test, so a new form of condition must be taught here before it ships.

fn term(t: &str, result: &[f64]) -> bool {
    let t = t.trim();
    if let Some(n) = t.strip_prefix("len(result) == ") {
        return result.len() == n.trim().parse::<usize>().expect("len operand");
    }
    if t == "!isNaN(result[0])" {
        return result.first().is_some_and(|x| !x.is_nan());
    }
    let rest = t.strip_prefix("result[0] ").unwrap_or_else(|| panic!("unknown condition term `{t}`"));
    let (op, num) = rest.split_once(' ').unwrap_or_else(|| panic!("bad comparison `{t}`"));
    let rhs: f64 = num.trim().parse().unwrap_or_else(|_| panic!("bad number in `{t}`"));
    let Some(&x) = result.first() else { panic!("`{t}` indexes an empty result: expr would error") };
    match op {
        ">=" => x >= rhs,
        "<=" => x <= rhs,
        ">" => x > rhs,
        "<" => x < rhs,
        _ => panic!("unknown operator in `{t}`"),
    }
}

/// expr-lang's `&&` short-circuits: a guard (`len(result) == 1`) keeps later terms from
/// indexing an empty result.
fn eval(cond: &str, result: &[f64]) -> bool {
    cond.split("&&").all(|t| term(t, result))
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Successful,
    Failed,
    Inconclusive,
}

/// How Argo Rollouts judges one measurement with both conditions set.
fn judge(metric: &Value, result: &[f64]) -> Outcome {
    let s = metric["successCondition"].as_str().expect("successCondition");
    let f = metric["failureCondition"].as_str().expect("failureCondition");
    match (eval(s, result), eval(f, result)) {
        (_, true) => Outcome::Failed,
        (true, false) => Outcome::Successful,
        (false, false) => Outcome::Inconclusive,
    }
}

#[test]
fn the_condition_evaluator_reads_the_forms_it_claims() {
    let c = "len(result) == 1 && !isNaN(result[0]) && result[0] >= 0.999";
    assert!(eval(c, &[0.9995]));
    assert!(!eval(c, &[0.99]));
    assert!(!eval(c, &[f64::NAN]));
    assert!(!eval(c, &[]));
}

#[test]
fn every_canary_and_blue_green_workload_has_exactly_one_rollout_and_no_deployment() {
    let (platform, b) = bundle();
    let mut seen = BTreeSet::new();
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        for w in env.workloads.iter().filter(|w| progressive(w)) {
            let ns = w.namespace();
            assert_eq!(find(&objs, "Rollout", ns, w.name()).len(), 1, "{}: {} Rollouts", env.name, w.name());
            assert!(
                find(&objs, "Deployment", ns, w.name()).is_empty(),
                "{}: {} still a Deployment",
                env.name,
                w.name()
            );
            seen.insert(format!("{:?}", w.spec.rollout));
        }
        // And the other way round: no Rollout for a rolling workload.
        for (path, r) in objs.iter().filter(|(_, v)| v["kind"] == "Rollout") {
            let w = env.workload(r["metadata"]["name"].as_str().unwrap_or_default()).expect("workload");
            assert!(progressive(w), "{path}: Rollout of a rolling workload");
            assert_eq!(r["apiVersion"], "argoproj.io/v1alpha1", "{path}");
        }
    }
    // The default spec exercises both strategies.
    assert_eq!(seen, BTreeSet::from(["BlueGreen".to_string(), "Canary".to_string()]));
}

/// The Rollout's pod template is the Deployment's: built from the spec with `rollout:` removed
/// (rolling), the same workload's Deployment has the identical template, selector and
/// replicas, so every hardening, probe, mount and scheduling rule carries over.
#[test]
fn a_rollout_carries_exactly_the_pod_template_of_the_deployment_it_replaces() {
    let (_, b) = bundle();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../platform/cerverus.yaml");
    let text = std::fs::read_to_string(&path).expect("spec");
    let rolling = text.replace("    rollout: canary\n", "").replace("    rollout: blueGreen\n", "");
    assert_ne!(rolling, text, "the default spec names no canary/blue-green workload");
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("rolling.yaml");
    std::fs::write(&file, rolling).expect("write");
    let (name, loaded) = cerverus::load_spec(Some(&file)).expect("variant loads");
    let (platform, plain) = cerverus::build_bundle(&name, &loaded, &[]).expect("variant builds");
    let mut compared = 0;
    for env in &platform.environments {
        let with = objects(&b, &env.name);
        let without = objects(&plain, &env.name);
        for (_, r) in with.iter().filter(|(_, v)| v["kind"] == "Rollout") {
            let (ns, n) =
                (r["metadata"]["namespace"].as_str().unwrap_or(""), r["metadata"]["name"].as_str().unwrap_or(""));
            let d = find(&without, "Deployment", ns, n);
            let d = d.first().unwrap_or_else(|| panic!("{}: no Deployment {n} in the rolling variant", env.name));
            for key in ["template", "selector", "replicas", "revisionHistoryLimit", "progressDeadlineSeconds"] {
                assert_eq!(
                    r["spec"][key], d["spec"][key],
                    "{}: {n} spec.{key} differs from the Deployment's",
                    env.name
                );
            }
            assert_eq!(r["metadata"]["labels"], d["metadata"]["labels"], "{}: {n}", env.name);
            compared += 1;
        }
    }
    assert!(compared >= 2, "compared {compared}");
}

#[test]
fn every_analysis_is_wired_and_fails_when_the_slo_is_missed() {
    let (platform, b) = bundle();
    let prometheus = cerverus_render::addons::prometheus_service().url();
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        for w in env.workloads.iter().filter(|w| progressive(w)) {
            let ns = w.namespace();
            let r = find(&objs, "Rollout", ns, w.name())[0];
            let names = template_names(r);
            assert!(!names.is_empty(), "{}: {} has no analysis", env.name, w.name());
            let slo = w.spec.slo.as_ref().expect("progressive workloads of the default spec declare an SLO");
            let availability = slo.availability_percent / 100.0;
            for t in &names {
                let found = find(&objs, "AnalysisTemplate", ns, t);
                assert_eq!(
                    found.len(),
                    1,
                    "{}: {} names AnalysisTemplate {t}, which is not rendered",
                    env.name,
                    w.name()
                );
                let metrics = found[0]["spec"]["metrics"].as_array().expect("metrics");
                let by_name: BTreeMap<&str, &Value> =
                    metrics.iter().map(|m| (m["name"].as_str().unwrap_or_default(), m)).collect();
                for m in metrics {
                    let where_ = format!("{}: {t}/{}", env.name, m["name"]);
                    let q = m["provider"]["prometheus"]["query"].as_str().expect("query");
                    promql_parser::parser::parse(q).unwrap_or_else(|e| panic!("{where_}: `{q}` does not parse: {e}"));
                    assert!(q.contains("istio_"), "{where_}: not an Istio metric: {q}");
                    assert!(q.contains(ns), "{where_}: query does not select the namespace: {q}");
                    assert_eq!(m["provider"]["prometheus"]["address"], prometheus.as_str(), "{where_}");
                    // A run must be able to end in failure: a bounded failure limit, and measurements.
                    assert!(m["failureLimit"].as_i64().is_some_and(|l| l >= 0), "{where_}");
                    assert!(
                        m["count"].as_i64().is_some_and(|c| c > m["failureLimit"].as_i64().unwrap_or(0)),
                        "{where_}"
                    );
                    assert!(m["interval"].is_string(), "{where_}");
                    // No traffic (empty vector, NaN from 0/0) is inconclusive, never a pass.
                    assert_eq!(judge(m, &[]), Outcome::Inconclusive, "{where_}: empty result");
                    assert_eq!(judge(m, &[f64::NAN]), Outcome::Inconclusive, "{where_}: NaN");
                }
                let sr = by_name.get("success-rate").unwrap_or_else(|| panic!("{t}: no success-rate metric"));
                assert!(
                    sr["provider"]["prometheus"]["query"]
                        .as_str()
                        .is_some_and(|q| q.contains(r#"response_code!~"5..""#))
                );
                assert_eq!(judge(sr, &[availability]), Outcome::Successful, "{t}: at the SLO");
                assert_eq!(judge(sr, &[1.0]), Outcome::Successful, "{t}: no errors");
                assert_eq!(judge(sr, &[availability - 0.0001]), Outcome::Failed, "{t}: just below the SLO");
                assert_eq!(judge(sr, &[0.5]), Outcome::Failed, "{t}: half the requests fail");
                if let Some(ms) = slo.latency_p95_ms {
                    let lat = by_name.get("latency-p95").unwrap_or_else(|| panic!("{t}: no latency-p95 metric"));
                    let ms = f64::from(ms);
                    assert!(
                        lat["provider"]["prometheus"]["query"]
                            .as_str()
                            .is_some_and(|q| q.starts_with("histogram_quantile(0.95,"))
                    );
                    assert_eq!(judge(lat, &[ms]), Outcome::Successful, "{t}: at the SLO");
                    assert_eq!(judge(lat, &[ms + 1.0]), Outcome::Failed, "{t}: above the SLO");
                    // Every request in the +Inf bucket: histogram_quantile returns +Inf.
                    assert_eq!(judge(lat, &[f64::INFINITY]), Outcome::Failed, "{t}: +Inf p95");
                }
            }
        }
    }
}

#[test]
fn canary_routing_names_the_virtual_service_destination_rule_and_subsets_in_the_bundle() {
    let (platform, b) = bundle();
    let mut canaries = 0;
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        for w in env.workloads.iter().filter(|w| progressive(w) && w.spec.rollout == RolloutStrategy::Canary) {
            let ns = w.namespace();
            let r = find(&objs, "Rollout", ns, w.name())[0];
            let c = &r["spec"]["strategy"]["canary"];
            let istio = &c["trafficRouting"]["istio"];
            assert_eq!(istio["virtualService"]["routes"], json!([PRIMARY_ROUTE]), "{}", env.name);
            assert_eq!(istio["destinationRule"]["canarySubsetName"], CANARY_SUBSET);
            assert_eq!(istio["destinationRule"]["stableSubsetName"], STABLE_SUBSET);
            // Weights climb to the full promotion, in steps no larger than the 25% surge the
            // capacity model and quotas allow for (dynamicStableScale shrinks stable as it goes).
            assert_eq!(c["dynamicStableScale"], true);
            let weights: Vec<i64> =
                c["steps"].as_array().expect("steps").iter().filter_map(|s| s["setWeight"].as_i64()).collect();
            let surge = i64::from(cerverus_model::capacity::DEPLOYMENT_MAX_SURGE_PERCENT);
            assert!(weights.first().is_some_and(|w| *w <= surge), "{weights:?}");
            assert!(weights.windows(2).all(|p| p[0] < p[1] && p[1] - p[0] <= surge), "{weights:?}");
            assert!(weights.last().is_some_and(|w| 100 - w <= surge), "{weights:?}");
            assert!(c["steps"].as_array().expect("steps").iter().any(|s| s["analysis"].is_object()));

            let vs_name = istio["virtualService"]["name"].as_str().expect("vs name");
            let vs = find(&objs, "VirtualService", ns, vs_name);
            assert_eq!(vs.len(), 1, "{}: VirtualService {ns}/{vs_name} is not rendered", env.name);
            let route = vs[0]["spec"]["http"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|h| h["name"] == PRIMARY_ROUTE)
                .unwrap_or_else(|| panic!("{}: VirtualService {vs_name} has no route {PRIMARY_ROUTE}", env.name));
            let subsets: BTreeSet<&str> = route["route"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["destination"]["subset"].as_str())
                .collect();
            assert_eq!(subsets, BTreeSet::from([STABLE_SUBSET, CANARY_SUBSET]), "{}: {vs_name} route", env.name);

            let dr_name = istio["destinationRule"]["name"].as_str().expect("dr name");
            let dr = find(&objs, "DestinationRule", ns, dr_name);
            assert_eq!(dr.len(), 1, "{}: DestinationRule {ns}/{dr_name} is not rendered", env.name);
            let names: BTreeSet<&str> =
                dr[0]["spec"]["subsets"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str()).collect();
            assert!(
                names.contains(STABLE_SUBSET) && names.contains(CANARY_SUBSET),
                "{}: {dr_name}: {names:?}",
                env.name
            );
            canaries += 1;
        }
    }
    assert!(canaries > 0);
}

#[test]
fn blue_green_switches_between_services_that_select_its_pods() {
    let (platform, b) = bundle();
    let mut checked = 0;
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        for w in env.workloads.iter().filter(|w| progressive(w) && w.spec.rollout == RolloutStrategy::BlueGreen) {
            let ns = w.namespace();
            let r = find(&objs, "Rollout", ns, w.name())[0];
            let bg = &r["spec"]["strategy"]["blueGreen"];
            assert_eq!(bg["activeService"], w.name());
            assert_eq!(bg["previewService"], preview_service_name(w.name()).as_str());
            // Production waits for a person; elsewhere the preview is promoted after its analysis.
            assert_eq!(bg["autoPromotionEnabled"], !env.is_production(), "{}", env.name);
            assert!(bg["scaleDownDelaySeconds"].as_i64().is_some_and(|s| s >= 30), "rollback window");
            assert!(bg["prePromotionAnalysis"]["templates"].is_array());
            assert!(bg["postPromotionAnalysis"]["templates"].is_array());
            let active = find(&objs, "Service", ns, w.name());
            let preview_name = preview_service_name(w.name());
            let preview = find(&objs, "Service", ns, &preview_name);
            assert_eq!((active.len(), preview.len()), (1, 1), "{}: {ns}", env.name);
            assert_eq!(active[0]["spec"]["selector"], preview[0]["spec"]["selector"]);
            assert_eq!(active[0]["spec"]["ports"], preview[0]["spec"]["ports"]);
            let pod_labels = &r["spec"]["template"]["metadata"]["labels"];
            for (k, v) in preview[0]["spec"]["selector"].as_object().expect("selector") {
                assert_eq!(&pod_labels[k], v, "{}: preview selects {k}={v}, the pods do not carry it", env.name);
            }
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[test]
fn autoscalers_target_the_rollout_and_the_budget_selects_its_pods() {
    let (platform, b) = bundle();
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        for w in env.workloads.iter().filter(|w| progressive(w)) {
            let ns = w.namespace();
            let r = find(&objs, "Rollout", ns, w.name())[0];
            let mut refs = 0;
            for (kind, field) in [
                ("HorizontalPodAutoscaler", "scaleTargetRef"),
                ("ScaledObject", "scaleTargetRef"),
                ("VerticalPodAutoscaler", "targetRef"),
            ] {
                for s in find(&objs, kind, ns, w.name()) {
                    let t = &s["spec"][field];
                    assert_eq!(
                        (&t["apiVersion"], &t["kind"], &t["name"]),
                        (&json!("argoproj.io/v1alpha1"), &json!("Rollout"), &json!(w.name())),
                        "{}: {kind} {}",
                        env.name,
                        w.name()
                    );
                    refs += 1;
                }
            }
            assert!(
                refs >= 2,
                "{}: {} has {refs} autoscaler references (expected a scaler and a VPA)",
                env.name,
                w.name()
            );
            // The Rollout leaves replicas to its autoscaler, like the Deployment did.
            if w.spec.autoscaling.is_some() {
                assert!(r["spec"]["replicas"].is_null(), "{}: {}", env.name, w.name());
            }
            let pods = &r["spec"]["template"]["metadata"]["labels"];
            let pdb = find(&objs, "PodDisruptionBudget", ns, w.name());
            let min = w.spec.autoscaling.as_ref().map_or(w.spec.replicas, |a| a.min.min(w.spec.replicas));
            assert_eq!(pdb.len(), usize::from(min > 1), "{}: {} budgets", env.name, w.name());
            for p in pdb {
                for (k, v) in p["spec"]["selector"]["matchLabels"].as_object().expect("matchLabels") {
                    assert_eq!(&pods[k], v, "{}: budget {k}", env.name);
                }
            }
        }
    }
}

#[test]
fn feature_flags_are_a_mounted_config_map_file_the_pod_template_does_not_hash() {
    let (platform, b) = bundle();
    let mut checked = 0;
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        for w in env.workloads.iter().filter(|w| !w.spec.feature_flags.is_empty()) {
            let ns = w.namespace();
            let cm_name = format!("{}-feature-flags", w.name());
            let cm = find(&objs, "ConfigMap", ns, &cm_name);
            assert_eq!(cm.len(), 1, "{}: {cm_name}", env.name);
            let file = cm[0]["data"][FEATURE_FLAGS_KEY].as_str().expect("flags file");
            let flags: BTreeMap<String, bool> = serde_json::from_str(file).expect("flags are JSON");
            assert_eq!(flags, w.spec.feature_flags, "{}: {cm_name}", env.name);
            let kind = if progressive(w) { "Rollout" } else { "Deployment" };
            let pod = &find(&objs, kind, ns, w.name())[0]["spec"]["template"];
            // Nothing derived from the flags is in the pod template: a flag change rolls nothing.
            assert!(!pod.to_string().contains(file), "{}: flags inlined in the pod template", env.name);
            let vol = pod["spec"]["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["configMap"]["name"] == cm_name.as_str())
                .unwrap_or_else(|| panic!("{}: {cm_name} is not a volume of {}", env.name, w.name()));
            let c = &pod["spec"]["containers"][0];
            let mount = c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["name"] == vol["name"])
                .expect("flags volume mounted");
            // A whole-directory mount (no subPath): the kubelet updates it in place.
            assert_eq!(mount["mountPath"], FEATURE_FLAGS_DIR);
            assert!(mount["subPath"].is_null());
            assert_eq!(mount["readOnly"], true);
            let var =
                c["env"].as_array().into_iter().flatten().find(|e| e["name"] == FEATURE_FLAGS_ENV).expect("env var");
            assert_eq!(var["value"], format!("{FEATURE_FLAGS_DIR}/{FEATURE_FLAGS_KEY}").as_str());
            checked += 1;
        }
    }
    assert!(checked > 0, "the default spec declares feature flags");
}

/// Migrations are PreSync hooks: they run before any object of the workload Application, so
/// everything their pod needs must be a prerequisite kind (synced by an earlier Application):
/// ServiceAccount, Secrets (from ExternalSecrets), ConfigMaps, the namespace's NetworkPolicies.
#[test]
fn migrations_run_as_presync_hooks_whose_needs_are_all_prerequisites() {
    let (platform, b) = bundle();
    let mut jobs = 0;
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        for (path, j) in objs.iter().filter(|(_, v)| v["kind"] == "Job") {
            let a = &j["metadata"]["annotations"];
            // A bootstrap that needs its service running (OpenSearch's index policies) is a
            // PostSync hook by its renderer's choice; every other Job runs before the workloads.
            if a["argocd.argoproj.io/hook"] == "PostSync" {
                continue;
            }
            assert_eq!(a["argocd.argoproj.io/hook"], "PreSync", "{path}");
            assert_eq!(a["argocd.argoproj.io/hook-delete-policy"], "BeforeHookCreation", "{path}");
            let ns = j["metadata"]["namespace"].as_str().expect("ns");
            let pod = &j["spec"]["template"]["spec"];
            let sa = pod["serviceAccountName"].as_str().unwrap_or("default");
            let mut needs: Vec<(&str, String)> = Vec::new();
            if sa != "default" {
                needs.push(("ServiceAccount", sa.into()));
            }
            for v in pod["volumes"].as_array().into_iter().flatten() {
                if let Some(s) = v["secret"]["secretName"].as_str() {
                    needs.push(("ExternalSecret", s.into()));
                }
                if let Some(c) = v["configMap"]["name"].as_str() {
                    needs.push(("ConfigMap", c.into()));
                }
            }
            for c in pod["containers"].as_array().into_iter().flatten() {
                for e in c["envFrom"].as_array().into_iter().flatten() {
                    if let Some(n) = e["configMapRef"]["name"].as_str() {
                        needs.push(("ConfigMap", n.into()));
                    }
                }
            }
            for (kind, name) in &needs {
                let found = objs.iter().find(|(_, o)| {
                    o["kind"] == *kind
                        && o["metadata"]["namespace"] == ns
                        && (o["metadata"]["name"] == name.as_str() || o["spec"]["target"]["name"] == name.as_str())
                });
                let (p, _) = found.unwrap_or_else(|| panic!("{path}: needs {kind} {name}, not rendered"));
                assert!(
                    cerverus_render::kubernetes::is_prerequisite(kind),
                    "{path}: {kind} is not a prerequisite kind"
                );
                // The Job itself is not: it runs with the workloads, before them.
                assert!(!p.ends_with(path), "{path}");
            }
            assert!(!cerverus_render::kubernetes::is_prerequisite("Job"));
            for kind in ["Namespace", "NetworkPolicy", "ResourceQuota", "ServiceAccount", "ExternalSecret", "ConfigMap"]
            {
                assert!(cerverus_render::kubernetes::is_prerequisite(kind), "{kind}");
            }
            for kind in ["Deployment", "Rollout", "StatefulSet", "Service"] {
                assert!(!cerverus_render::kubernetes::is_prerequisite(kind), "{kind}");
            }
            jobs += 1;
        }
    }
    assert!(jobs > 0);
}

/// When gitops renders Applications, the one that carries an environment's Jobs comes in a
/// later sync wave than every Application carrying the prerequisite kinds of the Jobs'
/// namespaces: on the first sync, the PreSync migration finds its account, secrets and
/// network policies in place.
#[test]
fn the_application_with_the_presync_migrations_syncs_after_their_prerequisites() {
    let (_, b) = bundle();
    let apps: Vec<(String, Value)> = b
        .iter()
        .filter(|(p, _)| p.starts_with("gitops/") && p.ends_with(".yaml"))
        .filter_map(|(p, bytes)| {
            let v: Value = serde_saphyr::from_str(std::str::from_utf8(bytes).ok()?).ok()?;
            (v["kind"] == "Application").then(|| (p.to_string(), v))
        })
        .collect();
    assert!(!apps.is_empty(), "gitops renders no Argo CD Application yet: the PreSync order is unproven");
    let wave = |a: &Value| {
        a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .and_then(|w| w.parse::<i64>().ok())
            .unwrap_or(0)
    };
    // Applications by the Kubernetes directory they sync and the kind files they include.
    let carries = |a: &Value, env: &str, ns: &str, kind: &str| -> bool {
        let src = &a["spec"]["source"];
        let path = src["path"].as_str().unwrap_or_default();
        let dir = format!("kubernetes/{env}");
        if !(path.ends_with(&dir) || path.ends_with(&format!("{dir}/{ns}"))) {
            return false;
        }
        let file = format!("{ns}/{}-x.yaml", kind.to_ascii_lowercase());
        let matches =
            |pattern: &str| glob_match(pattern, &file) || glob_match(pattern, file.rsplit('/').next().unwrap_or(""));
        let include = src["directory"]["include"].as_str().unwrap_or("*");
        let exclude = src["directory"]["exclude"].as_str().unwrap_or("");
        alternatives(include).iter().any(|p| matches(p))
            && !alternatives(exclude).iter().any(|p| !p.is_empty() && matches(p))
    };
    for env in ["dev", "staging", "prod"] {
        let job_ns: BTreeSet<String> = objects(&b, env)
            .iter()
            .filter(|(_, v)| v["kind"] == "Job" && v["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync")
            .filter_map(|(_, v)| v["metadata"]["namespace"].as_str().map(String::from))
            .collect();
        for ns in &job_ns {
            let with_job: Vec<&(String, Value)> = apps.iter().filter(|(_, a)| carries(a, env, ns, "Job")).collect();
            assert_eq!(with_job.len(), 1, "{env}/{ns}: Jobs in {} Applications", with_job.len());
            let job_wave = wave(&with_job[0].1);
            // Every prerequisite kind the namespace holds: accounts, secrets, config, network
            // and mesh policies, registry entries (REGISTRY_ONLY: the database is unreachable
            // without its ServiceEntry).
            let kinds: BTreeSet<String> = objects(&b, env)
                .iter()
                .filter(|(_, v)| v["metadata"]["namespace"] == ns.as_str())
                .filter_map(|(_, v)| v["kind"].as_str().map(String::from))
                .filter(|k| cerverus_render::kubernetes::is_prerequisite(k))
                .collect();
            assert!(kinds.contains("ServiceAccount") && kinds.contains("NetworkPolicy"), "{env}/{ns}: {kinds:?}");
            for kind in &kinds {
                let carried: Vec<_> = apps.iter().filter(|(_, a)| carries(a, env, ns, kind)).collect();
                assert!(!carried.is_empty(), "{env}/{ns}: no Application syncs its {kind} objects");
                for (p, a) in carried {
                    assert!(
                        wave(a) < job_wave,
                        "{env}/{ns}: {kind} comes with {p} (wave {}), not before the PreSync Jobs' {} (wave {job_wave})",
                        wave(a),
                        with_job[0].0
                    );
                }
            }
        }
    }
}

/// `{a,b}` brace alternatives of an Argo CD directory include/exclude pattern.
fn alternatives(p: &str) -> Vec<String> {
    match (p.find('{'), p.rfind('}')) {
        (Some(i), Some(j)) if i < j => {
            p[i + 1..j].split(',').map(|alt| format!("{}{}{}", &p[..i], alt, &p[j + 1..])).collect()
        }
        _ => vec![p.to_string()],
    }
}

/// Shell-style `*` and `?` matching (Argo CD uses Go's `filepath.Match`; `*` stops at `/`).
fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (n.first().is_some_and(|c| *c != b'/') && go(p, &n[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &n[1..]),
            (Some(a), Some(c)) if a == c => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

// ---- The checker judges a Rollout's pods exactly like a Deployment's ----

/// Findings on `object` (as `Kind/ns/name`) with the kind dropped, so the same pods yield the
/// same set whatever owns them.
fn findings_for(dir: &Path, kind: &str, ns: &str, name: &str) -> BTreeSet<(String, String)> {
    let report = cerverus_check::check_paths(&[dir.to_path_buf()]).expect("checker loads");
    let id = format!("{kind}/{ns}/{name}");
    report
        .findings
        .iter()
        .filter(|f| f.waived.is_none() && f.object == id)
        .map(|f| (f.rule.clone(), f.message.replace(kind, "<workload>")))
        .collect()
}

/// `env`'s Kubernetes files in `dir`, with `edit` applied to each object first.
fn write_env(b: &Bundle, env: &str, dir: &Path, edit: &dyn Fn(&str, &mut Value) -> bool) {
    for (path, v) in objects(b, env) {
        let mut v = v;
        if !edit(&path, &mut v) {
            continue;
        }
        let file = dir.join(&path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, serde_json::to_string(&v).expect("json")).expect("write");
    }
}

/// The canary Rollout turned into the Deployment it replaces (the scalers follow it).
fn as_deployment(v: &mut Value, name: &str) {
    let is_it = |v: &Value, kind: &str| v["kind"] == kind && v["metadata"]["name"] == name;
    if is_it(v, "Rollout") {
        v["apiVersion"] = json!("apps/v1");
        v["kind"] = json!("Deployment");
        if let Some(spec) = v["spec"].as_object_mut() {
            spec.remove("progressDeadlineAbort");
            spec.insert(
                "strategy".into(),
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}),
            );
        }
    }
    for (kind, field) in [
        ("ScaledObject", "scaleTargetRef"),
        ("HorizontalPodAutoscaler", "scaleTargetRef"),
        ("VerticalPodAutoscaler", "targetRef"),
    ] {
        if is_it(v, kind) {
            v["spec"][field]["apiVersion"] = json!("apps/v1");
            v["spec"][field]["kind"] = json!("Deployment");
        }
    }
}

/// A privileged container with the host's network, and no NetworkPolicy of its own.
fn break_pods(v: &mut Value, name: &str) -> bool {
    if v["kind"] == "NetworkPolicy" && v["metadata"]["name"] == name {
        return false;
    }
    if matches!(v["kind"].as_str(), Some("Rollout" | "Deployment")) && v["metadata"]["name"] == name {
        let pod = &mut v["spec"]["template"]["spec"];
        pod["hostNetwork"] = json!(true);
        pod["containers"][0]["securityContext"]["privileged"] = json!(true);
        pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    }
    true
}

#[test]
fn the_checker_judges_a_rollouts_pods_exactly_like_a_deployments() {
    let (platform, b) = bundle();
    let env = "prod";
    let e = platform.environments.iter().find(|e| e.name == env).expect("prod");
    let w = e.workloads.iter().find(|w| progressive(w) && w.spec.rollout == RolloutStrategy::Canary).expect("a canary");
    let (ns, name) = (w.namespace().to_string(), w.name().to_string());
    let run = |to_deployment: bool, broken: bool| {
        let tmp = tempfile::tempdir().expect("tempdir");
        write_env(&b, env, tmp.path(), &|_, v| {
            if to_deployment {
                as_deployment(v, &name);
            }
            !broken || break_pods(v, &name)
        });
        let kind = if to_deployment { "Deployment" } else { "Rollout" };
        findings_for(tmp.path(), kind, &ns, &name)
    };
    // As rendered, neither form has a finding.
    assert_eq!(run(false, false), BTreeSet::new(), "the rendered Rollout");
    assert_eq!(run(true, false), BTreeSet::new(), "the same pods as a Deployment");
    // Broken the same way, both are judged the same way: privileged, host network, escalation,
    // and no NetworkPolicy selecting the pods.
    let as_rollout = run(false, true);
    let as_deployment = run(true, true);
    let rules: BTreeSet<&str> = as_rollout.iter().map(|(r, _)| r.as_str()).collect();
    assert!(rules.contains("CV-K8S-001"), "privileged container not reported on a Rollout: {as_rollout:?}");
    assert!(rules.len() >= 3, "{as_rollout:?}");
    assert_eq!(as_rollout, as_deployment);
}

/// The quota rule counts what a canary really runs at its peak: with Istio traffic routing the
/// stable ReplicaSet stays at 100 % while the canary grows, unless `dynamicStableScale` shrinks
/// it. The rendered Rollout fits its namespace's quota; without `dynamicStableScale` it needs a
/// full second set, which the quota (sized for 25 %) refuses.
#[test]
fn the_quota_rule_counts_a_canary_without_dynamic_stable_scale_as_a_second_set() {
    let (platform, b) = bundle();
    let env = "prod";
    let e = platform.environments.iter().find(|e| e.name == env).expect("prod");
    let w = e.workloads.iter().find(|w| progressive(w) && w.spec.rollout == RolloutStrategy::Canary).expect("a canary");
    let (ns, name) = (w.namespace().to_string(), w.name().to_string());
    let run = |static_stable: bool| {
        let tmp = tempfile::tempdir().expect("tempdir");
        write_env(&b, env, tmp.path(), &|_, v| {
            if static_stable && v["kind"] == "Rollout" && v["metadata"]["name"] == name.as_str() {
                v["spec"]["strategy"]["canary"].as_object_mut().map(|c| c.remove("dynamicStableScale"));
            }
            true
        });
        findings_for(tmp.path(), "ResourceQuota", &ns, "compute")
            .into_iter()
            .filter(|(rule, _)| rule == "CV-QUOTA-001")
            .collect::<Vec<_>>()
    };
    assert_eq!(run(false), Vec::new(), "the rendered canary fits its quota");
    let short = run(true);
    assert!(short.iter().any(|(_, m)| m.contains(&name)), "a full second set fits the quota?: {short:?}");
}

/// Every analysis query passes `promtool check rules` (Prometheus' own parser) as the expression
/// of a recording rule, where promtool is installed; `promql-parser` judges them in any case
/// (`every_analysis_is_wired_and_fails_when_the_slo_is_missed`).
#[test]
fn every_analysis_query_passes_promtool() {
    let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].into_iter().find(|p| Path::new(p).is_file());
    let (_, b) = bundle();
    let mut rules = Vec::new();
    for env in ["dev", "staging", "prod"] {
        for (path, t) in objects(&b, env).iter().filter(|(_, v)| v["kind"] == "AnalysisTemplate") {
            for m in t["spec"]["metrics"].as_array().into_iter().flatten() {
                let q = m["provider"]["prometheus"]["query"].as_str().unwrap_or_else(|| panic!("{path}: no query"));
                rules.push(json!({"record": format!("analysis:{}:{}", rules.len(), "check"), "expr": q}));
            }
        }
    }
    assert!(rules.len() >= 4, "{} analysis queries", rules.len());
    let Some(promtool) = promtool else {
        eprintln!("promtool not installed: {} analysis queries judged by promql-parser only", rules.len());
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("analysis.rules.yaml");
    let doc = json!({"groups": [{"name": "analysis", "rules": rules}]});
    std::fs::write(&file, serde_json::to_string(&doc).expect("json")).expect("write");
    let out = std::process::Command::new(promtool).args(["check", "rules"]).arg(&file).output().expect("run promtool");
    assert!(
        out.status.success(),
        "promtool rejects an analysis query:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

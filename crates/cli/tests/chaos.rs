//! Chaos experiments: rendered for non-production environments only, outside what Argo CD
//! syncs, valid against the Chaos Mesh CRD schemas, and aimed at pods the bundle really runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cerverus_bundle::Bundle;
use cerverus_model::Platform;
use serde_json::Value;

fn build() -> (Platform, Bundle) {
    cerverus::build_default().expect("the default spec builds")
}

fn parse(bytes: &[u8]) -> Option<Value> {
    serde_saphyr::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

/// (path, object) of every experiment of `env`.
fn experiments(bundle: &Bundle, env: &str) -> Vec<(String, Value)> {
    let prefix = format!("chaos/{env}/");
    bundle
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .filter_map(|(p, b)| Some((p.to_string(), parse(b)?)))
        .collect()
}

/// Pod templates of the workloads rendered for `env`: (namespace, pod labels).
fn pods(bundle: &Bundle, env: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let prefix = format!("kubernetes/{env}/");
    bundle
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .filter_map(|(_, b)| parse(b))
        .filter(|v| ["Deployment", "StatefulSet", "Rollout"].contains(&v["kind"].as_str().unwrap_or("")))
        .map(|v| {
            let labels = v["spec"]["template"]["metadata"]["labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
                .unwrap_or_default();
            (v["metadata"]["namespace"].as_str().unwrap_or("").to_string(), labels)
        })
        .collect()
}

/// How many rendered pod templates a Chaos Mesh selector matches (its namespaces, label
/// selectors), and whether its node selectors name only zones the environment has.
fn matches(selector: &Value, pods: &[(String, BTreeMap<String, String>)], zones: &[String]) -> usize {
    let namespaces: BTreeSet<&str> =
        selector["namespaces"].as_array().map(|a| a.iter().filter_map(|n| n.as_str()).collect()).unwrap_or_default();
    let labels: BTreeMap<String, String> = selector["labelSelectors"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default();
    if let Some(nodes) = selector["nodeSelectors"].as_object() {
        let known = nodes.iter().all(|(k, v)| {
            k == "topology.kubernetes.io/zone" && v.as_str().is_some_and(|z| zones.iter().any(|x| x == z))
        });
        if !known {
            return 0;
        }
    }
    pods.iter()
        .filter(|(ns, l)| namespaces.contains(ns.as_str()) && labels.iter().all(|(k, v)| l.get(k) == Some(v)))
        .count()
}

#[test]
fn production_has_no_chaos_and_staging_has_every_kind_of_experiment() {
    let (platform, bundle) = build();
    for env in &platform.environments {
        let found = experiments(&bundle, &env.name);
        let values = bundle.iter().any(|(p, _)| p == format!("helm/addons/{}/chaos-mesh.values.yaml", env.name));
        if env.is_production() {
            assert!(found.is_empty(), "prod has experiments: {:?}", found.iter().map(|(p, _)| p).collect::<Vec<_>>());
            assert!(!values, "Chaos Mesh is installed in prod");
            continue;
        }
        assert!(values, "{}: Chaos Mesh not installed", env.name);
        let kinds: BTreeSet<String> = found
            .iter()
            .filter_map(|(_, v)| v["metadata"]["labels"]["cerverus.io/experiment"].as_str().map(str::to_string))
            .collect();
        assert_eq!(
            kinds,
            ["network-partition", "pod-kill", "zone-outage"].iter().map(|s| s.to_string()).collect(),
            "{}",
            env.name
        );
    }
    // The namespace that runs chaos-daemon says why it is privileged.
    let ns = bundle
        .iter()
        .find(|(p, _)| *p == "kubernetes/staging/cluster/namespace-chaos-mesh.yaml")
        .and_then(|(_, b)| parse(b))
        .expect("chaos-mesh namespace in staging");
    assert_eq!(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "privileged");
}

#[test]
fn experiments_are_never_synced() {
    let (platform, bundle) = build();
    for env in &platform.environments {
        // Nothing Argo CD applies is a chaos experiment…
        let synced_chaos: Vec<&str> = bundle
            .iter()
            .filter(|(p, _)| p.starts_with(&format!("kubernetes/{}/", env.name)))
            .filter(|(_, b)| {
                parse(b).is_some_and(|v| v["apiVersion"].as_str().is_some_and(|a| a.starts_with("chaos-mesh.org/")))
            })
            .map(|(p, _)| p)
            .collect();
        assert!(synced_chaos.is_empty(), "{synced_chaos:?}");
        // …and no Application points at the experiments' folder.
        for (p, b) in bundle.iter().filter(|(p, _)| p.starts_with(&format!("gitops/{}/", env.name))) {
            let text = String::from_utf8_lossy(b);
            assert!(!text.contains("chaos/"), "{p} references the chaos folder");
        }
    }
}

#[test]
fn every_experiment_selects_pods_the_bundle_runs() {
    let (platform, bundle) = build();
    let mut checked = 0;
    for env in platform.environments.iter().filter(|e| !e.is_production()) {
        let pods = pods(&bundle, &env.name);
        let zones = &env.network.azs;
        for (path, v) in experiments(&bundle, &env.name) {
            assert!(matches(&v["spec"]["selector"], &pods, zones) > 0, "{path}: its selector matches no rendered pod");
            if v["kind"] == "NetworkChaos" && !v["spec"]["target"].is_null() {
                assert!(
                    matches(&v["spec"]["target"]["selector"], &pods, zones) > 0,
                    "{path}: its target matches no pod"
                );
            }
            checked += 1;
        }
        // Every critical long-running workload gets its pod kill.
        for w in env.workloads.iter().filter(|w| w.spec.tier == cerverus_spec::Tier::Critical) {
            let kill = format!("chaos/{}/podchaos-pod-kill-{}.yaml", env.name, w.name());
            assert!(bundle.iter().any(|(p, _)| p == kill), "{kill}");
        }
        // One zone outage per availability zone.
        for az in zones {
            let f = format!("chaos/{}/networkchaos-zone-outage-{az}.yaml", env.name);
            assert!(bundle.iter().any(|(p, _)| p == f), "{f}");
        }
    }
    assert!(checked >= 10, "{checked}");
}

#[test]
fn a_selector_that_names_no_rendered_pod_is_caught() {
    let (_, bundle) = build();
    let pods = pods(&bundle, "staging");
    let zones = vec!["us-east-1a".to_string()];
    let good = serde_json::json!({"namespaces": ["cerverus-system"], "labelSelectors": {"app.kubernetes.io/name": "alerts-api"}});
    assert!(matches(&good, &pods, &zones) > 0);
    let wrong_ns =
        serde_json::json!({"namespaces": ["cerverus-ml"], "labelSelectors": {"app.kubernetes.io/name": "alerts-api"}});
    assert_eq!(matches(&wrong_ns, &pods, &zones), 0);
    let typo = serde_json::json!({"namespaces": ["cerverus-system"], "labelSelectors": {"app": "alerts-api"}});
    assert_eq!(matches(&typo, &pods, &zones), 0);
    let no_zone = serde_json::json!({"namespaces": ["cerverus-system"], "nodeSelectors": {"topology.kubernetes.io/zone": "eu-west-1a"}});
    assert_eq!(matches(&no_zone, &pods, &zones), 0);
}

#[test]
fn experiments_validate_against_the_chaos_mesh_crd_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/schemas/crds/chaos-mesh.org");
    if !root.is_dir() {
        eprintln!("../shared/schemas/crds not present: experiments checked by their Rust types only");
        return;
    }
    let (_, bundle) = build();
    let mut failures = Vec::new();
    let mut validated = 0;
    for (path, v) in experiments(&bundle, "staging").into_iter().chain(experiments(&bundle, "dev")) {
        let kind = v["kind"].as_str().unwrap_or("").to_ascii_lowercase();
        let file = root.join(format!("{kind}_v1alpha1.json"));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("schema")).expect("json");
        let validator = jsonschema::validator_for(&schema).expect("compiles");
        failures.extend(validator.iter_errors(&v).map(|e| format!("{path}: {e} at {}", e.instance_path())));
        validated += 1;
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(validated >= 10);
    // The check can fail: a misspelt action is refused.
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("podchaos_v1alpha1.json")).expect("schema"))
            .expect("json");
    let bad = serde_json::json!({"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos", "metadata": {"name": "x"},
        "spec": {"action": "pod-kil", "mode": "one", "selector": {}}});
    assert!(!jsonschema::validator_for(&schema).expect("compiles").is_valid(&bad));
}

// ---- Experiments that Chaos Mesh and the cluster's admission would really let run ----

/// The release values of `chaos-mesh` in `env`, and the pinned chart's defaults.
fn chaos_values(bundle: &Bundle, env: &str) -> (Value, Value) {
    let values = bundle
        .iter()
        .find(|(p, _)| *p == format!("helm/addons/{env}/chaos-mesh.values.yaml"))
        .and_then(|(_, b)| parse(b))
        .expect("chaos-mesh values");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/helm/chaos-mesh/2.8.3/values.yaml");
    let defaults = parse(&std::fs::read(root).expect("reference values of chaos-mesh 2.8.3")).expect("yaml");
    (values, defaults)
}

/// Namespaces and parameters of the Gatekeeper constraints of `kind` that deny in `env`.
fn denying_constraints(bundle: &Bundle, env: &str, kind: &str) -> Vec<Value> {
    let prefix = format!("kubernetes/{env}/");
    bundle
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .filter_map(|(_, b)| parse(b))
        .filter(|v| v["kind"] == kind && v["spec"]["enforcementAction"].as_str().unwrap_or("deny") == "deny")
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Why the cluster would refuse each experiment that rewrites Pods: `pod-failure` patches every
/// container image of its pods to the controller's pause image, and a Pod UPDATE passes through
/// Gatekeeper like a CREATE. In a namespace where an allowed-registries or digest constraint
/// denies, that image must come from an allowed registry and be pinned by digest.
fn image_rewrite_refusals(
    experiments: &[(String, Value)],
    pause_image: &str,
    registries: &[Value],
    digests: &[Value],
) -> Vec<String> {
    let namespaces = |c: &Value| strings(&c["spec"]["match"]["namespaces"]);
    let mut out = Vec::new();
    for (path, v) in experiments.iter().filter(|(_, v)| v["kind"] == "PodChaos" && v["spec"]["action"] == "pod-failure")
    {
        for ns in strings(&v["spec"]["selector"]["namespaces"]) {
            for c in registries.iter().filter(|c| namespaces(c).contains(&ns)) {
                let allowed = strings(&c["spec"]["parameters"]["registries"]);
                if !allowed.iter().any(|r| pause_image.starts_with(&format!("{r}/"))) {
                    out.push(format!("{path}: {pause_image} is not from a registry allowed in {ns}"));
                }
            }
            if digests.iter().any(|c| namespaces(c).contains(&ns)) && !pause_image.contains("@sha256:") {
                out.push(format!("{path}: {pause_image} is not pinned by digest, required in {ns}"));
            }
        }
    }
    out
}

#[test]
fn no_experiment_rewrites_pods_that_admission_would_refuse() {
    let (platform, bundle) = build();
    for env in platform.environments.iter().filter(|e| !e.is_production()) {
        let found = experiments(&bundle, &env.name);
        let (values, defaults) = chaos_values(&bundle, &env.name);
        let pointer = "/controllerManager/podChaos/podFailure/pauseImage";
        let pause = values.pointer(pointer).or(defaults.pointer(pointer)).and_then(Value::as_str).expect("pause image");
        let registries = denying_constraints(&bundle, &env.name, "CerverusAllowedRegistries");
        let digests = denying_constraints(&bundle, &env.name, "CerverusImageDigest");
        assert!(!registries.is_empty() && !digests.is_empty(), "{}: the image constraints moved", env.name);
        let refused = image_rewrite_refusals(&found, pause, &registries, &digests);
        assert!(refused.is_empty(), "{}: {refused:#?}", env.name);
        // The check can fail: a pod-failure over an application namespace is refused.
        let planted = serde_json::json!({"kind": "PodChaos", "spec": {"action": "pod-failure", "mode": "all",
            "selector": {"namespaces": ["cerverus-system"]}, "duration": "10m"}});
        let refused = image_rewrite_refusals(&[("planted".into(), planted)], pause, &registries, &digests);
        assert!(!refused.is_empty(), "{}: a pod-failure in cerverus-system must be refused", env.name);
    }
}

/// What Chaos Mesh's NetworkChaos webhook refuses: a netem action (loss, delay…) with direction
/// `from` or `both` and no target.
fn webhook_refusals(experiments: &[(String, Value)]) -> Vec<String> {
    experiments
        .iter()
        .filter(|(_, v)| v["kind"] == "NetworkChaos" && v["spec"]["action"] != "partition")
        .filter(|(_, v)| v["spec"]["target"].is_null())
        .filter(|(_, v)| matches!(v["spec"]["direction"].as_str(), Some("from" | "both")))
        .map(|(p, _)| format!("{p}: `from`/`both` without a target in a netem action"))
        .collect()
}

#[test]
fn network_faults_pass_chaos_mesh_validation_and_zone_outages_drop_everything() {
    let (platform, bundle) = build();
    for env in platform.environments.iter().filter(|e| !e.is_production()) {
        let found = experiments(&bundle, &env.name);
        assert!(webhook_refusals(&found).is_empty(), "{:?}", webhook_refusals(&found));
        for az in &env.network.azs {
            let (_, v) = found
                .iter()
                .find(|(p, _)| p.ends_with(&format!("/networkchaos-zone-outage-{az}.yaml")))
                .unwrap_or_else(|| panic!("{}: no zone outage for {az}", env.name));
            assert_eq!(v["spec"]["action"], "loss");
            assert_eq!(v["spec"]["loss"]["loss"], "100", "the zone stops answering altogether");
            assert_eq!(v["spec"]["mode"], "all");
            assert_eq!(v["spec"]["selector"]["nodeSelectors"]["topology.kubernetes.io/zone"], az.as_str());
        }
        let mut bad = found.clone();
        if let Some((_, v)) = bad.iter_mut().find(|(p, _)| p.contains("zone-outage")) {
            v["spec"]["direction"] = "both".into();
        }
        assert!(!webhook_refusals(&bad).is_empty(), "a netem fault `both` ways without a target is caught");
    }
}

/// Why Chaos Mesh's certificates would not stay put under Argo CD: the chart's `genCA` mints new
/// ones on every render unless cert-manager issues them, and then cert-manager must be installed
/// in an earlier wave than the chart that renders Certificates.
fn certificate_problems(values: &Value, chaos_wave: i64, cert_manager_wave: Option<i64>) -> Vec<String> {
    let mut out = Vec::new();
    if values.pointer("/webhook/certManager/enabled") != Some(&Value::Bool(true)) {
        out.push("webhook.certManager.enabled is not true: the chart regenerates its CA on every render".into());
    }
    match cert_manager_wave {
        Some(w) if w < chaos_wave => {}
        Some(w) => out.push(format!("cert-manager (wave {w}) does not sync before chaos-mesh (wave {chaos_wave})")),
        None => out.push("cert-manager is not installed".into()),
    }
    out
}

fn app_wave(bundle: &Bundle, env: &str, name: &str) -> Option<i64> {
    let path = format!("gitops/{env}/apps/application-{name}.yaml");
    let app = bundle.iter().find(|(p, _)| *p == path).and_then(|(_, b)| parse(b))?;
    app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].as_str()?.parse().ok()
}

#[test]
fn chaos_mesh_certificates_come_from_cert_manager_installed_before_it() {
    let (platform, bundle) = build();
    for env in platform.environments.iter().filter(|e| !e.is_production()) {
        let (values, _) = chaos_values(&bundle, &env.name);
        let chaos = app_wave(&bundle, &env.name, "chaos-mesh").expect("chaos-mesh Application");
        let cm = app_wave(&bundle, &env.name, "cert-manager");
        let problems = certificate_problems(&values, chaos, cm);
        assert!(problems.is_empty(), "{}: {problems:?}", env.name);
        // Both halves can fail.
        let mut generated = values.clone();
        generated["webhook"]["certManager"]["enabled"] = false.into();
        assert!(!certificate_problems(&generated, chaos, cm).is_empty());
        assert!(!certificate_problems(&values, chaos, Some(chaos)).is_empty());
    }
}

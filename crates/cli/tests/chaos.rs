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
            if v["kind"] == "NetworkChaos" {
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
            let f = format!("chaos/{}/podchaos-zone-outage-{az}.yaml", env.name);
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

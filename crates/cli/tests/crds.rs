//! Custom resources validate against their CRDs' JSON Schemas, from `../shared/schemas/crds`
//! when that directory is present (it is in CI and in development; a user's fresh clone may not
//! have it, and then only the typed structs vouch for the shape).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The CRD schema directory, if present.
fn schema_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/schemas/crds");
    root.is_dir().then_some(root)
}

const CORE_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
];

/// Kinds the shared catalogue has no schema for, each with why it is rendered anyway and what
/// vouches for it instead. Anything else without a schema fails the test.
const NO_SCHEMA: &[(&str, &str)] = &[(
    "networking.istio.io/v1alpha3/EnvoyFilter",
    "Istio publishes no structural schema for EnvoyFilter (its CRD preserves unknown fields: the patch is Envoy's own config) and the datree catalogue has none; the local rate limit filter is typed in crd/istio.rs and its shape (filter name, type URL, token bucket, enforcement) is asserted in tests/mesh.rs",
)];

/// (path, object) of every custom resource in the default bundle.
fn custom_resources() -> Vec<(String, Value)> {
    let (_, bundle) = cerverus::build_default().expect("builds");
    bundle
        .iter()
        // gitops/: Argo CD's AppProjects and Applications are custom resources too.
        .filter(|(p, _)| (p.starts_with("kubernetes/") || p.starts_with("gitops/")) && p.ends_with(".yaml"))
        .filter_map(|(p, bytes)| {
            let v: Value = serde_saphyr::from_str(std::str::from_utf8(bytes).ok()?).ok()?;
            let api = v["apiVersion"].as_str()?.to_string();
            let group = api.rsplit_once('/').map_or("", |(g, _)| g).to_string();
            (!CORE_GROUPS.contains(&group.as_str())).then(|| (p.to_string(), v))
        })
        .collect()
}

#[test]
fn every_custom_resource_validates_against_its_crd_schema() {
    let crs = custom_resources();
    let kinds: std::collections::BTreeSet<String> = crs
        .iter()
        .map(|(_, v)| format!("{}/{}", v["apiVersion"].as_str().unwrap_or("?"), v["kind"].as_str().unwrap_or("?")))
        .collect();
    for expected in [
        "external-secrets.io/v1/ClusterSecretStore",
        "external-secrets.io/v1/ExternalSecret",
        "keda.sh/v1alpha1/ScaledObject",
        "autoscaling.k8s.io/v1/VerticalPodAutoscaler",
    ] {
        assert!(kinds.contains(expected), "no {expected} rendered: {kinds:?}");
    }
    let Some(root) = schema_root() else {
        eprintln!(
            "../shared/schemas/crds not present: {} custom resources checked by their Rust types only",
            crs.len()
        );
        return;
    };
    let mut failures = Vec::new();
    let mut validated = 0;
    let mut skipped = 0;
    let mut cache: std::collections::BTreeMap<PathBuf, jsonschema::Validator> = Default::default();
    for (path, obj) in &crs {
        let api = obj["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
        let kind = obj["kind"].as_str().unwrap_or_default().to_ascii_lowercase();
        let file = root.join(group).join(format!("{kind}_{version}.json"));
        let kind_id = format!("{api}/{}", obj["kind"].as_str().unwrap_or_default());
        if !file.is_file() && NO_SCHEMA.iter().any(|(k, _)| *k == kind_id) {
            skipped += 1;
            continue;
        }
        assert!(file.is_file(), "{path}: no schema {} for {api} {kind}", file.display());
        let validator = cache.entry(file.clone()).or_insert_with(|| {
            let schema: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).expect("read schema")).expect("schema JSON");
            jsonschema::validator_for(&schema).expect("schema compiles")
        });
        for e in validator.iter_errors(obj) {
            failures.push(format!("{path}: {e} at {}", e.instance_path()));
        }
        validated += 1;
    }
    assert!(failures.is_empty(), "{} CRD schema violation(s):\n{}", failures.len(), failures.join("\n"));
    assert_eq!(validated + skipped, crs.len());
    assert!(validated > 30, "only {validated} custom resources validated");
}

#[test]
fn the_crd_check_catches_a_bad_field() {
    let Some(root) = schema_root() else { return };
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("keda.sh/scaledobject_v1alpha1.json")).expect("schema"),
    )
    .expect("json");
    let v = jsonschema::validator_for(&schema).expect("compiles");
    let bad = serde_json::json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "minReplicaCont": 1, "triggers": []}});
    assert!(!v.is_valid(&bad), "a misspelt field must be rejected");
}

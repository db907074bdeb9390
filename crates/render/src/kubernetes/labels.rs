//! The recommended labels (`app.kubernetes.io/*`) and the platform's own.

use std::collections::BTreeMap;

use cerverus_model::Workload;

pub const MANAGED_BY: &str = "cerverus";

/// Labels on every object the platform owns.
pub fn common(part_of: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/managed-by".to_string(), MANAGED_BY.to_string()),
        ("app.kubernetes.io/part-of".to_string(), part_of.to_string()),
    ])
}

/// The selector labels of a workload: stable across releases (no version in them), so a
/// Deployment's immutable selector never has to change.
pub fn selector(w: &Workload) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), w.name().to_string()),
        ("app.kubernetes.io/instance".to_string(), w.name().to_string()),
    ])
}

/// Every label of a workload's objects and pods.
pub fn workload(w: &Workload) -> BTreeMap<String, String> {
    let mut l = common(&w.spec.part_of);
    l.extend(selector(w));
    l.insert("app.kubernetes.io/component".into(), w.spec.component.clone());
    l.insert("app.kubernetes.io/version".into(), w.spec.image.tag.clone());
    l.insert("cerverus.io/tier".into(), w.spec.tier.as_str().to_string());
    l
}

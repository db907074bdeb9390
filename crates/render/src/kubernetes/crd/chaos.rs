//! Chaos Mesh custom resources (chaos-mesh.org/v1alpha1): PodChaos and NetworkChaos, limited to
//! the fields the platform sets. Field names follow the CRD schemas
//! (`/work/shared/schemas/crds/chaos-mesh.org/`).

use std::collections::BTreeMap;

use serde::Serialize;

/// Which pods an experiment acts on: all of `namespaces` ∩ `labelSelectors` ∩ `nodeSelectors`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSelector {
    pub namespaces: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub label_selectors: BTreeMap<String, String>,
    /// Labels of the nodes the pods run on (e.g. `topology.kubernetes.io/zone`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selectors: BTreeMap<String, String>,
}

/// PodChaos `spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodChaosSpec {
    /// `pod-kill` or `pod-failure`.
    pub action: &'static str,
    /// `one`, `all`, `fixed`, `fixed-percent`, `random-max-percent`.
    pub mode: &'static str,
    pub selector: PodSelector,
    /// How long a `pod-failure` lasts; absent for `pod-kill` (instantaneous).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<i64>,
}

/// NetworkChaos `spec` for a partition.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkChaosSpec {
    /// `partition`.
    pub action: &'static str,
    pub mode: &'static str,
    pub selector: PodSelector,
    /// `to`, `from` or `both`.
    pub direction: &'static str,
    pub target: NetworkTarget,
    pub duration: String,
}

/// The other side of a network fault.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkTarget {
    pub mode: &'static str,
    pub selector: PodSelector,
}

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
    /// `pod-kill` (never `pod-failure`, which rewrites the pods' images: see `kubernetes::chaos`).
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

/// NetworkChaos `spec`: a partition between two sets of pods, or a netem fault (`loss`) on the
/// traffic the selected pods send.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkChaosSpec {
    /// `partition` or `loss`.
    pub action: &'static str,
    pub mode: &'static str,
    pub selector: PodSelector,
    /// `to`, `from` or `both`. Chaos Mesh's webhook refuses `from`/`both` for a netem action
    /// without a target; `to` without a target means every packet the pods send.
    pub direction: &'static str,
    /// The other side; absent: all traffic of the selected pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<NetworkTarget>,
    /// Packet loss (action `loss`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    pub duration: String,
}

/// The other side of a network fault.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkTarget {
    pub mode: &'static str,
    pub selector: PodSelector,
}

/// Packet loss of a `loss` action, in percent (a string, as the CRD has it).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Loss {
    pub loss: String,
    pub correlation: String,
}

//! Bin-packing of pods onto nodes, the way kube-scheduler filters and Cluster Autoscaler scales up.
//!
//! - [`pod`]: what the scheduler reads from a pod (tolerations, node selector, required node
//!   affinity, topology spread, required pod anti-affinity, requests, priority), for the rendered
//!   workloads and for the chart-installed controllers (read from the add-on values).
//! - [`engine`]: the placement itself — filters, scoring, priority order, preemption, Cluster
//!   Autoscaler's scale-up and scale-down.
//!
//! Constants (utilisation band, built-in priority classes, the scheduler's default spreading,
//! CA's defaults, the controllers' chart defaults) live in `data/simulation/scheduling.json`.

pub mod engine;
pub mod pod;
pub mod synthetic;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::SimError;
use crate::data::Provenance;

pub use engine::{CaConfig, Sched};
pub use pod::PodModel;

const FILE: &str = "data/simulation/scheduling.json";
const TEXT: &str = include_str!("../../../../data/simulation/scheduling.json");

/// `data/simulation/scheduling.json`.
#[derive(Debug, Deserialize)]
pub struct SchedulingData {
    pub provenance: Provenance,
    pub utilisation_band: Band,
    /// CSI provisioners whose volumes live in one zone (a StatefulSet pod claiming one cannot
    /// move to another zone).
    pub zonal_provisioners: Vec<String>,
    pub builtin_priority_classes: BTreeMap<String, i32>,
    pub default_spread: Vec<DefaultSpread>,
    /// The `NoSchedule` taint a zone outage's NotReady nodes carry.
    pub unreachable_taint: crate::cluster::NodeTaint,
    pub cluster_autoscaler: CaDefaults,
    pub controllers: Vec<Controller>,
    #[serde(rename = "_controllers_comment")]
    pub controllers_comment: String,
}

#[derive(Debug, Deserialize)]
pub struct Band {
    pub low: f64,
    pub high: f64,
}

/// One of kube-scheduler's internal default spreading constraints (ScheduleAnyway).
#[derive(Debug, Deserialize)]
pub struct DefaultSpread {
    pub topology_key: String,
    pub max_skew: u32,
}

#[derive(Debug, Deserialize)]
pub struct CaDefaults {
    pub default_expander: String,
    pub default_scale_down_utilization_threshold: f64,
}

/// A chart-installed controller: where its replicas and requests are in the chart's values.
#[derive(Debug, Deserialize)]
pub struct Controller {
    pub chart: String,
    pub component: String,
    pub namespace: String,
    #[serde(default)]
    pub enabled: Option<FlagAt>,
    pub replicas: CountAt,
    pub requests: RequestsAt,
    #[serde(default)]
    pub priority_class: Option<StringAt>,
    #[serde(default)]
    pub anti_affinity: Option<AntiAffinityAt>,
}

#[derive(Debug, Deserialize)]
pub struct FlagAt {
    pub pointer: String,
    pub default: bool,
}

#[derive(Debug, Deserialize)]
pub struct CountAt {
    pub pointer: String,
    pub default: u32,
}

#[derive(Debug, Deserialize)]
pub struct StringAt {
    pub pointer: String,
}

/// Requests map (`{cpu, memory}`) at `pointer`, the chart's defaults otherwise.
#[derive(Debug, Deserialize)]
pub struct RequestsAt {
    pub pointer: String,
    pub cpu: String,
    pub memory: String,
}

/// A chart switch for required pod anti-affinity (opensearch's `antiAffinity: hard`).
#[derive(Debug, Deserialize)]
pub struct AntiAffinityAt {
    pub pointer: String,
    pub hard_when: String,
    pub default: String,
    pub topology_key_pointer: String,
    pub default_topology_key: String,
}

/// The scheduling data, parsed once.
pub fn data() -> Result<&'static SchedulingData, SimError> {
    static CELL: OnceLock<Result<SchedulingData, String>> = OnceLock::new();
    crate::data::cached(&CELL, FILE, TEXT)
}

/// Provenance of `data/simulation/scheduling.json`.
pub fn provenance() -> Result<Provenance, SimError> {
    Ok(data()?.provenance.clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_file_parses_and_names_itself() {
        let d = super::data().expect("scheduling.json parses");
        assert_eq!(d.provenance.file, super::FILE);
        assert!(d.utilisation_band.low < d.utilisation_band.high);
        assert!(!d.controllers.is_empty());
    }
}

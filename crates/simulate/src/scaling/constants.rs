//! The time-to-scale model's constants, from `data/simulation/scaling.json` (each with its source).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::SimError;
use crate::data::Provenance;

pub const FILE: &str = "data/simulation/scaling.json";
const TEXT: &str = include_str!("../../../../data/simulation/scaling.json");

/// One number and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constant {
    pub value: f64,
    pub source: String,
}

/// One HPA scaling policy (`HPAScalingPolicy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConst {
    #[serde(rename = "type")]
    pub type_: String,
    pub value: i32,
    pub period_seconds: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleUpDefaults {
    pub stabilization_window_seconds: i32,
    pub select_policy: String,
    pub policies: Vec<PolicyConst>,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hpa {
    pub sync_period_seconds: Constant,
    pub tolerance: Constant,
    pub default_scale_up: ScaleUpDefaults,
    pub default_scale_down_window_seconds: Constant,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exporter {
    pub metric_prefix: String,
    /// Add-on chart whose values hold the exporter's `serviceMonitor.interval` and `arguments`.
    pub chart: String,
    /// Flags in the chart's `arguments` that set the collection interval …
    pub interval_flags: Vec<String>,
    /// … in this unit (s).
    pub flag_unit_seconds: f64,
    pub seconds: f64,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounded {
    pub bound: f64,
    pub markers: Vec<String>,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub metrics_server_resolution_seconds: Constant,
    pub prometheus_default_scrape_interval_seconds: Constant,
    pub keda_default_polling_interval_seconds: Constant,
    pub exporter_collection: Vec<Exporter>,
    pub bounded_percent: Bounded,
    pub memory_load_share: Constant,
    pub default_rate_window_seconds: Constant,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nodes {
    pub ca_scan_interval_seconds: Constant,
    pub asg_launch_seconds: Constant,
    pub boot_and_join_seconds: Constant,
    pub cni_ready_seconds: Constant,
    pub gpu_device_plugin_seconds: Constant,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFamily {
    pub repository_contains: String,
    pub mb: f64,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeDefaults {
    pub initial_delay_seconds: f64,
    pub period_seconds: f64,
    pub success_threshold: f64,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pods {
    pub schedule_seconds: Constant,
    pub container_start_seconds: Constant,
    pub mesh_sidecar_start_seconds: Constant,
    pub probe_defaults: ProbeDefaults,
    pub volume_create_attach_seconds: Constant,
    pub image_pull_mb_per_second: Constant,
    pub default_image_mb: Constant,
    pub image_families: Vec<ImageFamily>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub response_seconds: Constant,
    pub horizon_seconds: Constant,
}

/// The whole data file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingData {
    pub provenance: Provenance,
    pub hpa: Hpa,
    pub metrics: Metrics,
    pub nodes: Nodes,
    pub pods: Pods,
    pub target: Target,
}

impl ScalingData {
    /// Estimated image size (MB) for `image`: the first family whose text its repository holds.
    pub fn image_mb(&self, image: &str) -> (f64, String) {
        let repo = image.split(['@']).next().unwrap_or(image);
        let repo = repo.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map_or(repo, |(r, _)| r);
        self.pods
            .image_families
            .iter()
            .find(|f| repo.contains(&f.repository_contains))
            .map(|f| (f.mb, f.repository_contains.clone()))
            .unwrap_or((self.pods.default_image_mb.value, "default".to_string()))
    }
}

static CELL: OnceLock<Result<ScalingData, String>> = OnceLock::new();

/// The compiled-in constants.
pub fn load() -> Result<&'static ScalingData, SimError> {
    crate::data::cached(&CELL, FILE, TEXT)
}

//! `cerverus simulate`: answers before deploying, as explicit, documented **models** over the
//! rendered bundle of one environment and its resolved spec.
//!
//! ```text
//! Platform + Env ─┐
//! Bundle ─────────┼─▶ Inputs ─▶ objects (workloads as Kubernetes will see them)
//!                 │            ├─▶ cluster + schedule ─▶ scenarios   HA under AZ / node / spot loss, surge
//!                 │            ├─▶ scaling                          time to full capacity under the surge
//!                 │            ├─▶ provisioning                     Terraform critical path
//!                 │            ├─▶ cost                             monthly cost, spot saving
//!                 │            └─▶ recovery                         RPO / RTO per store and tier
//!                 └──────────────────────────────────────────────▶ Report (text / JSON / HTML)
//! ```
//!
//! Nothing here runs an engine: the scheduler, the HPA, Cluster Autoscaler, Terraform and AWS are
//! modelled, with every constant in `data/simulation/*.json` beside its source. The report says
//! so, and lists the constants it used.

pub mod cluster;
pub mod cost;
pub mod data;
pub mod objects;
pub mod provisioning;
pub mod recovery;
pub mod report;
pub mod scaling;
pub mod scenarios;
pub mod schedule;

use std::collections::BTreeMap;

use cerverus_bundle::Bundle;
use cerverus_check::inventory::{Inventory, K8sObject, TfBlock};
use cerverus_model::{Env, Platform};
use serde::Serialize;

/// Why a simulation could not run (bad input, not a failed verdict).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    Input(String),
    #[error("data file `{file}`: {message}")]
    Data { file: String, message: String },
}

/// One part of the simulation, selectable with `--scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Every workload at its normal replicas on the node groups' desired nodes.
    Steady,
    /// Lose each availability zone in turn.
    AzLoss,
    /// Lose the largest node.
    NodeLoss,
    /// Lose all spot capacity.
    SpotLoss,
    /// Traffic × the multiplier: replicas the autoscalers ask for, capacity and time to scale.
    Surge,
    /// Critical path of the Terraform graph.
    Provisioning,
    /// Monthly cost.
    Cost,
    /// RPO / RTO per data store and tier.
    Recovery,
}

impl Scenario {
    pub const ALL: [Scenario; 8] = [
        Scenario::Steady,
        Scenario::AzLoss,
        Scenario::NodeLoss,
        Scenario::SpotLoss,
        Scenario::Surge,
        Scenario::Provisioning,
        Scenario::Cost,
        Scenario::Recovery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::AzLoss => "az-loss",
            Scenario::NodeLoss => "node-loss",
            Scenario::SpotLoss => "spot-loss",
            Scenario::Surge => "surge",
            Scenario::Provisioning => "provisioning",
            Scenario::Cost => "cost",
            Scenario::Recovery => "recovery",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Scenarios to run; every one when empty.
    pub scenarios: Vec<Scenario>,
    /// Traffic multiplier of the surge (the seed's load test: 10×).
    pub traffic: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { scenarios: Vec::new(), traffic: 10.0 }
    }
}

impl Options {
    pub fn runs(&self, s: Scenario) -> bool {
        self.scenarios.is_empty() || self.scenarios.contains(&s)
    }
}

/// What every model reads: the environment as resolved, and its rendered artifacts loaded the
/// way `cerverus check` loads anyone's files.
pub struct Inputs<'a> {
    pub platform: &'a Platform,
    pub env: &'a Env,
    /// The environment's Kubernetes objects (bundle `kubernetes/<env>/`).
    pub k8s: Vec<K8sObject>,
    /// Blocks of the environment's Terraform root (`terraform/envs/<env>/`).
    pub terraform_root: Vec<TfBlock>,
    /// Blocks of each module the bundle holds (`terraform/modules/<name>/`), by module directory name.
    pub terraform_modules: BTreeMap<String, Vec<TfBlock>>,
    /// The root's `terraform.tfvars` as JSON (object), `Null` when there is none.
    pub tfvars: serde_json::Value,
    /// Add-on chart values of the environment, by chart name (`helm/addons/<env>/<chart>.values.yaml`).
    pub addon_values: BTreeMap<String, serde_json::Value>,
}

impl<'a> Inputs<'a> {
    /// Load the parts of `bundle` that belong to `env`.
    pub fn from_bundle(platform: &'a Platform, env: &'a Env, bundle: &Bundle) -> Result<Self, SimError> {
        let k8s_prefix = format!("kubernetes/{}/", env.name);
        let root_prefix = format!("terraform/envs/{}/", env.name);
        let values_prefix = format!("helm/addons/{}/", env.name);
        let mut k8s = Inventory::default();
        let mut root = Inventory::default();
        let mut modules: BTreeMap<String, Inventory> = BTreeMap::new();
        let mut addon_values = BTreeMap::new();
        for (path, bytes) in bundle.iter() {
            let text = || {
                std::str::from_utf8(bytes).map_err(|_| SimError::Input(format!("bundle file `{path}` is not UTF-8")))
            };
            if path.starts_with(&k8s_prefix) && path.ends_with(".yaml") {
                cerverus_check::inventory::load_text(&mut k8s, path, text()?);
            } else if let Some(rest) = path.strip_prefix(&root_prefix) {
                if rest.ends_with(".tf") || rest.ends_with(".tfvars") {
                    cerverus_check::inventory::load_text(&mut root, path, text()?);
                }
            } else if let Some(rest) = path.strip_prefix("terraform/modules/") {
                if let Some((module, file)) = rest.split_once('/')
                    && file.ends_with(".tf")
                {
                    cerverus_check::inventory::load_text(modules.entry(module.to_string()).or_default(), path, text()?);
                }
            } else if let Some(file) = path.strip_prefix(&values_prefix)
                && let Some(chart) = file.strip_suffix(".values.yaml")
            {
                let value: serde_json::Value = serde_saphyr::from_str(text()?)
                    .map_err(|e| SimError::Input(format!("bundle file `{path}`: {e}")))?;
                addon_values.insert(chart.to_string(), value);
            }
        }
        if let Some(e) = k8s.errors.first().or(root.errors.first()) {
            return Err(SimError::Input(format!("{}: {}", e.file, e.message)));
        }
        if k8s.k8s.is_empty() {
            return Err(SimError::Input(format!(
                "the bundle has no Kubernetes objects for environment `{}`",
                env.name
            )));
        }
        let tfvars = root.tfvars.first().map(|t| t.value.clone()).unwrap_or(serde_json::Value::Null);
        Ok(Inputs {
            platform,
            env,
            k8s: k8s.k8s,
            terraform_root: root.terraform,
            terraform_modules: modules.into_iter().map(|(k, v)| (k, v.terraform)).collect(),
            tfvars,
            addon_values,
        })
    }
}

/// One judgement of the simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The scenario it belongs to (`Scenario::name`, with the lost zone for `az-loss`: `az-loss:us-east-1a`).
    pub scenario: String,
    /// What is judged: `namespace/workload`, a pool, a data store, `total`.
    pub subject: String,
    pub pass: bool,
    /// The numbers behind the judgement, for a person.
    pub detail: String,
}

/// The model, its constants and their sources, printed with every report.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub environment: String,
    pub traffic_multiplier: f64,
    pub scenarios: Vec<Scenario>,
    /// Always said: these are models, not measurements.
    pub disclaimer: String,
    /// Each data file used, with its sources and the date its numbers were read.
    pub constants: Vec<data::Provenance>,
}

/// Everything a simulation found. Sections not selected are `None`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: ModelInfo,
    pub capacity: Option<scenarios::CapacityReport>,
    pub scaling: Option<scaling::ScalingReport>,
    pub provisioning: Option<provisioning::ProvisioningReport>,
    pub cost: Option<cost::CostReport>,
    pub recovery: Option<recovery::RecoveryReport>,
    pub verdicts: Vec<Verdict>,
}

impl Report {
    /// Whether every verdict passed.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.pass)
    }
}

pub const DISCLAIMER: &str = "This is a model, not a measurement: scheduling, autoscaling, provisioning times, \
prices and recovery times are computed from the rendered artifacts and the constants listed here, \
each with its source. Real clusters and AWS vary; re-read the constants before relying on a number.";

/// Run the selected scenarios over `inputs`.
pub fn simulate(inputs: &Inputs<'_>, opts: &Options) -> Result<Report, SimError> {
    let workloads = objects::Workloads::from_inputs(inputs)?;
    let mut verdicts = Vec::new();
    let mut constants = Vec::new();
    let capacity_selected =
        [Scenario::Steady, Scenario::AzLoss, Scenario::NodeLoss, Scenario::SpotLoss, Scenario::Surge]
            .into_iter()
            .any(|s| opts.runs(s));
    let capacity = if capacity_selected {
        let r = scenarios::run(inputs, &workloads, opts)?;
        verdicts.extend(r.verdicts());
        constants.push(schedule::provenance()?);
        Some(r)
    } else {
        None
    };
    let scaling = if opts.runs(Scenario::Surge) {
        let r = scaling::run(inputs, &workloads, opts)?;
        verdicts.extend(r.verdicts());
        constants.push(scaling::provenance()?);
        Some(r)
    } else {
        None
    };
    let provisioning = if opts.runs(Scenario::Provisioning) {
        let r = provisioning::run(inputs)?;
        verdicts.extend(r.verdicts());
        constants.push(provisioning::provenance()?);
        Some(r)
    } else {
        None
    };
    let cost = if opts.runs(Scenario::Cost) {
        let r = cost::run(inputs, &workloads)?;
        verdicts.extend(r.verdicts());
        constants.push(cost::provenance()?);
        Some(r)
    } else {
        None
    };
    let recovery = if opts.runs(Scenario::Recovery) {
        let r = recovery::run(inputs, &workloads)?;
        verdicts.extend(r.verdicts());
        constants.push(recovery::provenance()?);
        Some(r)
    } else {
        None
    };
    let scenarios = Scenario::ALL.into_iter().filter(|s| opts.runs(*s)).collect();
    Ok(Report {
        model: ModelInfo {
            environment: inputs.env.name.clone(),
            traffic_multiplier: opts.traffic,
            scenarios,
            disclaimer: DISCLAIMER.to_string(),
            constants,
        },
        capacity,
        scaling,
        provisioning,
        cost,
        recovery,
        verdicts,
    })
}

//! Time to scale under the surge: the HPA algorithm as Kubernetes implements it, KEDA's metric
//! types and polling, metric pipeline lag, node provisioning, image pull and readiness.
//!
//! - [`metric`]: what each metric proposes and whether it follows load at all;
//!   [`surge_replicas`] is the replica count the autoscaler settles on.
//! - `constants`: `data/simulation/scaling.json`.
//!
//! OWNER: scaling helper.

pub mod constants;
pub mod metric;

use serde::Serialize;

use crate::data::Provenance;
use crate::objects::{Workload, Workloads};
use crate::{Inputs, Options, SimError, Verdict};

pub use metric::Response;

/// How each metric of `w`'s autoscaler responds to load (empty without an autoscaler).
pub fn responses(w: &Workload, data: &constants::ScalingData) -> Vec<Response> {
    let b = &data.metrics.bounded_percent;
    w.autoscaler
        .as_ref()
        .map(|a| a.metrics.iter().map(|m| metric::classify(w, m, b.bound, &b.markers)).collect())
        .unwrap_or_default()
}

/// The replicas `w`'s autoscaler settles on when traffic is multiplied by `traffic`, capped at
/// its max; a workload without an autoscaler keeps its replicas.
///
/// Assumes the steady state sits at the autoscaler's fixed point: at 1× traffic every metric is at
/// its target with [`metric::steady_replicas`] replicas (the minimum, or a cron trigger's
/// replicas: the surge is assumed to arrive in market hours). Each metric's type decides whether
/// it follows load ([`metric`] has the table, with the Kubernetes/KEDA rule behind each row);
/// with several metrics the HPA takes the largest proposal. The answer is the fixed point of the
/// HPA's proposal with every pod ready — what it settles on given time, not how fast (that is
/// [`run`]'s timeline).
///
/// The data file is compiled in and tested; should it ever fail to parse, the answer is the
/// autoscaler's maximum (the most capacity the workload could ask for), never a panic.
pub fn surge_replicas(w: &Workload, traffic: f64) -> u32 {
    match constants::load() {
        Ok(data) => metric::settle(w, &responses(w, data), traffic, data.hpa.tolerance.value),
        Err(_) => w.max_replicas(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScalingReport {}

impl ScalingReport {
    pub fn verdicts(&self) -> Vec<Verdict> {
        Vec::new()
    }
}

pub fn provenance() -> Result<Provenance, SimError> {
    Ok(constants::load()?.provenance.clone())
}

pub fn run(_inputs: &Inputs<'_>, _workloads: &Workloads, _opts: &Options) -> Result<ScalingReport, SimError> {
    Err(SimError::Input("scaling model not yet written".into()))
}

//! Time to scale under the surge: the HPA algorithm as Kubernetes implements it, KEDA's metric
//! types and polling, metric pipeline lag, node provisioning, image pull and readiness.
//!
//! OWNER: scaling helper.

use serde::Serialize;

use crate::data::Provenance;
use crate::objects::Workloads;
use crate::{Inputs, Options, SimError, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct ScalingReport {}

impl ScalingReport {
    pub fn verdicts(&self) -> Vec<Verdict> {
        Vec::new()
    }
}

pub fn provenance() -> Result<Provenance, SimError> {
    Err(SimError::Input("scaling model not yet written".into()))
}

pub fn run(_inputs: &Inputs<'_>, _workloads: &Workloads, _opts: &Options) -> Result<ScalingReport, SimError> {
    Err(SimError::Input("scaling model not yet written".into()))
}

//! OWNER: cost-and-recovery helper.

use serde::Serialize;

use crate::data::Provenance;
use crate::objects::Workloads;
use crate::{Inputs, SimError, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {}

impl RecoveryReport {
    pub fn verdicts(&self) -> Vec<Verdict> {
        Vec::new()
    }
}

pub fn provenance() -> Result<Provenance, SimError> {
    Err(SimError::Input("recovery model not yet written".into()))
}

pub fn run(_inputs: &Inputs<'_>, _workloads: &Workloads) -> Result<RecoveryReport, SimError> {
    Err(SimError::Input("recovery model not yet written".into()))
}

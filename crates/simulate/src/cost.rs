//! OWNER: cost-and-recovery helper.

use serde::Serialize;

use crate::data::Provenance;
use crate::objects::Workloads;
use crate::{Inputs, SimError, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct CostReport {}

impl CostReport {
    pub fn verdicts(&self) -> Vec<Verdict> {
        Vec::new()
    }
}

pub fn provenance() -> Result<Provenance, SimError> {
    Err(SimError::Input("cost model not yet written".into()))
}

pub fn run(_inputs: &Inputs<'_>, _workloads: &Workloads) -> Result<CostReport, SimError> {
    Err(SimError::Input("cost model not yet written".into()))
}

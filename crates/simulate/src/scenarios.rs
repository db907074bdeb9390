//! The HA scenarios: steady state, lose each AZ, lose the largest node, lose the spot capacity,
//! a traffic surge. Verdict per workload.
//!
//! OWNER: scheduling helper.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::objects::Workloads;
use crate::{Inputs, Options, SimError, Verdict};

/// Result of the capacity scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {}

impl CapacityReport {
    pub fn verdicts(&self) -> Vec<Verdict> {
        Vec::new()
    }
}

pub fn run(_inputs: &Inputs<'_>, _workloads: &Workloads, _opts: &Options) -> Result<CapacityReport, SimError> {
    Err(SimError::Input("capacity scenarios not yet written".into()))
}

/// What the cluster does when the workloads in `replicas` (id → replica count) must run, starting
/// from the steady state: the nodes Cluster Autoscaler adds per node group (in the order it adds
/// them), and the pods left pending per workload (no group can take them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SurgePlacement {
    /// Node group → nodes added.
    pub nodes_added: BTreeMap<String, u32>,
    /// Workload id → pods that stay pending.
    pub pending: BTreeMap<String, u32>,
}

/// Place the workloads at `replicas` on the steady-state cluster, scaling node groups up to their max.
pub fn surge_placement(
    _inputs: &Inputs<'_>,
    _workloads: &Workloads,
    _replicas: &BTreeMap<String, u32>,
) -> Result<SurgePlacement, SimError> {
    Err(SimError::Input("surge placement not yet written".into()))
}

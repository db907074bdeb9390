//! Bin-packing of pods onto nodes, the way kube-scheduler filters and Cluster Autoscaler scales up.
//!
//! OWNER: scheduling helper.

use crate::SimError;
use crate::data::Provenance;

/// Provenance of `data/simulation/scheduling.json`.
pub fn provenance() -> Result<Provenance, SimError> {
    Err(SimError::Input("scheduling model not yet written".into()))
}

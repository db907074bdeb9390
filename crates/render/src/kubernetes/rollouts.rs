//! rollouts: platform-service objects of one environment (issue 9).

use cerverus_model::{Env, Platform};

use super::Objects;
use crate::RenderError;

pub(super) fn render(_platform: &Platform, _env: &Env, _out: &mut Objects) -> Result<(), RenderError> {
    Ok(())
}

/// DestinationRule subsets Argo Rollouts' Istio traffic routing moves weight between (a canary
/// Rollout names them in `trafficRouting.istio.destinationRule`; `mesh.rs` renders them).
pub const STABLE_SUBSET: &str = "stable";
pub const CANARY_SUBSET: &str = "canary";
/// The VirtualService HTTP route a canary Rollout adjusts (`trafficRouting.istio.virtualService.routes`).
pub const PRIMARY_ROUTE: &str = "primary";

/// Service that a blue-green Rollout's preview ReplicaSet answers on.
pub fn preview_service_name(workload: &str) -> String {
    format!("{workload}-preview")
}

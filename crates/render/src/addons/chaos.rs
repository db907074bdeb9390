//! Helm values of the chaos charts (see [`super::CHARTS`]).

use cerverus_model::{Env, Platform};
use serde_json::Value;

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(_platform: &Platform, _env: &Env, name: &str) -> Option<Value> {
    let _ = name;
    None
}

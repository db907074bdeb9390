//! runtime security: platform-service objects of one environment (issue 9).

use cerverus_model::{Env, Platform};

use super::Objects;
use crate::RenderError;

pub(super) fn render(_platform: &Platform, _env: &Env, _out: &mut Objects) -> Result<(), RenderError> {
    Ok(())
}

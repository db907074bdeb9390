//! TODO(issue 10): chart artifacts (owner: the chart helper).

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform};

use crate::RenderError;

pub fn render(_platform: &Platform, _envs: &[&Env]) -> Result<Bundle, RenderError> {
    Ok(Bundle::new())
}

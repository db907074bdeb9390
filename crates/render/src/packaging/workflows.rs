//! TODO(issue 10): workflows artifacts (owner: the workflows helper).

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform};

use crate::RenderError;

pub fn render(_platform: &Platform, _envs: &[&Env]) -> Result<Bundle, RenderError> {
    Ok(Bundle::new())
}

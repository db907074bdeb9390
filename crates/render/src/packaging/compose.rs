//! TODO(issue 10): compose artifacts (owner: the compose helper).

use cerverus_bundle::Bundle;
use cerverus_model::Platform;

use crate::RenderError;

pub fn render(_platform: &Platform) -> Result<Bundle, RenderError> {
    Ok(Bundle::new())
}

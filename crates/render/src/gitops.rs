//! GitOps: Argo CD's app-of-apps per environment (`gitops/<env>/`), the Applications that
//! install every add-on chart and the rendered manifests of `kubernetes/<env>/`, in sync waves.

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform};

use crate::RenderError;

/// Render the Argo CD objects of one environment.
pub fn render_env(_platform: &Platform, _env: &Env) -> Result<Bundle, RenderError> {
    Ok(Bundle::new())
}

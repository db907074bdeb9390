//! Renderers: pure functions from the resolved [`Platform`] to a [`Bundle`].
//!
//! One module per target family. Renderers never do I/O and never read each other's output;
//! everything they need is in the model. Bundle layout:
//!
//! ```text
//! terraform/envs/<env>/*.tf        root module per environment
//! kubernetes/<env>/cluster/*.yaml  cluster-scoped objects
//! kubernetes/<env>/<ns>/*.yaml     namespaced objects, <kind>-<name>.yaml
//! ```

pub mod hcl;
pub mod kubernetes;
pub mod terraform;
pub mod versions;

use cerverus_bundle::{Bundle, BundleError};
use cerverus_model::Platform;

/// Why rendering failed. Renderers work on a validated model, so these are bugs, reported
/// rather than panicked on.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("serializing `{0}` to YAML: {1}")]
    Yaml(String, String),
    #[error("unknown environment `{0}` (the spec declares: {1})")]
    UnknownEnvironment(String, String),
}

/// Render the given environments (all when `envs` is empty).
pub fn render(platform: &Platform, envs: &[String]) -> Result<Bundle, RenderError> {
    let known: Vec<&str> = platform.environments.iter().map(|e| e.name.as_str()).collect();
    for e in envs {
        if !known.contains(&e.as_str()) {
            return Err(RenderError::UnknownEnvironment(e.clone(), known.join(", ")));
        }
    }
    let mut bundle = Bundle::new();
    bundle.merge("terraform", terraform::render_modules()?)?;
    bundle.merge("terraform/bootstrap", terraform::render_bootstrap(platform)?)?;
    for env in platform.environments.iter().filter(|e| envs.is_empty() || envs.contains(&e.name)) {
        bundle.merge(&format!("terraform/envs/{}", env.name), terraform::render_env(platform, env)?)?;
        bundle.merge(&format!("kubernetes/{}", env.name), kubernetes::render_env(platform, env)?)?;
    }
    Ok(bundle)
}

/// Whether a bundle path belongs to environment `env` (for writes limited to some environments).
pub fn path_in_env(path: &str, env: &str) -> bool {
    path.starts_with(&format!("terraform/envs/{env}/"))
        || path.starts_with(&format!("kubernetes/{env}/"))
        || !(path.starts_with("terraform/envs/") || path.starts_with("kubernetes/"))
}

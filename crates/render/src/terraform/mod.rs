//! Terraform for AWS, in the layout terraform-aws-modules users expect:
//!
//! ```text
//! terraform/bootstrap/        once per account: state bucket + lock table, audit, registry
//! terraform/modules/<name>/   reusable modules: main.tf variables.tf outputs.tf versions.tf README.md
//! terraform/envs/<env>/       one root per environment: module calls, this environment's values
//! ```
//!
//! All HCL is built as hcl-rs syntax trees through [`dsl`] and printed by [`crate::hcl`].

use cerverus_bundle::{Bundle, BundleError};
use cerverus_model::{Env, Platform};

pub mod bootstrap;
pub mod ci_identity;
pub mod dsl;
pub mod env;
pub mod iam_json;
pub mod module;
pub mod modules;

pub use env::{LOCK_TABLE, STATE_BUCKET};

/// Render the shared modules under `modules/<name>/`.
pub fn render_modules() -> Result<Bundle, BundleError> {
    let mut b = Bundle::new();
    for m in modules::all() {
        b.merge(&format!("modules/{}", m.name), m.render()?)?;
    }
    Ok(b)
}

/// Render the bootstrap root (state backend, audit, registry: once per account).
pub fn render_bootstrap(platform: &Platform) -> Result<Bundle, BundleError> {
    bootstrap::render(platform)
}

/// Render the root module of one environment.
pub fn render_env(platform: &Platform, env: &Env) -> Result<Bundle, BundleError> {
    env::render(platform, env)
}

//! Packaging: what ships the Cerverus workloads besides the Argo CD manifests — container
//! images (`docker/`), the local development stack (`compose/`), the Helm chart of the workloads
//! (`helm/charts/`), the reusable CI/CD workflows of the service repositories
//! (`github/workflows/`) and their load tests (`loadtest/`). One module per artifact family;
//! like every renderer, pure functions of the model.

pub mod chart;
pub mod compose;
pub mod docker;
pub mod workflows;

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform};

use crate::RenderError;

/// Every packaging artifact. `envs` are the environments being rendered; `objects` are every
/// environment's rendered Kubernetes objects (`kubernetes/<env>/`), which the chart packages
/// (the chart's
/// per-environment values files and the deploy jobs are per environment).
pub fn render(platform: &Platform, envs: &[&Env], objects: &[(&Env, &Bundle)]) -> Result<Bundle, RenderError> {
    let mut bundle = Bundle::new();
    bundle.merge("docker", docker::render(platform)?)?;
    bundle.merge("compose", compose::render(platform)?)?;
    bundle.merge("helm/charts", chart::render(platform, objects)?)?;
    bundle.merge("", workflows::render(platform, envs)?)?;
    Ok(bundle)
}

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

/// Every packaging artifact. They serve every environment whatever `cerverus build --env`
/// selects (the chart's values files and the pipelines' deploy jobs are per environment), so a
/// one-environment build writes the same files as a full one. `objects` are every environment's
/// rendered Kubernetes objects (`kubernetes/<env>/`), which the chart packages.
pub fn render(platform: &Platform, objects: &[(&Env, &Bundle)]) -> Result<Bundle, RenderError> {
    let mut bundle = Bundle::new();
    bundle.merge("docker", docker::render(platform)?)?;
    bundle.merge("compose", compose::render(platform)?)?;
    bundle.merge("helm/charts", chart::render(platform, objects)?)?;
    bundle.merge("", workflows::render(platform)?)?;
    Ok(bundle)
}

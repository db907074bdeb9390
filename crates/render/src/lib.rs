//! Renderers: pure functions from the resolved [`Platform`] to a [`Bundle`].
//!
//! One module per target family. Renderers never do I/O and never read each other's output;
//! everything they need is in the model. Bundle layout:
//!
//! ```text
//! terraform/bootstrap/             once per account (state, audit, registry)
//! terraform/modules/<name>/        reusable modules
//! terraform/envs/<env>/            root module per environment
//! kubernetes/<env>/cluster/*.yaml  cluster-scoped objects
//! kubernetes/<env>/<ns>/*.yaml     namespaced objects, <kind>-<name>.yaml
//! helm/addons/charts.yaml          pinned add-on charts; helm/addons/<env>/*.values.yaml
//! gitops/<env>/                    Argo CD app-of-apps: AppProjects and Applications
//! promtool/<env>/<rule>.test.yaml  `promtool test rules` files of each PrometheusRule
//! chaos/<env>/*.yaml               Chaos Mesh experiments (non-production), applied by hand
//! docker/<image>/                  Dockerfile and .dockerignore of each image (`packaging`)
//! compose/                         docker-compose stack for local development
//! helm/charts/                     Helm chart of the Cerverus workloads, values per environment
//! github/workflows/                reusable workflows of the service repositories
//! loadtest/                        load-test scripts and baselines the pipelines run
//! ```

pub mod addons;
pub mod gitops;
pub mod hcl;
pub mod kubernetes;
pub mod packaging;
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
    #[error("{0}")]
    Invalid(String),
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
    let selected: Vec<&cerverus_model::Env> =
        platform.environments.iter().filter(|e| envs.is_empty() || envs.contains(&e.name)).collect();
    let addons = addons::render(platform, &selected)?;
    for (path, bytes) in addons.iter() {
        // charts.yaml is shared; values files belong to their environment.
        if path == "charts.yaml"
            || envs.is_empty()
            || selected.iter().any(|e| path.starts_with(&format!("{}/", e.name)))
        {
            bundle.add(format!("helm/addons/{path}"), bytes)?;
        }
    }
    // Every environment's Kubernetes objects, rendered once: the selected environments' go into
    // the bundle, and the workloads' chart (one artifact for all environments) is generated
    // from all of them.
    let mut rendered = platform
        .environments
        .iter()
        .map(|e| Ok((e, kubernetes::render_env_with_tests(platform, e)?)))
        .collect::<Result<Vec<_>, RenderError>>()?;
    let objects: Vec<(&cerverus_model::Env, &Bundle)> = rendered.iter().map(|(e, (o, _))| (*e, o)).collect();
    // Images, the local stack, the workloads' Helm chart and the service pipelines.
    bundle.merge("", packaging::render(platform, &objects)?)?;
    rendered.retain(|(e, _)| selected.iter().any(|s| s.name == e.name));
    for (env, (objects, rule_tests)) in rendered {
        bundle.merge(&format!("terraform/envs/{}", env.name), terraform::render_env(platform, env)?)?;
        // The GitOps renderer orders its Applications by what the rendered manifests need, so it
        // reads them (and the add-on values files its chart Applications point at).
        let gitops = gitops::render_env(platform, env, &objects, &addons)?;
        bundle.merge(&format!("kubernetes/{}", env.name), objects)?;
        bundle.merge(&format!("promtool/{}", env.name), rule_tests)?;
        // Chaos experiments are artifacts to run by hand, never synced (see kubernetes::chaos).
        bundle.merge(&format!("chaos/{}", env.name), kubernetes::chaos::experiments(platform, env)?)?;
        bundle.merge(&format!("gitops/{}", env.name), gitops)?;
    }
    Ok(bundle)
}

/// Whether a bundle path belongs to environment `env` (for writes limited to some environments).
pub fn path_in_env(path: &str, env: &str) -> bool {
    let scoped = ["terraform/envs/", "kubernetes/", "helm/addons/", "gitops/", "promtool/", "chaos/"];
    match scoped.iter().find(|p| path.starts_with(*p)) {
        Some(prefix) => path[prefix.len()..].starts_with(&format!("{env}/")) || path == "helm/addons/charts.yaml",
        None => true,
    }
}

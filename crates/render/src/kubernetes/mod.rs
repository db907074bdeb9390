//! Kubernetes manifests per environment under `kubernetes/<env>/`, one object per file:
//! cluster-scoped objects in `cluster/`, namespaced ones in `<namespace>/`, named
//! `<kind>-<name>.yaml` so a reviewer finds things and diffs stay small.
//!
//! Core kinds are k8s-openapi types; nothing here builds YAML by hand.

pub mod autoscaling;
pub mod crd;
mod labels;
mod namespaces;
pub mod network_policies;
pub mod quotas;
pub mod rbac;
mod secrets;
mod storage;
mod workloads;
pub mod yaml;

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform};
use serde::Serialize;

use crate::RenderError;

/// Render every Kubernetes object of one environment.
pub fn render_env(platform: &Platform, env: &Env) -> Result<Bundle, RenderError> {
    let mut out = Objects::default();
    namespaces::render(platform, env, &mut out)?;
    quotas::render(platform, env, &mut out)?;
    rbac::render(platform, env, &mut out)?;
    storage::render(platform, env, &mut out)?;
    secrets::render(platform, env, &mut out)?;
    workloads::render(platform, env, &mut out)?;
    autoscaling::render(platform, env, &mut out)?;
    let all: Vec<&cerverus_model::Workload> = env.workloads.iter().collect();
    network_policies::render(platform, env, &all, &mut out)?;
    Ok(out.bundle)
}

/// Collects rendered objects into files.
#[derive(Default)]
pub(crate) struct Objects {
    bundle: Bundle,
}

impl Objects {
    /// Add a namespaced (`Some(ns)`) or cluster-scoped (`None`) object.
    pub(crate) fn add<T: Serialize>(
        &mut self,
        namespace: Option<&str>,
        kind: &str,
        name: &str,
        object: &T,
    ) -> Result<(), RenderError> {
        let dir = namespace.unwrap_or("cluster");
        let path = format!("{dir}/{}-{name}.yaml", kind.to_ascii_lowercase());
        let text = yaml::document(object).map_err(|e| RenderError::Yaml(path.clone(), e.to_string()))?;
        self.bundle.add(path, text)?;
        Ok(())
    }
}

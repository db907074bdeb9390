//! Kubernetes manifests per environment under `kubernetes/<env>/`, one object per file:
//! cluster-scoped objects in `cluster/`, namespaced ones in `<namespace>/`, named
//! `<kind>-<name>.yaml` so a reviewer finds things and diffs stay small.
//!
//! Core kinds are k8s-openapi types; nothing here builds YAML by hand.

pub mod admission;
pub mod alerting;
pub mod autoscaling;
pub mod backup;
pub mod certificates;
pub mod chaos;
pub mod crd;
pub mod dashboards;
pub(crate) mod labels;
pub mod logging;
pub mod mesh;
pub mod monitoring;
pub mod namespaces;
pub mod network_policies;
pub mod promtool;
pub mod quotas;
pub mod rbac;
pub mod rollouts;
pub mod runtime_security;
mod secrets;
pub mod storage;
pub mod tracing;
pub(crate) mod workloads;
pub mod yaml;

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform};
use serde::Serialize;

use crate::RenderError;

/// Render every Kubernetes object of one environment.
pub fn render_env(platform: &Platform, env: &Env) -> Result<Bundle, RenderError> {
    Ok(render_env_with_tests(platform, env)?.0)
}

/// Every Kubernetes object of one environment (bundle prefix `kubernetes/<env>/`) and the
/// `promtool test rules` files of its PrometheusRules (prefix `promtool/<env>/`).
pub fn render_env_with_tests(platform: &Platform, env: &Env) -> Result<(Bundle, Bundle), RenderError> {
    let mut out = Objects::default();
    namespaces::render(platform, env, &mut out)?;
    quotas::render(platform, env, &mut out)?;
    rbac::render(platform, env, &mut out)?;
    storage::render(platform, env, &mut out)?;
    secrets::render(platform, env, &mut out)?;
    workloads::render(platform, env, &mut out)?;
    autoscaling::render(platform, env, &mut out)?;
    monitoring::render(platform, env, &mut out)?;
    // Platform services (issue 9), one module each.
    mesh::render(platform, env, &mut out)?;
    alerting::render(platform, env, &mut out)?;
    dashboards::render(platform, env, &mut out)?;
    tracing::render(platform, env, &mut out)?;
    logging::render(platform, env, &mut out)?;
    backup::render(platform, env, &mut out)?;
    certificates::render(platform, env, &mut out)?;
    admission::render(platform, env, &mut out)?;
    runtime_security::render(platform, env, &mut out)?;
    rollouts::render(platform, env, &mut out)?;
    chaos::render(platform, env, &mut out)?;
    let all: Vec<&cerverus_model::Workload> = env.workloads.iter().collect();
    network_policies::render(platform, env, &all, &mut out)?;
    network_policies::render_system(platform, env, &mut out)?;
    Ok((out.bundle, out.promtool))
}

/// Argo CD applies lower waves first and waits for them to be healthy.
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// The order objects must exist in: namespaces and cluster-wide classes first, then what
/// workloads reference (RBAC, quotas, policies, secrets, config), then one-off Jobs (schema
/// migrations, which the new version of a service may need), then workloads, then what watches
/// workloads (autoscalers, budgets).
pub fn sync_wave(kind: &str) -> i32 {
    match kind {
        "Namespace" | "PriorityClass" | "StorageClass" => -3,
        "ClusterRole" | "ClusterRoleBinding" | "ClusterSecretStore" | "ResourceQuota" | "LimitRange"
        | "NetworkPolicy" => -2,
        // Istio: who may call whom, mTLS, and the registry entries of the data stores and AWS
        // APIs (with REGISTRY_ONLY, a pod — the PreSync migration Job's included — reaches its
        // database only once these exist) come with the NetworkPolicies, before any pod.
        "AuthorizationPolicy" | "PeerAuthentication" | "RequestAuthentication" | "ServiceEntry" => -2,
        // An AnalysisTemplate must exist before the Rollout that names it starts an analysis.
        "ServiceAccount" | "Role" | "RoleBinding" | "ExternalSecret" | "ConfigMap" | "AnalysisTemplate" => -1,
        // Gatekeeper: a template (and the Config) before the constraint whose CRD it creates;
        // both before the workloads they judge.
        "ConstraintTemplate" | "Config" => -2,
        k if admission::is_constraint_kind(k) => -1,
        "Job" => 0,
        "Deployment" | "StatefulSet" | "CronJob" | "Service" | "Rollout" => 1,
        _ => 2,
    }
}

/// Argo CD hook annotations.
pub const HOOK: &str = "argocd.argoproj.io/hook";
pub const HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";

/// Annotations that make a Job a once-per-release step: a Job's `spec.template` is immutable, so
/// applying a changed Job (a new image digest) over the old one fails. As an Argo CD `PreSync`
/// hook with `BeforeHookCreation`, the previous Job is deleted and the new one created on every
/// sync, and the sync of the Application's other objects (the Deployments and Rollouts that
/// expect the migrated schema) only starts once it has succeeded; a failed migration fails the
/// sync and no new pod is created.
///
/// A `PreSync` hook runs before *any* object of its own Application is applied, so what the
/// Job's pod needs — namespace, quota, NetworkPolicies, ServiceAccount, RBAC, ExternalSecrets
/// and ConfigMaps: every kind [`is_prerequisite`] names — must come from an earlier Application
/// that is already synced and healthy, also on a cluster's first sync. GitOps renders the
/// prerequisite kinds and the workload kinds of an environment as two Applications in that
/// order (`gitops.rs`).
pub fn job_hook_annotations() -> [(&'static str, &'static str); 2] {
    [(HOOK, "PreSync"), (HOOK_DELETE_POLICY, "BeforeHookCreation")]
}

/// Whether objects of `kind` must already exist when a workload Application syncs: everything a
/// pod (a `PreSync` migration Job's included) needs before it starts. These go in an earlier
/// Argo CD Application than the workloads (see [`job_hook_annotations`]).
pub fn is_prerequisite(kind: &str) -> bool {
    sync_wave(kind) < 0
}

/// Collects rendered objects into files.
#[derive(Default)]
pub(crate) struct Objects {
    bundle: Bundle,
    /// `promtool test rules` files, by `promtool::test_file(<PrometheusRule name>)`.
    promtool: Bundle,
}

impl Objects {
    /// Add the unit tests of PrometheusRule `rule_name` (see [`promtool`]): every
    /// PrometheusRule needs them, and `crates/cli/tests/alerting.rs` fails without.
    pub(crate) fn add_rule_tests(&mut self, rule_name: &str, tests: &promtool::TestFile) -> Result<(), RenderError> {
        let path = promtool::test_file(rule_name);
        let text = yaml::document(tests).map_err(|e| RenderError::Yaml(path.clone(), e.to_string()))?;
        self.promtool.add(path, text)?;
        Ok(())
    }

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
        let mut value = serde_json::to_value(object).map_err(|e| RenderError::Yaml(path.clone(), e.to_string()))?;
        if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            let annotations =
                meta.entry("annotations").or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let Some(a) = annotations.as_object_mut() {
                a.insert(SYNC_WAVE.to_string(), serde_json::Value::String(sync_wave(kind).to_string()));
                // A Job whose renderer chose its own hook phase (a PostSync bootstrap that needs
                // the synced service) keeps it; every other Job is a PreSync step.
                if kind == "Job" && !a.contains_key(HOOK) {
                    for (k, v) in job_hook_annotations() {
                        a.insert(k.to_string(), serde_json::Value::String(v.to_string()));
                    }
                }
            }
        }
        let text = yaml::document(&value).map_err(|e| RenderError::Yaml(path.clone(), e.to_string()))?;
        self.bundle.add(path, text)?;
        Ok(())
    }
}

//! Helm values of the delivery charts (see [`super::CHARTS`]): Argo Rollouts, the controller
//! that carries out the canary and blue-green Rollouts `kubernetes::rollouts` renders.

use cerverus_model::{Env, Platform};
use serde_json::{Value, json};

/// Release (and namespace) of the Argo Rollouts controller.
const ARGO_ROLLOUTS: &str = crate::kubernetes::rollouts::CONTROLLER_NAMESPACE;

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(_platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    (name == ARGO_ROLLOUTS).then(|| argo_rollouts(env))
}

/// argo-rollouts 2.41.0 (keys from `data/reference/helm/argo-rollouts/2.41.0/values.yaml`):
///
/// - CRDs installed and kept on uninstall (deleting the CRD would delete every Rollout and so
///   every pod of the canary/blue-green workloads).
/// - Two controller replicas in production (leader election: one acts, the other takes over
///   within the lease), with a budget so a node drain never takes both; one elsewhere.
/// - Restricted security contexts (the chart's defaults, set so they cannot loosen).
/// - No dashboard: promotion and abort go through `kubectl argo rollouts` under RBAC, not an
///   unauthenticated web UI.
/// - Controller metrics scraped by the Prometheus Operator through a ServiceMonitor (the
///   operator's CRDs come in an earlier wave, with kube-prometheus-stack).
/// - Provider RBAC for Istio only (it edits VirtualServices and DestinationRules); the other
///   traffic providers' rules are not granted.
fn argo_rollouts(env: &Env) -> Value {
    let production = env.is_production();
    let providers = json!({
        "istio": true,
        "smi": false,
        "ambassador": false,
        "awsLoadBalancerController": false,
        "awsAppMesh": false,
        "traefik": false,
        "apisix": false,
        "contour": false,
        "glooPlatform": false,
        "gatewayAPI": false
    });
    json!({
        "installCRDs": true,
        "keepCRDs": true,
        "controller": {
            "replicas": if production { 2 } else { 1 },
            "priorityClassName": "system-cluster-critical",
            "resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"},
                "limits": {"cpu": "1", "memory": "512Mi"}
            },
            "pdb": {"enabled": production, "maxUnavailable": 1},
            "metrics": {
                "enabled": true,
                "serviceMonitor": {"enabled": true}
            }
        },
        // The pod-level context keeps the chart's keys (`runAsNonRoot`); the seccomp profile is
        // set per container, which Pod Security `restricted` accepts.
        "podSecurityContext": {"runAsNonRoot": true},
        "containerSecurityContext": super::restricted(),
        "dashboard": {"enabled": false},
        "providerRBAC": {"enabled": true, "providers": providers}
    })
}

//! Helm values of the gitops charts (see [`super::CHARTS`]): Argo CD (`argo-cd` 10.1.1, Argo CD
//! v3.4), which installs everything else from `gitops/<env>/` (see `crate::gitops`).
//!
//! Decisions, each checked against the pinned chart's values.yaml:
//! - **Not exposed**: `server.service.type` ClusterIP, no Ingress; people reach the UI/API with
//!   `kubectl port-forward` or `argocd --port-forward`, through the cluster's RBAC.
//! - **TLS stays on argocd-server** (`server.insecure: false`): the `argocd` namespace is not in
//!   the mesh (no sidecar injection), so nothing in front of the server would terminate TLS.
//! - **Replicas in production**: server and repo-server 2 each with a PodDisruptionBudget; the
//!   application controller 1, because it shards by cluster and a second replica of a one-cluster
//!   install holds no shard (it would idle); its StatefulSet restarts it.
//! - **redis-ha off**: Argo CD's Redis is a cache (rendered manifests, app state) that every
//!   component rebuilds from Git and the API server; losing it costs a slower refresh, not
//!   state. redis-ha needs three nodes with hard anti-affinity and HAProxy for that.
//! - **Sync waves wait for child health**: Argo CD ≥1.8 no longer assesses an Application's
//!   health, so an app-of-apps would start wave n+1 while wave n is still installing; the Lua
//!   check below (the one Argo CD's docs give, operator-manual/health "Argocd App") restores it.
//! - Dex and notifications are off (no SSO connector, no notification service configured);
//!   containers run with the restricted security context.

use cerverus_model::{Env, Platform};
use serde_json::{Value, json};

use super::restricted;

/// Health of a child `argoproj.io/Application`: the health Argo CD computed for it, Progressing
/// until it has one.
pub const APPLICATION_HEALTH_LUA: &str = r#"hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"#;

/// Key of the Application health check in `argocd-cm`.
pub const APPLICATION_HEALTH_KEY: &str = "resource.customizations.health.argoproj.io_Application";

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(_platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    (name == "argo-cd").then(|| argo_cd(env))
}

fn argo_cd(env: &Env) -> Value {
    let prod = env.is_production();
    let replicas = if prod { 2 } else { 1 };
    let pdb = json!({"enabled": prod, "minAvailable": 1});
    json!({
        "global": {
            // The in-cluster name: the server has no public host.
            "domain": "argocd-server.argocd.svc",
            "networkPolicy": {"create": true, "defaultDenyIngress": true}
        },
        "configs": {
            "cm": {
                APPLICATION_HEALTH_KEY: APPLICATION_HEALTH_LUA,
                "application.resourceTrackingMethod": "annotation",
                "admin.enabled": true,
                "exec.enabled": false
            },
            "params": {"server.insecure": false},
            "rbac": {"policy.default": "role:readonly"}
        },
        "controller": {
            "replicas": 1,
            "containerSecurityContext": restricted(),
            "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
        },
        "server": {
            "replicas": replicas,
            "pdb": pdb,
            "service": {"type": "ClusterIP"},
            "ingress": {"enabled": false},
            "containerSecurityContext": restricted(),
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
        },
        "repoServer": {
            "replicas": replicas,
            "pdb": pdb,
            "containerSecurityContext": restricted(),
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
        },
        "applicationSet": {"replicas": 1, "containerSecurityContext": restricted()},
        "redis": {"containerSecurityContext": restricted()},
        "redis-ha": {"enabled": false},
        "dex": {"enabled": false},
        "notifications": {"enabled": false}
    })
}

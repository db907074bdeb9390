//! Helm values of the admission charts (see [`super::CHARTS`]): Gatekeeper 3.23.0
//! (`data/reference/helm/gatekeeper/3.23.0/values.yaml`).
//!
//! Decisions, with their reasons:
//! - `validatingWebhookFailurePolicy`: `Fail` in production — a policy that lapses whenever
//!   Gatekeeper is unavailable is not enforced; three replicas spread over nodes, a PDB and
//!   `system-cluster-critical` make that rare, and the webhook is not called in kube-system,
//!   gatekeeper-system or any add-on namespace (`validatingWebhookExemptNamespacesLabels`) nor
//!   for cluster-scoped objects (`validatingWebhookScope: Namespaced`), so a Gatekeeper outage
//!   can always be repaired and blocks only the application namespaces — and there only the
//!   kinds the constraints judge (`validatingWebhookCustomRules`: Pods, pod-template workloads,
//!   PodDisruptionBudgets), not evictions, scale subresources, Secrets or ConfigMaps.
//!   `Ignore` elsewhere: a development cluster keeps working with Gatekeeper down, and the
//!   audit still reports what got in.
//! - Mutation off (`disableMutation`): no Assign/ModifySet policies are rendered; the mutating
//!   webhook would only add latency and a failure mode.
//! - External data off: no provider is configured, and the feature opens an egress path.
//! - `postInstall.labelNamespace` off: its job labels gatekeeper-system with
//!   `admission.gatekeeper.sh/ignore` and Pod Security labels. The chart's webhooks already
//!   exclude their own release namespace by name, and the bundle renders that Namespace with its
//!   Pod Security labels (`kubernetes/<env>/cluster/namespace-gatekeeper-system.yaml`), which
//!   Argo CD keeps. A post-install hook that edits an object Argo CD owns would only drift.
//! - Hook jobs that stay on (the CRD upgrade) get a restricted container security context with
//!   `seccompProfile: RuntimeDefault`, as the namespace enforces PSS `restricted`.
//! - Metrics: the Prometheus backend (chart default) on port 8888, scraped through the
//!   PodMonitor `kubernetes::admission` renders (the chart has none).

use cerverus_model::{Env, Platform};
use serde_json::{Value, json};

use crate::kubernetes::admission::{GATEKEEPER_NAMESPACE, exempt_namespaces, webhook_rules};

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(_platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    (name == "gatekeeper").then(|| gatekeeper(env))
}

/// Container security context of every Gatekeeper pod and hook: the chart's own (non-root 1000,
/// read-only root, no capabilities) plus the seccomp profile `restricted` requires.
fn restricted(uid: u32, gid: u32) -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": true,
        "runAsGroup": gid,
        "runAsNonRoot": true,
        "runAsUser": uid,
        "seccompProfile": {"type": "RuntimeDefault"}
    })
}

fn gatekeeper(env: &Env) -> Value {
    let prod = env.is_production();
    let replicas = if prod { 3 } else { 2 };
    // The webhook's namespace selector already excludes the release namespace; these are the
    // other namespaces it must never be called for (see the module comment).
    let exempt: Vec<String> = exempt_namespaces(env).into_iter().filter(|n| n != GATEKEEPER_NAMESPACE).collect();
    let spread = json!([{
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"gatekeeper.sh/operation": "webhook"}}
    }]);
    json!({
        "replicas": replicas,
        "pdb": {"controllerManager": {"minAvailable": replicas - 1}},
        "auditInterval": 60,
        "constraintViolationsLimit": 20,
        "auditFromCache": false,
        "validatingWebhookFailurePolicy": if prod { "Fail" } else { "Ignore" },
        "validatingWebhookTimeoutSeconds": 3,
        "validatingWebhookExemptNamespacesLabels": {"kubernetes.io/metadata.name": exempt},
        // Every constraint judges namespaced kinds (Pods, workloads, budgets): the API server
        // need not call Gatekeeper for cluster-scoped objects, so a Gatekeeper outage under
        // `Fail` never blocks CRDs, cluster roles or namespaces (what a recovery applies).
        "validatingWebhookScope": "Namespaced",
        // Only the kinds the constraints judge (see `webhook_rules`): under `Fail`, an outage
        // must not stop evictions, scale subresources or unrelated writes.
        "validatingWebhookCustomRules": webhook_rules(),
        "disableMutation": true,
        "enableExternalData": false,
        "logDenies": true,
        "emitAdmissionEvents": true,
        "emitAuditEvents": false,
        "metricsBackends": ["prometheus"],
        "enableRuntimeDefaultSeccompProfile": true,
        "postInstall": {
            "labelNamespace": {"enabled": false},
            "probeWebhook": {"enabled": false},
            "securityContext": restricted(1000, 999)
        },
        "postUpgrade": {"labelNamespace": {"enabled": false}, "securityContext": restricted(1000, 999)},
        "preUninstall": {"deleteWebhookConfigurations": {"enabled": false}, "securityContext": restricted(1000, 999)},
        "crds": {"securityContext": restricted(65532, 65532)},
        "controllerManager": {
            "priorityClassName": "system-cluster-critical",
            "securityContext": restricted(1000, 999),
            "topologySpreadConstraints": spread,
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
        },
        "audit": {
            "priorityClassName": "system-cluster-critical",
            "securityContext": restricted(1000, 999),
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
        }
    })
}

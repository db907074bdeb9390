//! Helm values of the chaos charts (see [`super::CHARTS`]): Chaos Mesh 2.8.3, installed outside
//! production only (`nonproduction_only`).
//!
//! - chaos-daemon talks to the node's container runtime to enter pods' network and PID
//!   namespaces: EKS nodes run containerd, socket `/run/containerd/containerd.sock`. It runs
//!   privileged with host PID (the chart's default), which is why `chaos-mesh` is a privileged
//!   namespace (`PRIVILEGED_ADDON_NAMESPACES`); it tolerates every taint, since the experiments
//!   reach pods on the data and ML pools too.
//! - No dashboard and no DNS server: experiments are files in the bundle (`chaos/<env>/`) that an
//!   operator applies with kubectl, reviewed like any change; a dashboard would be a second,
//!   unreviewed way to start them, and DNSChaos is not used.
//! - The controller keeps its webhook on 10250 (the chart default), a port the EKS control
//!   plane already reaches on nodes.
//! - **Certificates from cert-manager** (`webhook.certManager.enabled`): without it the chart
//!   mints a new CA, webhook certificate and chaos-daemon mTLS pair with `genCA` on every
//!   render. Argo CD renders the chart again on every commit to the repository, so the Secrets
//!   would change under running pods while the webhooks keep their old `caBundle` (ignored in
//!   the diff, see `gitops`): the API server would stop trusting the webhook and the controller
//!   would stop trusting the daemons. With cert-manager the chart creates a self-signed CA
//!   Issuer and Certificates once, and cert-manager's CA injector fills the webhooks'
//!   `caBundle`. The chart therefore installs after cert-manager (chart wave 2, see `CHARTS`):
//!   it renders its Certificates only as `cert-manager.io/v1` when that API is already served.

use cerverus_model::{Env, Platform};
use serde_json::{Value, json};

/// The runtime socket chaos-daemon uses on EKS nodes (containerd).
pub const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(_platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    if name != "chaos-mesh" || env.is_production() {
        return None;
    }
    Some(json!({
        "controllerManager": {
            // Non-production tooling: one replica (leader election still on).
            "replicaCount": 1,
            "resources": {
                "requests": {"cpu": "25m", "memory": "256Mi"},
                "limits": {"cpu": "500m", "memory": "512Mi"}
            }
        },
        "chaosDaemon": {
            "runtime": "containerd",
            "socketPath": CONTAINERD_SOCKET,
            "tolerations": [{"operator": "Exists"}],
            "resources": {
                "requests": {"cpu": "50m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "512Mi"}
            }
        },
        "dashboard": {"create": false},
        "dnsServer": {"create": false},
        "webhook": {"certManager": {"enabled": true}}
    }))
}

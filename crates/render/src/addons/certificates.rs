//! Helm values of the certificates charts (see [`super::CHARTS`]): cert-manager v1.21.1.
//!
//! What the controller needs to work here, and where each need is met:
//! - its CRDs (Certificate, ClusterIssuer, …) come with the chart (`crds.enabled`) and stay when
//!   the release is removed (`crds.keep`), so deleting the Application never deletes every
//!   Certificate and its Secret with it;
//! - Route 53 access for DNS-01 through IRSA: the ServiceAccount `cert-manager/cert-manager`
//!   carries the ARN of the role the environment's Terraform creates for exactly that account
//!   (`terraform/env.rs`, AddonRole `cert-manager`, policy `cert_manager`); the ClusterIssuers use
//!   ambient credentials (no access key anywhere);
//! - the projected web-identity token must be readable by the non-root controller:
//!   `securityContext.fsGroup`, as cert-manager's Route 53 guide says for IRSA;
//! - DNS-01's propagation self-check must not need port 53 on the internet: the nodes' security
//!   group allows DNS only to the VPC resolver (and the internet only on the node egress ports),
//!   so cert-manager asks the VPC resolver (recursive) instead of the zone's authoritative servers;
//! - the webhook is called by the API server on `webhook.securePort` (10250): the cluster security
//!   group reaches the nodes on 1025-65535, and the cert-manager namespace has no NetworkPolicy
//!   (it is an add-on namespace the bundle does not police), so nothing is added to
//!   `API_SERVER_CALLEES`.

use cerverus_model::{Env, Platform};
use serde_json::{Value, json};

use super::{restricted, role};

/// Release, namespace and ServiceAccount of cert-manager (the IRSA role trusts exactly this).
pub const RELEASE: &str = "cert-manager";
pub const NAMESPACE: &str = "cert-manager";
pub const SERVICE_ACCOUNT: &str = "cert-manager";

/// UID/GID the cert-manager images run as; the fsGroup makes the projected token group-readable.
const FS_GROUP: i64 = 1001;

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    (name == RELEASE).then(|| cert_manager(platform, env))
}

/// The IRSA role ARN the ServiceAccount is annotated with.
pub fn irsa_role_arn(platform: &Platform, env: &Env) -> String {
    role(platform, env, NAMESPACE, SERVICE_ACCOUNT)
}

/// The VPC resolver (Route 53 Resolver at the VPC's base address + 2), the only DNS server the
/// nodes' security group lets pods reach.
pub fn vpc_resolver(env: &Env) -> String {
    let base = u32::from(env.network.vpc_cidr.network());
    format!("{}:53", std::net::Ipv4Addr::from(base.wrapping_add(2)))
}

fn replicas(env: &Env) -> u32 {
    if env.is_production() { 2 } else { 1 }
}

/// Pod settings shared by the controller, the webhook and the cainjector.
fn component(env: &Env, component: &str, cpu: &str, memory: &str) -> Value {
    json!({
        "replicaCount": replicas(env),
        // maxUnavailable 1: with two replicas one always serves; with one a drain is not blocked.
        "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1},
        "securityContext": {"runAsNonRoot": true, "fsGroup": FS_GROUP, "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": restricted(),
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit(memory)}},
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {
                "app.kubernetes.io/instance": RELEASE,
                "app.kubernetes.io/component": component
            }}
        }]
    })
}

/// Twice the request: the controller's cache grows with the number of Certificates and Secrets.
fn memory_limit(request: &str) -> String {
    request
        .strip_suffix("Mi")
        .and_then(|n| n.parse::<u32>().ok())
        .map_or(request.to_string(), |n| format!("{}Mi", n * 2))
}

fn cert_manager(platform: &Platform, env: &Env) -> Value {
    let mut v = component(env, "controller", "50m", "128Mi");
    let webhook = component(env, "webhook", "20m", "64Mi");
    let cainjector = component(env, "cainjector", "20m", "128Mi");
    let extra = json!({
        "crds": {"enabled": true, "keep": true},
        // Leader-election leases in cert-manager's own namespace, not kube-system: the release
        // then needs no Role outside its namespace.
        "global": {"leaderElection": {"namespace": NAMESPACE}},
        "serviceAccount": {
            "create": true,
            "name": SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": irsa_role_arn(platform, env)}
        },
        "dns01RecursiveNameserversOnly": true,
        "dns01RecursiveNameservers": vpc_resolver(env),
        // Certificates' Secrets are deleted with them only by hand: a deleted Certificate must
        // not take the gateway's serving certificate with it.
        "enableCertificateOwnerRef": false,
        "prometheus": {"enabled": true, "servicemonitor": {"enabled": true, "interval": "60s"}},
        "webhook": webhook,
        "cainjector": cainjector,
        "startupapicheck": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": restricted(),
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}
        }
    });
    if let (Some(base), Some(more)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in more {
            base.insert(k.clone(), val.clone());
        }
    }
    v
}

//! Helm values of the mesh charts (see [`super::CHARTS`]): Istio's `base` (CRDs), `cni` (the node
//! agent that sets up each pod's traffic redirection, so application pods need no NET_ADMIN init
//! container and stay PSS restricted), `istiod` with the mesh config, the ingress gateway behind
//! an internet-facing NLB, the egress gateway, and Kiali.
//!
//! The objects that use all this (Gateways, routes, policies) are `kubernetes/mesh.rs`; names both
//! sides share are constants there.

use cerverus_model::{Env, Platform};
use serde_json::{Value, json};

use super::{otel_collector_service, prometheus_service, restricted};
use crate::kubernetes::mesh::{
    ACCESS_LOG_PROVIDER, AUDIT_LOG_PROVIDER, EGRESS_GATEWAY, EGRESS_GATEWAY_POD, GATEWAY_READY_PATH,
    GATEWAY_STATUS_PORT, INGRESS_GATEWAY, INGRESS_HTTP, INGRESS_HTTPS, JWT_SUBJECT_HEADER, PROXY_RESOURCES,
    TRACING_PROVIDER, egress_target_port, external_ports, jaeger_query_url,
};
use crate::kubernetes::network_policies::GATEWAY_NAMESPACE;

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(_platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    match name {
        // CRDs and the validation webhook configuration; the defaults are the documented install.
        "istio-base" => Some(json!({"defaultRevision": "default"})),
        // The CNI node agent with the chart's defaults (all taints tolerated, system-node-critical):
        // it must run on every node before any meshed pod starts there.
        "istio-cni" => Some(json!({})),
        "istiod" => Some(istiod(env)),
        "istio-ingressgateway" => Some(ingress_gateway(env)),
        "istio-egressgateway" => Some(egress_gateway(env)),
        "kiali-server" => Some(kiali(env)),
        _ => None,
    }
}

fn seccomp() -> Value {
    json!({"type": "RuntimeDefault"})
}

fn istiod(env: &Env) -> Value {
    let prod = env.is_production();
    let otel = otel_collector_service();
    json!({
        // Sidecars get their redirection from the CNI node agent (`istio-cni`), not from an
        // `istio-init` container with NET_ADMIN/NET_RAW: `cni.enabled` is the istiod chart's key
        // (`pilot.cni.enabled` in Istio's install docs is the same key before the chart flattens
        // `pilot:`).
        "cni": {"enabled": true},
        "autoscaleMin": if prod { 2 } else { 1 },
        "autoscaleMax": 5,
        "seccompProfile": seccomp(),
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}},
        "env": {
            // Kubernetes-native sidecars (the default since 1.27, pinned here): the proxy starts
            // before the application and stops after it, so Jobs (the schema migration, model
            // training) complete instead of waiting forever on a running proxy.
            "ENABLE_NATIVE_SIDECARS": "true"
        },
        "global": {
            "istioNamespace": GATEWAY_NAMESPACE,
            "priorityClassName": "system-cluster-critical",
            // Counted per pod by the meshed namespaces' quotas (one source for both).
            "proxy": {"seccompProfile": seccomp(), "resources": PROXY_RESOURCES.values()},
        },
        "meshConfig": {
            "accessLogFile": "/dev/stdout",
            "accessLogEncoding": "JSON",
            // Only hosts in the registry (Services, ServiceEntries) are reachable from a sidecar.
            "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
            "enableTracing": true,
            "defaultConfig": {"holdApplicationUntilProxyStarts": true},
            "defaultProviders": {"tracing": [TRACING_PROVIDER], "accessLogging": [ACCESS_LOG_PROVIDER]},
            "extensionProviders": [
                {"name": TRACING_PROVIDER, "opentelemetry": {
                    "service": format!("{}.{}.svc.cluster.local", otel.name, otel.namespace),
                    "port": otel.port
                }},
                // `envoy` is built in (accessLogFile/accessLogEncoding above); the audit log is
                // one JSON line per request to the public API: who (token subject, peer), what,
                // from where, with what outcome.
                {"name": AUDIT_LOG_PROVIDER, "envoyFileAccessLog": {
                    "path": "/dev/stdout",
                    "logFormat": {"labels": audit_log_fields()}
                }}
            ]
        }
    })
}

/// Fields of an audit log line (Envoy access-log command operators).
fn audit_log_fields() -> Value {
    json!({
        "log_type": "audit",
        "start_time": "%START_TIME%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        "subject": format!("%REQ({})%", JWT_SUBJECT_HEADER.to_ascii_uppercase()),
        "peer": "%DOWNSTREAM_PEER_URI_SAN%",
        "client": "%REQ(X-FORWARDED-FOR)%",
        "authority": "%REQ(:AUTHORITY)%",
        "method": "%REQ(:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "status": "%RESPONSE_CODE%",
        "response_flags": "%RESPONSE_FLAGS%",
        "duration_ms": "%DURATION%"
    })
}

/// Pod placement and hardening both gateways share.
fn gateway_common(env: &Env, release: &str, istio_label: &str) -> Value {
    let prod = env.is_production();
    json!({
        "name": release,
        "labels": {"istio": istio_label},
        "serviceAccount": {"create": true, "name": release},
        "autoscaling": {"enabled": true, "minReplicas": if prod { 3 } else { 2 }, "maxReplicas": 10},
        "podDisruptionBudget": {"minAvailable": 1},
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
        "priorityClassName": "system-cluster-critical",
        // The pods listen on unprivileged ports only (Service targetPorts ≥ 1024), so no
        // `net.ipv4.ip_unprivileged_port_start` sysctl (the chart's default when this is empty).
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": 1337, "runAsGroup": 1337, "fsGroup": 1337,
            "seccompProfile": seccomp()
        },
        "containerSecurityContext": restricted(),
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"istio": istio_label}}
        }]
    })
}

/// The public entry: a LoadBalancer Service that the AWS Load Balancer Controller turns into an
/// internet-facing NLB targeting the gateway pods' IPs. TLS is terminated by the gateway (the
/// Gateway's `credentialName`), so the NLB forwards TCP and no ACM certificate is involved.
///
/// No proxy protocol and no client-IP preservation: the NLB connects from its own addresses in
/// the public subnets, which is what the gateway pods' NetworkPolicy admits (a preserved client
/// address would need 0.0.0.0/0 on the pods, and proxy protocol a listener filter the health
/// checks do not speak). The client address the audit log records is the NLB's.
fn ingress_gateway(env: &Env) -> Value {
    let mut v = gateway_common(env, INGRESS_GATEWAY, "ingressgateway");
    let lb = "service.beta.kubernetes.io/aws-load-balancer";
    v["service"] = json!({
        "type": "LoadBalancer",
        // Reconciled by the AWS Load Balancer Controller only (not the in-tree cloud provider).
        "loadBalancerClass": "service.k8s.aws/nlb",
        "annotations": {
            format!("{lb}-type"): "external",
            format!("{lb}-nlb-target-type"): "ip",
            format!("{lb}-scheme"): "internet-facing",
            format!("{lb}-healthcheck-protocol"): "http",
            format!("{lb}-healthcheck-port"): GATEWAY_STATUS_PORT.to_string(),
            format!("{lb}-healthcheck-path"): GATEWAY_READY_PATH,
            format!("{lb}-attributes"): "load_balancing.cross_zone.enabled=true",
            format!("{lb}-target-group-attributes"): "preserve_client_ip.enabled=false,deregistration_delay.timeout_seconds=30"
        },
        // The status port is health-checked on the pods directly (ip targets), not published:
        // the NLB listens on 80 (redirected to HTTPS) and 443 only.
        "ports": [
            {"name": "http2", "port": INGRESS_HTTP.0, "protocol": "TCP", "targetPort": INGRESS_HTTP.1},
            {"name": "https", "port": INGRESS_HTTPS.0, "protocol": "TCP", "targetPort": INGRESS_HTTPS.1}
        ]
    });
    v
}

/// The egress gateway: a ClusterIP Service on every port a declared external service is called
/// on; the sidecars send those hosts' TLS here (`kubernetes/mesh.rs`).
fn egress_gateway(env: &Env) -> Value {
    let mut v = gateway_common(env, EGRESS_GATEWAY, EGRESS_GATEWAY_POD.1);
    let ports: Vec<Value> = external_ports(env)
        .into_iter()
        .map(|p| json!({"name": format!("tls-{p}"), "port": p, "protocol": "TCP", "targetPort": egress_target_port(p)}))
        .collect();
    v["service"] = json!({"type": "ClusterIP", "ports": ports});
    v
}

fn kiali(env: &Env) -> Value {
    json!({
        // Log in with a Kubernetes token (`kubectl -n istio-system create token …`): what the
        // console shows and changes is what that identity's RBAC allows. Reached through
        // `kubectl port-forward`; no Ingress.
        "auth": {"strategy": "token"},
        "deployment": {
            // The chart's own NetworkPolicy would open the console to every namespace; the
            // bundle's istio-system policies decide instead.
            "network_policy": {"enabled": false},
            "security_context": restricted(),
            "view_only_mode": env.is_production(),
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}
        },
        "external_services": {
            "istio": {"root_namespace": GATEWAY_NAMESPACE},
            "prometheus": {"url": prometheus_service().url()},
            "tracing": {
                "enabled": true,
                "provider": "jaeger",
                "internal_url": jaeger_query_url(),
                "use_grpc": false
            },
            "grafana": {"enabled": false}
        }
    })
}

//! Cluster add-ons installed with Helm: pinned chart versions (`helm/addons/charts.yaml`) and
//! per-environment values derived from the model (`helm/addons/<env>/<addon>.values.yaml`).
//! Argo CD Applications that install them come with the delivery renderer; the versions and
//! values are decided here, in one place.
//!
//! Versions are decisions: bump them in a reviewed commit. They were chosen as releases that
//! support the cluster's Kubernetes minor; this build cannot reach the chart repositories to
//! re-verify them (no network), which `scripts/validate` will do once Helm rendering is added.

use cerverus_bundle::{Bundle, BundleError};
use cerverus_model::{Capacity, Env, Platform};
use serde::Serialize;
use serde_json::{Value, json};

use crate::kubernetes::yaml;

/// One Helm chart, pinned.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub name: &'static str,
    pub repository: &'static str,
    pub chart: &'static str,
    pub version: &'static str,
    pub namespace: &'static str,
    /// What it is for, in one line.
    pub purpose: &'static str,
}

pub const CHARTS: &[Chart] = &[
    Chart {
        name: "metrics-server",
        repository: "https://kubernetes-sigs.github.io/metrics-server",
        chart: "metrics-server",
        version: "3.12.2",
        namespace: "kube-system",
        purpose: "resource metrics for HPA and kubectl top",
    },
    Chart {
        name: "keda",
        repository: "https://kedacore.github.io/charts",
        chart: "keda",
        version: "2.17.2",
        namespace: "keda",
        purpose: "event-driven autoscaling: Prometheus and cron triggers",
    },
    Chart {
        name: "vpa",
        repository: "https://charts.fairwinds.com/stable",
        chart: "vpa",
        version: "4.7.1",
        namespace: "kube-system",
        purpose: "VerticalPodAutoscaler recommender, updater and admission controller",
    },
    Chart {
        name: "cluster-autoscaler",
        repository: "https://kubernetes.github.io/autoscaler",
        chart: "cluster-autoscaler",
        version: "9.46.6",
        namespace: "kube-system",
        purpose: "node autoscaling of the managed node groups, priority expander",
    },
    Chart {
        name: "aws-node-termination-handler",
        repository: "https://aws.github.io/eks-charts",
        chart: "aws-node-termination-handler",
        version: "0.21.0",
        namespace: "kube-system",
        purpose: "drains nodes on spot interruption and rebalance notices (queue mode)",
    },
    Chart {
        name: "nvidia-device-plugin",
        repository: "https://nvidia.github.io/k8s-device-plugin",
        chart: "nvidia-device-plugin",
        version: "0.17.1",
        namespace: "kube-system",
        purpose: "exposes nvidia.com/gpu on the ml pool",
    },
    Chart {
        name: "dcgm-exporter",
        repository: "https://nvidia.github.io/dcgm-exporter/helm-charts",
        chart: "dcgm-exporter",
        version: "4.1.1",
        namespace: "cerverus-monitoring",
        purpose: "GPU utilisation metrics (DCGM_FI_DEV_GPU_UTIL) for inference autoscaling",
    },
    Chart {
        name: "aws-efs-csi-driver",
        repository: "https://kubernetes-sigs.github.io/aws-efs-csi-driver",
        chart: "aws-efs-csi-driver",
        version: "3.1.6",
        namespace: "kube-system",
        purpose: "cerverus-efs StorageClass",
    },
    Chart {
        name: "aws-mountpoint-s3-csi-driver",
        repository: "https://awslabs.github.io/mountpoint-s3-csi-driver",
        chart: "aws-mountpoint-s3-csi-driver",
        version: "1.14.1",
        namespace: "kube-system",
        purpose: "cerverus-s3 StorageClass",
    },
    Chart {
        name: "external-secrets",
        repository: "https://charts.external-secrets.io",
        chart: "external-secrets",
        version: "0.17.0",
        namespace: "external-secrets",
        purpose: "syncs AWS Secrets Manager into Kubernetes Secrets (external-secrets.io/v1)",
    },
    Chart {
        name: "aws-load-balancer-controller",
        repository: "https://aws.github.io/eks-charts",
        chart: "aws-load-balancer-controller",
        version: "1.13.0",
        namespace: "kube-system",
        purpose: "ALB/NLB for the ingress gateways",
    },
    Chart {
        name: "ingress-nginx",
        repository: "https://kubernetes.github.io/ingress-nginx",
        chart: "ingress-nginx",
        version: "4.12.1",
        namespace: "ingress-nginx",
        purpose: "ingress controller for non-mesh HTTP routes",
    },
];

/// IRSA role ARN the Terraform `eks` module creates for `key` (see `terraform/env.rs`).
fn role(platform: &Platform, env: &Env, ns: &str, sa: &str) -> String {
    format!("arn:aws:iam::{}:role/{}-{ns}-{sa}", platform.account_id, env.cluster_name)
}

/// Hardened defaults for every add-on pod that the chart lets us set.
fn restricted() -> Value {
    json!({
        "runAsNonRoot": true,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}
    })
}

fn values(platform: &Platform, env: &Env, name: &str) -> Value {
    let sa = |ns: &str, sa: &str| json!({"create": true, "name": sa, "annotations": {"eks.amazonaws.com/role-arn": role(platform, env, ns, sa)}});
    let system_critical = "system-cluster-critical";
    match name {
        "metrics-server" => {
            json!({"replicas": 2, "priorityClassName": system_critical, "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1}, "containerSecurityContext": restricted()})
        }
        "keda" => {
            json!({"priorityClassName": system_critical, "securityContext": {"operator": restricted(), "metricServer": restricted(), "webhooks": restricted()}})
        }
        "vpa" => {
            json!({"recommender": {"enabled": true}, "updater": {"enabled": true}, "admissionController": {"enabled": true}})
        }
        "cluster-autoscaler" => {
            // Spot groups first, then on-demand: the priority expander tries the cheapest first.
            let mut spot = Vec::new();
            let mut on_demand = Vec::new();
            for g in env.node_groups() {
                let pattern = format!(".*{}.*", g.name);
                if g.capacity == Capacity::Spot { spot.push(pattern) } else { on_demand.push(pattern) }
            }
            json!({
                "cloudProvider": "aws",
                "awsRegion": platform.region,
                "autoDiscovery": {"clusterName": env.cluster_name},
                "rbac": {"serviceAccount": sa("kube-system", "cluster-autoscaler")},
                "extraArgs": {
                    "expander": "priority",
                    "balance-similar-node-groups": true,
                    "skip-nodes-with-system-pods": false,
                    "scale-down-utilization-threshold": "0.6",
                    "scale-down-unneeded-time": "10m",
                    "max-node-provision-time": "10m"
                },
                "expanderPriorities": {"50": spot, "10": on_demand},
                "priorityClassName": system_critical,
                "containerSecurityContext": restricted()
            })
        }
        "aws-node-termination-handler" => json!({
            "enableSqsTerminationDraining": true,
            "queueURL": format!("https://sqs.{}.amazonaws.com/{}/{}-node-termination", platform.region, platform.account_id, env.cluster_name),
            "awsRegion": platform.region,
            "serviceAccount": sa("kube-system", "aws-node-termination-handler"),
            "enableSpotInterruptionDraining": true,
            "enableRebalanceDraining": true,
            "enableScheduledEventDraining": true
        }),
        "nvidia-device-plugin" => json!({
            "nodeSelector": {"cerverus.io/pool": "ml"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, {"key": "cerverus.io/dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
        }),
        "dcgm-exporter" => json!({
            "serviceMonitor": {"enabled": true, "interval": "15s"},
            "nodeSelector": {"cerverus.io/pool": "ml"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, {"key": "cerverus.io/dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
        }),
        "aws-efs-csi-driver" => json!({"controller": {"serviceAccount": sa("kube-system", "efs-csi-controller-sa")}}),
        "aws-mountpoint-s3-csi-driver" => json!({"node": {"tolerateAllTaints": true}}),
        "external-secrets" => json!({
            "serviceAccount": sa("external-secrets", "external-secrets"),
            "replicaCount": 2,
            "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1},
            "securityContext": restricted(),
            "serviceMonitor": {"enabled": true}
        }),
        "aws-load-balancer-controller" => json!({
            "clusterName": env.cluster_name,
            "region": platform.region,
            "serviceAccount": sa("kube-system", "aws-load-balancer-controller"),
            "replicaCount": 2,
            "enableServiceMutatorWebhook": false
        }),
        "ingress-nginx" => json!({
            "controller": {
                "replicaCount": if env.is_production() { 3 } else { 2 },
                "service": {"type": "ClusterIP"},
                "metrics": {"enabled": true, "serviceMonitor": {"enabled": true}},
                "podSecurityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                "allowSnippetAnnotations": false,
                "config": {"use-forwarded-headers": "true", "hsts": "true", "ssl-redirect": "true"}
            }
        }),
        _ => json!({}),
    }
}

/// `helm/addons/charts.yaml` and each environment's values files.
pub fn render(platform: &Platform, envs: &[&Env]) -> Result<Bundle, BundleError> {
    let mut b = Bundle::new();
    let charts = json!({"charts": CHARTS});
    b.add("charts.yaml", yaml::document(&charts).unwrap_or_default())?;
    for env in envs {
        for c in CHARTS {
            let v = values(platform, env, c.name);
            b.add(format!("{}/{}.values.yaml", env.name, c.name), yaml::document(&v).unwrap_or_default())?;
        }
    }
    Ok(b)
}

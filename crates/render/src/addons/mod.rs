//! Cluster add-ons installed with Helm: pinned chart versions (`helm/addons/charts.yaml`) and
//! per-environment values derived from the model (`helm/addons/<env>/<addon>.values.yaml`), one
//! module per family (`gitops`, `mesh`, `observability`, `logging`, `backup`, `certificates`,
//! `admission`, `runtime_security`, `delivery`, `chaos`). The Argo CD Applications that install
//! them are rendered by `crate::gitops`; the versions and values are decided here, in one place.
//!
//! Versions are decisions: bump them in a reviewed commit. Each pinned chart's app version must
//! support the cluster's Kubernetes minor; `data/support-windows.json` → `addons` records the
//! window each project documents, with its source, and a test holds every pin to it. The pinned
//! charts' own defaults and schemas are in `data/reference/helm/` (provenance in its README).
//!
//! `wave` is the chart's relative install order (lower first). The Argo CD waves derive from it
//! and from what each chart needs (`crate::gitops`): the Prometheus Operator CRDs install alone
//! first (a CRDs-only release of kube-prometheus-stack), so every chart that renders a
//! ServiceMonitor comes after them — otherwise its install fails on an unknown kind.

mod admission;
mod backup;
mod certificates;
mod chaos;
mod delivery;
mod gitops;
mod logging;
mod mesh;
pub mod observability;
mod runtime_security;

use std::collections::BTreeSet;

use cerverus_bundle::{Bundle, BundleError};
use cerverus_model::{Capacity, Env, GPU_PRESENT_LABEL, Platform};
use serde::Serialize;
use serde_json::{Value, json};

use crate::kubernetes::network_policies::{GATEWAY_NAMESPACE, MONITORING_NAMESPACE};
use crate::kubernetes::yaml;

/// Namespace of the node-level agents (one pod per node, host access): node-exporter, the NVIDIA
/// device plugin and the DCGM exporter. It is the only namespace with PSS `privileged` besides
/// istio-system; the spec declares it with the reason.
pub const NODE_AGENTS_NAMESPACE: &str = "cerverus-node-agents";

/// Namespace of the log store (OpenSearch and its dashboards).
pub const LOGGING_NAMESPACE: &str = "cerverus-logging";

/// Release name and `fullnameOverride` of kube-prometheus-stack: its Prometheus Service is
/// `<fullname>-prometheus` (the chart truncates the fullname at 26 characters; this one is 21).
pub const KPS_FULLNAME: &str = "kube-prometheus-stack";

/// One Helm chart, pinned.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub name: &'static str,
    pub repository: &'static str,
    pub chart: &'static str,
    pub version: &'static str,
    pub namespace: &'static str,
    /// Install order: lower waves first; a wave starts when the previous one is healthy.
    pub wave: i8,
    /// What it is for, in one line.
    pub purpose: &'static str,
    /// For a pin whose chart is not in `data/reference/helm/`: the stored version its values were
    /// checked against by hand (see that folder's README). Rendered as a waiver of CV-HELM-002
    /// in the values file, with that reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values_checked_against: Option<&'static str>,
    /// Installed only outside production (chaos tooling): `false` for every other chart.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nonproduction_only: bool,
}

impl Chart {
    /// Whether this chart is installed in `env`.
    pub fn installed_in(&self, env: &Env) -> bool {
        !(self.nonproduction_only && env.is_production())
    }
}

/// Add-on namespaces that cannot enforce `restricted`, with the reason (rendered as the
/// namespace's `cerverus.io/pod-security-reason`). Every other add-on namespace is restricted.
pub const PRIVILEGED_ADDON_NAMESPACES: &[(&str, &str)] = &[(
    "chaos-mesh",
    "chaos-daemon (one pod per node, outside production only) runs privileged with host PID and the containerd socket mounted from the host: it enters other pods' network and PID namespaces to inject the faults. Only Chaos Mesh runs here.",
)];

/// Pins whose chart has no stored copy at all in `data/reference/helm/` (not even a nearby
/// version to check against): release name and why its values are still safe to install. Each
/// renders as a waiver of CV-HELM-002 in its values file with that reason.
pub const UNSTORED_PINS: &[(&str, &str)] = &[(
    "istio-cni",
    "no version of Istio's cni chart is in the offline reference data; its values file is empty (the chart's defaults, Istio's documented `helm install istio-cni istio/cni` for sidecar mode), so no key can be wrong",
)];

/// A Service an add-on creates that the platform's own objects point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonService {
    pub chart: &'static str,
    pub namespace: &'static str,
    pub name: String,
    pub port: u16,
}

impl AddonService {
    /// In-cluster URL.
    pub fn url(&self) -> String {
        format!("http://{}.{}.svc:{}", self.name, self.namespace, self.port)
    }
}

/// kube-prometheus-stack's Prometheus Service (port `prometheus.service.port`, default 9090):
/// what KEDA's Prometheus triggers query.
pub fn prometheus_service() -> AddonService {
    AddonService {
        chart: "kube-prometheus-stack",
        namespace: MONITORING_NAMESPACE,
        name: format!("{KPS_FULLNAME}-prometheus"),
        port: 9090,
    }
}

/// kube-prometheus-stack's Alertmanager Service: where Prometheus, Falcosidekick and every other
/// alert source send alerts.
pub fn alertmanager_service() -> AddonService {
    AddonService {
        chart: "kube-prometheus-stack",
        namespace: MONITORING_NAMESPACE,
        name: format!("{KPS_FULLNAME}-alertmanager"),
        port: 9093,
    }
}

/// The OpenTelemetry Collector (release `opentelemetry-collector`, `fullnameOverride` the same):
/// OTLP gRPC on 4317 — where Istio's tracing provider and the workloads send spans.
pub fn otel_collector_service() -> AddonService {
    AddonService {
        chart: "opentelemetry-collector",
        namespace: MONITORING_NAMESPACE,
        name: "opentelemetry-collector".to_string(),
        port: 4317,
    }
}

/// OpenSearch's HTTP API (release `opensearch`, cluster name `opensearch`): where Fluent Bit
/// ships logs.
pub fn opensearch_service() -> AddonService {
    AddonService {
        chart: "opensearch",
        namespace: LOGGING_NAMESPACE,
        name: "opensearch-cluster-master".to_string(),
        port: 9200,
    }
}

/// Services the add-ons create, for checks that resolve addresses.
pub fn services() -> Vec<AddonService> {
    vec![prometheus_service(), alertmanager_service(), otel_collector_service(), opensearch_service()]
}

pub const CHARTS: &[Chart] = &[
    Chart {
        name: "kube-prometheus-stack",
        repository: "https://prometheus-community.github.io/helm-charts",
        chart: "kube-prometheus-stack",
        version: "88.5.3",
        namespace: MONITORING_NAMESPACE,
        wave: 0,
        purpose: "Prometheus Operator and its CRDs, Prometheus (what KEDA's triggers query), Alertmanager, Grafana, kube-state-metrics, node-exporter",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "metrics-server",
        repository: "https://kubernetes-sigs.github.io/metrics-server",
        chart: "metrics-server",
        version: "3.12.2",
        namespace: "kube-system",
        wave: 1,
        purpose: "resource metrics for HPA and kubectl top",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "keda",
        repository: "https://kedacore.github.io/charts",
        chart: "keda",
        // 2.17 is tested on Kubernetes 1.30-1.32 only; see data/support-windows.json.
        version: "2.20.2",
        namespace: "keda",
        wave: 1,
        purpose: "event-driven autoscaling: Prometheus and cron triggers",
        values_checked_against: Some("2.17.2"),
        nonproduction_only: false,
    },
    Chart {
        name: "vpa",
        repository: "https://charts.fairwinds.com/stable",
        chart: "vpa",
        version: "4.7.1",
        namespace: "kube-system",
        wave: 1,
        purpose: "VerticalPodAutoscaler recommender, updater and admission controller",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "cluster-autoscaler",
        repository: "https://kubernetes.github.io/autoscaler",
        chart: "cluster-autoscaler",
        // Cluster Autoscaler's minor must equal the cluster's: chart 9.54.x ships CA 1.35.
        version: "9.54.0",
        namespace: "kube-system",
        wave: 1,
        purpose: "node autoscaling of the managed node groups, priority expander",
        values_checked_against: Some("9.46.6"),
        nonproduction_only: false,
    },
    Chart {
        name: "aws-node-termination-handler",
        repository: "https://aws.github.io/eks-charts",
        chart: "aws-node-termination-handler",
        version: "0.21.0",
        namespace: "kube-system",
        wave: 1,
        purpose: "drains nodes on spot interruption and rebalance notices (queue mode)",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "nvidia-device-plugin",
        repository: "https://nvidia.github.io/k8s-device-plugin",
        chart: "nvidia-device-plugin",
        version: "0.17.1",
        namespace: NODE_AGENTS_NAMESPACE,
        wave: 1,
        purpose: "exposes nvidia.com/gpu on nodes labelled nvidia.com/gpu.present=true (every GPU pool)",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "dcgm-exporter",
        repository: "https://nvidia.github.io/dcgm-exporter/helm-charts",
        chart: "dcgm-exporter",
        version: "4.1.1",
        namespace: NODE_AGENTS_NAMESPACE,
        wave: 1,
        purpose: "GPU utilisation metrics (DCGM_FI_DEV_GPU_UTIL) for inference autoscaling",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "aws-efs-csi-driver",
        repository: "https://kubernetes-sigs.github.io/aws-efs-csi-driver",
        chart: "aws-efs-csi-driver",
        version: "3.1.6",
        namespace: "kube-system",
        wave: 1,
        purpose: "cerverus-efs StorageClass",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "aws-mountpoint-s3-csi-driver",
        repository: "https://awslabs.github.io/mountpoint-s3-csi-driver",
        chart: "aws-mountpoint-s3-csi-driver",
        version: "1.14.1",
        namespace: "kube-system",
        wave: 1,
        purpose: "cerverus-s3 StorageClass",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "external-secrets",
        repository: "https://charts.external-secrets.io",
        chart: "external-secrets",
        version: "0.17.0",
        namespace: "external-secrets",
        wave: 1,
        purpose: "syncs AWS Secrets Manager into Kubernetes Secrets (external-secrets.io/v1)",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "aws-load-balancer-controller",
        repository: "https://aws.github.io/eks-charts",
        chart: "aws-load-balancer-controller",
        version: "1.13.0",
        namespace: "kube-system",
        wave: 1,
        purpose: "ALB/NLB for the ingress gateways",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "argo-cd",
        repository: "https://argoproj.github.io/argo-helm",
        chart: "argo-cd",
        version: "10.1.1",
        namespace: "argocd",
        wave: -1,
        purpose: "Argo CD: syncs this bundle (app-of-apps per environment); installs itself first, then manages itself",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "istio-base",
        repository: "https://istio-release.storage.googleapis.com/charts",
        chart: "base",
        version: "1.30.3",
        namespace: GATEWAY_NAMESPACE,
        wave: 0,
        purpose: "Istio CRDs and the cluster-wide validation configuration",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "istiod",
        repository: "https://istio-release.storage.googleapis.com/charts",
        chart: "istiod",
        version: "1.30.3",
        namespace: GATEWAY_NAMESPACE,
        wave: 1,
        purpose: "Istio control plane: xDS, workload certificates, mesh config",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "istio-cni",
        repository: "https://istio-release.storage.googleapis.com/charts",
        chart: "cni",
        version: "1.30.3",
        namespace: GATEWAY_NAMESPACE,
        wave: 1,
        purpose: "Istio CNI node agent: sets up each meshed pod's traffic redirection, so application pods need no NET_ADMIN init container (docs/adr/0006-istio-sidecar-vs-ambient.md)",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "istio-ingressgateway",
        repository: "https://istio-release.storage.googleapis.com/charts",
        chart: "gateway",
        version: "1.30.3",
        namespace: GATEWAY_NAMESPACE,
        wave: 2,
        purpose: "the public entry: Istio ingress gateway behind an NLB from the AWS Load Balancer Controller",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "istio-egressgateway",
        repository: "https://istio-release.storage.googleapis.com/charts",
        chart: "gateway",
        version: "1.30.3",
        namespace: GATEWAY_NAMESPACE,
        wave: 2,
        purpose: "the only way out of the mesh to the declared external hosts",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "kiali-server",
        repository: "https://kiali.org/helm-charts",
        chart: "kiali-server",
        version: "2.29.0",
        namespace: GATEWAY_NAMESPACE,
        wave: 2,
        purpose: "mesh topology and traffic console",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "cert-manager",
        repository: "https://charts.jetstack.io",
        chart: "cert-manager",
        version: "v1.21.1",
        namespace: "cert-manager",
        wave: 1,
        purpose: "certificates: Let's Encrypt (DNS-01 on Route 53) and the internal CA",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "velero",
        repository: "https://vmware-tanzu.github.io/helm-charts",
        chart: "velero",
        version: "12.1.0",
        namespace: "velero",
        wave: 1,
        purpose: "cluster backups to the backups bucket and EBS snapshots; scheduled per tier",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "argo-rollouts",
        repository: "https://argoproj.github.io/argo-helm",
        chart: "argo-rollouts",
        version: "2.41.0",
        namespace: "argo-rollouts",
        wave: 1,
        purpose: "canary and blue-green Rollouts with Istio traffic routing and Prometheus analysis",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "gatekeeper",
        repository: "https://open-policy-agent.github.io/gatekeeper/charts",
        chart: "gatekeeper",
        version: "3.23.0",
        namespace: "gatekeeper-system",
        wave: 1,
        purpose: "admission policy: ConstraintTemplates and Constraints",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "falco",
        repository: "https://falcosecurity.github.io/charts",
        chart: "falco",
        version: "9.1.0",
        namespace: NODE_AGENTS_NAMESPACE,
        wave: 1,
        purpose: "runtime security: syscall rules for the Cerverus namespaces",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "falcosidekick",
        repository: "https://falcosecurity.github.io/charts",
        chart: "falcosidekick",
        version: "0.12.1",
        namespace: NODE_AGENTS_NAMESPACE,
        wave: 1,
        purpose: "routes Falco events to Alertmanager",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "opentelemetry-collector",
        repository: "https://open-telemetry.github.io/opentelemetry-helm-charts",
        chart: "opentelemetry-collector",
        version: "0.170.0",
        namespace: MONITORING_NAMESPACE,
        wave: 1,
        purpose: "receives traces (OTLP, Zipkin from Istio) and exports them to Jaeger",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "jaeger",
        repository: "https://jaegertracing.github.io/helm-charts",
        chart: "jaeger",
        version: "4.11.1",
        namespace: MONITORING_NAMESPACE,
        wave: 1,
        purpose: "trace storage and query UI",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "fluent-bit",
        repository: "https://fluent.github.io/helm-charts",
        chart: "fluent-bit",
        version: "0.58.1",
        namespace: NODE_AGENTS_NAMESPACE,
        wave: 1,
        purpose: "ships container logs to OpenSearch, parsed per application",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "opensearch",
        repository: "https://opensearch-project.github.io/helm-charts",
        chart: "opensearch",
        version: "3.6.0",
        namespace: LOGGING_NAMESPACE,
        wave: 1,
        purpose: "log store with index lifecycle per data class",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "opensearch-dashboards",
        repository: "https://opensearch-project.github.io/helm-charts",
        chart: "opensearch-dashboards",
        version: "3.6.0",
        namespace: LOGGING_NAMESPACE,
        wave: 2,
        purpose: "log search and dashboards",
        values_checked_against: None,
        nonproduction_only: false,
    },
    Chart {
        name: "chaos-mesh",
        repository: "https://charts.chaos-mesh.org",
        chart: "chaos-mesh",
        version: "2.8.3",
        namespace: "chaos-mesh",
        // After cert-manager (wave 1): the chart's webhook and daemon certificates are
        // cert-manager Certificates (`addons::chaos`).
        wave: 2,
        purpose: "chaos experiments (outside production only)",
        values_checked_against: None,
        nonproduction_only: true,
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

/// Tolerations for pods that must run on every GPU node: the device plugin's own defaults
/// (`CriticalAddonsOnly`, `nvidia.com/gpu`) plus every taint a GPU pool carries.
fn gpu_tolerations(env: &Env) -> Value {
    let mut out = vec![
        json!({"key": "CriticalAddonsOnly", "operator": "Exists"}),
        json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}),
    ];
    let mut seen = BTreeSet::new();
    for p in env.node_pools.iter().filter(|p| p.gpu.is_some()) {
        for t in &p.taints {
            if t.key != "nvidia.com/gpu" && seen.insert((t.key.clone(), t.value.clone())) {
                let effect = serde_json::to_value(t.effect).unwrap_or(Value::Null);
                out.push(json!({"key": t.key, "operator": "Equal", "value": t.value, "effect": effect}));
            }
        }
    }
    Value::Array(out)
}

/// Namespaces whose ServiceMonitors and PodMonitors Prometheus selects: the spec's namespaces and
/// every add-on's (kube-system, keda, external-secrets, …).
pub fn scraped_namespaces(env: &Env) -> Vec<String> {
    let mut ns: BTreeSet<String> = env.namespaces.iter().map(|n| n.name.clone()).collect();
    ns.extend(CHARTS.iter().map(|c| c.namespace.to_string()));
    ns.into_iter().collect()
}

/// One family's values: `Some` for the releases it owns.
type FamilyValues = fn(&Platform, &Env, &str) -> Option<Value>;

fn values(platform: &Platform, env: &Env, name: &str) -> Value {
    let families: [FamilyValues; 10] = [
        gitops::values,
        mesh::values,
        observability::values,
        logging::values,
        backup::values,
        certificates::values,
        admission::values,
        runtime_security::values,
        delivery::values,
        chaos::values,
    ];
    if let Some(v) = families.iter().find_map(|f| f(platform, env, name)) {
        return v;
    }
    let sa = |ns: &str, sa: &str| json!({"create": true, "name": sa, "annotations": {"eks.amazonaws.com/role-arn": role(platform, env, ns, sa)}});
    let system_critical = "system-cluster-critical";
    match name {
        "metrics-server" => {
            // 3.12.2 calls the container's security context `securityContext` (its default is
            // already this; setting it keeps it if the default ever loosens).
            json!({"replicas": 2, "priorityClassName": system_critical, "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1}, "securityContext": restricted()})
        }
        "keda" => {
            json!({"priorityClassName": system_critical, "securityContext": {"operator": restricted(), "metricServer": restricted(), "webhooks": restricted()}})
        }
        "vpa" => {
            json!({"recommender": {"enabled": true}, "updater": {"enabled": true}, "admissionController": {"enabled": true}})
        }
        "cluster-autoscaler" => {
            // Spot groups first, then on-demand: the priority expander tries the cheapest first.
            // Zonal groups of one pool are "similar" (same labels, taints, instance type), so
            // balance-similar-node-groups keeps them level and a zone-pinned pending pod scales
            // the group of its zone.
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
        // Queue-processor mode (0.21.0): a Deployment reads EventBridge notices from the SQS
        // queue the eks module creates. With `checkTagBeforeDraining` (the chart default) it
        // drains only instances whose Auto Scaling group carries `managedTag` (it asks
        // autoscaling:DescribeTags); the eks module tags every node group's ASG with exactly
        // that key (`NTH_MANAGED_TAG`), so the check passes for our nodes and keeps the handler
        // off instances it does not own (the account's EC2 events reach every environment's
        // rules). Without that tag the chart default would ignore every event.
        "aws-node-termination-handler" => json!({
            "enableSqsTerminationDraining": true,
            "queueURL": format!("https://sqs.{}.amazonaws.com/{}/{}-node-termination", platform.region, platform.account_id, env.cluster_name),
            "awsRegion": platform.region,
            "checkTagBeforeDraining": true,
            "managedTag": crate::terraform::modules::eks::NTH_MANAGED_TAG,
            "serviceAccount": sa("kube-system", "aws-node-termination-handler"),
            "enableSpotInterruptionDraining": true,
            "enableRebalanceDraining": true,
            "enableScheduledEventDraining": true
        }),
        // No nodeSelector/affinity of ours: the chart's default node affinity requires
        // `nvidia.com/gpu.present=true` (or NFD labels, and NFD is not installed), which every
        // GPU pool's nodes carry (cerverus-model GPU_PRESENT_LABEL).
        "nvidia-device-plugin" => json!({"tolerations": gpu_tolerations(env)}),
        "dcgm-exporter" => json!({
            // honorLabels: the exporter labels each GPU's series with the `pod` and `namespace`
            // using it; with honorLabels false Prometheus renames them `exported_pod` /
            // `exported_namespace` and the inference autoscaling query matches nothing.
            "serviceMonitor": {"enabled": true, "interval": "15s", "honorLabels": true},
            "nodeSelector": {GPU_PRESENT_LABEL.0: GPU_PRESENT_LABEL.1},
            "tolerations": gpu_tolerations(env)
        }),
        "aws-efs-csi-driver" => json!({"controller": {"serviceAccount": sa("kube-system", "efs-csi-controller-sa")}}),
        // The node plugin mounts buckets with the driver-level IRSA role the eks roots create
        // (`s3-csi` in terraform/env.rs); chart 1.14.1's templates read
        // `node.serviceAccount.annotations` although values.yaml leaves it out.
        "aws-mountpoint-s3-csi-driver" => {
            json!({"node": {"tolerateAllTaints": true, "serviceAccount": sa("kube-system", "s3-csi-driver-sa")}})
        }
        "external-secrets" => json!({
            "serviceAccount": sa("external-secrets", "external-secrets"),
            "replicaCount": 2,
            // The chart defaults `minAvailable: 1` and its PDB template writes every key that is
            // set: adding `maxUnavailable` gives a PDB with both, which the API server rejects,
            // failing the install. `minAvailable: null` cannot unset it either: Helm validates
            // values.schema.json (`minAvailable: integer`) before dropping nulls (helm#12819).
            // With two replicas, at least one available is the same budget.
            "podDisruptionBudget": {"enabled": true, "minAvailable": 1},
            "securityContext": restricted(),
            "serviceMonitor": {"enabled": true}
        }),
        // Nodes require IMDSv2 with a hop limit of 1, so the controller cannot ask IMDS for its
        // region and VPC: both are given. The VPC is found by its Name tag (the network module
        // names it after the cluster), as `vpcId` is only known after apply.
        "aws-load-balancer-controller" => json!({
            "clusterName": env.cluster_name,
            "region": platform.region,
            "vpcTags": {"Name": env.cluster_name},
            "serviceAccount": sa("kube-system", "aws-load-balancer-controller"),
            "replicaCount": 2,
            "enableServiceMutatorWebhook": false
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
        for c in CHARTS.iter().filter(|c| c.installed_in(env)) {
            let v = values(platform, env, c.name);
            let mut text = String::new();
            if let Some(stored) = c.values_checked_against {
                text.push_str(&format!(
                    "# cerverus:skip=CV-HELM-002 {} {} is not in the offline reference data; these values were checked against the stored {stored} (data/reference/helm/README.md, \"Pins without a stored copy\")\n",
                    c.chart, c.version
                ));
            }
            if let Some((_, reason)) = UNSTORED_PINS.iter().find(|(n, _)| *n == c.name) {
                text.push_str(&format!("# cerverus:skip=CV-HELM-002 {} {}: {reason}\n", c.chart, c.version));
            }
            text.push_str(&yaml::document(&v).unwrap_or_default());
            b.add(format!("{}/{}.values.yaml", env.name, c.name), text)?;
        }
    }
    Ok(b)
}

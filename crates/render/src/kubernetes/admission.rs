//! Admission policy: Gatekeeper ConstraintTemplates (Rego in `crates/render/policies/gatekeeper/`,
//! compiled in), one constraint per template scoped to the application namespaces, the
//! Gatekeeper `Config` that replicates what the PDB policy reads into `data.inventory`, and a
//! PodMonitor for Gatekeeper's own metrics.
//!
//! Scope: the application namespaces (the spec's namespaces that no add-on chart installs into).
//! Add-on namespaces run upstream charts' images from upstream registries, with their own
//! security contexts; the namespaces' Pod Security labels police those, and the webhook is not
//! even called there (see `addons::admission`). Constraints are cluster-scoped objects, rendered
//! under `kubernetes/<env>/cluster/`: templates in one sync wave, constraints in the next, as a
//! constraint's kind is a CRD Gatekeeper creates from its template.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::Objects;
use super::crd::Resource;
use super::crd::gatekeeper::{
    Config, ConfigMatch, ConfigSpec, ConfigSync, ConstraintMatch, ConstraintSpec, ConstraintTemplateSpec, MatchKinds,
    SyncKind, TemplateCrd, TemplateCrdSpec, TemplateNames, TemplateTarget, TemplateValidation,
};
use super::crd::monitoring::{PodMetricsEndpoint, PodMonitorSpec, PodSelector};
use super::labels;
use crate::RenderError;
use crate::addons::CHARTS;

/// Gatekeeper's namespace (the chart's release namespace).
pub const GATEKEEPER_NAMESPACE: &str = "gatekeeper-system";

/// Argo CD: a constraint's kind is created by Gatekeeper from its template during the sync, so
/// the dry run that precedes it would fail on an unknown kind.
const SKIP_DRY_RUN: (&str, &str) = ("argocd.argoproj.io/sync-options", "SkipDryRunOnMissingResource=true");

/// The shared Rego library every template imports (`data.lib.cerverus.workloads`).
pub const LIB_WORKLOADS: &str = include_str!("../../policies/gatekeeper/lib/workloads.rego");

/// Which objects a constraint judges.
#[derive(Clone, Copy)]
enum Targets {
    /// Pods and everything that carries a pod template.
    Workloads,
    /// PodDisruptionBudgets and the workloads they protect.
    Budgets,
}

/// One policy: its folder under `policies/gatekeeper/`, the constraint kind, its Rego, and the
/// schema of its parameters.
pub struct Policy {
    pub dir: &'static str,
    pub kind: &'static str,
    pub rego: &'static str,
    targets: Targets,
}

pub const POLICIES: &[Policy] = &[
    Policy {
        dir: "podsecurity",
        kind: "CerverusPodSecurityRestricted",
        rego: include_str!("../../policies/gatekeeper/podsecurity/template.rego"),
        targets: Targets::Workloads,
    },
    Policy {
        dir: "requiredlabels",
        kind: "CerverusRequiredLabels",
        rego: include_str!("../../policies/gatekeeper/requiredlabels/template.rego"),
        targets: Targets::Workloads,
    },
    Policy {
        dir: "resources",
        kind: "CerverusContainerResources",
        rego: include_str!("../../policies/gatekeeper/resources/template.rego"),
        targets: Targets::Workloads,
    },
    Policy {
        dir: "probes",
        kind: "CerverusProbes",
        rego: include_str!("../../policies/gatekeeper/probes/template.rego"),
        targets: Targets::Workloads,
    },
    Policy {
        dir: "allowedregistries",
        kind: "CerverusAllowedRegistries",
        rego: include_str!("../../policies/gatekeeper/allowedregistries/template.rego"),
        targets: Targets::Workloads,
    },
    Policy {
        dir: "imagedigest",
        kind: "CerverusImageDigest",
        rego: include_str!("../../policies/gatekeeper/imagedigest/template.rego"),
        targets: Targets::Workloads,
    },
    Policy {
        dir: "pdbsanity",
        kind: "CerverusPdbSanity",
        rego: include_str!("../../policies/gatekeeper/pdbsanity/template.rego"),
        targets: Targets::Budgets,
    },
];

/// Whether `kind` is a constraint kind this module renders (for `kubernetes::sync_wave`).
pub fn is_constraint_kind(kind: &str) -> bool {
    POLICIES.iter().any(|p| p.kind == kind)
}

/// The template's `metadata.name`: Gatekeeper requires the lower-cased constraint kind.
pub fn template_name(kind: &str) -> String {
    kind.to_ascii_lowercase()
}

/// The labels every workload carries (`labels::workload`) that selectors, dashboards and cost
/// reports rely on.
pub const REQUIRED_LABELS: &[&str] =
    &["app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"];

/// Capabilities a container may add under `restricted`.
pub const ALLOWED_CAPABILITIES: &[&str] = &["NET_BIND_SERVICE"];

/// Where Istio's release builds publish the sidecar image (`proxyv2`): the chart's `global.hub`
/// of a release is `docker.io/istio`, mirrored at `gcr.io/istio-release`. The mesh values set no
/// hub of their own (a test holds that), so the injector uses the release's.
pub const MESH_PROXY_REPOSITORIES: &[&str] = &["docker.io/istio/proxyv2", "gcr.io/istio-release/proxyv2"];

/// Containers the mesh injects at admission: the proxy (`istio-proxy`, a native sidecar in
/// `initContainers` with `restartPolicy: Always` when `ENABLE_NATIVE_SIDECARS` is on) and, with
/// the Istio CNI, its `istio-validation` init container. Both run Istio's own image, pinned by tag
/// by the Istio release, and the proxy has no liveness probe (its health follows the pod's).
/// Exempt from the registry, digest and probe policies only — and only by name AND an image of
/// [`MESH_PROXY_REPOSITORIES`] at the installed Istio minor version: a container that merely
/// takes the name (or points `sidecar.istio.io/proxyImage` elsewhere) is judged like any other.
fn exempt_sidecars() -> Value {
    let image = proxy_image_regex();
    json!([
        {"name": "istio-proxy", "imageRegex": image},
        {"name": "istio-validation", "imageRegex": image},
    ])
}

/// The installed Istio's `major.minor` (the istiod chart's version: Istio's charts carry the
/// release's version).
fn istio_minor() -> Option<String> {
    let chart = CHARTS.iter().find(|c| c.name == "istiod")?;
    let mut parts = chart.version.split('.');
    Some(format!("{}.{}", parts.next()?, parts.next()?))
}

/// The sidecar image: one of the release repositories, tag `<minor>.<patch>` (any patch, so pods
/// injected before a patch upgrade still pass when updated) with the optional `-distroless`
/// variant, optionally pinned by digest. Without an istiod chart nothing matches.
pub fn proxy_image_regex() -> String {
    let Some(minor) = istio_minor() else {
        return "^$".to_string();
    };
    let repos: Vec<String> = MESH_PROXY_REPOSITORIES.iter().map(|r| regex_escape(r)).collect();
    format!(r"^({}):{}\.[0-9]+(-distroless)?(@sha256:[a-f0-9]{{64}})?$", repos.join("|"), regex_escape(&minor))
}

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if ".+*?()[]{}|^$\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// The namespaces the constraints police: the spec's namespaces no add-on chart installs into.
pub fn application_namespaces(env: &Env) -> Vec<String> {
    env.namespaces.iter().map(|n| n.name.clone()).filter(|n| !CHARTS.iter().any(|c| c.namespace == n)).collect()
}

/// Namespaces Gatekeeper ignores altogether (webhook, audit, sync): every namespace of the
/// environment that is not an application namespace, and the control plane's own.
pub fn exempt_namespaces(env: &Env) -> Vec<String> {
    let apps = application_namespaces(env);
    let mut out: Vec<String> = ["kube-system", "kube-public", "kube-node-lease", GATEKEEPER_NAMESPACE]
        .iter()
        .map(|s| s.to_string())
        .chain(CHARTS.iter().filter(|c| c.installed_in(env)).map(|c| c.namespace.to_string()))
        .chain(env.namespaces.iter().map(|n| n.name.clone()))
        .filter(|n| !apps.contains(n))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn string_list() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn sidecar_schema() -> Value {
    json!({
        "type": "array",
        "items": {"type": "object", "properties": {"name": {"type": "string"}, "imageRegex": {"type": "string"}}}
    })
}

/// The schema of a policy's `spec.parameters` (the API server validates constraints with it).
pub fn parameters_schema(p: &Policy) -> Value {
    let props = match p.dir {
        "podsecurity" => json!({"allowedCapabilities": string_list()}),
        "requiredlabels" => json!({"labels": string_list()}),
        "resources" => json!({"requests": string_list(), "limits": string_list()}),
        "probes" => json!({"probes": string_list(), "exemptSidecars": sidecar_schema()}),
        "allowedregistries" => json!({"registries": string_list(), "exemptSidecars": sidecar_schema()}),
        "imagedigest" => json!({"exemptSidecars": sidecar_schema()}),
        _ => json!({}),
    };
    json!({"type": "object", "properties": props})
}

/// A policy's parameters in `env`.
pub fn parameters(p: &Policy, env: &Env) -> Value {
    match p.dir {
        "podsecurity" => json!({"allowedCapabilities": ALLOWED_CAPABILITIES}),
        "requiredlabels" => json!({"labels": REQUIRED_LABELS}),
        "resources" => json!({"requests": ["cpu", "memory"], "limits": ["cpu", "memory"]}),
        "probes" => json!({"probes": ["readinessProbe", "livenessProbe"], "exemptSidecars": exempt_sidecars()}),
        "allowedregistries" => json!({"registries": [env.registry], "exemptSidecars": exempt_sidecars()}),
        "imagedigest" => json!({"exemptSidecars": exempt_sidecars()}),
        _ => json!({}),
    }
}

fn match_kinds(t: Targets) -> Vec<MatchKinds> {
    match t {
        Targets::Workloads => vec![
            MatchKinds { api_groups: vec![""], kinds: vec!["Pod"] },
            MatchKinds { api_groups: vec!["apps"], kinds: vec!["Deployment", "StatefulSet", "DaemonSet"] },
            MatchKinds { api_groups: vec!["batch"], kinds: vec!["Job", "CronJob"] },
            MatchKinds { api_groups: vec!["argoproj.io"], kinds: vec!["Rollout"] },
        ],
        Targets::Budgets => vec![
            MatchKinds { api_groups: vec!["policy"], kinds: vec!["PodDisruptionBudget"] },
            MatchKinds { api_groups: vec!["apps"], kinds: vec!["Deployment", "StatefulSet"] },
            MatchKinds { api_groups: vec!["argoproj.io"], kinds: vec!["Rollout"] },
        ],
    }
}

/// The admission webhook's rules: CREATE and UPDATE of exactly the namespaced kinds some constraint
/// judges (the union of every policy's match kinds). With the chart's default rules (every
/// resource and subresource, `pods/eviction` and `deployments/scale` included) a Gatekeeper
/// outage under `Fail` would also block node drains, autoscaler scale changes, Secret refreshes
/// and every other write in the application namespaces; with these it blocks only new pods,
/// workloads and budgets there — what the policies exist to judge.
pub fn webhook_rules() -> Value {
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in POLICIES {
        for m in match_kinds(p.targets) {
            for group in &m.api_groups {
                let resources = by_group.entry(group).or_default();
                for kind in &m.kinds {
                    // The resource of each of these kinds is its lower-cased plural.
                    let resource = format!("{}s", kind.to_ascii_lowercase());
                    if !resources.contains(&resource) {
                        resources.push(resource);
                    }
                }
            }
        }
    }
    Value::Array(
        by_group
            .into_iter()
            .map(|(group, mut resources)| {
                // `kubectl debug` adds containers through this subresource; the request carries
                // the whole Pod, whose ephemeral containers the registry, digest and Pod
                // Security policies judge.
                if group.is_empty() && resources.iter().any(|r| r == "pods") {
                    resources.push("pods/ephemeralcontainers".to_string());
                }
                resources.sort();
                json!({
                    "apiGroups": [group],
                    "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": resources,
                    "scope": "Namespaced"
                })
            })
            .collect(),
    )
}

fn meta(platform: &Platform, name: &str, namespace: Option<&str>, annotations: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(labels::common(&platform.name)),
        annotations: (!annotations.is_empty())
            .then(|| annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()),
        ..Default::default()
    }
}

/// The ConstraintTemplate of `p`.
pub fn template(platform: &Platform, p: &Policy) -> Resource<ConstraintTemplateSpec> {
    Resource {
        api_version: "templates.gatekeeper.sh/v1",
        kind: "ConstraintTemplate",
        metadata: meta(platform, &template_name(p.kind), None, &[]),
        spec: ConstraintTemplateSpec {
            crd: TemplateCrd {
                spec: TemplateCrdSpec {
                    names: TemplateNames { kind: p.kind.to_string() },
                    validation: TemplateValidation { open_api_v3_schema: parameters_schema(p) },
                },
            },
            targets: vec![TemplateTarget {
                target: "admission.k8s.gatekeeper.sh",
                rego: p.rego.to_string(),
                libs: if p.rego.contains("data.lib.cerverus.workloads") {
                    vec![LIB_WORKLOADS.to_string()]
                } else {
                    Vec::new()
                },
            }],
        },
    }
}

/// The constraint of `p` in `env`: deny, in the application namespaces.
pub fn constraint(platform: &Platform, env: &Env, p: &Policy) -> Resource<ConstraintSpec> {
    let params = parameters(p, env);
    Resource {
        api_version: "constraints.gatekeeper.sh/v1beta1",
        kind: p.kind,
        metadata: meta(platform, &template_name(p.kind), None, &[SKIP_DRY_RUN]),
        spec: ConstraintSpec {
            enforcement_action: "deny",
            match_: ConstraintMatch { kinds: match_kinds(p.targets), namespaces: application_namespaces(env) },
            parameters: params,
        },
    }
}

/// Gatekeeper's Config: replicate what the PDB policy reads (`data.inventory`), and ignore the
/// exempt namespaces in every process (audit included).
fn config(platform: &Platform, env: &Env) -> Config {
    Config {
        api_version: "config.gatekeeper.sh/v1alpha1",
        kind: "Config",
        metadata: meta(platform, "config", Some(GATEKEEPER_NAMESPACE), &[]),
        spec: ConfigSpec {
            match_: vec![ConfigMatch { excluded_namespaces: exempt_namespaces(env), processes: vec!["*"] }],
            sync: ConfigSync {
                sync_only: vec![
                    SyncKind { group: "apps", version: "v1", kind: "Deployment" },
                    SyncKind { group: "apps", version: "v1", kind: "StatefulSet" },
                    SyncKind { group: "argoproj.io", version: "v1alpha1", kind: "Rollout" },
                    SyncKind { group: "policy", version: "v1", kind: "PodDisruptionBudget" },
                ],
            },
        },
    }
}

/// Gatekeeper's controller and audit pods (`gatekeeper.sh/system: "yes"`) serve Prometheus
/// metrics on their container port named `metrics` (`controllerManager.metricsPort` /
/// `audit.metricsPort`, 8888); the chart ships no monitor of its own.
fn pod_monitor(platform: &Platform) -> Resource<PodMonitorSpec> {
    Resource {
        api_version: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        metadata: meta(platform, "gatekeeper", Some(GATEKEEPER_NAMESPACE), &[]),
        spec: PodMonitorSpec {
            selector: PodSelector {
                match_labels: BTreeMap::from([("gatekeeper.sh/system".to_string(), "yes".to_string())]),
                match_expressions: Vec::new(),
            },
            namespace_selector: None,
            job_label: None,
            pod_metrics_endpoints: vec![PodMetricsEndpoint {
                port: "metrics".to_string(),
                path: "/metrics",
                interval: "30s",
                relabelings: Vec::new(),
            }],
        },
    }
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    if !CHARTS.iter().any(|c| c.name == "gatekeeper" && c.installed_in(env)) {
        return Ok(());
    }
    for p in POLICIES {
        out.add(None, "ConstraintTemplate", &template_name(p.kind), &template(platform, p))?;
        out.add(None, p.kind, &template_name(p.kind), &constraint(platform, env, p))?;
    }
    out.add(Some(GATEKEEPER_NAMESPACE), "Config", "config", &config(platform, env))?;
    out.add(Some(GATEKEEPER_NAMESPACE), "PodMonitor", "gatekeeper", &pod_monitor(platform))?;
    Ok(())
}

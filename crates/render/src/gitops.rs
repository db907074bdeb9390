//! GitOps: Argo CD's app-of-apps per environment (`gitops/<env>/`), the Applications that
//! install every add-on chart and the rendered manifests of `kubernetes/<env>/`, in sync waves.
//!
//! ```text
//! gitops/<env>/project-bootstrap.yaml   AppProject of the root Application (Applications and
//!                                       AppProjects in argocd, from this repository only)
//! gitops/<env>/root.yaml                the root Application: syncs apps/
//! gitops/<env>/apps/*.yaml              AppProjects and one Application per chart / manifest set
//! gitops/<env>/README.md                the bring-up order, generated from the same plan
//! ```
//!
//! The order is computed, not listed: every manifest file of `kubernetes/<env>/` is read (its
//! apiVersion, kind, namespace), the chart that provides its kind's CRD is looked up
//! ([`crd_provider`]), and the Application that syncs it is put in a wave after that chart's.
//! Argo CD applies the root's Applications wave by wave and, with the `argoproj.io/Application`
//! health check of the argo-cd values (`addons/gitops.rs`), waits until every Application of a
//! wave is Healthy before starting the next one.
//!
//! Waves: AppProjects (0), `cluster-foundation` (1: namespaces, classes, cluster roles),
//! `namespace-guardrails` (2: quotas, LimitRanges, NetworkPolicies, RBAC), the charts from 3 on
//! in their `CHARTS` order (two apart), `cluster-resources` and one `manifests-<namespace>` per
//! namespace after the charts their kinds need. Two things can move a chart later: a Secret,
//! ConfigMap or ServiceAccount its values name that the manifests create (synced in
//! `chart-inputs` first), and for kube-prometheus-stack the split of its CRDs into an
//! Application of their own ([`CRD_SPLITS`]), which breaks the cycle that otherwise stalls the
//! bring-up.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use crate::RenderError;
use crate::addons::{CHARTS, Chart};
use crate::kubernetes::crd::Resource;
use crate::kubernetes::crd::argocd::{
    AppProjectSpec, ApplicationSource, ApplicationSpec, Automated, Backoff, Destination, DirectorySource, GroupKind,
    HelmSource, IgnoreDifferences, Info, OrphanedResources, Retry, SyncPolicy,
};
use crate::kubernetes::{SYNC_WAVE, yaml};

/// This repository: the one place its URL is written.
pub const REPO_URL: &str = "https://github.com/cerverus/platform.git";
/// The branch every environment follows. Promotion is not a branch per environment: staging and
/// dev sync `main` automatically, production syncs the same commit when a person says so.
pub const TARGET_REVISION: &str = "main";
/// Where the bundle lives in the repository.
pub const BUNDLE_DIR: &str = "deploy";
/// Argo CD's namespace (the `argo-cd` chart's).
pub const ARGOCD_NAMESPACE: &str = "argocd";
/// The cluster Argo CD runs in: each environment has its own cluster and its own Argo CD.
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

pub const BOOTSTRAP_PROJECT: &str = "cerverus-bootstrap";
pub const PLATFORM_PROJECT: &str = "cerverus-platform";
pub const WORKLOADS_PROJECT: &str = "cerverus-workloads";

/// Name of the root Application (`root.yaml`).
pub const ROOT_APP: &str = "root";
/// Label on every Application with its wave, so a person can sync one wave at a time in
/// production: `argocd app sync -l cerverus.io/sync-wave=<n>`.
pub const WAVE_LABEL: &str = "cerverus.io/sync-wave";

/// Deleting an Application with this finalizer deletes what it installed.
const CASCADE_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// Waves of the root Application. Labels carry them, so they stay non-negative.
const WAVE_PROJECTS: i32 = 0;
const WAVE_FOUNDATION: i32 = 1;
const WAVE_GUARDRAILS: i32 = 2;
const FIRST_CHART_WAVE: i32 = 3;

/// API groups served by the API server itself: their kinds need no CRD.
const CORE_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "node.k8s.io",
    "resource.k8s.io",
];

/// Whether `group` is served by the API server without a CRD.
pub fn is_core_group(group: &str) -> bool {
    CORE_GROUPS.contains(&group)
}

/// Cluster-scoped kinds that other objects and the charts need first: namespaces (every chart
/// installs into one; `CreateNamespace=false`), the classes pods and volumes name, and the
/// cluster roles bound by namespaced RoleBindings. They form the `cluster-foundation` Application.
const FOUNDATION_KINDS: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "StorageClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
];

/// Namespaced kinds the platform owns in every namespace, before anything runs there: quotas
/// and their defaults (a pod created before its namespace's LimitRange has no requests), the
/// NetworkPolicies (a chart's pods start under the namespace's policies, never before them) and
/// RBAC (who may do what in the namespace is not the workloads' to grant). They form
/// `namespace-guardrails`, in the platform project; the workloads project may not touch them.
const GUARDRAIL_KINDS: &[(&str, &str)] = &[
    ("", "ResourceQuota"),
    ("", "LimitRange"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
];

/// Charts whose objects must be applied server-side, with why.
const SERVER_SIDE_APPLY: &[(&str, &str)] = &[(
    "kube-prometheus-stack",
    "its CRDs (Prometheus, Alertmanager, …) are larger than the 256 KiB last-applied-configuration annotation a client-side apply writes",
)];

/// Cluster-scoped kinds the platform charts install, beyond the ones the rendered manifests
/// carry (those are read from `kubernetes/<env>/cluster/`). What each needs it for.
const CHART_CLUSTER_KINDS: &[(&str, &str, &str)] = &[
    ("apiextensions.k8s.io", "CustomResourceDefinition", "every operator chart ships its CRDs"),
    ("rbac.authorization.k8s.io", "ClusterRole", "controllers that watch the whole cluster"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding", "controllers that watch the whole cluster"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "istiod (sidecar injection), KEDA, Gatekeeper, cert-manager, kube-prometheus-stack, Chaos Mesh",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "Istio, KEDA, Gatekeeper, cert-manager, external-secrets, kube-prometheus-stack, Chaos Mesh",
    ),
    (
        "apiregistration.k8s.io",
        "APIService",
        "metrics-server (metrics.k8s.io) and KEDA's metrics adapter (external.metrics.k8s.io)",
    ),
    ("storage.k8s.io", "CSIDriver", "the EFS and Mountpoint-for-S3 CSI drivers"),
    ("networking.k8s.io", "IngressClass", "the AWS Load Balancer Controller's `alb` class"),
    ("elbv2.k8s.aws", "IngressClassParams", "the AWS Load Balancer Controller's `alb` class parameters"),
];

/// Charts whose CRDs install in an Application of their own, ahead of the chart: (release, the
/// CRD Application's release name, its values). kube-prometheus-stack's CRDs are what every
/// chart with a ServiceMonitor needs first, while its Grafana mounts Secrets that come from
/// cert-manager and external-secrets — charts with ServiceMonitors. With the CRDs in the same
/// Application as Grafana that is a cycle and the waves stop; split, the CRDs come first and the
/// stack after the Secrets it mounts.
pub const CRD_SPLITS: &[(&str, &str)] = &[("kube-prometheus-stack", KPS_CRDS_RELEASE)];

/// Release name of the Application that installs only kube-prometheus-stack's CRDs.
pub const KPS_CRDS_RELEASE: &str = "kube-prometheus-stack-crds";

/// Values that make kube-prometheus-stack render its CRDs and nothing else (every component of
/// chart 88.5.3 that is on by default, off; a test holds each key to the chart's values.yaml).
pub fn crds_only_values(release: &str) -> Option<Value> {
    (release == KPS_CRDS_RELEASE).then(|| {
        let off = serde_json::json!({"enabled": false});
        let mut v = serde_json::json!({
            "crds": {"enabled": true},
            "defaultRules": {"create": false},
        });
        for component in [
            "windowsMonitoring",
            "alertmanager",
            "grafana",
            "kubernetesServiceMonitors",
            "kubeApiServer",
            "kubelet",
            "kubeControllerManager",
            "coreDns",
            "kubeDns",
            "kubeEtcd",
            "kubeScheduler",
            "kubeProxy",
            "kubeStateMetrics",
            "nodeExporter",
            "prometheusOperator",
            "prometheus",
            "thanosRuler",
        ] {
            v[component] = off.clone();
        }
        v
    })
}

/// The release whose chart installs the CRD of `group`/`kind` (for kube-prometheus-stack, its
/// CRD-only Application), or `None` for a kind no chart provides (a core kind, or a custom
/// resource that nothing installs — which the bundle must not contain).
pub fn crd_provider(group: &str, kind: &str) -> Option<&'static str> {
    let release = match group {
        "monitoring.coreos.com" => KPS_CRDS_RELEASE,
        "networking.istio.io" | "security.istio.io" | "telemetry.istio.io" | "extensions.istio.io" => "istio-base",
        "external-secrets.io" | "generators.external-secrets.io" => "external-secrets",
        "keda.sh" | "eventing.keda.sh" => "keda",
        "autoscaling.k8s.io" => "vpa",
        "cert-manager.io" | "acme.cert-manager.io" => "cert-manager",
        "velero.io" => "velero",
        "argoproj.io" => match kind {
            "Application" | "AppProject" | "ApplicationSet" => "argo-cd",
            "Rollout" | "AnalysisTemplate" | "ClusterAnalysisTemplate" | "AnalysisRun" | "Experiment" => {
                "argo-rollouts"
            }
            _ => return None,
        },
        // Constraint kinds (constraints.gatekeeper.sh) are CRDs Gatekeeper creates from each
        // ConstraintTemplate: Gatekeeper must run, and the template precedes its constraints
        // inside the Application (`kubernetes::sync_wave`), with SkipDryRunOnMissingResource.
        "templates.gatekeeper.sh"
        | "constraints.gatekeeper.sh"
        | "config.gatekeeper.sh"
        | "mutations.gatekeeper.sh"
        | "expansion.gatekeeper.sh"
        | "externaldata.gatekeeper.sh" => "gatekeeper",
        "chaos-mesh.org" => "chaos-mesh",
        "elbv2.k8s.aws" => "aws-load-balancer-controller",
        _ => return None,
    };
    Some(release)
}

/// The wave of a chart's Application: the charts' own order (`CHARTS[].wave`) after the
/// foundation and the guardrails, two apart, so the manifests that need the charts of one
/// chart wave sync before the charts of the next (certificates and secrets those may mount).
pub fn chart_app_wave(chart: &Chart) -> i32 {
    let lowest = CHARTS.iter().map(|c| c.wave).min().unwrap_or(0);
    FIRST_CHART_WAVE + 2 * (i32::from(chart.wave) - i32::from(lowest))
}

/// One rendered manifest of `kubernetes/<env>/`.
#[derive(Debug, Clone)]
struct Manifest {
    /// Path relative to `kubernetes/<env>/`.
    rel: String,
    /// First path segment: `cluster` or the namespace.
    dir: String,
    group: String,
    kind: String,
    namespace: Option<String>,
    object: Value,
}

impl Manifest {
    fn is_kind(&self, set: &[(&str, &str)]) -> bool {
        set.iter().any(|(g, k)| *g == self.group && *k == self.kind)
    }

    /// The chart whose CRD this object needs, if any.
    fn provider(&self) -> Option<&'static str> {
        if is_core_group(&self.group) { None } else { crd_provider(&self.group, &self.kind) }
    }

    /// A custom resource whose CRD nothing in the bundle installs.
    fn unprovided(&self) -> bool {
        !is_core_group(&self.group) && self.provider().is_none()
    }
}

fn parse_manifests(k8s: &Bundle) -> Result<Vec<Manifest>, RenderError> {
    let mut out = Vec::new();
    for (rel, bytes) in k8s.iter().filter(|(p, _)| p.ends_with(".yaml") || p.ends_with(".yml")) {
        let text = std::str::from_utf8(bytes).map_err(|e| RenderError::Invalid(format!("{rel}: {e}")))?;
        let object: Value =
            serde_saphyr::from_str(text).map_err(|e| RenderError::Yaml(rel.to_string(), e.to_string()))?;
        let api = object["apiVersion"].as_str().unwrap_or_default();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g).to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let dir = rel.split_once('/').map_or("", |(d, _)| d);
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_string);
        out.push(Manifest { rel: rel.to_string(), dir: dir.to_string(), group, kind, namespace, object });
    }
    Ok(out)
}

/// What an Application installs.
#[derive(Debug, Clone)]
enum Source {
    Chart(&'static Chart),
    /// Only the CRDs of a chart (see [`CRD_SPLITS`]), under their own release name.
    ChartCrds(&'static Chart, &'static str),
    /// `path` relative to the repository root; `files` index the environment's manifests.
    Directory {
        path: String,
        recurse: bool,
        include: Option<String>,
        exclude: Option<String>,
        files: Vec<usize>,
    },
}

/// One Application of the app-of-apps, before it becomes YAML.
#[derive(Debug, Clone)]
struct App {
    name: String,
    project: &'static str,
    wave: i32,
    /// What it provides, for the README and the UI.
    purpose: String,
    /// Why it sits in its wave.
    after: String,
    namespace: String,
    source: Source,
    ignore: Vec<IgnoreDifferences>,
    sync_options: Vec<String>,
    /// Deleting the Application uninstalls what it installed.
    cascade: bool,
}

/// Everything the environment's GitOps consists of.
struct Plan {
    apps: Vec<App>,
    platform: AppProjectSpec,
    workloads: AppProjectSpec,
    /// Custom resources nothing provides, and ordering cycles (the tests fail on them; the
    /// README lists them).
    unprovided: Vec<String>,
}

/// Render the Argo CD objects of one environment from its rendered manifests (`k8s`: the
/// `kubernetes/<env>/` bundle) and the add-on values (`addons`: the `helm/addons/` bundle).
pub fn render_env(_platform: &Platform, env: &Env, k8s: &Bundle, addons: &Bundle) -> Result<Bundle, RenderError> {
    let manifests = parse_manifests(k8s)?;
    let plan = plan(env, &manifests, addons)?;
    let mut b = Bundle::new();
    add_yaml(&mut b, "project-bootstrap.yaml", &project(BOOTSTRAP_PROJECT, None, bootstrap_project()))?;
    add_yaml(&mut b, "root.yaml", &root_app(env))?;
    add_yaml(
        &mut b,
        &format!("apps/appproject-{PLATFORM_PROJECT}.yaml"),
        &project(PLATFORM_PROJECT, Some(WAVE_PROJECTS), plan.platform.clone()),
    )?;
    add_yaml(
        &mut b,
        &format!("apps/appproject-{WORKLOADS_PROJECT}.yaml"),
        &project(WORKLOADS_PROJECT, Some(WAVE_PROJECTS), plan.workloads.clone()),
    )?;
    for app in &plan.apps {
        add_yaml(&mut b, &format!("apps/application-{}.yaml", app.name), &application(env, app))?;
    }
    b.add("README.md", readme(env, &plan))?;
    Ok(b)
}

fn add_yaml<T: Serialize>(b: &mut Bundle, path: &str, object: &T) -> Result<(), RenderError> {
    let text = yaml::document(object).map_err(|e| RenderError::Yaml(path.to_string(), e.to_string()))?;
    b.add(path, text)?;
    Ok(())
}

/// `{a,b}` for several glob alternatives, `a` for one.
fn alternatives(patterns: &BTreeSet<String>) -> Option<String> {
    match patterns.len() {
        0 => None,
        1 => patterns.iter().next().cloned(),
        _ => Some(format!("{{{}}}", patterns.iter().cloned().collect::<Vec<_>>().join(","))),
    }
}

/// `<kind>-*.yaml`: the files of one kind (files are `<kind>-<name>.yaml`, kinds have no `-`).
fn kind_glob(kind: &str) -> String {
    format!("{}-*.yaml", kind.to_ascii_lowercase())
}

/// Waves of the installed charts' Applications, by release name.
type ChartWaves = BTreeMap<&'static str, i32>;

/// Name of the Application of the Secrets charts mount (see [`chart_inputs`]).
const CHART_INPUTS_APP: &str = "chart-inputs";

fn plan(env: &Env, manifests: &[Manifest], addons: &Bundle) -> Result<Plan, RenderError> {
    let installed: Vec<&'static Chart> = CHARTS.iter().filter(|c| c.installed_in(env)).collect();
    for chart in &installed {
        let values = format!("{}/{}.values.yaml", env.name, chart.name);
        if addons.get(&values).is_none() {
            return Err(RenderError::Invalid(format!("chart {} has no values file helm/addons/{values}", chart.name)));
        }
    }
    let inputs = chart_inputs(env, manifests, addons, &installed);
    // A chart that mounts a Secret the manifests create waits for it: its Application moves to
    // the wave of the chart inputs when that is later than its own. Moving a chart can move what
    // needs its CRDs, so this runs to a fixed point (a cycle is reported, not looped on).
    let mut waves: ChartWaves = installed.iter().map(|c| (c.name, chart_app_wave(c))).collect();
    for (release, crds) in CRD_SPLITS {
        if let Some(c) = installed.iter().find(|c| c.name == *release) {
            waves.insert(crds, chart_app_wave(c));
        }
    }
    let mut cycle = Vec::new();
    let mut round = 0;
    loop {
        round += 1;
        let (apps, unprovided) = assemble(env, manifests, &waves, &inputs)?;
        let inputs_wave = apps.iter().find(|a| a.name == CHART_INPUTS_APP).map(|a| a.wave);
        let mut changed = false;
        for consumer in inputs.consumers.values().flatten() {
            if let (Some(w), Some(current)) = (inputs_wave, waves.get_mut(consumer))
                && *current < w
            {
                *current = w;
                changed = true;
            }
        }
        if !changed || round > 8 {
            if changed {
                cycle.push(
                    "chart waves do not settle: a chart mounts a Secret whose Application needs that chart".into(),
                );
            }
            let platform = platform_project(env, &apps, manifests, addons);
            let workloads = workloads_project(&apps, manifests);
            let mut unprovided = unprovided;
            unprovided.extend(cycle);
            return Ok(Plan { apps, platform, workloads, unprovided });
        }
    }
}

/// Secrets the rendered manifests create (Certificates, ExternalSecrets, Secrets), and their
/// ConfigMaps and ServiceAccounts, that a chart's values name in a namespace the chart deploys
/// to: the chart's pods need them to start, so they sync in an Application of their own before
/// the chart, not with the rest of their namespace.
#[derive(Debug, Default)]
struct ChartInputs {
    /// File index → the releases that use it.
    consumers: BTreeMap<usize, Vec<&'static str>>,
}

fn chart_inputs(env: &Env, manifests: &[Manifest], addons: &Bundle, installed: &[&'static Chart]) -> ChartInputs {
    let mut out = ChartInputs::default();
    for chart in installed {
        let values = chart_values(env, chart, addons);
        let mut named = BTreeSet::new();
        let mut namespaces = BTreeSet::from([chart.namespace.to_string()]);
        if let Some(v) = &values {
            collect_strings(v, &mut named);
            collect_namespace_overrides(v, &mut namespaces);
        }
        for (i, m) in manifests.iter().enumerate() {
            let produced = match (m.group.as_str(), m.kind.as_str()) {
                ("cert-manager.io", "Certificate") => m.object["spec"]["secretName"].as_str(),
                ("external-secrets.io", "ExternalSecret") => {
                    m.object["spec"]["target"]["name"].as_str().or(m.object["metadata"]["name"].as_str())
                }
                // A pod that names a missing ConfigMap or ServiceAccount waits just the same.
                ("", "Secret" | "ConfigMap" | "ServiceAccount") => m.object["metadata"]["name"].as_str(),
                _ => None,
            };
            let in_reach = m.namespace.as_ref().is_some_and(|ns| namespaces.contains(ns));
            if in_reach && produced.is_some_and(|name| named.contains(name)) {
                out.consumers.entry(i).or_default().push(chart.name);
            }
        }
    }
    out
}

fn collect_strings(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Object(m) => m.values().for_each(|c| collect_strings(c, out)),
        Value::Array(a) => a.iter().for_each(|c| collect_strings(c, out)),
        _ => {}
    }
}

/// Every Application of the environment, given the charts' waves.
fn assemble(
    env: &Env,
    manifests: &[Manifest],
    waves: &ChartWaves,
    inputs: &ChartInputs,
) -> Result<(Vec<App>, Vec<String>), RenderError> {
    let k8s_root = format!("{BUNDLE_DIR}/kubernetes/{}", env.name);
    let workload_namespaces: BTreeSet<String> = env.workloads.iter().map(|w| w.spec.namespace.clone()).collect();
    let mut apps = Vec::new();
    let mut unprovided = Vec::new();

    // Foundation: the prerequisite cluster-scoped kinds.
    let foundation: Vec<usize> = (0..manifests.len())
        .filter(|&i| manifests[i].dir == "cluster" && manifests[i].is_kind(FOUNDATION_KINDS))
        .collect();
    let foundation_globs: BTreeSet<String> = foundation.iter().map(|&i| kind_glob(&manifests[i].kind)).collect();
    if !foundation.is_empty() {
        apps.push(App {
            name: "cluster-foundation".into(),
            project: PLATFORM_PROJECT,
            wave: WAVE_FOUNDATION,
            purpose: format!(
                "namespaces, priority and storage classes, cluster roles: {}",
                kinds_summary(manifests, &foundation)
            ),
            after: "first: every chart installs into a namespace it creates (CreateNamespace=false)".into(),
            namespace: ARGOCD_NAMESPACE.into(),
            source: Source::Directory {
                path: format!("{k8s_root}/cluster"),
                recurse: false,
                include: alternatives(&foundation_globs),
                exclude: None,
                files: foundation.clone(),
            },
            ignore: Vec::new(),
            sync_options: Vec::new(),
            // Deleting this Application must never delete every namespace.
            cascade: false,
        });
    }

    // Guardrails: quotas, defaults and NetworkPolicies of every namespace.
    let guardrails: Vec<usize> = (0..manifests.len())
        .filter(|&i| manifests[i].dir != "cluster" && manifests[i].is_kind(GUARDRAIL_KINDS))
        .collect();
    let guardrail_globs: BTreeSet<String> = guardrails.iter().map(|&i| kind_glob(&manifests[i].kind)).collect();
    if !guardrails.is_empty() {
        let nested: BTreeSet<String> = guardrail_globs.iter().map(|g| format!("*/{g}")).collect();
        apps.push(App {
            name: "namespace-guardrails".into(),
            project: PLATFORM_PROJECT,
            wave: WAVE_GUARDRAILS,
            purpose: format!(
                "quotas, LimitRange defaults, NetworkPolicies and RBAC of every namespace: {}",
                kinds_summary(manifests, &guardrails)
            ),
            after: "cluster-foundation (the namespaces); before any chart, so no pod starts outside its namespace's policies".into(),
            namespace: ARGOCD_NAMESPACE.into(),
            source: Source::Directory {
                path: k8s_root.clone(),
                recurse: true,
                include: alternatives(&nested),
                exclude: None,
                files: guardrails.clone(),
            },
            ignore: Vec::new(),
            sync_options: Vec::new(),
            cascade: true,
        });
    }

    apps.extend(chart_applications(waves));

    // Everything else in cluster/: custom resources (stores, issuers, constraint templates…)
    // and any other cluster-scoped kind, after the charts that provide them.
    let cluster_rest: Vec<usize> =
        (0..manifests.len()).filter(|&i| manifests[i].dir == "cluster" && !foundation.contains(&i)).collect();
    let mut floor = WAVE_GUARDRAILS + 1;
    if !cluster_rest.is_empty() {
        let (wave, after) = needs_wave(manifests, &cluster_rest, floor, waves, &mut unprovided);
        floor = wave;
        apps.push(App {
            name: "cluster-resources".into(),
            project: PLATFORM_PROJECT,
            wave,
            purpose: format!("cluster-scoped custom resources: {}", kinds_summary(manifests, &cluster_rest)),
            after,
            namespace: ARGOCD_NAMESPACE.into(),
            source: Source::Directory {
                path: format!("{k8s_root}/cluster"),
                recurse: false,
                include: None,
                exclude: alternatives(&foundation_globs),
                files: cluster_rest.clone(),
            },
            ignore: Vec::new(),
            sync_options: dir_sync_options(manifests, &cluster_rest),
            cascade: true,
        });
    }

    // The Secrets charts mount, named file by file, with the issuers and stores they come from.
    let input_files: Vec<usize> = inputs.consumers.keys().copied().collect();
    if !input_files.is_empty() {
        let (wave, after) = needs_wave(manifests, &input_files, floor, waves, &mut unprovided);
        let names: BTreeSet<String> = input_files.iter().map(|&i| manifests[i].rel.clone()).collect();
        let users: BTreeSet<&str> = inputs.consumers.values().flatten().copied().collect();
        apps.push(App {
            name: CHART_INPUTS_APP.into(),
            project: PLATFORM_PROJECT,
            wave,
            purpose: format!(
                "Secrets the charts mount ({}): {}",
                users.into_iter().collect::<Vec<_>>().join(", "),
                kinds_summary(manifests, &input_files)
            ),
            after: format!("{after}; with the cluster-scoped issuers and stores"),
            namespace: ARGOCD_NAMESPACE.into(),
            source: Source::Directory {
                path: k8s_root.clone(),
                recurse: true,
                include: alternatives(&names),
                exclude: None,
                files: input_files.clone(),
            },
            ignore: Vec::new(),
            sync_options: dir_sync_options(manifests, &input_files),
            cascade: true,
        });
    }

    // Per namespace directory, the rest of its objects in two Applications: what pods need
    // before they start (`kubernetes::is_prerequisite`: accounts, secrets, config, mesh policy,
    // registry entries), then the workloads with their PreSync migration Jobs — a PreSync hook
    // runs before anything else of its own Application is applied, so on a first sync it would
    // find none of those. Both after every chart that provides their kinds, after the
    // cluster-scoped resources they may name (stores, issuers, constraints); the workloads after
    // istiod where the namespace injects sidecars.
    let dirs: BTreeSet<&str> = manifests.iter().map(|m| m.dir.as_str()).filter(|d| *d != "cluster").collect();
    for dir in dirs {
        let ctx = NamespaceApps {
            k8s_root: &k8s_root,
            dir,
            project: if workload_namespaces.contains(dir) { WORKLOADS_PROJECT } else { PLATFORM_PROJECT },
            guardrail_globs: &guardrail_globs,
            input_files: &input_files,
            floor,
            istiod: waves.get("istiod").copied(),
        };
        apps.extend(namespace_applications(&ctx, manifests, waves, &guardrails, &mut unprovided));
    }

    apps.sort_by(|a, b| (a.wave, &a.name).cmp(&(b.wave, &b.name)));
    unprovided.sort();
    unprovided.dedup();
    Ok((apps, unprovided))
}

/// The charts' Applications, in their own order (moved later only to wait for the Secrets they
/// mount), and the CRD-only Applications of [`CRD_SPLITS`].
fn chart_applications(waves: &ChartWaves) -> Vec<App> {
    let mut apps = Vec::new();
    for chart in CHARTS.iter().filter(|c| waves.contains_key(c.name)) {
        let mut sync_options = Vec::new();
        if SERVER_SIDE_APPLY.iter().any(|(n, _)| *n == chart.name) {
            sync_options.push("ServerSideApply=true".to_string());
        }
        for (_, crds) in CRD_SPLITS.iter().filter(|(r, _)| *r == chart.name) {
            apps.push(App {
                name: crds.to_string(),
                project: PLATFORM_PROJECT,
                wave: waves.get(crds).copied().unwrap_or_else(|| chart_app_wave(chart)),
                purpose: format!(
                    "the CRDs of {} alone (same chart and version), so everything that declares its kinds can come before the stack itself",
                    chart.name
                ),
                after: chart_after(chart),
                namespace: chart.namespace.into(),
                source: Source::ChartCrds(chart, crds),
                ignore: chart_ignores(chart),
                sync_options: sync_options.clone(),
                // Deleting a CRD deletes every object of its kind: never cascade.
                cascade: false,
            });
        }
        let wave = waves.get(chart.name).copied().unwrap_or_else(|| chart_app_wave(chart));
        let after = if wave > chart_app_wave(chart) {
            format!("{CHART_INPUTS_APP} (it mounts Secrets the manifests create)")
        } else {
            chart_after(chart)
        };
        apps.push(App {
            name: chart.name.into(),
            project: PLATFORM_PROJECT,
            wave,
            purpose: chart.purpose.into(),
            after,
            namespace: chart.namespace.into(),
            source: Source::Chart(chart),
            ignore: chart_ignores(chart),
            sync_options,
            // Argo CD's own Application: deleting it must not uninstall Argo CD under itself.
            cascade: chart.name != "argo-cd",
        });
    }
    apps
}

/// What the Applications of one namespace directory are built from.
struct NamespaceApps<'a> {
    k8s_root: &'a str,
    dir: &'a str,
    project: &'static str,
    guardrail_globs: &'a BTreeSet<String>,
    /// Files synced by `chart-inputs` (left out here).
    input_files: &'a [usize],
    floor: i32,
    istiod: Option<i32>,
}

/// `manifests-<ns>-prerequisites` (what pods need first) and `manifests-<ns>` (the rest).
fn namespace_applications(
    ctx: &NamespaceApps<'_>,
    manifests: &[Manifest],
    waves: &ChartWaves,
    guardrails: &[usize],
    unprovided: &mut Vec<String>,
) -> Vec<App> {
    let dir = ctx.dir;
    let all: Vec<usize> = (0..manifests.len())
        .filter(|&i| manifests[i].dir == dir && !guardrails.contains(&i) && !ctx.input_files.contains(&i))
        .collect();
    let (prerequisites, rest): (Vec<usize>, Vec<usize>) =
        all.iter().partition(|&&i| crate::kubernetes::is_prerequisite(&manifests[i].kind));
    let inputs_here: BTreeSet<String> = ctx
        .input_files
        .iter()
        .filter(|&&i| manifests[i].dir == dir)
        .map(|&i| manifests[i].rel[dir.len() + 1..].to_string())
        .collect();
    let prerequisite_globs: BTreeSet<String> = prerequisites.iter().map(|&i| kind_glob(&manifests[i].kind)).collect();
    // Controller-owned fields of the namespace, on both: the objects they name may sit in either.
    let ignore = controller_owned_fields(manifests, &all);
    let app = |name: String, wave: i32, after: String, files: &[usize], include, exclude| App {
        name,
        project: ctx.project,
        wave,
        purpose: format!("{dir}: {}", kinds_summary(manifests, files)),
        after,
        namespace: dir.to_string(),
        source: Source::Directory {
            path: format!("{}/{dir}", ctx.k8s_root),
            recurse: false,
            include,
            exclude,
            files: files.to_vec(),
        },
        ignore: ignore.clone(),
        sync_options: dir_sync_options(manifests, files),
        cascade: true,
    };
    let mut out = Vec::new();
    let mut floor = ctx.floor;
    if !prerequisites.is_empty() {
        let (wave, after) = needs_wave(manifests, &prerequisites, floor, waves, unprovided);
        floor = wave + 1;
        out.push(app(
            format!("manifests-{dir}-prerequisites"),
            wave,
            after,
            &prerequisites,
            alternatives(&prerequisite_globs),
            alternatives(&inputs_here),
        ));
    }
    if !rest.is_empty() {
        let (mut wave, mut after) = needs_wave(manifests, &rest, floor, waves, unprovided);
        if wave == floor && !prerequisites.is_empty() {
            after = format!("manifests-{dir}-prerequisites (its PreSync Jobs and pods need them in place); {after}");
        }
        if let Some(istiod) = ctx.istiod.filter(|w| w + 1 > wave && injects_sidecars(manifests, dir)) {
            wave = istiod + 1;
            after = "istiod (the namespace injects sidecars: pods created before the injector runs would start outside the mesh)".into();
        }
        let mut excluded = ctx.guardrail_globs.clone();
        excluded.extend(prerequisite_globs.iter().cloned());
        excluded.extend(inputs_here.iter().cloned());
        out.push(app(format!("manifests-{dir}"), wave, after, &rest, None, alternatives(&excluded)));
    }
    out
}

/// The lowest wave (at least `floor`) after every chart that provides a kind of `files`, and why.
fn needs_wave(
    manifests: &[Manifest],
    files: &[usize],
    floor: i32,
    waves: &ChartWaves,
    unprovided: &mut Vec<String>,
) -> (i32, String) {
    let mut wave = floor;
    let mut providers: BTreeSet<&str> = BTreeSet::new();
    for &i in files {
        let m = &manifests[i];
        match m.provider().map(|name| (name, waves.get(name))) {
            Some((name, Some(w))) => {
                wave = wave.max(w + 1);
                providers.insert(name);
            }
            Some((name, None)) => {
                unprovided.push(format!("{} ({}/{}: {name} is not installed here)", m.rel, m.group, m.kind))
            }
            None if m.unprovided() => unprovided.push(format!("{} ({}/{})", m.rel, m.group, m.kind)),
            None => {}
        }
    }
    let after = if providers.is_empty() {
        "the charts and the cluster-scoped resources (no CRD needed)".to_string()
    } else {
        format!("the CRDs of {}", providers.into_iter().collect::<Vec<_>>().join(", "))
    };
    (wave, after)
}

/// Whether the namespace directory's Namespace asks for Istio sidecar injection.
fn injects_sidecars(manifests: &[Manifest], namespace: &str) -> bool {
    manifests.iter().any(|m| {
        m.kind == "Namespace"
            && m.object["metadata"]["name"].as_str() == Some(namespace)
            && (m.object["metadata"]["labels"]["istio-injection"].as_str() == Some("enabled")
                || m.object["metadata"]["labels"]["istio.io/rev"].is_string())
    })
}

/// Sync options every Application carries: namespaces are rendered (never created on the fly),
/// fields listed in `ignoreDifferences` are left to their controller on sync too, and deletions
/// wait until everything else is applied.
fn base_sync_options() -> Vec<String> {
    vec!["CreateNamespace=false".into(), "RespectIgnoreDifferences=true".into(), "PruneLast=true".into()]
}

/// Manifest sets with custom resources skip the dry run of kinds not yet known: Gatekeeper
/// creates each constraint kind's CRD from its ConstraintTemplate in the same sync, and Argo
/// CD's API discovery can lag a CRD installed by the previous wave.
fn dir_sync_options(manifests: &[Manifest], files: &[usize]) -> Vec<String> {
    if files.iter().any(|&i| !is_core_group(&manifests[i].group)) {
        vec!["SkipDryRunOnMissingResource=true".into()]
    } else {
        Vec::new()
    }
}

fn chart_after(chart: &Chart) -> String {
    let earlier: Vec<&str> = CHARTS.iter().filter(|c| c.wave < chart.wave).map(|c| c.name).collect();
    if chart.name == "argo-cd" {
        "installed by hand first (`helm install`), then managed by itself".into()
    } else if earlier.is_empty() {
        "the namespaces and guardrails".into()
    } else {
        format!("chart wave {} (CHARTS order)", chart.wave)
    }
}

fn ignore(group: &str, kind: &str, jq: &[&str]) -> IgnoreDifferences {
    IgnoreDifferences {
        group: group.into(),
        kind: kind.into(),
        name: None,
        namespace: None,
        json_pointers: Vec::new(),
        jq_path_expressions: jq.iter().map(|s| s.to_string()).collect(),
    }
}

/// Fields of a chart's objects that a controller writes after install. Any chart's webhook CA
/// may be injected at run time (cert-manager's cainjector, the Gatekeeper/KEDA/external-secrets
/// cert rotators, istiod, kube-prometheus-stack's patch Job), so every chart ignores CA bundles;
/// istiod also flips its validating webhooks' `failurePolicy` to Fail once it serves them.
fn chart_ignores(chart: &Chart) -> Vec<IgnoreDifferences> {
    let mut validating = vec![".webhooks[]?.clientConfig.caBundle"];
    if matches!(chart.name, "istio-base" | "istiod") {
        validating.push(".webhooks[]?.failurePolicy");
    }
    vec![
        ignore("admissionregistration.k8s.io", "MutatingWebhookConfiguration", &[".webhooks[]?.clientConfig.caBundle"]),
        ignore("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", &validating),
        ignore("apiextensions.k8s.io", "CustomResourceDefinition", &[".spec.conversion.webhook.clientConfig.caBundle"]),
        ignore("apiregistration.k8s.io", "APIService", &[".spec.caBundle"]),
    ]
}

/// Fields of rendered objects that a controller owns, read from the objects that control them:
/// replicas of whatever an HPA or ScaledObject scales; for Argo Rollouts, the route weights of
/// the VirtualService it shifts, the pod-template-hash it adds to DestinationRule subsets and to
/// the selectors of its Services.
fn controller_owned_fields(manifests: &[Manifest], files: &[usize]) -> Vec<IgnoreDifferences> {
    let mut out: BTreeMap<(String, String, String, String), Vec<String>> = BTreeMap::new();
    let mut add = |group: &str, kind: &str, name: &str, ns: &str, field: &str| {
        let fields = out.entry((group.into(), kind.into(), name.into(), ns.into())).or_default();
        if !fields.iter().any(|f| f == field) {
            fields.push(field.into());
        }
    };
    for &i in files {
        let m = &manifests[i];
        let ns = m.namespace.clone().unwrap_or_else(|| m.dir.clone());
        let spec = &m.object["spec"];
        let scaler = matches!(
            (m.group.as_str(), m.kind.as_str()),
            ("keda.sh", "ScaledObject") | ("autoscaling", "HorizontalPodAutoscaler")
        );
        if scaler {
            let target = &spec["scaleTargetRef"];
            if let Some(name) = target["name"].as_str() {
                let api = target["apiVersion"].as_str().unwrap_or("apps/v1");
                let group = api.rsplit_once('/').map_or("", |(g, _)| g);
                let kind = target["kind"].as_str().unwrap_or("Deployment");
                add(group, kind, name, &ns, ".spec.replicas");
            }
        }
        if m.group == "argoproj.io" && m.kind == "Rollout" {
            let canary = &spec["strategy"]["canary"];
            let istio = &canary["trafficRouting"]["istio"];
            let mut vs: Vec<&str> = istio["virtualServices"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v["name"].as_str()).collect())
                .unwrap_or_default();
            vs.extend(istio["virtualService"]["name"].as_str());
            for name in vs {
                add("networking.istio.io", "VirtualService", name, &ns, ".spec.http[]?.route[]?.weight");
            }
            if let Some(dr) = istio["destinationRule"]["name"].as_str() {
                add("networking.istio.io", "DestinationRule", dr, &ns, ".spec.subsets[]?.labels");
            }
            let blue_green = &spec["strategy"]["blueGreen"];
            for svc in [
                &canary["stableService"],
                &canary["canaryService"],
                &blue_green["activeService"],
                &blue_green["previewService"],
            ] {
                if let Some(name) = svc.as_str() {
                    add("", "Service", name, &ns, ".spec.selector");
                }
            }
        }
    }
    out.into_iter()
        .map(|((group, kind, name, namespace), jq)| IgnoreDifferences {
            group,
            kind,
            name: Some(name),
            namespace: Some(namespace),
            json_pointers: Vec::new(),
            jq_path_expressions: jq,
        })
        .collect()
}

/// `Kind ×n, …` of a set of files.
fn kinds_summary(manifests: &[Manifest], files: &[usize]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in files {
        *counts.entry(manifests[i].kind.as_str()).or_default() += 1;
    }
    counts.iter().map(|(k, n)| if *n == 1 { k.to_string() } else { format!("{k} ×{n}") }).collect::<Vec<_>>().join(", ")
}

/// The namespaces an Application deploys into: its destination, every namespace its files
/// name, and for a chart every `namespaceOverride` its values set (kube-prometheus-stack puts
/// node-exporter with the node agents).
fn app_namespaces(app: &App, manifests: &[Manifest], values: Option<&Value>) -> BTreeSet<String> {
    // The destination counts even for an Application of cluster-scoped objects only: Argo CD
    // checks it against the project.
    let mut out = BTreeSet::from([app.namespace.clone()]);
    match &app.source {
        Source::Chart(_) => {
            if let Some(v) = values {
                collect_namespace_overrides(v, &mut out);
            }
        }
        Source::ChartCrds(..) => {}
        Source::Directory { files, .. } => {
            out.extend(files.iter().filter_map(|&i| manifests[i].namespace.clone()));
        }
    }
    out
}

fn collect_namespace_overrides(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("namespaceOverride", Value::String(ns)) if !ns.is_empty() => {
                        out.insert(ns.clone());
                    }
                    _ => collect_namespace_overrides(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_namespace_overrides(i, out)),
        _ => {}
    }
}

fn chart_values(env: &Env, chart: &Chart, addons: &Bundle) -> Option<Value> {
    let bytes = addons.get(&format!("{}/{}.values.yaml", env.name, chart.name))?;
    serde_saphyr::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

fn destinations(namespaces: BTreeSet<String>) -> Vec<Destination> {
    namespaces.into_iter().map(|namespace| Destination { server: IN_CLUSTER.into(), namespace }).collect()
}

fn group_kind(group: &str, kind: &str) -> GroupKind {
    GroupKind { group: group.into(), kind: kind.into() }
}

/// The platform's project: the installed charts' repositories and this one; exactly the
/// namespaces its Applications deploy into; the cluster-scoped kinds the rendered manifests
/// carry plus those the charts install ([`CHART_CLUSTER_KINDS`]).
fn platform_project(env: &Env, apps: &[App], manifests: &[Manifest], addons: &Bundle) -> AppProjectSpec {
    let mut repos: BTreeSet<String> = BTreeSet::from([REPO_URL.to_string()]);
    let mut namespaces = BTreeSet::new();
    let mut cluster_kinds: BTreeSet<GroupKind> = CHART_CLUSTER_KINDS.iter().map(|(g, k, _)| group_kind(g, k)).collect();
    for app in apps.iter().filter(|a| a.project == PLATFORM_PROJECT) {
        let values = match &app.source {
            Source::Chart(c) => {
                repos.insert(c.repository.to_string());
                chart_values(env, c, addons)
            }
            Source::ChartCrds(c, _) => {
                repos.insert(c.repository.to_string());
                None
            }
            Source::Directory { files, .. } => {
                for &i in files.iter().filter(|&&i| manifests[i].dir == "cluster") {
                    cluster_kinds.insert(group_kind(&manifests[i].group, &manifests[i].kind));
                }
                None
            }
        };
        namespaces.extend(app_namespaces(app, manifests, values.as_ref()));
    }
    AppProjectSpec {
        description: "Platform add-ons (pinned charts) and the platform's own manifests: namespaces, guardrails, cluster-scoped resources, add-on namespaces".into(),
        source_repos: repos.into_iter().collect(),
        destinations: destinations(namespaces),
        cluster_resource_whitelist: cluster_kinds.into_iter().collect(),
        namespace_resource_whitelist: None,
        namespace_resource_blacklist: Vec::new(),
        orphaned_resources: None,
    }
}

/// The workloads' project: this repository only, the workload namespaces only, no cluster-scoped
/// kind, only the namespaced kinds its manifests carry, and never the guardrails.
fn workloads_project(apps: &[App], manifests: &[Manifest]) -> AppProjectSpec {
    let mut namespaces = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for app in apps.iter().filter(|a| a.project == WORKLOADS_PROJECT) {
        namespaces.extend(app_namespaces(app, manifests, None));
        if let Source::Directory { files, .. } = &app.source {
            kinds.extend(files.iter().map(|&i| group_kind(&manifests[i].group, &manifests[i].kind)));
        }
    }
    AppProjectSpec {
        description: "Cerverus workloads: the spec's workload namespaces, namespaced objects only; quotas, LimitRanges, NetworkPolicies and RBAC belong to the platform".into(),
        source_repos: vec![REPO_URL.into()],
        destinations: destinations(namespaces),
        cluster_resource_whitelist: Vec::new(),
        namespace_resource_whitelist: Some(kinds.into_iter().collect()),
        namespace_resource_blacklist: GUARDRAIL_KINDS.iter().map(|(g, k)| group_kind(g, k)).collect(),
        orphaned_resources: Some(OrphanedResources { warn: true }),
    }
}

/// The root Application's project: Applications and AppProjects in Argo CD's namespace, from
/// this repository, nothing else.
fn bootstrap_project() -> AppProjectSpec {
    AppProjectSpec {
        description: "The app-of-apps root: creates this environment's AppProjects and Applications, nothing else"
            .into(),
        source_repos: vec![REPO_URL.into()],
        destinations: destinations(BTreeSet::from([ARGOCD_NAMESPACE.to_string()])),
        cluster_resource_whitelist: Vec::new(),
        namespace_resource_whitelist: Some(vec![
            group_kind("argoproj.io", "Application"),
            group_kind("argoproj.io", "AppProject"),
        ]),
        namespace_resource_blacklist: Vec::new(),
        orphaned_resources: None,
    }
}

fn labels(extra: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        ("app.kubernetes.io/managed-by".to_string(), "cerverus".to_string()),
        ("app.kubernetes.io/part-of".to_string(), "cerverus".to_string()),
    ]);
    for (k, v) in extra {
        l.insert(k.to_string(), v.clone());
    }
    l
}

fn project(name: &str, wave: Option<i32>, spec: AppProjectSpec) -> Resource<AppProjectSpec> {
    Resource {
        api_version: "argoproj.io/v1alpha1",
        kind: "AppProject",
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ARGOCD_NAMESPACE.into()),
            labels: Some(labels(&[])),
            annotations: wave.map(|w| BTreeMap::from([(SYNC_WAVE.to_string(), w.to_string())])),
            ..Default::default()
        },
        spec,
    }
}

/// Staging and dev follow `main` by themselves (pruning what the bundle no longer has, undoing
/// changes made by hand); production changes only when a person syncs.
fn sync_policy(env: &Env, options: Vec<String>) -> SyncPolicy {
    SyncPolicy {
        automated: (!env.is_production()).then_some(Automated { prune: true, self_heal: true }),
        sync_options: options,
        retry: Retry { limit: 10, backoff: Backoff { duration: "15s".into(), factor: 2, max_duration: "5m".into() } },
    }
}

fn root_app(env: &Env) -> Resource<ApplicationSpec> {
    Resource {
        api_version: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: ObjectMeta {
            name: Some(ROOT_APP.into()),
            namespace: Some(ARGOCD_NAMESPACE.into()),
            labels: Some(labels(&[])),
            ..Default::default()
        },
        spec: ApplicationSpec {
            project: BOOTSTRAP_PROJECT.into(),
            source: Some(ApplicationSource {
                repo_url: REPO_URL.into(),
                target_revision: TARGET_REVISION.into(),
                path: Some(format!("{BUNDLE_DIR}/gitops/{}/apps", env.name)),
                ..Default::default()
            }),
            sources: Vec::new(),
            destination: Destination { server: IN_CLUSTER.into(), namespace: ARGOCD_NAMESPACE.into() },
            sync_policy: sync_policy(env, base_sync_options()),
            ignore_differences: Vec::new(),
            info: vec![Info {
                name: "bring-up order".into(),
                value: format!("{BUNDLE_DIR}/gitops/{}/README.md", env.name),
            }],
        },
    }
}

fn application(env: &Env, app: &App) -> Resource<ApplicationSpec> {
    let (source, sources) = match &app.source {
        Source::ChartCrds(chart, release) => (
            Some(ApplicationSource {
                repo_url: chart.repository.into(),
                target_revision: chart.version.into(),
                chart: Some(chart.chart.into()),
                helm: Some(HelmSource {
                    release_name: release.to_string(),
                    value_files: Vec::new(),
                    values_object: crds_only_values(release),
                }),
                ..Default::default()
            }),
            Vec::new(),
        ),
        Source::Chart(chart) => (
            None,
            vec![
                ApplicationSource {
                    repo_url: chart.repository.into(),
                    target_revision: chart.version.into(),
                    chart: Some(chart.chart.into()),
                    helm: Some(HelmSource {
                        release_name: chart.name.into(),
                        value_files: vec![format!(
                            "$values/{BUNDLE_DIR}/helm/addons/{}/{}.values.yaml",
                            env.name, chart.name
                        )],
                        // A chart whose CRDs have their own Application leaves them out here.
                        values_object: CRD_SPLITS
                            .iter()
                            .any(|(r, _)| *r == chart.name)
                            .then(|| serde_json::json!({"crds": {"enabled": false}})),
                    }),
                    ..Default::default()
                },
                ApplicationSource {
                    repo_url: REPO_URL.into(),
                    target_revision: TARGET_REVISION.into(),
                    reference: Some("values".into()),
                    ..Default::default()
                },
            ],
        ),
        Source::Directory { path, recurse, include, exclude, .. } => (
            Some(ApplicationSource {
                repo_url: REPO_URL.into(),
                target_revision: TARGET_REVISION.into(),
                path: Some(path.clone()),
                directory: Some(DirectorySource {
                    recurse: *recurse,
                    include: include.clone(),
                    exclude: exclude.clone(),
                }),
                ..Default::default()
            }),
            Vec::new(),
        ),
    };
    let mut options = base_sync_options();
    options.extend(app.sync_options.iter().cloned());
    Resource {
        api_version: "argoproj.io/v1alpha1",
        kind: "Application",
        metadata: ObjectMeta {
            name: Some(app.name.clone()),
            namespace: Some(ARGOCD_NAMESPACE.into()),
            labels: Some(labels(&[
                (WAVE_LABEL, app.wave.to_string()),
                ("cerverus.io/project", app.project.to_string()),
            ])),
            annotations: Some(BTreeMap::from([(SYNC_WAVE.to_string(), app.wave.to_string())])),
            finalizers: app.cascade.then(|| vec![CASCADE_FINALIZER.to_string()]),
            ..Default::default()
        },
        spec: ApplicationSpec {
            project: app.project.into(),
            source,
            sources,
            destination: Destination { server: IN_CLUSTER.into(), namespace: app.namespace.clone() },
            sync_policy: sync_policy(env, options),
            ignore_differences: app.ignore.clone(),
            info: vec![
                Info { name: "provides".into(), value: app.purpose.clone() },
                Info { name: "after".into(), value: app.after.clone() },
            ],
        },
    }
}

/// A Markdown table from rows of cells (`|` escaped).
fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")));
    }
    out
}

fn readme(env: &Env, plan: &Plan) -> String {
    let mut rows = vec![vec![
        WAVE_PROJECTS.to_string(),
        format!("AppProjects `{PLATFORM_PROJECT}`, `{WORKLOADS_PROJECT}`"),
        "—".into(),
        "what each set of Applications may install, and where".into(),
        "—".into(),
    ]];
    for app in &plan.apps {
        let what = match &app.source {
            Source::Chart(c) => format!("`{}` {} (chart `{}`)", app.name, c.version, c.chart),
            Source::ChartCrds(c, _) => format!("`{}` {} (chart `{}`, CRDs only)", app.name, c.version, c.chart),
            Source::Directory { path, .. } => format!("`{}` (`{path}`)", app.name),
        };
        rows.push(vec![app.wave.to_string(), what, app.project.to_string(), app.purpose.clone(), app.after.clone()]);
    }
    let sync = if env.is_production() {
        format!(
            "Production syncs by hand: nothing is automated. Start the root (it creates each wave's Applications and waits for them to be Healthy), then sync each wave in order, once the previous one is Healthy:\n\n```sh\nargocd app sync {ROOT_APP} --async\n# for each wave below, lowest first (its Applications appear once the one before is Healthy)\nuntil argocd app sync -l {WAVE_LABEL}=<wave>; do sleep 15; done\nargocd app wait -l {WAVE_LABEL}=<wave> --health\n```\n"
        )
    } else {
        format!(
            "`{}` syncs automatically (prune, self-heal): the root creates each wave's Applications once the previous wave is Healthy.\n",
            env.name
        )
    };
    let mut out = format!(
        "# How the `{env}` cluster comes up\n\nGenerated by `cerverus build` from the same plan as the Applications next to this file; do not edit.\n\n\
         1. Argo CD from its chart, by hand, once:\n\n```sh\nhelm install argo-cd argo-cd --repo https://argoproj.github.io/argo-helm --version {version} \\\n  --namespace {ARGOCD_NAMESPACE} --create-namespace --values {BUNDLE_DIR}/helm/addons/{env}/argo-cd.values.yaml\n```\n\n\
         2. The root Application and its project:\n\n```sh\nkubectl apply -f {BUNDLE_DIR}/gitops/{env}/project-bootstrap.yaml -f {BUNDLE_DIR}/gitops/{env}/root.yaml\n```\n\n\
         3. {sync}\n\
         Argo CD waits for every Application of a wave to be Healthy before it starts the next (the `argoproj.io/Application` health check in the argo-cd values). Manifests wait for the charts that provide their CRDs.\n\n",
        env = env.name,
        version = CHARTS.iter().find(|c| c.name == "argo-cd").map_or("", |c| c.version),
    );
    out.push_str(&markdown_table(&["wave", "Application", "project", "provides", "after"], &rows));
    if !plan.unprovided.is_empty() {
        out.push_str(
            "\n**Cannot come up as rendered** (custom resources no installed chart provides, ordering cycles):\n\n",
        );
        for u in &plan.unprovided {
            out.push_str(&format!("- `{u}`\n"));
        }
    }
    out
}

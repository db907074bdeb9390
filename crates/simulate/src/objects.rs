//! The environment's workloads as Kubernetes will see them: read back from the rendered objects
//! (typed with k8s-openapi where the kind is core, from the documented fields where it is a CRD),
//! never from the spec, so the simulation judges what would really be applied.
//!
//! A [`Workload`] joins a pod-owning object (Deployment, StatefulSet, DaemonSet, Job, CronJob,
//! Argo Rollout) with what acts on it: the autoscaler that targets it (HPA, or KEDA's
//! ScaledObject, which owns an HPA), the PodDisruptionBudget whose selector matches its pods, its
//! PriorityClass's value and, for namespaces with Istio injection, the sidecar the injector adds.

use std::collections::BTreeMap;

use cerverus_check::inventory::K8sObject;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, Probe};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::Value;

use crate::{Inputs, SimError};

/// Requests of one pod, as the scheduler sums them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Requests {
    /// CPU cores.
    pub cpu: f64,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// `nvidia.com/gpu`.
    pub gpu: u32,
}

impl std::ops::Add for Requests {
    type Output = Requests;

    fn add(self, o: Requests) -> Requests {
        Requests { cpu: self.cpu + o.cpu, memory_gib: self.memory_gib + o.memory_gib, gpu: self.gpu + o.gpu }
    }
}

impl Requests {
    pub fn max(self, o: Requests) -> Requests {
        Requests { cpu: self.cpu.max(o.cpu), memory_gib: self.memory_gib.max(o.memory_gib), gpu: self.gpu.max(o.gpu) }
    }

    pub fn times(self, n: u32) -> Requests {
        let f = f64::from(n);
        Requests { cpu: self.cpu * f, memory_gib: self.memory_gib * f, gpu: self.gpu * n }
    }

    /// Whether `self` fits in `free`.
    pub fn fits_in(self, free: Requests) -> bool {
        const EPS: f64 = 1e-9;
        self.cpu <= free.cpu + EPS && self.memory_gib <= free.memory_gib + EPS && self.gpu <= free.gpu
    }
}

/// Kind of the object that owns the pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum OwnerKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    /// Argo Rollouts `Rollout`.
    Rollout,
}

impl OwnerKind {
    /// Kinds whose pods run all the time (the ones HA and capacity are judged on).
    pub fn is_long_running(self) -> bool {
        matches!(self, OwnerKind::Deployment | OwnerKind::StatefulSet | OwnerKind::Rollout | OwnerKind::DaemonSet)
    }
}

/// How a Rollout releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Release {
    /// Deployment rolling update, StatefulSet ordered replacement, Job/CronJob: none modelled.
    Rolling,
    Canary,
    BlueGreen,
}

/// One metric an autoscaler follows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingMetric {
    /// `cpu`, `memory`, `prometheus`, `cron`, … (KEDA trigger type; `resource`/`pods`/`object`/`external` for a plain HPA).
    pub source: String,
    /// `Utilization`, `AverageValue` or `Value`: decides whether replicas follow load at all
    /// (a `Value` target on a per-pod average does not).
    pub target_type: String,
    /// Target value (percent for `Utilization`).
    pub target: f64,
    /// PromQL of a `prometheus` trigger.
    pub query: Option<String>,
    /// Cron trigger: (start, end, desired replicas, timezone).
    pub cron: Option<(String, String, u32, String)>,
}

/// Who scales a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AutoscalerKind {
    HorizontalPodAutoscaler,
    /// KEDA ScaledObject (KEDA creates and drives an HPA from it).
    KedaScaledObject,
}

/// The autoscaler acting on a workload.
#[derive(Debug, Clone, Serialize)]
pub struct Autoscaler {
    pub kind: AutoscalerKind,
    pub name: String,
    pub min: u32,
    pub max: u32,
    /// KEDA `pollingInterval` (s); `None` for a plain HPA.
    pub polling_interval_seconds: Option<u32>,
    /// The HPA behaviour (KEDA: `advanced.horizontalPodAutoscalerConfig.behavior`); `None`: Kubernetes' defaults.
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
    pub metrics: Vec<ScalingMetric>,
}

/// The PodDisruptionBudget that selects a workload's pods.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    pub name: String,
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
}

impl Budget {
    /// Pods that must stay available out of `replicas` (percentages round up, as the disruption
    /// controller rounds `minAvailable`; `maxUnavailable` percentages round up too, leaving fewer).
    pub fn min_available_of(&self, replicas: u32) -> u32 {
        let pct = |s: &str| s.trim_end_matches('%').parse::<f64>().unwrap_or(0.0) / 100.0;
        match (&self.min_available, &self.max_unavailable) {
            (Some(IntOrString::Int(n)), _) => (*n).max(0) as u32,
            (Some(IntOrString::String(s)), _) => (pct(s) * f64::from(replicas)).ceil() as u32,
            (None, Some(IntOrString::Int(n))) => replicas.saturating_sub((*n).max(0) as u32),
            (None, Some(IntOrString::String(s))) => {
                replicas.saturating_sub((pct(s) * f64::from(replicas)).ceil() as u32)
            }
            (None, None) => 0,
        }
    }
}

/// A pod-owning object with everything that acts on it.
#[derive(Debug, Clone)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub kind: OwnerKind,
    /// `spec.replicas` (1 for a Job or CronJob run; 0 for a DaemonSet: one per eligible node).
    pub replicas: u32,
    /// The pod template's labels.
    pub labels: BTreeMap<String, String>,
    /// The pod template's spec: tolerations, node selector, affinity, spread constraints.
    pub pod: PodSpec,
    /// Requests of one pod, the injected sidecar included.
    pub requests: Requests,
    /// Whether Istio injects a sidecar (its requests are in `requests`).
    pub mesh_sidecar: bool,
    /// `cerverus.io/tier` label, when set.
    pub tier: Option<String>,
    /// Value of the pod's PriorityClass (0 without one, as Kubernetes defaults it).
    pub priority: i32,
    /// Whether its pods may preempt lower-priority ones: false when the PriorityClass (or,
    /// without one, the pod spec) says `preemptionPolicy: Never`.
    pub preempts: bool,
    pub release: Release,
    pub autoscaler: Option<Autoscaler>,
    pub budget: Option<Budget>,
    /// Image of the first container.
    pub image: String,
    /// Whether the controller creates a new pod without waiting for the ones before it to be
    /// Ready: always for a Deployment or Rollout; for a StatefulSet only with
    /// `podManagementPolicy: Parallel` (with `OrderedReady` a stranded ordinal blocks every
    /// higher one).
    pub parallel_pod_management: bool,
}

impl Workload {
    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Fewest replicas the workload is meant to run: the autoscaler's minimum, else `replicas`.
    pub fn min_replicas(&self) -> u32 {
        self.autoscaler.as_ref().map_or(self.replicas, |a| a.min)
    }

    /// Most replicas it can be scaled to.
    pub fn max_replicas(&self) -> u32 {
        self.autoscaler.as_ref().map_or(self.replicas, |a| a.max.max(self.replicas))
    }

    /// The first container (the application).
    pub fn app_container(&self) -> Option<&Container> {
        self.pod.containers.first()
    }

    /// The application container's readiness probe.
    pub fn readiness(&self) -> Option<&Probe> {
        self.app_container().and_then(|c| c.readiness_probe.as_ref())
    }

    /// The application container's startup probe.
    pub fn startup(&self) -> Option<&Probe> {
        self.app_container().and_then(|c| c.startup_probe.as_ref())
    }
}

/// Every workload of the environment, sorted by id.
#[derive(Debug, Clone, Default)]
pub struct Workloads {
    pub items: Vec<Workload>,
    /// Requests Istio's injector adds to a pod (`global.proxy.resources.requests` of the istiod values).
    pub sidecar: Requests,
    /// PriorityClass name → value.
    pub priority_classes: BTreeMap<String, i32>,
    /// PriorityClasses with `preemptionPolicy: Never`.
    pub non_preempting: std::collections::BTreeSet<String>,
}

impl Workloads {
    pub fn get(&self, id: &str) -> Option<&Workload> {
        self.items.iter().find(|w| w.id() == id)
    }

    /// Read the workloads from the rendered objects of `inputs`.
    pub fn from_inputs(inputs: &Inputs<'_>) -> Result<Workloads, SimError> {
        let sidecar = sidecar_requests(inputs.addon_values.get("istiod"));
        Workloads::from_objects(&inputs.k8s, sidecar)
    }

    /// Read the workloads from `objects`; `sidecar` is what the injector adds to a pod in a
    /// namespace labelled `istio-injection: enabled`.
    pub fn from_objects(objects: &[K8sObject], sidecar: Requests) -> Result<Workloads, SimError> {
        let mut injected: BTreeMap<String, bool> = BTreeMap::new();
        let mut priority_classes = BTreeMap::new();
        let mut default_priority = 0;
        // PriorityClasses with `preemptionPolicy: Never` (the Priority admission plugin copies
        // the class's policy into the pod).
        let mut never_preempt = std::collections::BTreeSet::new();
        let mut default_preempts = true;
        for o in objects {
            match o.kind() {
                "Namespace" => {
                    let on =
                        o.value.pointer("/metadata/labels/istio-injection").and_then(Value::as_str) == Some("enabled");
                    injected.insert(o.name().to_string(), on);
                }
                "PriorityClass" => {
                    let pc: PriorityClass = typed(o)?;
                    let never = pc.preemption_policy.as_deref() == Some("Never");
                    if pc.global_default == Some(true) {
                        default_priority = pc.value;
                        default_preempts = !never;
                    }
                    if never {
                        never_preempt.insert(o.name().to_string());
                    }
                    priority_classes.insert(o.name().to_string(), pc.value);
                }
                _ => {}
            }
        }
        let mut items = Vec::new();
        for o in objects {
            let Some((kind, replicas, template, release)) = owner(o)? else { continue };
            let parallel_pod_management = kind != OwnerKind::StatefulSet
                || o.value.pointer("/spec/podManagementPolicy").and_then(Value::as_str) == Some("Parallel");
            let namespace = o.namespace().unwrap_or("default").to_string();
            let labels: BTreeMap<String, String> =
                template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
            let annotations = template.metadata.as_ref().and_then(|m| m.annotations.clone()).unwrap_or_default();
            let pod = template.spec.unwrap_or_default();
            let mesh_sidecar = injected.get(&namespace).copied().unwrap_or(false)
                && annotations.get("sidecar.istio.io/inject").map(String::as_str) != Some("false")
                && labels.get("sidecar.istio.io/inject").map(String::as_str) != Some("false")
                && !pod.host_network.unwrap_or(false);
            let mut requests = pod_requests(&pod);
            if mesh_sidecar {
                requests = requests + sidecar;
            }
            let priority = match &pod.priority_class_name {
                Some(n) => priority_classes.get(n).copied().or_else(|| builtin_priority(n)).unwrap_or(0),
                None => default_priority,
            };
            let preempts = match &pod.priority_class_name {
                Some(n) if priority_classes.contains_key(n) => !never_preempt.contains(n),
                Some(_) => pod.preemption_policy.as_deref() != Some("Never"),
                None => default_preempts && pod.preemption_policy.as_deref() != Some("Never"),
            };
            let image = pod.containers.first().and_then(|c| c.image.clone()).unwrap_or_default();
            items.push(Workload {
                tier: labels.get("cerverus.io/tier").cloned(),
                name: o.name().to_string(),
                namespace,
                kind,
                replicas,
                labels,
                pod,
                requests,
                mesh_sidecar,
                priority,
                preempts,
                release,
                autoscaler: None,
                budget: None,
                image,
                parallel_pod_management,
            });
        }
        for o in objects {
            let ns = o.namespace().unwrap_or("default");
            match o.kind() {
                "ScaledObject" => {
                    let target = o.value.pointer("/spec/scaleTargetRef/name").and_then(Value::as_str).unwrap_or("");
                    let a = scaled_object(o)?;
                    if let Some(w) = items.iter_mut().find(|w| w.namespace == ns && w.name == target) {
                        w.autoscaler = Some(a);
                    }
                }
                "HorizontalPodAutoscaler" => {
                    let hpa: HorizontalPodAutoscaler = typed(o)?;
                    let Some(spec) = hpa.spec else { continue };
                    let target = spec.scale_target_ref.name.clone();
                    let a = Autoscaler {
                        kind: AutoscalerKind::HorizontalPodAutoscaler,
                        name: o.name().to_string(),
                        min: spec.min_replicas.unwrap_or(1).max(0) as u32,
                        max: spec.max_replicas.max(0) as u32,
                        polling_interval_seconds: None,
                        behavior: spec.behavior.clone(),
                        metrics: spec.metrics.unwrap_or_default().iter().map(hpa_metric).collect(),
                    };
                    // A ScaledObject's own HPA is KEDA's to create; one rendered here is a plain HPA.
                    if let Some(w) = items.iter_mut().find(|w| w.namespace == ns && w.name == target)
                        && w.autoscaler.is_none()
                    {
                        w.autoscaler = Some(a);
                    }
                }
                "PodDisruptionBudget" => {
                    let pdb: PodDisruptionBudget = typed(o)?;
                    let Some(spec) = pdb.spec else { continue };
                    let Some(selector) = spec.selector else { continue };
                    // An empty selector selects nothing in policy/v1 (it matched every pod in
                    // policy/v1beta1); matchExpressions count as the scheduler counts them.
                    if selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
                        && selector.match_expressions.as_ref().is_none_or(|e| e.is_empty())
                    {
                        continue;
                    }
                    for w in items.iter_mut().filter(|w| w.namespace == ns) {
                        if crate::schedule::pod::selector_matches(&selector, &w.labels) {
                            w.budget = Some(Budget {
                                name: o.name().to_string(),
                                min_available: spec.min_available.clone(),
                                max_unavailable: spec.max_unavailable.clone(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        items.sort_by_key(Workload::id);
        Ok(Workloads { items, sidecar, priority_classes, non_preempting: never_preempt })
    }
}

/// Values of the PriorityClasses every cluster has without a manifest (kube-apiserver creates
/// them): `system-node-critical` 2000001000, `system-cluster-critical` 2000000000.
fn builtin_priority(name: &str) -> Option<i32> {
    match name {
        "system-node-critical" => Some(2_000_001_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    }
}

/// Deserialize a loaded object into its k8s-openapi type.
fn typed<T: serde::de::DeserializeOwned>(o: &K8sObject) -> Result<T, SimError> {
    serde_json::from_value(o.value.clone()).map_err(|e| {
        SimError::Input(format!("{}:{}: {} `{}` is not a valid {0}: {e}", o.file, o.line, o.kind(), o.name()))
    })
}

type Owner = (OwnerKind, u32, PodTemplateSpec, Release);

/// The pod template of a pod-owning object, with its kind, replicas and release style.
fn owner(o: &K8sObject) -> Result<Option<Owner>, SimError> {
    let replicas = |r: Option<i32>| r.unwrap_or(1).max(0) as u32;
    Ok(Some(match o.kind() {
        "Deployment" => {
            let d: Deployment = typed(o)?;
            let s = d.spec.unwrap_or_default();
            (OwnerKind::Deployment, replicas(s.replicas), s.template, Release::Rolling)
        }
        "StatefulSet" => {
            let d: StatefulSet = typed(o)?;
            let s = d.spec.unwrap_or_default();
            (OwnerKind::StatefulSet, replicas(s.replicas), s.template, Release::Rolling)
        }
        "DaemonSet" => {
            let d: DaemonSet = typed(o)?;
            let s = d.spec.unwrap_or_default();
            (OwnerKind::DaemonSet, 0, s.template, Release::Rolling)
        }
        "Job" => {
            let d: Job = typed(o)?;
            let s = d.spec.unwrap_or_default();
            (OwnerKind::Job, replicas(s.parallelism), s.template, Release::Rolling)
        }
        "CronJob" => {
            let d: CronJob = typed(o)?;
            let s = d.spec.unwrap_or_default();
            let job = s.job_template.spec.unwrap_or_default();
            (OwnerKind::CronJob, replicas(job.parallelism), job.template, Release::Rolling)
        }
        "Rollout"
            if o.value.get("apiVersion").and_then(Value::as_str).is_some_and(|v| v.starts_with("argoproj.io/")) =>
        {
            let spec = o.value.get("spec").cloned().unwrap_or(Value::Null);
            let template: PodTemplateSpec =
                serde_json::from_value(spec.get("template").cloned().unwrap_or(Value::Null)).map_err(|e| {
                    SimError::Input(format!("{}:{}: Rollout `{}` template: {e}", o.file, o.line, o.name()))
                })?;
            let n = spec.get("replicas").and_then(Value::as_i64).unwrap_or(1).max(0) as u32;
            let release = if spec.pointer("/strategy/blueGreen").is_some() {
                Release::BlueGreen
            } else if spec.pointer("/strategy/canary").is_some() {
                Release::Canary
            } else {
                Release::Rolling
            };
            (OwnerKind::Rollout, n, template, release)
        }
        _ => return Ok(None),
    }))
}

/// Requests of one pod as the scheduler counts them: the app containers plus native sidecars
/// (init containers with `restartPolicy: Always`), or the largest ordinary init container if
/// that is more (it runs alone, before them).
pub fn pod_requests(pod: &PodSpec) -> Requests {
    let app = pod.containers.iter().map(container_requests).fold(Requests::default(), |a, b| a + b);
    let mut sidecars = Requests::default();
    let mut init = Requests::default();
    for c in pod.init_containers.iter().flatten() {
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars = sidecars + container_requests(c);
        } else {
            init = init.max(sidecars + container_requests(c));
        }
    }
    (app + sidecars).max(init)
}

fn container_requests(c: &Container) -> Requests {
    let get = |k: &str| {
        c.resources.as_ref().and_then(|r| {
            r.requests
                .as_ref()
                .and_then(|m| m.get(k))
                .or_else(|| r.limits.as_ref().and_then(|m| m.get(k)))
                .map(|q| q.0.clone())
        })
    };
    quantities(get("cpu").as_deref(), get("memory").as_deref(), get("nvidia.com/gpu").as_deref())
}

fn quantities(cpu: Option<&str>, memory: Option<&str>, gpu: Option<&str>) -> Requests {
    let q = |s: Option<&str>| s.and_then(cerverus_model::quantity::parse).unwrap_or(0.0);
    Requests { cpu: q(cpu), memory_gib: q(memory) / (1024.0 * 1024.0 * 1024.0), gpu: q(gpu).round().max(0.0) as u32 }
}

/// The sidecar's requests from the istiod chart values (`global.proxy.resources.requests`); the
/// model's constants when the values do not say.
fn sidecar_requests(istiod: Option<&Value>) -> Requests {
    let from_values = istiod.and_then(|v| v.pointer("/global/proxy/resources/requests"));
    let cpu = from_values.and_then(|r| r.get("cpu")).and_then(Value::as_str);
    let memory = from_values.and_then(|r| r.get("memory")).and_then(Value::as_str);
    quantities(
        Some(cpu.unwrap_or(cerverus_model::capacity::MESH_PROXY_CPU_REQUEST)),
        Some(memory.unwrap_or(cerverus_model::capacity::MESH_PROXY_MEMORY_REQUEST)),
        None,
    )
}

fn hpa_metric(m: &k8s_openapi::api::autoscaling::v2::MetricSpec) -> ScalingMetric {
    let (source, target) = match (&m.resource, &m.pods, &m.object, &m.external) {
        (Some(r), ..) => (r.name.clone(), Some(&r.target)),
        (_, Some(p), ..) => ("pods".to_string(), Some(&p.target)),
        (_, _, Some(o), _) => ("object".to_string(), Some(&o.target)),
        (_, _, _, Some(e)) => ("external".to_string(), Some(&e.target)),
        _ => (m.type_.to_lowercase(), None),
    };
    let (target_type, value) = match target {
        Some(t) => {
            let v = t.average_utilization.map(f64::from).or_else(|| {
                t.average_value.as_ref().or(t.value.as_ref()).and_then(|q| cerverus_model::quantity::parse(&q.0))
            });
            (t.type_.clone(), v.unwrap_or(0.0))
        }
        None => (String::new(), 0.0),
    };
    ScalingMetric { source, target_type, target: value, query: None, cron: None }
}

fn scaled_object(o: &K8sObject) -> Result<Autoscaler, SimError> {
    let spec = o.value.get("spec").cloned().unwrap_or(Value::Null);
    let u = |p: &str, d: u64| spec.pointer(p).and_then(Value::as_u64).unwrap_or(d) as u32;
    let behavior = match spec.pointer("/advanced/horizontalPodAutoscalerConfig/behavior") {
        Some(b) => Some(serde_json::from_value(b.clone()).map_err(|e| {
            SimError::Input(format!("{}:{}: ScaledObject `{}` behavior: {e}", o.file, o.line, o.name()))
        })?),
        None => None,
    };
    let metrics =
        spec.get("triggers").and_then(Value::as_array).map(|ts| ts.iter().map(trigger).collect()).unwrap_or_default();
    Ok(Autoscaler {
        kind: AutoscalerKind::KedaScaledObject,
        name: o.name().to_string(),
        // KEDA's defaults: minReplicaCount 0, maxReplicaCount 100, pollingInterval 30 s.
        min: u("/minReplicaCount", 0),
        max: u("/maxReplicaCount", 100),
        polling_interval_seconds: Some(u("/pollingInterval", 30)),
        behavior,
        metrics,
    })
}

/// One KEDA trigger. KEDA's `metricType` defaults to `AverageValue` (cpu and memory take
/// `Utilization` or `AverageValue`, and their target is `metadata.value`).
fn trigger(t: &Value) -> ScalingMetric {
    let s = |p: &str| t.pointer(p).and_then(Value::as_str).map(str::to_string);
    let source = s("/type").unwrap_or_default();
    let target_type = s("/metricType").unwrap_or_else(|| "AverageValue".to_string());
    let target =
        s("/metadata/threshold").or_else(|| s("/metadata/value")).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cron = (source == "cron").then(|| {
        (
            s("/metadata/start").unwrap_or_default(),
            s("/metadata/end").unwrap_or_default(),
            s("/metadata/desiredReplicas").and_then(|v| v.parse().ok()).unwrap_or(0),
            s("/metadata/timezone").unwrap_or_default(),
        )
    });
    ScalingMetric { source, target_type, target, query: s("/metadata/query"), cron }
}

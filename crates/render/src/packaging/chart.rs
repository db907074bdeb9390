//! The Helm chart of the Cerverus workloads, under `helm/charts/` (ADR 0008):
//!
//! ```text
//! helm/charts/cerverus-lib/                  library chart: the named templates (one object
//!                                            from its values entry, labels, image, pod template)
//! helm/charts/<platform>/                    umbrella chart: values.yaml (what every environment
//!                                            shares), values-<env>.yaml, values.schema.json
//! helm/charts/<platform>/charts/<group>/     one subchart per service group, with its own schema,
//!                                            a vendored copy of cerverus-lib and `helm test` Pods
//! helm/charts/scope/<env>.json               which objects of kubernetes/<env>/ the chart
//!                                            packages and which stay with the platform, and why
//! ```
//!
//! One source of truth, two packagings: the values are generated from the objects the
//! Kubernetes renderer produces for each environment ([`crate::kubernetes::render_env`]), split
//! into what the chart's templates own (names, namespaces, labels, selectors, image, resources,
//! replicas, autoscaling bounds — carried as workload identities under `global.workloads`) and
//! the remaining fields of each object (passed through `toYaml`). The templates are static
//! assets (`chart/`); this module only generates data, metadata and documentation.

pub mod scope;

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform, Workload};
use serde::Serialize;
use serde_json::{Map, Value, json};

use self::scope::{Classified, Scope};
use crate::RenderError;
use crate::kubernetes::{labels, yaml};

/// SemVer of the charts. Bump rule (ADR 0008): MAJOR when a values key is removed or changes
/// meaning (values.schema.json rejects what it accepted), MINOR when templates or the values
/// schema gain something, PATCH for template fixes that render the same objects differently
/// formatted. Generated values (images, replicas, objects) change with the spec and are
/// versioned by `appVersion` and the bundle's commit, not by this number.
pub const CHART_VERSION: &str = "0.2.0";
/// The library chart's name (its named templates are `cerverus-lib.*`).
pub const LIB: &str = "cerverus-lib";
/// Where the charts are published (`helm push <package> oci://…`); the organisation is the
/// spec's.
pub const OCI_HOST: &str = "ghcr.io";

const LIB_HELPERS: &str = include_str!("chart/lib/_helpers.tpl");
const LIB_OBJECT: &str = include_str!("chart/lib/_object.tpl");
const GROUP_OBJECTS: &str = include_str!("chart/group/objects.yaml");
const GROUP_TESTS: &str = include_str!("chart/group/test-readiness.yaml");
const UMBRELLA_NOTES: &str = include_str!("chart/umbrella/NOTES.txt");

/// Requests and limits of a `helm test` Pod: one HTTP request from a Python interpreter.
fn test_resources() -> Value {
    json!({
        "requests": { "cpu": "50m", "memory": "64Mi", "ephemeral-storage": "16Mi" },
        "limits": { "cpu": "200m", "memory": "128Mi", "ephemeral-storage": "64Mi" }
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct ImageValues {
    registry: String,
    repository: String,
    tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Bounds {
    min: u32,
    max: u32,
}

/// A workload's identity and the values its controller and autoscaler are rendered from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkloadValues {
    name: String,
    namespace: String,
    part_of: String,
    component: String,
    tier: String,
    image: ImageValues,
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    autoscaling: Option<Bounds>,
    /// The workload's ports: its container's (TCP) and its Service's (named `<name>`, each
    /// targeting the container port of the same name).
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<Vec<PortValues>>,
    /// The environment of the workload's ConfigMap (`<name>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<BTreeMap<String, String>>,
    /// The flags of its feature-flag ConfigMap (`<name>-feature-flags`, key `flags.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    feature_flags: Option<BTreeMap<String, bool>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct PortValues {
    name: String,
    port: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_protocol: Option<String>,
}

/// The container ports the templates render from `ports`.
fn container_ports(ports: &[PortValues]) -> Value {
    Value::Array(ports.iter().map(|p| json!({ "containerPort": p.port, "name": p.name, "protocol": "TCP" })).collect())
}

/// The Service ports the templates render from `ports`.
fn service_ports(ports: &[PortValues]) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|p| {
                let mut v = json!({ "name": p.name, "port": p.port, "targetPort": p.name, "protocol": "TCP" });
                if let Some(a) = &p.app_protocol {
                    v["appProtocol"] = json!(a);
                }
                v
            })
            .collect(),
    )
}

/// A workload's ports as values, where its Service (named after it) and its container both
/// hold exactly what the templates would render from them.
fn ports_of(service: &Value, container: &Value) -> Option<Vec<PortValues>> {
    let ports: Vec<PortValues> = service
        .pointer("/spec/ports")?
        .as_array()?
        .iter()
        .map(|p| {
            Some(PortValues {
                name: p.get("name")?.as_str()?.to_string(),
                port: p.get("port")?.clone(),
                app_protocol: p.get("appProtocol").and_then(Value::as_str).map(String::from),
            })
        })
        .collect::<Option<_>>()?;
    let exact = service.pointer("/spec/ports") == Some(&service_ports(&ports))
        && container.get("ports") == Some(&container_ports(&ports));
    exact.then_some(ports)
}

/// One object: what the templates derive (from `workload`) is left out of `body`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectValues {
    workload: String,
    api_version: String,
    kind: String,
    name: String,
    /// Only where it is not the workload's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// `false` where the object does not carry the workload's labels (`labels` has them all).
    #[serde(skip_serializing_if = "Option::is_none")]
    standard_labels: Option<bool>,
    /// The same for the pod template's labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pod_standard_labels: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Value>,
    body: Map<String, Value>,
}

/// A `helm test` Pod: ask `url` (a Service's readiness path) as the workload's user; its
/// NetworkPolicies and AuthorizationPolicy admit `path` on `target_port`, the container port the
/// Service forwards to (what policies judge, after the Service's translation).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct TestValues {
    workload: String,
    url: String,
    target_port: u64,
    path: String,
    run_as_user: Value,
    run_as_group: Value,
}

#[derive(Debug, Default)]
struct GroupValues {
    objects: BTreeMap<String, ObjectValues>,
    tests: BTreeMap<String, TestValues>,
}

/// Everything the chart needs of one environment.
struct EnvChart {
    workloads: BTreeMap<String, WorkloadValues>,
    groups: BTreeMap<String, GroupValues>,
    /// Workload name -> image tag, for `appVersion`.
    tags: BTreeMap<String, String>,
    scope: Vec<Classified>,
}

fn err(msg: String) -> RenderError {
    RenderError::Invalid(format!("helm chart: {msg}"))
}

fn image_values(w: &Workload) -> Result<ImageValues, RenderError> {
    let repo = &w.spec.image.repository;
    let marker = format!("/{repo}:");
    let registry = w
        .image_ref
        .split_once(&marker)
        .map(|(r, _)| r.to_string())
        .ok_or_else(|| err(format!("image `{}` of `{}` is not <registry>/{repo}:<tag>", w.image_ref, w.name())))?;
    Ok(ImageValues {
        registry,
        repository: repo.clone(),
        tag: w.spec.image.tag.clone(),
        digest: w.spec.image.digest.clone(),
    })
}

fn image_string(i: &ImageValues) -> String {
    match &i.digest {
        Some(d) => format!("{}/{}:{}@{d}", i.registry, i.repository, i.tag),
        None => format!("{}/{}:{}", i.registry, i.repository, i.tag),
    }
}

fn string_map(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let m = v?.as_object()?;
    m.iter().map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()
}

fn to_value(m: &BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// Split `labels` into what the templates add (the workload's labels) and the rest: `(rest,
/// standard)`; `standard` is false when the object lacks one of the workload's labels.
fn split_labels(
    labels: Option<BTreeMap<String, String>>,
    std: &BTreeMap<String, String>,
) -> (Option<BTreeMap<String, String>>, bool) {
    let Some(mut l) = labels else { return (None, false) };
    if std.iter().all(|(k, v)| l.get(k) == Some(v)) {
        l.retain(|k, _| !std.contains_key(k));
        ((!l.is_empty()).then_some(l), true)
    } else {
        (Some(l), false)
    }
}

/// Remove `key` from the object at `pointer` of `root` when it holds `expected`.
fn strip_if(root: &mut Value, pointer: &str, key: &str, expected: &Value) -> bool {
    let Some(m) = root.pointer_mut(pointer).and_then(Value::as_object_mut) else { return false };
    if m.get(key) == Some(expected) {
        m.remove(key);
        true
    } else {
        false
    }
}

/// What a present-but-derived field must be: the templates fill it only where it is absent
/// from the values, so a field the object lacks but the templates would add is a renderer
/// change this generator must learn about.
fn require(root: &Value, pointer: &str, what: &str, path: &str) -> Result<(), RenderError> {
    if root.pointer(pointer).is_none() {
        return Err(err(format!("{path}: {what} missing; the chart's templates would add it")));
    }
    Ok(())
}

/// The pod template's part: labels, and the image and resources of the workload's container.
fn strip_pod(
    body: &mut Value,
    pointer: &str,
    w: &Workload,
    wv: &WorkloadValues,
    std: &BTreeMap<String, String>,
) -> Option<bool> {
    let t = body.pointer_mut(pointer)?;
    let labels = string_map(t.pointer("/metadata/labels"));
    let (rest, standard) = split_labels(labels, std);
    if standard && let Some(meta) = t.get_mut("metadata").and_then(Value::as_object_mut) {
        match rest {
            Some(r) => meta.insert("labels".into(), to_value(&r)),
            None => meta.remove("labels"),
        };
        if meta.is_empty() {
            t.as_object_mut()?.remove("metadata");
        }
    }
    let image = Value::String(image_string(&wv.image));
    if let Some(containers) = t.pointer_mut("/spec/containers").and_then(Value::as_array_mut) {
        for c in containers.iter_mut().filter(|c| c.get("name").and_then(Value::as_str) == Some(w.name())) {
            strip_if(c, "", "image", &image);
            if let Some(r) = &wv.resources {
                strip_if(c, "", "resources", r);
            }
            if let Some(p) = &wv.ports {
                strip_if(c, "", "ports", &container_ports(p));
            }
        }
    }
    (!standard).then_some(false)
}

fn decompose(
    c: &Classified,
    w: &Workload,
    wv: &WorkloadValues,
    managed_by_std: &BTreeMap<String, String>,
) -> Result<ObjectValues, RenderError> {
    let path = &c.path;
    let mut body = c.object.clone();
    let obj = body.as_object_mut().ok_or_else(|| err(format!("{path}: not an object")))?;
    let api_version = obj.remove("apiVersion").and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    obj.remove("kind");
    let mut meta = match obj.remove("metadata") {
        Some(Value::Object(m)) => m,
        _ => return Err(err(format!("{path}: no metadata"))),
    };
    meta.remove("name");
    let namespace = meta.remove("namespace").and_then(|v| v.as_str().map(String::from));
    let (labels, standard) = split_labels(string_map(meta.remove("labels").as_ref()), managed_by_std);
    let annotations = meta.remove("annotations");
    if let Some(k) = meta.keys().next() {
        return Err(err(format!("{path}: metadata.{k} is not something the chart's templates render")));
    }
    let selector = to_value(&labels::selector(w));
    let mut pod_standard = None;
    match c.kind.as_str() {
        "Deployment" | "StatefulSet" | "Rollout" => {
            require(&body, "/spec/selector/matchLabels", "spec.selector.matchLabels", path)?;
            if let Some(r) = &wv.replicas {
                require(&body, "/spec/replicas", "spec.replicas", path)?;
                strip_if(&mut body, "/spec", "replicas", r);
            }
            strip_if(&mut body, "/spec/selector", "matchLabels", &selector);
            if body.pointer("/spec/selector").is_some_and(|s| s.as_object().is_some_and(Map::is_empty)) {
                strip_if(&mut body, "/spec", "selector", &json!({}));
            }
            pod_standard = strip_pod(&mut body, "/spec/template", w, wv, managed_by_std);
        }
        "Job" => pod_standard = strip_pod(&mut body, "/spec/template", w, wv, managed_by_std),
        "CronJob" => pod_standard = strip_pod(&mut body, "/spec/jobTemplate/spec/template", w, wv, managed_by_std),
        "Service" => {
            require(&body, "/spec/selector", "spec.selector", path)?;
            strip_if(&mut body, "/spec", "selector", &selector);
            if let (true, Some(p)) = (c.name == w.name(), &wv.ports) {
                strip_if(&mut body, "/spec", "ports", &service_ports(p));
            }
        }
        "PodDisruptionBudget" => {
            require(&body, "/spec/selector/matchLabels", "spec.selector.matchLabels", path)?;
            strip_if(&mut body, "/spec/selector", "matchLabels", &selector);
            if body.pointer("/spec/selector").is_some_and(|s| s.as_object().is_some_and(Map::is_empty)) {
                strip_if(&mut body, "/spec", "selector", &json!({}));
            }
        }
        "ConfigMap" => {
            if let (true, Some(config)) = (c.name == w.name(), &wv.config) {
                strip_if(&mut body, "", "data", &json!(config));
            }
            if let (true, Some(flags)) = (c.name == flags_config_map(w), &wv.feature_flags) {
                strip_if(&mut body, "", "data", &flags_data(flags)?);
            }
        }
        "ScaledObject" => {
            if let Some(b) = &wv.autoscaling {
                require(&body, "/spec/minReplicaCount", "spec.minReplicaCount", path)?;
                require(&body, "/spec/maxReplicaCount", "spec.maxReplicaCount", path)?;
                strip_if(&mut body, "/spec", "minReplicaCount", &json!(b.min));
                strip_if(&mut body, "/spec", "maxReplicaCount", &json!(b.max));
            }
        }
        _ => {}
    }
    let Value::Object(body) = body else { return Err(err(format!("{path}: not an object"))) };
    Ok(ObjectValues {
        workload: w.name().to_string(),
        api_version,
        kind: c.kind.clone(),
        name: c.name.clone(),
        namespace: namespace.filter(|n| n != w.namespace()),
        standard_labels: (!standard).then_some(false),
        pod_standard_labels: pod_standard,
        labels,
        annotations,
        body,
    })
}

/// The feature-flag ConfigMap's name as the templates derive it.
fn flags_config_map(w: &Workload) -> String {
    format!("{}-feature-flags", w.name())
}

/// The feature-flag ConfigMap's data as the templates render it (sprig's `toPrettyJson`: keys
/// sorted, two-space indent — serde_json's pretty printer on a sorted map).
fn flags_data(flags: &BTreeMap<String, bool>) -> Result<Value, RenderError> {
    let text = serde_json::to_string_pretty(flags).map_err(|e| err(e.to_string()))?;
    Ok(json!({ FLAGS_KEY: text }))
}

/// API groups served by Kubernetes itself (`v1` has none); any other group is a CRD's.
const BUILTIN_GROUPS: &[&str] =
    &["apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io", "scheduling.k8s.io"];

/// The key the templates write the flags under.
const FLAGS_KEY: &str = "flags.json";

/// The readiness check of a workload's own Service: its probe's path on the Service port of
/// the same name, which forwards to the workload container's port of that name.
fn readiness_test(w: &Workload, service: &Value, controller: Option<&Value>) -> Option<TestValues> {
    let probe = w.spec.probes.as_ref()?.readiness.as_ref()?;
    let (path, port_name) = (probe.path.as_ref()?, probe.port.as_ref()?);
    let named = |list: Option<&Value>| {
        list?.as_array()?.iter().find(|p| p.get("name").and_then(Value::as_str) == Some(port_name)).cloned()
    };
    let service_port = named(service.pointer("/spec/ports"))?;
    let port = service_port.get("port")?.as_u64()?;
    let template = scope::pod_template(controller?)?;
    let container = template
        .pointer("/spec/containers")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(w.name()))?;
    // The Service must forward that port to the container's port of the same name (by name or
    // number): the policies admit the container port.
    let target_port = named(container.get("ports"))?.get("containerPort")?.as_u64()?;
    let forwards = match service_port.get("targetPort") {
        Some(Value::String(n)) => n == port_name,
        Some(v) => v.as_u64() == Some(target_port),
        None => port == target_port,
    };
    if !forwards {
        return None;
    }
    let sc = template.pointer("/spec/securityContext")?;
    Some(TestValues {
        workload: w.name().to_string(),
        url: format!("http://{}.{}.svc.cluster.local:{port}{path}", w.name(), w.namespace()),
        target_port,
        path: path.clone(),
        run_as_user: sc.get("runAsUser")?.clone(),
        run_as_group: sc.get("runAsGroup")?.clone(),
    })
}

fn env_chart(platform: &Platform, env: &Env, objects: &Bundle) -> Result<EnvChart, RenderError> {
    let scope = scope::classify(platform, env, objects)?;
    let unclassified: Vec<&str> = scope.iter().filter(|c| c.scope.is_none()).map(|c| c.path.as_str()).collect();
    if !unclassified.is_empty() {
        return Err(err(format!(
            "{}: objects neither packaged by the chart nor covered by a platform rule (chart/scope.rs): {}",
            env.name,
            unclassified.join(", ")
        )));
    }
    let owned = |c: &Classified| match &c.scope {
        Some(Scope::Chart { group, workload }) => Some((group.clone(), workload.clone())),
        _ => None,
    };
    let mut workloads = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for w in &env.workloads {
        let controller = scope.iter().find(|c| {
            owned(c).is_some_and(|(_, o)| o == w.name())
                && scope::pod_template(&c.object).is_some()
                && c.object.pointer("/metadata/name").and_then(Value::as_str) == Some(w.name())
        });
        let main = controller.and_then(|c| {
            scope::pod_template(&c.object)?
                .pointer("/spec/containers")?
                .as_array()?
                .iter()
                .find(|k| k.get("name").and_then(Value::as_str) == Some(w.name()))
        });
        let mut wv = WorkloadValues {
            name: w.name().to_string(),
            namespace: w.namespace().to_string(),
            part_of: w.spec.part_of.clone(),
            component: w.spec.component.clone(),
            tier: w.spec.tier.as_str().to_string(),
            image: image_values(w)?,
            replicas: controller.and_then(|c| c.object.pointer("/spec/replicas")).cloned(),
            resources: main.and_then(|m| m.get("resources")).cloned(),
            autoscaling: w.spec.autoscaling.as_ref().map(|a| Bounds { min: a.min, max: a.max }),
            ports: None,
            config: None,
            feature_flags: None,
        };
        let service = scope
            .iter()
            .find(|c| c.kind == "Service" && c.name == w.name() && owned(c).is_some_and(|(_, o)| o == w.name()));
        wv.ports = service.zip(main).and_then(|(s, m)| ports_of(&s.object, m));
        // Config and flags become values where the renderer's ConfigMaps hold exactly what the
        // templates would derive from them (same names, same key, same JSON).
        let data_of = |name: &str| {
            scope
                .iter()
                .find(|c| c.kind == "ConfigMap" && c.name == name && owned(c).is_some_and(|(_, o)| o == w.name()))
                .and_then(|c| c.object.get("data"))
        };
        if !w.spec.config.is_empty() && data_of(w.name()) == Some(&json!(w.spec.config)) {
            wv.config = Some(w.spec.config.clone());
        }
        let flags = &w.spec.feature_flags;
        let flags_name = crate::kubernetes::rollouts::feature_flags_config_map_name(w);
        if flags_name.as_deref() == Some(flags_config_map(w).as_str())
            && crate::kubernetes::rollouts::FEATURE_FLAGS_KEY == FLAGS_KEY
            && data_of(&flags_config_map(w)) == Some(&flags_data(flags)?)
        {
            wv.feature_flags = Some(flags.clone());
        }
        tags.insert(w.name().to_string(), w.spec.image.tag.clone());
        workloads.insert(w.name().to_string(), wv);
    }
    let mut groups: BTreeMap<String, GroupValues> = BTreeMap::new();
    for c in &scope {
        let Some((group, owner)) = owned(c) else { continue };
        let w = env
            .workloads
            .iter()
            .find(|w| w.name() == owner)
            .ok_or_else(|| err(format!("{}: owner `{owner}` is not a workload", c.path)))?;
        let wv = workloads.get(w.name()).ok_or_else(|| err(format!("{}: no values for `{owner}`", c.path)))?;
        let std = labels::workload(w);
        let ov = decompose(c, w, wv, &std)?;
        let stem = c.path.rsplit('/').next().unwrap_or(&c.path).trim_end_matches(".yaml");
        let key = format!("{}-{stem}", ov.namespace.as_deref().unwrap_or(w.namespace()));
        let g = groups.entry(group).or_default();
        if c.kind == "Service" && c.name == w.name() {
            let controller = scope.iter().find(|k| {
                scope::pod_template(&k.object).is_some()
                    && k.name == w.name()
                    && owned(k).is_some_and(|(_, o)| o == w.name())
            });
            if let Some(t) = readiness_test(w, &c.object, controller.map(|k| &k.object)) {
                g.tests.insert(c.name.clone(), t);
            }
        }
        g.objects.insert(key, ov);
    }
    Ok(EnvChart { workloads, groups, tags, scope })
}

/// The whole values tree of one environment (before the split into values.yaml and
/// values-<env>.yaml).
fn full_values(chart: &EnvChart, all_groups: &BTreeSet<String>) -> Result<Value, RenderError> {
    let mut root = Map::new();
    let mut workloads = Map::new();
    for (n, w) in &chart.workloads {
        workloads.insert(n.clone(), ser(w)?);
    }
    root.insert(
        "global".into(),
        json!({ "managedBy": labels::MANAGED_BY, "testResources": test_resources(), "workloads": workloads }),
    );
    for g in all_groups {
        let (mut objects, mut tests) = (Map::new(), Map::new());
        if let Some(gv) = chart.groups.get(g) {
            for (k, o) in &gv.objects {
                objects.insert(k.clone(), ser(o)?);
            }
            for (k, t) in &gv.tests {
                tests.insert(k.clone(), ser(t)?);
            }
        }
        let enabled = !objects.is_empty();
        root.insert(g.clone(), json!({ "enabled": enabled, "objects": objects, "tests": tests }));
    }
    Ok(Value::Object(root))
}

/// A typed values entry as JSON data (the values tree is merged and split as data).
fn ser<T: Serialize>(v: &T) -> Result<Value, RenderError> {
    serde_json::to_value(v).map_err(|e| err(e.to_string()))
}

/// What a values file must say over `base` (values.yaml) for Helm to produce `full`: Helm merges
/// maps key by key, replaces lists and scalars whole, and deletes a key the override sets to
/// null — so keys `full` lacks are nulled.
pub fn override_values(full: &Value, base: &Value) -> Option<Value> {
    match (full, base) {
        (Value::Object(f), Value::Object(b)) => {
            let mut out = Map::new();
            for (k, v) in f {
                let r = match b.get(k) {
                    Some(bv) => override_values(v, bv),
                    None => Some(v.clone()),
                };
                if let Some(r) = r {
                    out.insert(k.clone(), r);
                }
            }
            for k in b.keys().filter(|k| !f.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (f, b) if f == b => None,
        (f, _) => Some(f.clone()),
    }
}

/// Helm's merge of a values file over values.yaml (maps merged, null deletes, anything else
/// replaced): `merge_values(base, override_values(full, base)) == full`.
pub fn merge_values(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                match (v, b.get(k)) {
                    (Value::Null, _) => {
                        out.remove(k);
                    }
                    (v, Some(bv)) => {
                        out.insert(k.clone(), merge_values(bv, v));
                    }
                    (v, None) => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(out)
        }
        (_, o) => o.clone(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    name: String,
    version: String,
    repository: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
}

#[derive(Serialize)]
struct Maintainer {
    name: String,
}

/// `Chart.yaml` (Helm chart API v2).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChartMeta {
    api_version: &'static str,
    name: String,
    description: String,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_version: Option<String>,
    kube_version: String,
    keywords: Vec<String>,
    maintainers: Vec<Maintainer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<Dependency>,
    annotations: BTreeMap<String, String>,
}

/// `appVersion` of a chart: the image tag its workloads run (distinct tags joined when a
/// group runs several images).
pub fn app_version(tags: impl IntoIterator<Item = String>) -> String {
    let distinct: BTreeSet<String> = tags.into_iter().collect();
    distinct.into_iter().collect::<Vec<_>>().join(", ")
}

/// `kubeVersion`: at least the oldest Kubernetes version an environment runs (`-0` admits the
/// providers' pre-release suffixes, as in `v1.35.2-eks-…`).
fn kube_version(platform: &Platform) -> String {
    let parse = |v: &str| -> (u32, u32) {
        let mut parts = v.trim_start_matches('v').split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    let oldest = platform.environments.iter().map(|e| parse(&e.kubernetes_version)).min().unwrap_or((1, 0));
    format!(">={}.{}.0-0", oldest.0, oldest.1)
}

fn chart_meta(platform: &Platform, name: &str, description: String, kind: &'static str) -> ChartMeta {
    ChartMeta {
        api_version: "v2",
        name: name.to_string(),
        description,
        kind,
        version: CHART_VERSION,
        app_version: None,
        kube_version: kube_version(platform),
        keywords: vec![platform.name.clone()],
        maintainers: vec![Maintainer { name: platform.owner.clone() }],
        dependencies: Vec::new(),
        annotations: BTreeMap::from([(
            "cerverus.io/generated".to_string(),
            "by `cerverus build` from the platform spec; change the spec, not this chart".to_string(),
        )]),
    }
}

fn doc<T: Serialize>(path: &str, v: &T) -> Result<String, RenderError> {
    yaml::document(v).map_err(|e| RenderError::Yaml(path.to_string(), e.to_string()))
}

fn json_doc(path: &str, v: &Value) -> Result<String, RenderError> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| RenderError::Yaml(path.to_string(), e.to_string()))?;
    s.push('\n');
    Ok(s)
}

fn lib_files(bundle: &mut Bundle, prefix: &str, platform: &Platform) -> Result<(), RenderError> {
    let meta = chart_meta(
        platform,
        LIB,
        "Named templates of the Cerverus workloads: one object from its values entry, labels, image, pod template"
            .into(),
        "library",
    );
    bundle.add(format!("{prefix}/Chart.yaml"), doc("Chart.yaml", &meta)?)?;
    bundle.add(format!("{prefix}/templates/_helpers.tpl"), LIB_HELPERS)?;
    bundle.add(format!("{prefix}/templates/_object.tpl"), LIB_OBJECT)?;
    Ok(())
}

/// Render the charts from every environment's rendered objects (`kubernetes/<env>/`, in the
/// platform's order). They are one artifact for every environment (values.yaml is the first
/// environment's values, values-<env>.yaml the others' differences), so the caller passes all
/// of the platform's environments whatever `cerverus build --env` selects: a build of one
/// environment writes the same chart as a full build instead of a chart without the others.
pub fn render(platform: &Platform, objects: &[(&Env, &Bundle)]) -> Result<Bundle, RenderError> {
    let mut bundle = Bundle::new();
    if objects.is_empty() {
        return Ok(bundle);
    }
    let envs: Vec<&Env> = objects.iter().map(|(e, _)| *e).collect();
    let charts: Vec<(&Env, EnvChart)> =
        objects.iter().map(|(e, o)| Ok((*e, env_chart(platform, e, o)?))).collect::<Result<_, RenderError>>()?;
    let all_groups: BTreeSet<String> = charts.iter().flat_map(|(_, c)| c.groups.keys().cloned()).collect();
    let fulls: Vec<Value> = charts.iter().map(|(_, c)| full_values(c, &all_groups)).collect::<Result<_, _>>()?;
    // values.yaml is the first environment in promotion order (dev): a complete configuration
    // on its own (what `helm install` without -f, `helm lint` and scanners see); each
    // values-<env>.yaml says what differs from it.
    let base = fulls.first().cloned().unwrap_or_else(|| json!({}));
    let umbrella = platform.name.clone();
    let root = umbrella.clone();

    // Library chart: the source of the copy every group vendors (CI publishes the umbrella,
    // which carries those copies, not the library on its own).
    lib_files(&mut bundle, LIB, platform)?;
    bundle.add(format!("{LIB}/README.md"), readme::library(platform))?;

    // Umbrella.
    let tags_of = |pred: &dyn Fn(&str) -> bool| {
        charts
            .iter()
            .flat_map(|(_, c)| c.tags.iter().filter(|(w, _)| pred(w)).map(|(_, t)| t.clone()))
            .collect::<Vec<_>>()
    };
    let mut meta = chart_meta(
        platform,
        &umbrella,
        format!("The {} workloads, one subchart per service group", platform.name),
        "application",
    );
    meta.app_version = Some(app_version(tags_of(&|_| true)));
    meta.dependencies = all_groups
        .iter()
        .map(|g| Dependency {
            name: g.clone(),
            version: CHART_VERSION.to_string(),
            repository: format!("file://charts/{g}"),
            condition: Some(format!("{g}.enabled")),
        })
        .collect();
    bundle.add(format!("{root}/Chart.yaml"), doc("Chart.yaml", &meta)?)?;
    bundle.add(format!("{root}/values.yaml"), doc("values.yaml", &base)?)?;
    for ((env, _), full) in charts.iter().zip(&fulls) {
        let residual = override_values(full, &base).unwrap_or_else(|| json!({}));
        bundle.add(format!("{root}/values-{}.yaml", env.name), doc("values", &residual)?)?;
    }
    let schema = schema::umbrella(&all_groups);
    bundle.add(format!("{root}/values.schema.json"), json_doc("values.schema.json", &schema)?)?;
    bundle.add(format!("{root}/templates/NOTES.txt"), UMBRELLA_NOTES)?;
    let env_names: Vec<&str> = charts.iter().map(|(e, _)| e.name.as_str()).collect();
    // Kinds the chart installs whose API group is not built into Kubernetes: their CRDs (and
    // controllers) are the platform's and must exist before an install.
    let custom: BTreeSet<(String, String)> = charts
        .iter()
        .flat_map(|(_, c)| c.groups.values())
        .flat_map(|g| g.objects.values())
        .filter_map(|o| {
            let group = o.api_version.rsplit_once('/').map(|(g, _)| g)?;
            (!BUILTIN_GROUPS.contains(&group)).then(|| (group.to_string(), o.kind.clone()))
        })
        .collect();
    bundle.add(format!("{root}/README.md"), readme::umbrella(platform, &meta, &schema, &env_names, &custom))?;

    // Service groups.
    for g in &all_groups {
        let dir = format!("{root}/charts/{g}");
        let group_workloads: BTreeSet<String> = charts
            .iter()
            .filter_map(|(_, c)| c.groups.get(g))
            .flat_map(|gv| gv.objects.values().map(|o| o.workload.clone()))
            .collect();
        let mut meta = chart_meta(platform, g, group_description(&envs, g), "application");
        meta.app_version = Some(app_version(tags_of(&|w| group_workloads.contains(w))));
        meta.dependencies = vec![Dependency {
            name: LIB.into(),
            version: CHART_VERSION.into(),
            repository: format!("file://../../../{LIB}"),
            condition: None,
        }];
        bundle.add(format!("{dir}/Chart.yaml"), doc("Chart.yaml", &meta)?)?;
        let defaults = json!({ "enabled": true, "objects": {}, "tests": {} });
        bundle.add(format!("{dir}/values.yaml"), doc("values.yaml", &defaults)?)?;
        let schema = schema::group();
        bundle.add(format!("{dir}/values.schema.json"), json_doc("values.schema.json", &schema)?)?;
        bundle.add(format!("{dir}/templates/objects.yaml"), GROUP_OBJECTS)?;
        bundle.add(format!("{dir}/templates/tests/test-readiness.yaml"), GROUP_TESTS)?;
        lib_files(&mut bundle, &format!("{dir}/charts/{LIB}"), platform)?;
        bundle.add(format!("{dir}/README.md"), readme::group(platform, &meta, &schema, &group_workloads))?;
    }

    // The comparison's scope, per environment.
    for (env, c) in &charts {
        let mut chart = Map::new();
        let mut platform_side = Map::new();
        for item in &c.scope {
            match &item.scope {
                Some(Scope::Chart { group, workload }) => {
                    chart.insert(item.path.clone(), json!({ "group": group, "workload": workload }));
                }
                Some(Scope::Platform { rule }) => {
                    platform_side.insert(item.path.clone(), json!({ "rule": rule, "why": rule.describe() }));
                }
                None => {}
            }
        }
        let namespaces: BTreeSet<&str> = env.workloads.iter().map(Workload::namespace).collect();
        let manifest = json!({
            "environment": env.name,
            "compared": format!("kubernetes/{}/", env.name),
            "namespaces": namespaces,
            "chart": chart,
            "platform": platform_side,
        });
        bundle.add(format!("scope/{}.json", env.name), json_doc("scope", &manifest)?)?;
    }
    Ok(bundle)
}

/// A group's description: a namespace group says what the spec says the namespace is for.
fn group_description(envs: &[&Env], g: &str) -> String {
    let purpose = envs.iter().flat_map(|e| &e.namespaces).find(|n| n.name == g).map(|n| n.purpose.clone());
    match g {
        scope::GROUP_JOBS => "One-off Jobs of the workloads (schema migrations), as Helm hooks".into(),
        scope::GROUP_MONITORING => "Scrape targets and alert rules of the workloads".into(),
        _ => match purpose {
            Some(p) => format!("Workloads of namespace {g}: {p}"),
            None => format!("Workloads of {g}"),
        },
    }
}

mod schema {
    //! values.schema.json of the umbrella and of a service group.

    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    fn string(d: &str) -> Value {
        json!({ "type": "string", "minLength": 1, "description": d })
    }

    fn resources() -> Value {
        json!({
            "type": "object",
            "description": "Container requests and limits (Kubernetes quantities)",
            "additionalProperties": false,
            "properties": {
                "requests": { "type": "object", "description": "Requested quantities by resource", "additionalProperties": { "type": ["string", "integer"] } },
                "limits": { "type": "object", "description": "Limits by resource", "additionalProperties": { "type": ["string", "integer"] } }
            }
        })
    }

    pub fn workload() -> Value {
        json!({
            "type": "object",
            "description": "A workload's identity and what its controller and autoscaler are rendered from",
            "additionalProperties": false,
            "required": ["name", "namespace", "partOf", "component", "tier", "image"],
            // An autoscaler owns the replica count where there is one: a fixed count beside it
            // would be rendered into the controller and fight the HPA KEDA drives.
            "not": { "required": ["replicas", "autoscaling"] },
            "properties": {
                "name": string("Workload name: object names and the instance/name labels"),
                "namespace": string("Namespace of the workload's objects"),
                "partOf": string("app.kubernetes.io/part-of"),
                "component": string("app.kubernetes.io/component"),
                "tier": { "type": "string", "enum": ["critical", "high", "standard", "batch"], "description": "cerverus.io/tier" },
                "image": {
                    "type": "object",
                    "description": "Container image, rendered as registry/repository:tag@digest",
                    "additionalProperties": false,
                    "required": ["registry", "repository", "tag"],
                    "properties": {
                        "registry": string("Registry host"),
                        "repository": string("Repository in the registry"),
                        "tag": string("Image tag (the chart's appVersion); override it with digest"),
                        "digest": { "type": "string", "pattern": "^sha256:[0-9a-f]{64}$", "description": "Content digest the release pipeline pins: what runs, whatever the tag" }
                    }
                },
                "replicas": { "type": "integer", "minimum": 0, "description": "Replicas (only without autoscaling: the autoscaler owns them)" },
                "resources": resources(),
                "ports": {
                    "type": "array",
                    "description": "Ports of the workload's container and of its Service (TCP, targetPort by name)",
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["name", "port"],
                        "properties": {
                            "name": string("Port name (IANA-style)"),
                            "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
                            "appProtocol": string("Service appProtocol (http, grpc, tcp ...)")
                        }
                    }
                },
                "config": { "type": "object", "description": "Environment of the workload (its ConfigMap)", "additionalProperties": { "type": "string" } },
                "featureFlags": { "type": "object", "description": "Feature flags (the flags.json of its feature-flag ConfigMap)", "additionalProperties": { "type": "boolean" } },
                "autoscaling": {
                    "type": "object",
                    "description": "Autoscaling bounds (ScaledObject min/max replica count)",
                    "additionalProperties": false,
                    "required": ["min", "max"],
                    "properties": { "min": { "type": "integer", "minimum": 0 }, "max": { "type": "integer", "minimum": 1 } }
                }
            }
        })
    }

    fn object() -> Value {
        json!({
            "type": "object",
            "description": "One Kubernetes object: the templates derive name, namespace, labels, selectors, image, resources, replicas and bounds from its workload; body holds the rest",
            "additionalProperties": false,
            "required": ["workload", "apiVersion", "kind", "name", "body"],
            "properties": {
                "workload": string("Owning workload (a key of global.workloads)"),
                "apiVersion": string("API version"),
                "kind": string("Kind"),
                "name": string("metadata.name"),
                "namespace": string("metadata.namespace where it is not the workload's"),
                "standardLabels": { "type": "boolean", "description": "false: labels are the object's whole label set" },
                "podStandardLabels": { "type": "boolean", "description": "false: the pod template's labels are in body as they are" },
                "labels": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Labels besides the workload's" },
                "annotations": { "type": "object", "additionalProperties": { "type": "string" }, "description": "metadata.annotations" },
                "body": { "type": "object", "description": "The object's other fields (spec, data, rules ...)" }
            }
        })
    }

    fn test() -> Value {
        json!({
            "type": "object",
            "description": "A helm test Pod asking a Service's readiness path",
            "additionalProperties": false,
            "required": ["workload", "url", "targetPort", "path", "runAsUser", "runAsGroup"],
            "properties": {
                "workload": string("Workload whose image and user the test runs as"),
                "url": { "type": "string", "pattern": "^http://", "description": "Readiness URL through the Service" },
                "targetPort": { "type": "integer", "minimum": 1, "maximum": 65535, "description": "Container port the Service forwards the URL's port to: what the test's NetworkPolicies and AuthorizationPolicy admit" },
                "path": { "type": "string", "pattern": "^/", "description": "Readiness path: the only one the test's AuthorizationPolicy allows (GET)" },
                "runAsUser": { "type": "integer", "minimum": 1, "description": "UID of the test Pod (the workload's)" },
                "runAsGroup": { "type": "integer", "minimum": 1, "description": "GID of the test Pod (the workload's)" }
            }
        })
    }

    pub fn group() -> Value {
        // Helm gives every dependency a values section, the library chart's included.
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Values of a Cerverus service-group chart",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "enabled": { "type": "boolean", "description": "Install this service group" },
                "objects": { "type": "object", "description": "Objects by `<namespace>-<kind>-<name>`", "additionalProperties": object() },
                "tests": { "type": "object", "description": "helm test Pods by Service name", "additionalProperties": test() },
                "global": { "type": "object", "description": "Shared with the umbrella (see its schema)" },
                (super::LIB): { "type": "object", "description": "Values section of the library chart (unused)" }
            }
        })
    }

    pub fn umbrella(groups: &BTreeSet<String>) -> Value {
        let mut props = serde_json::Map::new();
        props.insert(
            "global".into(),
            json!({
                "type": "object",
                "description": "What every service group sees",
                "additionalProperties": false,
                "properties": {
                    "managedBy": string("app.kubernetes.io/managed-by of every object"),
                    "testResources": resources(),
                    "workloads": { "type": "object", "description": "Workload identities by name", "additionalProperties": workload() }
                }
            }),
        );
        for g in groups {
            props.insert(
                g.clone(),
                json!({ "type": "object", "description": format!("Values of subchart {g} (validated by its own schema)") }),
            );
        }
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Values of the Cerverus umbrella chart",
            "type": "object",
            "additionalProperties": false,
            "properties": props
        })
    }
}

mod readme {
    //! Generated README.md of each chart: what it installs, how, and its values.

    use std::collections::{BTreeMap, BTreeSet};

    use cerverus_model::Platform;
    use serde_json::Value;

    use super::{CHART_VERSION, ChartMeta, LIB, OCI_HOST};

    const HEADER: &str = "<!-- Generated by cerverus from the platform spec. Do not edit: change the spec and run `cerverus build`. -->\n";

    fn oci(platform: &Platform) -> String {
        format!("oci://{OCI_HOST}/{}/charts", platform.organization.to_ascii_lowercase())
    }

    /// Rows `| key | type | description |` of a schema's properties, depth first.
    fn rows(prefix: &str, schema: &Value, out: &mut Vec<String>) {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
        for (k, v) in props {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            let ty = match v.get("type") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" \\| "),
                _ => "any".into(),
            };
            let desc = v.get("description").and_then(Value::as_str).unwrap_or("");
            out.push(format!("| `{key}` | {ty} | {desc} |"));
            rows(&key, v, out);
            if let Some(items) = v.get("additionalProperties").filter(|a| a.is_object()) {
                rows(&format!("{key}.<name>"), items, out);
            }
        }
    }

    fn table(schema: &Value) -> String {
        let mut out = vec!["| Key | Type | Description |".to_string(), "| --- | --- | --- |".to_string()];
        rows("", schema, &mut out);
        out.join("\n") + "\n"
    }

    pub fn umbrella(
        platform: &Platform,
        meta: &ChartMeta,
        schema: &Value,
        envs: &[&str],
        custom: &BTreeSet<(String, String)>,
    ) -> String {
        let name = &meta.name;
        let mut s = String::from(HEADER);
        s.push_str(&format!("# {name}\n\n{}.\n\n", meta.description));
        s.push_str(&format!(
            "Chart version `{CHART_VERSION}`, appVersion `{}` (the workloads' image tags).\n\n",
            meta.app_version.as_deref().unwrap_or("")
        ));
        s.push_str("## Service groups\n\n");
        for d in &meta.dependencies {
            s.push_str(&format!("- `{}` (toggle with `{}`)\n", d.name, d.condition.as_deref().unwrap_or("")));
        }
        s.push_str(&before_install(name, custom));
        s.push_str(
            "\n## Install\n\nValues are generated per environment; install with the environment's file from \
             the bundle (`deploy/helm/charts/NAME/values-<env>.yaml`; `helm show values` prints values.yaml):\n\n```sh\n"
                .replace("NAME", name)
                .as_str(),
        );
        for e in envs {
            s.push_str(&format!(
                "helm upgrade --install {name} {}/{name} --version {CHART_VERSION} -f deploy/helm/charts/{name}/values-{e}.yaml\n",
                oci(platform)
            ));
        }
        s.push_str(&format!("helm test {name}\n```\n\n"));
        s.push_str(&format!(
            "The objects name their own namespaces; `--namespace` only says where Helm keeps the release \
             record. Install the chart with Helm **or** sync `kubernetes/<env>/` with Argo CD, not both: \
             they are the same objects and the two would fight over them.\n\n\
             **Image overrides**: `global.workloads.<name>.image` renders as `registry/repository:tag@digest`, \
             and the digest decides what runs. Override `tag` and `digest` together (the release pipeline \
             does); a tag alone keeps the old digest, and the old image, under the new version label.\n\n\
             **Hooks**: the schema migrations (`database-jobs`) are `post-install,pre-upgrade` Jobs. On the \
             first install they run after every other object exists; their pods mount Secrets that \
             External Secrets creates from the ExternalSecrets asynchronously, and wait for them (the \
             kubelet retries the mount) within `--timeout` (default 5m). On an upgrade they run before \
             anything else changes, so the Secrets are the previous release's: a release that adds a \
             Secret a migration mounts must first be installed without it in the Job (or have its \
             ExternalSecret applied beforehand), else the hook waits until `--timeout` and the upgrade \
             fails.\n\n\
             **`helm test {name}`** creates, per Service with an HTTP readiness path, a Pod that asks that \
             path, and before it (as test hooks) what admits it in the default-deny mesh: its own \
             ServiceAccount, an egress NetworkPolicy (DNS, the target port), an ingress NetworkPolicy on \
             the target pods and an Istio ALLOW for the test's principal, `GET` of the readiness path \
             only. Helm deletes them once every test has passed (succeeded hooks go only after the last \
             test hook ran); a failed test Pod stays for its logs, and the next `helm test` replaces \
             whatever a failed run left (`before-hook-creation`).\n\n"
        ));
        s.push_str(&format!(
            "`values.yaml` is the `{}` environment's values, a complete configuration on its own; \
                 `values-<env>.yaml` says what differs in each environment (a key set to null is removed, \
                 as Helm merges). Both are generated by `cerverus build` from the objects it renders for \
                 `kubernetes/<env>/`, and the chart renders those same objects for the workloads: \
                 `../scope/<env>.json` lists which, and why the others (quotas, namespace-wide policies, \
                 people's access) stay with the platform.\n\n",
            envs.first().copied().unwrap_or("first")
        ));
        s.push_str("## Values\n\n");
        s.push_str(&table(schema));
        s
    }

    /// What must exist in the cluster before the chart installs: the platform's objects and the
    /// CRDs of the kinds it renders.
    fn before_install(name: &str, custom: &BTreeSet<(String, String)>) -> String {
        let mut s = format!(
            "\n## Before installing\n\n\
             The chart installs the workloads only. The platform comes first, from the same bundle \
             (`deploy/kubernetes/<env>/`, what `../scope/<env>.json` names as the platform's): the \
             namespaces (with their Pod Security and sidecar-injection labels), quotas and limit ranges, \
             the namespace-wide default-deny, DNS and istiod policies, people's RoleBindings, the \
             ClusterSecretStore, PriorityClasses, StorageClasses and Gatekeeper constraints in \
             `cluster/`. `{name}` does not carry CRDs: these kinds need their CRD (and the controller \
             that acts on them) installed by the platform first, or the install fails with \
             \"no matches for kind\":\n\n"
        );
        let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (g, k) in custom {
            by_group.entry(g.as_str()).or_default().push(k.as_str());
        }
        for (g, kinds) in by_group {
            s.push_str(&format!("- `{g}`: {}\n", kinds.join(", ")));
        }
        s
    }

    pub fn group(platform: &Platform, meta: &ChartMeta, schema: &Value, workloads: &BTreeSet<String>) -> String {
        let mut s = String::from(HEADER);
        s.push_str(&format!("# {}\n\n{}.\n\n", meta.name, meta.description));
        let list: Vec<String> = workloads.iter().map(|w| format!("`{w}`")).collect();
        s.push_str(&format!("Workloads: {}.\n\n", list.join(", ")));
        s.push_str(&format!(
            "A subchart of `{}`, installed through it (its objects need the umbrella's `global.workloads`). \
             Uses the named templates of `{LIB}`.\n\n## Values\n\n",
            platform.name
        ));
        s.push_str(&table(schema));
        s
    }

    pub fn library(platform: &Platform) -> String {
        let mut s = String::from(HEADER);
        s.push_str(&format!(
            "# {LIB}\n\nLibrary chart (type `library`, version `{CHART_VERSION}`) of the {} workloads' named \
             templates:\n\n",
            platform.name
        ));
        for (t, what) in [
            ("cerverus-lib.object", "one Kubernetes object from its values entry and its workload's identity"),
            ("cerverus-lib.labels", "the workload's labels (app.kubernetes.io/*, cerverus.io/tier)"),
            ("cerverus-lib.selectorLabels", "the workload's selector labels"),
            ("cerverus-lib.image", "registry/repository:tag@digest"),
            ("cerverus-lib.podTemplate", "pod template labels, the workload container's image, resources and ports"),
        ] {
            s.push_str(&format!("- `{t}`: {what}\n"));
        }
        s.push_str(&format!(
            "\nIt is not published on its own: every service-group chart of `{}` depends on it by path and \
             carries a copy in its `charts/{LIB}/` (written by the same build, byte for byte), so the \
             published umbrella ({}/{}) holds it:\n\n```yaml\ndependencies:\n  - name: {LIB}\n    version: \
             {CHART_VERSION}\n    repository: file://../../../{LIB}\n```\n",
            platform.name,
            oci(platform),
            platform.name
        ));
        s
    }
}

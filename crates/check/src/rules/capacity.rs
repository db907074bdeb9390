//! CV-HA-004: can the node groups a workload is pinned to hold it at its autoscaling ceiling?
//!
//! Node groups come from the files: `node_groups` in `.tfvars` (the shape this project's
//! Terraform uses) and `aws_eks_node_group` resources with literal sizes. A workload lands on the
//! groups whose labels include its `nodeSelector`. Scope: files under `envs/<name>/` and
//! `kubernetes/<name>/` are matched by `<name>` (one cluster per environment); everything else
//! forms one scope. Capacity per node follows `data/instance-types.json` (shared with the spec
//! check) — a model, not a measurement.
//!
//! A node group launches, and Cluster Autoscaler models, its **first** instance type: CA builds
//! the template node of a scale-up from it, so a pod that does not fit that template never
//! triggers a scale-up even when a later type in the list would hold it. CV-HA-004 sums the
//! groups' maximum nodes of that type; CV-HA-005 asks whether one pod fits one such node of some
//! group it may land on (labels from `nodeSelector`, `NoSchedule` taints it must tolerate). The
//! node's allocatable follows the EKS AMI reservation formula (`eks_allocatable` in the data)
//! when the data has it, else the flat shares, minus the DaemonSet allowance.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::Sink;
use super::k8s::{pod_spec, waivers};
use crate::inventory::Inventory;

const DATA: &str = include_str!("../../../../data/instance-types.json");

pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// `NoSchedule` taints as (key, value).
    pub(crate) taints: Vec<(String, String)>,
    max: f64,
    /// Allocatable (cpu, memory GiB, gpus) of one node.
    pub(crate) node: (f64, f64, f64),
    /// The first instance type, what the group launches.
    pub(crate) first: String,
}

/// The node groups of the input by environment scope (see [`Group`]).
pub(crate) fn node_groups(inv: &Inventory) -> BTreeMap<String, Vec<Group>> {
    serde_json::from_str::<Value>(DATA).map(|data| groups(inv, &data)).unwrap_or_default()
}

/// The groups of `scope` a pod may land on: labels include its nodeSelector, NoSchedule taints
/// tolerated.
pub(crate) fn landing<'g>(groups: &'g BTreeMap<String, Vec<Group>>, scope: &str, pod: &Value) -> Vec<&'g Group> {
    let sel: BTreeMap<String, String> = pod["nodeSelector"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    groups
        .get(scope)
        .into_iter()
        .flatten()
        .filter(|g| sel.iter().all(|(k, v)| g.labels.get(k) == Some(v)))
        .filter(|g| g.taints.iter().all(|t| tolerates(pod, t)))
        .collect()
}

/// Allocatable (cpu, memory GiB, gpus) of one node of `instance` for workload pods under the
/// EKS AMI formula (`eks_allocatable`: CPU reserved by core tiers, memory by max-pods, eviction
/// threshold, VM overhead), minus the DaemonSet allowance; the flat shares when the data has no
/// such section.
fn launch_allocatable(data: &Value, instance: &str) -> Option<(f64, f64, f64)> {
    let a = &data["eks_allocatable"];
    if !a.is_object() {
        return allocatable(data, instance);
    }
    let t = data["instance_types"][instance].as_array()?;
    let (cpu, mem, gpu) = (t.first()?.as_f64()?, t.get(1)?.as_f64()?, t.get(2)?.as_f64()?);
    let mut reserved_pct = 0.0;
    let mut core = 0.0;
    for pct in a["cpu_reserve_percent_by_core"].as_array()?.iter().filter_map(Value::as_f64) {
        reserved_pct += (cpu - core).clamp(0.0, 1.0) * pct;
        core += 1.0;
    }
    reserved_pct += (cpu - core).max(0.0) * a["cpu_reserve_percent_above"].as_f64()?;
    let max_pods = a["max_pods"][instance].as_f64()?;
    let capacity_mib = mem * 1024.0 * (1.0 - a["vm_memory_overhead_percent"].as_f64()? / 100.0);
    let reserved_mib = a["memory_reserved_mib_base"].as_f64()?
        + a["memory_reserved_mib_per_pod"].as_f64()? * max_pods
        + a["eviction_hard_memory_mib"].as_f64()?;
    Some((
        cpu - reserved_pct / 100.0 - data["daemonset_cpu"].as_f64()?,
        (capacity_mib - reserved_mib) / 1024.0 - data["daemonset_memory_gib"].as_f64()?,
        gpu,
    ))
}

fn allocatable(data: &Value, instance: &str) -> Option<(f64, f64, f64)> {
    let t = data["instance_types"][instance].as_array()?;
    let (cpu, mem, gpu) = (t.first()?.as_f64()?, t.get(1)?.as_f64()?, t.get(2)?.as_f64()?);
    Some((
        cpu * data["allocatable_cpu_share"].as_f64()? - data["daemonset_cpu"].as_f64()?,
        mem * data["allocatable_memory_share"].as_f64()? - data["daemonset_memory_gib"].as_f64()?,
        gpu,
    ))
}

use crate::inventory::scope;

pub(crate) fn quantity(q: &Value) -> f64 {
    let s = match q {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return 0.0,
    };
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let n: f64 = s[..split].parse().unwrap_or(0.0);
    n * match &s[split..] {
        "m" => 1e-3,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => 1.0,
    }
}

fn groups(inv: &Inventory, data: &Value) -> BTreeMap<String, Vec<Group>> {
    let mut out: BTreeMap<String, Vec<Group>> = BTreeMap::new();
    let mut push = |scope: String, name: String, g: &Value, max: f64, types: Vec<String>| {
        // The first type when the data knows it; else the smallest known (a lower bound).
        let node = match types.first().and_then(|t| launch_allocatable(data, t)) {
            Some(n) => n,
            None => {
                let nodes = types.iter().filter_map(|t| launch_allocatable(data, t));
                let Some(n) = nodes.reduce(|a, b| (a.0.min(b.0), a.1.min(b.1), a.2.min(b.2))) else { return };
                n
            }
        };
        let labels = g["labels"]
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        // Taints as `.tfvars` node_groups and aws_eks_node_group write them (`NO_SCHEDULE`).
        let one = std::slice::from_ref(&g["taint"]);
        let taints = g["taints"]
            .as_array()
            .or_else(|| g["taint"].as_array())
            .map_or(if g["taint"].is_object() { one } else { &[] }, Vec::as_slice)
            .iter()
            .filter(|t| t["effect"].as_str().is_some_and(|e| e.replace('_', "").eq_ignore_ascii_case("NoSchedule")))
            .map(|t| (t["key"].as_str().unwrap_or("").to_string(), t["value"].as_str().unwrap_or("").to_string()))
            .collect();
        let first = types.first().cloned().unwrap_or_default();
        out.entry(scope).or_default().push(Group { name, labels, taints, max, node, first });
    };
    for tv in &inv.tfvars {
        for (name, g) in tv.value["node_groups"].as_object().into_iter().flatten() {
            let types = g["instance_types"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            push(scope(&tv.file), name.clone(), g, g["max_size"].as_f64().unwrap_or(0.0), types);
        }
    }
    for b in inv.terraform.iter().filter(|b| b.kind == "resource" && b.ty() == "aws_eks_node_group") {
        let v = crate::inventory::body_value(&b.body);
        let max = v["scaling_config"]["max_size"].as_f64().or_else(|| v["scaling_config"][0]["max_size"].as_f64());
        let (Some(max), Some(types)) = (max, v["instance_types"].as_array()) else { continue };
        let types = types.iter().filter_map(|t| t.as_str().map(str::to_string)).collect();
        push(scope(&b.file), b.labels.get(1).cloned().unwrap_or_default(), &v, max, types);
    }
    out
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let Ok(data) = serde_json::from_str::<Value>(DATA) else { return };
    let groups = groups(inv, &data);
    if groups.is_empty() {
        return;
    }
    check_pod_fit(inv, &groups, sink);
    // (scope, selector) → (need cpu, mem GiB, gpu, [(workload id, file, line, share)])
    type Need = (f64, f64, f64, Vec<(String, String, usize, f64)>);
    let mut needs: BTreeMap<(String, String), Need> = BTreeMap::new();
    let mut selectors: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    let ceilings = autoscaling_ceilings(inv);
    for o in &inv.k8s {
        let Some((pod, _)) = pod_spec(o) else { continue };
        let Some(sel) = pod["nodeSelector"].as_object().filter(|m| !m.is_empty()) else { continue };
        let sel: BTreeMap<String, String> =
            sel.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
        let max = ceilings
            .get(&(o.scope(), o.namespace(), o.name()))
            .into_iter()
            .flatten()
            .copied()
            .fold(o.value["spec"]["replicas"].as_f64().unwrap_or(1.0), f64::max);
        let (mut cpu, mut mem, mut gpu) = (0.0, 0.0, 0.0);
        for c in pod["containers"].as_array().into_iter().flatten() {
            cpu += quantity(&c["resources"]["requests"]["cpu"]);
            mem += quantity(&c["resources"]["requests"]["memory"]) / (1024.0 * 1024.0 * 1024.0);
            gpu += quantity(&c["resources"]["requests"]["nvidia.com/gpu"])
                .max(quantity(&c["resources"]["limits"]["nvidia.com/gpu"]));
        }
        let key = (scope(&o.file), serde_json::to_string(&sel).unwrap_or_default());
        selectors.insert(key.clone(), sel);
        let e = needs.entry(key).or_insert((0.0, 0.0, 0.0, Vec::new()));
        e.0 += max * cpu;
        e.1 += max * mem;
        e.2 += max * gpu;
        e.3.push((o.id(), o.file.clone(), o.line, max * cpu));
    }
    for (key, (cpu, mem, gpu, contributors)) in needs {
        let Some(in_scope) = groups.get(&key.0) else { continue };
        let sel = &selectors[&key];
        let matching: Vec<&Group> =
            in_scope.iter().filter(|g| sel.iter().all(|(k, v)| g.labels.get(k) == Some(v))).collect();
        if matching.is_empty() {
            continue;
        }
        let cap = matching
            .iter()
            .fold((0.0, 0.0, 0.0), |a, g| (a.0 + g.max * g.node.0, a.1 + g.max * g.node.1, a.2 + g.max * g.node.2));
        if cpu > cap.0 + 1e-9 || mem > cap.1 + 1e-9 || gpu > cap.2 + 1e-9 {
            let Some((id, file, line, _)) = contributors.iter().max_by(|a, b| a.3.total_cmp(&b.3)).cloned() else {
                continue;
            };
            let w = inv.k8s.iter().find(|o| o.id() == id && scope(&o.file) == key.0).map(waivers).unwrap_or_default();
            let names: Vec<&str> = contributors.iter().map(|c| c.0.as_str()).collect();
            sink.report(
                "CV-HA-004",
                &file,
                line,
                &id,
                format!(
                    "at their autoscaling ceilings {} request {cpu:.1} CPU, {mem:.1} GiB, {gpu} GPU on nodes labelled {sel:?}; those node groups give at most {:.1} CPU, {:.1} GiB, {} GPU",
                    names.join(", "),
                    cap.0,
                    cap.1,
                    cap.2
                ),
                &w,
            );
        }
    }
}

/// HPA `maxReplicas` and ScaledObject `maxReplicaCount` by (scope, namespace, target name),
/// gathered in one pass so that finding a workload's ceiling does not rescan the input.
pub(crate) fn autoscaling_ceilings(inv: &Inventory) -> HashMap<(String, Option<&str>, &str), Vec<f64>> {
    let mut out: HashMap<(String, Option<&str>, &str), Vec<f64>> = HashMap::new();
    for a in &inv.k8s {
        let spec = &a.value["spec"];
        let max = match a.kind() {
            "HorizontalPodAutoscaler" => spec["maxReplicas"].as_f64(),
            "ScaledObject" => spec["maxReplicaCount"].as_f64(),
            _ => None,
        };
        if let (Some(max), Some(target)) = (max, spec["scaleTargetRef"]["name"].as_str()) {
            out.entry((a.scope(), a.namespace(), target)).or_default().push(max);
        }
    }
    out
}

/// Does a pod tolerate a `NoSchedule` taint (key, value)?
pub(crate) fn tolerates(pod: &Value, (key, value): &(String, String)) -> bool {
    pod["tolerations"].as_array().into_iter().flatten().any(|t| {
        let effect_ok = t["effect"].as_str().is_none_or(|e| e.is_empty() || e == "NoSchedule");
        let key_ok = t["key"].as_str().is_none_or(|k| k.is_empty() || k == key);
        let value_ok = t["operator"] == "Exists" || t["value"].as_str().unwrap_or("") == value;
        effect_ok && key_ok && value_ok
    })
}

/// One pod's requests: (cpu, memory GiB, gpus); the larger of the containers' sum and the
/// largest init container.
fn pod_requests(pod: &Value) -> (f64, f64, f64) {
    let gib = 1024.0 * 1024.0 * 1024.0;
    let one = |c: &Value| {
        let r = &c["resources"];
        (
            quantity(&r["requests"]["cpu"]),
            quantity(&r["requests"]["memory"]) / gib,
            quantity(&r["requests"]["nvidia.com/gpu"]).max(quantity(&r["limits"]["nvidia.com/gpu"])),
        )
    };
    let sum = pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(one)
        .fold((0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    pod["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(one)
        .fold(sum, |a, b| (a.0.max(b.0), a.1.max(b.1), a.2.max(b.2)))
}

/// CV-HA-005: a pod larger than one node of the first instance type of every group it may land on.
fn check_pod_fit(inv: &Inventory, groups: &BTreeMap<String, Vec<Group>>, sink: &mut Sink<'_>) {
    for o in &inv.k8s {
        let Some((pod, path)) = pod_spec(o) else { continue };
        if o.kind() == "DaemonSet" {
            continue;
        }
        let landing = landing(groups, &o.scope(), pod);
        // No group takes the pod at all: another question (scheduling), not this rule's.
        if landing.is_empty() {
            continue;
        }
        let (cpu, mem, gpu) = pod_requests(pod);
        let fits = |g: &&Group| cpu <= g.node.0 + 1e-9 && mem <= g.node.1 + 1e-9 && gpu <= g.node.2 + 1e-9;
        if landing.iter().any(fits) {
            continue;
        }
        let nodes: Vec<String> = landing
            .iter()
            .map(|g| {
                format!(
                    "{} launches {} ({:.2} CPU, {:.1} GiB, {} GPU allocatable)",
                    g.name, g.first, g.node.0, g.node.1, g.node.2
                )
            })
            .collect();
        let mut at: Vec<&str> = path.clone();
        at.push("containers");
        sink.report(
            "CV-HA-005",
            &o.file,
            o.line_of(&at),
            &o.id(),
            format!(
                "one pod requests {cpu:.2} CPU, {mem:.1} GiB, {gpu} GPU but fits no node its groups launch: {} (a node group launches, and Cluster Autoscaler models, its first instance type)",
                nodes.join("; ")
            ),
            &waivers(o),
        );
    }
}

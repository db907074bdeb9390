//! CV-HA-004: can the node groups a workload is pinned to hold it at its autoscaling ceiling?
//!
//! Node groups come from the files: `node_groups` in `.tfvars` (the shape this project's
//! Terraform uses) and `aws_eks_node_group` resources with literal sizes. A workload lands on the
//! groups whose labels include its `nodeSelector`. Scope: files under `envs/<name>/` and
//! `kubernetes/<name>/` are matched by `<name>` (one cluster per environment); everything else
//! forms one scope. Capacity per node follows `data/instance-types.json` (shared with the spec
//! check) and the smallest instance type of each group — a model, not a measurement.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::Sink;
use super::k8s::{pod_spec, waivers};
use crate::inventory::Inventory;

const DATA: &str = include_str!("../../../../data/instance-types.json");

struct Group {
    labels: BTreeMap<String, String>,
    max: f64,
    node: (f64, f64, f64),
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

fn quantity(q: &Value) -> f64 {
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
    let mut push = |scope: String, labels: &Value, max: f64, types: Vec<String>| {
        let nodes: Vec<(f64, f64, f64)> = types.iter().filter_map(|t| allocatable(data, t)).collect();
        if nodes.is_empty() {
            return;
        }
        let node = nodes.into_iter().reduce(|a, b| (a.0.min(b.0), a.1.min(b.1), a.2.min(b.2))).unwrap_or_default();
        let labels = labels
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        out.entry(scope).or_default().push(Group { labels, max, node });
    };
    for tv in &inv.tfvars {
        for g in tv.value["node_groups"].as_object().into_iter().flat_map(|m| m.values()) {
            let types = g["instance_types"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            push(scope(&tv.file), &g["labels"], g["max_size"].as_f64().unwrap_or(0.0), types);
        }
    }
    for b in inv.terraform.iter().filter(|b| b.kind == "resource" && b.ty() == "aws_eks_node_group") {
        let v = crate::inventory::body_value(&b.body);
        let max = v["scaling_config"]["max_size"].as_f64().or_else(|| v["scaling_config"][0]["max_size"].as_f64());
        let (Some(max), Some(types)) = (max, v["instance_types"].as_array()) else { continue };
        let types = types.iter().filter_map(|t| t.as_str().map(str::to_string)).collect();
        push(scope(&b.file), &v["labels"], max, types);
    }
    out
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let Ok(data) = serde_json::from_str::<Value>(DATA) else { return };
    let groups = groups(inv, &data);
    if groups.is_empty() {
        return;
    }
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
fn autoscaling_ceilings(inv: &Inventory) -> HashMap<(String, Option<&str>, &str), Vec<f64>> {
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

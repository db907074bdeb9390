//! CV-GPU-001: GPU requests on nodes no NVIDIA device plugin serves.
//!
//! `nvidia.com/gpu` exists on a node only when the device plugin runs there. A pod requesting it
//! lands (nodeSelector, NoSchedule taints it tolerates) on node groups of its environment; the
//! plugin runs on the nodes its DaemonSet's nodeSelector, required node affinity and tolerations
//! admit. The plugin is found in the input as a DaemonSet (an image of
//! `nvidia/k8s-device-plugin`) or as the pinned `nvidia-device-plugin` chart of a `charts.yaml`,
//! whose placement is the pinned version's own defaults (`data/reference/helm/`, 0.15+: only
//! nodes labelled `nvidia.com/gpu.present=true` or with NFD's NVIDIA PCI/CPU vendor labels)
//! merged with the release's values file as Helm merges them (maps key by key, lists replaced,
//! `null` removes). NFD labels count as present on GPU instance types when Node Feature Discovery
//! is deployed (the chart's `nfd.enabled`, or a `node-feature-discovery` chart). Node labels are
//! those the node groups declare. No plugin in the input, or no node group the pod lands on:
//! nothing to judge.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Sink;
use super::capacity::{Group, landing, node_groups, quantity, tolerates};
use super::k8s::{pod_spec, waivers};
use crate::helm_reference::HelmReference;
use crate::inventory::{Inventory, scope};

const CHART: &str = "nvidia-device-plugin";
const NFD_PCI: &str = "feature.node.kubernetes.io/pci-10de.present";

/// Where one device plugin runs: its pod spec's placement fields.
struct Plugin {
    what: String,
    placement: Value,
    /// Node Feature Discovery runs alongside (its labels appear on GPU nodes).
    nfd: bool,
}

/// Helm's merge of user values into chart defaults.
fn merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = out.get(k).map_or_else(|| v.clone(), |bv| merge(bv, v));
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        _ => over.clone(),
    }
}

/// The environment a Helm values file configures: its scope by path, else the directory it
/// sits in below the chart list (`helm/addons/<env>/<name>.values.yaml`).
fn values_scope(file: &str, list_dir: &str) -> String {
    let s = scope(file);
    if !s.is_empty() {
        return s;
    }
    let rest = file.strip_prefix(list_dir).unwrap_or(file).trim_start_matches('/');
    match rest.split_once('/') {
        Some((dir, _)) => dir.to_string(),
        None => String::new(),
    }
}

/// Device plugins by environment scope ("" applies to every scope).
fn plugins(inv: &Inventory) -> BTreeMap<String, Vec<Plugin>> {
    let mut out: BTreeMap<String, Vec<Plugin>> = BTreeMap::new();
    for o in inv.k8s.iter().filter(|o| o.kind() == "DaemonSet") {
        let Some((pod, _)) = pod_spec(o) else { continue };
        let is_plugin = pod["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["image"].as_str().is_some_and(|i| i.contains("k8s-device-plugin")));
        if is_plugin {
            out.entry(o.scope()).or_default().push(Plugin { what: o.id(), placement: pod.clone(), nfd: false });
        }
    }
    let reference = HelmReference::embedded();
    for list in &inv.helm.chart_lists {
        let nfd_chart = list.charts.iter().any(|c| c.chart == "node-feature-discovery");
        for pin in list.charts.iter().filter(|c| c.chart == CHART) {
            let defaults = match reference.get(&pin.chart, &pin.version) {
                Some(Ok(r)) => r.raw_defaults.clone(),
                // A version we hold no data for: the placement every release since 0.15 ships.
                _ => {
                    serde_json::json!({ "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": [
                    { "matchExpressions": [{ "key": NFD_PCI, "operator": "In", "values": ["true"] }] },
                    { "matchExpressions": [{ "key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"] }] }
                ] } } } })
                }
            };
            let files: Vec<_> = inv
                .helm
                .values
                .iter()
                .filter(|v| v.name == pin.name && inv.helm.list_for(&v.file).is_some_and(|l| l.file == list.file))
                .collect();
            let mut add = |scope: String, values: &Value, what: String| {
                let placement = merge(&defaults, values);
                let nfd = nfd_chart || placement["nfd"]["enabled"] == true;
                out.entry(scope).or_default().push(Plugin { what, placement, nfd });
            };
            if files.is_empty() {
                add(String::new(), &Value::Null, format!("chart {CHART} {} ({})", pin.version, list.file));
            }
            for f in files {
                let values = f.docs.iter().fold(Value::Object(Default::default()), |acc, d| merge(&acc, &d.value));
                add(
                    values_scope(&f.file, &list.dir),
                    &values,
                    format!("chart {CHART} {} with {}", pin.version, f.file),
                );
            }
        }
    }
    out
}

/// Does a node selector requirement hold for `labels`?
fn requirement(e: &Value, labels: &BTreeMap<String, String>) -> bool {
    let key = e["key"].as_str().unwrap_or("");
    let values: Vec<&str> = e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let have = labels.get(key).map(String::as_str);
    match e["operator"].as_str().unwrap_or("") {
        "In" => have.is_some_and(|h| values.contains(&h)),
        "NotIn" => have.is_none_or(|h| !values.contains(&h)),
        "Exists" => have.is_some(),
        "DoesNotExist" => have.is_none(),
        "Gt" | "Lt" => false,
        _ => false,
    }
}

/// Does the plugin's pod run on nodes of group `g`?
fn serves(p: &Plugin, g: &Group) -> bool {
    let mut labels = g.labels.clone();
    if p.nfd && g.node.2 > 0.0 {
        labels.insert(NFD_PCI.to_string(), "true".to_string());
    }
    let spec = &p.placement;
    let selector_ok = spec["nodeSelector"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str()));
    let terms =
        &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
    let affinity_ok = terms.as_array().filter(|t| !t.is_empty()).is_none_or(|terms| {
        terms.iter().any(|t| {
            t["matchExpressions"].as_array().into_iter().flatten().all(|e| requirement(e, &labels))
                && t["matchFields"].as_array().is_none_or(Vec::is_empty)
        })
    });
    selector_ok && affinity_ok && g.taints.iter().all(|t| tolerates(spec, t))
}

fn gpus(pod: &Value) -> f64 {
    pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            quantity(&c["resources"]["requests"]["nvidia.com/gpu"])
                .max(quantity(&c["resources"]["limits"]["nvidia.com/gpu"]))
        })
        .sum()
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let plugins = plugins(inv);
    if plugins.is_empty() {
        return;
    }
    let groups = node_groups(inv);
    for o in &inv.k8s {
        let Some((pod, path)) = pod_spec(o) else { continue };
        if gpus(pod) <= 0.0 {
            continue;
        }
        let scope = o.scope();
        let here: Vec<&Plugin> =
            plugins.iter().filter(|(s, _)| s.is_empty() || **s == scope).flat_map(|(_, p)| p).collect();
        if here.is_empty() {
            continue;
        }
        let lands = landing(&groups, &scope, pod);
        if lands.is_empty() || lands.iter().any(|g| here.iter().any(|p| serves(p, g))) {
            continue;
        }
        let groups: Vec<String> = lands.iter().map(|g| format!("{} (labels {:?})", g.name, g.labels)).collect();
        let plugins: Vec<&str> = here.iter().map(|p| p.what.as_str()).collect();
        let mut at = path.clone();
        at.push("containers");
        sink.report(
            "CV-GPU-001",
            &o.file,
            o.line_of(&at),
            &o.id(),
            format!(
                "requests nvidia.com/gpu on node groups {} where no device plugin runs ({} selects other nodes): the GPU is never advertised and the pod stays Pending",
                groups.join(", "),
                plugins.join("; ")
            ),
            &waivers(o),
        );
    }
}

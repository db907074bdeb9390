//! CV-QUOTA-001/002: ResourceQuotas that refuse what their namespace's workloads need at peak.
//!
//! At a max-scale rollout every workload runs at its autoscaling ceiling (HPA `maxReplicas`,
//! ScaledObject `maxReplicaCount`, else `replicas`) *plus* the pods its rollout adds before it
//! removes old ones — a Deployment's `maxSurge` (default 25%, rounded up; none under
//! `Recreate`), an Argo Rollout's canary `maxSurge` (default 25%; with Istio/ingress traffic
//! routing a full second set, or the largest weight step under `dynamicStableScale`) or a full
//! second set for blue-green — while Jobs run `parallelism` pods and each CronJob one run (its
//! `concurrencyPolicy: Allow` may overlap runs; counted once). A pod's demand is the larger of its
//! containers' sum and its largest init container, a container's missing request defaulting to
//! its limit or to the namespace's LimitRange. A quota below that total rejects pods exactly
//! during the peak. DaemonSet pods are not counted (their number is the node count), nor quotas
//! restricted by `scopes`/`scopeSelector`.
//!
//! One pass indexes quotas, LimitRanges, autoscaling ceilings and demand by (scope, namespace).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::Sink;
use super::capacity::{autoscaling_ceilings, quantity};
use super::k8s::{pod_spec, waivers};
use super::netpol::{Place, place};
use crate::inventory::{Inventory, K8sObject};

/// Resources a quota may name and that pods consume, as (quota key, demand key).
const KEYS: &[(&str, &str)] = &[
    ("requests.cpu", "requests.cpu"),
    ("cpu", "requests.cpu"),
    ("limits.cpu", "limits.cpu"),
    ("requests.memory", "requests.memory"),
    ("memory", "requests.memory"),
    ("limits.memory", "limits.memory"),
    ("requests.ephemeral-storage", "requests.ephemeral-storage"),
    ("ephemeral-storage", "requests.ephemeral-storage"),
    ("limits.ephemeral-storage", "limits.ephemeral-storage"),
    ("requests.nvidia.com/gpu", "requests.nvidia.com/gpu"),
    ("limits.nvidia.com/gpu", "requests.nvidia.com/gpu"),
    ("pods", "pods"),
];

const RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage", "nvidia.com/gpu"];

/// A LimitRange's container defaults: (defaultRequest, default) per resource.
type Defaults = (BTreeMap<String, f64>, BTreeMap<String, f64>);

fn quantities(v: &Value) -> BTreeMap<String, f64> {
    v.as_object().map(|m| m.iter().map(|(k, q)| (k.clone(), quantity(q))).collect()).unwrap_or_default()
}

/// One container's (requests, limits) per resource, with Kubernetes' defaulting: a missing
/// request is the limit, else the LimitRange's defaultRequest; a missing limit the LimitRange's
/// default (whose request then defaults to it).
fn container_demand(c: &Value, defaults: Option<&Defaults>) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let (mut req, mut lim) = (quantities(&c["resources"]["requests"]), quantities(&c["resources"]["limits"]));
    for r in RESOURCES {
        if !lim.contains_key(*r)
            && let Some(d) = defaults.and_then(|d| d.1.get(*r))
        {
            lim.insert((*r).to_string(), *d);
        }
        if !req.contains_key(*r) {
            let d =
                c["resources"]["limits"].get(*r).map(quantity).or_else(|| defaults.and_then(|d| d.0.get(*r).copied()));
            if let Some(d) = d.or_else(|| lim.get(*r).copied()) {
                req.insert((*r).to_string(), d);
            }
        }
    }
    (req, lim)
}

/// A pod's demand under quota keys (`requests.cpu`, `limits.memory`, …, `pods`).
fn pod_demand(pod: &Value, defaults: Option<&Defaults>) -> BTreeMap<String, f64> {
    let sum = |list: &Value| {
        let mut total: BTreeMap<String, f64> = BTreeMap::new();
        let mut peak: BTreeMap<String, f64> = BTreeMap::new();
        for c in list.as_array().into_iter().flatten() {
            let (req, lim) = container_demand(c, defaults);
            for (k, v) in req
                .into_iter()
                .map(|(k, v)| (format!("requests.{k}"), v))
                .chain(lim.into_iter().map(|(k, v)| (format!("limits.{k}"), v)))
            {
                *total.entry(k.clone()).or_default() += v;
                let p = peak.entry(k).or_default();
                *p = p.max(v);
            }
        }
        (total, peak)
    };
    let (mut out, _) = sum(&pod["containers"]);
    let (_, init_peak) = sum(&pod["initContainers"]);
    for (k, v) in init_peak {
        let e = out.entry(k).or_default();
        *e = e.max(v);
    }
    out.insert("pods".into(), 1.0);
    out
}

/// `maxSurge` (an int or a percentage, rounded up) of `replicas`; `default` when unset.
fn surge(v: &Value, replicas: f64, default: f64) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<f64>().ok()) {
            Some(p) => (replicas * p / 100.0).ceil(),
            None => s.parse().unwrap_or(0.0),
        },
        _ => (replicas * default / 100.0).ceil(),
    }
}

/// Pods an Argo Rollout adds above `max` at its peak. Blue-green brings up a full second set.
/// A canary with traffic routing sizes its ReplicaSets by weight, not by `maxSurge` (which it
/// ignores): the stable set stays at 100 % while the canary grows to 100 % — a full second set
/// — unless `dynamicStableScale` shrinks stable as the canary grows; then the canary is scaled
/// up before stable comes down, by the largest weight step (the last one up to 100 %).
/// Without traffic routing the canary surges by `maxSurge` (default 25 %).
fn rollout_surge(strategy: &Value, max: f64) -> f64 {
    let canary = &strategy["canary"];
    if strategy["blueGreen"].is_object() {
        return max;
    }
    if !canary["trafficRouting"].is_object() {
        return surge(&canary["maxSurge"], max, 25.0);
    }
    if canary["dynamicStableScale"] != true {
        return max;
    }
    let mut last = 0.0;
    let mut step: f64 = 0.0;
    for w in canary["steps"].as_array().into_iter().flatten().filter_map(|s| s["setWeight"].as_f64()) {
        step = step.max(w - last);
        last = w;
    }
    step = step.max(100.0 - last);
    (max * step / 100.0).ceil()
}

/// How many pods of `o` run at once at its peak, and why.
fn peak_pods(o: &K8sObject, ceiling: Option<f64>) -> Option<(f64, String)> {
    let spec = &o.value["spec"];
    let replicas = spec["replicas"].as_f64().unwrap_or(1.0);
    let max = ceiling.map_or(replicas, |c| c.max(replicas));
    Some(match o.kind() {
        "Deployment" => {
            let extra = if spec["strategy"]["type"] == "Recreate" {
                0.0
            } else {
                surge(&spec["strategy"]["rollingUpdate"]["maxSurge"], max, 25.0)
            };
            (max + extra, format!("{max} + {extra} surge"))
        }
        "Rollout" => {
            let extra = rollout_surge(&spec["strategy"], max);
            (max + extra, format!("{max} + {extra} surge"))
        }
        "StatefulSet" | "ReplicaSet" => (max, format!("{max}")),
        "Job" => {
            let p = spec["parallelism"].as_f64().unwrap_or(1.0);
            (p, format!("{p} running"))
        }
        "CronJob" => {
            let p = spec["jobTemplate"]["spec"]["parallelism"].as_f64().unwrap_or(1.0);
            (p, format!("{p} running"))
        }
        "Pod" => (1.0, "1".into()),
        _ => return None,
    })
}

fn show(key: &str, v: f64) -> String {
    if key.ends_with("memory") || key.ends_with("ephemeral-storage") {
        format!("{:.1}Gi", v / (1024.0 * 1024.0 * 1024.0))
    } else if key.ends_with("cpu") {
        format!("{v:.2}")
    } else {
        format!("{v}")
    }
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let mut quotas: HashMap<Place, Vec<&K8sObject>> = HashMap::new();
    let mut defaults: HashMap<Place, Defaults> = HashMap::new();
    let mut load_balancers: HashMap<Place, Vec<&K8sObject>> = HashMap::new();
    for o in &inv.k8s {
        match o.kind() {
            "ResourceQuota" => quotas.entry(place(o)).or_default().push(o),
            "LimitRange" => {
                for l in o.value["spec"]["limits"].as_array().into_iter().flatten().filter(|l| l["type"] == "Container")
                {
                    let d = defaults.entry(place(o)).or_default();
                    d.0.extend(quantities(&l["defaultRequest"]));
                    d.1.extend(quantities(&l["default"]));
                }
            }
            "Service" if o.value["spec"]["type"] == "LoadBalancer" => {
                load_balancers.entry(place(o)).or_default().push(o)
            }
            _ => {}
        }
    }
    if quotas.is_empty() {
        return;
    }
    let ceilings = autoscaling_ceilings(inv);
    // place → demand per quota key, and the workloads that make it up.
    let mut demand: HashMap<Place, (BTreeMap<String, f64>, Vec<String>)> = HashMap::new();
    for o in &inv.k8s {
        let at = place(o);
        if !quotas.contains_key(&at) {
            continue;
        }
        let Some((pod, _)) = pod_spec(o) else { continue };
        let ceiling =
            ceilings.get(&(o.scope(), o.namespace(), o.name())).and_then(|c| c.iter().copied().reduce(f64::max));
        let Some((n, why)) = peak_pods(o, ceiling) else { continue };
        let per_pod = pod_demand(pod, defaults.get(&at));
        let e = demand.entry(at).or_default();
        for (k, v) in per_pod {
            *e.0.entry(k).or_default() += n * v;
        }
        e.1.push(format!("{} ({why})", o.name()));
    }
    for (at, qs) in &quotas {
        for q in qs {
            let spec = &q.value["spec"];
            if spec["scopes"].is_array() || spec["scopeSelector"].is_object() {
                continue;
            }
            let w = waivers(q);
            let hard = &spec["hard"];
            if let Some((need, who)) = demand.get(at) {
                for (key, demand_key) in KEYS {
                    let Some(limit) = hard.get(*key).map(quantity) else { continue };
                    let want = need.get(*demand_key).copied().unwrap_or(0.0);
                    // A millicore or a byte of rounding is not a finding.
                    if want > limit * (1.0 + 1e-9) + 1e-6 {
                        sink.report(
                            "CV-QUOTA-001",
                            &q.file,
                            q.line_of(&["spec", "hard", key]),
                            &q.id(),
                            format!(
                                "`{key}` is {} but a max-scale rollout needs {}: {}",
                                show(key, limit),
                                show(key, want),
                                who.join(", ")
                            ),
                            &w,
                        );
                    }
                }
            }
            let lbs = load_balancers.get(at).map_or(0, Vec::len);
            if let Some(limit) = hard.get("services.loadbalancers").map(quantity)
                && (lbs as f64) > limit
            {
                let names: Vec<&str> = load_balancers.get(at).into_iter().flatten().map(|s| s.name()).collect();
                sink.report(
                    "CV-QUOTA-002",
                    &q.file,
                    q.line_of(&["spec", "hard", "services.loadbalancers"]),
                    &q.id(),
                    format!("allows {limit} LoadBalancer Service(s) but the namespace has {lbs}: {}", names.join(", ")),
                    &w,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn surge_rounds_up_and_defaults_to_a_quarter() {
        assert_eq!(surge(&Value::Null, 5.0, 25.0), 2.0);
        assert_eq!(surge(&json!("10%"), 5.0, 25.0), 1.0);
        assert_eq!(surge(&json!(3), 5.0, 25.0), 3.0);
        assert_eq!(surge(&json!("0%"), 5.0, 25.0), 0.0);
    }

    #[test]
    fn missing_requests_default_to_limits_then_to_the_limit_range() {
        let defaults: Defaults = (
            BTreeMap::from([("cpu".to_string(), 0.25)]),
            BTreeMap::from([("cpu".to_string(), 1.0), ("memory".to_string(), 512.0)]),
        );
        let pod = json!({ "containers": [
            { "resources": { "limits": { "memory": "1Gi" } } },
            { "resources": {} }
        ], "initContainers": [ { "resources": { "requests": { "cpu": "2" } } } ] });
        let d = pod_demand(&pod, Some(&defaults));
        // cpu: 0.25 + 0.25 from defaultRequest, but the init container's 2 is larger.
        assert_eq!(d["requests.cpu"], 2.0);
        // memory: 1Gi from its own limit, 512 from the LimitRange default limit.
        assert_eq!(d["requests.memory"], 1024.0 * 1024.0 * 1024.0 + 512.0);
        assert_eq!(d["limits.cpu"], 2.0);
        assert_eq!(d["pods"], 1.0);
    }
}

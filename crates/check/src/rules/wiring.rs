//! Cross-resource rules: references that resolve, selectors that select something, and
//! disruption budgets that still let a node drain.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Sink;
use super::k8s::{pod_spec, waivers};
use crate::inventory::{Inventory, K8sObject};
use crate::reach::selects;

fn labels(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

fn pod_labels(o: &K8sObject) -> Option<std::collections::BTreeMap<String, String>> {
    pod_spec(o)?;
    Some(labels(match o.kind() {
        "Pod" => &o.value["metadata"]["labels"],
        "CronJob" => &o.value["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"],
        _ => &o.value["spec"]["template"]["metadata"]["labels"],
    }))
}

/// The fewest replicas a workload runs with: its HPA/ScaledObject minimum if one targets it.
fn min_replicas(inv: &Inventory, o: &K8sObject) -> i64 {
    let replicas = o.value["spec"]["replicas"].as_i64().unwrap_or(1);
    let ns = o.namespace();
    inv.k8s
        .iter()
        .filter(|a| a.namespace() == ns && a.scope() == o.scope())
        .filter_map(|a| match a.kind() {
            "HorizontalPodAutoscaler" if a.value["spec"]["scaleTargetRef"]["name"] == o.name() => {
                a.value["spec"]["minReplicas"].as_i64()
            }
            "ScaledObject" if a.value["spec"]["scaleTargetRef"]["name"] == o.name() => {
                a.value["spec"]["minReplicaCount"].as_i64()
            }
            _ => None,
        })
        .min()
        .map_or(replicas, |m| m.min(replicas))
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    for o in &inv.k8s {
        let in_ns = |ns: Option<&str>, kind: &str| -> BTreeSet<String> {
            inv.k8s
                .iter()
                .filter(|x| x.namespace() == ns && x.kind() == kind && x.scope() == o.scope())
                .map(|x| x.name().to_string())
                .collect()
        };
        let w = waivers(o);
        let ns = o.namespace();
        match o.kind() {
            "Service" => {
                let Some(sel) = o.value["spec"]["selector"].as_object().filter(|s| !s.is_empty()) else { continue };
                let sel = serde_json::json!({ "matchLabels": sel });
                let any = inv
                    .k8s
                    .iter()
                    .filter(|p| p.namespace() == ns && p.scope() == o.scope())
                    .filter_map(pod_labels)
                    .any(|l| selects(&sel, &l));
                if !any {
                    sink.report(
                        "CV-WIRE-001",
                        &o.file,
                        o.line_of(&["spec", "selector"]),
                        &o.id(),
                        "selects no pod in its namespace".into(),
                        &w,
                    );
                }
            }
            "ServiceMonitor" => {
                let sel = &o.value["spec"]["selector"];
                let namespaces: Vec<&str> = o.value["spec"]["namespaceSelector"]["matchNames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let any = inv
                    .k8s
                    .iter()
                    .filter(|s| s.kind() == "Service")
                    .filter(|s| {
                        let s_ns = s.namespace().unwrap_or("default");
                        (namespaces.is_empty() && Some(s_ns) == ns)
                            || namespaces.contains(&s_ns)
                            || o.value["spec"]["namespaceSelector"]["any"] == true
                    })
                    .any(|s| selects(sel, &labels(&s.value["metadata"]["labels"])));
                if !any {
                    sink.report(
                        "CV-WIRE-002",
                        &o.file,
                        o.line_of(&["spec", "selector"]),
                        &o.id(),
                        "selects no Service".into(),
                        &w,
                    );
                }
            }
            "Rollout" => {
                let templates = in_ns(ns, "AnalysisTemplate");
                let cluster: BTreeSet<String> = inv
                    .k8s
                    .iter()
                    .filter(|o| o.kind() == "ClusterAnalysisTemplate")
                    .map(|o| o.name().to_string())
                    .collect();
                let mut refs = Vec::new();
                collect_template_refs(&o.value["spec"]["strategy"], &mut refs);
                for (name, is_cluster) in refs {
                    let found = if is_cluster { cluster.contains(&name) } else { templates.contains(&name) };
                    if !found {
                        sink.report(
                            "CV-WIRE-004",
                            &o.file,
                            o.line_of(&["spec", "strategy"]),
                            &o.id(),
                            format!("analysis template `{name}` does not exist"),
                            &w,
                        );
                    }
                }
            }
            _ => {}
        }
        let Some((pod, _)) = pod_spec(o) else { continue };
        // Secrets can come from Secret objects or from ExternalSecrets that create them.
        let mut secrets = in_ns(ns, "Secret");
        secrets.extend(
            inv.k8s
                .iter()
                .filter(|e| e.namespace() == ns && e.kind() == "ExternalSecret" && e.scope() == o.scope())
                .map(|e| e.value["spec"]["target"]["name"].as_str().unwrap_or(e.name()).to_string()),
        );
        let configmaps = in_ns(ns, "ConfigMap");
        let pvcs = in_ns(ns, "PersistentVolumeClaim");
        let mut missing: Vec<String> = Vec::new();
        for v in pod["volumes"].as_array().into_iter().flatten() {
            if let Some(s) = v["secret"]["secretName"].as_str().filter(|s| !secrets.contains(*s)) {
                missing.push(format!("Secret `{s}`"));
            }
            if let Some(c) = v["configMap"]["name"].as_str().filter(|c| !configmaps.contains(*c)) {
                missing.push(format!("ConfigMap `{c}`"));
            }
            if let Some(c) = v["persistentVolumeClaim"]["claimName"].as_str().filter(|c| !pvcs.contains(*c)) {
                missing.push(format!("PersistentVolumeClaim `{c}`"));
            }
        }
        for c in pod["containers"].as_array().into_iter().flatten() {
            for ef in c["envFrom"].as_array().into_iter().flatten() {
                let optional = |r: &Value| r["optional"] == true;
                if let Some(n) = ef["configMapRef"]["name"]
                    .as_str()
                    .filter(|n| !configmaps.contains(*n) && !optional(&ef["configMapRef"]))
                {
                    missing.push(format!("ConfigMap `{n}`"));
                }
                if let Some(n) =
                    ef["secretRef"]["name"].as_str().filter(|n| !secrets.contains(*n) && !optional(&ef["secretRef"]))
                {
                    missing.push(format!("Secret `{n}`"));
                }
            }
        }
        missing.sort();
        missing.dedup();
        for m in missing {
            sink.report(
                "CV-WIRE-003",
                &o.file,
                o.line,
                &o.id(),
                format!("references {m}, which is not in the inputs"),
                &w,
            );
        }

        // Availability: can a node drain proceed, and is a multi-replica workload protected?
        if !matches!(o.kind(), "Deployment" | "StatefulSet" | "Rollout") {
            continue;
        }
        let min = min_replicas(inv, o);
        let Some(labels) = pod_labels(o) else { continue };
        let pdbs: Vec<&K8sObject> = inv
            .k8s
            .iter()
            .filter(|p| {
                p.kind() == "PodDisruptionBudget"
                    && p.namespace() == ns
                    && p.scope() == o.scope()
                    && selects(&p.value["spec"]["selector"], &labels)
            })
            .collect();
        for p in &pdbs {
            let spec = &p.value["spec"];
            let blocks = match (&spec["maxUnavailable"], &spec["minAvailable"]) {
                (Value::Number(n), _) => n.as_i64() == Some(0),
                (Value::String(s), _) => s == "0%" || s == "0",
                (_, Value::Number(n)) => n.as_i64().is_some_and(|m| m >= min),
                (_, Value::String(s)) => s == "100%",
                _ => false,
            };
            if blocks {
                sink.report(
                    "CV-HA-001",
                    &p.file,
                    p.line,
                    &p.id(),
                    format!(
                        "allows no voluntary disruption of `{}` at its minimum of {min} replica(s): node drains stall",
                        o.name()
                    ),
                    &waivers(p),
                );
            }
        }
        if min >= 2 && pdbs.is_empty() {
            sink.report(
                "CV-HA-002",
                &o.file,
                o.line,
                &o.id(),
                format!("{min} replicas and no PodDisruptionBudget"),
                &w,
            );
        }
        let zone_spread = pod["topologySpreadConstraints"]
            .as_array()
            .is_some_and(|t| t.iter().any(|c| c["topologyKey"] == "topology.kubernetes.io/zone"));
        if min >= 2 && !zone_spread && pod["affinity"]["podAntiAffinity"].is_null() {
            sink.report(
                "CV-HA-003",
                &o.file,
                o.line,
                &o.id(),
                format!("{min} replicas with no zone spread or anti-affinity: one zone can hold them all"),
                &w,
            );
        }
    }
}

fn collect_template_refs(v: &Value, out: &mut Vec<(String, bool)>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::Array(ts)), true) = (m.get("templates"), m.contains_key("templates")) {
                for t in ts {
                    if let Some(name) = t["templateName"].as_str() {
                        out.push((name.to_string(), t["clusterScope"] == true));
                    }
                }
            }
            for (k, child) in m {
                if k != "templates" {
                    collect_template_refs(child, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_template_refs(x, out)),
        _ => {}
    }
}

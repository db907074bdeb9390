//! Cross-resource rules: references that resolve, selectors that select something, and
//! disruption budgets that still let a node drain.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::Sink;
use super::k8s::{self, pod_spec, waivers};
use crate::inventory::{Inventory, K8sObject};
use crate::reach::{first_match_label, labels_of, selects};

/// The labels of the pods a pod-bearing object creates; `None` for other objects.
fn pod_labels(o: &K8sObject) -> Option<BTreeMap<String, String>> {
    pod_spec(o)?;
    Some(labels_of(k8s::pod_labels(o)?))
}

/// The fewest replicas a workload runs with: its HPA/ScaledObject minimum if one targets it.
fn min_replicas(places: &Places<'_>, o: &K8sObject) -> i64 {
    let scaler_min = places.scaler_minimums(o).min();
    match (o.value["spec"]["replicas"].as_i64(), scaler_min) {
        (Some(replicas), Some(m)) => m.min(replicas),
        (Some(replicas), None) => replicas,
        // An autoscaled workload may leave `replicas` to its autoscaler (what GitOps tools
        // recommend, so a sync does not reset the count): the autoscaler's minimum is the floor.
        (None, Some(m)) => m,
        (None, None) => 1,
    }
}

/// (environment scope, namespace): the place an object lives in. Cross-resource references
/// never leave it.
type Place<'a> = (String, Option<&'a str>);

/// An object with its position in the input, so that lookups can answer in input order.
type Numbered<'a> = (usize, &'a K8sObject);

/// One `key: value` label.
type Label<'a> = (&'a str, &'a str);

/// Indexes over the Kubernetes objects, built once so that every cross-resource lookup costs
/// what it finds rather than a scan of the whole input: the checker stays linear in the number
/// of manifests however they are spread over namespaces.
struct Places<'a> {
    /// (place, kind, name) of every object; an ExternalSecret or a Certificate also names the
    /// Secret it creates.
    named: HashSet<(Place<'a>, &'a str, &'a str)>,
    /// Pod-bearing objects by place and each `label: value` of their pod template.
    pods_by_label: HashMap<(Place<'a>, &'a str, &'a str), Vec<&'a K8sObject>>,
    /// PodDisruptionBudgets by place and the first pair of their `matchLabels`; budgets with no
    /// such pair (expressions only, or no selector) under `None`.
    pdbs: HashMap<(Place<'a>, Option<Label<'a>>), Vec<Numbered<'a>>>,
    /// HPA `minReplicas` and ScaledObject `minReplicaCount` by place and target name.
    scalers: HashMap<(Place<'a>, &'a str), Vec<i64>>,
    /// StatefulSets by place and name: their pods carry labels the controller adds
    /// (`statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index`), which are not in
    /// the template and so not in `pods_by_label`.
    statefulsets: HashMap<(Place<'a>, &'a str), &'a K8sObject>,
}

/// Labels the StatefulSet controller sets on each pod it creates
/// (<https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#pod-name-label>).
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

impl<'a> Places<'a> {
    fn new(inv: &'a Inventory) -> Self {
        let mut places = Places {
            named: HashSet::new(),
            pods_by_label: HashMap::new(),
            pdbs: HashMap::new(),
            scalers: HashMap::new(),
            statefulsets: HashMap::new(),
        };
        for (i, o) in inv.k8s.iter().enumerate() {
            let place = (o.scope(), o.namespace());
            places.named.insert((place.clone(), o.kind(), o.name()));
            if o.kind() == "ExternalSecret" {
                let target = o.value["spec"]["target"]["name"].as_str().unwrap_or(o.name());
                places.named.insert((place.clone(), "Secret", target));
            }
            // A cert-manager Certificate writes its key pair to the Secret it names.
            if o.kind() == "Certificate"
                && let Some(target) = o.value["spec"]["secretName"].as_str()
            {
                places.named.insert((place.clone(), "Secret", target));
            }
            if o.kind() == "StatefulSet" && pod_spec(o).is_some() {
                places.statefulsets.insert((place.clone(), o.name()), o);
            }
            if let Some(labels) = pod_spec(o).and(k8s::pod_labels(o)).and_then(Value::as_object) {
                for (k, v) in labels.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))) {
                    places.pods_by_label.entry((place.clone(), k, v)).or_default().push(o);
                }
            }
            let spec = &o.value["spec"];
            let minimum = match o.kind() {
                "PodDisruptionBudget" => {
                    let key = first_match_label(&spec["selector"]);
                    places.pdbs.entry((place.clone(), key)).or_default().push((i, o));
                    None
                }
                "HorizontalPodAutoscaler" => spec["minReplicas"].as_i64(),
                "ScaledObject" => spec["minReplicaCount"].as_i64(),
                _ => None,
            };
            if let (Some(m), Some(target)) = (minimum, spec["scaleTargetRef"]["name"].as_str()) {
                places.scalers.entry((place, target)).or_default().push(m);
            }
        }
        places
    }

    /// Whether an object of `kind` called `name` lives in `o`'s place.
    fn has(&self, o: &'a K8sObject, kind: &'a str, name: &'a str) -> bool {
        self.named.contains(&((o.scope(), o.namespace()), kind, name))
    }

    /// Whether a Service's `selector` (a `matchLabels` map) selects a pod in its place.
    fn selects_a_pod(&self, service: &'a K8sObject, selector: &Value) -> bool {
        if let Some(pod) = selector["matchLabels"][POD_NAME_LABEL].as_str() {
            return self.selects_a_statefulset_pod(service, selector, pod);
        }
        let Some((k, v)) = first_match_label(selector) else { return false };
        self.pods_by_label
            .get(&((service.scope(), service.namespace()), k, v))
            .is_some_and(|pods| pods.iter().filter_map(|p| pod_labels(p)).any(|l| selects(selector, &l)))
    }

    /// Whether `selector`, which names the pod `pod` through the StatefulSet controller's
    /// pod-name label, selects a pod of a StatefulSet in `service`'s place: `pod` must be
    /// `<statefulset>-<ordinal>` with the ordinal among the ones the StatefulSet runs
    /// (`ordinals.start` .. + `replicas`), and the rest of the selector must match its template.
    fn selects_a_statefulset_pod(&self, service: &'a K8sObject, selector: &Value, pod: &str) -> bool {
        let Some((name, ordinal)) = pod.rsplit_once('-') else { return false };
        let Ok(ordinal) = ordinal.parse::<i64>() else { return false };
        let Some(sts) = self.statefulsets.get(&((service.scope(), service.namespace()), name)) else {
            return false;
        };
        let spec = &sts.value["spec"];
        let start = spec["ordinals"]["start"].as_i64().unwrap_or(0);
        // An autoscaler may run more pods than `replicas` says (or set the count when `replicas`
        // is left out), so an autoscaled StatefulSet bounds only the start.
        let autoscaled = self.scaler_minimums(sts).next().is_some();
        let replicas = spec["replicas"].as_i64().unwrap_or(1);
        if ordinal < start || (!autoscaled && ordinal >= start + replicas) {
            return false;
        }
        let mut labels = pod_labels(sts).unwrap_or_default();
        labels.insert(POD_NAME_LABEL.to_string(), pod.to_string());
        labels.insert(POD_INDEX_LABEL.to_string(), ordinal.to_string());
        selects(selector, &labels)
    }

    /// The PodDisruptionBudgets in `o`'s place that select pods with `labels`, in input order.
    fn pdbs_for(&self, o: &'a K8sObject, labels: &BTreeMap<String, String>) -> Vec<&'a K8sObject> {
        let place = (o.scope(), o.namespace());
        let keys = labels.iter().map(|(k, v)| Some((k.as_str(), v.as_str()))).chain([None]);
        let mut found: Vec<(usize, &K8sObject)> = keys
            .filter_map(|key| self.pdbs.get(&(place.clone(), key)))
            .flatten()
            .filter(|(_, p)| selects(&p.value["spec"]["selector"], labels))
            .copied()
            .collect();
        found.sort_by_key(|(i, _)| *i);
        found.into_iter().map(|(_, p)| p).collect()
    }

    fn scaler_minimums(&self, o: &'a K8sObject) -> impl Iterator<Item = i64> + '_ {
        self.scalers.get(&((o.scope(), o.namespace()), o.name())).into_iter().flatten().copied()
    }
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let places = Places::new(inv);
    let services: Vec<&K8sObject> = inv.k8s.iter().filter(|s| s.kind() == "Service").collect();
    let cluster_templates: BTreeSet<&str> =
        inv.k8s.iter().filter(|o| o.kind() == "ClusterAnalysisTemplate").map(K8sObject::name).collect();
    for o in &inv.k8s {
        let w = waivers(o);
        let ns = o.namespace();
        match o.kind() {
            "Service" => {
                let Some(sel) = o.value["spec"]["selector"].as_object().filter(|s| !s.is_empty()) else { continue };
                let sel = serde_json::json!({ "matchLabels": sel });
                let any = places.selects_a_pod(o, &sel);
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
                let any = services
                    .iter()
                    .filter(|s| {
                        let s_ns = s.namespace().unwrap_or("default");
                        (namespaces.is_empty() && Some(s_ns) == ns)
                            || namespaces.contains(&s_ns)
                            || o.value["spec"]["namespaceSelector"]["any"] == true
                    })
                    .any(|s| selects(sel, &labels_of(&s.value["metadata"]["labels"])));
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
                let mut refs = Vec::new();
                collect_template_refs(&o.value["spec"]["strategy"], &mut refs);
                for (name, is_cluster) in refs {
                    let found = if is_cluster {
                        cluster_templates.contains(name.as_str())
                    } else {
                        places.has(o, "AnalysisTemplate", &name)
                    };
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
        // Secrets can come from Secret objects or from ExternalSecrets that create them (indexed
        // under the Secret they create).
        let secret = |n: &str| places.has(o, "Secret", n);
        let configmap = |n: &str| places.has(o, "ConfigMap", n);
        let pvc = |n: &str| places.has(o, "PersistentVolumeClaim", n);
        // A reference marked `optional: true` may be missing: the kubelet starts the pod anyway.
        let optional = |r: &Value| r["optional"] == true;
        // The StatefulSet controller replaces a template volume named like one of its
        // `volumeClaimTemplates` with the claim it creates for each pod (`<template>-<pod>`).
        let claim_templates: BTreeSet<&str> = if o.kind() == "StatefulSet" {
            o.value["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["metadata"]["name"].as_str())
                .collect()
        } else {
            BTreeSet::new()
        };
        let mut missing: Vec<String> = Vec::new();
        for v in pod["volumes"].as_array().into_iter().flatten() {
            if v["name"].as_str().is_some_and(|n| claim_templates.contains(n)) {
                continue;
            }
            if let Some(s) = v["secret"]["secretName"].as_str().filter(|s| !secret(s) && !optional(&v["secret"])) {
                missing.push(format!("Secret `{s}`"));
            }
            if let Some(c) = v["configMap"]["name"].as_str().filter(|c| !configmap(c) && !optional(&v["configMap"])) {
                missing.push(format!("ConfigMap `{c}`"));
            }
            if let Some(c) = v["persistentVolumeClaim"]["claimName"].as_str().filter(|c| !pvc(c)) {
                missing.push(format!("PersistentVolumeClaim `{c}`"));
            }
        }
        for c in pod["containers"].as_array().into_iter().flatten() {
            for ef in c["envFrom"].as_array().into_iter().flatten() {
                if let Some(n) =
                    ef["configMapRef"]["name"].as_str().filter(|n| !configmap(n) && !optional(&ef["configMapRef"]))
                {
                    missing.push(format!("ConfigMap `{n}`"));
                }
                if let Some(n) = ef["secretRef"]["name"].as_str().filter(|n| !secret(n) && !optional(&ef["secretRef"]))
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
        let min = min_replicas(&places, o);
        let Some(labels) = pod_labels(o) else { continue };
        let pdbs = places.pdbs_for(o, &labels);
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

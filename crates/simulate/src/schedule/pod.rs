//! What kube-scheduler reads from a pod, and the label/taint matching it does.
//!
//! Modelled: tolerations against `NoSchedule`/`NoExecute` taints (`PreferNoSchedule` only scores
//! in the scheduler and is ignored here), `nodeSelector`, required node affinity (terms ORed,
//! expressions ANDed; `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`), topology spread
//! constraints on the zone or hostname key (other keys are ignored and listed in the report) with
//! their `nodeAffinityPolicy`, `nodeTaintsPolicy` and `minDomains`, and
//! required pod anti-affinity on those keys. Preferred (soft) node and pod affinity is ignored.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeSelector, NodeSelectorRequirement, PodAffinityTerm, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use super::{Controller, SchedulingData};
use crate::SimError;
use crate::cluster::{Cluster, HOSTNAME_LABEL, ZONE_LABEL};
use crate::objects::{OwnerKind, Requests, Workload};

/// Topology domain kinds the model counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Zone,
    Host,
    /// `eks.amazonaws.com/capacityType`: on-demand or spot, from the node's group.
    Capacity,
}

/// The label EKS puts on every managed node group's nodes: `ON_DEMAND` or `SPOT`.
pub const CAPACITY_TYPE_LABEL: &str = "eks.amazonaws.com/capacityType";

impl Topology {
    pub fn from_key(key: &str) -> Option<Topology> {
        match key {
            ZONE_LABEL => Some(Topology::Zone),
            HOSTNAME_LABEL => Some(Topology::Host),
            CAPACITY_TYPE_LABEL => Some(Topology::Capacity),
            _ => None,
        }
    }
}

/// A topology spread constraint, its selector resolved to the pod models whose pods it counts.
#[derive(Debug, Clone)]
pub struct Spread {
    pub topology: Topology,
    pub max_skew: u32,
    /// `DoNotSchedule`: a filter; `ScheduleAnyway`: a score.
    pub hard: bool,
    /// Pod models (indices) whose pods the selector matches.
    pub counts: Vec<usize>,
    /// Whether the pod matches its own selector (kube-scheduler's `selfMatchNum`).
    pub self_match: bool,
    /// `nodeAffinityPolicy` is `Honor` (the default): only nodes the pod's node selection
    /// accepts are domains, and only their pods are counted. `Ignore`: every node.
    pub honor_affinity: bool,
    /// `nodeTaintsPolicy` is `Honor`: nodes with a `NoSchedule`/`NoExecute` taint the pod does
    /// not tolerate are no domains. `Ignore` (the default): taints do not matter.
    pub honor_taints: bool,
    /// `minDomains` (`DoNotSchedule` only): with fewer eligible domains, the global minimum is 0.
    pub min_domains: Option<u32>,
}

/// A required pod anti-affinity term, resolved like [`Spread`].
#[derive(Debug, Clone)]
pub struct AntiAffinity {
    pub topology: Topology,
    pub counts: Vec<usize>,
}

/// One kind of pod: every pod of a workload (or of a chart's controller) is alike.
#[derive(Debug, Clone)]
pub struct PodModel {
    /// `namespace/name` of the workload, or `namespace/chart:component` for a controller.
    pub id: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub requests: Requests,
    pub priority: i32,
    /// `preemptionPolicy` is not `Never`: it may evict lower-priority pods.
    pub preempts: bool,
    /// Pods wanted at steady state.
    pub replicas: u32,
    /// A rendered workload (judged), not a chart's controller (capacity only).
    pub rendered: bool,
    pub long_running: bool,
    /// A StatefulSet whose volume claims are on a zonal (EBS) storage class: each pod is bound
    /// to the zone its volume is in. Set by the scenarios from the rendered objects.
    pub zonal_volumes: bool,
    pub tolerations: Vec<Toleration>,
    pub node_selector: BTreeMap<String, String>,
    pub required_affinity: Option<NodeSelector>,
    raw_spread: Vec<TopologySpreadConstraint>,
    raw_anti: Vec<PodAffinityTerm>,
    /// Resolved by [`resolve`].
    pub spread: Vec<Spread>,
    /// Its own required anti-affinity terms, and (mirrored) those of other models that match
    /// it: a pod is kept out of a domain holding a pod whose term matches it (both ways).
    pub anti: Vec<AntiAffinity>,
    /// Constraints on keys the model does not count (reported, not applied).
    pub ignored: Vec<String>,
}

impl PodModel {
    /// The pods of a rendered workload. `replicas` is what it runs at steady state.
    pub fn from_workload(w: &Workload, replicas: u32) -> PodModel {
        let pod = &w.pod;
        let affinity = pod.affinity.as_ref();
        PodModel {
            id: w.id(),
            namespace: w.namespace.clone(),
            labels: w.labels.clone(),
            requests: w.requests,
            priority: w.priority,
            preempts: w.preempts,
            replicas,
            rendered: true,
            long_running: w.kind.is_long_running() && w.kind != OwnerKind::DaemonSet,
            zonal_volumes: false,
            tolerations: pod.tolerations.clone().unwrap_or_default(),
            node_selector: pod.node_selector.clone().unwrap_or_default(),
            required_affinity: affinity
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|n| n.required_during_scheduling_ignored_during_execution.clone()),
            raw_spread: pod.topology_spread_constraints.clone().unwrap_or_default(),
            raw_anti: affinity
                .and_then(|a| a.pod_anti_affinity.as_ref())
                .and_then(|p| p.required_during_scheduling_ignored_during_execution.clone())
                .unwrap_or_default(),
            spread: Vec::new(),
            anti: Vec::new(),
            ignored: Vec::new(),
        }
    }

    /// The pods of a chart's controller, from the environment's values of that chart (`None`
    /// when the chart is not installed or the component is switched off).
    pub fn from_controller(
        c: &Controller,
        values: Option<&Value>,
        data: &SchedulingData,
        priority_classes: &BTreeMap<String, i32>,
        non_preempting: &std::collections::BTreeSet<String>,
    ) -> Result<Option<PodModel>, SimError> {
        let Some(values) = values else { return Ok(None) };
        if let Some(flag) = &c.enabled
            && !values.pointer(&flag.pointer).and_then(Value::as_bool).unwrap_or(flag.default)
        {
            return Ok(None);
        }
        let replicas = values
            .pointer(&c.replicas.pointer)
            .and_then(Value::as_u64)
            .map_or(c.replicas.default, |n| n.min(u64::from(u32::MAX)) as u32);
        let req = values.pointer(&c.requests.pointer);
        let quantity = |key: &str, default: &str| -> Result<f64, SimError> {
            let text = match req.and_then(|r| r.get(key)) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => default.to_string(),
            };
            cerverus_model::quantity::parse(&text).ok_or_else(|| {
                SimError::Input(format!(
                    "{} values: `{}` {key} request `{text}` is not a quantity",
                    c.chart, c.component
                ))
            })
        };
        let requests = Requests {
            cpu: quantity("cpu", &c.requests.cpu)?,
            memory_gib: quantity("memory", &c.requests.memory)? / (1024.0 * 1024.0 * 1024.0),
            gpu: 0,
        };
        let class = c.priority_class.as_ref().and_then(|p| values.pointer(&p.pointer)).and_then(Value::as_str);
        let priority = class.map_or(0, |name| {
            data.builtin_priority_classes.get(name).or_else(|| priority_classes.get(name)).copied().unwrap_or(0)
        });
        // The built-in system classes preempt; a rendered class may say Never.
        let preempts = class.is_none_or(|name| !non_preempting.contains(name));
        let labels = BTreeMap::from([
            ("app.kubernetes.io/instance".to_string(), c.chart.clone()),
            ("app.kubernetes.io/component".to_string(), c.component.clone()),
        ]);
        let mut raw_anti = Vec::new();
        if let Some(a) = &c.anti_affinity {
            let mode = values.pointer(&a.pointer).and_then(Value::as_str).unwrap_or(&a.default);
            if mode == a.hard_when {
                let key = values
                    .pointer(&a.topology_key_pointer)
                    .and_then(Value::as_str)
                    .unwrap_or(&a.default_topology_key)
                    .to_string();
                raw_anti.push(PodAffinityTerm {
                    label_selector: Some(LabelSelector { match_labels: Some(labels.clone()), match_expressions: None }),
                    topology_key: key,
                    ..Default::default()
                });
            }
        }
        Ok(Some(PodModel {
            id: format!("{}/{}:{}", c.namespace, c.chart, c.component),
            namespace: c.namespace.clone(),
            labels,
            requests,
            priority,
            preempts,
            replicas,
            rendered: false,
            long_running: true,
            zonal_volumes: false,
            tolerations: Vec::new(),
            node_selector: BTreeMap::new(),
            required_affinity: None,
            raw_spread: Vec::new(),
            raw_anti,
            spread: Vec::new(),
            anti: Vec::new(),
            ignored: Vec::new(),
        }))
    }

    /// Whether the pod tolerates every `NoSchedule`/`NoExecute` taint of group `g`.
    pub fn tolerates_group(&self, cluster: &Cluster, g: usize) -> bool {
        cluster.groups[g]
            .taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .all(|t| self.tolerations.iter().any(|tol| tolerates(tol, &t.key, &t.value, &t.effect)))
    }

    /// Whether node selection (`nodeSelector` and required node affinity) accepts a node with
    /// labels `label`.
    pub fn selects<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        if !self.node_selector.iter().all(|(k, v)| label(k) == Some(v.as_str())) {
            return false;
        }
        match &self.required_affinity {
            None => true,
            Some(sel) => sel.node_selector_terms.iter().any(|term| {
                // A term with no expressions matches nothing (Kubernetes' rule).
                let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
                !exprs.is_empty() && exprs.iter().all(|r| requirement(r, label(&r.key)))
            }),
        }
    }

    /// Whether a pod like this would run on a node of group `g` in zone `zone` (taints and
    /// node selection only).
    pub fn runs_on_group(&self, cluster: &Cluster, g: usize, zone: usize) -> bool {
        let group = &cluster.groups[g];
        self.tolerates_group(cluster, g)
            && self.selects(|k| match k {
                ZONE_LABEL => cluster.zones.get(zone).map(String::as_str),
                HOSTNAME_LABEL => None,
                _ => group.labels.get(k).map(String::as_str),
            })
    }
}

/// Resolve every model's spread constraints and anti-affinity terms to the models they count.
/// `default_spread`: kube-scheduler's internal defaults, for long-running pods without constraints.
pub fn resolve(models: &mut [PodModel], default_spread: &[(String, u32)]) {
    let selected = |models: &[PodModel], ns: &str, sel: Option<&LabelSelector>| -> Vec<usize> {
        let Some(sel) = sel else { return Vec::new() };
        models
            .iter()
            .enumerate()
            .filter(|(_, m)| m.namespace == ns && selector_matches(sel, &m.labels))
            .map(|(i, _)| i)
            .collect()
    };
    for i in 0..models.len() {
        let mut spread = Vec::new();
        let mut ignored = Vec::new();
        for c in &models[i].raw_spread {
            let Some(topology) = Topology::from_key(&c.topology_key) else {
                ignored.push(format!("topologySpreadConstraint on `{}`", c.topology_key));
                continue;
            };
            let counts = selected(models, &models[i].namespace, c.label_selector.as_ref());
            spread.push(Spread {
                topology,
                max_skew: c.max_skew.max(1) as u32,
                hard: c.when_unsatisfiable == "DoNotSchedule",
                self_match: counts.contains(&i),
                counts,
                honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                min_domains: c.min_domains.filter(|d| *d > 0).map(|d| d as u32),
            });
        }
        if models[i].raw_spread.is_empty() && models[i].long_running {
            // The scheduler's system defaults spread a Service's / controller's pods softly.
            for (key, skew) in default_spread {
                if let Some(topology) = Topology::from_key(key) {
                    spread.push(Spread {
                        topology,
                        max_skew: *skew,
                        hard: false,
                        counts: vec![i],
                        self_match: true,
                        honor_affinity: true,
                        honor_taints: false,
                        min_domains: None,
                    });
                }
            }
        }
        let mut anti = Vec::new();
        for t in &models[i].raw_anti {
            // Anti-affinity is modelled on zones and hosts only.
            let Some(topology) = Topology::from_key(&t.topology_key).filter(|t| *t != Topology::Capacity) else {
                ignored.push(format!("podAntiAffinity on `{}`", t.topology_key));
                continue;
            };
            let namespaces = t.namespaces.clone().unwrap_or_default();
            let mut counts = Vec::new();
            for (j, m) in models.iter().enumerate() {
                let ns_ok = if namespaces.is_empty() {
                    m.namespace == models[i].namespace
                } else {
                    namespaces.contains(&m.namespace)
                };
                if ns_ok && t.label_selector.as_ref().is_some_and(|s| selector_matches(s, &m.labels)) {
                    counts.push(j);
                }
            }
            anti.push(AntiAffinity { topology, counts });
        }
        models[i].spread = spread;
        models[i].anti = anti;
        models[i].ignored = ignored;
    }
    // Required anti-affinity is symmetric in kube-scheduler's InterPodAffinity filter: an
    // incoming pod is also kept out of a domain holding an existing pod whose own anti-affinity
    // term matches it. So a term of `i` matching `j` becomes a term of `j` against `i`.
    let mut mirrored = Vec::new();
    for (i, m) in models.iter().enumerate() {
        for a in &m.anti {
            mirrored.extend(a.counts.iter().filter(|j| **j != i).map(|j| (*j, a.topology, i)));
        }
    }
    for (j, topology, i) in mirrored {
        models[j].anti.push(AntiAffinity { topology, counts: vec![i] });
    }
}

/// Kubernetes' toleration rule: an empty key with `Exists` tolerates everything; an empty effect
/// matches every effect; `Equal` (the default operator) compares the value.
pub fn tolerates(t: &Toleration, key: &str, value: &str, effect: &str) -> bool {
    if let Some(e) = t.effect.as_deref()
        && !e.is_empty()
        && e != effect
    {
        return false;
    }
    let op = t.operator.as_deref().unwrap_or("Equal");
    let tkey = t.key.as_deref().unwrap_or("");
    match op {
        "Exists" => tkey.is_empty() || tkey == key,
        _ => tkey == key && t.value.as_deref().unwrap_or("") == value,
    }
}

/// A node selector requirement against the node's value of its key.
fn requirement(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(v), Some(x)) if v > x),
        "Lt" => matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(v), Some(x)) if v < x),
        _ => false,
    }
}

/// A label selector against a pod's labels (`matchLabels` and `matchExpressions`).
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let ml = sel.match_labels.as_ref().is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let me = sel.match_expressions.as_ref().is_none_or(|es| {
        es.iter().all(|e| {
            let values = e.values.as_deref().unwrap_or(&[]);
            let v = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => v.is_some_and(|v| values.contains(v)),
                "NotIn" => v.is_none_or(|v| !values.contains(v)),
                "Exists" => v.is_some(),
                "DoesNotExist" => v.is_none(),
                _ => false,
            }
        })
    });
    ml && me
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: "k".into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn node_affinity_operators() {
        assert!(requirement(&req("In", &["a", "b"]), Some("b")));
        assert!(!requirement(&req("In", &["a"]), None));
        assert!(requirement(&req("NotIn", &["a"]), None));
        assert!(!requirement(&req("NotIn", &["a"]), Some("a")));
        assert!(requirement(&req("Exists", &[]), Some("x")));
        assert!(requirement(&req("DoesNotExist", &[]), None));
        assert!(requirement(&req("Gt", &["3"]), Some("4")));
        assert!(!requirement(&req("Gt", &["3"]), Some("3")));
        assert!(requirement(&req("Lt", &["3"]), Some("2")));
        assert!(!requirement(&req("Lt", &["x"]), Some("2")));
    }

    #[test]
    fn toleration_rules() {
        let t = |k: Option<&str>, op: Option<&str>, v: Option<&str>, e: Option<&str>| Toleration {
            key: k.map(Into::into),
            operator: op.map(Into::into),
            value: v.map(Into::into),
            effect: e.map(Into::into),
            toleration_seconds: None,
        };
        assert!(tolerates(&t(None, Some("Exists"), None, None), "any", "x", "NoSchedule"));
        assert!(tolerates(&t(Some("a"), None, Some("v"), Some("NoSchedule")), "a", "v", "NoSchedule"));
        assert!(!tolerates(&t(Some("a"), None, Some("w"), Some("NoSchedule")), "a", "v", "NoSchedule"));
        assert!(!tolerates(&t(Some("a"), Some("Exists"), None, Some("NoExecute")), "a", "v", "NoSchedule"));
        assert!(tolerates(&t(Some("a"), Some("Exists"), None, None), "a", "v", "NoExecute"));
    }
}

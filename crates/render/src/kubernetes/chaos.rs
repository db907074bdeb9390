//! Chaos experiments (Chaos Mesh) for the environments that install Chaos Mesh — every
//! non-production one; production has neither the chart nor an experiment.
//!
//! The experiments are **artifacts, not synced objects**: a PodChaos or NetworkChaos acts as soon
//! as it exists, so they are rendered to `chaos/<env>/` (see [`experiments`]), outside
//! `kubernetes/<env>/` which Argo CD syncs. An operator runs one with
//! `kubectl apply -f chaos/staging/<file>` while watching the dashboards, and ends it with
//! `kubectl delete -f` (a partition or zone outage also ends by itself after its duration).
//!
//! - **Pod kill**: one pod of each critical long-running workload — the service must ride
//!   through it (replicas, PDB, readiness).
//! - **Network partition between namespaces**: for each declared call from a workload to a
//!   workload in another namespace (the dependency graph), both directions cut for 5 minutes
//!   (e.g. alerts-api in cerverus-system ↔ inference-service in cerverus-ml): the caller's
//!   timeouts, retries and degradation are what is tested.
//! - **Losing one zone**: per availability zone, every pod of the platform's namespaces on that
//!   zone's nodes loses every packet it sends for 10 minutes (NetworkChaos `loss` 100%, no
//!   target): nothing reaches them or hears from them, their probes fail and they leave their
//!   Services' endpoints, as in a zone that stops answering before its nodes are marked
//!   NotReady; spreading across zones and the other zones' capacity carry the load. Not
//!   `pod-failure`: that action patches every container image of the pods to a `pause:latest`
//!   image, and the application namespaces' Gatekeeper constraints (allowed registries, digest
//!   pins, enforced with `deny` outside production too) refuse that Pod update, so the
//!   experiment would never inject. AWSChaos `ec2-stop` would need AWS credentials in the
//!   cluster and has no schema here. The loss is a `netem` qdisc that chaos-daemon adds inside
//!   the pods' network namespaces, so the nodes' kernel must be able to load `sch_netem`: a
//!   first run that ends in `Specified qdisc not found` (chaos-daemon's log, the experiment's
//!   events) means the node image lacks the module, not that the zone held.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform, Target, Workload};
use cerverus_spec::{Tier, WorkloadKind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::Objects;
use super::crd::Resource;
use super::crd::chaos::{Loss, NetworkChaosSpec, NetworkTarget, PodChaosSpec, PodSelector};
use super::{labels, yaml};
use crate::RenderError;
use crate::addons::CHARTS;

/// Chaos Mesh's namespace; the experiments live there and select pods in other namespaces
/// (the chart's default cluster scope).
pub const CHAOS_NAMESPACE: &str = "chaos-mesh";
/// The node label of the availability zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const API_VERSION: &str = "chaos-mesh.org/v1alpha1";
const PARTITION_DURATION: &str = "5m";
const ZONE_OUTAGE_DURATION: &str = "10m";

/// Nothing is synced from here: see [`experiments`].
pub(super) fn render(_platform: &Platform, _env: &Env, _out: &mut Objects) -> Result<(), RenderError> {
    Ok(())
}

/// Whether the environment installs Chaos Mesh (and so gets experiments).
pub fn enabled(env: &Env) -> bool {
    CHARTS.iter().any(|c| c.namespace == CHAOS_NAMESPACE && c.installed_in(env))
}

/// The experiment files of one environment, for the bundle prefix `chaos/<env>/`; empty in
/// production.
pub fn experiments(_platform: &Platform, env: &Env) -> Result<Bundle, RenderError> {
    let mut b = Bundle::new();
    if !enabled(env) {
        return Ok(b);
    }
    for w in env.workloads.iter().filter(|w| w.spec.tier == Tier::Critical && long_running(w)) {
        let name = format!("pod-kill-{}", w.name());
        let spec = PodChaosSpec {
            action: "pod-kill",
            mode: "one",
            selector: workload_selector(w),
            duration: None,
            grace_period: Some(0),
        };
        add(&mut b, "PodChaos", &name, "pod-kill", spec)?;
    }
    for (from, to) in cross_namespace_calls(env) {
        let name = format!("partition-{}-{}", from.name(), to.name());
        let spec = NetworkChaosSpec {
            action: "partition",
            mode: "all",
            selector: workload_selector(from),
            direction: "both",
            target: Some(NetworkTarget { mode: "all", selector: workload_selector(to) }),
            loss: None,
            duration: PARTITION_DURATION.to_string(),
        };
        add(&mut b, "NetworkChaos", &name, "network-partition", spec)?;
    }
    let namespaces: BTreeSet<String> = env.workloads.iter().map(|w| w.namespace().to_string()).collect();
    for az in &env.network.azs {
        let name = format!("zone-outage-{az}");
        let spec = NetworkChaosSpec {
            action: "loss",
            mode: "all",
            selector: PodSelector {
                namespaces: namespaces.iter().cloned().collect(),
                label_selectors: BTreeMap::new(),
                node_selectors: BTreeMap::from([(ZONE_LABEL.to_string(), az.clone())]),
            },
            // Every packet the pods send, to anyone: `to` is the only direction Chaos Mesh
            // accepts for a netem action without a target.
            direction: "to",
            target: None,
            loss: Some(Loss { loss: "100".to_string(), correlation: "100".to_string() }),
            duration: ZONE_OUTAGE_DURATION.to_string(),
        };
        add(&mut b, "NetworkChaos", &name, "zone-outage", spec)?;
    }
    Ok(b)
}

/// Workloads that keep pods running (a Job or CronJob has none to kill most of the time).
fn long_running(w: &Workload) -> bool {
    matches!(w.spec.kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet)
}

/// The pods of one workload: its namespace and selector labels.
fn workload_selector(w: &Workload) -> PodSelector {
    PodSelector {
        namespaces: vec![w.namespace().to_string()],
        label_selectors: labels::selector(w),
        node_selectors: BTreeMap::new(),
    }
}

/// (caller, callee) for each workload-to-workload edge that crosses namespaces, once per pair.
fn cross_namespace_calls(env: &Env) -> Vec<(&Workload, &Workload)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for e in &env.graph.edges {
        let Target::Workload { name, namespace, .. } = &e.to else { continue };
        if *namespace == e.from_namespace || !seen.insert((e.from.clone(), name.clone())) {
            continue;
        }
        if let (Some(from), Some(to)) = (env.workload(&e.from), env.workload(name))
            && long_running(from)
            && long_running(to)
        {
            out.push((from, to));
        }
    }
    out
}

fn add<S: Serialize>(
    b: &mut Bundle,
    kind: &'static str,
    name: &str,
    experiment: &str,
    spec: S,
) -> Result<(), RenderError> {
    let mut l = labels::common("cerverus");
    l.insert("cerverus.io/experiment".to_string(), experiment.to_string());
    let obj = Resource {
        api_version: API_VERSION,
        kind,
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(CHAOS_NAMESPACE.to_string()),
            labels: Some(l),
            ..Default::default()
        },
        spec,
    };
    let path = format!("{}-{name}.yaml", kind.to_ascii_lowercase());
    let text = yaml::document(&obj).map_err(|e| RenderError::Yaml(path.clone(), e.to_string()))?;
    b.add(path, text)?;
    Ok(())
}

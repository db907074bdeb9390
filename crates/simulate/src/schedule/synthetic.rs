//! A synthetic cluster for the performance bound (benchmark and test): `nodes` nodes of one
//! multi-AZ group over three zones, and `pods` pods in workloads of 20 replicas, each spread over
//! zones with `DoNotSchedule` (maxSkew 1) and over hosts with `ScheduleAnyway`, at three
//! priorities. Not a model of anything real; sized so every pod fits at steady state.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::engine::{CaConfig, Sched};
use super::pod::{self, PodModel};
use crate::cluster::{Cluster, Group, HOSTNAME_LABEL, ZONE_LABEL};
use crate::objects::{OwnerKind, Release, Requests, Workload};

/// The cluster at steady state: every pod placed (Cluster Autoscaler may add nodes up to
/// `nodes` × 1.2).
pub fn steady(nodes: u32, pods: u32) -> Sched {
    let zones: Vec<String> = ["zone-a", "zone-b", "zone-c"].iter().map(|z| z.to_string()).collect();
    let group = Group {
        name: "workers".into(),
        pool: "workers".into(),
        spot: false,
        instance_type: "m5.2xlarge".into(),
        min: nodes,
        desired: nodes,
        max: nodes + nodes / 5,
        zone: None,
        allocatable: Requests { cpu: 7.5, memory_gib: 27.8, gpu: 0 },
        labels: BTreeMap::from([("pool".to_string(), "workers".to_string())]),
        taints: Vec::new(),
    };
    let mut cluster = Cluster {
        zone_up: vec![true; zones.len()],
        group_up: vec![true],
        zones,
        groups: vec![group],
        nodes: Vec::new(),
    };
    for _ in 0..nodes {
        cluster.launch(0, false);
    }
    let per = 20;
    let mut models = Vec::new();
    for i in 0..pods.div_ceil(per) {
        let name = format!("app-{i:03}");
        let labels = BTreeMap::from([("app".to_string(), name.clone())]);
        let spread = |key: &str, when: &str| TopologySpreadConstraint {
            label_selector: Some(LabelSelector { match_labels: Some(labels.clone()), match_expressions: None }),
            max_skew: 1,
            topology_key: key.into(),
            when_unsatisfiable: when.into(),
            // As the renderer sets it: a lost zone's NotReady nodes leave the domains.
            node_taints_policy: Some("Honor".into()),
            ..Default::default()
        };
        let w = Workload {
            namespace: "bench".into(),
            name,
            kind: OwnerKind::Deployment,
            replicas: per.min(pods - i * per),
            labels: labels.clone(),
            pod: PodSpec {
                node_selector: Some(BTreeMap::from([("pool".to_string(), "workers".to_string())])),
                topology_spread_constraints: Some(vec![
                    spread(ZONE_LABEL, "DoNotSchedule"),
                    spread(HOSTNAME_LABEL, "ScheduleAnyway"),
                ]),
                ..Default::default()
            },
            requests: Requests { cpu: 0.5, memory_gib: 1.0, gpu: 0 },
            mesh_sidecar: false,
            tier: None,
            priority: [1000, 10_000, 100_000][(i % 3) as usize],
            preempts: true,
            release: Release::Rolling,
            autoscaler: None,
            budget: None,
            image: String::new(),
            parallel_pod_management: true,
        };
        models.push(PodModel::from_workload(&w, w.replicas));
    }
    pod::resolve(&mut models, &[]);
    let ca = CaConfig {
        installed: true,
        expanders: vec!["random".into()],
        priorities: Vec::new(),
        balance_similar: false,
        scale_down_threshold: 0.5,
    };
    let mut sched = Sched::new(cluster, models, ca);
    sched.run(true);
    sched
}

/// Lose `zone` (index) of a steady synthetic cluster and reschedule: the AZ-loss scenario's work.
pub fn az_loss(steady: &Sched, zone: usize) -> Sched {
    let mut s = steady.clone();
    s.cluster.zone_up[zone] = false;
    // The scenario's zone outage: the nodes stay as NotReady, tainted Node objects.
    match super::data() {
        Ok(d) => s.lose_zone(zone, &d.unreachable_taint),
        Err(_) => s.lose(|c, n| c.nodes[n].zone == zone),
    };
    s.run(true);
    s
}

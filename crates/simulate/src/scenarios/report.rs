//! The capacity report: what each scenario did to each workload and pool, with the numbers a
//! text table and the per-AZ placement chart are drawn from, and the verdicts.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Verdict;
use crate::cluster::Shares;
use crate::schedule::CaConfig;

/// Result of the capacity scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    /// The environment's availability zones (the order of every `per_zone` list).
    pub zones: Vec<String>,
    /// The node groups as modelled.
    pub groups: Vec<GroupInfo>,
    /// Cluster Autoscaler as its chart values configure it.
    pub cluster_autoscaler: CaConfig,
    /// The utilisation band steady state is judged against (fractions).
    pub utilisation_band: [f64; 2],
    /// Steady state; `None` when not selected (the other scenarios start from it regardless).
    pub steady: Option<SteadyReport>,
    /// `az-loss:<zone>` (each zone), `node-loss`, `spot-loss`, `surge`, as selected.
    pub scenarios: Vec<ScenarioResult>,
    /// Modelling notes: how DaemonSets and controllers are counted, constraints not modelled.
    pub notes: Vec<String>,
}

/// One node group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupInfo {
    pub name: String,
    pub pool: String,
    pub instance_type: String,
    pub spot: bool,
    /// Pinned zone of a `perZone` group.
    pub zone: Option<String>,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    /// Allocatable of one node for workload pods: cpu cores, memory GiB, GPUs.
    pub allocatable_cpu: f64,
    pub allocatable_memory_gib: f64,
    pub allocatable_gpu: u32,
}

/// Steady state: the nodes Cluster Autoscaler keeps and how full they are.
#[derive(Debug, Clone, Serialize)]
pub struct SteadyReport {
    /// The figure judged against the band: on the kept nodes of the NON-GPU pools, total pod
    /// requests over total allocatable per resource, the dominant (larger) of cpu and memory.
    /// GPU pools are left out: one pod takes a GPU node's GPU while most of its cpu and memory
    /// stay free, and averaging such nodes in would say nothing about the general pools' sizing.
    pub utilisation: f64,
    /// `cpu` or `memory`: which resource `utilisation` is.
    pub dominant: String,
    /// The judged (non-GPU) pools' shares per resource.
    pub judged: Shares,
    /// The GPU pools' shares (`gpu`: GPUs requested over GPUs allocatable); reported, not judged.
    pub gpu_pools: Shares,
    /// Nodes Cluster Autoscaler removed (under its scale-down threshold, pods fit elsewhere).
    pub nodes_scaled_down: u32,
    pub nodes: Vec<NodeUse>,
    pub result: ScenarioResult,
}

/// One kept node at steady state.
#[derive(Debug, Clone, Serialize)]
pub struct NodeUse {
    pub name: String,
    pub group: String,
    pub zone: String,
    pub utilisation: f64,
    pub cpu_requested: f64,
    pub memory_gib_requested: f64,
    pub gpu_requested: u32,
    pub pods: u32,
}

/// What one scenario did.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// `steady`, `az-loss:<zone>`, `node-loss`, `spot-loss`, `surge`.
    pub scenario: String,
    /// What was lost or changed, for a person.
    pub event: String,
    pub nodes_lost: u32,
    /// Node group → nodes Cluster Autoscaler added in the scenario.
    pub nodes_added: BTreeMap<String, u32>,
    pub workloads: Vec<WorkloadResult>,
    pub pools: Vec<PoolUse>,
}

/// One workload (or chart controller) in one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadResult {
    /// `namespace/name`; chart controllers: `namespace/chart:component`.
    pub id: String,
    /// `Deployment`, `StatefulSet`, `Rollout`, `Job`, `CronJob`, `Controller` (chart-installed).
    pub kind: String,
    /// Whether HA is judged on it (rendered, long-running); Jobs, CronJobs and chart controllers
    /// only take capacity.
    pub judged: bool,
    pub priority: i32,
    /// Pods it should run in this scenario (steady replicas; the surge's replicas under surge).
    pub wanted: u32,
    /// Pods placed (available) once rescheduled, Cluster Autoscaler having scaled what it could.
    pub placed: u32,
    /// Pods still running right after the loss, before any rescheduling (loss scenarios).
    pub surviving: Option<u32>,
    /// Its minimum replicas (autoscaler min, else replicas).
    pub min: u32,
    /// Its PodDisruptionBudget's minimum available of `wanted`.
    pub pdb_min_available: Option<u32>,
    /// Pods placed per zone, in `CapacityReport::zones` order.
    pub per_zone: Vec<u32>,
    pub pending: u32,
    /// Pods that cannot come back while the zone is lost: a StatefulSet's pods whose volumes
    /// (zonal EBS) are in it (AZ loss only).
    pub stranded: u32,
    /// New pods the autoscaler adds in place of the stranded ones (a total metric that grows
    /// while capacity is missing, and a controller that creates pods in parallel).
    pub replaced: u32,
    /// Pods evicted by higher-priority pods in the scenario.
    pub preempted: u32,
    /// The verdict, for judged workloads.
    pub pass: Option<bool>,
    pub detail: String,
}

/// One node group in one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct PoolUse {
    pub group: String,
    pub pool: String,
    /// Alive nodes at the end of the scenario.
    pub nodes: u32,
    pub max: u32,
    /// Its alive nodes' pooled requests over allocatable: the GPU share for a GPU pool, else the
    /// dominant of cpu and memory (as in [`SteadyReport::utilisation`]).
    pub utilisation: f64,
    /// Its alive nodes' pooled shares per resource.
    pub shares: Shares,
}

impl CapacityReport {
    pub fn verdicts(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        if let Some(s) = &self.steady {
            let [low, high] = self.utilisation_band;
            out.push(Verdict {
                scenario: "steady".into(),
                subject: "cluster".into(),
                pass: s.utilisation >= low && s.utilisation <= high,
                detail: format!(
                    "utilisation {:.0} % ({}, the dominant of cpu {:.0} % and memory {:.0} %: total requests over total allocatable on the {} kept non-GPU nodes) vs the {:.0}–{:.0} % band{}",
                    s.utilisation * 100.0,
                    s.dominant,
                    s.judged.cpu * 100.0,
                    s.judged.memory * 100.0,
                    s.judged.nodes,
                    low * 100.0,
                    high * 100.0,
                    match s.gpu_pools.gpu {
                        Some(g) => format!(
                            "; GPU pools not judged: {} nodes, GPU share {:.0} % (cpu {:.0} %, memory {:.0} %)",
                            s.gpu_pools.nodes,
                            g * 100.0,
                            s.gpu_pools.cpu * 100.0,
                            s.gpu_pools.memory * 100.0
                        ),
                        None => String::new(),
                    }
                ),
            });
            out.extend(workload_verdicts(&s.result));
        }
        for r in &self.scenarios {
            out.extend(workload_verdicts(r));
        }
        out
    }
}

fn workload_verdicts(r: &ScenarioResult) -> impl Iterator<Item = Verdict> + '_ {
    r.workloads.iter().filter_map(|w| {
        Some(Verdict { scenario: r.scenario.clone(), subject: w.id.clone(), pass: w.pass?, detail: w.detail.clone() })
    })
}

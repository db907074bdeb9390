//! The HA scenarios: steady state, lose each AZ, lose the largest node, lose the spot capacity,
//! a traffic surge. Verdict per workload.
//!
//! Every scenario starts from the **steady state**: the node groups at their desired size, every
//! workload at its steady replicas (the autoscaler's minimum, or `spec.replicas` if larger; one
//! pod per Job/CronJob run), the chart-installed controllers at their replicas, placed by
//! [`crate::schedule`], Cluster Autoscaler adding nodes for what does not fit and then removing the
//! nodes under its scale-down threshold whose pods fit elsewhere. Then:
//! - `steady` also judges utilisation against the band: on the non-GPU pools, total requests
//!   over total allocatable per resource, the dominant of cpu and memory. GPU pools are reported
//!   (GPU share) but not judged.
//! - `az-loss:<zone>`: the zone's nodes are gone (unreachable: their Node objects stay, NotReady and
//!   tainted, still topology domains for spread constraints that ignore taints) and nothing launches there (its `perZone` groups
//!   cannot launch; other groups launch in the remaining zones); pods reschedule, CA scaling groups
//!   up to their max. Judged at two moments: right after the loss, the surviving pods ≥ the PDB's
//!   minAvailable (and ≥ 1 for a workload of 2 or more replicas: a total outage fails even if
//!   rescheduling later brings it back); after rescheduling, available ≥ min replicas and ≥ the
//!   PDB's minAvailable.
//! - `node-loss`: the node carrying the most judged (rendered, long-running) pods is gone — Jobs,
//!   CronJobs and chart controllers do not count toward the choice; on a tie the largest (most
//!   allocatable), then the most judged requests; its group may replace it. Judged the same way.
//! - `spot-loss`: every spot node is gone and spot groups cannot launch. Judged the same way.
//! - `surge`: every autoscaled workload at the replicas its autoscaler settles on under the traffic
//!   multiplier ([`crate::scaling::surge_replicas`], capped at its max). Judged: every replica
//!   placed within the groups' max — an autoscaler max the pool cannot hold fails here.
//!
//! Jobs and CronJobs take capacity but are not judged; nor are chart controllers.

mod report;

use std::collections::BTreeMap;

pub use report::{CapacityReport, GroupInfo, NodeUse, PoolUse, ScenarioResult, SteadyReport, WorkloadResult};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::objects::{OwnerKind, Workload, Workloads};
use crate::schedule::{self, CaConfig, PodModel, Sched};
use crate::{Inputs, Options, Scenario, SimError};

/// The steady state, and what the scenarios need to judge against it.
#[derive(Debug, Clone)]
pub struct Steady {
    pub sched: Sched,
    /// Model index → the rendered workload (None: a chart controller).
    pub workload_of: Vec<Option<usize>>,
    pub nodes_scaled_down: u32,
    /// Model index → pods stranded with their zonal volumes in a lost zone (AZ loss).
    pub stranded: Vec<u32>,
    /// Model index → new pods its autoscaler adds in their place (AZ loss; see
    /// `scaling::replaces_stranded_pods`).
    pub replaced: Vec<u32>,
}

/// Pods a workload runs at steady state: its autoscaler's minimum, or `spec.replicas` if larger
/// (capped at the max); one run's pods for a Job or CronJob.
pub fn steady_replicas(w: &Workload) -> u32 {
    match &w.autoscaler {
        Some(a) => w.replicas.max(a.min).min(a.max.max(a.min)),
        None => w.replicas,
    }
}

/// Place the environment's pods on its node groups and let Cluster Autoscaler settle.
pub fn steady(inputs: &Inputs<'_>, workloads: &Workloads) -> Result<Steady, SimError> {
    let data = schedule::data()?;
    let cluster = Cluster::from_env(inputs.env, workloads)?;
    let mut models = Vec::new();
    let mut workload_of = Vec::new();
    for (i, w) in workloads.items.iter().enumerate() {
        if w.kind == OwnerKind::DaemonSet {
            continue;
        }
        let mut model = PodModel::from_workload(w, steady_replicas(w));
        model.zonal_volumes = zonal_volumes(inputs, w, &data.zonal_provisioners);
        models.push(model);
        workload_of.push(Some(i));
    }
    for c in &data.controllers {
        if let Some(m) = PodModel::from_controller(
            c,
            inputs.addon_values.get(&c.chart),
            data,
            &workloads.priority_classes,
            &workloads.non_preempting,
        )? {
            models.push(m);
            workload_of.push(None);
        }
    }
    let defaults: Vec<(String, u32)> =
        data.default_spread.iter().map(|d| (d.topology_key.clone(), d.max_skew)).collect();
    schedule::pod::resolve(&mut models, &defaults);
    let ca = CaConfig::from_values(inputs.addon_values.get("cluster-autoscaler"), data)?;
    let mut sched = Sched::new(cluster, models, ca);
    sched.run(true);
    let nodes_scaled_down = sched.scale_down();
    sched.reset_added();
    sched.preempted.iter_mut().for_each(|p| *p = 0);
    let stranded = vec![0; sched.models.len()];
    let replaced = stranded.clone();
    Ok(Steady { sched, workload_of, nodes_scaled_down, stranded, replaced })
}

/// Whether StatefulSet `w` claims volumes of a storage class whose provisioner is zonal (its
/// `volumeClaimTemplates`, read from the rendered object; no class named: the default class).
fn zonal_volumes(inputs: &Inputs<'_>, w: &Workload, zonal: &[String]) -> bool {
    use serde_json::Value;
    if w.kind != OwnerKind::StatefulSet {
        return false;
    }
    let mut provisioner = BTreeMap::new();
    let mut default_class = None;
    for o in inputs.k8s.iter().filter(|o| o.kind() == "StorageClass") {
        let p = o.value.get("provisioner").and_then(Value::as_str).unwrap_or("");
        provisioner.insert(o.name().to_string(), p.to_string());
        let annotation = o.value.pointer("/metadata/annotations/storageclass.kubernetes.io~1is-default-class");
        if annotation.and_then(Value::as_str) == Some("true") {
            default_class = Some(o.name().to_string());
        }
    }
    let Some(sts) = inputs
        .k8s
        .iter()
        .find(|o| o.kind() == "StatefulSet" && o.name() == w.name && o.namespace().unwrap_or("default") == w.namespace)
    else {
        return false;
    };
    let templates = sts.value.pointer("/spec/volumeClaimTemplates").and_then(Value::as_array);
    templates.into_iter().flatten().any(|t| {
        let class =
            t.pointer("/spec/storageClassName").and_then(Value::as_str).map(str::to_string).or(default_class.clone());
        class.and_then(|c| provisioner.get(&c).cloned()).is_some_and(|p| zonal.contains(&p))
    })
}

/// What the cluster does when the workloads in `replicas` (id → replica count) must run, starting
/// from the steady state: the nodes Cluster Autoscaler adds per node group (in the order it adds
/// them), and the pods left pending per workload (no group can take them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SurgePlacement {
    /// Node group → nodes added.
    pub nodes_added: BTreeMap<String, u32>,
    /// Workload id → pods that stay pending.
    pub pending: BTreeMap<String, u32>,
}

/// Place the workloads at `replicas` on the steady-state cluster, scaling node groups up to their max.
/// Every id in `replicas` is in `pending` (0 when all its pods are placed).
pub fn surge_placement(
    inputs: &Inputs<'_>,
    workloads: &Workloads,
    replicas: &BTreeMap<String, u32>,
) -> Result<SurgePlacement, SimError> {
    surge_placement_from(&steady(inputs, workloads)?, replicas)
}

/// [`surge_placement`] from a steady state computed once ([`steady`]): for callers that place
/// many variants (the steady state is most of the work).
pub fn surge_placement_from(steady: &Steady, replicas: &BTreeMap<String, u32>) -> Result<SurgePlacement, SimError> {
    let mut s = steady.clone();
    let index = model_index(&s.sched);
    for (id, n) in replicas {
        let m = *index.get(id.as_str()).ok_or_else(|| SimError::Input(format!("no workload `{id}` to scale")))?;
        s.sched.set_replicas(m, *n);
    }
    s.sched.run(true);
    let pending =
        replicas.keys().filter_map(|id| index.get(id.as_str()).map(|m| (id.clone(), s.sched.pending[*m]))).collect();
    Ok(SurgePlacement { nodes_added: s.sched.added.clone(), pending })
}

fn model_index(sched: &Sched) -> BTreeMap<String, usize> {
    sched.models.iter().enumerate().map(|(i, m)| (m.id.clone(), i)).collect()
}

/// Run the selected capacity scenarios.
pub fn run(inputs: &Inputs<'_>, workloads: &Workloads, opts: &Options) -> Result<CapacityReport, SimError> {
    let data = schedule::data()?;
    let base = steady(inputs, workloads)?;
    let cluster = &base.sched.cluster;
    let zones = cluster.zones.clone();
    let mut scenarios = Vec::new();

    let steady_report = opts.runs(Scenario::Steady).then(|| {
        let s = &base.sched;
        let nodes: Vec<NodeUse> = (0..s.cluster.nodes.len())
            .filter(|n| s.cluster.nodes[*n].alive)
            .map(|n| {
                let node = &s.cluster.nodes[n];
                NodeUse {
                    name: node.name.clone(),
                    group: s.cluster.groups[node.group].name.clone(),
                    zone: s.cluster.zones[node.zone].clone(),
                    utilisation: s.cluster.utilisation(n),
                    cpu_requested: node.used.cpu,
                    memory_gib_requested: node.used.memory_gib,
                    gpu_requested: node.used.gpu,
                    pods: s.pods_on(n).len() as u32,
                }
            })
            .collect();
        // Judged on the non-GPU pools only, pooled per resource: a GPU node holds one pod that
        // takes its GPU (100 %) while leaving most of its cpu and memory free, and counting it
        // would let a half-empty general pool pass the band. GPU pools are reported, not judged.
        let judged = s.cluster.shares(|n| !s.cluster.is_gpu_group(s.cluster.nodes[n].group));
        let gpu = s.cluster.shares(|n| s.cluster.is_gpu_group(s.cluster.nodes[n].group));
        let result = judge(
            &base,
            workloads,
            &base,
            "steady",
            "every workload at its steady replicas".into(),
            0,
            None,
            Judge::AllPlaced,
        );
        SteadyReport {
            utilisation: judged.dominant(),
            dominant: judged.dominant_resource().to_string(),
            judged,
            gpu_pools: gpu,
            nodes_scaled_down: base.nodes_scaled_down,
            nodes,
            result,
        }
    });

    if opts.runs(Scenario::AzLoss) {
        for (z, zone) in zones.iter().enumerate() {
            let mut s = base.clone();
            s.sched.cluster.zone_up[z] = false;
            let before = placed_all(&s.sched);
            // The zone's instances are unreachable, not terminated: their Node objects stay
            // (NotReady, tainted), which matters to spread constraints (see `Sched::lose_zone`).
            let lost = s.sched.lose_zone(z, &data.unreachable_taint);
            let surviving = placed_all(&s.sched);
            // A pod whose volume is in the lost zone cannot run anywhere else: stranded.
            let mut stranded = vec![0; before.len()];
            let mut replaced = vec![0; before.len()];
            for m in 0..before.len() {
                if s.sched.models[m].zonal_volumes {
                    stranded[m] = before[m].saturating_sub(surviving[m]);
                    s.sched.pending[m] = s.sched.pending[m].saturating_sub(stranded[m]);
                    // An autoscaler that follows a growing total asks for more replicas while
                    // the stranded ones are missing; a parallel StatefulSet creates them as new
                    // ordinals, whose volumes are provisioned where they are scheduled. Up to its max.
                    let w = s.workload_of[m].and_then(|i| workloads.items.get(i));
                    if let Some(w) = w
                        && stranded[m] > 0
                        && crate::scaling::replaces_stranded_pods(w)?
                    {
                        replaced[m] = stranded[m].min(w.max_replicas().saturating_sub(before[m]));
                        s.sched.pending[m] += replaced[m];
                    }
                }
            }
            s.stranded = stranded;
            s.replaced = replaced;
            s.sched.run(true);
            scenarios.push(judge(
                &s,
                workloads,
                &base,
                &format!("az-loss:{zone}"),
                format!("zone {zone} lost: its {lost} nodes gone, nothing launches there"),
                lost,
                Some(surviving),
                Judge::KeepsMin,
            ));
        }
    }
    if opts.runs(Scenario::NodeLoss) {
        let mut s = base.clone();
        let largest = worst_node(&s.sched);
        if let Some(largest) = largest {
            let name = s.sched.cluster.nodes[largest].name.clone();
            let lost = s.sched.lose(|_, n| n == largest);
            let surviving = placed_all(&s.sched);
            s.sched.run(true);
            scenarios.push(judge(
                &s,
                workloads,
                &base,
                "node-loss",
                format!("node {name} lost (the one carrying the most judged pods, the largest on a tie); its group may replace it"),
                lost,
                Some(surviving),
                Judge::KeepsMin,
            ));
        }
    }
    if opts.runs(Scenario::SpotLoss) {
        let mut s = base.clone();
        for g in 0..s.sched.cluster.groups.len() {
            if s.sched.cluster.groups[g].spot {
                s.sched.cluster.group_up[g] = false;
            }
        }
        let lost = s.sched.lose(|c, n| c.groups[c.nodes[n].group].spot);
        let surviving = placed_all(&s.sched);
        s.sched.run(true);
        scenarios.push(judge(
            &s,
            workloads,
            &base,
            "spot-loss",
            format!("all spot capacity lost: {lost} spot nodes gone, spot groups cannot launch"),
            lost,
            Some(surviving),
            Judge::KeepsMin,
        ));
    }
    if opts.runs(Scenario::Surge) {
        let mut s = base.clone();
        let mut targets = BTreeMap::new();
        for (m, w) in s.workload_of.clone().iter().enumerate() {
            let Some(w) = w.and_then(|i| workloads.items.get(i)) else { continue };
            if w.autoscaler.is_some() && w.kind.is_long_running() {
                let target = crate::scaling::surge_replicas(w, opts.traffic).max(steady_replicas(w));
                s.sched.set_replicas(m, target);
                targets.insert(m, target);
            }
        }
        s.sched.run(true);
        scenarios.push(judge(
            &s,
            workloads,
            &base,
            "surge",
            format!("traffic × {}: every autoscaled workload at the replicas its autoscaler settles on", opts.traffic),
            0,
            None,
            Judge::Surge(targets),
        ));
    }

    let mut notes = vec![
        "Nodes: each node group's FIRST instance type (what it launches and Cluster Autoscaler models); allocatable = EKS AMI kubelet allocatable minus the DaemonSet allowance of data/instance-types.json.".to_string(),
        "DaemonSets: chart-installed agents are covered by that allowance; rendered DaemonSets are not placed as pods, only what their requests exceed the allowance by comes off each node they run on (never counted twice).".to_string(),
        format!("Chart controllers: {}", data.controllers_comment),
        "Not modelled: the kubelet's max-pods limit per node, PreferNoSchedule taints and preferred (soft) node and pod affinity, PodDisruptionBudgets during preemption, volume topology (a StatefulSet's EBS volume pins its pod to a zone; the model lets it move).".to_string(),
        "Lost nodes leave their group: EC2 Auto Scaling replaces them where it can launch, so a group may grow back to its max in the zones still up.".to_string(),
    ];
    let mut ignored: Vec<String> = base
        .sched
        .models
        .iter()
        .flat_map(|m| m.ignored.iter().map(move |i| format!("{}: {i} not modelled", m.id)))
        .collect();
    ignored.sort();
    notes.extend(ignored);
    let band = &data.utilisation_band;
    Ok(CapacityReport {
        zones,
        groups: cluster
            .groups
            .iter()
            .map(|g| GroupInfo {
                name: g.name.clone(),
                pool: g.pool.clone(),
                instance_type: g.instance_type.clone(),
                spot: g.spot,
                zone: g.zone.map(|z| cluster.zones[z].clone()),
                min: g.min,
                desired: g.desired,
                max: g.max,
                allocatable_cpu: g.allocatable.cpu,
                allocatable_memory_gib: g.allocatable.memory_gib,
                allocatable_gpu: g.allocatable.gpu,
            })
            .collect(),
        cluster_autoscaler: base.sched.ca.clone(),
        utilisation_band: [band.low, band.high],
        steady: steady_report,
        scenarios,
        notes,
    })
}

/// How a scenario judges a workload.
enum Judge {
    /// Steady: every wanted pod placed.
    AllPlaced,
    /// Losses: surviving ≥ PDB minAvailable (≥ 1 with 2+ replicas) right after the loss;
    /// available ≥ min replicas and ≥ PDB minAvailable after rescheduling.
    KeepsMin,
    /// Surge: model index → surge replicas; every one placed.
    Surge(BTreeMap<usize, u32>),
}

/// The node whose loss hurts most: the most judged pods (rendered, long-running: Jobs, CronJobs
/// and chart controllers are not counted, so a batch run does not decide which node is lost);
/// on a tie the largest (allocatable cpu, memory, GPUs), then the most judged cpu and memory
/// requests, then the first.
fn worst_node(s: &Sched) -> Option<usize> {
    let c = &s.cluster;
    let key = |n: usize| {
        let judged: Vec<usize> =
            s.pods_on(n).iter().copied().filter(|m| s.models[*m].rendered && s.models[*m].long_running).collect();
        let a = c.groups[c.nodes[n].group].allocatable;
        let cpu: f64 = judged.iter().map(|m| s.models[*m].requests.cpu).sum();
        let mem: f64 = judged.iter().map(|m| s.models[*m].requests.memory_gib).sum();
        (judged.len(), a.cpu, a.memory_gib, a.gpu, cpu, mem)
    };
    (0..c.nodes.len())
        .filter(|n| c.nodes[*n].alive)
        .max_by(|a, b| key(*a).partial_cmp(&key(*b)).unwrap_or(std::cmp::Ordering::Equal).then(b.cmp(a)))
}

fn placed_all(s: &Sched) -> Vec<u32> {
    (0..s.models.len()).map(|m| s.placed(m)).collect()
}

#[allow(clippy::too_many_arguments)]
fn judge(
    s: &Steady,
    workloads: &Workloads,
    base: &Steady,
    scenario: &str,
    event: String,
    nodes_lost: u32,
    surviving: Option<Vec<u32>>,
    how: Judge,
) -> ScenarioResult {
    let sched = &s.sched;
    let zones = sched.cluster.zones.len();
    let mut out = Vec::new();
    for (m, model) in sched.models.iter().enumerate() {
        let w = s.workload_of[m].and_then(|i| workloads.items.get(i));
        let kind = w.map_or("Controller".to_string(), |w| format!("{:?}", w.kind));
        let judged = model.rendered && model.long_running;
        let placed = sched.placed(m);
        let steady_wanted = base.sched.models[m].replicas;
        let min = w.map_or(steady_wanted, Workload::min_replicas);
        let pdb = w.and_then(|w| w.budget.as_ref()).map(|b| b.min_available_of(steady_wanted));
        let pending = sched.pending[m];
        let (wanted, pass, detail) = match &how {
            Judge::AllPlaced => {
                let ok = pending == 0;
                (steady_wanted, ok, format!("{placed}/{steady_wanted} placed{}", pending_note(pending)))
            }
            Judge::KeepsMin => {
                // Two moments are judged. Right after the loss, before anything reschedules
                // (minutes for new nodes): a workload of two or more replicas must keep at least
                // one (else the service was down). A PDB is not the bar there: it bounds
                // voluntary disruptions (drains, evictions) and "cannot prevent involuntary
                // disruptions" (Kubernetes docs, Disruptions), so losing a zone's share of the
                // pods is expected. After rescheduling: placed ≥ min replicas and ≥ the PDB.
                let need = min.max(pdb.unwrap_or(0));
                let surv = surviving.as_ref().map_or(placed, |v| v[m]);
                let need_now = u32::from(steady_wanted >= 2);
                let mut failed = Vec::new();
                if surv < need_now {
                    failed.push(format!(
                        "only {surv} survived the loss: a workload of 2 or more replicas must keep one serving"
                    ));
                }
                if placed < need {
                    failed.push(format!("only {placed} available after rescheduling, needs ≥ {need}"));
                }
                let ok = failed.is_empty();
                let verdict = if ok { String::new() } else { format!("FAILS: {}. ", failed.join("; ")) };
                let stranded = match s.stranded.get(m).copied().unwrap_or(0) {
                    0 => String::new(),
                    n => format!(", {n} stranded with its volume in the lost zone"),
                };
                let stranded = match s.replaced.get(m).copied().unwrap_or(0) {
                    0 => stranded,
                    n => format!("{stranded}, {n} new replica(s) added by its autoscaler in their place"),
                };
                (
                    steady_wanted,
                    ok,
                    format!(
                        "{verdict}{placed}/{steady_wanted} available after rescheduling ({surv} survived the loss{stranded}); needs ≥ {min} (min replicas){} after rescheduling and ≥ {need_now} surviving{}",
                        pdb.map(|p| format!(" and ≥ {p} (PDB)")).unwrap_or_default(),
                        pending_note(pending)
                    ),
                )
            }
            Judge::Surge(targets) => match targets.get(&m) {
                Some(t) => {
                    let max = w.map_or(*t, Workload::max_replicas);
                    let ok = pending == 0;
                    let why = if ok {
                        String::new()
                    } else {
                        let full: Vec<String> = sched
                            .cluster
                            .groups
                            .iter()
                            .enumerate()
                            .filter(|(g, _)| (0..zones).any(|z| model.runs_on_group(&sched.cluster, *g, z)))
                            .map(|(g, gr)| format!("{} {}/{} nodes", gr.name, sched.cluster.group_size(g), gr.max))
                            .collect();
                        format!("; the node groups it can use cannot hold the rest ({})", full.join(", "))
                    };
                    (
                        *t,
                        ok,
                        format!(
                            "{placed}/{t} surge replicas placed (autoscaler max {max}){}{why}",
                            pending_note(pending)
                        ),
                    )
                }
                None => (steady_wanted, true, format!("{placed}/{steady_wanted} placed (not autoscaled)")),
            },
        };
        let is_surge_target = matches!(&how, Judge::Surge(t) if t.contains_key(&m));
        let judged_here = judged && (!matches!(how, Judge::Surge(_)) || is_surge_target);
        out.push(WorkloadResult {
            id: model.id.clone(),
            kind,
            judged: judged_here,
            priority: model.priority,
            wanted,
            placed,
            surviving: surviving.as_ref().map(|v| v[m]),
            min,
            pdb_min_available: pdb,
            per_zone: (0..zones).map(|z| sched.placed_in_zone(m, z)).collect(),
            pending,
            stranded: s.stranded.get(m).copied().unwrap_or(0),
            replaced: s.replaced.get(m).copied().unwrap_or(0),
            preempted: sched.preempted[m],
            pass: judged_here.then_some(pass),
            detail,
        });
    }
    let pools = (0..sched.cluster.groups.len())
        .map(|g| {
            let nodes: Vec<usize> = (0..sched.cluster.nodes.len())
                .filter(|n| sched.cluster.nodes[*n].alive && sched.cluster.nodes[*n].group == g)
                .collect();
            PoolUse {
                group: sched.cluster.groups[g].name.clone(),
                pool: sched.cluster.groups[g].pool.clone(),
                nodes: nodes.len() as u32,
                max: sched.cluster.groups[g].max,
                shares: sched.cluster.shares(|n| sched.cluster.nodes[n].group == g),
                utilisation: {
                    let sh = sched.cluster.shares(|n| sched.cluster.nodes[n].group == g);
                    sh.gpu.unwrap_or_else(|| sh.dominant())
                },
            }
        })
        .collect();
    ScenarioResult {
        scenario: scenario.to_string(),
        event,
        nodes_lost,
        nodes_added: sched.added.clone(),
        workloads: out,
        pools,
    }
}

fn pending_note(pending: u32) -> String {
    if pending == 0 { String::new() } else { format!(", {pending} pending") }
}

//! Provisioning critical path: how long `terraform apply` of an environment's root takes from
//! nothing, modelled on the dependency graph Terraform builds, each resource instance weighted by
//! the typical creation time of its type.
//!
//! - [`graph`]: the graph — references and `depends_on` in every expression, module calls
//!   expanded, variables / locals / outputs as their own nodes, `count` / `for_each` expanded
//!   where the keys are known from literals and tfvars.
//! - [`weights`]: creation time per resource type (`data/simulation/provisioning.json`).
//! - [`schedule`]: the critical path (unlimited parallelism) and a list schedule with
//!   Terraform's default `-parallelism=10`.
//!
//! The verdict judges the scheduled total (the honest one: never below the critical path)
//! against the seed's "infrastructure provisioning < 30 minutes".

pub mod eval;
pub mod graph;
pub mod refs;
pub mod schedule;
pub mod weights;

use std::collections::BTreeMap;

use cerverus_check::inventory::TfBlock;
use serde::Serialize;

use crate::data::Provenance;
use crate::{Inputs, SimError, Verdict};

use graph::{Graph, Kind};
use weights::{Basis, Weights};

/// What the model leaves out, said with every report.
pub const NOT_MODELLED: [&str; 5] = [
    "The bootstrap root (state bucket, lock table, CI roles, registry, audit trail) is applied once beforehand and is not timed here.",
    "Kubernetes add-ons and workloads synced by Argo CD after the cluster exists are not part of `terraform apply` and are not timed here.",
    "Eventual-consistency retries (IAM, KMS), API throttling, capacity errors and retried creates are not modelled: each instance takes its typical time once.",
    "`terraform init` and plan are not timed; a data source waiting for no managed resource is read during plan and takes no apply time, the others are read once during apply.",
    "Which ready instance Terraform starts first is not specified; the schedule starts the one with the longest path behind it first, a near-best order: Terraform's own order may take longer when more instances are ready than slots.",
];

/// One step of the critical path, for a table or a Gantt chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathItem {
    /// Configuration address (`module.eks.aws_eks_cluster.this`).
    pub address: String,
    /// Resource or data source type.
    pub resource_type: String,
    /// `resource` or `data`.
    pub kind: String,
    /// Instances created side by side (count / for_each keys × module instances).
    pub instances: usize,
    /// Start and finish with unlimited parallelism (minutes from the start of the apply).
    pub start_minutes: f64,
    pub finish_minutes: f64,
    /// Start of its first instance and finish of its last under `-parallelism`.
    pub scheduled_start_minutes: f64,
    pub scheduled_finish_minutes: f64,
    /// Creation time of its longest instance.
    pub minutes: f64,
    pub basis: Basis,
    /// The data-file rule the time comes from (`aws_db_instance (multi_az = true)`).
    pub rule: String,
    /// Variables, locals, outputs (and zero-time objects) the dependency passes through from
    /// the previous step: why this step waits for it.
    pub via: Vec<String>,
}

/// A configuration object and its creation time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceTime {
    pub address: String,
    pub resource_type: String,
    pub instances: usize,
    pub minutes: f64,
    pub basis: Basis,
    pub rule: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProvisioningReport {
    /// The root applied: `terraform/envs/<env>`.
    pub root: String,
    /// The seed's target (minutes).
    pub target_minutes: f64,
    /// Terraform's `-parallelism` the schedule uses.
    pub parallelism: usize,
    /// Longest weighted path with every ready instance started at once.
    pub critical_path_minutes: f64,
    /// Total with at most `parallelism` instances being created at a time: what is judged.
    pub scheduled_minutes: f64,
    /// The critical path, first step to last.
    pub critical_path: Vec<PathItem>,
    /// The longest-running configuration objects, longest first.
    pub longest: Vec<ResourceTime>,
    /// Resource instances created.
    pub resource_instances: usize,
    /// Data source instances read.
    pub data_instances: usize,
    /// Sum of all instances' times: the work the slots share.
    pub work_minutes: f64,
    /// Nodes and edges of the graph (with variables, locals, outputs).
    pub graph_nodes: usize,
    pub graph_edges: usize,
    /// Where the model assumed something (unknown instance counts, modules not in the bundle).
    pub assumptions: Vec<String>,
    /// What is not modelled.
    pub not_modelled: Vec<String>,
}

impl ProvisioningReport {
    pub fn verdicts(&self) -> Vec<Verdict> {
        let pass = self.scheduled_minutes < self.target_minutes;
        let names: Vec<String> = self.critical_path.iter().map(|p| format!("{} {:.2}", p.address, p.minutes)).collect();
        vec![Verdict {
            scenario: crate::Scenario::Provisioning.name().to_string(),
            subject: self.root.clone(),
            pass,
            detail: format!(
                "{:.1} min with -parallelism={} (critical path {:.1} min) {} the {:.0}-minute target; path: {}",
                self.scheduled_minutes,
                self.parallelism,
                self.critical_path_minutes,
                if pass { "is within" } else { "exceeds" },
                self.target_minutes,
                names.join(" → ")
            ),
        }]
    }
}

pub fn provenance() -> Result<Provenance, SimError> {
    Ok(weights::load()?.provenance.clone())
}

pub fn run(inputs: &Inputs<'_>) -> Result<ProvisioningReport, SimError> {
    let w = weights::load()?;
    let root = format!("terraform/envs/{}", inputs.env.name);
    analyse(&root, &inputs.terraform_root, &inputs.terraform_modules, &inputs.tfvars, w)
}

/// The report for a root module's `blocks` (named `root`), the `modules` it may call (by
/// directory name) and its tfvars (an object, or null), with the times of `w`.
pub fn analyse(
    root: &str,
    blocks: &[TfBlock],
    modules: &BTreeMap<String, Vec<TfBlock>>,
    tfvars: &serde_json::Value,
    w: &Weights,
) -> Result<ProvisioningReport, SimError> {
    if blocks.is_empty() {
        return Err(SimError::Input(format!("`{root}` has no Terraform blocks to time")));
    }
    let g = graph::build(blocks, modules, tfvars, w);
    report(root, &g, w)
}

fn report(root: &str, g: &Graph, w: &Weights) -> Result<ProvisioningReport, SimError> {
    let order = schedule::topo_order(g).map_err(|cycle| {
        let ids: Vec<&str> = cycle.iter().take(8).map(|&i| g.nodes[i].id.as_str()).collect();
        SimError::Input(format!("the Terraform graph has a cycle through: {}", ids.join(", ")))
    })?;
    let critical = schedule::critical_path(g, &order);
    let sched = schedule::with_parallelism(g, &order, w.parallelism);

    let timed = |k: Kind| matches!(k, Kind::Resource | Kind::Data);
    let longest_rule = |i: usize| {
        g.nodes[i].instances.iter().max_by(|a, b| a.time.minutes.total_cmp(&b.time.minutes)).map(|x| x.time.clone())
    };
    let mut path = Vec::new();
    let mut via = Vec::new();
    for &i in &critical.path {
        let node = &g.nodes[i];
        let chosen = longest_rule(i);
        match chosen {
            Some(c) if timed(node.kind) && c.minutes > 0.0 => {
                path.push(PathItem {
                    address: node.id.clone(),
                    resource_type: node.ty.clone(),
                    kind: if node.kind == Kind::Data { "data" } else { "resource" }.to_string(),
                    instances: node.instances.len(),
                    start_minutes: critical.timing.start[i],
                    finish_minutes: critical.timing.finish[i],
                    scheduled_start_minutes: sched.start[i],
                    scheduled_finish_minutes: sched.finish[i],
                    minutes: c.minutes,
                    basis: c.basis,
                    rule: c.rule,
                    via: std::mem::take(&mut via),
                });
            }
            _ => via.push(node.id.clone()),
        }
    }

    let mut longest: Vec<ResourceTime> = (0..g.nodes.len())
        .filter(|&i| timed(g.nodes[i].kind))
        .filter_map(|i| {
            let c = longest_rule(i)?;
            Some(ResourceTime {
                address: g.nodes[i].id.clone(),
                resource_type: g.nodes[i].ty.clone(),
                instances: g.nodes[i].instances.len(),
                minutes: c.minutes,
                basis: c.basis,
                rule: c.rule,
            })
        })
        .collect();
    longest.sort_by(|a, b| b.minutes.total_cmp(&a.minutes).then_with(|| a.address.cmp(&b.address)));
    longest.truncate(w.top_n);

    let count = |k: Kind| g.nodes.iter().filter(|n| n.kind == k).map(|n| n.instances.len()).sum();
    Ok(ProvisioningReport {
        root: root.to_string(),
        target_minutes: w.target_minutes,
        parallelism: w.parallelism,
        critical_path_minutes: critical.timing.total,
        scheduled_minutes: sched.total.max(critical.timing.total),
        critical_path: path,
        longest,
        resource_instances: count(Kind::Resource),
        data_instances: count(Kind::Data),
        work_minutes: g.nodes.iter().flat_map(|n| &n.instances).map(|i| i.time.minutes).sum(),
        graph_nodes: g.nodes.len(),
        graph_edges: g.preds.iter().map(Vec::len).sum(),
        assumptions: g.assumptions.clone(),
        not_modelled: NOT_MODELLED.iter().map(|s| s.to_string()).collect(),
    })
}

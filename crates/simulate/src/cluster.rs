//! The nodes an environment has and can get: its managed node groups (as `Env::node_groups`
//! renders them into `terraform.tfvars`), each node of the group's first instance type (what the
//! group launches and Cluster Autoscaler models), with allocatable from
//! `cerverus_model::capacity`, spread over the zones the group may use.
//!
//! Modelling choices, each deliberate:
//! - **Instance type**: every node of a group is its FIRST type (an on-demand managed node group
//!   launches it; CA builds its scale-up template from it). Later types in the list are ignored.
//! - **Allocatable**: `capacity::allocatable` = kubelet allocatable of the EKS AMI minus the
//!   DaemonSet allowance of `data/instance-types.json` (CNI, kube-proxy, CSI node plugins, log and
//!   metric agents, Istio CNI — the chart-installed DaemonSets, which are not among the rendered
//!   objects). DaemonSets that ARE rendered are not placed as pods: their requests are compared with
//!   that allowance per node group, and only what exceeds it is taken off (never counted twice).
//! - **Zones**: a `perZone` group is pinned to its zone. Any other group spreads its nodes the way
//!   EC2 Auto Scaling's AZ rebalancing does: each new instance goes to the allowed zone where the
//!   group has the fewest, the first such zone on a tie (so the desired nodes go round-robin).
//! - **Labels** a node carries: the pool's labels (GPU labels included), `topology.kubernetes.io/zone`,
//!   `kubernetes.io/hostname` (the node's name here), `eks.amazonaws.com/capacityType`,
//!   `eks.amazonaws.com/nodegroup`, `node.kubernetes.io/instance-type`; its taints: the pool's.

use std::collections::BTreeMap;

use cerverus_model::Env;
use cerverus_model::derived::Capacity;
use serde::Serialize;

use crate::SimError;
use crate::objects::{OwnerKind, Requests, Workloads};

pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// One taint of a node group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodeTaint {
    pub key: String,
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// A managed node group as the model sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    pub pool: String,
    pub spot: bool,
    /// The type every node of the group is (the first of the pool's list).
    pub instance_type: String,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    /// Index into `Cluster::zones` of the zone a `perZone` group is pinned to.
    pub zone: Option<usize>,
    /// Allocatable of one node for workload pods (DaemonSets taken off).
    pub allocatable: Requests,
    /// Labels of every node, without the per-node zone and hostname.
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<NodeTaint>,
}

/// One node.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    pub group: usize,
    pub zone: usize,
    /// Requests of the pods placed on it.
    pub used: Requests,
    /// False once lost (AZ, node or spot loss) or scaled down.
    pub alive: bool,
    /// Lost in a zone outage: the instance is unreachable, not terminated, so its Node object
    /// stays (NotReady, tainted `node.kubernetes.io/unreachable`). It runs nothing and takes no
    /// pod, but remains a topology domain for spread constraints that do not honour taints.
    pub unreachable: bool,
    /// Added by Cluster Autoscaler (not one of the group's desired nodes).
    pub added: bool,
}

/// The nodes and what may still be launched.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub zones: Vec<String>,
    pub groups: Vec<Group>,
    pub nodes: Vec<Node>,
    /// Zones new instances can launch in (false for a lost AZ).
    pub zone_up: Vec<bool>,
    /// Groups that can launch at all (false for spot groups when spot capacity is gone).
    pub group_up: Vec<bool>,
}

#[derive(serde::Deserialize)]
struct DaemonSetAllowance {
    daemonset_cpu: f64,
    daemonset_memory_gib: f64,
}

impl Cluster {
    /// The environment's node groups at their desired size. `workloads` supplies the rendered
    /// DaemonSets, whose requests beyond the allowance come off each node they run on.
    pub fn from_env(env: &Env, workloads: &Workloads) -> Result<Cluster, SimError> {
        let allowance: DaemonSetAllowance = serde_json::from_str(cerverus_model::capacity::INSTANCE_DATA)
            .map_err(|e| SimError::Data { file: "data/instance-types.json".into(), message: e.to_string() })?;
        let zones = env.network.azs.clone();
        if zones.is_empty() {
            return Err(SimError::Input(format!("environment `{}` has no availability zones", env.name)));
        }
        let mut groups = Vec::new();
        for g in env.node_groups() {
            let Some(first) = g.instance_types.first() else {
                return Err(SimError::Input(format!("node group `{}` has no instance type", g.name)));
            };
            let Some((cpu, mem, gpu)) = cerverus_model::capacity::allocatable(first) else {
                return Err(SimError::Input(format!(
                    "node group `{}`: instance type `{first}` is not in data/instance-types.json",
                    g.name
                )));
            };
            let mut labels = g.labels.clone();
            let capacity = match g.capacity {
                Capacity::OnDemand => "ON_DEMAND",
                Capacity::Spot => "SPOT",
            };
            labels.insert("eks.amazonaws.com/capacityType".into(), capacity.into());
            labels.insert("eks.amazonaws.com/nodegroup".into(), g.name.clone());
            labels.insert("node.kubernetes.io/instance-type".into(), first.clone());
            let taints = g
                .taints
                .iter()
                .map(|t| NodeTaint { key: t.key.clone(), value: t.value.clone(), effect: format!("{:?}", t.effect) })
                .collect();
            groups.push(Group {
                name: g.name.clone(),
                pool: g.pool.clone(),
                spot: g.capacity == Capacity::Spot,
                instance_type: first.clone(),
                min: g.min,
                desired: g.desired,
                max: g.max,
                zone: g.zone_index,
                allocatable: Requests { cpu, memory_gib: mem, gpu },
                labels,
                taints,
            });
        }
        let mut cluster = Cluster {
            zone_up: vec![true; zones.len()],
            group_up: vec![true; groups.len()],
            zones,
            groups,
            nodes: Vec::new(),
        };
        // Rendered DaemonSets beyond the allowance: per group, the sum of the requests of those
        // that would run there (tolerations and node selection checked on a template node).
        for gi in 0..cluster.groups.len() {
            let zone = cluster.groups[gi].zone.unwrap_or(0);
            let mut ds = Requests::default();
            for w in workloads.items.iter().filter(|w| w.kind == OwnerKind::DaemonSet) {
                let pod = crate::schedule::PodModel::from_workload(w, 0);
                if pod.runs_on_group(&cluster, gi, zone) {
                    ds = ds + w.requests;
                }
            }
            let g = &mut cluster.groups[gi];
            g.allocatable.cpu -= (ds.cpu - allowance.daemonset_cpu).max(0.0);
            g.allocatable.memory_gib -= (ds.memory_gib - allowance.daemonset_memory_gib).max(0.0);
            g.allocatable.gpu = g.allocatable.gpu.saturating_sub(ds.gpu);
        }
        for gi in 0..cluster.groups.len() {
            for _ in 0..cluster.groups[gi].desired {
                cluster.launch(gi, false);
            }
        }
        Ok(cluster)
    }

    /// Alive nodes of group `g`.
    pub fn group_size(&self, g: usize) -> u32 {
        self.nodes.iter().filter(|n| n.alive && n.group == g).count() as u32
    }

    /// The zone group `g` would launch its next instance in, or `None` when it cannot launch
    /// (its zone is lost, or no zone it may use is up).
    pub fn next_zone(&self, g: usize) -> Option<usize> {
        if !self.group_up.get(g).copied().unwrap_or(false) {
            return None;
        }
        if let Some(z) = self.groups[g].zone {
            return self.zone_up[z].then_some(z);
        }
        let mut count = vec![0u32; self.zones.len()];
        for n in self.nodes.iter().filter(|n| n.alive && n.group == g) {
            count[n.zone] += 1;
        }
        (0..self.zones.len()).filter(|z| self.zone_up[*z]).min_by_key(|z| (count[*z], *z))
    }

    /// Whether group `g` can launch another node (up, a zone to launch in, below its max).
    pub fn can_launch(&self, g: usize) -> bool {
        self.next_zone(g).is_some() && self.group_size(g) < self.groups[g].max
    }

    /// Launch a node of group `g` in the zone ASG rebalancing picks; its index. `added`: by
    /// Cluster Autoscaler. `None` when the group cannot launch.
    pub fn launch(&mut self, g: usize, added: bool) -> Option<usize> {
        let zone = self.next_zone(g)?;
        let seq = self.nodes.iter().filter(|n| n.group == g).count();
        self.nodes.push(Node {
            name: format!("{}-{}", self.groups[g].name, seq + 1),
            group: g,
            zone,
            used: Requests::default(),
            alive: true,
            unreachable: false,
            added,
        });
        Some(self.nodes.len() - 1)
    }

    /// Value of label `key` on node `n`.
    pub fn label(&self, n: usize, key: &str) -> Option<&str> {
        let node = &self.nodes[n];
        match key {
            ZONE_LABEL => Some(self.zones[node.zone].as_str()),
            HOSTNAME_LABEL => Some(node.name.as_str()),
            _ => self.groups[node.group].labels.get(key).map(String::as_str),
        }
    }

    /// Free room on node `n`.
    pub fn free(&self, n: usize) -> Requests {
        let node = &self.nodes[n];
        let a = self.groups[node.group].allocatable;
        Requests {
            cpu: a.cpu - node.used.cpu,
            memory_gib: a.memory_gib - node.used.memory_gib,
            gpu: a.gpu.saturating_sub(node.used.gpu),
        }
    }

    /// Utilisation of node `n`: the dominant share of its allocatable taken by requests (the
    /// largest of cpu, memory and — on GPU nodes — GPUs). What Cluster Autoscaler's scale-down
    /// threshold is compared with; NOT the figure the steady band is judged on (see [`Shares`]).
    pub fn utilisation(&self, n: usize) -> f64 {
        let node = &self.nodes[n];
        let a = self.groups[node.group].allocatable;
        let share = |used: f64, total: f64| if total > 0.0 { used / total } else { 0.0 };
        let mut u = share(node.used.cpu, a.cpu).max(share(node.used.memory_gib, a.memory_gib));
        if a.gpu > 0 {
            u = u.max(f64::from(node.used.gpu) / f64::from(a.gpu));
        }
        u
    }

    /// Whether group `g`'s nodes have GPUs (a GPU pool).
    pub fn is_gpu_group(&self, g: usize) -> bool {
        self.groups[g].allocatable.gpu > 0
    }

    /// Pooled shares over the alive nodes `select` keeps: total requests over total allocatable,
    /// per resource.
    pub fn shares(&self, select: impl Fn(usize) -> bool) -> Shares {
        let mut used = Requests::default();
        let mut total = Requests::default();
        let mut nodes = 0;
        for n in (0..self.nodes.len()).filter(|n| self.nodes[*n].alive && select(*n)) {
            used = used + self.nodes[n].used;
            total = total + self.groups[self.nodes[n].group].allocatable;
            nodes += 1;
        }
        let share = |u: f64, t: f64| if t > 0.0 { u / t } else { 0.0 };
        Shares {
            nodes,
            cpu: share(used.cpu, total.cpu),
            memory: share(used.memory_gib, total.memory_gib),
            gpu: (total.gpu > 0).then(|| f64::from(used.gpu) / f64::from(total.gpu)),
        }
    }
}

/// Requests over allocatable, pooled over a set of nodes (sum of requests / sum of allocatable,
/// per resource — not a mean of per-node figures, so a small node full of one pod weighs what its
/// allocatable weighs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Shares {
    /// Alive nodes pooled.
    pub nodes: u32,
    pub cpu: f64,
    pub memory: f64,
    /// GPUs requested over GPUs allocatable; `None` when the nodes have no GPUs.
    pub gpu: Option<f64>,
}

impl Shares {
    /// The dominant of cpu and memory (GPUs deliberately not included).
    pub fn dominant(&self) -> f64 {
        self.cpu.max(self.memory)
    }

    /// Which of cpu and memory is dominant.
    pub fn dominant_resource(&self) -> &'static str {
        if self.memory > self.cpu { "memory" } else { "cpu" }
    }
}

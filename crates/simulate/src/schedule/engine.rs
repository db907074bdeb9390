//! Placement: kube-scheduler's filters and (approximate) scoring, priority order, preemption,
//! and Cluster Autoscaler's scale-up and scale-down.
//!
//! The model, stated once:
//! - **Order**: pending pods are taken highest priority first (ties: model order, which is
//!   sorted by id), one pod at a time, so spread counts see every earlier placement.
//! - **Filters**: alive node; taints tolerated (`NoSchedule`/`NoExecute`); `nodeSelector` and
//!   required node affinity; requests (cpu, memory, `nvidia.com/gpu`) fit the free allocatable;
//!   every `DoNotSchedule` spread constraint: `count(domain of node) + self − min over eligible
//!   domains ≤ maxSkew`. A node is in a constraint's scope when its Node object exists (alive,
//!   full or not, or NotReady in a lost zone), it passes the pod's node selection unless
//!   `nodeAffinityPolicy: Ignore` (default `Honor`), and — with `nodeTaintsPolicy: Honor` only
//!   (default `Ignore`) — the pod tolerates its taints. Domains are those with a node in scope,
//!   and counts are summed over nodes in scope only (kube-scheduler's
//!   `matchNodeInclusionPolicies`); fewer domains than `minDomains` make the minimum 0.
//!   Required pod anti-affinity, both ways: no pod its terms match in the node's domain, and no
//!   pod there whose own terms match it.
//! - **Scoring** (lexicographic, not kube-scheduler's weighted sum): fewest matching pods in the
//!   node's domains over the `ScheduleAnyway` constraints first, then the least allocated node
//!   after placement (mean free share of cpu and memory, `NodeResourcesFit` `LeastAllocated`),
//!   then the lowest node index. Deterministic.
//! - **Preemption** (when no node passes the filters): on each node passing the non-resource
//!   filters, remove every lower-priority pod, check the pod fits, then give back ("reprieve")
//!   as many victims as still fit, highest priority first; pick the node whose victims have the
//!   lowest highest priority, then the lowest sum of (priority + 2^31) per victim (so more victims
//!   always cost more, as kube-scheduler sums them), then the fewest victims. A pod whose
//!   PriorityClass says `preemptionPolicy: Never` does not preempt. Victims become
//!   pending. PDBs are not consulted (the scheduler only prefers nodes violating fewer) and
//!   victims' effect on spread counts is not re-checked.
//! - **Cluster Autoscaler scale-up** (when preemption does not help either): among groups that can
//!   launch (below max, their zone up, spot not lost) whose template node — the group's first
//!   instance type, its labels and taints, in the zone ASG would launch into — accepts the pod
//!   under every filter above (spread counted with the new node's zone as a domain), the
//!   expanders choose (see [`CaConfig`]); a group whose template cannot hold the pod is never
//!   scaled. The new node is added and the pod placed on it; later pods may use its remaining room.
//! - **Cluster Autoscaler scale-down** (steady state only): nodes under the utilisation threshold,
//!   emptiest first, in groups above their min, are removed when every pod on them fits elsewhere.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::SchedulingData;
use super::pod::{PodModel, Spread, Topology, tolerates};
use crate::SimError;
use crate::cluster::{Cluster, NodeTaint};
use crate::objects::Requests;

/// Cluster Autoscaler as the environment's chart values configure it.
#[derive(Debug, Clone, Serialize)]
pub struct CaConfig {
    /// Whether the chart is installed at all (without it no group grows).
    pub installed: bool,
    /// `--expander`, in order. Modelled: `priority` (the chart's `expanderPriorities`, Go regexes
    /// over the group name; groups matching none rank lowest), `least-waste` (least unused cpu +
    /// memory share of the new node). `random`, `most-pods` and others pass every option through;
    /// the final choice is then deterministic: with `balance-similar-node-groups`, the group with
    /// the fewest nodes, then the first group in Terraform's order.
    pub expanders: Vec<String>,
    /// Priority → name patterns.
    pub priorities: Vec<(i64, Vec<String>)>,
    pub balance_similar: bool,
    /// `--scale-down-utilization-threshold`.
    pub scale_down_threshold: f64,
}

impl CaConfig {
    /// Read from `values` (the `cluster-autoscaler` chart values; `None`: not installed).
    pub fn from_values(values: Option<&Value>, data: &SchedulingData) -> Result<CaConfig, SimError> {
        let d = &data.cluster_autoscaler;
        let Some(v) = values else {
            return Ok(CaConfig {
                installed: false,
                expanders: vec![d.default_expander.clone()],
                priorities: Vec::new(),
                balance_similar: false,
                scale_down_threshold: d.default_scale_down_utilization_threshold,
            });
        };
        let arg = |k: &str| v.pointer(&format!("/extraArgs/{k}"));
        let text = |x: &Value| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let expanders = arg("expander")
            .and_then(text)
            .unwrap_or_else(|| d.default_expander.clone())
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let threshold = match arg("scale-down-utilization-threshold").and_then(text) {
            Some(s) => s.parse::<f64>().map_err(|_| {
                SimError::Input(format!(
                    "cluster-autoscaler values: scale-down-utilization-threshold `{s}` is not a number"
                ))
            })?,
            None => d.default_scale_down_utilization_threshold,
        };
        let balance_similar = arg("balance-similar-node-groups").and_then(text).is_some_and(|s| s == "true");
        // The chart takes the priorities as a map or as the ConfigMap's YAML text.
        let map: BTreeMap<String, Vec<String>> = match v.get("expanderPriorities") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::String(s)) => serde_saphyr::from_str(s)
                .map_err(|e| SimError::Input(format!("cluster-autoscaler values: expanderPriorities: {e}")))?,
            Some(other) => serde_json::from_value(other.clone())
                .map_err(|e| SimError::Input(format!("cluster-autoscaler values: expanderPriorities: {e}")))?,
        };
        let mut priorities = Vec::new();
        for (k, patterns) in map {
            let p = k.trim().parse::<i64>().map_err(|_| {
                SimError::Input(format!("cluster-autoscaler values: expanderPriorities key `{k}` is not a number"))
            })?;
            for pat in &patterns {
                regex_match(pat, "").map_err(|e| {
                    SimError::Input(format!("cluster-autoscaler values: expanderPriorities pattern `{pat}`: {e}"))
                })?;
            }
            priorities.push((p, patterns));
        }
        Ok(CaConfig { installed: true, expanders, priorities, balance_similar, scale_down_threshold: threshold })
    }

    /// Priority of group `name` under the priority expander.
    fn priority_of(&self, name: &str) -> i64 {
        self.priorities
            .iter()
            .filter(|(_, pats)| pats.iter().any(|p| regex_match(p, name).unwrap_or(false)))
            .map(|(p, _)| *p)
            .max()
            .unwrap_or(i64::MIN)
    }
}

/// One spread constraint as kube-scheduler's PreFilter sees it for one incoming pod.
#[derive(Debug, Clone)]
struct SpreadView {
    /// Matching pods per zone, over the nodes in the constraint's scope.
    zone_counts: Vec<u32>,
    /// Matching pods on on-demand (0) and spot (1) nodes in scope.
    capacity_counts: [u32; 2],
    /// `DoNotSchedule`: the global minimum over the domains in scope (`None`: no domain).
    min: Option<u32>,
}

/// The cluster with pods on it.
#[derive(Debug, Clone)]
pub struct Sched {
    pub cluster: Cluster,
    pub models: Vec<PodModel>,
    pub ca: CaConfig,
    /// `[node][model]`: node selection accepts the node.
    affine: Vec<Vec<bool>>,
    /// `[node][model]`: the pod tolerates the node's `NoSchedule`/`NoExecute` taints.
    tolerated: Vec<Vec<bool>>,
    /// `[node][model]`: node selection and taints accept the node.
    eligible: Vec<Vec<bool>>,
    /// `[node][model]`: pods placed.
    count_node: Vec<Vec<u32>>,
    /// `[zone][model]`: pods placed.
    count_zone: Vec<Vec<u32>>,
    /// `[node]`: the model of each pod on it.
    on_node: Vec<Vec<usize>>,
    /// `[model]`: pods not placed.
    pub pending: Vec<u32>,
    /// Node group → nodes Cluster Autoscaler added, since the last [`Sched::reset_added`].
    pub added: BTreeMap<String, u32>,
    /// `[model]`: pods evicted by preemption.
    pub preempted: Vec<u32>,
}

impl Sched {
    /// `cluster` with every model's replicas pending.
    pub fn new(cluster: Cluster, models: Vec<PodModel>, ca: CaConfig) -> Sched {
        let m = models.len();
        let zones = cluster.zones.len();
        let mut s = Sched {
            pending: models.iter().map(|p| p.replicas).collect(),
            preempted: vec![0; m],
            cluster,
            models,
            ca,
            affine: Vec::new(),
            tolerated: Vec::new(),
            eligible: Vec::new(),
            count_node: Vec::new(),
            count_zone: vec![vec![0; m]; zones],
            on_node: Vec::new(),
            added: BTreeMap::new(),
        };
        for n in 0..s.cluster.nodes.len() {
            s.node_rows(n);
        }
        s
    }

    /// Matrices' rows for node `n` (just launched).
    fn node_rows(&mut self, n: usize) {
        let g = self.cluster.nodes[n].group;
        let tolerated: Vec<bool> = self.models.iter().map(|p| p.tolerates_group(&self.cluster, g)).collect();
        let affine: Vec<bool> = self.models.iter().map(|p| p.selects(|k| self.cluster.label(n, k))).collect();
        self.eligible.push(affine.iter().zip(&tolerated).map(|(a, t)| *a && *t).collect());
        self.affine.push(affine);
        self.tolerated.push(tolerated);
        self.count_node.push(vec![0; self.models.len()]);
        self.on_node.push(Vec::new());
    }

    /// Pods of model `m` placed.
    pub fn placed(&self, m: usize) -> u32 {
        self.count_zone.iter().map(|z| z[m]).sum()
    }

    /// Pods of model `m` placed in zone `z`.
    pub fn placed_in_zone(&self, m: usize, z: usize) -> u32 {
        self.count_zone[z][m]
    }

    /// The models of the pods on node `n`.
    pub fn pods_on(&self, n: usize) -> &[usize] {
        &self.on_node[n]
    }

    pub fn reset_added(&mut self) {
        self.added.clear();
    }

    fn place(&mut self, m: usize, n: usize) {
        let z = self.cluster.nodes[n].zone;
        self.count_node[n][m] += 1;
        self.count_zone[z][m] += 1;
        self.on_node[n].push(m);
        let r = self.models[m].requests;
        let node = &mut self.cluster.nodes[n];
        node.used = node.used + r;
    }

    fn evict(&mut self, m: usize, n: usize) {
        let z = self.cluster.nodes[n].zone;
        self.count_node[n][m] = self.count_node[n][m].saturating_sub(1);
        self.count_zone[z][m] = self.count_zone[z][m].saturating_sub(1);
        if let Some(i) = self.on_node[n].iter().position(|x| *x == m) {
            self.on_node[n].swap_remove(i);
        }
        let r = self.models[m].requests;
        let node = &mut self.cluster.nodes[n];
        node.used = Requests {
            cpu: (node.used.cpu - r.cpu).max(0.0),
            memory_gib: (node.used.memory_gib - r.memory_gib).max(0.0),
            gpu: node.used.gpu.saturating_sub(r.gpu),
        };
    }

    /// Pods of the models `counts` on node `n` (its hostname domain).
    /// Capacity-type domain of node `n`: 0 on-demand, 1 spot.
    fn capacity_of(&self, n: usize) -> usize {
        usize::from(self.cluster.groups[self.cluster.nodes[n].group].spot)
    }

    fn host_count(&self, counts: &[usize], n: usize) -> u32 {
        counts.iter().map(|m| self.count_node[n][*m]).sum()
    }

    /// Pods of the models `counts` in zone `z`, on every node (pod anti-affinity counts these).
    fn zone_count(&self, counts: &[usize], z: usize) -> u32 {
        counts.iter().map(|m| self.count_zone[z][*m]).sum()
    }

    /// Whether node `n` is a domain of spread constraint `c` of model `m` (kube-scheduler's
    /// `matchNodeInclusionPolicies`): the Node object exists (alive, or unreachable in a lost
    /// zone), passes the pod's node selection unless `nodeAffinityPolicy: Ignore`, and — only
    /// with `nodeTaintsPolicy: Honor` — has no taint the pod does not tolerate.
    fn in_scope(&self, m: usize, c: &Spread, n: usize) -> bool {
        let node = &self.cluster.nodes[n];
        (node.alive || node.unreachable)
            && (!c.honor_affinity || self.affine[n][m])
            && (!c.honor_taints || self.tolerated[n][m])
    }

    /// Per spread constraint of `m`, the counts kube-scheduler's PreFilter computes: matching
    /// pods per zone, summed over the nodes in scope only (pods on nodes the constraint leaves
    /// out do not count), and for a `DoNotSchedule` constraint the global minimum over the
    /// domains in scope (0 with fewer than `minDomains`). `extra`: (zone, group) of a node about
    /// to launch (Cluster Autoscaler's template), whose zone and capacity type are domains then.
    fn spread_views(&self, m: usize, extra: Option<(usize, usize)>) -> Vec<SpreadView> {
        let extra_zone = extra.map(|(z, _)| z);
        let extra_capacity = extra.map(|(_, g)| usize::from(self.cluster.groups[g].spot));
        let model = &self.models[m];
        let zones = self.cluster.zones.len();
        model
            .spread
            .iter()
            .map(|c| {
                let mut zone_counts = vec![0u32; zones];
                let mut present = vec![false; zones];
                let mut capacity_counts = [0u32; 2];
                let mut capacity_present = [false; 2];
                let mut host_min: Option<u32> = None;
                let mut hosts = 0u32;
                for n in (0..self.cluster.nodes.len()).filter(|n| self.in_scope(m, c, *n)) {
                    let here = self.host_count(&c.counts, n);
                    let z = self.cluster.nodes[n].zone;
                    zone_counts[z] += here;
                    present[z] = true;
                    let k = self.capacity_of(n);
                    capacity_counts[k] += here;
                    capacity_present[k] = true;
                    hosts += 1;
                    host_min = Some(host_min.map_or(here, |x| x.min(here)));
                }
                if let Some(z) = extra_zone {
                    present[z] = true;
                }
                if let Some(k) = extra_capacity {
                    capacity_present[k] = true;
                }
                let min = if !c.hard {
                    None
                } else {
                    match c.topology {
                        Topology::Zone => {
                            let domains = present.iter().filter(|p| **p).count() as u32;
                            let min = (0..zones).filter(|z| present[*z]).map(|z| zone_counts[z]).min();
                            if c.min_domains.is_some_and(|d| domains < d) { Some(0) } else { min }
                        }
                        Topology::Host => {
                            // A node about to launch is an empty domain.
                            let domains = hosts + u32::from(extra_zone.is_some());
                            let min = if extra_zone.is_some() { Some(0) } else { host_min };
                            if c.min_domains.is_some_and(|d| domains < d) { Some(0) } else { min }
                        }
                        Topology::Capacity => {
                            let domains = capacity_present.iter().filter(|p| **p).count() as u32;
                            let min = (0..2).filter(|k| capacity_present[*k]).map(|k| capacity_counts[k]).min();
                            if c.min_domains.is_some_and(|d| domains < d) { Some(0) } else { min }
                        }
                    }
                };
                SpreadView { zone_counts, capacity_counts, min }
            })
            .collect()
    }

    /// Matching pods of constraint `c` in node `n`'s domain, as `view` counts them.
    fn view_count(&self, c: &Spread, view: &SpreadView, n: usize) -> u32 {
        match c.topology {
            Topology::Zone => view.zone_counts[self.cluster.nodes[n].zone],
            Topology::Host => self.host_count(&c.counts, n),
            Topology::Capacity => view.capacity_counts[self.capacity_of(n)],
        }
    }

    /// Spread (hard) and anti-affinity filters for `m` on existing node `n`.
    fn topology_ok(&self, m: usize, n: usize, views: &[SpreadView]) -> bool {
        let model = &self.models[m];
        for (c, view) in model.spread.iter().zip(views) {
            if let Some(min) = view.min {
                let count = self.view_count(c, view, n) + u32::from(c.self_match);
                if count.saturating_sub(min) > c.max_skew {
                    return false;
                }
            }
        }
        model.anti.iter().all(|a| match a.topology {
            Topology::Zone => self.zone_count(&a.counts, self.cluster.nodes[n].zone) == 0,
            Topology::Host => self.host_count(&a.counts, n) == 0,
            // Never built: anti-affinity terms on other keys are listed as ignored (pod.rs).
            Topology::Capacity => true,
        })
    }

    /// The node kube-scheduler would bind a pod of `m` to, if any.
    pub fn best_node(&self, m: usize) -> Option<usize> {
        let model = &self.models[m];
        let views = self.spread_views(m, None);
        let mut best: Option<(u32, f64, usize)> = None;
        for n in 0..self.cluster.nodes.len() {
            if !self.cluster.nodes[n].alive || !self.eligible[n][m] {
                continue;
            }
            let free = self.cluster.free(n);
            if !model.requests.fits_in(free) || !self.topology_ok(m, n, &views) {
                continue;
            }
            let soft: u32 =
                model.spread.iter().zip(&views).filter(|(c, _)| !c.hard).map(|(c, v)| self.view_count(c, v, n)).sum();
            let a = self.cluster.groups[self.cluster.nodes[n].group].allocatable;
            let share = |f: f64, r: f64, t: f64| if t > 0.0 { (f - r) / t } else { 0.0 };
            let least = (share(free.cpu, model.requests.cpu, a.cpu)
                + share(free.memory_gib, model.requests.memory_gib, a.memory_gib))
                / 2.0;
            let better = match best {
                None => true,
                Some((s, l, _)) => soft < s || (soft == s && least > l + 1e-12),
            };
            if better {
                best = Some((soft, least, n));
            }
        }
        best.map(|(_, _, n)| n)
    }

    /// Kubernetes' preemption for one pod of `m`: true when it evicted victims and was placed.
    fn preempt(&mut self, m: usize) -> bool {
        let model = &self.models[m];
        // `preemptionPolicy: Never`: it waits for room instead.
        if !model.preempts {
            return false;
        }
        let views = self.spread_views(m, None);
        // (highest victim priority, priority sum, victims, node, victim list)
        let mut best: Option<(i32, i64, usize, usize, Vec<usize>)> = None;
        for n in 0..self.cluster.nodes.len() {
            if !self.cluster.nodes[n].alive || !self.eligible[n][m] || !self.topology_ok(m, n, &views) {
                continue;
            }
            let mut lower: Vec<usize> =
                self.on_node[n].iter().copied().filter(|v| self.models[*v].priority < model.priority).collect();
            if lower.is_empty() {
                continue;
            }
            let mut free = self.cluster.free(n);
            for v in &lower {
                free = free + self.models[*v].requests;
            }
            if !model.requests.fits_in(free) {
                continue;
            }
            let mut room = Requests {
                cpu: free.cpu - model.requests.cpu,
                memory_gib: free.memory_gib - model.requests.memory_gib,
                gpu: free.gpu - model.requests.gpu,
            };
            lower.sort_by_key(|v| (Reverse(self.models[*v].priority), *v));
            let mut victims = Vec::new();
            for v in lower {
                let r = self.models[v].requests;
                if r.fits_in(room) {
                    room = Requests {
                        cpu: room.cpu - r.cpu,
                        memory_gib: room.memory_gib - r.memory_gib,
                        gpu: room.gpu - r.gpu,
                    };
                } else {
                    victims.push(v);
                }
            }
            let top = victims.iter().map(|v| self.models[*v].priority).max().unwrap_or(i32::MIN);
            // kube-scheduler's `pickOneNodeForPreemption` adds MaxInt32 + 1 to each victim's
            // priority before summing, so that more victims always cost more (priorities may be
            // negative).
            let sum: i64 = victims.iter().map(|v| i64::from(self.models[*v].priority) + (1i64 << 31)).sum();
            let key = (top, sum, victims.len(), n);
            if best.as_ref().is_none_or(|b| key < (b.0, b.1, b.2, b.3)) {
                best = Some((top, sum, victims.len(), n, victims));
            }
        }
        let Some((_, _, _, n, victims)) = best else { return false };
        for v in victims {
            self.evict(v, n);
            self.pending[v] += 1;
            self.preempted[v] += 1;
        }
        self.place(m, n);
        true
    }

    /// Cluster Autoscaler's scale-up for one pod of `m`: the node it adds, with the pod on it.
    fn scale_up(&mut self, m: usize) -> Option<usize> {
        if !self.ca.installed {
            return None;
        }
        let mut options = Vec::new();
        let mut launches = BTreeMap::new();
        for g in 0..self.cluster.groups.len() {
            if let Some(k) = self.launches_until_fit(m, g) {
                options.push(g);
                launches.insert(g, k);
            }
        }
        let model = &self.models[m];
        for e in &self.ca.expanders {
            if options.len() <= 1 {
                break;
            }
            match e.as_str() {
                "priority" => {
                    let top = options.iter().map(|g| self.ca.priority_of(&self.cluster.groups[*g].name)).max();
                    options.retain(|g| Some(self.ca.priority_of(&self.cluster.groups[*g].name)) == top);
                }
                "least-waste" => {
                    let waste = |g: usize| {
                        let a = self.cluster.groups[g].allocatable;
                        let r = model.requests;
                        let s = |x: f64, t: f64| if t > 0.0 { (t - x) / t } else { 0.0 };
                        s(r.cpu, a.cpu) + s(r.memory_gib, a.memory_gib)
                    };
                    let best = options.iter().map(|g| waste(*g)).fold(f64::INFINITY, f64::min);
                    options.retain(|g| waste(*g) <= best + 1e-12);
                }
                _ => {}
            }
        }
        let g = if self.ca.balance_similar {
            options.into_iter().min_by_key(|g| (self.cluster.group_size(*g), *g))
        } else {
            options.into_iter().next()
        }?;
        let mut last = None;
        for _ in 0..launches.get(&g).copied().unwrap_or(1) {
            let n = self.cluster.launch(g, true)?;
            self.node_rows(n);
            *self.added.entry(self.cluster.groups[g].name.clone()).or_insert(0) += 1;
            last = Some(n);
        }
        let n = last?;
        self.place(m, n);
        Some(n)
    }

    /// Whether a template node of group `g` in zone `z` accepts a pod of `m` under every filter
    /// (spread counted with `z` as an eligible domain; a new node is an empty hostname domain).
    fn template_accepts(&self, m: usize, g: usize, z: usize) -> bool {
        let model = &self.models[m];
        if !model.requests.fits_in(self.cluster.groups[g].allocatable) || !model.runs_on_group(&self.cluster, g, z) {
            return false;
        }
        let views = self.spread_views(m, Some((z, g)));
        let spread_ok = model.spread.iter().zip(&views).all(|(c, v)| match (v.min, c.topology) {
            (Some(min), Topology::Zone) => {
                (v.zone_counts[z] + u32::from(c.self_match)).saturating_sub(min) <= c.max_skew
            }
            (Some(min), Topology::Capacity) => {
                let k = usize::from(self.cluster.groups[g].spot);
                (v.capacity_counts[k] + u32::from(c.self_match)).saturating_sub(min) <= c.max_skew
            }
            _ => true,
        });
        spread_ok && model.anti.iter().all(|a| a.topology == Topology::Host || self.zone_count(&a.counts, z) == 0)
    }

    /// How many nodes group `g` must launch for one to accept a pod of `m`, within its max.
    /// A `perZone` group launches in its zone; a multi-AZ group where EC2 Auto Scaling's
    /// rebalancing puts the next instance. When that zone does not suit the pod but another zone
    /// of the group would, CA (whose template is built from one of the group's nodes, whatever
    /// its zone) keeps scaling the group until an instance lands in a suitable zone: those
    /// launches are counted (the extra nodes are real, until scale-down removes them).
    fn launches_until_fit(&self, m: usize, g: usize) -> Option<u32> {
        if !self.cluster.can_launch(g) {
            return None;
        }
        let group = &self.cluster.groups[g];
        let room = group.max.saturating_sub(self.cluster.group_size(g));
        if let Some(z) = group.zone {
            return self.template_accepts(m, g, z).then_some(1);
        }
        let suits: Vec<bool> =
            (0..self.cluster.zones.len()).map(|z| self.cluster.zone_up[z] && self.template_accepts(m, g, z)).collect();
        if !suits.iter().any(|x| *x) {
            return None;
        }
        let mut count = vec![0u32; self.cluster.zones.len()];
        for n in self.cluster.nodes.iter().filter(|n| n.alive && n.group == g) {
            count[n.zone] += 1;
        }
        for k in 1..=room {
            let z = (0..count.len()).filter(|z| self.cluster.zone_up[*z]).min_by_key(|z| (count[*z], *z))?;
            if suits[z] {
                return Some(k);
            }
            count[z] += 1;
        }
        None
    }

    /// Place every pending pod: on a node, by preemption, or (with `scale_up`) on a node Cluster
    /// Autoscaler adds. What cannot be placed stays in `pending`.
    pub fn run(&mut self, scale_up: bool) {
        let mut stuck = vec![0u32; self.models.len()];
        // Preemption chains end (victims have strictly lower priority); the bound is a backstop.
        let total: u64 = self.pending.iter().map(|p| u64::from(*p)).sum::<u64>()
            + self.count_zone.iter().flatten().map(|p| u64::from(*p)).sum::<u64>();
        let mut budget = total * 4 + 1000;
        while let Some(m) = (0..self.models.len())
            .filter(|m| self.pending[*m] > 0)
            .max_by_key(|m| (self.models[*m].priority, Reverse(*m)))
        {
            self.pending[m] -= 1;
            if budget == 0 {
                stuck[m] += 1;
                continue;
            }
            budget -= 1;
            if let Some(n) = self.best_node(m) {
                self.place(m, n);
            } else if self.preempt(m) || (scale_up && self.scale_up(m).is_some()) {
            } else {
                stuck[m] += 1;
            }
        }
        self.pending = stuck;
    }

    /// Cluster Autoscaler's scale-down: remove nodes under the threshold whose pods all fit
    /// elsewhere, emptiest first, never below a group's min. Returns the nodes removed.
    pub fn scale_down(&mut self) -> u32 {
        if !self.ca.installed {
            return 0;
        }
        let mut order: Vec<usize> = (0..self.cluster.nodes.len()).filter(|n| self.cluster.nodes[*n].alive).collect();
        order.sort_by(|a, b| self.cluster.utilisation(*a).total_cmp(&self.cluster.utilisation(*b)).then(b.cmp(a)));
        let mut removed = 0;
        for n in order {
            let g = self.cluster.nodes[n].group;
            if self.cluster.utilisation(n) >= self.ca.scale_down_threshold
                || self.cluster.group_size(g) <= self.cluster.groups[g].min
            {
                continue;
            }
            let mut pods = self.on_node[n].clone();
            pods.sort_by_key(|m| (Reverse(self.models[*m].priority), *m));
            for m in &pods {
                self.evict(*m, n);
            }
            self.cluster.nodes[n].alive = false;
            let mut moved = Vec::new();
            let mut ok = true;
            for m in &pods {
                match self.best_node(*m) {
                    Some(to) => {
                        self.place(*m, to);
                        moved.push((*m, to));
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                removed += 1;
            } else {
                for (m, to) in moved {
                    self.evict(m, to);
                }
                self.cluster.nodes[n].alive = true;
                for m in pods {
                    self.place(m, n);
                }
            }
        }
        removed
    }

    /// Lose every alive node `lost` selects: its pods become pending. Returns the nodes lost.
    pub fn lose(&mut self, lost: impl Fn(&Cluster, usize) -> bool) -> u32 {
        let mut count = 0;
        for n in 0..self.cluster.nodes.len() {
            if !self.cluster.nodes[n].alive || !lost(&self.cluster, n) {
                continue;
            }
            for m in self.on_node[n].clone() {
                self.evict(m, n);
                self.pending[m] += 1;
            }
            self.cluster.nodes[n].alive = false;
            count += 1;
        }
        count
    }

    /// A zone outage: every alive node in zone `z` is lost as by [`Sched::lose`], but its Node
    /// object stays, NotReady, carrying `taint` (the node lifecycle controller's
    /// `node.kubernetes.io/unreachable:NoSchedule`; the default tolerations pods get cover only
    /// its `NoExecute` twin). It remains a spread domain with no pods for constraints that ignore
    /// taints; one with `nodeTaintsPolicy: Honor` drops it unless the pod tolerates `taint`.
    pub fn lose_zone(&mut self, z: usize, taint: &NodeTaint) -> u32 {
        let lost: Vec<usize> = (0..self.cluster.nodes.len())
            .filter(|n| self.cluster.nodes[*n].alive && self.cluster.nodes[*n].zone == z)
            .collect();
        let count = self.lose(|c, n| c.nodes[n].alive && c.nodes[n].zone == z);
        for n in lost {
            self.cluster.nodes[n].unreachable = true;
            for m in 0..self.models.len() {
                let ok =
                    self.models[m].tolerations.iter().any(|t| tolerates(t, &taint.key, &taint.value, &taint.effect));
                self.tolerated[n][m] = self.tolerated[n][m] && ok;
                self.eligible[n][m] = self.eligible[n][m] && ok;
            }
        }
        count
    }

    /// Set model `m` to `replicas` pods: more become pending; fewer drop pending pods first,
    /// then placed ones (from the last node).
    pub fn set_replicas(&mut self, m: usize, replicas: u32) {
        let current = self.placed(m) + self.pending[m];
        if replicas >= current {
            self.pending[m] += replicas - current;
            return;
        }
        let mut drop = current - replicas;
        let from_pending = drop.min(self.pending[m]);
        self.pending[m] -= from_pending;
        drop -= from_pending;
        for n in (0..self.cluster.nodes.len()).rev() {
            while drop > 0 && self.count_node[n][m] > 0 {
                self.evict(m, n);
                drop -= 1;
            }
        }
    }
}

/// Go's `regexp.MatchString` (unanchored search) for the subset Cluster Autoscaler's priority
/// patterns use: literals, `.`, `\`-escapes, `*` `+` `?` after one of those, `^` and `$`.
/// Anything else (classes, groups, alternation, counted repeats) is an error, not a guess.
pub fn regex_match(pattern: &str, text: &str) -> Result<bool, String> {
    #[derive(Clone, Copy)]
    enum Atom {
        Any,
        Char(char),
    }
    #[derive(Clone, Copy)]
    struct Piece {
        atom: Atom,
        min: usize,
        many: bool,
    }
    let mut chars = pattern.chars().peekable();
    let anchored_start = chars.peek() == Some(&'^');
    if anchored_start {
        chars.next();
    }
    let mut pieces: Vec<Piece> = Vec::new();
    let mut anchored_end = false;
    while let Some(c) = chars.next() {
        let atom = match c {
            '.' => Atom::Any,
            '\\' => Atom::Char(chars.next().ok_or("trailing backslash")?),
            '$' if chars.peek().is_none() => {
                anchored_end = true;
                continue;
            }
            '*' | '+' | '?' => {
                let last = pieces.last_mut().ok_or("quantifier without an atom")?;
                if last.many || last.min != 1 {
                    return Err("stacked quantifiers are not supported".into());
                }
                match c {
                    '*' => (last.min, last.many) = (0, true),
                    '+' => last.many = true,
                    _ => last.min = 0,
                }
                continue;
            }
            '[' | ']' | '(' | ')' | '|' | '{' | '}' | '^' | '$' => {
                return Err(format!("`{c}` is not supported by the model's pattern matcher"));
            }
            other => Atom::Char(other),
        };
        pieces.push(Piece { atom, min: 1, many: false });
    }
    // `?` leaves min 0 and many false: at most one.
    let text: Vec<char> = text.chars().collect();
    fn at(pieces: &[Piece], text: &[char], i: usize, end: bool) -> bool {
        let Some((p, rest)) = pieces.split_first() else { return !end || i == text.len() };
        let ok = |c: char| match p.atom {
            Atom::Any => c != '\n',
            Atom::Char(x) => x == c,
        };
        let most = if p.many { text.len() - i } else { 1 };
        let mut k = 0;
        while k < most && i + k < text.len() && ok(text[i + k]) {
            k += 1;
        }
        (p.min..=k).rev().any(|j| at(rest, text, i + j, end))
    }
    let starts: Vec<usize> = if anchored_start { vec![0] } else { (0..=text.len()).collect() };
    Ok(starts.into_iter().any(|s| at(&pieces, &text, s, anchored_end)))
}

#[cfg(test)]
mod tests {
    use super::regex_match;

    #[test]
    fn priority_patterns_match_like_go() {
        assert_eq!(regex_match(".*general-spot.*", "cerverus-prod-general-spot"), Ok(true));
        assert_eq!(regex_match(".*general-spot.*", "cerverus-prod-general-on-demand"), Ok(false));
        assert_eq!(regex_match("spot", "x-spot-y"), Ok(true));
        assert_eq!(regex_match("^spot", "x-spot"), Ok(false));
        assert_eq!(regex_match("spot$", "x-spot"), Ok(true));
        assert_eq!(regex_match("a.+c", "ac"), Ok(false));
        assert_eq!(regex_match("ab?c", "ac"), Ok(true));
        assert!(regex_match("(a|b)", "a").is_err());
    }
}

//! Facts derived from an environment that several renderers (and analyses) need: how node pools
//! become node groups, and which service accounts need an AWS role for what.

use std::collections::BTreeMap;

use cerverus_spec::{BucketAccess, Taint};

use crate::Env;
use crate::graph::Target;

/// How a node group's instances are bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capacity {
    OnDemand,
    Spot,
}

impl Capacity {
    /// The name EKS uses in `capacity_type`.
    pub fn eks_name(self) -> &'static str {
        match self {
            Capacity::OnDemand => "ON_DEMAND",
            Capacity::Spot => "SPOT",
        }
    }
}

/// One EKS managed node group: the on-demand or the spot part of a node pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroup {
    pub name: String,
    pub pool: String,
    pub capacity: Capacity,
    pub instance_types: Vec<String>,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    pub disk_gib: u32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub gpus_per_node: u32,
    /// The availability zone the group is pinned to (its instances launch only in this zone's
    /// private subnet), for pools with `perZone`; `None`: the group spans every zone.
    pub zone: Option<String>,
    /// Index of `zone` in `Env.network.azs` (= the index of its private subnet).
    pub zone_index: Option<usize>,
}

/// Label the NVIDIA device plugin chart (0.15+) requires on a node before it schedules there
/// (one of the three terms of its default node affinity; the other two are NFD's, and NFD is not
/// installed). Every node of a GPU pool carries it.
pub const GPU_PRESENT_LABEL: (&str, &str) = ("nvidia.com/gpu.present", "true");

/// Label Cluster Autoscaler's AWS provider reads to know a node (or a node group's template,
/// through the `node-template/label/` ASG tags) has GPUs: while such a node's device plugin has
/// not yet advertised `nvidia.com/gpu`, CA counts it as coming instead of scaling up again for
/// the same pods (kubernetes/autoscaler#1949, #3164). Value: the GPU model, from
/// `data/instance-types.json` → `gpu_accelerators`.
pub const GPU_ACCELERATOR_LABEL: &str = "k8s.amazonaws.com/accelerator";

/// Split `total` over `parts` as evenly as possible, the first parts taking the remainder:
/// Σ = total, and monotonic in `total` per part, so min ≤ desired ≤ max holds in every part.
pub fn split_even(total: u32, parts: usize, index: usize) -> u32 {
    let parts = parts.max(1) as u32;
    let index = index as u32;
    total / parts + u32::from(index < total % parts)
}

/// Split `total` nodes into (on-demand, spot): the first `base` are on-demand, then
/// `spot_percent` of the rest (rounded down) are spot. Monotonic in `total`, so splitting min,
/// desired and max separately keeps min ≤ desired ≤ max in both parts.
pub fn split_capacity(total: u32, base: u32, spot_percent: u8) -> (u32, u32) {
    let base = base.min(total);
    let spot = (total - base) * u32::from(spot_percent.min(100)) / 100;
    (total - spot, spot)
}

/// An AWS role a service account needs: the buckets its workloads declare, with the widest
/// access any of them asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRole {
    pub namespace: String,
    pub service_account: String,
    /// Bucket (spec name) → access.
    pub buckets: BTreeMap<String, BucketAccess>,
    /// Workloads running as this service account, for descriptions.
    pub workloads: Vec<String>,
}

impl Env {
    /// The managed node groups the node pools become.
    pub fn node_groups(&self) -> Vec<NodeGroup> {
        let mut out = Vec::new();
        for p in &self.node_pools {
            let s = p.scaling;
            let (min_od, min_spot) = split_capacity(s.min, p.on_demand_base, p.spot_percentage);
            let (des_od, des_spot) = split_capacity(s.desired, p.on_demand_base, p.spot_percentage);
            let (max_od, max_spot) = split_capacity(s.max, p.on_demand_base, p.spot_percentage);
            let both = max_od > 0 && max_spot > 0;
            for (capacity, min, desired, max) in
                [(Capacity::OnDemand, min_od, des_od, max_od), (Capacity::Spot, min_spot, des_spot, max_spot)]
            {
                if max == 0 {
                    continue;
                }
                let name = match (both, capacity) {
                    (false, _) => p.name.clone(),
                    (true, Capacity::OnDemand) => format!("{}-on-demand", p.name),
                    (true, Capacity::Spot) => format!("{}-spot", p.name),
                };
                let mut labels = p.labels.clone();
                if p.gpu.is_some() {
                    labels.insert(GPU_PRESENT_LABEL.0.into(), GPU_PRESENT_LABEL.1.into());
                    // The type the group launches (and CA models) is the first one.
                    let launched = p.instance_types.first().and_then(|t| crate::capacity::gpu_accelerator(t));
                    if let Some(model) = launched {
                        labels.insert(GPU_ACCELERATOR_LABEL.into(), model.into());
                    }
                }
                let group = NodeGroup {
                    name,
                    pool: p.name.clone(),
                    capacity,
                    instance_types: p.instance_types.clone(),
                    min,
                    desired,
                    max,
                    disk_gib: p.disk_gib,
                    labels,
                    taints: p.taints.clone(),
                    gpus_per_node: p.gpu.as_ref().map_or(0, |g| g.per_node),
                    zone: None,
                    zone_index: None,
                };
                if !p.per_zone {
                    out.push(group);
                    continue;
                }
                let azs = &self.network.azs;
                for (i, az) in azs.iter().enumerate() {
                    let max = split_even(group.max, azs.len(), i);
                    if max == 0 {
                        continue;
                    }
                    out.push(NodeGroup {
                        name: format!("{}-{az}", group.name),
                        min: split_even(group.min, azs.len(), i),
                        desired: split_even(group.desired, azs.len(), i),
                        max,
                        zone: Some(az.clone()),
                        zone_index: Some(i),
                        ..group.clone()
                    });
                }
            }
        }
        out
    }

    /// Service accounts whose workloads reach AWS (S3 today), with what they need.
    pub fn service_account_roles(&self) -> Vec<ServiceAccountRole> {
        let mut roles: BTreeMap<(String, String), ServiceAccountRole> = BTreeMap::new();
        for w in &self.workloads {
            for e in self.graph.from(w.name()) {
                let Target::Bucket { name, access } = &e.to else { continue };
                let role = roles.entry((w.namespace().to_string(), w.service_account.clone())).or_insert_with(|| {
                    ServiceAccountRole {
                        namespace: w.namespace().to_string(),
                        service_account: w.service_account.clone(),
                        buckets: BTreeMap::new(),
                        workloads: Vec::new(),
                    }
                });
                let entry = role.buckets.entry(name.clone()).or_insert(*access);
                *entry = (*entry).max(*access);
                if !role.workloads.iter().any(|x| x == w.name()) {
                    role.workloads.push(w.name().to_string());
                }
            }
        }
        roles.into_values().collect()
    }
}

/// The Kubernetes group of the platform's operators (bound to the operator and platform-reader
/// roles), as EKS access entries map IAM roles to it and RoleBindings name it.
pub fn operators_group(platform: &str) -> String {
    format!("{platform}:platform-operators")
}

/// The Kubernetes group bound to `cluster-admin` (break-glass). Only the admin IAM roles
/// (`cluster.adminRoleArns`) are mapped to it, by their EKS access entries' `kubernetes_groups`.
/// A group, not a service account: no namespaced role that can create pods can reach it.
pub fn break_glass_group(platform: &str) -> String {
    format!("{platform}:break-glass")
}

/// The Kubernetes group of the developers of one namespace: `<platform>:<namespace without the
/// platform prefix>:developers`.
pub fn developers_group(platform: &str, namespace: &str) -> String {
    let short = namespace.strip_prefix(&format!("{platform}-")).unwrap_or(namespace);
    format!("{platform}:{short}:developers")
}

impl Env {
    /// The people's access roles of this environment: key (an IAM-name-safe word) → the
    /// Kubernetes groups its EKS access entry carries. One for the operators, one per namespace
    /// that runs workloads for its developers. The break-glass admin roles are not here: their
    /// entries carry [`break_glass_group`] and the cluster-admin access policy.
    pub fn access_groups(&self, platform: &str) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::from([("platform-operators".to_string(), vec![operators_group(platform)])]);
        for w in &self.workloads {
            let ns = w.namespace();
            let short = ns.strip_prefix(&format!("{platform}-")).unwrap_or(ns);
            out.entry(format!("{short}-developers")).or_insert_with(|| vec![developers_group(platform, ns)]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::split_capacity;

    #[test]
    fn capacity_split_keeps_the_base_on_demand() {
        assert_eq!(split_capacity(10, 2, 50), (6, 4));
        assert_eq!(split_capacity(1, 2, 50), (1, 0));
        assert_eq!(split_capacity(5, 0, 100), (0, 5));
        assert_eq!(split_capacity(5, 0, 0), (5, 0));
    }

    #[test]
    fn even_split_sums_and_keeps_order() {
        use super::split_even;
        for parts in 1..5 {
            for total in 0..20 {
                let sum: u32 = (0..parts).map(|i| split_even(total, parts, i)).sum();
                assert_eq!(sum, total);
                for i in 0..parts {
                    assert!(split_even(total, parts, i) <= split_even(total + 1, parts, i));
                }
            }
        }
    }

    #[test]
    fn capacity_split_is_monotonic() {
        for base in 0..5 {
            for pct in [0u8, 10, 33, 50, 70, 100] {
                let mut prev = (0, 0);
                for total in 0..40 {
                    let cur = split_capacity(total, base, pct);
                    assert_eq!(cur.0 + cur.1, total);
                    assert!(cur.0 >= prev.0 && cur.1 >= prev.1, "not monotonic at {total}/{base}/{pct}");
                    prev = cur;
                }
            }
        }
    }
}

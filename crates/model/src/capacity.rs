//! Does each node pool hold what its workloads can ask for at their maximum?
//!
//! A model, not a measurement: allocatable capacity per node is estimated from the instance
//! type's vCPUs and memory minus the kubelet/system reserve EKS applies and a DaemonSet
//! allowance (`data/instance-types.json`, with their sources). The check is conservative: it
//! sizes every node as the pool's smallest instance type.

use std::collections::BTreeMap;

use crate::{Env, quantity};

/// The capacity model's data (`data/instance-types.json`, shared with `cerverus check`): instance
/// sizes with their source, and the allocatable shares and DaemonSet allowance.
pub const INSTANCE_DATA: &str = include_str!("../../../data/instance-types.json");

#[derive(Debug, serde::Deserialize)]
struct InstanceData {
    allocatable_cpu_share: f64,
    allocatable_memory_share: f64,
    daemonset_cpu: f64,
    daemonset_memory_gib: f64,
    instance_types: BTreeMap<String, (f64, f64, u32)>,
}

fn data() -> Option<&'static InstanceData> {
    static DATA: std::sync::OnceLock<Option<InstanceData>> = std::sync::OnceLock::new();
    DATA.get_or_init(|| serde_json::from_str(INSTANCE_DATA).ok()).as_ref()
}

/// Allocatable (cpu cores, memory GiB, gpus) of one node of `instance_type`, if known.
pub fn allocatable(instance_type: &str) -> Option<(f64, f64, u32)> {
    let d = data()?;
    d.instance_types.get(instance_type).map(|(cpu, mem, gpu)| {
        (
            cpu * d.allocatable_cpu_share - d.daemonset_cpu,
            mem * d.allocatable_memory_share - d.daemonset_memory_gib,
            *gpu,
        )
    })
}

/// What a pool must hold and what it can.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolFit {
    pub pool: String,
    pub needed: (f64, f64, u32),
    pub capacity: (f64, f64, u32),
    /// Workloads whose single pod fits no instance type of the pool.
    pub pods_too_big: Vec<String>,
    /// Instance types missing from the capacity data (the check is then partial).
    pub unknown_types: Vec<String>,
}

impl PoolFit {
    pub fn fits(&self) -> bool {
        self.pods_too_big.is_empty()
            && self.needed.0 <= self.capacity.0
            && self.needed.1 <= self.capacity.1
            && self.needed.2 <= self.capacity.2
    }
}

impl Env {
    /// Per pool: the sum of requests of every workload at its maximum replicas, against the
    /// pool's maximum nodes of its smallest instance type.
    pub fn pool_fit(&self) -> Vec<PoolFit> {
        let gib = 1024.0 * 1024.0 * 1024.0;
        let mut needed: BTreeMap<&str, (f64, f64, u32, Vec<String>)> = BTreeMap::new();
        for w in &self.workloads {
            let n = w.spec.autoscaling.as_ref().map_or(w.spec.replicas, |a| a.max.max(w.spec.replicas));
            let n = if w.spec.kind.is_long_running() { n } else { 1 };
            let r = &w.spec.resources;
            let cpu = quantity::parse(&r.requests.cpu).unwrap_or(0.0);
            let mem = quantity::parse(&r.requests.memory).unwrap_or(0.0) / gib;
            let e = needed.entry(w.spec.node_pool.as_str()).or_insert((0.0, 0.0, 0, Vec::new()));
            e.0 += f64::from(n) * cpu;
            e.1 += f64::from(n) * mem;
            e.2 += n * r.gpu;
            let Some(pool) = self.node_pool(&w.spec.node_pool) else { continue };
            let fits_somewhere = pool
                .instance_types
                .iter()
                .filter_map(|t| allocatable(t))
                .any(|(c, m, g)| c >= cpu && m >= mem && g >= r.gpu);
            if !fits_somewhere && pool.instance_types.iter().all(|t| allocatable(t).is_some()) {
                e.3.push(w.name().to_string());
            }
        }
        self.node_pools
            .iter()
            .map(|p| {
                let known: Vec<(f64, f64, u32)> = p.instance_types.iter().filter_map(|t| allocatable(t)).collect();
                let smallest = known
                    .iter()
                    .copied()
                    .reduce(|a, b| (a.0.min(b.0), a.1.min(b.1), a.2.min(b.2)))
                    .unwrap_or((0.0, 0.0, 0));
                let max = f64::from(p.scaling.max);
                let (c, m, g, big) = needed.remove(p.name.as_str()).unwrap_or((0.0, 0.0, 0, Vec::new()));
                PoolFit {
                    pool: p.name.clone(),
                    needed: (c, m, g),
                    capacity: (smallest.0 * max, smallest.1 * max, smallest.2 * p.scaling.max),
                    pods_too_big: big,
                    unknown_types: p.instance_types.iter().filter(|t| allocatable(t).is_none()).cloned().collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::allocatable;

    #[test]
    fn allocatable_is_below_the_raw_size() {
        let (c, m, g) = allocatable("m5.xlarge").expect("known");
        assert!(c < 4.0 && c > 3.0 && m < 16.0 && m > 12.0 && g == 0);
        assert_eq!(allocatable("g4dn.xlarge").map(|a| a.2), Some(1));
        assert!(allocatable("x9.huge").is_none());
    }
}

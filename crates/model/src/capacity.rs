//! Does each node pool hold what its workloads can ask for at their maximum?
//!
//! A model, not a measurement: allocatable capacity per node follows the EKS-optimized AMI's
//! kubelet reservations (CPU by core tiers, memory by max-pods) and eviction threshold, minus a
//! DaemonSet allowance (`data/instance-types.json` → `eks_allocatable`, with its sources).
//!
//! A node group launches, and Cluster Autoscaler models, the group's **first** instance type:
//! CA builds its template node for a scale-up from it, and a pod that does not fit that template
//! never triggers a scale-up even when a later type in the list would hold it. So every judgement
//! here is made against the first type of the pool, never "some type fits".

use std::collections::BTreeMap;

use crate::{Env, quantity};

/// The capacity model's data (`data/instance-types.json`, shared with `cerverus check`): instance
/// sizes with their source, and the EKS AMI reservation formula.
pub const INSTANCE_DATA: &str = include_str!("../../../data/instance-types.json");

#[derive(Debug, serde::Deserialize)]
struct InstanceData {
    daemonset_cpu: f64,
    daemonset_memory_gib: f64,
    instance_types: BTreeMap<String, (f64, f64, u32)>,
    /// Instance family → `k8s.amazonaws.com/accelerator` value (the `_comment` key is no family).
    gpu_accelerators: BTreeMap<String, String>,
    eks_allocatable: EksAllocatable,
}

#[derive(Debug, serde::Deserialize)]
struct EksAllocatable {
    cpu_reserve_percent_by_core: Vec<f64>,
    cpu_reserve_percent_above: f64,
    memory_reserved_mib_base: f64,
    memory_reserved_mib_per_pod: f64,
    eviction_hard_memory_mib: f64,
    vm_memory_overhead_percent: f64,
    max_pods: BTreeMap<String, u32>,
}

fn data() -> Option<&'static InstanceData> {
    static DATA: std::sync::OnceLock<Option<InstanceData>> = std::sync::OnceLock::new();
    DATA.get_or_init(|| serde_json::from_str(INSTANCE_DATA).ok()).as_ref()
}

/// CPU cores the EKS AMI reserves for the kubelet and system on a node with `vcpus` cores.
pub fn cpu_reserved(vcpus: f64) -> Option<f64> {
    let a = &data()?.eks_allocatable;
    let mut reserved_percent_of_a_core = 0.0;
    let mut core = 0.0;
    for pct in &a.cpu_reserve_percent_by_core {
        let share = (vcpus - core).clamp(0.0, 1.0);
        reserved_percent_of_a_core += share * pct;
        core += 1.0;
    }
    reserved_percent_of_a_core += (vcpus - core).max(0.0) * a.cpu_reserve_percent_above;
    Some(reserved_percent_of_a_core / 100.0)
}

/// The GPU model Cluster Autoscaler's AWS provider expects in `k8s.amazonaws.com/accelerator` for
/// a node of `instance_type` (by family: `g4dn.2xlarge` → `nvidia-tesla-t4`); `None` for a type
/// without GPUs or not in the data.
pub fn gpu_accelerator(instance_type: &str) -> Option<&'static str> {
    let family = instance_type.split('.').next()?;
    data()?.gpu_accelerators.get(family).map(String::as_str)
}

/// Allocatable (cpu cores, memory GiB, gpus) of one node of `instance_type` for workload pods:
/// kubelet allocatable minus the DaemonSet allowance. `None` when the type is not in the data.
pub fn allocatable(instance_type: &str) -> Option<(f64, f64, u32)> {
    let d = data()?;
    let a = &d.eks_allocatable;
    let (cpu, mem_gib, gpu) = *d.instance_types.get(instance_type)?;
    let max_pods = f64::from(*a.max_pods.get(instance_type)?);
    let capacity_mib = mem_gib * 1024.0 * (1.0 - a.vm_memory_overhead_percent / 100.0);
    let reserved_mib =
        a.memory_reserved_mib_base + a.memory_reserved_mib_per_pod * max_pods + a.eviction_hard_memory_mib;
    Some((
        cpu - cpu_reserved(cpu)? - d.daemonset_cpu,
        (capacity_mib - reserved_mib) / 1024.0 - d.daemonset_memory_gib,
        gpu,
    ))
}

/// What a pool must hold and what it can.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolFit {
    pub pool: String,
    /// The instance type the pool's node groups launch and Cluster Autoscaler models.
    pub launch_type: String,
    pub needed: (f64, f64, u32),
    pub capacity: (f64, f64, u32),
    /// Workloads whose single pod does not fit one node of `launch_type`.
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

/// Requests of one pod: (cpu cores, memory GiB, gpus).
pub fn pod_requests(w: &crate::Workload) -> (f64, f64, u32) {
    let gib = 1024.0 * 1024.0 * 1024.0;
    let r = &w.spec.resources;
    (quantity::parse(&r.requests.cpu).unwrap_or(0.0), quantity::parse(&r.requests.memory).unwrap_or(0.0) / gib, r.gpu)
}

/// Requests of the `istio-proxy` sidecar Istio injects into every pod of a namespace with
/// injection (the istiod values set them: `cerverus-render` `mesh::PROXY_RESOURCES` reads these).
/// The scheduler places the pod with its sidecar, so the pool must hold both.
pub const MESH_PROXY_CPU_REQUEST: &str = "100m";
pub const MESH_PROXY_MEMORY_REQUEST: &str = "128Mi";

/// Requests of the sidecar added to each pod of `w`: (cpu cores, memory GiB); zero outside
/// the mesh.
pub fn mesh_proxy_requests(env: &Env, w: &crate::Workload) -> (f64, f64) {
    if !env.in_mesh(w) {
        return (0.0, 0.0);
    }
    let gib = 1024.0 * 1024.0 * 1024.0;
    (
        quantity::parse(MESH_PROXY_CPU_REQUEST).unwrap_or(0.0),
        quantity::parse(MESH_PROXY_MEMORY_REQUEST).unwrap_or(0.0) / gib,
    )
}

/// `maxSurge` of every Deployment's rolling update (the workload renderer sets `25%`, with
/// `maxUnavailable: 0`; the invariant tests read it back from the rendered Deployments). With no
/// unavailability allowed, a rollout at maximum scale needs room for the surge pods or it stalls.
pub const DEPLOYMENT_MAX_SURGE_PERCENT: u32 = 25;

/// The most replicas a workload can be scaled to.
pub fn max_replicas(w: &crate::Workload) -> u32 {
    w.spec.autoscaling.as_ref().map_or(w.spec.replicas, |a| a.max.max(w.spec.replicas))
}

/// Pods a rolling update adds above the replica count: Deployments surge by `maxSurge` (a
/// percentage, rounded up as Kubernetes rounds it), and so do canary Rollouts (Istio-routed
/// with `dynamicStableScale`, in weight steps of at most that percentage); a blue-green Rollout
/// brings up a full second set before it switches, and keeps the old one for its scale-down
/// delay; StatefulSets replace pods one at a time.
pub fn surge_pods(w: &crate::Workload) -> u32 {
    match (w.spec.kind, w.spec.rollout) {
        (cerverus_spec::WorkloadKind::Deployment, cerverus_spec::RolloutStrategy::BlueGreen) => max_replicas(w),
        (cerverus_spec::WorkloadKind::Deployment, _) => (max_replicas(w) * DEPLOYMENT_MAX_SURGE_PERCENT).div_ceil(100),
        _ => 0,
    }
}

/// The most pods a workload runs at once: max replicas plus the rollout surge for long-running
/// kinds; one pod for a Job or CronJob (`concurrencyPolicy: Forbid`, parallelism 1), which may
/// run while a rollout is under way.
pub fn max_pods(w: &crate::Workload) -> u32 {
    if w.spec.kind.is_long_running() { max_replicas(w) + surge_pods(w) } else { 1 }
}

impl Env {
    /// Per pool: the sum of requests of every workload at its most pods (max replicas, a
    /// rollout's surge, its Jobs; each pod with its Istio sidecar where injected), against the pool's maximum nodes of its first (launched,
    /// CA-modelled) instance type; and every workload's single pod against one node of that type.
    pub fn pool_fit(&self) -> Vec<PoolFit> {
        let mut needed: BTreeMap<&str, (f64, f64, u32, Vec<String>)> = BTreeMap::new();
        for w in &self.workloads {
            let n = max_pods(w);
            let (app_cpu, app_mem, gpu) = pod_requests(w);
            let (proxy_cpu, proxy_mem) = mesh_proxy_requests(self, w);
            let (cpu, mem) = (app_cpu + proxy_cpu, app_mem + proxy_mem);
            let e = needed.entry(w.spec.node_pool.as_str()).or_insert((0.0, 0.0, 0, Vec::new()));
            e.0 += f64::from(n) * cpu;
            e.1 += f64::from(n) * mem;
            e.2 += n * gpu;
            let Some(pool) = self.node_pool(&w.spec.node_pool) else { continue };
            let Some(first) = pool.instance_types.first() else { continue };
            if let Some((c, m, g)) = allocatable(first)
                && !(c >= cpu && m >= mem && g >= gpu)
            {
                e.3.push(w.name().to_string());
            }
        }
        self.node_pools
            .iter()
            .map(|p| {
                let launch_type = p.instance_types.first().cloned().unwrap_or_default();
                let per_node = allocatable(&launch_type).unwrap_or((0.0, 0.0, 0));
                let max = f64::from(p.scaling.max);
                let (c, m, g, big) = needed.remove(p.name.as_str()).unwrap_or((0.0, 0.0, 0, Vec::new()));
                PoolFit {
                    pool: p.name.clone(),
                    launch_type,
                    needed: (c, m, g),
                    capacity: (per_node.0 * max, per_node.1 * max, per_node.2 * p.scaling.max),
                    pods_too_big: big,
                    unknown_types: p.instance_types.iter().filter(|t| allocatable(t).is_none()).cloned().collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{allocatable, cpu_reserved};

    #[test]
    fn cpu_reserve_follows_the_eks_ami_tiers() {
        // 60m + 10m + 5m + 5m on four cores; + 2.5m per core above four.
        let four = cpu_reserved(4.0).expect("data");
        assert!((four - 0.080).abs() < 1e-9, "{four}");
        let eight = cpu_reserved(8.0).expect("data");
        assert!((eight - 0.090).abs() < 1e-9, "{eight}");
    }

    #[test]
    fn g4dn_xlarge_matches_what_a_real_node_reports() {
        // A g4dn.xlarge kubelet reports about 3.92 CPU / 14.1-14.8 GiB allocatable; less the
        // DaemonSet allowance, a 4 CPU / 16 GiB pod can never fit it.
        let (c, m, g) = allocatable("g4dn.xlarge").expect("known");
        assert!(c < 3.92 && c > 3.0, "{c}");
        assert!(m < 14.8 && m > 12.0, "{m}");
        assert_eq!(g, 1);
        assert!(c < 4.0 && m < 16.0);
    }

    #[test]
    fn allocatable_is_below_the_raw_size() {
        let (c, m, g) = allocatable("m5.xlarge").expect("known");
        assert!(c < 4.0 && c > 3.0 && m < 16.0 && m > 12.0 && g == 0);
        assert!(allocatable("x9.huge").is_none());
    }
}

//! One workload's capacity over time after the surge: the HPA's sync loop (proposals from lagged
//! metrics, stabilisation, behaviour rate limits), pods created at each scale-up, each Ready after
//! its start-up time — or, when the steady-state nodes have no room for it, after Cluster
//! Autoscaler's new node is Ready.
//!
//! Timing conventions (worst case where there is a choice): the surge starts at t = 0⁺, just
//! after a sync, so the HPA's syncs fall at t = 15, 30, … s; a metric sample read at t reflects
//! the load at t − lag (so a sample taken at 0 still shows the steady state); a `rate()` over a
//! window w ramps linearly from the old to the new rate over w.

use serde::Serialize;

use super::hpa::{Controller, ScaleUp};
use super::metric::{Observed, Response, proposal};

/// What one workload's timeline is computed from.
#[derive(Debug, Clone)]
pub struct Plan {
    pub min: u32,
    pub max: u32,
    /// Steady-state replicas (Ready at t = 0).
    pub steady: u32,
    /// Replicas the surge needs ([`super::surge_replicas`]).
    pub needed: u32,
    pub traffic: f64,
    /// (response, lag s, ramp s) per metric.
    pub metrics: Vec<(Response, f64, f64)>,
    pub rules: ScaleUp,
    pub sync_seconds: f64,
    pub tolerance: f64,
    /// Pod creation → Ready.
    pub pod_start_seconds: f64,
    /// StatefulSet `OrderedReady`: a replica starts only once the previous one is Ready.
    pub ordered: bool,
    /// Pending pod → its new node Ready (CA scan included).
    pub node_seconds: f64,
    /// `nodes_at[i]`: nodes the cluster must add for the workload to run `steady + 1 + i` replicas
    /// (non-decreasing); beyond its end, the last value.
    pub nodes_at: Vec<u32>,
    /// Most replicas that can be placed at all (the rest stay pending).
    pub placeable: u32,
    pub horizon_seconds: f64,
}

/// One point of the capacity chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub t: f64,
    /// Replicas the HPA has set.
    pub desired: u32,
    /// Replicas Ready.
    pub ready: u32,
    /// Nodes added for the workload and Ready.
    pub nodes: u32,
}

/// The timeline and its milestones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub points: Vec<Point>,
    /// First sync at which the HPA raised the replica count.
    pub first_scale_up_seconds: Option<f64>,
    /// First time more than the steady replicas are Ready.
    pub first_capacity_seconds: Option<f64>,
    /// First time `needed` replicas are Ready.
    pub full_capacity_seconds: Option<f64>,
    /// Nodes added for the workload.
    pub nodes_added: u32,
    /// First time a node added for the workload is Ready.
    pub first_node_ready_seconds: Option<f64>,
    /// Most replicas the HPA set within the horizon (it may overshoot `needed` on Value metrics).
    pub peak_desired: u32,
}

impl Plan {
    fn nodes_for(&self, replicas: u32) -> u32 {
        if replicas <= self.steady || self.nodes_at.is_empty() {
            return 0;
        }
        let i = (replicas - self.steady - 1) as usize;
        self.nodes_at.get(i).or(self.nodes_at.last()).copied().unwrap_or(0)
    }

    /// Offered load at time `tau`, in pods at target.
    fn demand(&self, tau: f64, ramp: f64) -> f64 {
        let c0 = f64::from(self.steady);
        if tau <= 0.0 {
            return c0;
        }
        let full = self.traffic * c0;
        let frac = if ramp > 0.0 { (tau / ramp).min(1.0) } else { 1.0 };
        c0 + (full - c0) * frac
    }
}

/// Run the HPA loop of `plan` to its horizon.
pub fn simulate(plan: &Plan) -> Timeline {
    // Ready time of each pod (index = pod number − 1); the steady ones at 0.
    let mut ready_at: Vec<f64> = vec![0.0; plan.steady as usize];
    // Ready time of each node added (index = node number − 1).
    let mut node_ready: Vec<f64> = Vec::new();
    let mut ctl = Controller::default();
    let mut current = plan.steady;
    let mut ticks = Vec::new();
    let mut first_scale_up = None;
    let mut peak = current;
    let count_by = |v: &[f64], t: f64| v.iter().filter(|r| **r <= t + 1e-9).count() as u32;
    let mut t = plan.sync_seconds.max(1.0);
    while t <= plan.horizon_seconds {
        let ready_now = count_by(&ready_at, t);
        let raw = plan
            .metrics
            .iter()
            .map(|(r, lag, ramp)| {
                let tau = t - lag;
                let o = Observed {
                    current,
                    ready: ready_now,
                    seen_ready: count_by(&ready_at, tau.max(0.0)),
                    demand: plan.demand(tau, *ramp),
                    steady: f64::from(plan.steady),
                };
                proposal(*r, o, plan.tolerance)
            })
            .max()
            .unwrap_or(current);
        let next = ctl.normalize(&plan.rules, t, current, raw, plan.min, plan.max);
        if next > current {
            first_scale_up.get_or_insert(t);
            for n in current + 1..=next {
                let pod_ready = if n > plan.placeable {
                    f64::INFINITY
                } else {
                    let j = plan.nodes_for(n) as usize;
                    while node_ready.len() < j {
                        node_ready.push(t + plan.node_seconds);
                    }
                    let node = if j == 0 { t } else { node_ready[j - 1].max(t) };
                    let own = node + plan.pod_start_seconds;
                    match ready_at.last() {
                        Some(prev) if plan.ordered => own.max(prev + plan.pod_start_seconds),
                        _ => own,
                    }
                };
                ready_at.push(pod_ready);
            }
        }
        current = next;
        peak = peak.max(current);
        ticks.push((t, current));
        t += plan.sync_seconds.max(1.0);
    }
    // The chart's points: every sync, every pod and node becoming Ready.
    let mut times: Vec<f64> = std::iter::once(0.0)
        .chain(ticks.iter().map(|(t, _)| *t))
        .chain(ready_at.iter().copied())
        .chain(node_ready.iter().copied())
        .filter(|x| x.is_finite() && *x <= plan.horizon_seconds)
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let desired_at = |x: f64| ticks.iter().take_while(|(t, _)| *t <= x + 1e-9).last().map_or(plan.steady, |(_, d)| *d);
    let all: Vec<Point> = times
        .iter()
        .map(|&x| Point {
            t: x,
            desired: desired_at(x),
            ready: count_by(&ready_at, x),
            nodes: count_by(&node_ready, x),
        })
        .collect();
    let first_capacity = all.iter().find(|p| p.ready > plan.steady).map(|p| p.t);
    let full = all.iter().find(|p| p.ready >= plan.needed).map(|p| p.t);
    // Keep the chart short: up to a minute after the last change.
    let last_change = all
        .windows(2)
        .filter(|w| w[0].desired != w[1].desired || w[0].ready != w[1].ready || w[0].nodes != w[1].nodes)
        .map(|w| w[1].t)
        .fold(0.0, f64::max);
    let end = last_change + 60.0;
    let points = all.into_iter().filter(|p| p.t <= end).collect();
    Timeline {
        points,
        first_scale_up_seconds: first_scale_up,
        first_capacity_seconds: first_capacity,
        full_capacity_seconds: full,
        nodes_added: node_ready.len() as u32,
        first_node_ready_seconds: node_ready.first().copied(),
        peak_desired: peak,
    }
}

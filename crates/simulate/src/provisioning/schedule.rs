//! Timing the graph: the critical path (every ready instance starts at once) and a list
//! schedule with Terraform's parallelism (at most `slots` instances being created at a time).
//!
//! Terraform walks the graph with a semaphore of `-parallelism` slots; an instance holds a slot
//! for its whole create call, waits included. Which ready instance gets a free slot first is not
//! specified by Terraform; the schedule here gives it to the one with the longest path still
//! behind it (longest-path-first list scheduling), a near-best order — Terraform's own order may
//! take longer when more instances are ready than slots; the scheduled total is never below the
//! critical path. Variables, locals, outputs and providers take no time and no slot.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::graph::Graph;

/// Node timing under one model.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Per node: when its first instance started (for a node without work: when it was reached).
    pub start: Vec<f64>,
    /// Per node: when its last instance finished.
    pub finish: Vec<f64>,
    pub total: f64,
}

/// Critical path: timing with unlimited parallelism, and the path (node indices, first to last).
#[derive(Debug, Clone)]
pub struct Critical {
    pub timing: Timing,
    pub path: Vec<usize>,
}

/// Topological order, or the nodes left on a cycle.
pub fn topo_order(g: &Graph) -> Result<Vec<usize>, Vec<usize>> {
    let n = g.nodes.len();
    let succs = successors(g);
    let mut indeg: Vec<usize> = g.preds.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).rev().collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        for &s in &succs[i] {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                ready.push(s);
            }
        }
    }
    if order.len() == n { Ok(order) } else { Err((0..n).filter(|&i| indeg[i] > 0).collect()) }
}

pub fn successors(g: &Graph) -> Vec<Vec<usize>> {
    let mut succs = vec![Vec::new(); g.nodes.len()];
    for (i, ps) in g.preds.iter().enumerate() {
        for &p in ps {
            succs[p].push(i);
        }
    }
    succs
}

/// Longest weighted path: each node starts when its last dependency finishes.
pub fn critical_path(g: &Graph, order: &[usize]) -> Critical {
    let n = g.nodes.len();
    let mut start = vec![0.0; n];
    let mut finish = vec![0.0; n];
    let mut via: Vec<Option<usize>> = vec![None; n];
    for &i in order {
        let mut s = 0.0;
        for &p in &g.preds[i] {
            // Ties go to the first dependency in index order: the path is deterministic.
            if via[i].is_none() || finish[p] > s {
                s = finish[p];
                via[i] = Some(p);
            }
        }
        start[i] = s;
        finish[i] = s + g.nodes[i].minutes();
    }
    let mut last = None;
    let mut total = 0.0;
    for (i, &f) in finish.iter().enumerate() {
        if last.is_none() || f > total {
            total = f;
            last = Some(i);
        }
    }
    let mut path = Vec::new();
    let mut cur = last;
    while let Some(i) = cur {
        path.push(i);
        cur = via[i];
    }
    path.reverse();
    Critical { timing: Timing { start, finish, total }, path }
}

/// A ready instance: node, instance, priority (the longest path from its start to the end).
#[derive(Debug, Clone, Copy)]
struct Ready {
    priority: f64,
    node: usize,
    instance: usize,
}

impl PartialEq for Ready {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ready {
    fn cmp(&self, other: &Self) -> Ordering {
        // Max-heap: highest priority first, then the lowest node and instance index.
        self.priority
            .total_cmp(&other.priority)
            .then_with(|| other.node.cmp(&self.node))
            .then_with(|| other.instance.cmp(&self.instance))
    }
}

/// List-schedule the instances on `slots` slots, longest remaining path first.
pub fn with_parallelism(g: &Graph, order: &[usize], slots: usize) -> Timing {
    let n = g.nodes.len();
    let succs = successors(g);
    // Bottom level: the node's own time plus the longest chain after it.
    let mut level = vec![0.0; n];
    for &i in order.iter().rev() {
        let after = succs[i].iter().map(|&s| level[s]).fold(0.0, f64::max);
        level[i] = g.nodes[i].minutes() + after;
    }
    let mut waiting: Vec<usize> = g.preds.iter().map(Vec::len).collect();
    let mut pending: Vec<usize> = vec![0; n];
    let mut start = vec![0.0; n];
    let mut started = vec![false; n];
    let mut finish = vec![0.0; n];
    let mut ready = BinaryHeap::new();
    let mut running: Vec<(f64, usize)> = Vec::new();
    let mut released: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut t = 0.0;
    let slots = slots.max(1);
    loop {
        // Release nodes whose dependencies are done; nodes with nothing to run finish at once.
        while let Some(i) = released.pop() {
            let jobs: Vec<usize> =
                (0..g.nodes[i].instances.len()).filter(|&k| g.nodes[i].instances[k].time.minutes > 0.0).collect();
            if jobs.is_empty() {
                (start[i], finish[i]) = (t, t);
                for &s in &succs[i] {
                    waiting[s] -= 1;
                    if waiting[s] == 0 {
                        released.push(s);
                    }
                }
            } else {
                pending[i] = jobs.len();
                ready.extend(jobs.into_iter().map(|k| Ready { priority: level[i], node: i, instance: k }));
            }
        }
        while running.len() < slots {
            let Some(r) = ready.pop() else { break };
            if !started[r.node] {
                (started[r.node], start[r.node]) = (true, t);
            }
            running.push((t + g.nodes[r.node].instances[r.instance].time.minutes, r.node));
        }
        let Some(next) = running.iter().map(|(f, _)| *f).min_by(f64::total_cmp) else { break };
        t = next;
        let (done, still): (Vec<_>, Vec<_>) = running.into_iter().partition(|(f, _)| *f <= t);
        running = still;
        for (_, i) in done {
            pending[i] -= 1;
            if pending[i] == 0 {
                finish[i] = t;
                for &s in &succs[i] {
                    waiting[s] -= 1;
                    if waiting[s] == 0 {
                        released.push(s);
                    }
                }
            }
        }
    }
    let total = finish.iter().copied().fold(0.0, f64::max);
    Timing { start, finish, total }
}

//! The capacity section: steady-state utilisation against the band, where every workload's pods
//! sit per zone (a heat grid; workloads that fail a zone's loss are marked), what each scenario
//! did (judged workloads kept or not, nodes per group afterwards), and the tables behind them.

use std::collections::BTreeSet;

use crate::Report;
use crate::report::svg::{Bar, Grid, Segment, StackRow, Target, Tone};
use crate::report::view::{Chart, Section, Table, count, pct, verdict_table};
use crate::scenarios::{CapacityReport, ScenarioResult};

pub fn capacity(r: &CapacityReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    let [low, high] = r.utilisation_band;
    let band = format!("{}–{}", pct(low).trim_end_matches(" %"), pct(high));
    let mut charts = Vec::new();
    let mut tables = Vec::new();
    let mut facts = Vec::new();

    // Workloads that fail a zone's loss: marked in the placement grid, where the reason shows.
    let az_failing: BTreeSet<&str> = r
        .scenarios
        .iter()
        .filter(|s| s.scenario.starts_with("az-loss"))
        .flat_map(|s| s.workloads.iter().filter(|w| w.pass == Some(false)).map(|w| w.id.as_str()))
        .collect();

    if let Some(s) = &r.steady {
        let within = s.utilisation >= low && s.utilisation <= high;
        facts.push((
            format!("steady utilisation ({})", s.dominant),
            format!("{} {}", pct(s.utilisation), if within { "✓" } else { "✗" }),
        ));
        facts.push(("band".into(), band.clone()));
        facts.push(("nodes kept / scaled down".into(), format!("{} / {}", s.nodes.len(), s.nodes_scaled_down)));
        // What is judged first: the non-GPU pools' cpu and memory shares, the dominant one
        // coloured by the verdict; then each node group's pooled share (a GPU group's GPU share),
        // reported, not judged.
        let on = |n: u32| count(n as usize, "node");
        let mut bars = Vec::new();
        for (resource, share) in [("cpu", s.judged.cpu), ("memory", s.judged.memory)] {
            let judged = resource == s.dominant;
            bars.push(Bar {
                label: format!("non-GPU pools, {resource}{}", if judged { " (judged)" } else { "" }),
                value: share * 100.0,
                tone: if !judged {
                    Tone::Neutral
                } else if within {
                    Tone::Pass
                } else {
                    Tone::Fail
                },
                note: format!("{} on {}", pct(share), on(s.judged.nodes)),
            });
        }
        if let Some(g) = s.gpu_pools.gpu {
            bars.push(Bar {
                label: "GPU pools, GPUs (not judged)".into(),
                value: g * 100.0,
                tone: Tone::Neutral,
                note: format!("{} on {}", pct(g), on(s.gpu_pools.nodes)),
            });
        }
        for p in &s.result.pools {
            let what = if p.shares.gpu.is_some() { "GPUs" } else { "dominant" };
            bars.push(Bar {
                label: format!("{} ({what})", p.group),
                value: p.utilisation * 100.0,
                tone: Tone::Series(8),
                note: format!("{} on {}", pct(p.utilisation), on(p.nodes)),
            });
        }
        // The same figures for the text form, which has no charts.
        let mut shares = Table::new("Steady-state utilisation", &[("what", false), ("share", false)]);
        for b in &bars {
            shares.row(vec![b.label.clone(), b.note.clone()], None);
        }
        shares.text_only = true;
        tables.push(shares);
        charts.push(Chart::Bars {
            title: format!("Steady-state utilisation: pod requests over allocatable, band {band}"),
            unit: "%".into(),
            bars,
            target: Some(Target { value: high * 100.0, label: format!("{band} band"), band_from: Some(low * 100.0) }),
        });
        let judged: Vec<_> = s.result.workloads.iter().filter(|w| w.judged).collect();
        let grid = Grid {
            rows: judged.iter().map(|w| w.id.clone()).collect(),
            cols: r.zones.clone(),
            cells: judged.iter().map(|w| w.per_zone.iter().map(|n| f64::from(*n)).collect()).collect(),
            flagged: judged.iter().map(|w| az_failing.contains(w.id.as_str())).collect(),
        };
        charts.push(Chart::Heat {
            title: "Pods per availability zone at steady state (✗: fails a zone's loss)".into(),
            grid,
        });

        let mut cols: Vec<(&str, bool)> =
            vec![("workload", false), ("kind", false), ("wanted", true), ("placed", true)];
        cols.extend(r.zones.iter().map(|z| (z.as_str(), true)));
        cols.extend([("min", true), ("PDB min", true), ("priority", true)]);
        let mut placement = Table::new("Steady-state placement", &cols);
        for w in &s.result.workloads {
            let mut cells = vec![w.id.clone(), w.kind.clone(), w.wanted.to_string(), w.placed.to_string()];
            cells.extend(w.per_zone.iter().map(u32::to_string));
            cells.extend([
                w.min.to_string(),
                w.pdb_min_available.map_or_else(|| "—".into(), |n| n.to_string()),
                w.priority.to_string(),
            ]);
            placement.row(cells, w.pass);
        }
        placement.text_only = true;
        tables.push(placement.failing_first());
        let mut nodes = Table::new(
            "Steady-state nodes",
            &[
                ("node", false),
                ("group", false),
                ("zone", false),
                ("pods", true),
                ("cpu", true),
                ("memory GiB", true),
                ("GPU", true),
                ("utilisation", true),
            ],
        );
        for n in &s.nodes {
            nodes.row(
                vec![
                    n.name.clone(),
                    n.group.clone(),
                    n.zone.clone(),
                    n.pods.to_string(),
                    crate::report::svg::num(n.cpu_requested),
                    crate::report::svg::num(n.memory_gib_requested),
                    n.gpu_requested.to_string(),
                    pct(n.utilisation),
                ],
                None,
            );
        }
        tables.push(nodes);
    }

    let all: Vec<&ScenarioResult> = r.steady.iter().map(|s| &s.result).chain(&r.scenarios).collect();
    if !all.is_empty() {
        let rows: Vec<StackRow> = all
            .iter()
            .map(|s| {
                let judged = s.workloads.iter().filter(|w| w.pass.is_some());
                let failed = judged.clone().filter(|w| w.pass == Some(false)).count();
                let kept = judged.count() - failed;
                StackRow {
                    label: s.scenario.clone(),
                    segments: vec![
                        Segment {
                            category: "keeps its minimum / PDB".into(),
                            value: kept as f64,
                            tone: Some(Tone::Pass),
                        },
                        Segment { category: "falls short".into(), value: failed as f64, tone: Some(Tone::Fail) },
                    ],
                }
            })
            .collect();
        charts.push(Chart::Stacked {
            title: "Judged workloads per scenario".into(),
            unit: "workloads".into(),
            rows,
            fmt: crate::report::svg::num,
        });
        let node_rows: Vec<StackRow> = all
            .iter()
            .map(|s| StackRow {
                label: s.scenario.clone(),
                segments: s
                    .pools
                    .iter()
                    .map(|p| Segment { category: p.group.clone(), value: f64::from(p.nodes), tone: None })
                    .collect(),
            })
            .collect();
        charts.push(Chart::Stacked {
            title: "Nodes per node group at the end of each scenario".into(),
            unit: "nodes".into(),
            rows: node_rows,
            fmt: crate::report::svg::num,
        });
    }
    let mut summary = Table::new(
        "Scenarios",
        &[
            ("scenario", false),
            ("judged", true),
            ("failed", true),
            ("nodes lost", true),
            ("nodes added", true),
            ("pods pending", true),
            ("pods preempted", true),
            ("event", false),
        ],
    );
    for s in &all {
        let judged = s.workloads.iter().filter(|w| w.pass.is_some()).count();
        let failed = s.workloads.iter().filter(|w| w.pass == Some(false)).count();
        summary.row(
            vec![
                s.scenario.clone(),
                judged.to_string(),
                failed.to_string(),
                s.nodes_lost.to_string(),
                s.nodes_added.values().sum::<u32>().to_string(),
                s.workloads.iter().map(|w| w.pending).sum::<u32>().to_string(),
                s.workloads.iter().map(|w| w.preempted).sum::<u32>().to_string(),
                s.event.clone(),
            ],
            Some(failed == 0),
        );
    }
    tables.insert(0, summary);
    let mut groups = Table::new(
        "Node groups",
        &[
            ("group", false),
            ("pool", false),
            ("instance", false),
            ("capacity", false),
            ("zone", false),
            ("min", true),
            ("desired", true),
            ("max", true),
            ("allocatable cpu", true),
            ("memory GiB", true),
            ("GPU", true),
        ],
    );
    for g in &r.groups {
        groups.row(
            vec![
                g.name.clone(),
                g.pool.clone(),
                g.instance_type.clone(),
                if g.spot { "spot" } else { "on-demand" }.into(),
                g.zone.clone().unwrap_or_else(|| "all".into()),
                g.min.to_string(),
                g.desired.to_string(),
                g.max.to_string(),
                crate::report::svg::num(g.allocatable_cpu),
                crate::report::svg::num(g.allocatable_memory_gib),
                g.allocatable_gpu.to_string(),
            ],
            None,
        );
    }
    tables.insert(1, groups);
    tables.push(verdict_table("Verdicts", &verdicts));
    facts.push(("zones".into(), r.zones.join(", ")));
    facts.push(("scenarios".into(), all.len().to_string()));

    Section {
        id: "capacity",
        title: "Capacity under failure".into(),
        question: format!(
            "Does every workload keep its minimum replicas and its PDB when a zone, the largest node or the spot capacity is lost, or under the surge, and is steady-state utilisation in the {band} band?"
        ),
        facts,
        charts,
        tables,
        verdicts,
        notes: r.notes.clone(),
    }
}

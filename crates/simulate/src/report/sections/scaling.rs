//! The surge section: time to full capacity per autoscaled workload against the 2-minute target
//! (one bar each), and each workload's timeline — replicas the HPA asks for, replicas Ready and
//! nodes added — as step charts with the target line and the replicas needed.

use crate::Report;
use crate::report::svg::{Bar, Mark, Series, Target, Tone, num};
use crate::report::view::{Chart, Section, Table, count, duration_s, pass_word, verdict_table};
use crate::scaling::{ScalingReport, WorkloadScaling};

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "—".into(), duration_s)
}

/// The workload's timeline as step series (the HPA and the kubelet change counts in steps).
fn timeline_chart(w: &WorkloadScaling, target: &Target) -> Chart {
    let pts = &w.timeline.points;
    let series = |label: &str, tone: usize, f: fn(&crate::scaling::timeline::Point) -> u32| Series {
        label: label.into(),
        points: pts.iter().map(|p| (p.t, f64::from(f(p)))).collect(),
        step: true,
        tone: Tone::Series(tone),
        marks: Vec::new(),
    };
    let mut ready = series("Ready", 0, |p| p.ready);
    // The judged moment: the first new capacity Ready, on the Ready line.
    if let Some(t) = w.timeline.first_capacity_seconds {
        let y = pts.iter().take_while(|p| p.t <= t).last().map_or(0, |p| p.ready);
        ready.marks.push(Mark {
            x: t,
            y: f64::from(y),
            label: format!("first new capacity {}", duration_s(t)),
            tone: if w.pass { Tone::Pass } else { Tone::Fail },
        });
    }
    let mut lines = vec![series("desired (HPA)", 1, |p| p.desired), ready];
    if w.timeline.nodes_added > 0 {
        lines.push(series("nodes added", 3, |p| p.nodes));
    }
    Chart::Lines {
        title: format!(
            "{}: replicas over time under the surge ({} → {}, full at {})",
            w.id,
            w.steady_replicas,
            w.surge_replicas,
            secs(w.timeline.full_capacity_seconds)
        ),
        x_unit: "s".into(),
        y_unit: "replicas".into(),
        series: lines,
        x_target: Some(target.clone()),
        y_target: Some(Target::line(f64::from(w.surge_replicas), format!("needed: {}", w.surge_replicas))),
    }
}

pub fn scaling(r: &ScalingReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    let target = Target::line(r.target_seconds, format!("{} target", duration_s(r.target_seconds)));
    // Failing workloads first (their charts too), the report's order otherwise.
    let mut ws: Vec<&WorkloadScaling> = r.workloads.iter().collect();
    ws.sort_by_key(|w| w.pass);

    // What is judged is the response — the first new capacity Ready — so that is the bar, coloured
    // by the verdict; full capacity (limited by behaviour policies by design) is written beside it.
    let horizon = ws.iter().filter_map(|w| w.timeline.points.last().map(|p| p.t)).fold(r.target_seconds, f64::max);
    let bars: Vec<Bar> = ws
        .iter()
        .map(|w| {
            let full = match w.timeline.full_capacity_seconds {
                Some(s) => format!("full {}", duration_s(s)),
                None => format!("not full within {}", duration_s(horizon)),
            };
            if w.surge_replicas <= w.steady_replicas {
                return Bar {
                    label: w.id.clone(),
                    value: 0.0,
                    tone: if w.pass { Tone::Pass } else { Tone::Fail },
                    note: format!("no scale-up needed ({} replicas)", w.steady_replicas),
                };
            }
            Bar {
                label: w.id.clone(),
                value: w.timeline.first_capacity_seconds.unwrap_or(horizon),
                tone: if w.pass { Tone::Pass } else { Tone::Fail },
                note: match w.timeline.first_capacity_seconds {
                    Some(s) => format!("{}; {full}", duration_s(s)),
                    None => format!("none within {}", duration_s(horizon)),
                },
            }
        })
        .collect();
    let mut charts = vec![Chart::Bars {
        title: format!(
            "Response under traffic ×{}: first new capacity Ready (judged against {}), full capacity beside it",
            num(r.traffic_multiplier),
            duration_s(r.target_seconds)
        ),
        unit: "s".into(),
        bars,
        target: Some(target.clone()),
    }];
    // Headroom: the traffic multiple each workload's max serves at target, against the surge's.
    // Reported, not judged, so neutral colours.
    charts.push(Chart::Bars {
        title: format!(
            "Traffic each workload's max replicas serve at target, against the surge's ×{} (reported, not judged)",
            num(r.traffic_multiplier)
        ),
        unit: "× normal".into(),
        bars: ws
            .iter()
            .map(|w| Bar {
                label: w.id.clone(),
                value: w.demand.max_serves_traffic,
                tone: if w.demand.max_covers { Tone::Neutral } else { Tone::Series(1) },
                note: format!(
                    "×{} ({} of {} pods)",
                    num(w.demand.max_serves_traffic),
                    w.demand.max,
                    w.demand.pods_needed
                ),
            })
            .collect(),
        target: Some(Target::line(r.traffic_multiplier, format!("×{} surge", num(r.traffic_multiplier)))),
    });
    // A timeline per workload that scales (one that needs no more replicas has a flat one).
    charts.extend(
        ws.iter()
            .filter(|w| !w.timeline.points.is_empty() && w.surge_replicas > w.steady_replicas)
            .map(|w| timeline_chart(w, &target)),
    );

    let mut summary = Table::new(
        "Autoscaled workloads",
        &[
            ("verdict", false),
            ("workload", false),
            ("autoscaler", false),
            ("min", true),
            ("steady", true),
            ("surge", true),
            ("max", true),
            ("follows load", false),
            ("first scale-up", true),
            ("first capacity", true),
            ("full capacity", true),
            ("nodes added", true),
            ("pending", true),
        ],
    );
    for w in &ws {
        summary.row(
            vec![
                pass_word(w.pass).into(),
                w.id.clone(),
                w.autoscaler.clone(),
                w.min.to_string(),
                w.steady_replicas.to_string(),
                w.surge_replicas.to_string(),
                w.max.to_string(),
                if w.follows_load { "yes" } else { "no" }.into(),
                secs(w.timeline.first_scale_up_seconds),
                secs(w.timeline.first_capacity_seconds),
                secs(w.timeline.full_capacity_seconds),
                w.timeline.nodes_added.to_string(),
                w.pending.to_string(),
            ],
            Some(w.pass),
        );
    }
    let mut metrics = Table::new(
        "Metric paths",
        &[
            ("workload", false),
            ("metric", false),
            ("target type", false),
            ("follows load", false),
            ("lag", true),
            ("ramp", true),
            ("why", false),
        ],
    );
    let mut delays = Table::new(
        "Delays",
        &[("workload", false), ("stage", false), ("item", false), ("seconds", true), ("source", false)],
    );
    for w in &ws {
        for m in &w.metrics {
            metrics.row(
                vec![
                    w.id.clone(),
                    m.metric.clone(),
                    m.target_type.clone(),
                    if m.follows_load { "yes" } else { "no" }.into(),
                    duration_s(m.lag_seconds),
                    duration_s(m.ramp_seconds),
                    m.explanation.clone(),
                ],
                None,
            );
            for d in &m.lag {
                delays.row(
                    vec![
                        w.id.clone(),
                        format!("metric {}", m.metric),
                        d.item.clone(),
                        num(d.seconds),
                        d.source.clone(),
                    ],
                    None,
                );
            }
        }
        for (stage, parts) in [("pod start", &w.pod_start), ("node provisioning", &w.node_provisioning)] {
            for d in parts {
                delays.row(vec![w.id.clone(), stage.into(), d.item.clone(), num(d.seconds), d.source.clone()], None);
            }
        }
    }
    let mut demand = Table::new(
        format!("Demand under traffic ×{}, not capped at max (reported, not judged)", num(r.traffic_multiplier)),
        &[
            ("workload", false),
            ("baseline", true),
            ("pods needed", true),
            ("max", true),
            ("max covers", false),
            ("max serves", true),
            ("HPA asks at max", true),
            ("saturated at max", false),
        ],
    );
    for w in &ws {
        let d = &w.demand;
        demand.row(
            vec![
                w.id.clone(),
                d.baseline_replicas.to_string(),
                d.pods_needed.to_string(),
                d.max.to_string(),
                if d.max_covers { "yes" } else { "no" }.into(),
                format!("×{}", num(d.max_serves_traffic)),
                d.recommendation_at_max.to_string(),
                d.saturated_bounded_metrics.join(", "),
            ],
            None,
        );
    }
    let mut tables = vec![summary.failing_first(), demand, metrics, delays];
    if !r.combined_nodes_added.is_empty() || !r.combined_pending.is_empty() {
        let mut t = Table::new("Every workload at its surge replicas at once", &[("what", false), ("count", true)]);
        for (g, n) in &r.combined_nodes_added {
            t.row(vec![format!("nodes added to {g}"), n.to_string()], None);
        }
        for (w, n) in &r.combined_pending {
            t.row(vec![format!("pods pending of {w}"), n.to_string()], Some(*n == 0));
        }
        tables.push(t);
    }
    tables.push(verdict_table("Verdicts", &verdicts));

    let slowest = r
        .workloads
        .iter()
        .filter_map(|w| w.timeline.full_capacity_seconds)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    let slowest_first = r
        .workloads
        .iter()
        .filter_map(|w| w.timeline.first_capacity_seconds)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    let never = r.workloads.iter().filter(|w| w.timeline.full_capacity_seconds.is_none()).count();
    let mut notes = vec![r.judged.clone(), r.demand_baseline.clone()];
    if let Some(e) = &r.placement_error {
        notes.push(format!("Node demand unknown ({e}): times assume room on the existing nodes."));
    }
    Section {
        id: "surge",
        title: "Surge: time to scale".into(),
        question: format!(
            "Under traffic ×{}, how long until each autoscaled workload runs the replicas it needs, against the {} target?",
            num(r.traffic_multiplier),
            duration_s(r.target_seconds)
        ),
        facts: vec![
            ("slowest first new capacity".into(), secs(slowest_first)),
            ("target".into(), duration_s(r.target_seconds)),
            ("slowest to full capacity".into(), secs(slowest)),
            ("never within the horizon".into(), count(never, "workload")),
            ("autoscaled workloads".into(), r.workloads.len().to_string()),
            ("HPA sync period".into(), duration_s(r.sync_period_seconds)),
            ("nodes added (all at once)".into(), r.combined_nodes_added.values().sum::<u32>().to_string()),
        ],
        charts,
        tables,
        verdicts,
        notes,
    }
}

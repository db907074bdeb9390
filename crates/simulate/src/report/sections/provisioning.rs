//! The provisioning section: the Terraform critical path as a Gantt chart against the 30-minute
//! target, the longest resources, and what the model leaves out.

use crate::Report;
use crate::provisioning::ProvisioningReport;
use crate::provisioning::weights::Basis;
use crate::report::svg::{Bar, Target, Task, Tone};
use crate::report::view::{Chart, Section, Table, qty, verdict_table};

fn basis(b: Basis) -> &'static str {
    match b {
        Basis::Observed => "observed",
        Basis::Estimate => "estimate",
    }
}

pub fn provisioning(r: &ProvisioningReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    let pass = r.scheduled_minutes < r.target_minutes;
    let target = Target::line(r.target_minutes, format!("{} min target", crate::report::svg::num(r.target_minutes)));

    // The critical path as Terraform would walk it with unlimited parallelism, then the whole
    // apply with the real -parallelism (what is judged) as one bar below it.
    let mut tasks: Vec<Task> = r
        .critical_path
        .iter()
        .map(|p| Task {
            label: if p.instances > 1 { format!("{} ×{}", p.address, p.instances) } else { p.address.clone() },
            start: p.start_minutes,
            finish: p.finish_minutes,
            critical: true,
        })
        .collect();
    tasks.push(Task {
        label: format!("whole apply, -parallelism={}", r.parallelism),
        start: 0.0,
        finish: r.scheduled_minutes,
        critical: false,
    });
    let longest: Vec<Bar> = r
        .longest
        .iter()
        .map(|t| Bar {
            label: t.address.clone(),
            value: t.minutes,
            tone: Tone::Neutral,
            note: format!(
                "{} min{}",
                crate::report::svg::num(t.minutes),
                if t.instances > 1 { format!(" ×{}", t.instances) } else { String::new() }
            ),
        })
        .collect();

    let mut path = Table::new(
        "Critical path",
        &[
            ("address", false),
            ("type", false),
            ("instances", true),
            ("start min", true),
            ("finish min", true),
            ("scheduled finish min", true),
            ("minutes", true),
            ("basis", false),
            ("waits via", false),
        ],
    );
    for p in &r.critical_path {
        path.row(
            vec![
                p.address.clone(),
                p.resource_type.clone(),
                p.instances.to_string(),
                qty(p.start_minutes, ""),
                qty(p.finish_minutes, ""),
                qty(p.scheduled_finish_minutes, ""),
                qty(p.minutes, ""),
                format!("{} ({})", basis(p.basis), p.rule),
                p.via.join(", "),
            ],
            None,
        );
    }
    let mut long = Table::new(
        "Longest resources",
        &[("address", false), ("type", false), ("instances", true), ("minutes", true), ("basis", false)],
    );
    for t in &r.longest {
        long.row(
            vec![
                t.address.clone(),
                t.resource_type.clone(),
                t.instances.to_string(),
                qty(t.minutes, ""),
                format!("{} ({})", basis(t.basis), t.rule),
            ],
            None,
        );
    }

    Section {
        id: "provisioning",
        title: "Provisioning critical path".into(),
        question: format!(
            "How long does `terraform apply` of {} take from nothing, against the {}-minute target?",
            r.root,
            crate::report::svg::num(r.target_minutes)
        ),
        facts: vec![
            (
                format!("apply, -parallelism={}", r.parallelism),
                // One decimal, as the verdict prints it.
                format!("{:.1} min {}", r.scheduled_minutes, if pass { "✓" } else { "✗" }),
            ),
            ("target".into(), qty(r.target_minutes, "min")),
            ("critical path".into(), format!("{:.1} min", r.critical_path_minutes)),
            ("resources / data sources".into(), format!("{} / {}", r.resource_instances, r.data_instances)),
            ("work (sum of all)".into(), format!("{:.0} min", r.work_minutes)),
            ("graph".into(), format!("{} nodes, {} edges", r.graph_nodes, r.graph_edges)),
        ],
        charts: vec![
            Chart::Gantt {
                title: format!("Critical path of {} (minutes from the start of the apply)", r.root),
                unit: "min".into(),
                tasks,
                target: Some(target),
            },
            Chart::Bars {
                title: "Longest resources to create".into(),
                unit: "min".into(),
                bars: longest,
                target: None,
            },
        ],
        tables: vec![path, long, verdict_table("Verdicts", &verdicts)],
        verdicts,
        notes: r.assumptions.iter().chain(&r.not_modelled).cloned().collect(),
    }
}

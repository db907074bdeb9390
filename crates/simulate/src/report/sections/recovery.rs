//! The recovery section: achieved RPO and RTO of every store and stateful tier under each
//! failure, against the objective declared for its tier. The charts put every judged row on one
//! scale — achieved as a share of its own objective, 100 % being the objective — since the
//! objectives differ by tier (minutes for critical, a day for batch).

use crate::Report;
use crate::recovery::{Failure, RecoveryReport, RecoveryRow};
use crate::report::svg::{Bar, Target, Tone};
use crate::report::view::{Chart, Section, Table, pass_word, serde_name, verdict_table};

/// Bars stop here (× the objective); the note carries the real figure.
const CAP: f64 = 3.0;

fn minutes(m: Option<f64>, none: &str) -> String {
    match m {
        Some(m) if m >= 120.0 && (m / 60.0).fract() == 0.0 => format!("{} h", m / 60.0),
        Some(m) => format!("{} min", crate::report::svg::num(m)),
        None => none.into(),
    }
}

/// One bar per row held to an objective: achieved / declared.
fn share_bars(rows: &[&RecoveryRow], rpo: bool) -> Vec<Bar> {
    rows.iter()
        .filter_map(|r| {
            let d = r.declared?;
            let (achieved, declared) = if rpo {
                if !r.rpo_judged {
                    return None;
                }
                (r.achieved_rpo_minutes, f64::from(d.rpo_minutes))
            } else {
                (r.achieved_rto_minutes, f64::from(d.rto_minutes))
            };
            // No copy survives (RPO) or not modelled (RTO): drawn at the cap, said in the note.
            let share = match achieved {
                Some(a) if declared > 0.0 => (a / declared).min(CAP),
                Some(a) if a <= 0.0 => 0.0,
                _ => CAP,
            };
            let within = achieved.is_some_and(|a| a <= declared);
            Some(Bar {
                label: format!("{} ({})", r.subject, r.failure.name()),
                value: share * 100.0,
                tone: if within { Tone::Pass } else { Tone::Fail },
                note: format!(
                    "{} of {}",
                    minutes(achieved, if rpo { "all lost" } else { "not modelled" }),
                    minutes(Some(declared), "")
                ),
            })
        })
        .collect()
}

pub fn recovery(r: &RecoveryReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    // Failing rows first, in the report's order otherwise.
    let mut judged: Vec<&RecoveryRow> = r.rows.iter().filter(|x| x.declared.is_some()).collect();
    judged.sort_by_key(|x| x.pass != Some(false));
    let target = Target::line(100.0, "objective");

    let mut tables = Vec::new();
    for f in Failure::ALL {
        let mut t = Table::new(
            format!("Failure: {}", f.name()),
            &[
                ("verdict", false),
                ("subject", false),
                ("tier", false),
                ("RPO", true),
                ("declared RPO", true),
                ("RTO", true),
                ("declared RTO", true),
                ("mechanism", false),
            ],
        );
        for x in r.rows.iter().filter(|x| x.failure == f) {
            let d = x.declared;
            t.row(
                vec![
                    x.pass.map_or_else(|| "—".to_string(), |p| pass_word(p).to_string()),
                    x.subject.clone(),
                    x.tier.map_or_else(|| "—".to_string(), |t| t.as_str().to_string()),
                    if x.rpo_judged || x.achieved_rpo_minutes.is_some() {
                        minutes(x.achieved_rpo_minutes, "all lost")
                    } else {
                        "—".into()
                    },
                    d.map_or_else(|| "—".into(), |d| minutes(Some(f64::from(d.rpo_minutes)), "")),
                    minutes(x.achieved_rto_minutes, "not modelled"),
                    d.map_or_else(|| "—".into(), |d| minutes(Some(f64::from(d.rto_minutes)), "")),
                    x.mechanism.clone(),
                ],
                x.pass,
            );
        }
        if !t.rows.is_empty() {
            tables.push(t.failing_first());
        }
    }
    let mut objectives = Table::new("Declared objectives", &[("tier", false), ("RPO", true), ("RTO", true)]);
    for (tier, o) in &r.objectives {
        objectives.row(
            vec![
                tier.as_str().into(),
                minutes(Some(f64::from(o.rpo_minutes)), ""),
                minutes(Some(f64::from(o.rto_minutes)), ""),
            ],
            None,
        );
    }
    if let Some(o) = r.region_loss_objective {
        objectives.row(
            vec![
                format!("region loss (to {})", r.dr_region),
                minutes(Some(f64::from(o.rpo_minutes)), ""),
                minutes(Some(f64::from(o.rto_minutes)), ""),
            ],
            None,
        );
    }
    tables.insert(0, objectives);
    if !r.schedules.is_empty() {
        let mut s = Table::new("Velero schedules (worst-case interval)", &[("schedule", false), ("interval", true)]);
        for (name, m) in &r.schedules {
            s.row(vec![name.clone(), minutes(Some(f64::from(*m)), "")], None);
        }
        tables.push(s);
    }
    tables.push(verdict_table("Verdicts", &verdicts));

    let worst = |rpo: bool| {
        r.rows
            .iter()
            // The rows held to an objective: a cache's RPO, say, is reported but not judged.
            .filter(|x| x.failure != Failure::RegionLoss && x.pass.is_some() && (!rpo || x.rpo_judged))
            .filter_map(|x| if rpo { x.achieved_rpo_minutes } else { x.achieved_rto_minutes })
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let stores = {
        let mut s: Vec<&str> = r.rows.iter().map(|x| x.subject.as_str()).collect();
        s.sort_unstable();
        s.dedup();
        s.len()
    };
    let kinds = {
        let mut k: Vec<String> = r.rows.iter().map(|x| serde_name(&x.kind)).collect();
        k.sort();
        k.dedup();
        k.join(", ")
    };
    Section {
        id: "recovery",
        title: "Recovery: RPO and RTO".into(),
        question: format!(
            "How much data can each store and stateful tier of {} lose, and how long until it serves again, against the objective its tier declares?",
            r.environment
        ),
        facts: vec![
            (
                "judged rows within their objective".into(),
                format!("{} / {}", verdicts.iter().filter(|v| v.pass).count(), verdicts.len()),
            ),
            ("subjects".into(), format!("{stores} ({kinds})")),
            ("worst judged RPO (zone, restore)".into(), minutes(worst(true), "—")),
            ("worst judged RTO (zone, restore)".into(), minutes(worst(false), "—")),
            ("DR region".into(), r.dr_region.clone()),
        ],
        charts: vec![
            Chart::Bars {
                title: "Achieved RPO as a share of the declared objective (%)".into(),
                unit: "% of objective".into(),
                bars: share_bars(&judged, true),
                target: Some(target.clone()),
            },
            Chart::Bars {
                title: "Achieved RTO as a share of the declared objective (%)".into(),
                unit: "% of objective".into(),
                bars: share_bars(&judged, false),
                target: Some(target),
            },
        ],
        tables,
        verdicts,
        notes: vec![format!(
            "Bars stop at {} % of the objective; the figure beside each bar is the achieved value and the objective. Rows without an objective are listed in the tables, not drawn.",
            CAP * 100.0
        )],
    }
}
